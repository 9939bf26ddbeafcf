/* The upstream-side races through racelab-proxy, each flipped both ways on every trial:
 *
 * - pending-attach (envoy#2715): the upstream closes after each response without announcing it
 *   and the FIN leaves in the response's segment; with one upstream connection, the second
 *   client's request waits in the pending queue. --attach-pending immediate writes it onto the
 *   dying connection before the FIN is processed: 503 UC on every trial. deferred (Envoy since
 *   PR #2871), a re-use delay, a liveness check (peek, tcp-info) or retry-on reset: none.
 * - idle-timeout-mismatch: the upstream closes connections idle 1 s and stops reading 100 ms
 *   after a response, so a request reusing the connection in between is never read and dies with
 *   the RST of the idle close; --upstream-idle-timeout below the server's removes it.
 * - an announced close ("Connection: close") and a FIN the loop had time to see are honoured
 *   even by the naive proxy.
 * The FIN-in-flight variants (deferred still fails, retry-on reset fixes it, reset-before-request
 * does not) need a packet held on the wire: they run in the harness with its wire faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pxt.h"

#define TRIALS  "8"
#define NTRIALS 8

struct outcome {
    json_t *recs;  /* downstream records */
    json_t *acc;   /* proxy access log */
    json_t *stats; /* proxy stats */
};

static void outcome_free(struct outcome *o)
{
    json_decref(o->recs);
    json_decref(o->acc);
    json_decref(o->stats);
}

/* The proxy's settings of a pending-attach run; a NULL field leaves the proxy's default. */
struct pending_opts {
    const char *attach_pending;     /* --attach-pending */
    const char *reuse_check;        /* --reuse-check */
    const char *retry_on;           /* --retry-on */
    const char *num_retries;        /* --num-retries */
    const char *retry_backoff_base; /* --retry-backoff-base */
    bool no_mitigations;            /* --no-mitigations */
};

/* pending-attach: two clients at once, one upstream connection, the upstream answering after
 * 100 ms (so the second request is queued before the first response) and closing with the FIN
 * in the response's segment. */
static void pending_attach(struct tsup_ctx *c, const char *tag, struct outcome *o,
                           struct pending_opts opt)
{
    struct up u;
    struct pxp p;
    const struct {
        const char *flag, *val;
    } valued[] = {
        {"--attach-pending", opt.attach_pending},
        {"--reuse-check", opt.reuse_check},
        {"--retry-on", opt.retry_on},
        {"--num-retries", opt.num_retries},
        {"--retry-backoff-base", opt.retry_backoff_base},
    };
    const char *args[2 * sizeof(valued) / sizeof(valued[0]) + 4];
    size_t n = 0;
    args[n++] = "--upstream-max-connections";
    args[n++] = "1";
    for (size_t i = 0; i < sizeof(valued) / sizeof(valued[0]); i++) {
        if (!valued[i].val)
            continue;
        args[n++] = valued[i].flag;
        args[n++] = valued[i].val;
    }
    if (opt.no_mitigations)
        args[n++] = "--no-mitigations";
    args[n] = NULL;

    up_start(&u, c->dir, tag, "--close-after", "1", "--close-how", "fin-with-data",
             "--delay-response", "100", NULL);
    pxp_startv(&p, c->dir, tag, u.port, args);
    o->recs = dn_run(c->dir, p.port, "--trials", TRIALS, "--conns", "2", NULL);
    pxp_stop(&p);
    o->acc = pxp_access(&p);
    o->stats = pxp_stats(&p);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
    pxp_free(&p);
    assert_int_equal(json_array_size(o->recs), 2 * NTRIALS);
    assert_int_equal(json_array_size(o->acc), 2 * NTRIALS);
}

static void test_pending_attach_immediate_fails(void **state)
{
    struct outcome o;
    pending_attach(*state, "immediate", &o, (struct pending_opts){.attach_pending = "immediate"});
    if (rec_count_str(o.recs, "outcome", "503") != NTRIALS)
        rec_dump(o.acc, "access log");
    assert_int_equal(rec_count_str(o.recs, "outcome", "200"), NTRIALS);
    assert_int_equal(rec_count_str(o.recs, "outcome", "503"), NTRIALS);
    assert_int_equal(acc_count_flag(o.acc, "UC"), NTRIALS);
    assert_int_equal(acc_count_flag(o.acc, "URX"), 0);
    /* each failed request went out on a reused connection */
    size_t i;
    json_t *r;
    json_array_foreach(o.acc, i, r)
    {
        if (rec_int(r, "status") != 503)
            continue;
        json_t *reused = json_object_get(r, "upstream_reused");
        assert_int_equal(json_array_size(reused), 1);
        assert_true(json_is_true(json_array_get(reused, 0)));
        assert_int_equal(rec_int(r, "attempts"), 1);
    }
    assert_int_equal(pxp_stat(o.stats, "upstream_cx_destroy_remote_with_active_rq"), NTRIALS);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(o.stats, "rq_503_by_reason"), "connection_termination")),
                     NTRIALS);
    outcome_free(&o);
}

static void test_pending_attach_no_mitigations_fails(void **state)
{
    struct outcome o;
    pending_attach(*state, "naive", &o, (struct pending_opts){.no_mitigations = true});
    assert_int_equal(rec_count_str(o.recs, "outcome", "503"), NTRIALS);
    assert_int_equal(acc_count_flag(o.acc, "UC"), NTRIALS);
    outcome_free(&o);
}

/* Every request 200, none flagged UC; destroyed: connections that died under a request (the
 * first attempts a retry saved). */
static void assert_all_200(struct outcome *o, long long destroyed)
{
    if (rec_count_str(o->recs, "outcome", "200") != 2 * NTRIALS)
        rec_dump(o->acc, "access log");
    assert_int_equal(rec_count_str(o->recs, "outcome", "200"), 2 * NTRIALS);
    assert_int_equal(acc_count_flag(o->acc, "UC"), 0);
    assert_int_equal(pxp_stat(o->stats, "upstream_cx_destroy_remote_with_active_rq"), destroyed);
}

static void test_pending_attach_deferred_holds(void **state)
{
    struct outcome o;
    pending_attach(*state, "deferred", &o, (struct pending_opts){.attach_pending = "deferred"});
    assert_all_200(&o, 0);
    /* no connection carried two requests */
    assert_int_equal(pxp_stat(o.stats, "upstream_cx_total"), 2 * NTRIALS);
    outcome_free(&o);
    /* and it is the default */
    pending_attach(*state, "default", &o, (struct pending_opts){0});
    assert_all_200(&o, 0);
    outcome_free(&o);
}

static void test_pending_attach_delay_holds(void **state)
{
    struct outcome o;
    pending_attach(*state, "delay", &o, (struct pending_opts){.attach_pending = "delay:5"});
    assert_all_200(&o, 0);
    outcome_free(&o);
}

static void test_pending_attach_reuse_check_holds(void **state)
{
    static const char *const checks[] = {"peek", "tcp-info"};
    for (size_t k = 0; k < 2; k++) {
        struct outcome o;
        pending_attach(
            *state, checks[k], &o,
            (struct pending_opts){.attach_pending = "immediate", .reuse_check = checks[k]});
        assert_all_200(&o, 0);
        /* the check is what saved each trial */
        assert_int_equal(pxp_stat(o.stats, "reuse_check_rejected"), NTRIALS);
        assert_int_equal(rec_count_int(o.acc, "attempts", 1), 2 * NTRIALS);
        outcome_free(&o);
    }
}

static void test_pending_attach_retry_on_reset(void **state)
{
    struct outcome o;
    pending_attach(*state, "retry", &o,
                   (struct pending_opts){.attach_pending = "immediate",
                                         .retry_on = "reset",
                                         .retry_backoff_base = "10"});
    assert_all_200(&o, NTRIALS);
    assert_int_equal(rec_count_int(o.acc, "attempts", 2), NTRIALS);
    assert_int_equal(acc_count_flag(o.acc, "URX"), 0);
    assert_int_equal(pxp_stat(o.stats, "upstream_rq_retry"), NTRIALS);
    size_t i;
    json_t *r;
    json_array_foreach(o.acc, i, r)
    {
        if (rec_int(r, "attempts") != 2)
            continue;
        /* the first attempt on the reused connection, the retry on a new one */
        json_t *ports = json_object_get(r, "upstream_ports");
        json_t *reused = json_object_get(r, "upstream_reused");
        assert_int_equal(json_array_size(ports), 2);
        assert_true(json_is_true(json_array_get(reused, 0)));
        assert_true(json_is_false(json_array_get(reused, 1)));
    }
    outcome_free(&o);

    /* retries used up: 503 with URX */
    pending_attach(*state, "retry0", &o,
                   (struct pending_opts){
                       .attach_pending = "immediate", .retry_on = "reset", .num_retries = "0"});
    assert_int_equal(rec_count_str(o.recs, "outcome", "503"), NTRIALS);
    assert_int_equal(acc_count_flag(o.acc, "URX"), NTRIALS);
    assert_int_equal(acc_count_flag(o.acc, "UC"), NTRIALS);
    assert_int_equal(pxp_stat(o.stats, "upstream_rq_retry_limit_exceeded"), NTRIALS);
    outcome_free(&o);

    /* reset-before-request does not cover a request already written to the connection */
    pending_attach(
        *state, "rbr", &o,
        (struct pending_opts){.attach_pending = "immediate", .retry_on = "reset-before-request"});
    assert_int_equal(rec_count_str(o.recs, "outcome", "503"), NTRIALS);
    assert_int_equal(acc_count_flag(o.acc, "UC"), NTRIALS);
    assert_int_equal(acc_count_flag(o.acc, "URX"), 0);
    assert_int_equal(pxp_stat(o.stats, "upstream_rq_retry"), 0);
    outcome_free(&o);
}

/* idle-timeout-mismatch: server keep-alive 1 s, unread from 100 ms; the client's second request
 * comes 500 ms after the first response. */
static void idle_mismatch(struct tsup_ctx *c, const char *tag, struct outcome *o, const char *flag,
                          const char *val)
{
    struct up u;
    struct pxp p;
    up_start(&u, c->dir, tag, "--idle-timeout", "1000", "--idle-unread", "900", NULL);
    pxp_start(&p, c->dir, tag, u.port, flag, val, NULL);
    o->recs = dn_run(c->dir, p.port, "--trials", "4", "--requests", "2", "--gap", "500", NULL);
    pxp_stop(&p);
    o->acc = pxp_access(&p);
    o->stats = pxp_stats(&p);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
    pxp_free(&p);
}

static void test_idle_timeout_mismatch(void **state)
{
    struct outcome o;
    /* Envoy's default upstream idle timeout (1 h): the reused connection dies under the request */
    idle_mismatch(*state, "idle-default", &o, NULL, NULL);
    json_t *second = rec_filter_int(o.recs, "req", 1);
    assert_int_equal(rec_count_str(o.recs, "outcome", "200"), 4);
    assert_int_equal(rec_count_str(second, "outcome", "503"), 4);
    assert_int_equal(acc_count_flag(o.acc, "UC"), 4);
    assert_int_equal(pxp_stat(o.stats, "upstream_cx_destroy_remote_with_active_rq"), 4);
    json_decref(second);
    outcome_free(&o);

    /* below the server's: the proxy drops the connection first and opens a new one */
    idle_mismatch(*state, "idle-short", &o, "--upstream-idle-timeout", "200");
    assert_int_equal(rec_count_str(o.recs, "outcome", "200"), 8);
    assert_int_equal(acc_count_flag(o.acc, "UC"), 0);
    assert_true(pxp_stat(o.stats, "upstream_cx_idle_timeout") >= 4);
    outcome_free(&o);
}

/* The races the event loop already wins, even in the naive proxy: an announced close, and a FIN
 * that arrived with the response (the same read sees it, so the connection is gone before the
 * client's next request, even at gap 0). */
static void test_noticed_close_is_honoured(void **state)
{
    struct tsup_ctx *c = *state;
    static const char *const how[2][4] = {
        {"--close-after", "1", "--announce-close", NULL},
        {"--close-after", "1", "--close-how", "fin-with-data"},
    };
    for (int k = 0; k < 2; k++) {
        struct up u;
        struct pxp p;
        up_start(&u, c->dir, k ? "fin" : "announce", how[k][0], how[k][1], how[k][2], how[k][3],
                 NULL);
        pxp_start(&p, c->dir, k ? "fin" : "announce", u.port, "--no-mitigations", NULL);
        json_t *recs =
            dn_run(c->dir, p.port, "--trials", TRIALS, "--requests", "2", "--gap", "0", NULL);
        pxp_stop(&p);
        assert_int_equal(rec_count_str(recs, "outcome", "200"), 2 * NTRIALS);
        json_t *st = pxp_stats(&p);
        assert_int_equal(pxp_stat(st, "upstream_cx_total"), 2 * NTRIALS);
        json_decref(st);
        json_decref(recs);
        assert_int_equal(up_stop(&u), 0);
        up_free(&u);
        pxp_free(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_attach_immediate_fails),
        cmocka_unit_test(test_pending_attach_no_mitigations_fails),
        cmocka_unit_test(test_pending_attach_deferred_holds),
        cmocka_unit_test(test_pending_attach_delay_holds),
        cmocka_unit_test(test_pending_attach_reuse_check_holds),
        cmocka_unit_test(test_pending_attach_retry_on_reset),
        cmocka_unit_test(test_idle_timeout_mismatch),
        cmocka_unit_test(test_noticed_close_is_honoured),
    };
    return cmocka_run_group_tests(tests, tsup_ctx_setup, tsup_ctx_teardown);
}
