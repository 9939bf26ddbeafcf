/* The seed's two races reproduced with no proxy at all, peer against peer on loopback, on
 * every trial — and the careful behaviour that avoids each, on every trial.
 *
 * (1) envoy#6815: the server closes after a response without announcing it; a client that
 *     reuses the connection without looking for the FIN loses the request (reset or empty).
 * (2) envoy#2929: the server answers 413 before reading the body and closes with the body
 *     unread; the client still uploading gets an RST, and one that gives up on the write error
 *     never reads the 413. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"

#define TRIALS  "20"
#define NTRIALS 20

/* Every first request succeeds; returns how many reuse requests failed with reset or empty. */
static size_t reuse_failures(json_t *recs, size_t *ok_reused)
{
    json_t *first = rec_filter_int(recs, "req", 0);
    json_t *second = rec_filter_int(recs, "req", 1);
    if (rec_count_str(first, "outcome", "200") != NTRIALS)
        rec_dump(recs, "records");
    assert_int_equal(rec_count_str(first, "outcome", "200"), NTRIALS);
    assert_int_equal(json_array_size(second), NTRIALS);
    size_t failed =
        rec_count_str(second, "outcome", "reset") + rec_count_str(second, "outcome", "empty");
    *ok_reused = 0;
    size_t i;
    json_t *o;
    json_array_foreach(second, i, o)
    {
        if (strcmp(rec_str(o, "outcome"), "200") == 0 && rec_int(o, "reused") == 1)
            (*ok_reused)++;
    }
    json_decref(first);
    json_decref(second);
    return failed;
}

static void reuse_case(const char *dir, const char *how, const char *gap)
{
    struct up u;
    size_t ok_reused;

    /* the naive client: every reuse fails */
    up_start(&u, dir, "naive", "--close-after", "1", "--close-how", how, NULL);
    json_t *r = dn_run(dir, u.port, "--trials", TRIALS, "--requests", "2", "--gap", gap, NULL);
    size_t failed = reuse_failures(r, &ok_reused);
    if (failed != NTRIALS)
        rec_dump(r, how);
    assert_int_equal(failed, NTRIALS);
    assert_int_equal(rec_count_int(r, "reused", 1), NTRIALS);
    json_decref(r);

    /* the careful client looks before reusing: never fails, always on a new connection */
    r = dn_run(dir, u.port, "--trials", TRIALS, "--requests", "2", "--gap", gap,
               "--check-before-reuse", NULL);
    assert_int_equal(reuse_failures(r, &ok_reused), 0);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 2 * NTRIALS);
    assert_int_equal(rec_count_int(r, "reused", 1), 0);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "why", "after-n"), 3 * NTRIALS);
    json_decref(log);
    up_free(&u);

    /* the server that announces its close: the client opens a new connection, never fails */
    up_start(&u, dir, "announce", "--close-after", "1", "--close-how", how, "--announce-close",
             NULL);
    r = dn_run(dir, u.port, "--trials", TRIALS, "--requests", "2", "--gap", gap, NULL);
    assert_int_equal(reuse_failures(r, &ok_reused), 0);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 2 * NTRIALS);
    assert_int_equal(rec_count_int(r, "reused", 1), 0);
    assert_int_equal(rec_distinct(r, "lport"), 2 * NTRIALS);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
}

/* The FIN leaves with the response's last bytes: no timing involved at all, even a gap of 0. */
static void test_reuse_after_unannounced_close_fin_with_data(void **state)
{
    struct tsup_ctx *c = *state;
    reuse_case(c->dir, "fin-with-data", "0");
}

/* A plain close, and a gap far longer than the FIN needs to arrive. */
static void test_reuse_after_unannounced_close_fin(void **state)
{
    struct tsup_ctx *c = *state;
    reuse_case(c->dir, "fin", "150");
}

static void test_keep_alive_server_never_fails(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    size_t ok_reused;
    up_start(&u, c->dir, "ka", NULL);
    json_t *r = dn_run(c->dir, u.port, "--trials", TRIALS, "--requests", "2", "--gap", "0", NULL);
    assert_int_equal(reuse_failures(r, &ok_reused), 0);
    assert_int_equal(ok_reused, NTRIALS);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
}

#define BIG       "16m" /* far more than the loopback socket buffers can hold (≈ 4 MiB measured) */
#define BIG_BYTES (16L << 20)
#define UPLOADS   "8"
#define NUPLOADS  8

static void test_early_413_give_up_client_never_sees_it(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "early", "--answer-early", "--status", "413", NULL);

    json_t *r =
        dn_run(c->dir, u.port, "--trials", UPLOADS, "--method", "POST", "--body-size", BIG, NULL);
    if (rec_count_str(r, "outcome", "reset") != NUPLOADS)
        rec_dump(r, "give-up");
    assert_int_equal(rec_count_str(r, "outcome", "reset"), NUPLOADS);
    assert_int_equal(rec_count_str(r, "phase", "write"), NUPLOADS);
    assert_int_equal(rec_count_int(r, "received", 0), NUPLOADS);
    size_t i;
    json_t *o;
    json_array_foreach(r, i, o)
    {
        assert_true(rec_int(o, "body_sent") < BIG_BYTES);
    }
    json_decref(r);

    /* Measured on Linux 6.x loopback: the 413 stays readable after the RST, so a client that
     * reads after its write error sees it on every trial (docs/behaviour.md, Linux TCP). */
    r = dn_run(c->dir, u.port, "--trials", UPLOADS, "--method", "POST", "--body-size", BIG,
               "--on-write-error", "read", NULL);
    if (rec_count_str(r, "outcome", "413") != NUPLOADS)
        rec_dump(r, "on-write-error read");
    assert_int_equal(rec_count_str(r, "outcome", "413"), NUPLOADS);
    /* the write did fail: it is the read after it that saves the response */
    assert_int_equal(rec_count_str(r, "write_errno", NULL), NUPLOADS);
    json_decref(r);

    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "why", "early-response"), 2 * NUPLOADS);
    json_decref(log);
    up_free(&u);
}

static void test_early_413_drained_always_seen(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "drain", "--answer-early", "--drain-body", "--status", "413", NULL);
    json_t *r =
        dn_run(c->dir, u.port, "--trials", UPLOADS, "--method", "POST", "--body-size", BIG, NULL);
    if (rec_count_str(r, "outcome", "413") != NUPLOADS)
        rec_dump(r, "drain");
    assert_int_equal(rec_count_str(r, "outcome", "413"), NUPLOADS);
    assert_int_equal(rec_count_int(r, "body_sent", BIG_BYTES), NUPLOADS);
    assert_int_equal(rec_count_str(r, "write_errno", NULL), 0);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_int(log, "discarded", BIG_BYTES), NUPLOADS);
    assert_int_equal(rec_count_int(log, "unread", 0), NUPLOADS);
    json_decref(log);
    up_free(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reuse_after_unannounced_close_fin_with_data,
                                        tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_reuse_after_unannounced_close_fin, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive_server_never_fails, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_early_413_give_up_client_never_sees_it, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_early_413_drained_always_seen, tsup_ctx_setup,
                                        tsup_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
