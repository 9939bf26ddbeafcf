/* The pure parts of racelab-proxy: the retry policy and Envoy's jittered back-off bounds, the
 * close decision table (Envoy's delayed close and skip-delay-close conditions, nginx's lingering
 * close), and the message glue on top of lib/h1 (heads both ways, local replies, re-framing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_close.h"
#include "px_msg.h"
#include "px_retry.h"

static void cfg_default(struct px_cfg *c)
{
    px_cfg_defaults(c);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    /* [0, (2^n - 1) * base), capped at 10 * base; every residue is reachable */
    const long base = 25;
    for (int n = 1; n <= 12; n++) {
        uint64_t bound = ((n < 20) ? (((uint64_t)1 << n) - 1) : 1000) * (uint64_t)base;
        if (bound > 10 * (uint64_t)base)
            bound = 10 * (uint64_t)base;
        uint64_t max = 0;
        for (uint64_t r = 0; r < 3 * bound; r++) {
            uint64_t ms = px_retry_backoff_ms(base, n, r);
            assert_true(ms < bound);
            if (ms > max)
                max = ms;
        }
        assert_int_equal(max, bound - 1);
        assert_true(px_retry_backoff_ms(base, n, UINT64_MAX) < bound);
    }
    /* base 0: no back-off at all, the next try at once (nginx's and HAProxy's retries) */
    for (int n = 1; n <= 4; n++)
        assert_int_equal(px_retry_backoff_ms(0, n, UINT64_MAX / 3), 0);
    /* Istio's fix for istio#13848: base 10 ms, first retry within [0, 10) */
    for (uint64_t r = 0; r < 1000; r++)
        assert_true(px_retry_backoff_ms(10, 1, r * 7919) < 10);
}

static enum px_retry_verdict decide(unsigned on, enum px_fail fail, bool sent, bool idem,
                                    bool idem_only, int done)
{
    struct px_cfg c;
    cfg_default(&c);
    c.retry_on = on;
    c.num_retries = 2;
    c.retry_idempotent_only = idem_only;
    struct px_retry_facts f = {
        .fail = fail,
        .request_sent = sent,
        .idempotent = idem,
        .replayable = true,
        .response_started = false,
        .retries_done = done,
    };
    return px_retry_decide(&c, &f);
}

static void test_retry_policy(void **state)
{
    (void)state;
    /* no policy: nothing is retried */
    assert_int_equal(decide(0, PX_FAIL_RESET, true, true, false, 0), PX_RETRY_NO);
    /* reset covers a reused connection's RST after the request went out */
    assert_int_equal(decide(PX_RETRY_RESET, PX_FAIL_RESET, true, true, false, 0), PX_RETRY_YES);
    assert_int_equal(decide(PX_RETRY_RESET, PX_FAIL_CONNECT, false, true, false, 0), PX_RETRY_YES);
    /* reset-before-request does not, once the request was handed to the codec */
    assert_int_equal(decide(PX_RETRY_RESET_BEFORE_REQUEST, PX_FAIL_RESET, true, true, false, 0),
                     PX_RETRY_NO);
    assert_int_equal(decide(PX_RETRY_RESET_BEFORE_REQUEST, PX_FAIL_RESET, false, true, false, 0),
                     PX_RETRY_YES);
    assert_int_equal(decide(PX_RETRY_RESET_BEFORE_REQUEST, PX_FAIL_CONNECT, false, true, false, 0),
                     PX_RETRY_YES);
    /* connect-failure covers only connect failures */
    assert_int_equal(decide(PX_RETRY_CONNECT_FAILURE, PX_FAIL_RESET, true, true, false, 0),
                     PX_RETRY_NO);
    assert_int_equal(decide(PX_RETRY_CONNECT_FAILURE, PX_FAIL_CONNECT, false, true, false, 0),
                     PX_RETRY_YES);
    /* 5xx covers responses, resets and connect failures */
    assert_int_equal(decide(PX_RETRY_5XX, PX_FAIL_5XX, true, true, false, 0), PX_RETRY_YES);
    assert_int_equal(decide(PX_RETRY_5XX, PX_FAIL_RESET, true, true, false, 0), PX_RETRY_YES);
    assert_int_equal(decide(PX_RETRY_RESET, PX_FAIL_5XX, true, true, false, 0), PX_RETRY_NO);
    /* limit reached: URX */
    assert_int_equal(decide(PX_RETRY_RESET, PX_FAIL_RESET, true, true, false, 2),
                     PX_RETRY_EXHAUSTED);
    /* nginx: a POST already sent is not retried; one that never left is */
    assert_int_equal(decide(PX_RETRY_RESET, PX_FAIL_RESET, true, false, true, 0), PX_RETRY_NO);
    assert_int_equal(decide(PX_RETRY_RESET, PX_FAIL_RESET, true, false, false, 0), PX_RETRY_YES);
    assert_int_equal(decide(PX_RETRY_RESET, PX_FAIL_CONNECT, false, false, true, 0), PX_RETRY_YES);
    /* nothing to replay, or the response already went downstream */
    struct px_cfg c;
    cfg_default(&c);
    c.retry_on = PX_RETRY_RESET;
    struct px_retry_facts f = {
        .fail = PX_FAIL_RESET, .request_sent = true, .idempotent = true, .replayable = false};
    assert_int_equal(px_retry_decide(&c, &f), PX_RETRY_NO);
    f.replayable = true;
    f.response_started = true;
    assert_int_equal(px_retry_decide(&c, &f), PX_RETRY_NO);
}

static enum px_close_kind close_kind(long delayed, bool skip, bool linger, struct px_close_facts f)
{
    struct px_cfg c;
    cfg_default(&c);
    c.delayed_close_timeout_ms = delayed;
    c.skip_delay_close = skip;
    c.lingering_close = linger;
    return px_close_decide(&c, &f);
}

static void test_close_decision(void **state)
{
    (void)state;
    struct px_close_facts early = {
        .after_response = true, .request_complete = false, .unread_input = true};
    struct px_close_facts full = {.after_response = true, .request_complete = true};
    struct px_close_facts http10 = {
        .after_response = true, .request_complete = false, .http10_sans_cl = true};
    struct px_close_facts bad = {
        .protocol_error = true, .after_response = true, .request_complete = true};
    struct px_close_facts idle = {.request_complete = true};
    struct px_close_facts fresh = {.request_complete = true, .never_requested = true};

    /* an early 413 with the body unread: delayed (Envoy), lingering (nginx), or plain close */
    assert_int_equal(close_kind(1000, true, false, early), PX_CLOSE_DELAY);
    assert_int_equal(close_kind(1000, false, false, early), PX_CLOSE_DELAY);
    assert_int_equal(close_kind(0, true, false, early), PX_CLOSE_FLUSH);
    assert_int_equal(close_kind(0, true, true, early), PX_CLOSE_LINGER);
    /* skip-delay-close: the request was fully read, or the response is framed by the close */
    assert_int_equal(close_kind(1000, true, false, full), PX_CLOSE_FLUSH);
    assert_int_equal(close_kind(1000, false, false, full), PX_CLOSE_DELAY);
    assert_int_equal(close_kind(1000, true, false, http10), PX_CLOSE_FLUSH);
    assert_int_equal(close_kind(1000, false, false, http10), PX_CLOSE_DELAY);
    /* protocol errors always delay */
    assert_int_equal(close_kind(1000, true, false, bad), PX_CLOSE_DELAY);
    assert_int_equal(close_kind(0, true, false, bad), PX_CLOSE_FLUSH);
    assert_int_equal(close_kind(0, false, true, bad), PX_CLOSE_LINGER);
    /* a drain close of an idle connection is not after a response: delayed */
    assert_int_equal(close_kind(1000, true, false, idle), PX_CLOSE_DELAY);
    assert_int_equal(close_kind(0, true, true, idle), PX_CLOSE_FLUSH);
    /* a connection that never sent a request: FlushWrite */
    assert_int_equal(close_kind(1000, true, false, fresh), PX_CLOSE_FLUSH);
    /* nginx lingers only when more may come */
    assert_int_equal(close_kind(0, false, true, full), PX_CLOSE_FLUSH);
}

static char *drain_all(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static void test_request_head(void **state)
{
    (void)state;
    const char *in = "POST /up?x=1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n"
                     "Keep-Alive: timeout=5\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
                     "TE: trailers\r\nX-A: b\r\n\r\nabc";
    struct h1_msg m;
    int rc = h1_parse_request(in, strlen(in), &m);
    assert_true(rc > 0);
    struct evbuffer *b = evbuffer_new();
    px_msg_request_head(b, &m, true, "up:9");
    char *s = drain_all(b);
    assert_string_equal(s,
                        "POST /up?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-A: b\r\n\r\n");
    free(s);
    px_msg_request_head(b, &m, false, "up:9");
    s = drain_all(b);
    assert_non_null(strstr(s, "Expect: 100-continue\r\n"));
    assert_null(strstr(s, "onnection"));
    free(s);
    /* headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1), in any of its lines */
    const char *nom = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Foo\r\nX-Foo: 1\r\n"
                      "X-Bar: 2\r\nconnection: x-baz\r\nX-Baz: 3\r\nX-Foo-2: 4\r\n\r\n";
    assert_true(h1_parse_request(nom, strlen(nom), &m) > 0);
    px_msg_request_head(b, &m, false, "up:9");
    s = drain_all(b);
    assert_string_equal(s, "GET / HTTP/1.1\r\nHost: a\r\nX-Bar: 2\r\nX-Foo-2: 4\r\n\r\n");
    free(s);
    /* framing in one spelling: one Content-Length in decimal, chunked in lower case */
    const char *cl =
        "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 007\r\nContent-Length: 7\r\n\r\n";
    assert_true(h1_parse_request(cl, strlen(cl), &m) > 0);
    px_msg_request_head(b, &m, false, "up:9");
    s = drain_all(b);
    assert_string_equal(s, "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 7\r\n\r\n");
    free(s);
    const char *te = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-a;q=\"B\" ,,\tGZIP\r\n"
                     "transfer-encoding: CHUNKED\r\n\r\n";
    assert_true(h1_parse_request(te, strlen(te), &m) > 0);
    px_msg_request_head(b, &m, false, "up:9");
    s = drain_all(b);
    assert_string_equal(s, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-a;q=\"B\", GZIP\r\n"
                           "transfer-encoding: chunked\r\n\r\n");
    free(s);
    /* HTTP/1.0 without Host: the HTTP/1.1 request upstream names the upstream */
    const char *in10 = "GET /x HTTP/1.0\r\nX-A: b\r\n\r\n";
    assert_true(h1_parse_request(in10, strlen(in10), &m) > 0);
    px_msg_request_head(b, &m, false, "up:9");
    s = drain_all(b);
    assert_string_equal(s, "GET /x HTTP/1.1\r\nHost: up:9\r\nX-A: b\r\n\r\n");
    free(s);
    evbuffer_free(b);
}

struct refusal {
    const char *req;
    const char *why; /* NULL: forwarded */
};

static const struct refusal refusals[] = {
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", NULL},
    {"GET / HTTP/1.1\r\nHost: a.b-c_d~e%41:8080\r\n\r\n", NULL},
    {"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", NULL},
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", NULL}, /* empty: a target without authority */
    {"GET / HTTP/1.0\r\n\r\n", NULL},          /* HTTP/1.0 may omit it */
    {"GET / HTTP/1.1\r\n\r\n", "missing_host_header"},
    {"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", "missing_host_header"},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "duplicate_host_header"},
    {"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", "duplicate_host_header"},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "invalid_host_header"},
    {"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", "invalid_host_header"},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "invalid_host_header"},
    {"GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", "invalid_host_header"},
    {"GET / HTTP/1.0\r\nHost: a\"b\r\n\r\n", "invalid_host_header"},
    /* names that become a framing header when '_' is read as '-' (CGI, WSGI, PHP) */
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n",
     "http1.unexpected_underscore"},
    {"POST / HTTP/1.1\r\nHost: a\r\ncontent_length: 5\r\n\r\n", "http1.unexpected_underscore"},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\nContent-Length: 0\r\n\r\n",
     "http1.unexpected_underscore"},
    {"GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: b\r\n\r\n", NULL},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent_Length_X: 1\r\n\r\n", NULL},
    /* Connection naming a header the proxy cannot drop without changing the message */
    {"POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 1\r\n\r\n",
     "connection_header_names_framing"},
    {"POST / HTTP/1.1\r\nHost: a\r\nConnection: close, transfer-encoding\r\n\r\n",
     "connection_header_names_framing"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: HOST\r\n\r\n",
     "connection_header_names_framing"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Host\r\n\r\n", NULL},
};

static void test_request_refusal(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        struct h1_msg m;
        assert_true(h1_parse_request(refusals[i].req, strlen(refusals[i].req), &m) > 0);
        const char *why = px_msg_request_refusal(&m);
        const char *want = refusals[i].why;
        if ((why == NULL) != (want == NULL) || (why && strcmp(why, want) != 0))
            fail_msg("refusal #%zu: %s, want %s", i, why ? why : "none", want ? want : "none");
    }
}

static void test_response_head(void **state)
{
    (void)state;
    const char *in = "HTTP/1.1 200 Fine\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
                     "X-B: c\r\n\r\n";
    struct h1_msg m;
    assert_true(h1_parse_response(in, strlen(in), &m) > 0);
    struct evbuffer *b = evbuffer_new();
    struct px_resp_head h = {.minor = 1, .close = false, .reframe = PX_REFRAME_NONE};
    px_msg_response_head(b, &m, &h);
    char *s = drain_all(b);
    /* the upstream's Connection: close is not passed on */
    assert_string_equal(s, "HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\nX-B: c\r\n\r\n");
    free(s);
    /* nor the headers it names, except the framing the proxy relays the body by */
    const char *nom = "HTTP/1.1 200 OK\r\nConnection: close, X-Internal, Content-Length\r\n"
                      "X-Internal: s\r\nContent-Length: 0\r\n\r\n";
    struct h1_msg mn;
    assert_true(h1_parse_response(nom, strlen(nom), &mn) > 0);
    px_msg_response_head(b, &mn, &h);
    s = drain_all(b);
    assert_string_equal(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    free(s);
    struct px_resp_head h10 = {.minor = 0, .close = true, .reframe = PX_REFRAME_DECHUNK};
    px_msg_response_head(b, &m, &h10);
    s = drain_all(b);
    assert_string_equal(s, "HTTP/1.0 200 Fine\r\nX-B: c\r\n\r\n");
    free(s);

    const char *in10 = "HTTP/1.0 200 OK\r\nX-C: d\r\n\r\n";
    assert_true(h1_parse_response(in10, strlen(in10), &m) > 0);
    struct px_resp_head hc = {.minor = 1, .close = true, .reframe = PX_REFRAME_CHUNK};
    px_msg_response_head(b, &m, &hc);
    s = drain_all(b);
    assert_string_equal(s, "HTTP/1.1 200 OK\r\nX-C: d\r\ntransfer-encoding: chunked\r\n"
                           "connection: close\r\n\r\n");
    free(s);
    struct px_resp_head hk = {.minor = 0, .close = false, .reframe = PX_REFRAME_NONE};
    px_msg_response_head(b, &m, &hk);
    s = drain_all(b);
    assert_string_equal(s, "HTTP/1.0 200 OK\r\nX-C: d\r\nconnection: keep-alive\r\n\r\n");
    free(s);
    evbuffer_free(b);
}

static void test_local_reply(void **state)
{
    (void)state;
    struct evbuffer *b = evbuffer_new();
    px_msg_local_reply(b, 1, 503, PX_503_PREFIX "reset reason: connection termination", false,
                       false);
    char *s = drain_all(b);
    assert_string_equal(s, "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 95\r\n"
                           "content-type: text/plain\r\n\r\n"
                           "upstream connect error or disconnect/reset before headers. "
                           "reset reason: connection termination");
    /* the reply parses as a complete response */
    struct h1_msg m;
    int hl = h1_parse_response(s, strlen(s), &m);
    assert_true(hl > 0);
    assert_int_equal(m.content_length, (int64_t)(strlen(s) - (size_t)hl));
    free(s);
    px_msg_local_reply(b, 0, 413, "Payload Too Large", true, true);
    s = drain_all(b);
    assert_string_equal(s, "HTTP/1.0 413 Payload Too Large\r\ncontent-length: 17\r\n"
                           "content-type: text/plain\r\n\r\n");
    free(s);
    evbuffer_free(b);
}

/* Re-framing both ways, with the input split at every position (two evbuffer chains). */
static void test_reframe_every_split(void **state)
{
    (void)state;
    const char *chunked = "5;ext=1\r\nhello\r\n1\r\n \r\nc\r\nworld, again\r\n0\r\nT: x\r\n\r\n";
    const char *payload = "hello world, again";
    size_t cl = strlen(chunked);
    for (size_t split = 0; split <= cl; split++) {
        struct h1_body b = {.kind = H1_BODY_CHUNKED};
        struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
        evbuffer_add(in, chunked, split);
        struct evbuffer *tail = evbuffer_new();
        evbuffer_add(tail, chunked + split, cl - split);
        evbuffer_add_buffer(in, tail);
        evbuffer_free(tail);

        struct h1_body span = {.kind = H1_BODY_CHUNKED};
        assert_int_equal(px_msg_body_span(&span, in), (long)cl);
        assert_true(span.done);
        assert_int_equal(px_msg_dechunk(&b, in, cl, out), 0);
        assert_true(b.done);
        char *s = drain_all(out);
        assert_string_equal(s, payload);
        free(s);
        evbuffer_free(in);
        evbuffer_free(out);
    }
    /* the body span stops where the next message starts */
    struct evbuffer *in = evbuffer_new();
    evbuffer_add_printf(in, "%sHTTP/1.1 200 OK\r\n", chunked);
    struct h1_body span = {.kind = H1_BODY_CHUNKED};
    assert_int_equal(px_msg_body_span(&span, in), (long)cl);
    evbuffer_drain(in, evbuffer_get_length(in));
    evbuffer_add(in, "zz\r\n", 4);
    struct h1_body badb = {.kind = H1_BODY_CHUNKED};
    assert_int_equal(px_msg_body_span(&badb, in), -1);

    /* close-delimited to chunked */
    struct evbuffer *out = evbuffer_new();
    evbuffer_drain(in, evbuffer_get_length(in));
    evbuffer_add(in, "abcdefghij", 10);
    px_msg_chunk(out, in, 4);
    px_msg_chunk(out, in, 6);
    px_msg_last_chunk(out);
    char *s = drain_all(out);
    assert_string_equal(s, "4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n");
    free(s);
    evbuffer_free(in);
    evbuffer_free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bounds),  cmocka_unit_test(test_retry_policy),
        cmocka_unit_test(test_close_decision),  cmocka_unit_test(test_request_head),
        cmocka_unit_test(test_request_refusal), cmocka_unit_test(test_response_head),
        cmocka_unit_test(test_local_reply),     cmocka_unit_test(test_reframe_every_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
