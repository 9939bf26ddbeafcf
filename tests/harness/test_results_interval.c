/* How sure a failure rate is (results/interval.h): the 95% Wilson score interval against known
 * values (0/100 → upper 3.70%, 50/100 → 40.4–59.6, 1/1, 0/0), its compact form in the rate
 * column, Fisher's exact test against textbook values, when a rate moved beyond the intervals
 * (racelab diff), compare's note on the mitigations the trials cannot tell apart, and
 * failure_rate_ci next to every failure_rate metrics_build writes (the cell's, each gap's). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "interval.h"
#include "metrics.h"

#define near(a, b, eps)                                                                            \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(a_ - b_ < (eps) && b_ - a_ < (eps)))                                                 \
            fail_msg("%s = %.8f, expected %.8f", #a, a_, b_);                                      \
    } while (0)

static void test_wilson_known(void **state)
{
    (void)state;
    struct interval iv = interval_wilson(0, 100);
    assert_true(iv.lo == 0);
    near(iv.hi, 0.0369935, 1e-6); /* 3.70% */
    iv = interval_wilson(50, 100);
    near(iv.lo, 0.4038315, 1e-6);
    near(iv.hi, 0.5961685, 1e-6);
    iv = interval_wilson(1, 1);
    near(iv.lo, 0.2065493, 1e-6); /* 1 / (1 + z²) */
    assert_true(iv.hi == 1);
    iv = interval_wilson(0, 1);
    assert_true(iv.lo == 0);
    near(iv.hi, 0.7934507, 1e-6);
    iv = interval_wilson(20, 20);
    near(iv.lo, 0.8388748, 1e-6);
    assert_true(iv.hi == 1);
    /* no trial: nothing is known */
    iv = interval_wilson(0, 0);
    assert_true(iv.lo == 0 && iv.hi == 1);
    /* counts out of range are clamped, never a NaN */
    iv = interval_wilson(7, 5);
    assert_true(iv.hi == 1 && iv.lo > 0.5);
    iv = interval_wilson(-1, 5);
    assert_true(iv.lo == 0 && iv.hi < 0.5);
    /* always contains the rate, within [0, 1] */
    for (long n = 1; n <= 200; n += 13)
        for (long k = 0; k <= n; k++) {
            iv = interval_wilson(k, n);
            double p = (double)k / (double)n;
            if (!(iv.lo >= 0 && iv.lo <= p && p <= iv.hi && iv.hi <= 1))
                fail_msg("%ld/%ld: [%f, %f]", k, n, iv.lo, iv.hi);
        }
}

static void assert_pair(json_t *a, double lo, double hi)
{
    assert_non_null(a);
    assert_int_equal(json_array_size(a), 2);
    near(json_real_value(json_array_get(a, 0)), lo, 1e-9);
    near(json_real_value(json_array_get(a, 1)), hi, 1e-9);
    json_decref(a);
}

static void test_json(void **state)
{
    (void)state;
    assert_pair(interval_json(0, 100), 0, 0.037);
    assert_pair(interval_json(50, 100), 0.4038, 0.5962);
    assert_pair(interval_json(1, 1), 0.2065, 1);
    assert_pair(interval_json(0, 0), 0, 1);
}

static void assert_format(long k, long n, const char *want)
{
    char buf[64];
    interval_format(buf, sizeof(buf), k, n);
    if (strcmp(buf, want) != 0)
        fail_msg("%ld/%ld: '%s', expected '%s'", k, n, buf, want);
}

static void test_format(void **state)
{
    (void)state;
    assert_format(0, 100, "< 3.7%");
    assert_format(50, 100, "50.0% (40.4-59.6)");
    assert_format(100, 100, "> 96.3%");
    assert_format(1, 1, "> 20.7%");
    assert_format(0, 1, "< 79.3%");
    assert_format(0, 0, "-");
    assert_format(6, 10, "60.0% (31.3-83.2)");
    assert_format(1, 78, "1.3% (0.2-6.9)");
    /* bounds under 0.1% keep two significant digits instead of reading "0.0%" */
    assert_format(0, 100000, "< 0.0038%");
    assert_format(1, 100000, "0.001% (0.00018-0.0057)");
}

static void test_fisher(void **state)
{
    (void)state;
    near(interval_fisher(3, 4, 1, 4), 0.4857143, 1e-6); /* the lady tasting tea */
    near(interval_fisher(10, 10, 0, 10), 1.0825088e-5, 1e-10);
    near(interval_fisher(0, 100, 4, 100), 0.1212407, 1e-6);
    near(interval_fisher(0, 100, 6, 100), 0.0289303, 1e-6);
    near(interval_fisher(94, 100, 100, 100), 0.0289303, 1e-6);
    near(interval_fisher(3, 10, 5, 10), 0.6499166, 1e-6);
    near(interval_fisher(0, 100, 0, 100), 1, 1e-9);
    near(interval_fisher(100, 100, 100, 100), 1, 1e-9);
    near(interval_fisher(1, 0, 0, 10), 1, 1e-9);
    /* symmetric in its arms */
    near(interval_fisher(4, 100, 0, 100), interval_fisher(0, 100, 4, 100), 1e-12);
}

static void test_moved(void **state)
{
    (void)state;
    assert_int_equal(interval_moved(0, 100, 3, 100), 0);  /* within OLD's interval */
    assert_int_equal(interval_moved(0, 100, 7, 100), 0);  /* outside it, intervals still overlap */
    assert_int_equal(interval_moved(0, 100, 8, 100), 1);  /* the least that is disjoint */
    assert_int_equal(interval_moved(0, 100, 20, 100), 1); /* beyond */
    assert_int_equal(interval_moved(42, 100, 20, 100), -1);
    assert_int_equal(interval_moved(42, 100, 50, 100), 0);
    assert_int_equal(interval_moved(100, 100, 0, 100), -1);
    assert_int_equal(interval_moved(0, 20, 20, 20), 1);
    assert_int_equal(interval_moved(0, 0, 20, 20), 0); /* nothing to compare with */
    assert_int_equal(interval_moved(0, 1, 1, 1), 0);   /* one trial tells nothing */
}

static char *note(const struct interval_arm *arms, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    interval_note(f, arms, n);
    fclose(f);
    return buf;
}

static void assert_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("'%s' not in:\n%s", want, text);
}

static void test_note(void **state)
{
    (void)state;
    struct interval_arm arms[] = {
        {"none", 100, 100}, {"a", 0, 100},  {"b", 0, 100},
        {"c", 4, 100},      {"d", 94, 100}, {"skipped", 0, 0},
    };
    char *t = note(arms, 6);
    assert_has(t, "cannot tell apart (Fisher's exact test, two-sided, p >= 0.05):\n");
    assert_has(t, "  a, b: 0/100 each\n");
    assert_has(t, "  a, b 0/100 vs c 4/100 (p = 0.12)\n");
    /* 94/100 against 100/100 differs (p = 0.029), and so does everything else */
    if (strstr(t, "none 100/100 vs") || strstr(t, "d 94/100") || strstr(t, "skipped"))
        fail_msg("a distinguishable pair or an empty arm listed:\n%s", t);
    free(t);

    struct interval_arm apart[] = {{"none", 100, 100}, {"fix", 0, 100}};
    t = note(apart, 2);
    assert_string_equal(
        t, "\nEvery pair of failure rates differs (Fisher's exact test, two-sided, p < 0.05).\n");
    free(t);

    struct interval_arm one[] = {{"none", 100, 100}, {"skipped", 0, 0}};
    t = note(one, 2);
    assert_string_equal(t, "");
    free(t);
}

/* metrics_build writes failure_rate_ci for the cell and for each gap of a sweep. */
static void test_metrics_ci(void **state)
{
    (void)state;
    static const char *ok200[] = {"200"};
    struct scenario s = {.name = "sw", .topo = SCENARIO_DIRECT};
    struct scenario_cell c = {
        .s = &s, .trials = 4, .success = ok200, .nsuccess = 1, .nprogs = 2, .sweep = true};
    json_t *records = json_array();
    double gaps[] = {10, 20, 10, 20};
    const char *oc[] = {"200", "reset", "200", "reset"};
    for (long t = 0; t < 4; t++)
        json_array_append_new(
            records, json_pack("{s:s,s:i,s:i,s:i,s:i,s:I,s:I,s:s,s:f}", "type", "request", "trial",
                               (int)t, "conn", 0, "req", 0, "lport", 40000 + (int)t, "start_us",
                               (json_int_t)(1000 * t), "end_us", (json_int_t)(1000 * t + 10),
                               "outcome", oc[t], "gap_ms", gaps[t]));
    struct metrics_input in = {.cell = &c, .records = records};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);
    struct interval half = interval_wilson(2, 4);
    assert_pair(json_incref(json_object_get(m, "failure_rate_ci")), round(half.lo * 1e4) / 1e4,
                round(half.hi * 1e4) / 1e4);
    json_t *sw = json_object_get(m, "sweep");
    assert_int_equal(json_array_size(sw), 2);
    assert_pair(json_incref(json_object_get(json_array_get(sw, 0), "failure_rate_ci")), 0, 0.6576);
    assert_pair(json_incref(json_object_get(json_array_get(sw, 1), "failure_rate_ci")), 0.3424, 1);
    json_decref(m);
    json_decref(records);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wilson_known), cmocka_unit_test(test_json),
        cmocka_unit_test(test_format),       cmocka_unit_test(test_fisher),
        cmocka_unit_test(test_moved),        cmocka_unit_test(test_note),
        cmocka_unit_test(test_metrics_ci),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
