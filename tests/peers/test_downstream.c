/* Each racelab-downstream flag, checked by what the server side saw (the upstream's log, or
 * the raw bytes received by a one-shot server in the test) and by the records; each test fails
 * if its flag stops working. Delays are checked as lower bounds only. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clk.h"
#include "peers.h"

static json_t *find_rec(json_t *r, long trial, long conn, long req)
{
    size_t i;
    json_t *o;
    json_array_foreach(r, i, o)
    {
        if (rec_int(o, "trial") == trial && rec_int(o, "conn") == conn && rec_int(o, "req") == req)
            return o;
    }
    fail_msg("no record for trial %ld conn %ld req %ld", trial, conn, req);
    return NULL;
}

/* First start and last end of a trial's records. */
static void trial_span(json_t *r, long trial, long long *start, long long *end)
{
    size_t i;
    json_t *o;
    *start = -1;
    *end = -1;
    json_array_foreach(r, i, o)
    {
        if (rec_int(o, "trial") != trial)
            continue;
        if (*start < 0 || rec_int(o, "start_us") < *start)
            *start = rec_int(o, "start_us");
        if (rec_int(o, "end_us") > *end)
            *end = rec_int(o, "end_us");
    }
    assert_true(*start > 0);
}

static void test_trials_conns_requests(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "tcr", NULL);
    json_t *r = dn_run(c->dir, u.port, "--trials", "5", "--conns", "3", "--requests", "2", NULL);
    assert_int_equal(json_array_size(r), 30);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 30);
    assert_int_equal(rec_distinct(r, "lport"), 15);
    for (long t = 0; t < 5; t++) {
        for (long k = 0; k < 3; k++) {
            json_t *a = find_rec(r, t, k, 0), *b = find_rec(r, t, k, 1);
            assert_int_equal(rec_int(a, "lport"), rec_int(b, "lport"));
            assert_int_equal(rec_int(a, "reused"), 0);
            assert_int_equal(rec_int(b, "reused"), 1);
            assert_int_equal(rec_int(a, "gap_ms"), 0);
        }
    }
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "event", "accept"), 15);
    assert_int_equal(rec_count_str(log, "event", "request"), 30);
    json_decref(log);
    up_free(&u);
}

/* Every request carries X-Racelab-Trial: TRIAL.CONN.REQ, last in its head and in the same write,
 * and racelab-upstream logs it as `tag` on its request event, next to the connection's peer port
 * (the client's lport here; behind a proxy, the proxy's upstream port). --no-tag leaves it out. */
static void test_trial_tag(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "tag", NULL);
    json_t *r = dn_run(c->dir, u.port, "--trials", "3", "--conns", "2", "--requests", "2", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 12);
    assert_int_equal(rec_count_int(r, "writes", 1), 12);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    size_t i, tagged = 0;
    json_t *e;
    json_array_foreach(log, i, e)
    {
        if (strcmp(rec_str(e, "event"), "request") != 0)
            continue;
        const char *tag = rec_str(e, "tag");
        long t, k, q;
        if (!tag || sscanf(tag, "%ld.%ld.%ld", &t, &k, &q) != 3)
            fail_msg("request event without a tag: %s", tag ? tag : "(none)");
        json_t *rec = find_rec(r, t, k, q);
        assert_non_null(rec);
        assert_int_equal(rec_int(e, "rport"), rec_int(rec, "lport"));
        assert_int_equal(rec_int(e, "req"), q);
        tagged++;
    }
    assert_int_equal(tagged, 12);
    json_decref(log);
    json_decref(r);
    up_free(&u);

    int port;
    int lfd = raw_listen(&port);
    struct dn d;
    dn_start(&d, c->dir, port, "--header", "X-A: 1", NULL);
    char *got = raw_serve_one(lfd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true);
    json_t *one = dn_wait(&d);
    assert_non_null(strstr(got, "\r\nX-A: 1\r\nX-Racelab-Trial: 0.0.0\r\n\r\n"));
    assert_int_equal(rec_int(json_array_get(one, 0), "sent"), (long long)strlen(got));
    json_decref(one);
    free(got);
    dn_start(&d, c->dir, port, "--no-tag", NULL);
    got = raw_serve_one(lfd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true);
    json_decref(dn_wait(&d));
    assert_null(strstr(got, "X-Racelab-Trial"));
    assert_non_null(strstr(got, "\r\n\r\n"));
    free(got);
    close(lfd);
}

/* Connections of a trial open together, and --parallel trials run at once: with a slow server
 * they all start before the first response can have come back. */
static void test_conns_and_parallel(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "par", "--delay-response", "200", NULL);
    json_t *r = dn_run(c->dir, u.port, "--trials", "6", "--parallel", "3", "--conns", "2", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 12);
    assert_int_equal(rec_distinct(r, "lport"), 12);
    long long s0, e0, s, e;
    trial_span(r, 0, &s0, &e0);
    int overlapping = 0;
    for (long t = 0; t < 6; t++) {
        trial_span(r, t, &s, &e);
        overlapping += s < e0;
    }
    assert_true(overlapping >= 3);
    json_decref(r);

    /* one at a time: a trial starts after the previous one ended */
    r = dn_run(c->dir, u.port, "--trials", "3", "--conns", "2", NULL);
    for (long t = 1; t < 3; t++) {
        trial_span(r, t - 1, &s0, &e0);
        trial_span(r, t, &s, &e);
        assert_true(s >= e0);
    }
    /* both connections of a trial started before either ended */
    for (long t = 0; t < 3; t++) {
        json_t *a = find_rec(r, t, 0, 0), *b = find_rec(r, t, 1, 0);
        assert_true(rec_int(a, "start_us") < rec_int(b, "end_us"));
        assert_true(rec_int(b, "start_us") < rec_int(a, "end_us"));
    }
    json_decref(r);
    up_free(&u);
}

static void test_trial_gap(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "tg", NULL);
    json_t *r = dn_run(c->dir, u.port, "--trials", "3", "--trial-gap", "200", NULL);
    long long s0, e0, s, e;
    for (long t = 1; t < 3; t++) {
        trial_span(r, t - 1, &s0, &e0);
        trial_span(r, t, &s, &e);
        assert_true(s - e0 >= 200000);
    }
    json_decref(r);
    up_free(&u);
}

static void test_gap(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "gap", NULL);
    json_t *r = dn_run(c->dir, u.port, "--requests", "3", "--gap", "150", NULL);
    for (long q = 1; q < 3; q++) {
        json_t *prev = find_rec(r, 0, 0, q - 1), *cur = find_rec(r, 0, 0, q);
        assert_int_equal(rec_int(cur, "gap_ms"), 150);
        assert_int_equal(rec_int(cur, "reuse_gap_ms"), 150);
        assert_int_equal(rec_int(find_rec(r, 0, 0, 0), "reuse_gap_ms"), 150);
        assert_true(rec_int(cur, "start_us") - rec_int(prev, "end_us") >= 150000);
        assert_int_equal(rec_int(cur, "reused"), 1);
    }
    json_decref(r);
    r = dn_run(c->dir, u.port, "--requests", "2", "--gap", "2.5", NULL);
    json_t *g = json_object_get(find_rec(r, 0, 0, 1), "gap_ms");
    assert_true(json_is_number(g) && json_number_value(g) == 2.5);
    json_decref(r);
    up_free(&u);
}

static void test_gap_sweep(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "sweep", NULL);
    json_t *r =
        dn_run(c->dir, u.port, "--trials", "7", "--requests", "2", "--gap-sweep", "0:30:10", NULL);
    for (long t = 0; t < 7; t++) {
        json_t *a = find_rec(r, t, 0, 0), *b = find_rec(r, t, 0, 1);
        long long want = (t % 4) * 10;
        assert_int_equal(rec_int(a, "gap_ms"), 0);
        assert_int_equal(rec_int(b, "gap_ms"), want);
        /* the trial's gap is on every record, the first request's too */
        assert_int_equal(rec_int(a, "reuse_gap_ms"), want);
        assert_int_equal(rec_int(b, "reuse_gap_ms"), want);
        assert_true(rec_int(b, "start_us") - rec_int(a, "end_us") >= want * 1000);
    }
    json_decref(r);
    r = dn_run(c->dir, u.port, "--trials", "3", "--requests", "2", "--gap-sweep", "0.5:1.5:0.5",
               NULL);
    for (long t = 0; t < 3; t++) {
        json_t *g = json_object_get(find_rec(r, t, 0, 1), "gap_ms");
        assert_true(json_number_value(g) == 0.5 * (double)(t + 1));
        for (long q = 0; q < 2; q++) {
            g = json_object_get(find_rec(r, t, 0, q), "reuse_gap_ms");
            assert_true(json_is_number(g) && json_number_value(g) == 0.5 * (double)(t + 1));
        }
    }
    json_decref(r);
    up_free(&u);
}

/* A trial whose first request fails has no reused request, so no record with the swept gap in
 * gap_ms; reuse_gap_ms still says which gap the trial was given (a sweep groups it by that). */
static void test_gap_sweep_first_request_fails(void **state)
{
    struct tsup_ctx *c = *state;
    /* a port nobody listens on: every first request is refused */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    json_t *r = dn_run(c->dir, ntohs(a.sin_port), "--trials", "5", "--conns", "2", "--requests",
                       "2", "--gap-sweep", "10:30:10", NULL);
    close(fd);
    assert_int_equal(json_array_size(r), 10);
    size_t i;
    json_t *o;
    json_array_foreach(r, i, o)
    {
        long long t = rec_int(o, "trial");
        assert_string_equal(rec_str(o, "outcome"), "connect-error");
        assert_int_equal(rec_int(o, "req"), 0);
        assert_int_equal(rec_int(o, "gap_ms"), 0);
        assert_int_equal(rec_int(o, "reuse_gap_ms"), 10 + (t % 3) * 10);
    }
    json_decref(r);
}

static void test_method_path_headers(void **state)
{
    struct tsup_ctx *c = *state;
    int port;
    int lfd = raw_listen(&port);
    struct dn d;
    dn_start(&d, c->dir, port, "--method", "PUT", "--path", "/x/y?z=1", "--header", "X-A: 1",
             "--header", "X-B: two words", "--connection", "close", NULL);
    char *got = raw_serve_one(lfd, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", true);
    json_t *r = dn_wait(&d);
    close(lfd);
    assert_string_equal(rec_str(json_array_get(r, 0), "outcome"), "201");
    assert_true(strncmp(got, "PUT /x/y?z=1 HTTP/1.1\r\n", 23) == 0);
    char *host = tsup_fmt("\r\nHost: 127.0.0.1:%d\r\n", port);
    assert_non_null(strstr(got, host));
    assert_non_null(strstr(got, "\r\nX-A: 1\r\n"));
    assert_non_null(strstr(got, "\r\nX-B: two words\r\n"));
    assert_non_null(strstr(got, "\r\nContent-Length: 0\r\n"));
    assert_non_null(strstr(got, "\r\nConnection: close\r\n"));
    free(host);
    free(got);
    json_decref(r);
}

static void test_connection_header_and_http10(void **state)
{
    struct tsup_ctx *c = *state;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    int port;
    int lfd = raw_listen(&port);
    struct dn d;
    dn_start(&d, c->dir, port, "--connection", "keep-alive", "--http10", NULL);
    char *got = raw_serve_one(lfd, ok, true);
    json_decref(dn_wait(&d));
    assert_true(strncmp(got, "GET / HTTP/1.0\r\n", 16) == 0);
    assert_non_null(strstr(got, "\r\nConnection: keep-alive\r\n"));
    free(got);
    dn_start(&d, c->dir, port, NULL);
    got = raw_serve_one(lfd, ok, true);
    json_decref(dn_wait(&d));
    assert_true(strncmp(got, "GET / HTTP/1.1\r\n", 16) == 0);
    assert_null(strstr(got, "Connection:"));
    free(got);
    close(lfd);

    /* the client honours what it asked for: no reuse after Connection: close or a plain
     * HTTP/1.0 request, reuse after HTTP/1.0 with keep-alive */
    struct up u;
    up_start(&u, c->dir, "conn", NULL);
    json_t *r = dn_run(c->dir, u.port, "--connection", "close", "--requests", "2", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 2);
    assert_int_equal(rec_count_int(r, "reused", 1), 0);
    assert_int_equal(rec_distinct(r, "lport"), 2);
    json_decref(r);
    r = dn_run(c->dir, u.port, "--http10", "--requests", "2", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 2);
    assert_int_equal(rec_count_int(r, "reused", 1), 0);
    json_decref(r);
    r = dn_run(c->dir, u.port, "--http10", "--connection", "keep-alive", "--requests", "2", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 2);
    assert_int_equal(rec_count_int(r, "reused", 1), 1);
    json_decref(r);
    up_free(&u);
}

static void test_body_uploads(void **state)
{
    struct tsup_ctx *c = *state;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    int port;
    int lfd = raw_listen(&port);
    struct dn d;
    dn_start(&d, c->dir, port, "--method", "POST", "--body-size", "5000", NULL);
    char *got = raw_serve_one(lfd, ok, true);
    json_t *r = dn_wait(&d);
    assert_int_equal(rec_int(json_array_get(r, 0), "body_sent"), 5000);
    json_decref(r);
    assert_non_null(strstr(got, "\r\nContent-Length: 5000\r\nX-Racelab-Trial: 0.0.0\r\n\r\n"));
    assert_int_equal(strlen(strstr(got, "\r\n\r\n") + 4), 5000);
    free(got);

    dn_start(&d, c->dir, port, "--method", "POST", "--body-size", "250", "--chunked",
             "--upload-chunk", "100", NULL);
    got = raw_serve_one(lfd, ok, true);
    r = dn_wait(&d);
    assert_int_equal(rec_int(json_array_get(r, 0), "body_sent"), 250);
    json_decref(r);
    assert_non_null(strstr(got, "\r\nTransfer-Encoding: chunked\r\n"));
    assert_null(strstr(got, "Content-Length"));
    const char *body = strstr(got, "\r\n\r\n") + 4;
    assert_true(strncmp(body, "64\r\n", 4) == 0);
    assert_non_null(strstr(body + 4, "\r\n64\r\n"));
    assert_non_null(strstr(body, "\r\n32\r\n"));
    assert_non_null(strstr(body, "\r\n0\r\n\r\n"));
    free(got);
    close(lfd);
}

/* A request goes in one write unless a flag asks for more: head, body and chunk framing in one
 * sendmsg. Checked where it lands: on loopback, with Nagle off (the client sets TCP_NODELAY),
 * each write of a small request is one segment, and the server counts the data segments it
 * received (TCP_INFO) once the whole request is queued - exact, no timing involved. A segment
 * reaches the receive queue whole, so after one write the head is never seen without its body.
 * The client's record counts its writes too. */
static void test_one_write_per_request(void **state)
{
    struct tsup_ctx *c = *state;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    static const struct {
        const char *args[8];
        size_t body_wire; /* the body's bytes on the wire, framing included */
        unsigned writes;
    } cases[] = {
        {{"--body-size", "100"}, 100, 1},
        {{"--body-size", "100", "--split-head"}, 100, 2},
        {{"--body-size", "100", "--upload-delay", "20"}, 100, 2},
        /* fa CRLF, 250 bytes, CRLF, 0 CRLF CRLF */
        {{"--body-size", "250", "--chunked"}, 4 + 250 + 2 + 5, 1},
        /* --upload-chunk: a write per 100 bytes, the head with the first, the last chunk with
         * the last: 64 CRLF 100 CRLF, twice, 32 CRLF 50 CRLF, 0 CRLF CRLF */
        {{"--body-size", "250", "--chunked", "--upload-chunk", "100"}, 2 * 106 + 56 + 5, 3},
        {{"--body-size", "250", "--chunked", "--upload-chunk", "100", "--split-head"},
         2 * 106 + 56 + 5,
         4},
        {{"--body-size", "250", "--upload-chunk", "100"}, 250, 3},
    };
    int port;
    int lfd = raw_listen(&port);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const *a = cases[i].args;
        struct dn d;
        dn_start(&d, c->dir, port, "--method", "POST", a[0], a[1], a[2], a[3], a[4], a[5], a[6],
                 a[7], NULL);
        struct raw_req q;
        raw_accept_request(lfd, cases[i].body_wire, &q);
        unsigned segs = tcp_data_segs_in(q.fd);
        size_t total = q.head_len + cases[i].body_wire;
        raw_answer(&q, ok);
        json_t *r = dn_wait(&d);
        json_t *o = json_array_get(r, 0);
        if (segs != cases[i].writes || rec_int(o, "writes") != cases[i].writes || q.queued != total)
            fail_msg("case %zu (%s %s %s %s): %u segments, %lld writes, %zu of %zu bytes, want "
                     "%u",
                     i, a[0], a[1], a[2] ? a[2] : "", a[3] ? a[3] : "", segs, rec_int(o, "writes"),
                     q.queued, total, cases[i].writes);
        if (cases[i].writes == 1)
            assert_int_equal(q.first_seen, total);
        assert_string_equal(rec_str(o, "outcome"), "200");
        assert_int_equal(rec_int(o, "sent"), (long long)total);
        json_decref(r);
    }
    close(lfd);
}

/* The order of a split request, by sequence: the server answers as soon as it has the head,
 * and a client that watches for a response between writes (--read-while-uploading) reads it
 * during --upload-delay's pause, before writing the body. The server saw the head alone, the
 * body was never written. The default client, watching the same way, wrote the body with the
 * head: the server never sees the head alone. */
static void test_split_head_order(void **state)
{
    struct tsup_ctx *c = *state;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    int port;
    int lfd = raw_listen(&port);
    struct dn d;
    dn_start(&d, c->dir, port, "--method", "POST", "--body-size", "100", "--upload-delay", "5000",
             "--read-while-uploading", NULL);
    struct raw_req q;
    raw_accept_request(lfd, 0, &q);
    assert_int_equal(q.first_seen, q.head_len);
    raw_answer(&q, ok);
    json_t *r = dn_wait(&d);
    json_t *o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "200");
    assert_int_equal(rec_int(o, "body_sent"), 0);
    assert_int_equal(rec_int(o, "writes"), 1);
    assert_true(rec_int(o, "end_us") - rec_int(o, "start_us") < 5000000);
    json_decref(r);

    dn_start(&d, c->dir, port, "--method", "POST", "--body-size", "100", "--read-while-uploading",
             NULL);
    raw_accept_request(lfd, 0, &q);
    assert_int_equal(q.first_seen, q.head_len + 100);
    raw_answer(&q, ok);
    r = dn_wait(&d);
    o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "200");
    assert_int_equal(rec_int(o, "body_sent"), 100);
    assert_int_equal(rec_int(o, "writes"), 1);
    json_decref(r);
    close(lfd);
}

/* Bytes in fd's receive queue after up to ms of waiting for at least want (peeked, not read). */
static size_t queued_after(int fd, size_t want, int ms)
{
    static char buf[65536];
    uint64_t end = now_us() + (uint64_t)ms * 1000;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        size_t got = n > 0 ? (size_t)n : 0;
        if (got >= want || now_us() >= end)
            return got;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 5);
    }
}

/* --upload-after-response: the body waits for the response (upload-after-fin's order, on a
 * loaded machine too). The server holds the head alone for 200 ms: nothing more comes, though
 * --upload-delay allows 5 s; it answers (keeping the socket open), and the body follows at once,
 * the response still unread while it went out. */
static void test_upload_after_response(void **state)
{
    struct tsup_ctx *c = *state;
    static const char forbidden[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    int port;
    int lfd = raw_listen(&port);
    struct dn d;
    dn_start(&d, c->dir, port, "--method", "POST", "--body-size", "100", "--upload-delay", "5000",
             "--upload-after-response", NULL);
    struct raw_req q;
    raw_accept_request(lfd, 0, &q);
    assert_int_equal(q.first_seen, q.head_len);
    assert_int_equal(queued_after(q.fd, q.head_len + 1, 200), q.head_len);
    uint64_t answered = now_us();
    assert_int_equal(send(q.fd, forbidden, sizeof(forbidden) - 1, MSG_NOSIGNAL),
                     (ssize_t)(sizeof(forbidden) - 1));
    assert_int_equal(queued_after(q.fd, q.head_len + 100, 4000), q.head_len + 100);
    assert_true(now_us() - answered < 4000000);
    raw_answer(&q, "");
    json_t *r = dn_wait(&d);
    json_t *o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "403");
    assert_int_equal(rec_int(o, "body_sent"), 100);
    json_decref(r);
    close(lfd);
}

static void test_upload_delay_and_pace(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "pace", NULL);
    json_t *r = dn_run(c->dir, u.port, "--method", "POST", "--body-size", "1000", "--upload-delay",
                       "300", NULL);
    json_t *o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "200");
    assert_true(rec_int(o, "end_us") - rec_int(o, "start_us") >= 300000);
    long long start_delay = rec_int(o, "start_us");
    json_decref(r);
    /* 5 writes of 100 bytes, 4 pauses of 100 ms */
    r = dn_run(c->dir, u.port, "--method", "POST", "--body-size", "500", "--upload-chunk", "100",
               "--upload-pace", "100", NULL);
    o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "200");
    assert_true(rec_int(o, "end_us") - rec_int(o, "start_us") >= 400000);
    long long start_pace = rec_int(o, "start_us");
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    /* the upstream had the whole body only that long after the client began the request */
    json_t *log = up_log(&u);
    json_t *req = rec_event(log, "request", 0);
    assert_int_equal(rec_int(req, "body"), 1000);
    assert_true(rec_int(req, "ts_us") - start_delay >= 300000);
    assert_true(rec_int(req, "ts_us") >= rec_int(req, "head_us"));
    req = rec_event(log, "request", 1);
    assert_int_equal(rec_int(req, "body"), 500);
    assert_true(rec_int(req, "ts_us") - start_pace >= 400000);
    json_decref(log);
    up_free(&u);
}

/* The server answers 413 at once but keeps the socket open (unread body) for 300 ms: the
 * careful client reads the 413 while uploading; the default one keeps writing into the full
 * window until the close's RST. */
static void test_read_while_uploading(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "rwu", "--answer-early", "--status", "413", "--delay-close", "300", NULL);
    json_t *r =
        dn_run(c->dir, u.port, "--trials", "3", "--method", "POST", "--body-size", "16m", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "reset"), 3);
    assert_int_equal(rec_count_str(r, "phase", "write"), 3);
    json_decref(r);
    r = dn_run(c->dir, u.port, "--trials", "3", "--method", "POST", "--body-size", "16m",
               "--read-while-uploading", NULL);
    if (rec_count_str(r, "outcome", "413") != 3)
        rec_dump(r, "read-while-uploading");
    assert_int_equal(rec_count_str(r, "outcome", "413"), 3);
    assert_int_equal(rec_count_str(r, "write_errno", NULL), 0);
    size_t i;
    json_t *o;
    json_array_foreach(r, i, o)
    {
        assert_true(rec_int(o, "body_sent") < (16L << 20));
    }
    json_decref(r);
    up_free(&u);
}

/* The client's own idle timeout closes the connection before the gap ends: the next request
 * goes on a new connection. */
static void test_client_idle_timeout(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "cidle", NULL);
    json_t *r =
        dn_run(c->dir, u.port, "--requests", "2", "--gap", "300", "--idle-timeout", "100", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 2);
    assert_int_equal(rec_int(find_rec(r, 0, 0, 1), "reused"), 0);
    assert_int_equal(rec_distinct(r, "lport"), 2);
    json_decref(r);
    r = dn_run(c->dir, u.port, "--requests", "2", "--gap", "100", "--idle-timeout", "5000", NULL);
    assert_int_equal(rec_int(find_rec(r, 0, 0, 1), "reused"), 1);
    assert_int_equal(rec_distinct(r, "lport"), 1);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "event", "accept"), 3);
    assert_int_equal(rec_count_str(log, "why", "peer-eof"), 3);
    json_decref(log);
    up_free(&u);
}

static void test_check_before_reuse_keeps_live_connections(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "live", NULL);
    json_t *r = dn_run(c->dir, u.port, "--requests", "3", "--check-before-reuse", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 3);
    assert_int_equal(rec_count_int(r, "reused", 1), 2);
    json_decref(r);
    up_free(&u);
}

static void test_timeouts(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "slow", "--delay-response", "3000", NULL);
    json_t *r = dn_run(c->dir, u.port, "--timeout", "300", NULL);
    json_t *o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "timeout");
    assert_string_equal(rec_str(o, "phase"), "read");
    assert_true(rec_int(o, "end_us") - rec_int(o, "start_us") >= 300000);
    json_decref(r);
    up_free(&u);

    /* a server that reads nothing: the upload itself times out */
    up_start(&u, c->dir, "deaf", "--answer-early", "--delay-response", "3000", NULL);
    r = dn_run(c->dir, u.port, "--timeout", "300", "--method", "POST", "--body-size", "16m", NULL);
    o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "timeout");
    assert_string_equal(rec_str(o, "phase"), "write");
    json_decref(r);
    up_free(&u);
}

/* A connection's requests after a failure. The server closes after every response without
 * saying so, its FIN in the response's segment (fin-with-data): every reused request fails, on
 * every trial. With stop (the default) the connection ends there; with reconnect the next
 * request opens a new connection and the sequence goes on: 200, fail, 200, fail. */
static void test_on_failure(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    up_start(&u, c->dir, "onfail", "--close-after", "1", "--close-how", "fin-with-data", NULL);
    json_t *r = dn_run(c->dir, u.port, "--trials", "3", "--requests", "4", "--gap", "20", NULL);
    if (json_array_size(r) != 6)
        rec_dump(r, "on-failure stop");
    assert_int_equal(json_array_size(r), 6);
    for (long t = 0; t < 3; t++) {
        json_t *a = find_rec(r, t, 0, 0), *b = find_rec(r, t, 0, 1);
        assert_string_equal(rec_str(a, "outcome"), "200");
        assert_true(strcmp(rec_str(b, "outcome"), "empty") == 0 ||
                    strcmp(rec_str(b, "outcome"), "reset") == 0);
        assert_int_equal(rec_int(b, "reused"), 1);
        assert_int_equal(rec_int(b, "lport"), rec_int(a, "lport"));
    }
    assert_int_equal(rec_count_int(r, "reconnected", 1), 0);
    json_decref(r);

    r = dn_run(c->dir, u.port, "--trials", "3", "--requests", "4", "--gap", "20", "--on-failure",
               "reconnect", NULL);
    if (json_array_size(r) != 12)
        rec_dump(r, "on-failure reconnect");
    assert_int_equal(json_array_size(r), 12);
    for (long t = 0; t < 3; t++) {
        json_t *q[4];
        for (long k = 0; k < 4; k++)
            q[k] = find_rec(r, t, 0, k);
        for (long k = 0; k < 4; k += 2) {
            /* a new connection: the first, or the one after the failure */
            assert_string_equal(rec_str(q[k], "outcome"), "200");
            assert_int_equal(rec_int(q[k], "reused"), 0);
            assert_int_equal(rec_int(q[k], "reconnected"), k > 0);
            /* reused, and failed: the server had closed it */
            assert_true(strcmp(rec_str(q[k + 1], "outcome"), "empty") == 0 ||
                        strcmp(rec_str(q[k + 1], "outcome"), "reset") == 0);
            assert_int_equal(rec_int(q[k + 1], "reused"), 1);
            assert_int_equal(rec_int(q[k + 1], "reconnected"), 0);
            assert_int_equal(rec_int(q[k + 1], "lport"), rec_int(q[k], "lport"));
            assert_int_equal(rec_int(q[k + 1], "gap_ms"), 20);
        }
        assert_int_not_equal(rec_int(q[2], "lport"), rec_int(q[0], "lport"));
        assert_int_equal(rec_int(q[2], "gap_ms"), 20);
        assert_true(rec_int(q[2], "start_us") - rec_int(q[1], "end_us") >= 20000);
    }
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    json_t *log = up_log(&u);
    assert_int_equal(rec_count_str(log, "event", "accept"), 3 + 6);
    assert_int_equal(rec_count_str(log, "event", "request"), 3 + 6);
    json_decref(log);
    up_free(&u);

    /* a failed connect is a failure too: each request tries a new connection */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    r = dn_run(c->dir, ntohs(a.sin_port), "--requests", "3", "--on-failure", "reconnect", NULL);
    close(fd);
    assert_int_equal(json_array_size(r), 3);
    assert_int_equal(rec_count_str(r, "outcome", "connect-error"), 3);
    assert_int_equal(rec_count_int(r, "reconnected", 1), 2);
    assert_int_equal(rec_int(find_rec(r, 0, 0, 0), "reconnected"), 0);
    json_decref(r);
}

/* The connections waiting in the accept queue of listener lfd, and its backlog: TCP_INFO of a
 * listening socket gives both (tcpi_unacked, tcpi_sacked), as ss shows them. */
static void accept_queue(int lfd, unsigned *queued, unsigned *backlog)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    assert_int_equal(getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    assert_int_equal(ti.tcpi_state, TCP_LISTEN);
    *queued = ti.tcpi_unacked;
    *backlog = ti.tcpi_sacked;
}

static void test_connect_errors(void **state)
{
    struct tsup_ctx *c = *state;
    /* a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    json_t *r = dn_run(c->dir, ntohs(a.sin_port), "--trials", "2", "--requests", "3", NULL);
    close(fd);
    assert_int_equal(json_array_size(r), 2);
    assert_int_equal(rec_count_str(r, "outcome", "connect-error"), 2);
    assert_int_equal(rec_count_str(r, "errno", "ECONNREFUSED"), 2);
    assert_int_equal(rec_count_str(r, "phase", "connect"), 2);
    json_decref(r);

    /* a listener whose accept queue is full drops the SYN: the connect times out. The queue is
     * filled one connection at a time, each waited for until it is queued, until it holds more
     * than the backlog (the kernel's test before it drops a SYN); nothing accepts them. */
    int port;
    int lfd = raw_listen(&port);
    assert_int_equal(listen(lfd, 0), 0);
    int fill[8];
    int nfill = 0;
    unsigned queued, backlog;
    a.sin_port = htons((uint16_t)port);
    for (accept_queue(lfd, &queued, &backlog); queued <= backlog;) {
        assert_true(nfill < 8);
        fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fill[nfill] >= 0);
        (void)!connect(fill[nfill], (struct sockaddr *)&a, sizeof(a));
        nfill++;
        uint64_t deadline = clk_mono_us() + 10000000u;
        for (accept_queue(lfd, &queued, &backlog); queued < (unsigned)nfill;
             accept_queue(lfd, &queued, &backlog)) {
            if (clk_mono_us() > deadline)
                fail_msg("connection %d not queued on the listener within 10 s", nfill);
            usleep(1000);
        }
    }
    r = dn_run(c->dir, port, "--connect-timeout", "200", NULL);
    json_t *o = json_array_get(r, 0);
    assert_string_equal(rec_str(o, "outcome"), "connect-error");
    assert_string_equal(rec_str(o, "errno"), "ETIMEDOUT");
    assert_true(rec_int(o, "end_us") - rec_int(o, "start_us") >= 200000);
    json_decref(r);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(lfd);
}

/* The outcome classification against servers that misbehave on purpose. */
static void test_outcome_classes(void **state)
{
    struct tsup_ctx *c = *state;
    struct {
        const char *resp;
        const char *outcome;
        int status;
    } cases[] = {
        {"", "empty", 0},
        {"HTTP/1.1 200 OK\r\nContent-Le", "partial", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", "partial", 200},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "partial", 200},
        {"HTTP/1.1 200 OK\r\n\r\nclose-delimited", "200", 200},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", "503", 503},
        {"SSH-2.0-OpenSSH\r\n\r\n", "partial", 0},
    };
    int port;
    int lfd = raw_listen(&port);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dn d;
        dn_start(&d, c->dir, port, NULL);
        free(raw_serve_one(lfd, cases[i].resp, false));
        json_t *r = dn_wait(&d);
        json_t *o = json_array_get(r, 0);
        if (strcmp(rec_str(o, "outcome"), cases[i].outcome) != 0)
            fail_msg("case %zu: outcome %s, want %s", i, rec_str(o, "outcome"), cases[i].outcome);
        assert_int_equal(rec_int(o, "status"), cases[i].status);
        assert_int_equal(rec_int(o, "received"), strlen(cases[i].resp));
        json_decref(r);
    }
    close(lfd);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tsup_ctx_setup, tsup_ctx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_trials_conns_requests),
        T(test_conns_and_parallel),
        T(test_trial_gap),
        T(test_gap),
        T(test_gap_sweep),
        T(test_gap_sweep_first_request_fails),
        T(test_method_path_headers),
        T(test_trial_tag),
        T(test_connection_header_and_http10),
        T(test_body_uploads),
        T(test_one_write_per_request),
        T(test_split_head_order),
        T(test_upload_after_response),
        T(test_upload_delay_and_pace),
        T(test_read_while_uploading),
        T(test_client_idle_timeout),
        T(test_check_before_reuse_keeps_live_connections),
        T(test_on_failure),
        T(test_timeouts),
        T(test_connect_errors),
        T(test_outcome_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
