/* The downstream-side races through racelab-proxy: how the proxy closes a client connection,
 * each flipped both ways on every trial.
 *
 * - premature-close (envoy#2929, PR #4382): an early 413 (--max-request-bytes) while the client
 *   still uploads. A plain close with the body unread sends RST and a client that gives up on
 *   its write error never reads the 413. Envoy's delayed close (no shutdown, no read) saves a
 *   client whose upload stops before the timer, not one whose upload outlasts it (the timer's
 *   close still sends RST). nginx's lingering close reads the upload away: the 413 arrives and
 *   the client sees no reset at all.
 * - delay-close-cost (envoy#19821, PR #19863): HTTP/1.0 responses framed by the close wait for
 *   the whole timer with skip-delay-close off, not at all with it on.
 * - downstream-reuse-closing (envoy#13388): the proxy closes an idle client connection; the
 *   client reuses it after the proxy's idle timeout and fails, unless its own idle timeout is
 *   shorter.
 * RSTs per hop are counted from a capture by the harness; here the client's outcomes say it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pxt.h"

#define NTRIALS 6

struct run {
    json_t *recs, *acc, *stats;
};

static void run_free(struct run *r)
{
    json_decref(r->recs);
    json_decref(r->acc);
    json_decref(r->stats);
}

#define MAXA 16

static void collect(const char **out, va_list ap)
{
    int n = 0;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < MAXA - 1)
        out[n++] = a;
    while (n < MAXA)
        out[n++] = NULL;
}

/* The client's flags (NULL-terminated), then the proxy's (NULL-terminated). */
static void early_413(struct tsup_ctx *c, const char *tag, struct run *r, ...)
{
    const char *dn[MAXA], *px[MAXA];
    va_list ap;
    va_start(ap, r);
    collect(dn, ap);
    collect(px, ap);
    va_end(ap);
    struct up u;
    struct pxp p;
    up_start(&u, c->dir, tag, NULL);
    pxp_start(&p, c->dir, tag, u.port, "--max-request-bytes", "1k", px[0], px[1], px[2], px[3],
              px[4], NULL);
    r->recs = dn_run(c->dir, p.port, "--trials", "6", "--method", "POST", dn[0], dn[1], dn[2],
                     dn[3], dn[4], dn[5], dn[6], dn[7], NULL);
    pxp_stop(&p);
    r->acc = pxp_access(&p);
    r->stats = pxp_stats(&p);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
    pxp_free(&p);
    assert_int_equal(json_array_size(r->recs), NTRIALS);
    /* the proxy answered 413 early every time, without the upstream */
    assert_int_equal(acc_count_status(r->acc, 413), NTRIALS);
    assert_int_equal(pxp_stat(r->stats, "early_responses"), NTRIALS);
    assert_int_equal(pxp_stat(r->stats, "upstream_rq_total"), 0);
}

static void test_early_413_plain_close_resets(void **state)
{
    struct run r;
    early_413(*state, "plain", &r, "--body-size", "16m", NULL, "--delayed-close-timeout", "0",
              NULL);
    assert_int_equal(rec_count_str(r.recs, "outcome", "reset"), NTRIALS);
    assert_int_equal(rec_count_str(r.recs, "phase", "write"), NTRIALS);
    assert_int_equal(pxp_stat(r.stats, "delayed_closes"), 0);
    run_free(&r);
}

static void test_early_413_delayed_close(void **state)
{
    struct run r;
    /* an upload that ends before the timer: the client reads the 413, then its FIN ends the
     * delayed close */
    early_413(*state, "delay-paced", &r, "--body-size", "64k", "--upload-chunk", "16k",
              "--upload-pace", "20", NULL, "--delayed-close-timeout", "2000", NULL);
    if (rec_count_str(r.recs, "outcome", "413") != NTRIALS)
        rec_dump(r.recs, "records");
    assert_int_equal(rec_count_str(r.recs, "outcome", "413"), NTRIALS);
    assert_int_equal(pxp_stat(r.stats, "delayed_closes"), NTRIALS);
    assert_int_equal(pxp_stat(r.stats, "delayed_close_timeouts"), 0);
    run_free(&r);

    /* the same without delayed close: the close RSTs the paced upload */
    early_413(*state, "plain-paced", &r, "--body-size", "64k", "--upload-chunk", "16k",
              "--upload-pace", "20", NULL, "--delayed-close-timeout", "0", NULL);
    assert_int_equal(rec_count_str(r.recs, "outcome", "413"), 0);
    assert_int_equal(rec_count_str(r.recs, "outcome", "reset"), NTRIALS);
    run_free(&r);

    /* an upload larger than the socket buffers outlasts the timer: the timer's close() still
     * sends RST with the body unread, and the client that gives up never reads the 413 */
    early_413(*state, "delay-big", &r, "--body-size", "16m", NULL, "--delayed-close-timeout", "200",
              NULL);
    assert_int_equal(rec_count_str(r.recs, "outcome", "reset"), NTRIALS);
    assert_int_equal(pxp_stat(r.stats, "delayed_close_timeouts"), NTRIALS);
    run_free(&r);
}

static void test_early_413_lingering_close(void **state)
{
    struct run r;
    early_413(*state, "linger", &r, "--body-size", "16m", NULL, "--lingering-close", NULL);
    if (rec_count_str(r.recs, "outcome", "413") != NTRIALS)
        rec_dump(r.recs, "records");
    assert_int_equal(rec_count_str(r.recs, "outcome", "413"), NTRIALS);
    assert_int_equal(rec_count_str(r.recs, "outcome", "reset"), 0);
    /* the whole upload went out: nothing was refused */
    size_t i;
    json_t *o;
    json_array_foreach(r.recs, i, o)
    {
        assert_int_equal(rec_int(o, "body_sent"), 16 << 20);
        assert_null(json_object_get(o, "write_errno"));
    }
    assert_int_equal(pxp_stat(r.stats, "lingering_closes"), NTRIALS);
    assert_int_equal(pxp_stat(r.stats, "lingering_close_timeouts"), 0);
    assert_int_equal(pxp_stat(r.stats, "delayed_closes"), 0);
    run_free(&r);
}

/* HTTP/1.0 client, HTTP/1.0 upstream framing its body by the close. */
static void http10(struct tsup_ctx *c, const char *tag, struct run *r, const char *flag)
{
    struct up u;
    struct pxp p;
    up_start(&u, c->dir, tag, "--http10", "--framing", "close", "--body-size", "1k", NULL);
    pxp_start(&p, c->dir, tag, u.port, "--delayed-close-timeout", "1000", flag, NULL);
    r->recs = dn_run(c->dir, p.port, "--trials", "6", "--parallel", "6", "--http10", NULL);
    pxp_stop(&p);
    r->acc = pxp_access(&p);
    r->stats = pxp_stats(&p);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
    pxp_free(&p);
    assert_int_equal(rec_count_str(r->recs, "outcome", "200"), NTRIALS);
    size_t i;
    json_t *o;
    json_array_foreach(r->recs, i, o) assert_int_equal(rec_int(o, "received") > 1024, 1);
}

static void test_http10_delay_close_cost(void **state)
{
    struct run r;
    size_t i;
    json_t *o;
    /* Envoy before 1.22: the close that ends the body waits for the timer */
    http10(*state, "noskip", &r, "--no-skip-delay-close");
    json_array_foreach(r.recs, i, o)
    {
        long long took = rec_int(o, "end_us") - rec_int(o, "start_us");
        if (took < 1000 * 1000)
            fail_msg("request %zu took %lld us, less than the 1000 ms timer", i, took);
    }
    assert_int_equal(pxp_stat(r.stats, "delayed_closes"), NTRIALS);
    assert_int_equal(pxp_stat(r.stats, "delayed_close_timeouts"), NTRIALS);
    run_free(&r);

    /* skip-delay-close (the default): the FIN follows the response */
    http10(*state, "skip", &r, NULL);
    json_array_foreach(r.recs, i, o)
    {
        long long took = rec_int(o, "end_us") - rec_int(o, "start_us");
        if (took >= 1000 * 1000)
            fail_msg("request %zu took %lld us: it waited for the timer", i, took);
    }
    assert_int_equal(pxp_stat(r.stats, "delayed_closes"), 0);
    run_free(&r);
}

/* envoy#13388: the proxy's idle close races the client's reuse. */
static void test_downstream_reuse_closing(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "ds-up", NULL);
    for (int careful = 0; careful < 2; careful++) {
        struct pxp p;
        const char *tag = careful ? "ds-careful" : "ds-naive";
        pxp_start(&p, c->dir, tag, u.port, "--downstream-idle-timeout", "300", "--drain-timeout",
                  "0", "--delayed-close-timeout", "200", NULL);
        json_t *recs;
        if (careful)
            recs = dn_run(c->dir, p.port, "--trials", "4", "--parallel", "4", "--requests", "2",
                          "--gap", "600", "--idle-timeout", "50", NULL);
        else
            recs = dn_run(c->dir, p.port, "--trials", "4", "--parallel", "4", "--requests", "2",
                          "--gap", "600", NULL);
        pxp_stop(&p);
        json_t *st = pxp_stats(&p);
        json_t *second = rec_filter_int(recs, "req", 1);
        assert_int_equal(json_array_size(second), 4);
        if (careful) {
            /* the client's own idle timeout is shorter: it never reuses a closing connection */
            assert_int_equal(rec_count_str(recs, "outcome", "200"), 8);
            assert_int_equal(pxp_stat(st, "downstream_cx_idle_timeout"), 0);
        } else {
            assert_int_equal(rec_count_str(second, "outcome", "200"), 0);
            assert_int_equal(rec_count_str(second, "outcome", "reset") +
                                 rec_count_str(second, "outcome", "empty"),
                             4);
            assert_int_equal(pxp_stat(st, "downstream_cx_idle_timeout"), 4);
        }
        json_decref(second);
        json_decref(st);
        json_decref(recs);
        pxp_free(&p);
    }
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
}

/* --max-requests-per-connection: the Nth response says "Connection: close" and the client
 * opens a new connection for the next request, without a failure. */
static void test_max_requests_per_connection(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    struct pxp p;
    up_start(&u, c->dir, "mr-up", NULL);
    pxp_start(&p, c->dir, "mr", u.port, "--max-requests-per-connection", "2", NULL);
    json_t *recs = dn_run(c->dir, p.port, "--trials", "3", "--requests", "3", NULL);
    pxp_stop(&p);
    assert_int_equal(rec_count_str(recs, "outcome", "200"), 9);
    /* the third request of each client went on a new connection */
    json_t *third = rec_filter_int(recs, "req", 2);
    assert_int_equal(rec_count_int(third, "reused", 0), 3);
    json_t *st = pxp_stats(&p);
    assert_int_equal(pxp_stat(st, "downstream_cx_max_requests_reached"), 3);
    assert_int_equal(pxp_stat(st, "downstream_cx_total"), 6);
    json_decref(st);
    json_decref(third);
    json_decref(recs);
    pxp_free(&p);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_early_413_plain_close_resets),
        cmocka_unit_test(test_early_413_delayed_close),
        cmocka_unit_test(test_early_413_lingering_close),
        cmocka_unit_test(test_http10_delay_close_cost),
        cmocka_unit_test(test_downstream_reuse_closing),
        cmocka_unit_test(test_max_requests_per_connection),
    };
    return cmocka_run_group_tests(tests, tsup_ctx_setup, tsup_ctx_teardown);
}
