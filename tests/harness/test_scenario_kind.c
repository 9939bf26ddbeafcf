/* Per-kind expectations: which of a cell's checks apply to a run with --proxy KIND (the kind's
 * expect_kind checks, merged scenario then mitigation; expect: only for racelab-proxy), the
 * measured verdict of a foreign kind without checks of its own (MEASURED, in words, not
 * failing), and how the table, the progress line, junit.xml and repro's words say it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expect.h"
#include "report.h"
#include "scenario.h"
#include "tsup.h"

#define GOOD RACELAB_SOURCE_DIR "/tests/harness/scenarios/proxy-expect-kind.yaml"

/* A cell object of a proxy topology: 40 trials, 20 failed with 502, the RSTs on the proxy's
 * upstream hop; only the downstream hop attributed (a foreign proxy has no access log). */
static json_t *cell_json(int failures)
{
    json_t *c = json_pack(
        "{s:s, s:s, s:i, s:i, s:{s:i, s:i}, s:{s:i, s:i, s:i, s:i}, s:{s:i, s:i, s:i, s:i},"
        " s:{s:i, s:i}, s:[s, s], s:b, s:s}",
        "scenario", "proxy-expect-kind", "mitigation", "none", "trials", 40, "failures", failures,
        "outcomes", "200", 40 - failures, "502", failures, "rst", "downstream->proxy", 0,
        "proxy->downstream", 0, "proxy->upstream", 1, "upstream->proxy", failures + 1,
        "teardown_rst", "proxy->upstream", 1, "upstream->proxy", 1, "downstream->proxy", 0,
        "proxy->downstream", 0, "failing_rst", "downstream->proxy", 0, "proxy->downstream", 0,
        "attributed", "downstream->proxy", "proxy->downstream", "access_log", 0, "capture",
        "/x.pcap");
    assert_non_null(c);
    return c;
}

static struct scenario *load(void)
{
    char err[1024] = "";
    struct scenario *s = scenario_load(GOOD, err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    return s;
}

/* The checks expect_eval_cell evaluated, as "METRIC DESCRIPTION|..." in order. */
static void described(const json_t *ex, char *buf, size_t len)
{
    size_t i;
    const json_t *ck;
    buf[0] = '\0';
    json_array_foreach(json_object_get(ex, "checks"), i, ck)
    {
        strncat(buf, json_string_value(json_object_get(ck, "check")), len - strlen(buf) - 1);
        strncat(buf, "|", len - strlen(buf) - 1);
    }
}

static json_t *eval_for(const struct scenario *s, const char *mit, const char *kind,
                        const json_t *cell, bool *passed)
{
    struct scenario_cell c;
    char err[256];
    assert_int_equal(scenario_cell_build(s, scenario_find_mit(s, mit), 0, &c, err, sizeof(err)),
                     0);
    json_t *ex = expect_eval_cell(&c, kind, cell, passed);
    scenario_cell_free(&c);
    assert_non_null(ex);
    return ex;
}

static void test_loads_per_kind(void **state)
{
    (void)state;
    struct scenario *s = load();
    assert_int_equal(s->nkexpect, 2);
    assert_string_equal(s->kexpect[0].kind, "nginx");
    assert_int_equal(s->kexpect[0].nexpect, 2);
    assert_string_equal(s->kexpect[0].expect[0].proxy_kind, "nginx");
    assert_null(s->expect[0].proxy_kind);
    const struct scenario_mit *m = scenario_find_mit(s, "other");
    assert_int_equal(m->nkexpect, 1);
    assert_string_equal(m->kexpect[0].kind, "haproxy");
    assert_int_equal(m->kexpect[0].expect[1].kind, SCENARIO_CHECK_RST_ON_FAILING);
    assert_true(scenario_kind_known("racelab", NULL, 0));
    assert_true(scenario_kind_known("nginx", NULL, 0));
    assert_false(scenario_kind_known("squid", NULL, 0));
    scenario_free(s);
}

/* racelab-proxy: expect: with expect_kind.racelab over it, scenario then mitigation. */
static void test_racelab_checks(void **state)
{
    (void)state;
    struct scenario *s = load();
    json_t *cell = cell_json(40);
    bool passed;
    char d[1024];
    for (int k = 0; k < 2; k++) {
        json_t *ex = eval_for(s, "none", k ? "racelab" : NULL, cell, &passed);
        described(ex, d, sizeof(d));
        assert_string_equal(d, "rst.downstream->proxy == 0|rst.proxy->downstream == 0|"
                               "proxy_flags.UC == 100% of trials|failures >= 90% of trials|");
        assert_null(json_object_get(ex, "measured"));
        assert_null(json_object_get(ex, "kind"));
        json_decref(ex);
    }
    json_decref(cell);
    scenario_free(s);
}

/* nginx: its own checks only (expect: is racelab-proxy's), the mitigation's replacing the
 * scenario's metric by metric; a failing one fails the cell. */
static void test_nginx_with_expect_kind(void **state)
{
    (void)state;
    struct scenario *s = load();
    json_t *cell = cell_json(0);
    bool passed = false;
    char d[1024];
    json_t *ex = eval_for(s, "none", "nginx", cell, &passed);
    described(ex, d, sizeof(d));
    assert_string_equal(d, "outcomes.200 == 100% of trials|rst.proxy->downstream == 0|failures == "
                           "0|");
    assert_true(passed);
    assert_string_equal(json_string_value(json_object_get(ex, "kind")), "nginx");
    assert_null(json_object_get(ex, "measured"));
    assert_null(json_object_get(ex, "verdict"));
    json_decref(ex);
    json_decref(cell);

    cell = cell_json(20);
    ex = eval_for(s, "none", "nginx", cell, &passed);
    assert_false(passed);
    json_decref(ex);
    /* mitigation other: the scenario's nginx checks alone */
    ex = eval_for(s, "other", "nginx", cell, &passed);
    described(ex, d, sizeof(d));
    assert_string_equal(d, "outcomes.200 == 100% of trials|rst.proxy->downstream == 0|");
    json_decref(ex);
    /* haproxy's checks live in mitigation other only */
    ex = eval_for(s, "other", "haproxy", cell, &passed);
    described(ex, d, sizeof(d));
    assert_string_equal(d, "failures == 0|every failing trial shows an RST upstream->proxy|");
    assert_false(passed);
    json_decref(ex);
    json_decref(cell);
    scenario_free(s);
}

/* A kind without checks of its own in the cell is measured: passing, with the verdict. */
static void test_kind_without_checks_is_measured(void **state)
{
    (void)state;
    struct scenario *s = load();
    json_t *cell = cell_json(20);
    bool passed = false;
    json_t *ex = eval_for(s, "none", "haproxy", cell, &passed);
    assert_true(passed);
    assert_true(json_is_true(json_object_get(ex, "passed")));
    assert_true(json_is_true(json_object_get(ex, "measured")));
    assert_int_equal(json_array_size(json_object_get(ex, "checks")), 0);
    assert_string_equal(json_string_value(json_object_get(ex, "verdict")),
                        "race reproduced: 20/40 trials 502, RST upstream->proxy x20 (hop total)");
    json_decref(ex);

    /* expect_apply: the verdict in the cell object too */
    struct scenario_cell c;
    char err[256];
    assert_int_equal(scenario_cell_build(s, scenario_find_mit(s, "none"), 0, &c, err, sizeof(err)),
                     0);
    assert_true(expect_apply(cell, &c, "apache"));
    assert_string_equal(json_string_value(json_object_get(cell, "verdict")),
                        "race reproduced: 20/40 trials 502, RST upstream->proxy x20 (hop total)");
    assert_true(expect_measured(cell));
    /* a cell in error is not measured: it fails */
    json_t *bad = cell_json(0);
    json_object_set_new(bad, "error", json_string("the proxy died"));
    assert_false(expect_apply(bad, &c, "apache"));
    assert_false(expect_measured(bad));
    assert_null(json_object_get(bad, "verdict"));
    json_decref(bad);
    scenario_cell_free(&c);
    json_decref(cell);
    scenario_free(s);
}

static void test_verdict_words(void **state)
{
    (void)state;
    char v[512];
    json_t *cell = cell_json(0);
    expect_verdict(cell, NULL, 0, v, sizeof(v));
    assert_string_equal(v, "no failure in 40 trials");
    /* the proxy absorbed the race: the RSTs are still there */
    json_object_set_new(json_object_get(cell, "rst"), "upstream->proxy", json_integer(41));
    expect_verdict(cell, NULL, 0, v, sizeof(v));
    assert_string_equal(v, "no failure in 40 trials; RST upstream->proxy x40 (hop total)");
    json_decref(cell);

    /* attributed: the failing trials with an RST; several failing outcomes */
    cell = cell_json(20);
    json_object_set_new(cell, "outcomes", json_pack("{s:i, s:i, s:i}", "200", 20, "502", 15,
                                                    "reset", 5));
    json_array_append_new(json_object_get(cell, "attributed"), json_string("upstream->proxy"));
    json_object_set_new(json_object_get(cell, "failing_rst"), "upstream->proxy", json_integer(18));
    expect_verdict(cell, NULL, 0, v, sizeof(v));
    assert_string_equal(v, "race reproduced: 20/40 trials 502=15 reset=5, RST upstream->proxy in 18");
    /* success outcomes are the cell's */
    const char *ok[] = {"200", "502"};
    json_object_set_new(cell, "failures", json_integer(5));
    expect_verdict(cell, ok, 2, v, sizeof(v));
    assert_string_equal(v, "race reproduced: 5/40 trials reset, RST upstream->proxy in 18");
    /* without a capture */
    json_object_set_new(cell, "capture", json_null());
    expect_verdict(cell, ok, 2, v, sizeof(v));
    assert_string_equal(v, "race reproduced: 5/40 trials reset (no capture)");
    json_decref(cell);
}

/* The table, the progress line, junit.xml and repro's words of a measured cell. */
static void test_reports(void **state)
{
    (void)state;
    struct scenario *s = load();
    struct suite su;
    memset(&su, 0, sizeof(su));
    struct suite_cell sc[2];
    memset(sc, 0, sizeof(sc));
    char err[256];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(scenario_cell_build(s, &s->mit[i], 0, &sc[i].cell, err, sizeof(err)), 0);
        sc[i].result = cell_json(i ? 0 : 20);
        json_object_set_new(sc[i].result, "mitigation", json_string(s->mit[i].name));
        json_object_set_new(sc[i].result, "wall_s", json_real(0.5));
        json_object_set_new(sc[i].result, "dir", json_string("/tmp/x"));
        /* none: measured with apache; other: haproxy's checks (failures 0) hold */
        sc[i].passed = expect_apply(sc[i].result, &sc[i].cell, i ? "haproxy" : "apache");
        sc[i].done = true;
    }
    su.cells = sc;
    su.n = 2;
    assert_int_equal(report_status(&sc[0]), REPORT_MEASURED);
    assert_string_equal(report_status_word(REPORT_MEASURED), "MEASURED");
    assert_int_equal(report_status(&sc[1]), REPORT_PASSED);
    assert_true(sc[0].passed);

    char *dir = tsup_tmpdir("scn-kind");
    char *path = tsup_fmt("%s/out.txt", dir);
    FILE *f = fopen(path, "w");
    report_table(f, &su, REPORT_TABLE_RUN);
    report_progress(f, &sc[0], 1, 2, 0.5);
    report_verdict(f, s, sc[0].result);
    report_verdict(f, s, sc[1].result);
    fclose(f);
    char *text = tsup_slurp(path);
    const char *want[] = {
        "MEASURED\n",
        "proxy-expect-kind × none: measured with apache (no apache expectations in the "
        "scenario): race reproduced: 20/40 trials 502, RST upstream->proxy x20 (hop total)\n",
        "] proxy-expect-kind × none: 20/40 trials failed (200=20 502=20) MEASURED  0.5 s\n"
        "        measured with apache: race reproduced: 20/40 trials 502, RST upstream->proxy "
        "x20 (hop total)\n",
        "Measured with apache (the scenario states no expectations for apache, and "
        "racelab-proxy's do not apply): race reproduced: 20/40 trials 502",
        "The 1 expectation of mitigation other for haproxy holds (1 skipped",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i]))
            fail_msg("expected \"%s\" in:\n%s", want[i], text);
    free(text);

    char *xml = tsup_fmt("%s/junit.xml", dir);
    assert_int_equal(report_junit(&su, xml), 0);
    text = tsup_slurp(xml);
    if (!strstr(text, "failures=\"0\" errors=\"0\" skipped=\"0\"") ||
        !strstr(text, "<system-out>measured with apache: race reproduced: 20/40 trials 502, RST "
                      "upstream-&gt;proxy x20 (hop total)\n") ||
        strstr(text, "<failure") || strstr(text, "<skipped"))
        fail_msg("junit.xml:\n%s", text);
    free(text);

    json_t *res = report_results(&su, "r");
    const json_t *c0 = json_array_get(json_object_get(res, "cells"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "verdict")),
                        "race reproduced: 20/40 trials 502, RST upstream->proxy x20 (hop total)");
    assert_true(json_is_true(json_object_get(res, "passed")));
    json_decref(res);

    for (int i = 0; i < 2; i++) {
        json_decref(sc[i].result);
        scenario_cell_free(&sc[i].cell);
    }
    tsup_rmtree(dir);
    free(dir);
    free(path);
    free(xml);
    scenario_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_per_kind),
        cmocka_unit_test(test_racelab_checks),
        cmocka_unit_test(test_nginx_with_expect_kind),
        cmocka_unit_test(test_kind_without_checks_is_measured),
        cmocka_unit_test(test_verdict_words),
        cmocka_unit_test(test_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
