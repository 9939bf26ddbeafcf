/* racelab diff on synthetic results.json pairs (no run): the same results give exit 0; a cell
 * whose verdict broke is named and gives 1; a failure rate that moves within its interval is no
 * regression, one beyond the intervals is (up) or is reported (down); latency moves beyond the
 * threshold and the floor are reported, and fail only with --fail-on-latency; new and removed
 * cells are listed; a missing file, a file that is not a racelab results.json or a bad flag give
 * 2 with the path in the message; --json writes the changes for machines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tsup.h"

/* One cell: PASS (passed true), FAIL (passed false, one failed check), ERROR, SKIP, MEASURED
 * (a --proxy kind without expectations: passed true, measured true, no checks). */
struct c {
    const char *s, *m, *verdict;
    long trials, failures;
    double p50, p99;
};

static json_t *cell(const struct c *c)
{
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:I, s:f, s:{s:f, s:f}}", "scenario", c->s, "mitigation", c->m,
                  "trials", (json_int_t)c->trials, "failures", (json_int_t)c->failures,
                  "failure_rate", c->trials ? (double)c->failures / (double)c->trials : 0.0,
                  "latency_ms", "p50", c->p50, "p99", c->p99);
    bool measured = strcmp(c->verdict, "MEASURED") == 0;
    bool pass = strcmp(c->verdict, "PASS") == 0 || strcmp(c->verdict, "SKIP") == 0 || measured;
    json_t *checks = json_array();
    if (strcmp(c->verdict, "FAIL") == 0)
        json_array_append_new(
            checks, json_pack("{s:s, s:i, s:I, s:b, s:s}", "check", "failures == 0", "line", 36,
                              "value", (json_int_t)c->failures, "passed", 0, "state", "failed"));
    json_object_set_new(
        o, "expect",
        json_pack("{s:b, s:o, s:b}", "passed", pass, "checks", checks, "measured", measured));
    if (strcmp(c->verdict, "ERROR") == 0)
        json_object_set_new(o, "error", json_string("racelab-proxy exited 1"));
    if (strcmp(c->verdict, "SKIP") == 0)
        json_object_set_new(o, "skipped", json_string("envoy not installed"));
    return o;
}

static char *write_results(const char *dir, const char *name, const struct c *cells, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, cell(&cells[i]));
    json_t *root =
        json_pack("{s:s, s:f, s:b, s:o}", "run_id", name, "wall_s", 1.0, "passed", 1, "cells", arr);
    char *path = tsup_fmt("%s/%s.json", dir, name);
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(1)), 0);
    json_decref(root);
    return path;
}

/* racelab diff ARGS...; its stdout and stderr in *out and *err (malloc'd). */
static int diff(const char *dir, char **out, char **err, ...)
{
    char *argv[16];
    int n = 0;
    argv[n++] = tsup_bin("racelab");
    argv[n++] = "diff";
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 15)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char *op = tsup_fmt("%s/out", dir), *ep = tsup_fmt("%s/err", dir);
    int rc = tsup_run(argv, op, ep, 20000);
    *out = tsup_slurp(op);
    *err = tsup_slurp(ep);
    assert_non_null(*out);
    assert_non_null(*err);
    free(argv[0]);
    free(op);
    free(ep);
    return rc;
}

static void has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("'%s' not in:\n%s", want, text);
}

/* A row of the table, its columns separated by single spaces in want. */
static void row(const char *text, const char *want)
{
    char *sq = strdup(text), *o = sq;
    for (const char *p = text; *p; p++)
        if (!(*p == ' ' && p[1] == ' '))
            *o++ = *p;
    *o = '\0';
    char *line = tsup_fmt("\n%s\n", want);
    if (!strstr(sq, line))
        fail_msg("row '%s' not in:\n%s", want, text);
    free(line);
    free(sq);
}

static void hasnt(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted))
        fail_msg("'%s' unexpected in:\n%s", unwanted, text);
}

static const struct c base[] = {
    {"reuse", "none", "PASS", 100, 100, 0.4, 1.3},
    {"reuse", "fix", "PASS", 100, 0, 7.0, 15.0},
    {"sweep", "none", "PASS", 100, 42, 0.7, 2.6},
};

static void test_same(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *a = write_results(ctx->dir, "a", base, 3), *b = write_results(ctx->dir, "b", base, 3);
    char *out, *err;
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 0);
    has(out, "No change in 3 cells");
    assert_string_equal(err, "");
    free(out);
    free(err);
    /* a run folder is read through its results.json */
    char *run = tsup_fmt("%s/run", ctx->dir);
    assert_int_equal(mkdir(run, 0755), 0);
    char *res = tsup_fmt("%s/results.json", run);
    assert_int_equal(rename(b, res), 0);
    assert_int_equal(diff(ctx->dir, &out, &err, a, run, NULL), 0);
    has(out, res);
    free(out);
    free(err);
    free(res);
    free(run);
    free(a);
    free(b);
}

static void test_verdict_broken(void **state)
{
    struct tsup_ctx *ctx = *state;
    struct c broken[3];
    memcpy(broken, base, sizeof(broken));
    broken[1].verdict = "FAIL";
    broken[1].failures = 2; /* within its interval: the verdict alone makes the regression */
    char *a = write_results(ctx->dir, "a", base, 3), *b = write_results(ctx->dir, "b", broken, 3);
    char *js = tsup_fmt("%s/diff.json", ctx->dir);
    char *out, *err;
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, "--json", js, NULL), 1);
    row(out, "regression reuse fix PASS FAIL");
    has(out, "reuse × fix fails:\n  line 36: failures == 0 (got 2)");
    has(out, "Regressions (1 cell): reuse × fix.");
    hasnt(out, "rate up");
    free(out);
    free(err);

    json_error_t je;
    json_t *d = json_load_file(js, 0, &je);
    assert_non_null(d);
    assert_true(json_is_true(json_object_get(d, "regression")));
    json_t *r = json_array_get(json_object_get(d, "regressions"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "scenario")), "reuse");
    assert_string_equal(json_string_value(json_object_get(r, "mitigation")), "fix");
    json_t *ch = json_array_get(json_object_get(d, "changes"), 0);
    assert_string_equal(json_string_value(json_object_get(ch, "kind")), "regression");
    assert_string_equal(json_string_value(json_object_get(ch, "old")), "PASS");
    assert_string_equal(json_string_value(json_object_get(ch, "new")), "FAIL");
    assert_int_equal(json_array_size(json_object_get(ch, "failed_checks")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(d, "counts"), "regression")), 1);
    json_decref(d);

    /* the other way round it is an improvement, and no regression */
    assert_int_equal(diff(ctx->dir, &out, &err, b, a, NULL), 0);
    row(out, "improvement reuse fix FAIL PASS");
    has(out, "No regression.");
    free(out);
    free(err);

    /* a cell that could not complete is worse than one that passed */
    broken[1].verdict = "ERROR";
    free(b);
    b = write_results(ctx->dir, "b", broken, 3);
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 1);
    has(out, "regression");
    has(out, "reuse × fix could not complete:\n  racelab-proxy exited 1");
    free(out);
    free(err);

    /* a cell not run in NEW (skipped) is a change, not a regression */
    broken[1].verdict = "SKIP";
    free(b);
    b = write_results(ctx->dir, "b", broken, 3);
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 0);
    row(out, "verdict reuse fix PASS SKIP");
    free(out);
    free(err);
    free(js);
    free(a);
    free(b);
}

static void test_rates(void **state)
{
    struct tsup_ctx *ctx = *state;
    struct c moved[3];
    memcpy(moved, base, sizeof(moved));
    char *a = write_results(ctx->dir, "a", base, 3), *b;
    char *out, *err;

    /* 0/100 -> 3/100 and 42/100 -> 50/100: within what 100 trials can tell */
    moved[1].failures = 3;
    moved[2].failures = 50;
    b = write_results(ctx->dir, "b", moved, 3);
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 0);
    has(out, "No change in 3 cells");
    free(out);
    free(err);
    free(b);

    /* 0/100 -> 20/100, the cell still passing: beyond the intervals, a regression */
    moved[1].failures = 20;
    b = write_results(ctx->dir, "b", moved, 3);
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 1);
    row(out, "rate up reuse fix 0/100 < 3.7% 20/100 20.0% (13.3-28.9)");
    has(out, "Regressions (1 cell): reuse × fix.");
    free(out);
    free(err);
    free(b);

    /* 42/100 -> 20/100: reported, not a regression */
    moved[1].failures = 0;
    moved[2].failures = 20;
    b = write_results(ctx->dir, "b", moved, 3);
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 0);
    row(out, "rate down sweep none 42/100 42.0% (32.8-51.8) 20/100 20.0% (13.3-28.9)");
    has(out, "No regression.");
    free(out);
    free(err);
    free(b);

    /* with other trial counts: 0/20 -> 2/100 overlap, 0/20 -> 30/100 do not */
    struct c few[] = {{"reuse", "fix", "PASS", 20, 0, 7, 15}};
    struct c more[] = {{"reuse", "fix", "PASS", 100, 2, 7, 15}};
    char *f = write_results(ctx->dir, "few", few, 1);
    b = write_results(ctx->dir, "b", more, 1);
    assert_int_equal(diff(ctx->dir, &out, &err, f, b, NULL), 0);
    free(out);
    free(err);
    free(b);
    more[0].failures = 30;
    b = write_results(ctx->dir, "b", more, 1);
    assert_int_equal(diff(ctx->dir, &out, &err, f, b, NULL), 1);
    has(out, "rate up");
    free(out);
    free(err);
    free(b);
    free(f);
    free(a);
}

/* A measured cell (a real proxy without expectations) is MEASURED, not PASS: its verdict never
 * regresses, its rate is compared like any other. */
static void test_measured(void **state)
{
    struct tsup_ctx *ctx = *state;
    struct c m[1] = {{"reuse", "none", "MEASURED", 100, 0, 0.4, 1.3}};
    char *a = write_results(ctx->dir, "a", m, 1), *b;
    char *out, *err;
    m[0].verdict = "PASS";
    b = write_results(ctx->dir, "b", m, 1);
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 0);
    row(out, "verdict reuse none MEASURED PASS");
    free(out);
    free(err);
    free(b);
    m[0].verdict = "MEASURED";
    m[0].failures = 30;
    b = write_results(ctx->dir, "b", m, 1);
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 1);
    has(out, "rate up");
    free(out);
    free(err);
    free(b);
    free(a);
}

static void test_latency(void **state)
{
    struct tsup_ctx *ctx = *state;
    struct c slow[3];
    memcpy(slow, base, sizeof(slow));
    slow[0].p99 = 2.2;  /* +69%, but 0.9 ms: under the floor */
    slow[1].p99 = 30.0; /* +100%, 15 ms */
    slow[1].p50 = 9.0;  /* +29%: under the threshold */
    char *a = write_results(ctx->dir, "a", base, 3), *b = write_results(ctx->dir, "b", slow, 3);
    char *out, *err;
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 0);
    row(out, "latency p99 reuse fix 15.00 ms 30.00 ms (+100%)");
    hasnt(out, "latency p50");
    hasnt(out, "none");
    has(out, "1 latency move.");
    free(out);
    free(err);
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, "--fail-on-latency", NULL), 1);
    has(out, "Regressions (1 cell): reuse × fix.");
    free(out);
    free(err);
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, "--latency-threshold", "150%", NULL), 0);
    has(out, "No change");
    free(out);
    free(err);
    /* a floor of 0.5 ms lets reuse × none's 0.9 ms through; the threshold of 20% fix's p50 */
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, "--latency-floor", "0.5ms",
                          "--latency-threshold", "20", NULL),
                     0);
    row(out, "latency p99 reuse none 1.30 ms 2.20 ms (+69%)");
    row(out, "latency p50 reuse fix 7.00 ms 9.00 ms (+29%)");
    free(out);
    free(err);
    free(a);
    free(b);
}

static void test_new_removed(void **state)
{
    struct tsup_ctx *ctx = *state;
    struct c other[] = {base[0], base[1], {"sweep", "careful", "FAIL", 100, 5, 1, 2}};
    char *a = write_results(ctx->dir, "a", base, 3), *b = write_results(ctx->dir, "b", other, 3);
    char *out, *err;
    assert_int_equal(diff(ctx->dir, &out, &err, a, b, NULL), 0);
    row(out, "new sweep careful - FAIL");
    row(out, "removed sweep none PASS -");
    has(out, "2 cells in both runs; changes: 1 new cell, 1 cell removed.");
    free(out);
    free(err);
    free(a);
    free(b);
}

/* exit 2, the path in the message */
static void bad(const char *dir, const char *a, const char *b, const char *want)
{
    char *out, *err;
    int rc = diff(dir, &out, &err, a, b, NULL);
    if (rc != 2)
        fail_msg("racelab diff %s %s: exit %d, expected 2\n%s%s", a, b, rc, out, err);
    has(err, want);
    free(out);
    free(err);
}

static void test_bad_input(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *a = write_results(ctx->dir, "a", base, 3);
    char *missing = tsup_fmt("%s/missing.json", ctx->dir);
    bad(ctx->dir, a, missing, "racelab diff: NEW ");
    bad(ctx->dir, missing, a, missing);
    bad(ctx->dir, missing, a, "No such file or directory");

    char *junk = tsup_fmt("%s/junk.json", ctx->dir);
    FILE *f = fopen(junk, "w");
    fputs("<testsuites/>\n", f);
    fclose(f);
    bad(ctx->dir, a, junk, junk);
    bad(ctx->dir, a, junk, "not a racelab results.json");

    const char *shapes[] = {
        "{\"run_id\": \"x\"}",
        "[1, 2]",
        "{\"cells\": [{\"mitigation\": \"none\"}]}",
        "{\"cells\": [{\"scenario\": \"s\", \"mitigation\": \"m\", \"trials\": 10, \"failures\": "
        "11, "
        "\"expect\": {\"passed\": true}}]}",
        "{\"cells\": [{\"scenario\": \"s\", \"mitigation\": \"m\", \"trials\": 10, \"failures\": "
        "1}]}",
        "{\"cells\": [{\"scenario\": \"s\", \"mitigation\": \"m\", \"trials\": 1, \"failures\": 0, "
        "\"expect\": {\"passed\": true}}, {\"scenario\": \"s\", \"mitigation\": \"m\", \"trials\": "
        "1, \"failures\": 0, \"expect\": {\"passed\": true}}]}",
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        f = fopen(junk, "w");
        fputs(shapes[i], f);
        fclose(f);
        bad(ctx->dir, junk, a, junk);
    }
    /* a folder that is not a run */
    bad(ctx->dir, ctx->dir, a, "not a racelab run folder");

    char *out, *err;
    assert_int_equal(diff(ctx->dir, &out, &err, a, NULL), 2);
    has(err, "expected OLD and NEW");
    free(out);
    free(err);
    assert_int_equal(diff(ctx->dir, &out, &err, a, a, "--latency-threshold", "x", NULL), 2);
    has(err, "--latency-threshold");
    free(out);
    free(err);
    /* --json into a folder that does not exist */
    assert_int_equal(diff(ctx->dir, &out, &err, a, a, "--json", "/nonexistent/d.json", NULL), 2);
    has(err, "/nonexistent/d.json");
    free(out);
    free(err);
    free(junk);
    free(missing);
    free(a);
}

/* A run of several proxies (--proxy racelab,nginx) has one cell per mitigation and proxy: they
 * are not duplicates, and the one that broke is named with its proxy. */
static void test_proxies_told_apart(void **state)
{
    struct tsup_ctx *ctx = *state;
    struct c two[2] = {{"reuse", "fix", "PASS", 100, 0, 1.0, 2.0},
                       {"reuse", "fix", "PASS", 100, 0, 1.0, 2.0}};
    const char *kinds[2] = {"racelab", "nginx"};
    char *paths[2];
    for (int v = 0; v < 2; v++) {
        if (v == 1) {
            two[1].verdict = "FAIL";
            two[1].failures = 100;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < 2; i++) {
            json_t *o = cell(&two[i]);
            json_object_set_new(o, "proxy_kind", json_string(kinds[i]));
            json_array_append_new(arr, o);
        }
        json_t *root = json_pack("{s:s, s:f, s:b, s:o}", "run_id", v ? "new" : "old", "wall_s", 1.0,
                                 "passed", !v, "cells", arr);
        paths[v] = tsup_fmt("%s/px-%d.json", ctx->dir, v);
        assert_int_equal(json_dump_file(root, paths[v], JSON_INDENT(1)), 0);
        json_decref(root);
    }
    char *out, *err;
    assert_int_equal(diff(ctx->dir, &out, &err, paths[0], paths[1], NULL), 1);
    has(out, "Regressions (1 cell): reuse × fix @ nginx.");
    free(out);
    free(err);
    free(paths[0]);
    free(paths[1]);
}

static void test_help(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *out, *err;
    assert_int_equal(diff(ctx->dir, &out, &err, "--help", NULL), 0);
    has(out, "usage: racelab diff OLD NEW");
    has(out, "--latency-threshold PCT");
    has(out, "--latency-floor MS");
    has(out, "--json FILE");
    has(out, "Wilson");
    has(out, "Exit status: 0 no regression; 1 a cell got worse");
    has(out, "2 bad input");
    free(out);
    free(err);
    char *argv[] = {tsup_bin("racelab"), "--help", NULL};
    char *op = tsup_fmt("%s/top", ctx->dir);
    assert_int_equal(tsup_run(argv, op, NULL, 10000), 0);
    char *top = tsup_slurp(op);
    has(top, "diff OLD NEW");
    free(top);
    free(op);
    free(argv[0]);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tsup_ctx_setup, tsup_ctx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_same),    T(test_verdict_broken), T(test_rates),     T(test_measured),
        T(test_latency), T(test_new_removed),    T(test_bad_input), T(test_proxies_told_apart),
        T(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
