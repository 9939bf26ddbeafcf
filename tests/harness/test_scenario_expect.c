/* Expectations: metric names checked against the topology, conditions (eq/min/max, counts as a
 * percentage of trials, rates as percentages), absent counts read as zero, checks that cannot
 * be observed are skipped (state "skipped", "passed": false: never passed as evidence, yet they
 * do not fail the cell), a cell that did not complete fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis.h"
#include "expect.h"

static json_t *cell_json(void)
{
    json_error_t e;
    json_t *c = json_loads(
        "{\"scenario\":\"s\",\"mitigation\":\"none\",\"trials\":200,\"failures\":199,"
        "\"failure_rate\":0.995,"
        "\"outcomes\":{\"200\":1,\"503\":199},"
        "\"rst\":{\"downstream->proxy\":0,\"proxy->downstream\":0,\"proxy->upstream\":3,"
        "\"upstream->proxy\":199},"
        "\"failing_rst\":{\"downstream->proxy\":0,\"proxy->downstream\":0,"
        "\"proxy->upstream\":2,\"upstream->proxy\":199},"
        "\"attributed\":[\"downstream->proxy\",\"proxy->downstream\",\"proxy->upstream\","
        "\"upstream->proxy\"],"
        "\"proxy_flags\":{\"UC\":199},\"stats\":{\"rq_503_by_reason\":{\"connection_termination\":"
        "199}},\"access_log\":true,"
        "\"latency_ms\":{\"p50\":0.4,\"p99\":1.2},\"capture\":\"/x.pcap\"}",
        0, &e);
    assert_non_null(c);
    return c;
}

static struct scenario_check cmp(const char *metric)
{
    struct scenario_check c;
    memset(&c, 0, sizeof(c));
    c.kind = SCENARIO_CHECK_CMP;
    c.metric = metric;
    c.line = 1;
    return c;
}

static struct scenario_bound bound(double v, bool pct)
{
    struct scenario_bound b = {.set = true, .pct = pct, .v = v};
    return b;
}

/* A check object says one thing three ways: "state", "passed" (true only in state passed) and
 * "skipped" (true only in state skipped). */
static enum expect_state state_of(const json_t *ck)
{
    const char *state = json_string_value(json_object_get(ck, "state"));
    assert_non_null(state);
    enum expect_state st = expect_check_state(ck);
    assert_string_equal(state, expect_state_name(st));
    assert_int_equal(json_is_true(json_object_get(ck, "passed")), st == EXPECT_PASSED);
    assert_true(json_is_boolean(json_object_get(ck, "passed")));
    assert_int_equal(json_is_true(json_object_get(ck, "skipped")), st == EXPECT_SKIPPED);
    return st;
}

static bool eval1(const struct scenario_check *c, const json_t *cell, bool *skipped)
{
    bool passed = false;
    json_t *r = expect_eval(c, 1, cell, &passed);
    assert_non_null(r);
    json_t *ck = json_array_get(json_object_get(r, "checks"), 0);
    enum expect_state st = state_of(ck);
    *skipped = st == EXPECT_SKIPPED;
    assert_int_equal(json_is_true(json_object_get(r, "passed")), passed);
    /* a skipped check does not fail the cell */
    assert_int_equal(passed, st != EXPECT_FAILED);
    json_decref(r);
    return passed;
}

static void test_metric_names(void **state)
{
    (void)state;
    bool countable, rate;
    char why[512];
    const char *good[] = {"failures",
                          "failure_rate",
                          "outcomes.503",
                          "outcomes.reset",
                          "requests.outcomes.200",
                          "rst.upstream->proxy",
                          "fin.proxy->downstream",
                          "failing_rst.upstream->proxy",
                          "proxy_flags.UC",
                          "stats.upstream_rq_retry",
                          "latency_ms.p99",
                          "throughput_rps",
                          "proxies.proxy.flags.UC",
                          "upstream.close_how.rst",
                          "sweep_stats.gaps_failing",
                          "wire.held"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (expect_metric_check(SCENARIO_PROXY, good[i], &countable, &rate, why, sizeof(why)) != 0)
            fail_msg("%s: %s", good[i], why);
    const char *bad[] = {
        "failurez", "rst.upstream->downstream", "rst.proxy1->proxy2", "latency_ms.p42",
        "outcomes", "proxies.proxy2.flags.UC",  "rst.upstream",       "trials.x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (expect_metric_check(SCENARIO_PROXY, bad[i], &countable, &rate, why, sizeof(why)) == 0)
            fail_msg("%s was accepted", bad[i]);
    assert_int_equal(
        expect_metric_check(SCENARIO_DIRECT, "proxy_flags.UC", &countable, &rate, why, sizeof(why)),
        -1);
    assert_int_equal(expect_metric_check(SCENARIO_CHAIN, "proxies.proxy2.stats.early_responses",
                                         &countable, &rate, why, sizeof(why)),
                     0);
    assert_int_equal(expect_metric_check(SCENARIO_CHAIN, "rst.proxy1->proxy2", &countable, &rate,
                                         why, sizeof(why)),
                     0);
    assert_true(countable);
    assert_int_equal(
        expect_metric_check(SCENARIO_PROXY, "failure_rate", &countable, &rate, why, sizeof(why)),
        0);
    assert_true(rate);
    assert_false(countable);
}

/* The list an unknown metric's error gives is the families, every one and nothing else, in
 * their order (read back from its '|' groups), with the capture's per-direction counters among
 * them; and it fits the 600 bytes the scenario loader gives the message. */
static void test_unknown_metric_lists_every_family(void **state)
{
    (void)state;
    bool countable, rate;
    char why[600];
    assert_int_equal(
        expect_metric_check(SCENARIO_PROXY, "failurez", &countable, &rate, why, sizeof(why)), -1);
    const char *open = "unknown metric (known: ", *close = "; see docs/scenario-format.md)";
    size_t n = strlen(why);
    assert_true(strncmp(why, open, strlen(open)) == 0);
    assert_true(n > strlen(close) && strcmp(why + n - strlen(close), close) == 0);
    char list[600];
    snprintf(list, sizeof(list), "%.*s", (int)(n - strlen(open) - strlen(close)),
             why + strlen(open));

    size_t i = 0;
    char *save = NULL;
    for (char *g = strtok_r(list, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
        g += strspn(g, " ");
        size_t gl = strlen(g);
        const char *dir = ".A->B";
        bool dirs = gl > strlen(dir) && strcmp(g + gl - strlen(dir), dir) == 0;
        if (dirs)
            g[gl - strlen(dir)] = '\0';
        char prefix[64] = "";
        char *save2 = NULL;
        for (char *item = strtok_r(g, "|", &save2); item; item = strtok_r(NULL, "|", &save2)) {
            char shown[128];
            snprintf(shown, sizeof(shown), "%s%s%s", prefix, item, dirs ? dir : "");
            if (!prefix[0] && !dirs) { /* the group's prefix: up to the last dot of its name */
                char name[64];
                snprintf(name, sizeof(name), "%s", item);
                char *x = strstr(name, ".NAME.X");
                if (x || ((x = strstr(name, ".X")) && x[2] == '\0'))
                    *x = '\0';
                char *dot = strrchr(name, '.');
                if (dot)
                    snprintf(prefix, sizeof(prefix), "%.*s", (int)(dot - name + 1), name);
            }
            const char *tail;
            const char *fam = expect_metric_family(i++, &tail);
            if (!fam)
                fail_msg("%s is in the list but is no family", shown);
            char want[128];
            snprintf(want, sizeof(want), "%s%s", fam, tail);
            assert_string_equal(shown, want);
        }
    }
    const char *tail;
    if (expect_metric_family(i, &tail))
        fail_msg("%s is a family missing from the list", expect_metric_family(i, &tail));
    /* the ones that had drifted out of the hand-written list */
    assert_non_null(strstr(why, "data_packets"));
    assert_non_null(strstr(why, "unattributed_rst"));
    assert_non_null(strstr(why, "downstream_wall_s"));
}

/* Every per-direction counter of the analyser's list is a metric of every hop direction. */
static void test_counter_families(void **state)
{
    (void)state;
    bool countable, rate;
    char why[600], metric[64];
    for (size_t k = 0; k < ANALYSIS_NRESULT; k++) {
        snprintf(metric, sizeof(metric), "%s.proxy2->upstream", analysis_counters[k].name);
        if (expect_metric_check(SCENARIO_CHAIN, metric, &countable, &rate, why, sizeof(why)) != 0)
            fail_msg("%s: %s", metric, why);
        assert_true(countable);
        assert_false(expect_metric_bounded(metric));
        snprintf(metric, sizeof(metric), "%s.proxy2->downstream", analysis_counters[k].name);
        assert_int_equal(
            expect_metric_check(SCENARIO_CHAIN, metric, &countable, &rate, why, sizeof(why)), -1);
    }
    for (size_t k = ANALYSIS_NRESULT; k < ANALYSIS_NCOUNTERS; k++) { /* not in results.json */
        snprintf(metric, sizeof(metric), "%s.proxy->upstream", analysis_counters[k].name);
        assert_int_equal(
            expect_metric_check(SCENARIO_PROXY, metric, &countable, &rate, why, sizeof(why)), -1);
    }
}

/* Which metrics can never exceed the trial count (a percentage above 100% is refused for
 * them) and which can (per-request counts, the proxy's counters, packets). */
static void test_bounded_by_trials(void **state)
{
    (void)state;
    const char *bounded[] = {"trials",
                             "failures",
                             "failure_rate",
                             "outcomes.503",
                             "outcomes.missing",
                             "failing_rst.upstream->proxy",
                             "trials_with_rst.proxy->downstream",
                             "sweep_stats.max_failure_rate",
                             "sweep_stats.min_failure_rate"};
    for (size_t i = 0; i < sizeof(bounded) / sizeof(bounded[0]); i++)
        if (!expect_metric_bounded(bounded[i]))
            fail_msg("%s should be bounded by the trials", bounded[i]);
    const char *unbounded[] = {
        "requests.total",          "requests.failures",      "requests.outcomes.200",
        "stats.upstream_rq_retry", "proxies.proxy.requests", "proxy_flags.UC",
        "upstream.request",        "rst.upstream->proxy",    "wire.held",
        "latency_ms.p99"};
    for (size_t i = 0; i < sizeof(unbounded) / sizeof(unbounded[0]); i++)
        if (expect_metric_bounded(unbounded[i]))
            fail_msg("%s can exceed the trial count", unbounded[i]);
}

static void test_conditions(void **state)
{
    (void)state;
    json_t *cell = cell_json();
    bool sk;
    struct scenario_check c = cmp("failures");
    c.min = bound(99, true); /* 199 >= 198 */
    assert_true(eval1(&c, cell, &sk));
    c.min = bound(100, true); /* 199 < 200 */
    assert_false(eval1(&c, cell, &sk));
    c = cmp("failures");
    c.eq = bound(199, false);
    assert_true(eval1(&c, cell, &sk));
    c = cmp("outcomes.reset"); /* absent: a zero count */
    c.eq = bound(0, false);
    assert_true(eval1(&c, cell, &sk));
    c = cmp("failure_rate");
    c.min = bound(99, true);
    assert_true(eval1(&c, cell, &sk));
    c = cmp("latency_ms.p99");
    c.max = bound(1, false);
    assert_false(eval1(&c, cell, &sk));
    c.max = bound(1.2, false);
    assert_true(eval1(&c, cell, &sk));
    c = cmp("stats.rq_503_by_reason.connection_termination");
    c.min = bound(1, false);
    c.max = bound(199, false);
    assert_true(eval1(&c, cell, &sk));
    c = cmp("proxy_flags.URX");
    c.eq = bound(0, false);
    assert_true(eval1(&c, cell, &sk));
    /* two requests per trial: a per-request count is 200% of the trials */
    json_object_set_new(cell, "requests",
                        json_pack("{s:i,s:{s:i}}", "total", 400, "outcomes", "200", 201));
    c = cmp("requests.total");
    c.eq = bound(200, true);
    assert_true(eval1(&c, cell, &sk));
    c = cmp("requests.outcomes.200");
    c.min = bound(100, true);
    c.max = bound(101, true);
    assert_true(eval1(&c, cell, &sk));
    c.min = bound(101, true);
    assert_false(eval1(&c, cell, &sk));
    json_decref(cell);
}

static void test_rst_on_failing(void **state)
{
    (void)state;
    json_t *cell = cell_json();
    bool sk;
    struct scenario_check c = cmp("upstream->proxy");
    c.kind = SCENARIO_CHECK_RST_ON_FAILING;
    assert_true(eval1(&c, cell, &sk));
    c.metric = "proxy->upstream"; /* 2 of 199 */
    assert_false(eval1(&c, cell, &sk));
    assert_false(sk);
    json_decref(cell);
}

static void test_unobservable_is_skipped(void **state)
{
    (void)state;
    json_t *cell = cell_json();
    bool sk;
    /* A foreign proxy (--proxy-cmd): no access log, only the first hop attributed. */
    json_object_set_new(cell, "access_log", json_false());
    json_object_set_new(cell, "attributed",
                        json_pack("[ss]", "downstream->proxy", "proxy->downstream"));
    struct scenario_check c = cmp("proxy_flags.UC");
    c.eq = bound(0, false);
    assert_true(eval1(&c, cell, &sk));
    assert_true(sk);
    c = cmp("upstream->proxy");
    c.kind = SCENARIO_CHECK_RST_ON_FAILING;
    assert_true(eval1(&c, cell, &sk));
    assert_true(sk);
    c = cmp("rst.upstream->proxy"); /* the capture still counts every hop */
    c.min = bound(1, false);
    assert_true(eval1(&c, cell, &sk));
    assert_false(sk);
    /* No capture at all. */
    json_object_set_new(cell, "capture", json_null());
    c = cmp("rst.upstream->proxy");
    c.eq = bound(12345, false);
    assert_true(eval1(&c, cell, &sk));
    assert_true(sk);
    json_decref(cell);
}

/* A skipped check is written "passed": false with "state": "skipped" (it was "passed": true, so
 * a reader of "passed" took it as evidence); the cell passes when every check that could be
 * observed held, and fails when one of them did not, whatever the skipped ones. */
static void test_skipped_check_is_not_passed(void **state)
{
    (void)state;
    json_t *cell = cell_json();
    json_object_set_new(cell, "access_log", json_false()); /* --proxy-cmd: no access log */
    struct scenario_check c[3] = {cmp("failures"), cmp("proxy_flags.UC"), cmp("outcomes.503")};
    c[0].min = bound(99, true); /* 199 of 200: holds */
    c[1].min = bound(99, true); /* not observable: skipped */
    c[2].eq = bound(0, false);  /* 199: fails */
    bool passed = false;
    json_t *r = expect_eval(c, 2, cell, &passed);
    assert_true(passed);
    assert_true(json_is_true(json_object_get(r, "passed")));
    json_t *checks = json_object_get(r, "checks");
    assert_int_equal(json_array_size(checks), 2);
    json_t *held = json_array_get(checks, 0), *skipped = json_array_get(checks, 1);
    assert_int_equal(state_of(held), EXPECT_PASSED);
    assert_true(json_is_true(json_object_get(held, "passed")));
    assert_string_equal(json_string_value(json_object_get(held, "state")), "passed");
    assert_int_equal(state_of(skipped), EXPECT_SKIPPED);
    assert_true(json_is_false(json_object_get(skipped, "passed")));
    assert_string_equal(json_string_value(json_object_get(skipped, "state")), "skipped");
    assert_true(json_is_true(json_object_get(skipped, "skipped")));
    assert_null(json_object_get(skipped, "value")); /* nothing was measured */
    assert_string_equal(json_string_value(json_object_get(skipped, "why")),
                        "no racelab-proxy access log in this run (--proxy-cmd or --proxy KIND)");
    json_decref(r);

    /* a check that fails still fails the cell next to a skipped one */
    passed = true;
    r = expect_eval(c, 3, cell, &passed);
    assert_false(passed);
    assert_true(json_is_false(json_object_get(r, "passed")));
    checks = json_object_get(r, "checks");
    assert_int_equal(state_of(json_array_get(checks, 1)), EXPECT_SKIPPED);
    json_t *bad = json_array_get(checks, 2);
    assert_int_equal(state_of(bad), EXPECT_FAILED);
    assert_string_equal(json_string_value(json_object_get(bad, "state")), "failed");
    json_decref(r);

    /* every check skipped: nothing failed, nothing is passed */
    passed = false;
    r = expect_eval(&c[1], 1, cell, &passed);
    assert_true(passed);
    assert_true(
        json_is_false(json_object_get(json_array_get(json_object_get(r, "checks"), 0), "passed")));
    json_decref(r);
    json_decref(cell);
}

/* The state of a check object, also of one written before "state" existed. */
static void test_check_state(void **state)
{
    (void)state;
    const struct {
        const char *json;
        enum expect_state st;
    } cases[] = {
        {"{\"passed\":true,\"state\":\"passed\"}", EXPECT_PASSED},
        {"{\"passed\":false,\"state\":\"failed\"}", EXPECT_FAILED},
        {"{\"passed\":false,\"state\":\"skipped\",\"skipped\":true}", EXPECT_SKIPPED},
        {"{\"passed\":true}", EXPECT_PASSED},
        {"{\"passed\":false}", EXPECT_FAILED},
        {"{\"passed\":true,\"skipped\":true}", EXPECT_SKIPPED}, /* the old form of a skip */
        {"{}", EXPECT_FAILED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *ck = json_loads(cases[i].json, 0, NULL);
        assert_non_null(ck);
        if (expect_check_state(ck) != cases[i].st)
            fail_msg("%s: state %s", cases[i].json, expect_state_name(expect_check_state(ck)));
        json_decref(ck);
    }
}

static void test_error_cell_fails(void **state)
{
    (void)state;
    json_t *cell = cell_json();
    json_object_set_new(cell, "error", json_string("racelab-proxy exited during the cell"));
    struct scenario_check c = cmp("failures");
    c.min = bound(0, false);
    bool passed = true;
    json_t *r = expect_eval(&c, 1, cell, &passed);
    assert_false(passed);
    json_t *ck = json_array_get(json_object_get(r, "checks"), 0);
    assert_string_equal(json_string_value(json_object_get(ck, "check")),
                        "the cell ran to completion");
    assert_int_equal(state_of(ck), EXPECT_FAILED);
    json_decref(r);
    /* No checks at all: a cell that ran passes, one that did not still fails. */
    r = expect_eval(NULL, 0, cell, &passed);
    assert_false(passed);
    json_decref(r);
    json_object_del(cell, "error");
    r = expect_eval(NULL, 0, cell, &passed);
    assert_true(passed);
    json_decref(r);
    json_decref(cell);
}

static void test_describe(void **state)
{
    (void)state;
    char buf[256];
    struct scenario_check c = cmp("failures");
    c.min = bound(99, true);
    expect_describe(&c, buf, sizeof(buf));
    assert_string_equal(buf, "failures >= 99% of trials");
    c = cmp("latency_ms.p99");
    c.min = bound(1, false);
    c.max = bound(5, false);
    expect_describe(&c, buf, sizeof(buf));
    assert_string_equal(buf, "latency_ms.p99 >= 1 and <= 5");
    c = cmp("upstream->proxy");
    c.kind = SCENARIO_CHECK_RST_ON_FAILING;
    expect_describe(&c, buf, sizeof(buf));
    assert_string_equal(buf, "every failing trial shows an RST upstream->proxy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_names),
        cmocka_unit_test(test_unknown_metric_lists_every_family),
        cmocka_unit_test(test_counter_families),
        cmocka_unit_test(test_bounded_by_trials),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_rst_on_failing),
        cmocka_unit_test(test_unobservable_is_skipped),
        cmocka_unit_test(test_skipped_check_is_not_passed),
        cmocka_unit_test(test_check_state),
        cmocka_unit_test(test_error_cell_fails),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
