/* The soak modes of the peers: --records-keep failures[:N] (racelab-downstream) writes every
 * failing request's record, one good one in N and the counters; --log-keep failures[:N]
 * (racelab-upstream) writes the abnormal closes, one request in N and the counters at exit;
 * --close-random N --seed S closes the same responses for the same seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"

static int setup(void **state)
{
    *state = tsup_tmpdir("keep");
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    tsup_rmtree(*state);
    free(*state);
    return 0;
}

static size_t count_type(json_t *a, const char *type)
{
    return rec_count_str(a, "type", type);
}

static json_t *final_counters(json_t *a)
{
    json_t *last = NULL, *o;
    size_t i;
    json_array_foreach(a, i, o)
    {
        const char *t = rec_str(o, "type");
        if (t && strcmp(t, "counters") == 0 && json_is_true(json_object_get(o, "final")))
            last = o;
    }
    return last;
}

/* Every second request reuses a connection the upstream closed (its FIN in the response's
 * segment): 20 failures, 20 good requests, of which 1 in 5 is written (the 1st, 6th, ...). */
static void test_records_keep_failures_and_sample(void **state)
{
    const char *dir = *state;
    struct up u;
    up_start(&u, dir, "up", "--close-after", "1", "--close-how", "fin-with-data", NULL);
    json_t *a = dn_run(dir, u.port, "--trials", "20", "--requests", "2", "--gap", "5",
                       "--records-keep", "failures:5", NULL);
    size_t failing = 0, good = 0, i;
    json_t *o;
    json_array_foreach(a, i, o)
    {
        const char *t = rec_str(o, "type"), *out = rec_str(o, "outcome");
        if (!t || strcmp(t, "request") != 0)
            continue;
        if (strcmp(out, "200") == 0)
            good++;
        else
            failing++;
    }
    if (failing != 20 || good != 4)
        rec_dump(a, "records");
    assert_int_equal(failing, 20);
    assert_int_equal(good, 4);
    json_t *fin = final_counters(a);
    assert_non_null(fin);
    assert_int_equal(rec_int(fin, "requests"), 40);
    assert_int_equal(rec_int(fin, "failures"), 20);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(fin, "outcomes"), "200")),
                     20);
    assert_true(json_array_size(json_object_get(fin, "latency_log2_us")) > 0);
    json_decref(a);

    /* failures:0:3: the first 3 failing records only, no good one; the counters count all */
    a = dn_run(dir, u.port, "--trials", "20", "--requests", "2", "--gap", "5", "--records-keep",
               "failures:0:3", NULL);
    assert_int_equal(count_type(a, "request"), 3);
    assert_int_equal(rec_count_str(a, "outcome", "200"), 0);
    fin = final_counters(a);
    assert_non_null(fin);
    assert_int_equal(rec_int(fin, "failures"), 20);
    json_decref(a);

    /* all: every record, and the counters */
    a = dn_run(dir, u.port, "--trials", "20", "--requests", "2", "--gap", "5", "--records-keep",
               "all", NULL);
    assert_int_equal(count_type(a, "request"), 40);
    assert_non_null(final_counters(a));
    json_decref(a);

    /* without the flag every request has its record and no counters line is written */
    a = dn_run(dir, u.port, "--trials", "20", "--requests", "2", "--gap", "5", NULL);
    assert_int_equal(count_type(a, "request"), 40);
    assert_int_equal(count_type(a, "counters"), 0);
    json_decref(a);
    up_stop(&u);
    up_free(&u);
}

/* One connection of 300 requests; the client checks before each reuse and the FIN travels
 * with the response, so a random close never fails a request and the draws depend only on the
 * seed. Returns the upstream's log. */
static json_t *random_run(const char *dir, const char *tag, const char *seed, const char *keep)
{
    struct up u;
    up_start(&u, dir, tag, "--close-random", "10", "--seed", seed, "--close-how", "fin-with-data",
             "--log-keep", keep, NULL);
    json_t *a = dn_run(dir, u.port, "--requests", "300", "--check-before-reuse", NULL);
    assert_int_equal(rec_count_str(a, "outcome", "200"), 300);
    json_decref(a);
    assert_int_equal(tsup_stop(&u.proc), 0);
    json_t *log = up_log(&u);
    up_free(&u);
    return log;
}

static void test_close_random_seeded_and_log_keep(void **state)
{
    const char *dir = *state;
    json_t *a = random_run(dir, "r1", "42", "failures");
    json_t *b = random_run(dir, "r2", "42", "failures");
    json_t *c = random_run(dir, "r3", "43", "failures:50");
    json_t *ex = rec_event(a, "exit", -1), *exb = rec_event(b, "exit", -1);
    assert_non_null(ex);
    long long closes = rec_int(ex, "random_closes");
    /* about 30 of 300; far from 0 and from 300 */
    assert_true(closes >= 10 && closes <= 60);
    assert_int_equal(rec_int(ex, "requests"), 300);
    assert_int_equal(rec_int(ex, "responses"), 300);
    /* the same seed closes after the same responses */
    assert_int_equal(rec_int(exb, "random_closes"), closes);
    json_t *ca = rec_filter_int(a, "unread", 0), *cb = rec_filter_int(b, "unread", 0);
    assert_int_equal(json_array_size(ca), json_array_size(cb));
    for (size_t i = 0; i < json_array_size(ca); i++)
        assert_int_equal(rec_int(json_array_get(ca, i), "responses"),
                         rec_int(json_array_get(cb, i), "responses"));
    /* failures only: each random close (with the response before it), nothing else */
    assert_int_equal(rec_count_str(a, "why", "random"), (size_t)closes);
    assert_int_equal(rec_count_str(a, "event", "request"), 0);
    assert_int_equal(rec_count_str(a, "event", "accept"), 0);
    assert_int_equal(rec_count_str(a, "event", "response"), (size_t)closes);
    /* another seed, another sequence; failures:50 adds one request in 50 (6 of 300) */
    assert_int_equal(rec_count_str(c, "event", "request"), 6);
    json_decref(ca);
    json_decref(cb);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* --rate 100 with 21 trials that could all start at once: their starts spread over at least
 * 20 intervals of 10 ms (a lower bound only) */
static void test_rate_paces_trials(void **state)
{
    const char *dir = *state;
    struct up u;
    up_start(&u, dir, "rate", NULL);
    json_t *a = dn_run(dir, u.port, "--trials", "21", "--parallel", "21", "--rate", "100", NULL);
    assert_int_equal(json_array_size(a), 21);
    uint64_t lo = UINT64_MAX, hi = 0;
    size_t i;
    json_t *o;
    json_array_foreach(a, i, o)
    {
        uint64_t s = (uint64_t)rec_int(o, "start_us");
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
    }
    assert_true(hi - lo >= 190000);
    json_decref(a);
    up_stop(&u);
    up_free(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_records_keep_failures_and_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_random_seeded_and_log_keep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_paces_trials, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
