/* servers: each real server kind (servers/, docs/servers.md) against racelab-downstream, in a
 * fresh network namespace of this test's own.
 *
 * The server gets a short keep-alive timeout; the client makes 2 requests on one connection
 * with a gap well below, then well above it:
 *   below: both 200, the second on the same connection (reused);
 *   above: the server closed the idle connection at its timeout (its log: close, why idle, how
 *          fin, before the client's reuse), so the reused request fails (empty or reset).
 * Gaps keep a wide margin around where each server really closes:
 *   go, nginx: IdleTimeout / keepalive_timeout 100 ms, gaps 20 and 300 ms;
 *   node:      keepAliveTimeout 100 ms, but Node closes 1 s later (its hard-coded keep-alive
 *              buffer): gap 300 still reuses, gap 2000 fails;
 *   gunicorn:  keepalive is whole seconds: 1 s; the gthread worker closes between 1 and 2 s
 *              (it sweeps idle connections when its 1 s select() returns): gaps 200 and 3000;
 *              the sync worker never keeps a connection: gap 200, two connections, both 200.
 * A kind whose runtime is missing is skipped with a message.
 *
 * Usage: test_servers [KIND]  (KIND: node, go, gunicorn, nginx, refusals; all by default).
 * Every outcome is printed on stderr as a "servers:" line (docs/servers.md's table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clk.h"
#include "netns.h"
#include "tsup.h"

#define MAX_ARGS 48

struct srv {
    struct tsup_proc proc;
    const char *kind;
    int port;
    char *log, *err;
};

static char *bin_of(const char *kind)
{
    return tsup_fmt("%s/racelab-server-%s", RACELAB_BIN_DIR, kind);
}

/* NULL when the kind can run here, else why not (malloc'd). */
static char *missing(const char *dir, const char *kind)
{
    char *bin = bin_of(kind);
    if (access(bin, X_OK) != 0) {
        char *why = tsup_fmt("%s not built (its toolchain was missing at configure time)", bin);
        free(bin);
        return why;
    }
    char *out = tsup_fmt("%s/%s.version", dir, kind);
    char *argv[] = {bin, "--version", NULL};
    int rc = tsup_run(argv, out, out, 20000);
    char *text = tsup_slurp(out);
    char *why = NULL;
    if (rc != 0)
        why = tsup_fmt("%s --version exited %d: %s", bin, rc, text ? text : "");
    else
        fprintf(stderr, "servers: %s: %s", kind, text ? text : "?\n");
    free(text);
    free(out);
    free(bin);
    return why;
}

/* Starts racelab-server-KIND with --listen 127.0.0.1:0, --port-file and --log in dir, then the
 * extra flags (NULL-terminated); waits for its port. */
static void srv_start(struct srv *s, const char *dir, const char *kind, const char *tag, ...)
{
    char *argv[MAX_ARGS];
    int n = 0;
    memset(s, 0, sizeof *s);
    s->kind = kind;
    char *bin = bin_of(kind);
    char *pf = tsup_fmt("%s/%s.port", dir, tag);
    s->log = tsup_fmt("%s/%s.log", dir, tag);
    s->err = tsup_fmt("%s/%s.err", dir, tag);
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--port-file";
    argv[n++] = pf;
    argv[n++] = "--log";
    argv[n++] = s->log;
    va_list ap;
    va_start(ap, tag);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(n < MAX_ARGS - 1);
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tsup_spawn(&s->proc, argv, NULL, s->err), 0);
    s->port = tsup_wait_port(pf, 20000);
    if (s->port <= 0) {
        char *e = tsup_slurp(s->err);
        fail_msg("racelab-server-%s did not come up: %s", kind, e ? e : "(no stderr)");
    }
    free(bin);
    free(pf);
}

/* Waits (up to 5 s) until every accepted connection's close is logged, then SIGTERM; the
 * server must exit 0. Returns the log. */
static json_t *srv_stop(struct srv *s)
{
    uint64_t deadline = clk_mono_us() + 5000000u;
    for (;;) {
        json_t *l = tsup_read_jsonl(s->log);
        size_t acc = l ? tsup_count(l, "event", "accept") : 0;
        size_t cl = l ? tsup_count(l, "event", "close") : 0;
        json_decref(l);
        if ((l && acc == cl) || clk_mono_us() > deadline)
            break;
        clk_sleep_us(5000);
    }
    int rc = tsup_stop(&s->proc);
    if (rc != 0) {
        char *e = tsup_slurp(s->err);
        fail_msg("racelab-server-%s: exit %d on SIGTERM: %s", s->kind, rc, e ? e : "");
    }
    json_t *l = tsup_read_jsonl(s->log);
    assert_non_null(l);
    assert_int_equal(tsup_count(l, "event", "listen"), 1);
    assert_int_equal(tsup_count(l, "event", "exit"), 1);
    return l;
}

static void srv_free(struct srv *s)
{
    if (!s->proc.reaped && s->proc.pid > 0)
        tsup_stop(&s->proc);
    free(s->log);
    free(s->err);
}

/* racelab-downstream: 2 requests on one connection, gap ms between them, the trial's tag. */
static json_t *client(const char *dir, int port, int gap_ms)
{
    char *bin = tsup_bin("racelab-downstream");
    char *target = tsup_fmt("127.0.0.1:%d", port);
    char *gap = tsup_fmt("%d", gap_ms);
    char *hdr = tsup_fmt("X-Racelab-Trial: gap-%d", gap_ms);
    char *rec = tsup_fmt("%s/dn-%d.jsonl", dir, gap_ms);
    char *err = tsup_fmt("%s/dn-%d.err", dir, gap_ms);
    /* the test's own tag in place of racelab-downstream's trial tag (--no-tag), so the log
     * names the gap */
    char *argv[] = {bin,        "--target", target,     "--requests", "2", "--gap", gap,
                    "--header", hdr,        "--no-tag", "--records",  rec, NULL};
    int rc = tsup_run(argv, NULL, err, 30000);
    if (rc != 0) {
        char *e = tsup_slurp(err);
        fail_msg("racelab-downstream exited %d: %s", rc, e ? e : "");
    }
    json_t *a = tsup_read_jsonl(rec);
    assert_non_null(a);
    free(bin);
    free(target);
    free(gap);
    free(hdr);
    free(rec);
    free(err);
    return a;
}

static long long num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_true(v))
        return 1;
    if (json_is_false(v))
        return 0;
    return -1;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static json_t *find(json_t *arr, const char *key, const char *val, const char *ikey, long long ival)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (key && strcmp(str(o, key), val) != 0)
            continue;
        if (ikey && num(o, ikey) != ival)
            continue;
        return o;
    }
    return NULL;
}

static size_t count_where(json_t *arr, const char *event, const char *ikey, long long ival)
{
    size_t n = 0, i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (strcmp(str(o, "event"), event) == 0 && num(o, ikey) == ival)
            n++;
    }
    return n;
}

static void dump(json_t *arr, const char *what)
{
    fprintf(stderr, "--- %s\n", what);
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        char *s = json_dumps(o, JSON_COMPACT);
        fprintf(stderr, "%s\n", s);
        free(s);
    }
}

/* The client's records of one trial: both requests' outcomes. */
static json_t *req_rec(json_t *recs, int req)
{
    return find(recs, NULL, NULL, "req", req);
}

/* Every request line of the server for the client's port carries the trial's tag. */
static void check_requests_tagged(json_t *log, long long rport, int gap_ms, size_t want)
{
    char tag[32];
    snprintf(tag, sizeof tag, "gap-%d", gap_ms);
    size_t n = 0, i;
    json_t *o;
    json_array_foreach(log, i, o)
    {
        if (strcmp(str(o, "event"), "request") != 0 || num(o, "rport") != rport)
            continue;
        n++;
        if (strcmp(str(o, "tag"), tag) != 0) {
            dump(log, "server log");
            fail_msg("request of port %lld: tag '%s', want '%s'", rport, str(o, "tag"), tag);
        }
        assert_true(num(o, "ts_us") > 1000000000000000LL); /* wall-clock µs */
    }
    if (n != want) {
        dump(log, "server log");
        fail_msg("%zu request lines for port %lld, want %zu", n, rport, want);
    }
}

/* Gap below the timeout: both 200 on one connection; the server saw both on that port. */
static void expect_reuse_ok(const char *kind, json_t *recs, json_t *log, int gap_ms)
{
    json_t *r0 = req_rec(recs, 0), *r1 = req_rec(recs, 1);
    if (!r0 || !r1 || strcmp(str(r0, "outcome"), "200") || strcmp(str(r1, "outcome"), "200") ||
        num(r1, "reused") != 1 || num(r0, "lport") != num(r1, "lport")) {
        dump(recs, "client records");
        dump(log, "server log");
        fail_msg("%s, gap %d ms: want both 200 on one connection", kind, gap_ms);
    }
    long long port = num(r0, "lport");
    check_requests_tagged(log, port, gap_ms, 2);
    json_t *acc = find(log, "event", "accept", "rport", port);
    assert_non_null(acc);
    json_t *cl = find(log, "event", "close", "rport", port);
    assert_non_null(cl);
    fprintf(stderr,
            "servers: %s gap %d ms: %s %s on one connection (port %lld); close: how %s, why %s "
            "(the client's)\n",
            kind, gap_ms, str(r0, "outcome"), str(r1, "outcome"), port, str(cl, "how"),
            str(cl, "why"));
    assert_string_equal(str(cl, "why"), "peer-eof");
    assert_int_equal(num(cl, "responses"), 2);
}

/* Gap above the timeout: the server closed the idle connection (its log), before the client's
 * reuse, which failed. idle_us (from the response's end to the close) within [lo_ms, hi_ms]. */
static void expect_idle_close(const char *kind, json_t *recs, json_t *log, int gap_ms, int lo_ms,
                              int hi_ms)
{
    json_t *r0 = req_rec(recs, 0), *r1 = req_rec(recs, 1);
    const char *o1 = r1 ? str(r1, "outcome") : "";
    if (!r0 || !r1 || strcmp(str(r0, "outcome"), "200") ||
        (strcmp(o1, "empty") && strcmp(o1, "reset")) || num(r1, "reused") != 1) {
        dump(recs, "client records");
        dump(log, "server log");
        fail_msg("%s, gap %d ms: want 200, then the reused request empty or reset", kind, gap_ms);
    }
    long long port = num(r0, "lport");
    check_requests_tagged(log, port, gap_ms, 1);
    json_t *cl = find(log, "event", "close", "rport", port);
    if (!cl || strcmp(str(cl, "why"), "idle") || strcmp(str(cl, "how"), "fin")) {
        dump(log, "server log");
        fail_msg("%s, gap %d ms: no idle close of port %lld by the server", kind, gap_ms, port);
    }
    long long idle = num(cl, "idle_us");
    long long close_us = num(cl, "ts_us"), reuse_us = num(r1, "start_us");
    fprintf(stderr,
            "servers: %s gap %d ms: %s then %s%s%s (port %lld); close: how %s, why %s, %.1f ms "
            "after the response, %.1f ms before the reuse\n",
            kind, gap_ms, str(r0, "outcome"), o1, *str(r1, "errno") ? " " : "", str(r1, "errno"),
            port, str(cl, "how"), str(cl, "why"), idle / 1000.0, (reuse_us - close_us) / 1000.0);
    if (idle < (long long)lo_ms * 1000 || idle > (long long)hi_ms * 1000)
        fail_msg("%s: idle close %lld us after the response, want [%d, %d] ms", kind, idle, lo_ms,
                 hi_ms);
    assert_true(close_us < reuse_us);
    assert_int_equal(count_where(log, "close", "rport", port), 1);
}

static void run_kind(void **state, const char *kind, const char *timeout_ms, int below, int above,
                     int lo_ms, int hi_ms, const char *extra)
{
    struct tsup_ctx *c = *state;
    char *why = missing(c->dir, kind);
    if (why) {
        fprintf(stderr, "servers: skipping %s: %s\n", kind, why);
        free(why);
        skip();
    }
    struct srv s;
    srv_start(&s, c->dir, kind, kind, "--idle-timeout", timeout_ms, extra, NULL);
    json_t *ok = client(c->dir, s.port, below);
    json_t *bad = above > 0 ? client(c->dir, s.port, above) : NULL;
    json_t *log = srv_stop(&s);
    expect_reuse_ok(kind, ok, log, below);
    if (bad)
        expect_idle_close(kind, bad, log, above, lo_ms, hi_ms);
    json_decref(ok);
    json_decref(bad);
    json_decref(log);
    srv_free(&s);
}

static void test_go(void **state)
{
    run_kind(state, "go", "100", 20, 300, 90, 200, NULL);
}

static void test_nginx(void **state)
{
    run_kind(state, "nginx", "100", 20, 300, 90, 200, NULL);
}

/* Node: keepAliveTimeout 100 closes after 1.1 s (Node's hard-coded 1 s buffer) — so gap 300
 * still reuses the connection; 2000 does not. */
static void test_node(void **state)
{
    run_kind(state, "node", "100", 300, 2000, 1090, 1600, NULL);
}

static void test_gunicorn_gthread(void **state)
{
    run_kind(state, "gunicorn", "1000", 200, 3000, 990, 2500, NULL);
}

/* gunicorn's sync worker: no keep-alive at all (gunicorn 20.1): every response says
 * Connection: close and the worker closes; the client opens a new connection for request 1. */
static void test_gunicorn_sync(void **state)
{
    struct tsup_ctx *c = *state;
    char *why = missing(c->dir, "gunicorn");
    if (why) {
        fprintf(stderr, "servers: skipping gunicorn (sync): %s\n", why);
        free(why);
        skip();
    }
    struct srv s;
    srv_start(&s, c->dir, "gunicorn", "gunicorn-sync", "--worker", "sync", "--idle-timeout", "1000",
              NULL);
    json_t *recs = client(c->dir, s.port, 200);
    json_t *log = srv_stop(&s);
    json_t *r0 = req_rec(recs, 0), *r1 = req_rec(recs, 1);
    if (!r0 || !r1 || strcmp(str(r0, "outcome"), "200") || strcmp(str(r1, "outcome"), "200") ||
        num(r1, "reused") != 0 || num(r0, "lport") == num(r1, "lport")) {
        dump(recs, "client records");
        dump(log, "server log");
        fail_msg("gunicorn sync: want both 200, each on a connection of its own");
    }
    for (int i = 0; i < 2; i++) {
        long long port = num(i ? r1 : r0, "lport");
        check_requests_tagged(log, port, 200, 1);
        json_t *resp = find(log, "event", "response", "rport", port);
        json_t *cl = find(log, "event", "close", "rport", port);
        assert_non_null(resp);
        assert_non_null(cl);
        assert_int_equal(num(resp, "close"), 1);
        assert_string_equal(str(cl, "why"), "after-response");
    }
    fprintf(stderr,
            "servers: gunicorn (sync) gap 200 ms: 200 200 on two connections (ports %lld, %lld); "
            "close: how fin, why after-response, each (Connection: close)\n",
            num(r0, "lport"), num(r1, "lport"));
    json_decref(recs);
    json_decref(log);
    srv_free(&s);
}

/* Settings a kind cannot express are refused with exit 2 and one line naming the flag. */
static void test_refusals(void **state)
{
    struct tsup_ctx *c = *state;
    static const char *const cases[][4] = {
        {"gunicorn", "--idle-timeout", "100", "--idle-timeout"}, /* whole seconds only */
        {"gunicorn", "--idle-timeout", "0", "--idle-timeout"},   /* 0 = keep-alive off */
        {"nginx", "--idle-timeout", "0", "--idle-timeout"},      /* 0 = keep-alive off */
        {"nginx", "--delay-response", "50", "--delay-response"}, /* no delay in nginx-light */
        {"nginx", "--close-after", "3", "--announce-close"},     /* nginx always announces */
        {"node", "--close-after", "3", "--announce-close"},      /* so does Node */
        {"go", "--bogus", "1", "--bogus"},
        {"node", "--status", "x", "--status"},
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *why = missing(c->dir, cases[i][0]);
        if (why) {
            fprintf(stderr, "servers: refusals: skipping %s: %s\n", cases[i][0], why);
            free(why);
            continue;
        }
        char *bin = bin_of(cases[i][0]);
        char *err = tsup_fmt("%s/refusal-%zu.err", c->dir, i);
        char *argv[] = {bin, (char *)cases[i][1], (char *)cases[i][2], NULL};
        int rc = tsup_run(argv, NULL, err, 20000);
        char *text = tsup_slurp(err);
        if (rc != 2 || !text || !strstr(text, cases[i][3]) ||
            strchr(text, '\n') != strrchr(text, '\n'))
            fail_msg(
                "racelab-server-%s %s %s: exit %d, stderr '%s' (want 2 and one line naming %s)",
                cases[i][0], cases[i][1], cases[i][2], rc, text ? text : "", cases[i][3]);
        free(text);
        free(err);
        free(bin);
        ran++;
    }
    if (!ran)
        skip();
}

int main(int argc, char **argv)
{
    char err[1024];
    if (netns_enter(err, sizeof err) != 0) {
        fprintf(stderr, "test_servers: %s\n", err);
        return 1;
    }
    const struct CMUnitTest all[] = {
        cmocka_unit_test_setup_teardown(test_node, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_go, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_gunicorn_gthread, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_gunicorn_sync, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_nginx, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, tsup_ctx_setup, tsup_ctx_teardown),
    };
    if (argc > 1) {
        /* one kind: the tests whose name starts with test_KIND */
        struct CMUnitTest some[sizeof all / sizeof all[0]];
        size_t n = 0;
        char *prefix = tsup_fmt("test_%s", argv[1]);
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            if (strncmp(all[i].name, prefix, strlen(prefix)) == 0)
                some[n++] = all[i];
        free(prefix);
        if (!n) {
            fprintf(stderr, "test_servers: no tests for '%s'\n", argv[1]);
            return 2;
        }
        return _cmocka_run_group_tests(argv[1], some, n, NULL, NULL);
    }
    return cmocka_run_group_tests(all, NULL, NULL);
}
