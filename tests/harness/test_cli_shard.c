/* racelab run --shard I/N, racelab merge and --repeat N on tests/harness/scenarios: three shards
 * run side by side (each in its own --out folder: the folder lock lets them) hold each cell of
 * the matrix once, in the shard its hash names, and merged give the cells, verdicts and exit
 * status of one unsharded run; merge refuses a cell twice and results of another version, warns
 * of a missing shard; an empty shard passes; --repeat 3 runs a deterministic cell three times
 * with no repetition disagreeing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shard.h"
#include "tsup.h"

#define SCN        RACELAB_SOURCE_DIR "/tests/harness/scenarios/"
#define DIRECT     SCN "direct-reuse-after-close.yaml"
#define PROXY      SCN "proxy-held-fin.yaml"
#define WRONG      SCN "failing/wrong-expectation.yaml"
#define TIMEOUT_MS 300000

static json_t *results(const char *dir)
{
    json_t *r = tsup_results(dir);
    if (!r)
        fail_msg("%s: no racelab results.json", dir);
    return r;
}

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* "scenario × mitigation: passed" per cell, in order, one line each. */
static char *cell_list(const json_t *res)
{
    size_t i, len = 1;
    const json_t *c;
    char *out = calloc(1, 1);
    json_array_foreach(json_object_get(res, "cells"), i, c)
    {
        char *line = tsup_fmt("%s × %s: %s\n", str(c, "scenario"), str(c, "mitigation"),
                              json_is_true(json_object_get(json_object_get(c, "expect"), "passed"))
                                  ? "passed"
                                  : "failed");
        len += strlen(line);
        out = realloc(out, len);
        strcat(out, line);
        free(line);
    }
    return out;
}

static int run_racelab(char **args, const char *outp, const char *errp)
{
    char *argv[32];
    size_t n = 0;
    argv[n++] = tsup_bin("racelab");
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int rc = tsup_run(argv, outp, errp, TIMEOUT_MS);
    free(argv[0]);
    return rc;
}

static void assert_contains(const char *file, const char *want)
{
    char *text = tsup_slurp(file);
    assert_non_null(text);
    if (!strstr(text, want))
        fail_msg("%s lacks '%s':\n%s", file, want, text);
    free(text);
}

static void assert_lacks(const char *file, const char *what)
{
    char *text = tsup_slurp(file);
    assert_non_null(text);
    if (strstr(text, what))
        fail_msg("%s has '%s':\n%s", file, what, text);
    free(text);
}

/* Shard i's results: its shard recorded, its cells exactly those its hash names. */
static void check_shard(const char *dir, long i, size_t *ncells)
{
    json_t *r = results(dir);
    const json_t *sh = json_object_get(r, "shard");
    assert_int_equal(json_integer_value(json_object_get(sh, "index")), i);
    assert_int_equal(json_integer_value(json_object_get(sh, "count")), 3);
    assert_int_equal(json_integer_value(json_object_get(sh, "cells_total")), 5);
    size_t k;
    const json_t *c;
    json_array_foreach(json_object_get(r, "cells"), k, c)
    {
        assert_int_equal(shard_of(str(c, "scenario"), str(c, "mitigation"), 3), i);
    }
    *ncells += json_array_size(json_object_get(r, "cells"));
    json_decref(r);
}

static void test_shards_merged(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *bin = tsup_bin("racelab");
    struct tsup_proc p[3];
    char *dirs[3], *errs[3];
    for (int i = 0; i < 3; i++) {
        dirs[i] = tsup_fmt("%s/shard%d", ctx->dir, i + 1);
        errs[i] = tsup_fmt("%s/shard%d.err", ctx->dir, i + 1);
        char *sh = tsup_fmt("%d/3", i + 1);
        char *argv[] = {bin, "run",     DIRECT, PROXY,   WRONG,   "--trials",
                        "4", "--shard", sh,     "--out", dirs[i], NULL};
        assert_int_equal(tsup_spawn(&p[i], argv, NULL, errs[i]), 0);
        free(sh);
    }
    int rc[3];
    size_t ncells = 0;
    for (int i = 0; i < 3; i++) {
        rc[i] = tsup_wait(&p[i], TIMEOUT_MS);
        assert_true(rc[i] == 0 || rc[i] == 1);
        check_shard(dirs[i], i + 1, &ncells);
    }
    assert_int_equal(ncells, 5); /* every cell once */
    /* the shard holding wrong-expectation × none failed, the others passed */
    long wrong = shard_of("wrong-expectation", "none", 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rc[i], i + 1 == wrong ? 1 : 0);

    char *whole = tsup_fmt("%s/whole", ctx->dir);
    char *wout = tsup_fmt("%s/whole.out", ctx->dir), *werr = tsup_fmt("%s/whole.err", ctx->dir);
    char *a1[] = {"run", DIRECT, PROXY, WRONG, "--trials", "4", "--out", whole, NULL};
    int whole_rc = run_racelab(a1, wout, werr);
    assert_int_equal(whole_rc, 1);

    char *merged = tsup_fmt("%s/merged", ctx->dir), *junit = tsup_fmt("%s/j.xml", ctx->dir);
    char *mout = tsup_fmt("%s/merge.out", ctx->dir), *merr = tsup_fmt("%s/merge.err", ctx->dir);
    char *r3 = tsup_fmt("%s/results.json", dirs[2]); /* a results.json is an input too */
    char *mjson = tsup_fmt("%s/m.json", ctx->dir);
    char *a2[] = {"merge",   dirs[1], dirs[0],  r3,    "--out", merged,
                  "--junit", junit,   "--json", mjson, NULL};
    assert_int_equal(run_racelab(a2, mout, merr), whole_rc);
    assert_contains(merr, "racelab merge: 3 inputs, FAILED (4 passed, 1 failed)");
    json_t *m = results(merged), *w = results(whole);
    json_t *mj2 = json_load_file(mjson, 0, NULL);
    assert_true(mj2 && json_equal(mj2, m)); /* --json: the same results.json */
    json_decref(mj2);
    free(mjson);
    char *ml = cell_list(m), *wl = cell_list(w);
    assert_string_equal(ml, wl); /* same cells, same verdicts, same order */
    assert_string_equal(str(m, "racelab_version"), str(w, "racelab_version"));
    assert_int_equal(json_array_size(json_object_get(m, "merged_from")), 3);
    /* the cells' folders are referenced where the shards wrote them */
    const json_t *c0 = json_array_get(json_object_get(m, "cells"), 0);
    assert_int_equal(access(str(c0, "capture"), R_OK), 0);
    assert_non_null(strstr(str(c0, "dir"), "/shard"));
    assert_lacks(merr, "warning");
    assert_contains(mout, "wrong-expectation × none failed:");
    assert_contains(mout, "failures == 0");
    char *mj = tsup_fmt("%s/junit.xml", merged);
    assert_contains(mj, "tests=\"5\" failures=\"1\"");
    assert_contains(junit, "tests=\"5\" failures=\"1\"");
    free(mj);
    free(ml);
    free(wl);
    json_decref(m);
    json_decref(w);

    /* a cell twice: refused, naming the cell and both files */
    char *dup = tsup_fmt("%s/dup", ctx->dir);
    char *a3[] = {"merge", dirs[0], whole, "--out", dup, NULL};
    assert_int_equal(run_racelab(a3, mout, merr), 2);
    assert_contains(merr, "is in ");
    assert_contains(merr, "whole/results.json");
    assert_int_equal(access(dup, F_OK), -1); /* nothing written */

    /* another version: refused */
    char *old = tsup_fmt("%s/old.json", ctx->dir);
    json_t *o = results(dirs[0]);
    json_object_set_new(o, "racelab_version", json_string("0.0.0-other"));
    assert_int_equal(json_dump_file(o, old, 0), 0);
    json_decref(o);
    char *a4[] = {"merge", old, dirs[1], "--out", dup, NULL};
    assert_int_equal(run_racelab(a4, mout, merr), 2);
    assert_contains(merr, "different racelab versions");
    assert_contains(merr, "old.json");

    /* a shard missing: warned, and the exit status is that of the cells there are */
    char *a5[] = {
        "merge", dirs[wrong == 1 ? 1 : 0], dirs[wrong == 3 ? 1 : 2], "--out", dup, "--quiet", NULL};
    assert_int_equal(run_racelab(a5, mout, merr), 0);
    char *miss = tsup_fmt("shard %ld/3 is missing", wrong);
    assert_contains(merr, miss);
    assert_lacks(merr, "inputs,"); /* --quiet: warnings only, no closing line */
    free(miss);

    for (int i = 0; i < 3; i++) {
        free(dirs[i]);
        free(errs[i]);
    }
    free(bin);
    free(whole);
    free(wout);
    free(werr);
    free(merged);
    free(junit);
    free(mout);
    free(merr);
    free(r3);
    free(dup);
    free(old);
}

/* A shard with no cell: nothing runs, exit 0, its results say which shard and of how many. */
static void test_empty_shard(void **state)
{
    struct tsup_ctx *ctx = *state;
    long empty = 0;
    for (long i = 1; i <= 50 && !empty; i++)
        if (shard_of("direct-reuse-after-close", "none", 50) != i &&
            shard_of("direct-reuse-after-close", "careful-client", 50) != i)
            empty = i;
    char *sh = tsup_fmt("%ld/50", empty), *out = tsup_fmt("%s/empty", ctx->dir);
    char *errp = tsup_fmt("%s/empty.err", ctx->dir);
    char *a[] = {"run", DIRECT, "--shard", sh, "--out", out, NULL};
    assert_int_equal(run_racelab(a, NULL, errp), 0);
    json_t *r = results(out);
    assert_int_equal(json_array_size(json_object_get(r, "cells")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "shard"), "index")),
                     empty);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r, "shard"), "cells_total")), 2);
    assert_contains(errp, "no cell to run");
    json_decref(r);
    free(sh);
    free(out);
    free(errp);
}

static void test_repeat(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *out = tsup_fmt("%s/rep", ctx->dir), *outp = tsup_fmt("%s/rep.out", ctx->dir);
    char *a[] = {"run",      DIRECT, "--mitigation", "none", "--trials", "4",
                 "--repeat", "3",    "--out",        out,    NULL};
    assert_int_equal(run_racelab(a, outp, NULL), 0);
    json_t *r = results(out);
    assert_int_equal(json_integer_value(json_object_get(r, "repeat")), 3);
    assert_int_equal(json_array_size(json_object_get(r, "cells")), 1);
    const json_t *rp = json_object_get(json_array_get(json_object_get(r, "cells"), 0), "repeat");
    assert_int_equal(json_integer_value(json_object_get(rp, "count")), 3);
    assert_int_equal(json_integer_value(json_object_get(rp, "disagree")), 0);
    assert_string_equal(str(rp, "verdict"), "PASS");
    assert_int_equal(json_array_size(json_object_get(rp, "repetitions")), 3);
    for (int k = 1; k <= 3; k++) {
        char *pcap = tsup_fmt("%s/direct-reuse-after-close/none/rep-%d/capture.pcap.gz", out, k);
        assert_int_equal(access(pcap, R_OK), 0);
        free(pcap);
    }
    assert_contains(outp, "PASS (0 of 3 repetitions disagree)");
    char *j = tsup_fmt("%s/junit.xml", out);
    assert_contains(j, "repetitions (0 of 3 disagree with the verdict): rep-1 PASS, rep-2 PASS, "
                       "rep-3 PASS");
    json_decref(r);

    /* a failing cell fails every repetition alike: FAIL, none disagreeing, exit 1 */
    char *out2 = tsup_fmt("%s/rep2", ctx->dir);
    char *b[] = {"run", WRONG, "--trials", "2", "--repeat", "2", "--out", out2, NULL};
    assert_int_equal(run_racelab(b, outp, NULL), 1);
    assert_contains(outp, "FAIL (0 of 2 repetitions disagree)");
    free(out);
    free(out2);
    free(outp);
    free(j);
}

/* compare takes --shard and --repeat as run does. */
static void test_compare(void **state)
{
    struct tsup_ctx *ctx = *state;
    long i = shard_of("proxy-held-fin", "retry-reset", 3);
    char *sh = tsup_fmt("%ld/3", i), *out = tsup_fmt("%s/cmp", ctx->dir);
    char *outp = tsup_fmt("%s/cmp.out", ctx->dir);
    char *a[] = {"compare",  PROXY, "--trials", "2", "--shard", sh,
                 "--repeat", "2",   "--out",    out, NULL};
    assert_int_equal(run_racelab(a, outp, NULL), 0);
    json_t *r = results(out);
    size_t k;
    const json_t *c;
    json_array_foreach(json_object_get(r, "cells"), k, c)
    {
        assert_int_equal(shard_of(str(c, "scenario"), str(c, "mitigation"), 3), i);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "repeat"), "count")),
                         2);
    }
    assert_true(json_array_size(json_object_get(r, "cells")) >= 1);
    assert_contains(outp, "retry-reset");
    assert_contains(outp, "of 2 repetitions disagree");
    json_decref(r);
    free(sh);
    free(out);
    free(outp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shards_merged, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_empty_shard, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_repeat, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_compare, tsup_ctx_setup, tsup_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
