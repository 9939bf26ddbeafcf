/* racelab diff on real runs: a small scenario run twice honestly (A, A2), and once more from a
 * copy whose fixing mitigation lost its setting (careful-client without check-before-reuse, so
 * it fails its expectations like no mitigation at all). diff A B names that cell and exits 1;
 * diff A A2 exits 0. The runs' results.json carry failure_rate_ci next to failure_rate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tsup.h"

#define GOOD        RACELAB_SOURCE_DIR "/tests/harness/scenarios/direct-reuse-after-close.yaml"
#define FIX_SETTING "    downstream: {check-before-reuse: true}\n"

static int racelab_run(const char *dir, const char *scenario, const char *out)
{
    char *bin = tsup_bin("racelab"), *errp = tsup_fmt("%s/run.err", dir);
    char *outp = tsup_fmt("%s/run.out", dir);
    char *argv[] = {bin, "run", (char *)scenario, "--out", (char *)out, "--quiet", NULL};
    int rc = tsup_run(argv, outp, errp, 120000);
    if (rc == 2) {
        char *e = tsup_slurp(errp);
        fail_msg("racelab run %s refused to run (missing capability?): %s", scenario, e);
    }
    free(outp);
    free(errp);
    free(bin);
    return rc;
}

static int racelab_diff(const char *dir, const char *a, const char *b, const char *json, char **out)
{
    char *bin = tsup_bin("racelab"), *op = tsup_fmt("%s/diff.out", dir);
    char *argv[] = {bin, "diff", (char *)a, (char *)b, "--json", (char *)json, NULL};
    int rc = tsup_run(argv, op, NULL, 20000);
    *out = tsup_slurp(op);
    assert_non_null(*out);
    free(op);
    free(bin);
    return rc;
}

/* The scenario without the setting that makes careful-client careful. */
static char *broken_copy(const char *dir)
{
    char *text = tsup_slurp(GOOD);
    assert_non_null(text);
    char *at = strstr(text, FIX_SETTING);
    if (!at)
        fail_msg("%s no longer has the line '%s'", GOOD, FIX_SETTING);
    memmove(at, at + strlen(FIX_SETTING), strlen(at + strlen(FIX_SETTING)) + 1);
    char *sub = tsup_fmt("%s/broken", dir);
    char *mk = tsup_fmt("mkdir -p '%s'", sub);
    assert_int_equal(system(mk), 0);
    char *path = tsup_fmt("%s/direct-reuse-after-close.yaml", sub);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(mk);
    free(sub);
    free(text);
    return path;
}

static void test_diff_runs(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *a = tsup_fmt("%s/A", ctx->dir), *a2 = tsup_fmt("%s/A2", ctx->dir);
    char *b = tsup_fmt("%s/B", ctx->dir), *js = tsup_fmt("%s/diff.json", ctx->dir);
    char *broken = broken_copy(ctx->dir);
    assert_int_equal(racelab_run(ctx->dir, GOOD, a), 0);
    assert_int_equal(racelab_run(ctx->dir, GOOD, a2), 0);
    assert_int_equal(racelab_run(ctx->dir, broken, b), 1);

    /* failure_rate_ci next to failure_rate, in results.json's order too */
    char *rp = tsup_fmt("%s/results.json", a);
    json_error_t je;
    json_t *res = json_load_file(rp, JSON_PRESERVE_ORDER, &je);
    assert_non_null(res);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(res, "cells"), i, c)
    {
        json_t *ci = json_object_get(c, "failure_rate_ci");
        assert_int_equal(json_array_size(ci), 2);
        double lo = json_number_value(json_array_get(ci, 0));
        double hi = json_number_value(json_array_get(ci, 1));
        double rate = json_number_value(json_object_get(c, "failure_rate"));
        assert_true(lo <= rate && rate <= hi);
        void *it = json_object_iter_at(c, "failure_rate");
        assert_string_equal(json_object_iter_key(json_object_iter_next(c, it)), "failure_rate_ci");
    }
    json_decref(res);
    free(rp);

    char *out;
    int rc = racelab_diff(ctx->dir, a, b, js, &out);
    if (rc != 1 ||
        !strstr(out, "Regressions (1 cell): direct-reuse-after-close × careful-client.") ||
        !strstr(out, "direct-reuse-after-close × careful-client fails:"))
        fail_msg("racelab diff A B: exit %d, expected 1 naming careful-client:\n%s", rc, out);
    free(out);
    json_t *d = json_load_file(js, 0, &je);
    assert_non_null(d);
    json_t *regs = json_object_get(d, "regressions");
    assert_int_equal(json_array_size(regs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(regs, 0), "mitigation")),
                        "careful-client");
    json_decref(d);

    rc = racelab_diff(ctx->dir, a, a2, js, &out);
    if (rc != 0)
        fail_msg("racelab diff A A2 (two honest runs): exit %d, expected 0:\n%s", rc, out);
    free(out);
    free(broken);
    free(js);
    free(b);
    free(a2);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_diff_runs, tsup_ctx_setup, tsup_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
