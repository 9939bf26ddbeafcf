/* The partition of --shard I/N and the folding of --repeat N, without running a cell: the hash
 * is FNV-1a-64 of "SCENARIO/MITIGATION" (pinned here, so that a change that would move every
 * cell to another shard between two versions is seen), a cell's shard does not depend on the
 * other cells, I/N is checked; the repetitions of a cell fold into its verdict (the majority, a
 * tie to the earliest), the repetitions that disagree, and a pass only when every repetition
 * passed, as the table and junit.xml say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report.h"
#include "shard.h"
#include "suite.h"
#include "tsup.h"

static void test_parse(void **state)
{
    (void)state;
    struct shard sh = {0, 0};
    char err[256];
    assert_int_equal(shard_parse("1/3", &sh, err, sizeof(err)), 0);
    assert_int_equal(sh.index, 1);
    assert_int_equal(sh.count, 3);
    assert_int_equal(shard_parse("3/3", &sh, err, sizeof(err)), 0);
    assert_int_equal(sh.index, 3);
    assert_int_equal(shard_parse("1/1", &sh, err, sizeof(err)), 0);
    const char *bad[] = {"0/3",  "4/3",  "3",    "/3",      "1/",   "1/0", "a/3",
                         "1/3x", "-1/3", "1/-3", "1/10001", " 1/3", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (shard_parse(bad[i], &sh, err, sizeof(err)) != -1)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(strstr(err, "I/N") != NULL);
    }
    /* a 0-based index gets the hint */
    assert_int_equal(shard_parse("0/3", &sh, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "JOB_COMPLETION_INDEX"));
}

static void test_hash_pinned(void **state)
{
    (void)state;
    /* FNV-1a 64 of the empty string is its offset basis; of the cells of
     * tests/harness/scenarios, computed independently */
    assert_true(shard_hash("", "") != 0);
    assert_true(shard_hash("proxy-held-fin", "none") == 0x197492b6bf1c9410ULL);
    assert_true(shard_hash("direct-reuse-after-close", "none") == 0x3a5d45e359f87d6eULL);
    assert_true(shard_hash("wrong-expectation", "none") == 0xfd5ab1e7cc22ce58ULL);
    assert_int_equal(shard_of("proxy-held-fin", "none", 3), 1);
    assert_int_equal(shard_of("direct-reuse-after-close", "careful-client", 3), 2);
    assert_int_equal(shard_of("direct-reuse-after-close", "none", 3), 3);
    /* the separator counts: a/bc and ab/c are different cells */
    assert_true(shard_hash("a", "bc") != shard_hash("ab", "c"));
}

/* Adding cells moves none of the others, and every shard of a list of 200 cells gets some. */
static void test_stable(void **state)
{
    (void)state;
    enum { N = 4, CELLS = 200 };
    long before[CELLS];
    size_t per[N + 1] = {0};
    char s[64], m[64];
    for (int i = 0; i < CELLS; i++) {
        snprintf(s, sizeof(s), "scenario-%d", i / 5);
        snprintf(m, sizeof(m), "mitigation-%d", i % 5);
        before[i] = shard_of(s, m, N);
        assert_true(before[i] >= 1 && before[i] <= N);
        per[before[i]]++;
    }
    for (int k = 1; k <= N; k++)
        assert_true(per[k] > 0);
    /* the same cells, computed again among 100 new ones interleaved */
    for (int i = 0; i < CELLS; i++) {
        snprintf(s, sizeof(s), "new-%d", i);
        (void)shard_of(s, "none", N);
        snprintf(s, sizeof(s), "scenario-%d", i / 5);
        snprintf(m, sizeof(m), "mitigation-%d", i % 5);
        assert_int_equal(shard_of(s, m, N), before[i]);
    }
}

static struct scenario scn = {.name = "flaky-scenario", .path = "flaky.yaml"};
static struct scenario_mit mit = {.name = "none"};

/* Repetition rep of cell index with the given outcome. */
static void rep_cell(struct suite_cell *sc, size_t index, long rep, bool passed)
{
    memset(sc, 0, sizeof(*sc));
    sc->cell.s = &scn;
    sc->cell.m = &mit;
    sc->index = index;
    sc->rep = rep;
    sc->passed = passed;
    sc->done = true;
    snprintf(sc->dir, sizeof(sc->dir), "/out/flaky-scenario/none/rep-%ld", rep);
    sc->result = json_pack("{s:s, s:s, s:i, s:i, s:f, s:{s:b, s:[]}}", "scenario", scn.name,
                           "mitigation", mit.name, "trials", 10, "failures", passed ? 0 : 3,
                           "wall_s", 0.1, "expect", "passed", passed, "checks");
    assert_non_null(sc->result);
}

static void test_fold(void **state)
{
    (void)state;
    struct suite su;
    memset(&su, 0, sizeof(su));
    su.cells = calloc(5, sizeof(*su.cells));
    su.cap = 5;
    /* cell 0: PASS FAIL PASS; cell 1: FAIL PASS (a tie: the first's) */
    rep_cell(&su.cells[0], 0, 1, true);
    rep_cell(&su.cells[1], 0, 2, false);
    rep_cell(&su.cells[2], 0, 3, true);
    rep_cell(&su.cells[3], 1, 1, false);
    rep_cell(&su.cells[4], 1, 2, true);
    su.n = 5;
    su.repeat = 3;
    assert_int_equal(suite_fold_repeats(&su), 0);
    assert_int_equal(su.n, 2);

    struct suite_cell *a = &su.cells[0], *b = &su.cells[1];
    assert_int_equal(a->reps, 3);
    assert_int_equal(a->disagree, 1);
    assert_false(a->passed); /* a repetition failed: the run fails */
    assert_int_equal(report_status(a), REPORT_PASSED);
    assert_string_equal(a->dir, "/out/flaky-scenario/none");
    json_t *rp = json_object_get(a->result, "repeat");
    assert_string_equal(json_string_value(json_object_get(rp, "verdict")), "PASS");
    assert_int_equal(json_integer_value(json_object_get(rp, "disagree")), 1);
    assert_false(json_is_true(json_object_get(rp, "passed")));
    assert_int_equal(json_array_size(json_object_get(rp, "repetitions")), 3);
    json_t *r2 = json_array_get(json_object_get(rp, "repetitions"), 1);
    assert_string_equal(json_string_value(json_object_get(r2, "status")), "FAIL");
    assert_string_equal(json_string_value(json_object_get(r2, "dir")),
                        "/out/flaky-scenario/none/rep-2");
    assert_int_equal(b->reps, 2);
    assert_int_equal(b->disagree, 1);
    assert_int_equal(report_status(b), REPORT_FAILED);
    assert_false(suite_passed(&su));

    char res[128];
    report_result(res, sizeof(res), a);
    assert_string_equal(res, "PASS (1 of 3 repetitions disagree)");
    char *dir = tsup_tmpdir("run-shard");
    char *path = tsup_fmt("%s/junit.xml", dir);
    assert_int_equal(report_junit(&su, path), 0);
    char *x = tsup_slurp(path);
    assert_non_null(x);
    if (!strstr(x, "<failure message=\"flaky: 1 of 3 repetitions disagree with the verdict PASS\">"
                   "rep-1 PASS, rep-2 FAIL, rep-3 PASS</failure>") ||
        !strstr(x, "failures=\"2\""))
        fail_msg("junit.xml: %s", x);
    free(x);
    free(path);
    tsup_rmtree(dir);
    free(dir);
    suite_free(&su);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_hash_pinned),
        cmocka_unit_test(test_stable),
        cmocka_unit_test(test_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
