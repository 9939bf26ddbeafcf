/* Each racelab-upstream behaviour flag, checked by what a client observes (bytes, EOF or RST,
 * outcomes) and by the upstream's own log; each test fails if its flag stops working. Delays
 * are checked as lower bounds only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clk.h"
#include "h1.h"
#include "peers.h"

#define GET11       "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
#define GET11_CLOSE "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
#define BUFCAP      (1 << 20)

struct ctx {
    char *dir;
    char *buf;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    c->dir = tsup_tmpdir("up");
    c->buf = malloc(BUFCAP + 1);
    *state = c;
    return c->dir ? 0 : -1;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    tsup_rmtree(c->dir);
    free(c->dir);
    free(c->buf);
    free(c);
    return 0;
}

/* Parses a raw response; returns the body payload length (-1 when the body is incomplete). */
static long long body_of(const char *buf, size_t len, struct h1_msg *m, bool eof)
{
    int hl = h1_parse_response(buf, len, m);
    assert_true(hl > 0);
    struct h1_body b;
    h1_body_init_response(&b, m, false);
    long k = h1_body_consume(&b, buf + hl, len - (size_t)hl);
    assert_true(k >= 0);
    if (eof)
        h1_body_eof_ok(&b);
    return b.done ? (long long)b.payload : -1;
}

static void test_status_and_body_size(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "st", "--status", "404", "--body-size", "1000", NULL);
    int err;
    size_t n = raw_exchange(u.port, GET11_CLOSE, c->buf, BUFCAP, &err);
    struct h1_msg m;
    assert_int_equal(body_of(c->buf, n, &m, false), 1000);
    assert_int_equal(m.status, 404);
    assert_int_equal(m.content_length, 1000);
    json_t *r = dn_run(c->dir, u.port, NULL);
    assert_int_equal(rec_count_str(r, "outcome", "404"), 1);
    assert_true(rec_int(json_array_get(r, 0), "received") > 1000);
    json_decref(r);
    up_free(&u);
}

static void test_framing_chunked(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "ch", "--framing", "chunked", "--body-size", "40000", NULL);
    int err;
    size_t n = raw_exchange(u.port, GET11_CLOSE, c->buf, BUFCAP, &err);
    struct h1_msg m;
    assert_int_equal(body_of(c->buf, n, &m, false), 40000);
    assert_true(m.chunked);
    assert_null(h1_find(&m, "Content-Length"));
    /* chunked keeps the connection reusable */
    json_t *r = dn_run(c->dir, u.port, "--requests", "3", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 3);
    assert_int_equal(rec_count_int(r, "reused", 1), 2);
    json_decref(r);
    up_free(&u);
}

/* delay-close-cost's server: an HTTP/1.0 response whose body ends only at the close */
static void test_framing_close_http10(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "cl", "--framing", "close", "--http10", "--body-size", "5000", NULL);
    int err;
    size_t n = raw_exchange(u.port, GET11, c->buf, BUFCAP, &err);
    assert_int_equal(err, 0);
    struct h1_msg m;
    assert_int_equal(body_of(c->buf, n, &m, true), 5000);
    assert_int_equal(m.minor, 0);
    assert_int_equal(m.content_length, -1);
    assert_false(m.chunked);
    json_t *r = dn_run(c->dir, u.port, "--requests", "2", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 2);
    assert_int_equal(rec_count_int(r, "reused", 1), 0);
    assert_int_equal(rec_distinct(r, "lport"), 2);
    assert_true(rec_int(json_array_get(r, 0), "received") > 5000);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "why", "after-response"), 3);
    json_decref(log);
    up_free(&u);
}

static void test_headers(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "hd", "--header", "X-One: 1", "--header", "X-Two: two words", NULL);
    int err;
    size_t n = raw_exchange(u.port, GET11_CLOSE, c->buf, BUFCAP, &err);
    struct h1_msg m;
    assert_int_equal(body_of(c->buf, n, &m, false), 2);
    const struct h1_header *h = h1_find(&m, "x-two");
    assert_non_null(h);
    assert_int_equal(h->value_len, 9);
    assert_memory_equal(h->value, "two words", 9);
    assert_non_null(h1_find(&m, "X-One"));
    up_free(&u);
}

static void test_close_after_n(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "n", "--close-after", "3", NULL);
    json_t *r = dn_run(c->dir, u.port, "--requests", "4", "--gap", "50", "--trials", "3", NULL);
    for (int q = 0; q < 3; q++) {
        json_t *f = rec_filter_int(r, "req", q);
        assert_int_equal(rec_count_str(f, "outcome", "200"), 3);
        json_decref(f);
    }
    json_t *f = rec_filter_int(r, "req", 3);
    assert_int_equal(rec_count_str(f, "outcome", "reset") + rec_count_str(f, "outcome", "empty"),
                     3);
    assert_int_equal(rec_count_int(f, "reused", 1), 3);
    json_decref(f);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "why", "after-n"), 3);
    assert_int_equal(rec_count_int(log, "responses", 3), 3);
    json_decref(log);
    up_free(&u);

    /* default: never closes */
    up_start(&u, c->dir, "n0", NULL);
    r = dn_run(c->dir, u.port, "--requests", "6", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 6);
    assert_int_equal(rec_count_int(r, "reused", 1), 5);
    json_decref(r);
    up_free(&u);
}

static void test_idle_timeout(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "idle", "--idle-timeout", "200", NULL);
    /* a connection that never sends anything is closed after T */
    uint64_t t0 = now_us();
    int fd = raw_connect(u.port);
    char b;
    assert_int_equal(recv(fd, &b, 1, 0), 0);
    assert_true(now_us() - t0 >= 200000);
    close(fd);
    /* a reuse after more than T finds the connection closed */
    json_t *r = dn_run(c->dir, u.port, "--requests", "2", "--gap", "600", NULL);
    json_t *second = json_array_get(r, 1);
    assert_non_null(second);
    const char *o = rec_str(second, "outcome");
    if (strcmp(o, "reset") != 0 && strcmp(o, "empty") != 0)
        fail_msg("reuse after the idle close: %s", o);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "why", "idle"), 2);
    json_t *resp = rec_event(log, "response", 1);
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e)
    {
        if (strcmp(rec_str(e, "event"), "close") == 0 && rec_int(e, "conn") == 1)
            assert_true(rec_int(e, "ts_us") - rec_int(resp, "ts_us") >= 200000);
    }
    json_decref(log);
    up_free(&u);
}

/* The request lands after the server stopped reading and before its idle close: the close
 * finds it unread and becomes an RST. The same timing without --idle-unread is served. */
static void test_idle_unread(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "unread", "--idle-timeout", "1000", "--idle-unread", "900", NULL);
    json_t *r = dn_run(c->dir, u.port, "--requests", "2", "--gap", "500", NULL);
    json_t *second = json_array_get(r, 1);
    assert_non_null(second);
    assert_string_equal(rec_str(second, "outcome"), "reset");
    assert_string_equal(rec_str(second, "errno"), "ECONNRESET");
    assert_string_equal(rec_str(second, "phase"), "read");
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    json_t *cl = rec_event(log, "close", 0);
    assert_non_null(cl);
    assert_string_equal(rec_str(cl, "why"), "idle");
    assert_true(rec_int(cl, "unread") > 0);
    assert_int_equal(rec_count_str(log, "event", "request"), 1);
    json_decref(log);
    up_free(&u);

    up_start(&u, c->dir, "read", "--idle-timeout", "1000", NULL);
    r = dn_run(c->dir, u.port, "--requests", "2", "--gap", "500", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 2);
    json_decref(r);
    up_free(&u);
}

static void test_announce_close(void **state)
{
    struct ctx *c = *state;
    struct up u;
    struct h1_msg m;
    int err;
    up_start(&u, c->dir, "ann", "--close-after", "1", "--announce-close", NULL);
    size_t n = raw_exchange(u.port, GET11, c->buf, BUFCAP, &err);
    assert_int_equal(body_of(c->buf, n, &m, false), 2);
    assert_true(m.conn_close);
    up_free(&u);

    up_start(&u, c->dir, "silent", "--close-after", "1", NULL);
    n = raw_exchange(u.port, GET11, c->buf, BUFCAP, &err);
    assert_int_equal(body_of(c->buf, n, &m, false), 2);
    assert_false(m.conn_close);
    assert_null(h1_find(&m, "Connection"));
    assert_int_equal(err, 0); /* closed all the same */
    up_free(&u);
}

static void test_close_how_rst(void **state)
{
    struct ctx *c = *state;
    struct up u;
    struct h1_msg m;
    int err;
    up_start(&u, c->dir, "rst", "--close-after", "1", "--close-how", "rst", NULL);
    for (int i = 0; i < 5; i++) {
        size_t n = raw_exchange(u.port, GET11, c->buf, BUFCAP, &err);
        assert_int_equal(body_of(c->buf, n, &m, false), 2); /* the response is kept */
        assert_int_equal(err, ECONNRESET);
    }
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "how", "rst"), 5);
    json_decref(log);
    up_free(&u);

    up_start(&u, c->dir, "fin", "--close-after", "1", "--close-how", "fin", NULL);
    size_t n = raw_exchange(u.port, GET11, c->buf, BUFCAP, &err);
    assert_int_equal(body_of(c->buf, n, &m, false), 2);
    assert_int_equal(err, 0);
    up_free(&u);
}

/* The FIN comes in the response's segment: when the response is readable, so is the EOF. */
static void test_close_how_fin_with_data(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "fwd", "--close-after", "1", "--close-how", "fin-with-data", "--body-size",
             "100", NULL);
    for (int i = 0; i < 20; i++) {
        int fd = raw_connect(u.port);
        assert_int_equal(send(fd, GET11, strlen(GET11), 0), (ssize_t)strlen(GET11));
        size_t got = 0;
        struct h1_msg m;
        while (got < 40 || body_of(c->buf, got, &m, false) < 0) {
            ssize_t k = recv(fd, c->buf + got, BUFCAP - got, 0);
            assert_true(k > 0);
            got += (size_t)k;
            if (h1_parse_response(c->buf, got, &m) == H1_INCOMPLETE)
                continue;
        }
        char b;
        ssize_t k = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (k != 0)
            fail_msg("try %d: EOF not there with the data (%zd, %s)", i, k, strerror(errno));
        close(fd);
    }
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "how", "fin-with-data"), 20);
    json_decref(log);
    up_free(&u);
}

/* nginx's lingering close: after an early 413 the server reads and drops the body, so the
 * uploading client never gets an RST and reads the 413 (with fin it gets reset: races). */
static void test_close_how_shutdown(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "shut", "--answer-early", "--status", "413", "--close-how", "shutdown",
             NULL);
    json_t *r =
        dn_run(c->dir, u.port, "--trials", "3", "--method", "POST", "--body-size", "16m", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "413"), 3);
    assert_int_equal(rec_count_int(r, "body_sent", 16L << 20), 3);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "how", "shutdown"), 3);
    assert_int_equal(rec_count_int(log, "discarded", 16L << 20), 3);
    json_decref(log);
    up_free(&u);
}

/* The answer goes out on the head alone: a client pausing before its body finds the
 * connection answered and closed. Without --answer-early the server waits for the body. */
static void test_answer_early(void **state)
{
    struct ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "early", "--answer-early", "--status", "413", NULL);
    json_t *r = dn_run(c->dir, u.port, "--method", "POST", "--body-size", "1000", "--upload-delay",
                       "300", "--on-write-error", "read", NULL);
    assert_string_equal(rec_str(json_array_get(r, 0), "outcome"), "413");
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    json_t *req = rec_event(log, "request", 0);
    assert_int_equal(rec_int(req, "early"), 1);
    assert_int_equal(rec_int(req, "body"), 0);
    json_t *resp = rec_event(log, "response", 0);
    assert_int_equal(rec_int(resp, "early"), 1);
    json_decref(log);
    up_free(&u);

    up_start(&u, c->dir, "late", "--status", "413", NULL);
    r = dn_run(c->dir, u.port, "--method", "POST", "--body-size", "1000", "--upload-delay", "300",
               NULL);
    assert_string_equal(rec_str(json_array_get(r, 0), "outcome"), "413");
    assert_int_equal(rec_int(json_array_get(r, 0), "body_sent"), 1000);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    log = up_log(&u);
    req = rec_event(log, "request", 0);
    assert_int_equal(rec_int(req, "early"), 0);
    assert_int_equal(rec_int(req, "body"), 1000);
    json_decref(log);
    up_free(&u);
}

static void test_delays(void **state)
{
    struct ctx *c = *state;
    struct up u;

    up_start(&u, c->dir, "dr", "--delay-response", "300", NULL);
    json_t *r = dn_run(c->dir, u.port, NULL);
    json_t *o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "200");
    assert_true(rec_int(o, "end_us") - rec_int(o, "start_us") >= 300000);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_true(rec_int(rec_event(log, "response", 0), "start_us") -
                    rec_int(rec_event(log, "request", 0), "ts_us") >=
                300000);
    json_decref(log);
    up_free(&u);

    up_start(&u, c->dir, "db", "--delay-body", "300", "--body-size", "10", NULL);
    r = dn_run(c->dir, u.port, NULL);
    o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "200");
    assert_true(rec_int(o, "end_us") - rec_int(o, "start_us") >= 300000);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    log = up_log(&u);
    json_t *resp = rec_event(log, "response", 0);
    assert_true(rec_int(resp, "ts_us") - rec_int(resp, "start_us") >= 300000);
    json_decref(log);
    up_free(&u);

    up_start(&u, c->dir, "dc", "--close-after", "1", "--delay-close", "300", NULL);
    r = dn_run(c->dir, u.port, NULL);
    assert_string_equal(rec_str(json_array_get(r, 0), "outcome"), "200");
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    log = up_log(&u);
    assert_true(rec_int(rec_event(log, "close", 0), "ts_us") -
                    rec_int(rec_event(log, "response", 0), "ts_us") >=
                300000);
    json_decref(log);
    up_free(&u);

    /* delay-close-cost: a close-framed response ends only when the delayed close comes */
    up_start(&u, c->dir, "dcc", "--framing", "close", "--delay-close", "300", NULL);
    r = dn_run(c->dir, u.port, NULL);
    o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "200");
    assert_true(rec_int(o, "end_us") - rec_int(o, "start_us") >= 300000);
    json_decref(r);
    up_free(&u);
}

static void test_http10(void **state)
{
    struct ctx *c = *state;
    struct up u;
    struct h1_msg m;
    int err;
    up_start(&u, c->dir, "h10", "--http10", NULL);
    /* an HTTP/1.0 client without keep-alive: the server closes after the response */
    size_t n = raw_exchange(u.port, "GET / HTTP/1.0\r\n\r\n", c->buf, BUFCAP, &err);
    assert_int_equal(body_of(c->buf, n, &m, false), 2);
    assert_int_equal(m.minor, 0);
    assert_int_equal(err, 0);
    /* one that asks for keep-alive gets it, and says so */
    json_t *r =
        dn_run(c->dir, u.port, "--http10", "--connection", "keep-alive", "--requests", "3", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 3);
    assert_int_equal(rec_count_int(r, "reused", 1), 2);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "why", "after-response"), 1);
    json_decref(log);
    up_free(&u);
}

/* The head is consumed to its last byte and the body to its end: pipelined requests are all
 * answered, in order, and a chunked body is read whole before the answer. */
static void test_exact_reads(void **state)
{
    struct ctx *c = *state;
    struct up u;
    int err;
    up_start(&u, c->dir, "pipe", NULL);
    const char *reqs =
        "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nab\r\n0\r\n\r\n"
        "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n";
    size_t n = raw_exchange(u.port, reqs, c->buf, BUFCAP, &err);
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        struct h1_msg m;
        int hl = h1_parse_response(c->buf + off, n - off, &m);
        assert_true(hl > 0);
        assert_int_equal(m.status, 200);
        off += (size_t)hl + 2;
    }
    assert_int_equal(off, n);
    json_t *r = dn_run(c->dir, u.port, "--method", "POST", "--body-size", "100000", "--chunked",
                       "--upload-chunk", "30000", NULL);
    assert_string_equal(rec_str(json_array_get(r, 0), "outcome"), "200");
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "path", "/a"), 1);
    assert_int_equal(rec_count_str(log, "path", "/b"), 1);
    assert_int_equal(rec_count_str(log, "path", "/c"), 1);
    assert_int_equal(rec_count_int(log, "body", 100000), 1);
    assert_int_equal(rec_count_int(log, "body", 3), 1);
    json_decref(log);
    up_free(&u);
}

static void test_log_to_stdout(void **state)
{
    struct ctx *c = *state;
    char *bin = tsup_bin("racelab-upstream");
    char *pf = tsup_fmt("%s/so.port", c->dir);
    char *out = tsup_fmt("%s/so.out", c->dir);
    char *argv[] = {bin, "--port-file", pf, "--log", "-", NULL};
    struct tsup_proc p;
    assert_int_equal(tsup_spawn(&p, argv, out, NULL), 0);
    int port = tsup_wait_port(pf, 10000);
    assert_true(port > 0);
    assert_int_equal(tsup_stop(&p), 0);
    json_t *log = tsup_read_jsonl(out);
    assert_non_null(log);
    assert_int_equal(rec_int(rec_event(log, "listen", -1), "lport"), port);
    assert_non_null(rec_event(log, "exit", -1));
    json_decref(log);
    free(bin);
    free(pf);
    free(out);
}

/* --listen is honoured: bound to 127.0.0.2, the server is not on 127.0.0.1 */
static void test_listen_address(void **state)
{
    struct ctx *c = *state;
    char *bin = tsup_bin("racelab-upstream");
    char *pf = tsup_fmt("%s/la.port", c->dir);
    char *log = tsup_fmt("%s/la.log", c->dir);
    char *argv[] = {bin, "--listen", "127.0.0.2:0", "--port-file", pf, "--log", log, NULL};
    struct tsup_proc p;
    assert_int_equal(tsup_spawn(&p, argv, NULL, NULL), 0);
    int port = tsup_wait_port(pf, 10000);
    assert_true(port > 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(0x7f000002);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(fd);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(fd);
    assert_int_equal(tsup_stop(&p), 0);
    json_t *l = tsup_read_jsonl(log);
    assert_int_equal(rec_int(rec_event(l, "listen", -1), "lport"), port);
    json_decref(l);
    free(bin);
    free(pf);
    free(log);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_status_and_body_size),
        T(test_framing_chunked),
        T(test_framing_close_http10),
        T(test_headers),
        T(test_close_after_n),
        T(test_idle_timeout),
        T(test_idle_unread),
        T(test_announce_close),
        T(test_close_how_rst),
        T(test_close_how_fin_with_data),
        T(test_close_how_shutdown),
        T(test_answer_early),
        T(test_delays),
        T(test_http10),
        T(test_exact_reads),
        T(test_log_to_stdout),
        T(test_listen_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
