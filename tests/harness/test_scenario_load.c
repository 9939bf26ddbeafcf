/* Scenario files: every kind of bad input is refused with FILE:LINE and the key before
 * anything starts (exit 2), a good file loads and round-trips, and a mitigation's overrides
 * merge with the scenario's settings as docs/scenario-format.md says. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "scenario.h"
#include "tsup.h"

#define BAD_DIR  RACELAB_SOURCE_DIR "/tests/harness/bad"
#define GOOD_DIR RACELAB_SOURCE_DIR "/tests/harness/scenarios"

/* file, line of the error, the key it names, a word of the reason */
struct bad_case {
    const char *file;
    int line;
    const char *key;
    const char *reason;
};

static const struct bad_case bad_cases[] = {
    {"empty.yaml", 1, "(file)", "empty scenario"},
    {"syntax.yaml", 6, NULL, "YAML syntax error"},
    {"unknown-key.yaml", 4, "trails", "unknown key"},
    {"wrong-type.yaml", 4, "upstream", "expected a map"},
    {"bad-flag-value.yaml", 6, "upstream.close-how", "expected one of fin|fin-with-data"},
    {"contradiction.yaml", 10, "mitigations.drained.upstream", "--drain-body needs --answer-early"},
    {"unknown-hop.yaml", 5, "wire[0].hop", "not a hop direction of topology direct"},
    {"unknown-mitigation.yaml", 4, "fix", "no mitigation named 'retry-reset'"},
    {"missing-key.yaml", 1, "intent", "missing required key"},
    {"negative-trials.yaml", 4, "trials", "whole number in [1,"},
    {"bad-metric.yaml", 8, "mitigations.none.expect.failurez", "unknown metric"},
    {"expect-kind-unknown.yaml", 8, "mitigations.none.expect_kind.squid",
     "'squid' is not a proxy kind (known: racelab, apache, envoy, haproxy, nginx"},
    {"expect-kind-metric.yaml", 8, "expect_kind.nginx.failurez", "unknown metric"},
    {"expect-kind-type.yaml", 6, "mitigations.none.expect_kind", "expected a map of proxy kind"},
    {"expect-kind-checks-type.yaml", 7, "mitigations.none.expect_kind.haproxy", "expected a map"},
    {"duplicate-key.yaml", 7, "'trials'", "duplicate key"},
    {"unknown-flag.yaml", 6, "downstream.reuse-gap", "not a flag of racelab-downstream"},
    {"reserved-flag.yaml", 5, "upstream.listen", "set by racelab"},
    {"bad-rst-hop.yaml", 8, "rst_on_failing", "not a hop direction"},
    {"section-topology.yaml", 5, "proxy", "topology direct has no proxy"},
    {"bad-percentage.yaml", 7, "latency_ms.p99", "percentage only applies"},
    {"bad-wire-what.yaml", 6, "wire[0].what", "got 'fim'"},
    {"bad-success.yaml", 4, "success", "not a client outcome"},
    {"bare-flag-value.yaml", 5, "upstream.announce-close", "takes no value"},
    {"no-mitigations.yaml", 4, "mitigations", "at least one"},
    {"bad-topology.yaml", 3, "topology", "expected direct, proxy or chain"},
    {"wire-hold-and-drop.yaml", 8, "wire[0]", "either hold or drop"},
    {"proxy-cmd-args.yaml", 7, "mitigations.none.proxy_cmd_args",
     "say each setting once under proxy:"},
};
#define NBAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

static void test_bad_files_name_file_line_and_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < NBAD; i++) {
        const struct bad_case *b = &bad_cases[i];
        char *path = tsup_fmt("%s/%s", BAD_DIR, b->file);
        char *prefix = tsup_fmt("%s:%d:", path, b->line);
        char err[1024] = "";
        struct scenario *s = scenario_load(path, err, sizeof(err));
        if (s || strncmp(err, prefix, strlen(prefix)) != 0 || (b->key && !strstr(err, b->key)) ||
            !strstr(err, b->reason))
            fail_msg("%s: expected an error starting %s naming %s (%s), got: %s", b->file, prefix,
                     b->key ? b->key : "-", b->reason, s ? "(loaded)" : err);
        scenario_free(s);
        free(path);
        free(prefix);
    }
}

/* A fixture without an expectation in the table above is a test nobody checks. */
static void test_every_bad_fixture_is_listed(void **state)
{
    (void)state;
    DIR *d = opendir(BAD_DIR);
    assert_non_null(d);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        bool found = false;
        for (size_t i = 0; i < NBAD; i++)
            if (strcmp(bad_cases[i].file, e->d_name) == 0)
                found = true;
        if (!found)
            fail_msg("%s/%s has no expected error in test_scn_load.c", BAD_DIR, e->d_name);
        n++;
    }
    closedir(d);
    assert_int_equal(n, NBAD);
    assert_true(n >= 10);
}

static int run_racelab(char *const *args, char **err_text, const char *tmp)
{
    char *errp = tsup_fmt("%s/stderr", tmp);
    char *outp = tsup_fmt("%s/stdout", tmp);
    char *argv[16];
    size_t n = 0;
    argv[n++] = tsup_bin("racelab");
    for (; *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int rc = tsup_run(argv, outp, errp, 20000);
    *err_text = tsup_slurp(errp);
    free(argv[0]);
    free(errp);
    free(outp);
    return rc;
}

/* The program itself: exit 2 and FILE:LINE on stderr, for `check` and for `run` (which must
 * refuse before creating anything). */
static void test_racelab_exits_2_with_file_line(void **state)
{
    (void)state;
    char *tmp = tsup_tmpdir("scn-bad");
    assert_non_null(tmp);
    for (size_t i = 0; i < NBAD; i++) {
        const struct bad_case *b = &bad_cases[i];
        char *path = tsup_fmt("%s/%s", BAD_DIR, b->file);
        char *where = tsup_fmt("%s:%d:", path, b->line);
        char *out = tsup_fmt("%s/run-%zu", tmp, i);
        char *text = NULL;
        char *check[] = {"check", path, NULL};
        int rc = run_racelab(check, &text, tmp);
        if (rc != 2 || !text || !strstr(text, where))
            fail_msg("racelab check %s: exit %d, stderr: %s", b->file, rc, text ? text : "");
        free(text);
        char *run[] = {"run", path, "--out", out, NULL};
        rc = run_racelab(run, &text, tmp);
        if (rc != 2 || !text || !strstr(text, where))
            fail_msg("racelab run %s: exit %d, stderr: %s", b->file, rc, text ? text : "");
        struct stat st;
        if (stat(out, &st) == 0)
            fail_msg("racelab run %s created %s before refusing the file", b->file, out);
        free(text);
        free(out);
        free(where);
        free(path);
    }
    tsup_rmtree(tmp);
    free(tmp);
}

static void test_good_file_loads(void **state)
{
    (void)state;
    char err[1024] = "";
    struct scenario *s = scenario_load(GOOD_DIR "/direct-reuse-after-close.yaml", err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    assert_string_equal(s->name, "direct-reuse-after-close");
    assert_int_equal(s->topo, SCENARIO_DIRECT);
    assert_int_equal(s->trials, 20);
    assert_int_equal(s->nsuccess, 1);
    assert_string_equal(s->success[0], "200");
    assert_int_equal(s->nmit, 2);
    assert_string_equal(s->mit[0].name, "none");
    assert_int_equal(s->nfix, 1);
    assert_string_equal(s->fix[0], "careful-client");
    struct scenario_cell c;
    assert_int_equal(scenario_cell_build(s, &s->mit[1], 0, &c, err, sizeof(err)), 0);
    assert_int_equal(c.nprogs, 2);
    assert_string_equal(c.progs[0].name, "downstream");
    const struct scenario_setting *st = scenario_prog_get(&c.progs[0], "check-before-reuse");
    assert_non_null(st);
    assert_null(st->vals);
    st = scenario_prog_get(&c.progs[0], "requests");
    assert_non_null(st);
    assert_string_equal(st->vals[0], "2");
    st = scenario_prog_get(&c.progs[1], "close-how");
    assert_non_null(st);
    assert_string_equal(st->vals[0], "fin-with-data");
    scenario_cell_free(&c);
    scenario_free(s);
}

/* Writing what was understood and loading it again gives the same scenario (the same text
 * once more), for every good scenario. */
static void test_good_files_round_trip(void **state)
{
    (void)state;
    DIR *d = opendir(GOOD_DIR);
    assert_non_null(d);
    char *tmp = tsup_tmpdir("scn-rt");
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".yaml"))
            continue;
        char err[1024] = "";
        char *path = tsup_fmt("%s/%s", GOOD_DIR, e->d_name);
        char *p1 = tsup_fmt("%s/1-%s", tmp, e->d_name), *p2 = tsup_fmt("%s/2-%s", tmp, e->d_name);
        struct scenario *s = scenario_load(path, err, sizeof(err));
        if (!s)
            fail_msg("%s", err);
        FILE *f = fopen(p1, "w");
        scenario_write(f, s);
        fclose(f);
        struct scenario *s2 = scenario_load(p1, err, sizeof(err));
        if (!s2)
            fail_msg("reloading %s: %s", p1, err);
        assert_string_equal(s2->name, s->name);
        assert_int_equal(s2->nmit, s->nmit);
        assert_int_equal(s2->nwire, s->nwire);
        assert_int_equal(s2->trials, s->trials);
        for (size_t i = 0; i < s->nmit; i++) {
            assert_string_equal(s2->mit[i].name, s->mit[i].name);
            assert_int_equal(s2->mit[i].nexpect, s->mit[i].nexpect);
        }
        f = fopen(p2, "w");
        scenario_write(f, s2);
        fclose(f);
        char *t1 = tsup_slurp(p1), *t2 = tsup_slurp(p2);
        assert_string_equal(t1, t2);
        free(t1);
        free(t2);
        scenario_free(s);
        scenario_free(s2);
        free(path);
        free(p1);
        free(p2);
        n++;
    }
    closedir(d);
    tsup_rmtree(tmp);
    free(tmp);
    assert_true(n >= 1);
}

static struct scenario *load_text(const char *text, char *err, size_t errlen)
{
    char *tmp = tsup_tmpdir("scn-text");
    char *path = tsup_fmt("%s/s.yaml", tmp);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    struct scenario *s = scenario_load(path, err, errlen);
    tsup_rmtree(tmp);
    free(tmp);
    free(path);
    return s;
}

/* The canonical form keeps every text as it was: the characters YAML would refuse raw (C1
 * controls, U+FFFE) or read as line breaks (U+0085, U+2028, U+2029), and a text longer than 4 KB
 * (the writer cut texts at 4 KB, also inside a UTF-8 sequence). fuzz_scenario's round trip
 * showed all three: the canonical form did not load, or loaded as another text. */
static void test_write_keeps_every_text(void **state)
{
    (void)state;
    char *long_text = malloc(2 * 3000 + 1);
    assert_non_null(long_text);
    for (int i = 0; i < 3000; i++)
        memcpy(long_text + 2 * i, "\xc3\xa9", 2); /* é */
    long_text[2 * 3000] = '\0';
    char *text = tsup_fmt("name: texts\n"
                          "intent: \"a\\u0085b\\u0080c\\u009fd\\u2028e\\u2029f\\ufffeg\\\"h\\\\i\"\n"
                          "seed: [\"%s\"]\n"
                          "topology: direct\n"
                          "mitigations: {none: {}}\n",
                          long_text);
    char err[1024] = "";
    struct scenario *s = load_text(text, err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    assert_string_equal(s->intent, "a\xc2\x85" "b\xc2\x80" "c\xc2\x9f" "d\xe2\x80\xa8"
                                   "e\xe2\x80\xa9" "f\xef\xbf\xbe" "g\"h\\i");
    char *w = NULL;
    size_t wlen = 0;
    FILE *f = open_memstream(&w, &wlen);
    scenario_write(f, s);
    fclose(f);
    struct scenario *s2 = load_text(w, err, sizeof(err));
    if (!s2)
        fail_msg("the canonical form does not load: %s", err);
    assert_string_equal(s2->intent, s->intent);
    assert_int_equal(s2->nseed, 1);
    assert_string_equal(s2->seed[0], long_text);
    scenario_free(s2);
    scenario_free(s);
    free(w);
    free(text);
    free(long_text);
}

/* Overrides: a mitigation replaces a flag, removes one with false, adds one; `proxy` applies
 * to both proxies of a chain and proxy2 wins over it; `wire:` replaces the faults; checks are
 * replaced metric by metric. */
static void test_mitigation_overrides_merge(void **state)
{
    (void)state;
    static const char text[] = "name: merge\n"
                               "intent: merge rules\n"
                               "topology: chain\n"
                               "trials: 7\n"
                               "upstream: {close-after: 1, announce-close: true}\n"
                               "proxy: {upstream-idle-timeout: 500}\n"
                               "proxy2: {max-request-bytes: 1024}\n"
                               "wire:\n"
                               "  - {hop: upstream->proxy2, what: fin, nth: 1, hold: 100}\n"
                               "expect:\n"
                               "  failures: 0\n"
                               "  rst.proxy2->upstream: 0\n"
                               "mitigations:\n"
                               "  none: {}\n"
                               "  m:\n"
                               "    upstream: {close-after: 2, announce-close: false}\n"
                               "    proxy: {upstream-idle-timeout: 50}\n"
                               "    proxy1: {upstream-idle-timeout: 40}\n"
                               "    wire: []\n"
                               "    trials: 3\n"
                               "    timeout: 5s\n"
                               "    success: [200, 413]\n"
                               "    expect:\n"
                               "      failures: {min: 1, max: 50%}\n";
    char err[1024] = "";
    struct scenario *s = load_text(text, err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    struct scenario_cell a, b;
    assert_int_equal(scenario_cell_build(s, &s->mit[0], 0, &a, err, sizeof(err)), 0);
    assert_int_equal(scenario_cell_build(s, &s->mit[1], 0, &b, err, sizeof(err)), 0);

    assert_int_equal(a.nprogs, 4);
    assert_string_equal(a.progs[1].name, "proxy1");
    assert_string_equal(a.progs[2].name, "proxy2");
    assert_int_equal(a.trials, 7);
    assert_int_equal(a.nwire, 1);
    assert_int_equal(a.nchecks, 2);
    assert_string_equal(scenario_prog_get(&a.progs[1], "upstream-idle-timeout")->vals[0], "500");
    assert_string_equal(scenario_prog_get(&a.progs[2], "max-request-bytes")->vals[0], "1024");
    assert_null(scenario_prog_get(&a.progs[1], "max-request-bytes"));
    assert_non_null(scenario_prog_get(&a.progs[3], "announce-close"));

    assert_int_equal(b.trials, 3);
    assert_int_equal(b.timeout_ms, 5000);
    assert_int_equal(a.timeout_ms, 120000);
    assert_int_equal(b.nwire, 0);
    assert_int_equal(b.nsuccess, 2);
    assert_true(scenario_cell_success(&b, "413"));
    assert_false(scenario_cell_success(&b, "503"));
    assert_string_equal(scenario_prog_get(&b.progs[3], "close-after")->vals[0], "2");
    assert_null(scenario_prog_get(&b.progs[3], "announce-close"));
    assert_string_equal(scenario_prog_get(&b.progs[1], "upstream-idle-timeout")->vals[0], "40");
    assert_string_equal(scenario_prog_get(&b.progs[2], "upstream-idle-timeout")->vals[0], "50");
    assert_int_equal(b.nchecks, 2);
    assert_string_equal(b.checks[0].metric, "rst.proxy2->upstream");
    assert_string_equal(b.checks[1].metric, "failures");
    assert_true(b.checks[1].min.set);
    assert_true(b.checks[1].max.pct);

    struct scenario_cell c;
    assert_int_equal(scenario_cell_build(s, &s->mit[1], 11, &c, err, sizeof(err)), 0);
    assert_int_equal(c.trials, 11);
    scenario_cell_free(&c);
    scenario_cell_free(&a);
    scenario_cell_free(&b);
    scenario_free(s);
}

/* Every mitigation is validated with the program's rules, not only the first. */
static void test_proxy_contradiction_in_second_mitigation(void **state)
{
    (void)state;
    static const char text[] = "name: contra\n"
                               "intent: x\n"
                               "topology: proxy\n"
                               "mitigations:\n"
                               "  none: {}\n"
                               "  both:\n"
                               "    proxy:\n"
                               "      skip-delay-close: true\n"
                               "      no-skip-delay-close: true\n";
    char err[1024] = "";
    struct scenario *s = load_text(text, err, sizeof(err));
    assert_null(s);
    assert_non_null(strstr(err, ":8: mitigations.both.proxy"));
    assert_non_null(strstr(err, "contradict"));
}

/* A percentage is of the cell's trials: above 100% is refused only for metrics that cannot
 * exceed the trial count (trials, failures, outcomes.X, failing_rst.D, trials_with_rst.D,
 * rates); per-request counts and the proxy's counters can (2 requests per trial = 200%). */
static void test_percentages_above_100(void **state)
{
    (void)state;
    static const char head[] = "name: pct\n"
                               "intent: x\n"
                               "topology: proxy\n"
                               "mitigations:\n"
                               "  none:\n"
                               "    expect:\n";
    const char *fine[] = {
        "requests.total: 200%",
        "requests.outcomes.200: {min: 150%, max: 200%}",
        "requests.failures: {max: 120%}",
        "stats.upstream_rq_retry: {min: 101%}",
        "stats.downstream_rq_total: 200%",
        "proxy_flags.UC: {max: 200%}",
        "proxies.proxy.requests: 200%",
        "proxies.proxy.statuses.200: {min: 190%}",
        "upstream.request: {min: 200%}",
        "rst.upstream->proxy: {min: 200%}",
        "wire.held: {min: 200%}",
    };
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        char *text = tsup_fmt("%s      %s\n", head, fine[i]);
        char err[1024] = "";
        struct scenario *s = load_text(text, err, sizeof(err));
        if (!s)
            fail_msg("'%s' was refused: %s", fine[i], err);
        scenario_free(s);
        free(text);
    }
    const char *never[] = {
        "trials: 101%",
        "failures: 101%",
        "failures: {max: 150%}",
        "outcomes.503: {min: 200%}",
        "outcomes.200: {max: 100.5%}",
        "failing_rst.upstream->proxy: 200%",
        "trials_with_rst.upstream->proxy: {min: 101%}",
        "failure_rate: 101%",
        "sweep_stats.max_failure_rate: {max: 120%}",
        "sweep_stats.min_failure_rate: 200%",
    };
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        char *text = tsup_fmt("%s      %s\n", head, never[i]);
        char err[1024] = "";
        struct scenario *s = load_text(text, err, sizeof(err));
        if (s || !strstr(err, ":7: mitigations.none.expect.") ||
            !strstr(err, "above 100% can never hold"))
            fail_msg("'%s': expected a refusal at line 7, got: %s", never[i], s ? "(loaded)" : err);
        scenario_free(s);
        free(text);
    }
}

static void test_help(void **state)
{
    (void)state;
    char *tmp = tsup_tmpdir("scn-help");
    const char *cmds[] = {"run", "compare", "repro", "503-uc", "list", "check", "explain"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char *argv[] = {tsup_bin("racelab"), (char *)cmds[i], "--help", NULL};
        char *outp = tsup_fmt("%s/out", tmp);
        int rc = tsup_run(argv, outp, NULL, 10000);
        char *text = tsup_slurp(outp);
        assert_int_equal(rc, 0);
        assert_non_null(strstr(text, "usage: racelab"));
        free(text);
        free(outp);
        free(argv[0]);
    }
    char *argv[] = {tsup_bin("racelab"), "frobnicate", NULL};
    assert_int_equal(tsup_run(argv, NULL, NULL, 10000), 2);
    free(argv[0]);
    tsup_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files_name_file_line_and_key),
        cmocka_unit_test(test_every_bad_fixture_is_listed),
        cmocka_unit_test(test_racelab_exits_2_with_file_line),
        cmocka_unit_test(test_good_file_loads),
        cmocka_unit_test(test_good_files_round_trip),
        cmocka_unit_test(test_write_keeps_every_text),
        cmocka_unit_test(test_mitigation_overrides_merge),
        cmocka_unit_test(test_proxy_contradiction_in_second_mitigation),
        cmocka_unit_test(test_percentages_above_100),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
