/* Unit tests of lib/h1: head parsing (every prefix incomplete, the whole head parsed), body
 * framing (Content-Length, chunked split at every byte, close-delimited), and rejection of the
 * malformed and ambiguous input a proxy must refuse. Input sits at the very end of a page
 * followed by an inaccessible page, so a read past the given length crashes the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "h1.h"

/* Copies s so that its last byte is the last byte before a PROT_NONE page. */
struct guard {
    char *map;
    size_t maplen;
    char *p;
};

static char *guarded(struct guard *g, const char *s, size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (n + pg - 1) / pg + 1;
    g->maplen = (pages + 1) * pg;
    g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->map != MAP_FAILED);
    assert_int_equal(mprotect(g->map + pages * pg, pg, PROT_NONE), 0);
    g->p = g->map + pages * pg - n;
    memcpy(g->p, s, n);
    return g->p;
}

static void unguard(struct guard *g)
{
    munmap(g->map, g->maplen);
}

static int parse(bool request, const char *s, size_t n, struct h1_msg *m)
{
    struct guard g;
    char *p = guarded(&g, s, n);
    int r = request ? h1_parse_request(p, n, m) : h1_parse_response(p, n, m);
    unguard(&g);
    return r;
}

struct sample {
    const char *name;
    bool request;
    const char *msg;
    size_t head_len; /* filled by the test from the first empty line */
    enum h1_body_kind kind;
    const char *payload; /* body payload without framing */
    bool keep_alive;
    int minor;
};

static struct sample samples[] = {
    {"get", true, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, H1_BODY_NONE, "", true, 1},
    {"get-lf-only", true, "GET /x?y=1 HTTP/1.1\nHost: a\n\n", 0, H1_BODY_NONE, "", true, 1},
    {"get-10", true, "GET / HTTP/1.0\r\n\r\n", 0, H1_BODY_NONE, "", false, 0},
    {"get-after-empty-lines", true, "\r\n\n\r\nGET /e HTTP/1.1\r\nHost: a\r\n\r\n", 0, H1_BODY_NONE,
     "", true, 1},
    {"get-10-keep-alive", true, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, H1_BODY_NONE,
     "", true, 0},
    {"post-length", true,
     "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
     0, H1_BODY_LENGTH, "hello world", false, 1},
    {"post-chunked", true,
     "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5;name=value\r\nhello\r\n1 ; x\r\n \r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n",
     0, H1_BODY_CHUNKED, "hello 0123456789", true, 1},
    {"resp-length", false, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: t\r\n\r\nabc", 0,
     H1_BODY_LENGTH, "abc", true, 1},
    {"resp-chunked", false,
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
     "3;a=\"b\"\r\nabc\r\n00002\r\nde\r\n0;last\r\nTrailer-A: x\r\n\r\n",
     0, H1_BODY_CHUNKED, "abcde", true, 1},
    {"resp-close", false, "HTTP/1.0 200 OK\r\nServer: t\r\n\r\nuntil the end", 0, H1_BODY_CLOSE,
     "until the end", false, 0},
    {"resp-11-close", false, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil EOF", 0,
     H1_BODY_CLOSE, "until EOF", false, 1},
    {"resp-204", false, "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 0, H1_BODY_NONE, "",
     true, 1},
    {"resp-413-no-reason", false, "HTTP/1.1 413\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
     0, H1_BODY_NONE, "", false, 1},
};

static size_t head_len_of(const char *msg)
{
    size_t skip = strspn(msg, "\r\n"); /* empty lines before a request line */
    const char *a = strstr(msg + skip, "\r\n\r\n");
    const char *b = strstr(msg + skip, "\n\n");
    if (a && (!b || a < b))
        return (size_t)(a - msg) + 4;
    return (size_t)(b - msg) + 2;
}

static void init_body(const struct sample *s, const struct h1_msg *m, struct h1_body *b)
{
    if (s->request)
        h1_body_init_request(b, m);
    else
        h1_body_init_response(b, m, false);
}

/* Feeds body bytes in pieces that end at the given cut points; returns consumed bytes. */
static size_t feed(struct h1_body *b, const char *body, size_t n, const size_t *cuts, size_t ncuts)
{
    size_t off = 0, total = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        if (end < off)
            continue;
        struct guard g;
        char *p = guarded(&g, body + off, end - off);
        long k = h1_body_consume(b, p, end - off);
        unguard(&g);
        assert_true(k >= 0);
        total += (size_t)k;
        if (i < ncuts && b->kind != H1_BODY_CLOSE && end < n)
            assert_false(b->done);
        off = end;
    }
    return total;
}

static void test_every_prefix_incomplete(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        struct sample *s = &samples[i];
        size_t hl = head_len_of(s->msg);
        struct h1_msg m;
        for (size_t n = 0; n < hl; n++) {
            int r = parse(s->request, s->msg, n, &m);
            if (r != H1_INCOMPLETE)
                fail_msg("%s: prefix of %zu bytes gave %d", s->name, n, r);
        }
        int r = parse(s->request, s->msg, strlen(s->msg), &m);
        if (r != (int)hl)
            fail_msg("%s: whole message gave %d, head is %zu", s->name, r, hl);
        assert_int_equal(m.minor, s->minor);
        assert_int_equal(h1_keep_alive(&m), s->keep_alive);
    }
}

static void test_body_framing_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        struct sample *s = &samples[i];
        size_t hl = head_len_of(s->msg);
        const char *body = s->msg + hl;
        size_t n = strlen(body);
        struct h1_msg m;
        assert_int_equal(parse(s->request, s->msg, strlen(s->msg), &m), (int)hl);
        struct h1_body b;
        init_body(s, &m, &b);
        if (b.kind != s->kind)
            fail_msg("%s: body kind %s", s->name, h1_body_kind_name(b.kind));

        /* whole, then split at every position, then one byte at a time */
        for (size_t cut = 0; cut <= n; cut++) {
            init_body(s, &m, &b);
            size_t got = feed(&b, body, n, &cut, cut == n ? 0 : 1);
            assert_int_equal(got, n);
            if (s->kind == H1_BODY_CLOSE) {
                assert_false(b.done);
                assert_true(h1_body_eof_ok(&b));
            }
            assert_true(b.done);
            assert_int_equal(b.payload, strlen(s->payload));
        }
        size_t *cuts = calloc(n + 1, sizeof(*cuts));
        for (size_t k = 0; k < n; k++)
            cuts[k] = k + 1;
        init_body(s, &m, &b);
        assert_int_equal(feed(&b, body, n, cuts, n), n);
        free(cuts);
        assert_true(h1_body_eof_ok(&b));

        /* a framed body cut short is not a complete message at EOF */
        if (s->kind == H1_BODY_LENGTH || s->kind == H1_BODY_CHUNKED) {
            for (size_t cut = 0; cut < n; cut++) {
                init_body(s, &m, &b);
                assert_int_equal(feed(&b, body, cut, NULL, 0), cut);
                if (h1_body_eof_ok(&b))
                    fail_msg("%s: body cut at %zu taken as complete", s->name, cut);
            }
        }
    }
}

static void test_body_stops_at_message_end(void **state)
{
    (void)state;
    /* a pipelined second message after the body must not be taken as body */
    const char *msgs[] = {
        "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / "
        "HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < 2; i++) {
        struct h1_msg m;
        int hl = h1_parse_request(msgs[i], strlen(msgs[i]), &m);
        assert_true(hl > 0);
        struct h1_body b;
        h1_body_init_request(&b, &m);
        const char *rest = msgs[i] + hl;
        long k = h1_body_consume(&b, rest, strlen(rest));
        assert_true(b.done);
        assert_string_equal(rest + k, "GET / HTTP/1.1\r\n\r\n");
        assert_int_equal(h1_body_consume(&b, rest + k, strlen(rest + k)), 0);
    }
}

static void test_header_facts(void **state)
{
    (void)state;
    const char *req = "PUT /a%20b HTTP/1.1\r\nHost:  example \t\r\nExpect: 100-continue\r\n"
                      "Connection: keep-alive, Close\r\nContent-Length: 0012\r\n"
                      "content-length: 12\r\n\r\n";
    struct h1_msg m;
    assert_true(h1_parse_request(req, strlen(req), &m) > 0);
    assert_true(h1_method_is(&m, "PUT"));
    assert_false(h1_method_is(&m, "PU"));
    assert_int_equal(m.target_len, 6);
    assert_memory_equal(m.target, "/a%20b", 6);
    const struct h1_header *h = h1_find(&m, "HOST");
    assert_non_null(h);
    assert_int_equal(h->value_len, 7);
    assert_memory_equal(h->value, "example", 7);
    assert_null(h1_find(&m, "Hos"));
    assert_true(m.expect_continue);
    assert_true(m.conn_close);
    assert_true(m.conn_keep_alive);
    assert_false(h1_keep_alive(&m)); /* close wins */
    assert_int_equal(m.content_length, 12);
    assert_int_equal(m.nheaders, 5);

    const char *resp = "HTTP/1.1 503 Service Unavailable\r\n\r\n";
    assert_true(h1_parse_response(resp, strlen(resp), &m) > 0);
    assert_int_equal(m.status, 503);
    assert_int_equal(m.reason_len, strlen("Service Unavailable"));

    /* HEAD responses and 304 have no body whatever the headers say */
    const char *r2 = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    struct h1_body b;
    assert_true(h1_parse_response(r2, strlen(r2), &m) > 0);
    h1_body_init_response(&b, &m, true);
    assert_int_equal(b.kind, H1_BODY_NONE);
    assert_true(b.done);
}

struct bad {
    bool request;
    const char *msg;
    int want;
};

static const struct bad bads[] = {
    /* bad request lines */
    {true, "GET  / HTTP/1.1\r\n\r\n", H1_ERROR},
    {true, "GET /\r\n\r\n", H1_ERROR},
    {true, " GET / HTTP/1.1\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.1 \r\n\r\n", H1_ERROR},
    {true, "G(T / HTTP/1.1\r\n\r\n", H1_ERROR},
    /* empty lines before the request line are ignored (RFC 9112 §2.2), up to a bound */
    {true, "\r\n\r\n", H1_INCOMPLETE},
    {true, "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", H1_ERROR},
    {true, "\rGET / HTTP/1.1\r\n\r\n", H1_ERROR},
    {true, "\r\r\nGET / HTTP/1.1\r\n\r\n", H1_ERROR},
    {false, "\r\nHTTP/1.1 200 OK\r\n\r\n", H1_ERROR},
    /* bad versions */
    {true, "GET / HTTP/2.0\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.2\r\n\r\n", H1_ERROR},
    {true, "GET / http/1.1\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.10\r\n\r\n", H1_ERROR},
    {false, "HTTP/1.3 200 OK\r\n\r\n", H1_ERROR},
    {false, "HTTP/1.1 20 OK\r\n\r\n", H1_ERROR},
    {false, "HTTP/1.1 2000 OK\r\n\r\n", H1_ERROR},
    {false, "HTTP/1.1 099 Low\r\n\r\n", H1_ERROR},
    {false, "HTTP/1.1  200 OK\r\n\r\n", H1_ERROR},
    /* header syntax: space before the colon, obs-fold, no name, no colon */
    {true, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.1\r\n: a\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.1\r\nHost a\r\n\r\n", H1_ERROR},
    {false, "HTTP/1.1 200 OK\r\nX y: 1\r\n\r\n", H1_ERROR},
    /* ambiguous framing (request smuggling) */
    {true, "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERROR},
    {true, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", H1_ERROR},
    {true, "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", H1_ERROR},
    {true, "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n", H1_ERROR},
    {true, "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", H1_ERROR},
    {true, "POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", H1_ERROR},
    {true, "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", H1_ERROR},
    {true, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", H1_ERROR},
    /* chunked applied twice (RFC 9112 §7: MUST NOT be applied more than once) */
    {true, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", H1_ERROR},
    {true, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     H1_ERROR},
    {true, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", H1_ERROR},
    {false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", H1_ERROR},
    /* control bytes */
    {true, "GET /\x01 HTTP/1.1\r\n\r\n", H1_ERROR},
    {true, "GET /\x7f HTTP/1.1\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", H1_ERROR},
    {true, "GET / HTTP/1.1\r\nHo\x7fst: a\r\n\r\n", H1_ERROR},
    {false, "HTTP/1.1 200 O\x02K\r\n\r\n", H1_ERROR},
    /* garbage is refused before a line end arrives (no waiting for a line that never ends) */
    {true, "GET / HT\x01", H1_ERROR},
    {true, "GET / HTTP/1.1\r\nHost: \x05", H1_ERROR},
    {false, "HTTP/1.1 200 OK\r\nA: \x7f", H1_ERROR},
};

static void test_malformed_rejected(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        struct h1_msg m;
        const struct bad *b = &bads[i];
        int r = parse(b->request, b->msg, strlen(b->msg), &m);
        if (r != b->want)
            fail_msg("bad input #%zu (%s) gave %d, want %d", i, b->msg, r, b->want);
    }
    /* a NUL byte in a header name */
    static const char nul[] = "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n";
    struct h1_msg m;
    assert_int_equal(parse(true, nul, sizeof(nul) - 1, &m), H1_ERROR);
}

/* RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line; this
 * parser ignores up to H1_MAX_EMPTY_LINES (CRLF or LF), and they count in the head's length. */
static void test_empty_lines_before_request(void **state)
{
    (void)state;
    char buf[256];
    for (int n = 1; n <= H1_MAX_EMPTY_LINES + 1; n++) {
        size_t len = 0;
        for (int i = 0; i < n; i++)
            len += (size_t)sprintf(buf + len, "%s", i % 2 ? "\n" : "\r\n");
        size_t lead = len;
        len += (size_t)sprintf(buf + len, "GET /e HTTP/1.1\r\nHost: a\r\n\r\n");
        struct h1_msg m;
        assert_int_equal(parse(true, buf, len, &m), n > H1_MAX_EMPTY_LINES ? H1_ERROR : (int)len);
        int r = h1_parse_request(buf, len, &m); /* unguarded: m points into buf */
        if (n > H1_MAX_EMPTY_LINES) {
            assert_int_equal(r, H1_ERROR);
            continue;
        }
        assert_int_equal(r, (int)len);
        assert_true(h1_method_is(&m, "GET"));
        assert_int_equal(m.target_len, 2);
        assert_memory_equal(m.target, "/e", 2);
        assert_ptr_equal(m.method, buf + lead);
    }
    /* a lone CR at the end may still become an empty line */
    struct h1_msg m;
    assert_int_equal(parse(true, "\r\n\r", 3, &m), H1_INCOMPLETE);
}

static void test_bad_chunks(void **state)
{
    (void)state;
    const char *bodies[] = {
        "zz\r\nab\r\n0\r\n\r\n",           /* non-hex size */
        "5g\r\nhello\r\n0\r\n\r\n",        /* junk after the digits */
        "\r\nhello\r\n0\r\n\r\n",          /* no size at all */
        "-5\r\nhello\r\n0\r\n\r\n",        /* sign */
        "1000000000000000\r\n",            /* 16 hex digits: more than any body */
        "5\r\nhelloX\r\n0\r\n\r\n",        /* data not followed by CRLF */
        "5\r\nhello\rX0\r\n\r\n",          /* CR not followed by LF */
        "5;ext\x01\r\nhello\r\n0\r\n\r\n", /* control byte in an extension */
        "5 x\r\nhello\r\n0\r\n\r\n",       /* junk after the size's white space */
        /* bare CR, bare LF: every line of the chunk framing ends with CRLF (RFC 9112 §7.1) */
        "5;a\rb\r\nhello\r\n0\r\n\r\n",          /* bare CR in an extension */
        "5\r\r\nhello\r\n0\r\n\r\n",             /* CR CR LF after the size */
        "5\nhello\r\n0\r\n\r\n",                 /* bare LF after the size */
        "5;ext\nhello\r\n0\r\n\r\n",             /* bare LF after an extension */
        "5\r\nhello\n0\r\n\r\n",                 /* bare LF after the data */
        "5\r\nhello\r\n0\n\r\n",                 /* bare LF after the last chunk */
        "5\r\nhello\r\n0\r\n\n",                 /* bare LF as the final empty line */
        "5\r\nhello\r\n0\r\n\rX",                /* CR not followed by LF at the end */
        "5\r\nhello\r\n0\r\nT: x\n\r\n",         /* bare LF after a trailer */
        "5\r\nhello\r\n0\r\nT: x\ry\r\n\r\n",    /* bare CR in a trailer */
        "5\r\nhello\r\n0\r\nT: x\r\n y\r\n\r\n", /* obs-fold in the trailers */
        "5\r\nhello\r\n0\r\nT: \x01\r\n\r\n",    /* control byte in a trailer */
    };
    const char *head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    struct h1_msg m;
    assert_true(h1_parse_request(head, strlen(head), &m) > 0);
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct h1_body b;
        h1_body_init_request(&b, &m);
        long k = h1_body_consume(&b, bodies[i], strlen(bodies[i]));
        if (k != H1_ERROR)
            fail_msg("bad chunked body #%zu accepted (%ld)", i, k);
    }
    /* 15 hex digits is the most the parser takes */
    struct h1_body b;
    h1_body_init_request(&b, &m);
    const char *big = "fffffffffffffff\r\nab";
    assert_int_equal(h1_body_consume(&b, big, strlen(big)), (long)strlen(big));
    assert_false(b.done);
    assert_int_equal(b.remaining, 0xfffffffffffffffULL - 2);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    char buf[8192];
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
        for (int i = 0; i < H1_MAX_HEADERS + extra; i++)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: %d\r\n", i, i);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
        struct h1_msg m;
        int r = parse(true, buf, n, &m);
        if (extra)
            assert_int_equal(r, H1_TOO_MANY);
        else
            assert_int_equal(r, (int)n);
    }
}

/* the reason phrases the proxy's local replies and the fake upstream send */
static void test_reason_phrases(void **state)
{
    (void)state;
    assert_string_equal(h1_reason(413), "Payload Too Large");
    assert_string_equal(h1_reason(503), "Service Unavailable");
    assert_string_equal(h1_reason(431), "Request Header Fields Too Large");
    assert_string_equal(h1_reason(299), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_prefix_incomplete),
        cmocka_unit_test(test_body_framing_every_split),
        cmocka_unit_test(test_body_stops_at_message_end),
        cmocka_unit_test(test_header_facts),
        cmocka_unit_test(test_malformed_rejected),
        cmocka_unit_test(test_empty_lines_before_request),
        cmocka_unit_test(test_bad_chunks),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_reason_phrases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
