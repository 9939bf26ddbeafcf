/* racelab-proxy against a hostile client: the request-smuggling and malformed-framing shapes,
 * one row each (input -> the exact status, the access log's details, and what the upstream may
 * see). Each row is one write on a fresh client connection.
 *
 * The upstream is a plain listening socket that the test reads itself: a row the proxy rejects
 * must leave it without a single byte (a connection the proxy opened and closed again is
 * allowed: the upstream attempt starts as soon as the head is parsed, and is abandoned when the
 * body turns out malformed); a row the proxy accepts is served by the test with a 200 and the
 * bytes the upstream received are checked (normalised framing, hop-by-hop headers gone).
 *
 * Where the proxy's behaviour was already right, the row documents it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h1.h"
#include "pxt.h"

#define OK_RESP "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
#define CHUNKED "5\r\nhello\r\n0\r\n\r\n"

struct row {
    const char *name;
    const char *req;
    size_t len;                 /* 0: strlen(req); set when req holds a NUL byte */
    char *(*make)(size_t *len); /* builds a large request instead of req */
    int status;
    const char *details; /* access log; NULL for 200 (via_upstream) */
    const char *up_has;  /* 200 rows: the upstream received these bytes */
    const char *up_lacks;
};

/* A request line and one header value over --max-request-headers-kb (60 KiB). */
static char *big_header(size_t *len)
{
    size_t big = 70 * 1024;
    char *r = malloc(big + 64);
    int off = sprintf(r, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(r + off, 'a', big);
    off += (int)big;
    off += sprintf(r + off, "\r\n\r\n");
    *len = (size_t)off;
    return r;
}

static char *big_target(size_t *len)
{
    size_t big = 70 * 1024;
    char *r = malloc(big + 64);
    int off = sprintf(r, "GET /");
    memset(r + off, 'a', big);
    off += (int)big;
    off += sprintf(r + off, " HTTP/1.1\r\nHost: a\r\n\r\n");
    *len = (size_t)off;
    return r;
}

static char *many_headers(size_t *len)
{
    char *r = malloc(8192);
    int off = sprintf(r, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < H1_MAX_HEADERS; i++)
        off += sprintf(r + off, "X-H%d: v\r\n", i);
    off += sprintf(r + off, "\r\n");
    *len = (size_t)off;
    return r;
}

#define POST_TE(te)   "POST /te HTTP/1.1\r\nHost: a\r\n" te "\r\n\r\n" CHUNKED
#define POST_CK(body) "POST /ck HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" body
/* a request holding a NUL byte, and its length */
#define WITH_NUL(s) s, sizeof(s) - 1
#define CODEC       "http1.codec_error"

static const struct row rows[] = {
    /* a control request: the table's 200 rows look like this */
    {"plain GET", "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL, 200, NULL,
     "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", NULL},

    /* both framings, or two lengths: RFC 9112 §6.3 (reject, never pick one) */
    {"CL then TE",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n"
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
     0, NULL, 400, CODEC, NULL, NULL},
    {"TE then CL",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     "Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
     0, NULL, 400, CODEC, NULL, NULL},
    {"two different CLs",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
     "Content-Length: 30\r\n\r\nabcGET /SMUGGLED HTTP/1.1\r\n\r\n",
     0, NULL, 400, CODEC, NULL, NULL},
    {"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 30\r\n\r\nabc", 0, NULL, 400,
     CODEC, NULL, NULL},
    {"CL with a sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 0, NULL, 400,
     CODEC, NULL, NULL},
    {"CL in hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 0, NULL, 400,
     CODEC, NULL, NULL},

    /* Transfer-Encoding variants: chunked must be the final coding */
    {"TE chunked, identity", POST_TE("Transfer-Encoding: chunked, identity"), 0, NULL, 400, CODEC,
     NULL, NULL},
    {"TE identity", POST_TE("Transfer-Encoding: identity"), 0, NULL, 400, CODEC, NULL, NULL},
    {"TE chunked;ext", POST_TE("Transfer-Encoding: chunked;q=1"), 0, NULL, 400, CODEC, NULL, NULL},
    {"TE x-chunked", POST_TE("Transfer-Encoding: xchunked"), 0, NULL, 400, CODEC, NULL, NULL},
    {"TE space before colon", POST_TE("Transfer-Encoding : chunked"), 0, NULL, 400, CODEC, NULL,
     NULL},
    {"TE vertical tab",
     POST_TE("Transfer-Encoding:\x0b"
             "chunked"),
     0, NULL, 400, CODEC, NULL, NULL},
    {"TE obs-fold", POST_TE("Transfer-Encoding:\r\n chunked"), 0, NULL, 400, CODEC, NULL, NULL},
    {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNKED, 0, NULL,
     400, CODEC, NULL, NULL},
    /* accepted framing is forwarded in one canonical spelling: an upstream that reads a
     * different length than the proxy is the whole of request smuggling */
    {"TE Chunked casing", POST_TE("Transfer-Encoding: Chunked"), 0, NULL, 200, NULL,
     "Transfer-Encoding: chunked\r\n\r\n" CHUNKED, "Chunked"},
    {"TE gzip, CHUNKED", POST_TE("Transfer-Encoding: gzip,CHUNKED"), 0, NULL, 200, NULL,
     "Transfer-Encoding: gzip, chunked\r\n", "CHUNKED"},
    {"two equal CLs",
     "POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
     "\r\nhello",
     0, NULL, 200, NULL, "Content-Length: 5\r\n\r\nhello", "Content-Length: 5\r\nContent-Length"},
    {"CL with leading zeros", "POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello", 0,
     NULL, 200, NULL, "Content-Length: 5\r\n\r\nhello", "005"},
    {"TE OWS around chunked", POST_TE("Transfer-Encoding: \t chunked \t"), 0, NULL, 200, NULL,
     "\r\n\r\n" CHUNKED, NULL},
    {"TE gzip then chunked in two lines",
     POST_TE("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"), 0, NULL, 200, NULL,
     "\r\n\r\n" CHUNKED, NULL},

    /* obs-fold (RFC 9112 §5.2: a server rejects it or replaces it; this proxy rejects) */
    {"obs-fold SP", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n", 0, NULL, 400, CODEC, NULL,
     NULL},
    {"obs-fold HTAB", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n\tb\r\n\r\n", 0, NULL, 400, CODEC,
     NULL, NULL},
    {"first header line folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0, NULL, 400, CODEC, NULL,
     NULL},

    /* bare CR anywhere in the head (RFC 9112 §2.2: reject or replace; rejected) */
    {"bare CR in a value", "GET / HTTP/1.1\r\nHost: a\rX-B: b\r\n\r\n", 0, NULL, 400, CODEC, NULL,
     NULL},
    {"bare CR ends the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 0, NULL, 400, CODEC, NULL,
     NULL},
    {"CR CR LF", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 0, NULL, 400, CODEC, NULL, NULL},

    /* bare LF as the head's line end (RFC 9112 §2.2 MAY): accepted, forwarded with CRLF */
    {"LF-only head", "GET /lf HTTP/1.1\nHost: a\n\n", 0, NULL, 200, NULL,
     "GET /lf HTTP/1.1\r\nHost: a\r\n\r\n", NULL},
    {"one LF among CRLFs", "GET /lf HTTP/1.1\r\nHost: a\nX-B: b\r\n\r\n", 0, NULL, 200, NULL,
     "Host: a\r\nX-B: b\r\n\r\n", NULL},

    /* Host (RFC 9112 §3.2): required in HTTP/1.1, at most one, a valid authority */
    {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 0, NULL, 400,
     "missing_host_header", NULL, NULL},
    {"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: evil\r\n\r\n", 0, NULL, 400,
     "duplicate_host_header", NULL, NULL},
    {"two equal Host headers", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 0, NULL, 400,
     "duplicate_host_header", NULL, NULL},
    {"two Host headers in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 0, NULL, 400,
     "duplicate_host_header", NULL, NULL},
    {"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, NULL, 400,
     "invalid_host_header", NULL, NULL},
    {"Host with userinfo", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 0, NULL, 400,
     "invalid_host_header", NULL, NULL},
    {"Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 0, NULL, 400, "invalid_host_header",
     NULL, NULL},
    {"Host with a port and an IPv6 literal", "GET /v6 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0,
     NULL, 200, NULL, "Host: [::1]:8080\r\n", NULL},
    {"empty Host", "GET /e HTTP/1.1\r\nHost:\r\n\r\n", 0, NULL, 200, NULL, "Host: \r\n", NULL},
    /* HTTP/1.0 without Host stays allowed; the upstream request is HTTP/1.1, so it names the
     * upstream (nginx's $proxy_host) */
    {"HTTP/1.0 without Host", "GET /10 HTTP/1.0\r\n\r\n", 0, NULL, 200, NULL,
     "GET /10 HTTP/1.1\r\nHost: 127.0.0.1:", NULL},

    /* a name that normalises to a framing header ('_' read as '-' by CGI-style servers) */
    {"Transfer_Encoding with Content-Length",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\n"
     "0\r\n\r\n",
     0, NULL, 400, "http1.unexpected_underscore", NULL, NULL},
    {"Content_Length", "POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\nhello", 0, NULL, 400,
     "http1.unexpected_underscore", NULL, NULL},
    {"other names with '_' pass", "GET /u HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: b\r\n\r\n", 0,
     NULL, 200, NULL, "X_Forwarded_For: b\r\n", NULL},

    /* headers named in Connection are hop-by-hop (RFC 9110 §7.6.1): not forwarded */
    {"Connection: close, X-Foo",
     "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close, X-Foo\r\n"
     "X-Foo: secret\r\nX-Bar: b\r\n\r\n",
     0, NULL, 200, NULL, "X-Bar: b\r\n", "X-Foo"},
    {"Connection names Content-Length",
     "POST / HTTP/1.1\r\nHost: a\r\nConnection: "
     "Content-Length\r\nContent-Length: 5\r\n\r\nhello",
     0, NULL, 400, "connection_header_names_framing", NULL, NULL},
    {"Connection names Host", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Host\r\n\r\n", 0, NULL, 400,
     "connection_header_names_framing", NULL, NULL},

    /* empty lines before the request line (RFC 9112 §2.2: SHOULD ignore at least one) */
    {"CRLF before the request line", "\r\nGET /crlf HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL, 200,
     NULL, "GET /crlf HTTP/1.1\r\nHost: a\r\n\r\n", NULL},
    {"8 empty lines before the request line",
     "\r\n\n\r\n\n\r\n\n\r\n\nGET /crlf HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL, 200, NULL,
     "GET /crlf HTTP/1.1\r\nHost: a\r\n\r\n", NULL},
    {"9 empty lines before the request line",
     "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL, 400, CODEC,
     NULL, NULL},
    {"bare CR before the request line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL, 400, CODEC,
     NULL, NULL},

    /* NUL bytes */
    {"NUL in a value", WITH_NUL("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n"), NULL, 400, CODEC,
     NULL, NULL},
    {"NUL in a name", WITH_NUL("GET / HTTP/1.1\r\nHost: a\r\nX\0A: b\r\n\r\n"), NULL, 400, CODEC,
     NULL, NULL},
    {"NUL in the target", WITH_NUL("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), NULL, 400, CODEC, NULL,
     NULL},

    /* other malformed heads */
    {"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL, 400, CODEC, NULL, NULL},
    {"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL, 400, CODEC, NULL, NULL},
    {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, NULL, 400, CODEC, NULL, NULL},
    {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, NULL, 400, CODEC, NULL, NULL},
    {"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 0, NULL, 400, CODEC, NULL, NULL},

    /* oversized heads */
    {"header over 60 KiB", NULL, 0, big_header, 431, "http1.headers_too_large", NULL, NULL},
    {"target over 60 KiB", NULL, 0, big_target, 431, "http1.headers_too_large", NULL, NULL},
    {"65 header lines", NULL, 0, many_headers, 431, "http1.too_many_headers", NULL, NULL},

    /* malformed chunk framing (the head was fine: the upstream attempt is abandoned) */
    {"chunk size of 16 hex digits",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     "\r\n1000000000000005\r\nhello\r\n0\r\n\r\n",
     0, NULL, 400, CODEC, NULL, NULL},
    {"chunk size in 0x",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0x5\r\nhello\r\n0\r\n\r\n",
     0, NULL, 400, CODEC, NULL, NULL},
    {"negative chunk size",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "-5\r\nhello\r\n0\r\n\r\n",
     0, NULL, 400, CODEC, NULL, NULL},
    {"TE chunked, chunked", POST_TE("Transfer-Encoding: chunked, chunked"), 0, NULL, 400, CODEC,
     NULL, NULL},
    {"bare CR in a chunk extension", POST_CK("5;a\rb\r\nhello\r\n0\r\n\r\n"), 0, NULL, 400, CODEC,
     NULL, NULL},
    {"bare LF after the chunk size", POST_CK("5\nhello\r\n0\r\n\r\n"), 0, NULL, 400, CODEC, NULL,
     NULL},
    {"bare LF after chunk data", POST_CK("5\r\nhello\n0\r\n\r\n"), 0, NULL, 400, CODEC, NULL, NULL},
    {"bare LF ends the last chunk", POST_CK("5\r\nhello\r\n0\n\n"), 0, NULL, 400, CODEC, NULL,
     NULL},
    {"bare LF after a trailer", POST_CK("5\r\nhello\r\n0\r\nT: x\n\r\n"), 0, NULL, 400, CODEC, NULL,
     NULL},
    {"chunk longer than its size",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     "\r\n5\r\nhelloSMUGGLED\r\n0\r\n\r\n",
     0, NULL, 400, CODEC, NULL, NULL},
};

/* Accepts every connection the proxy made to the upstream since the last call and reads what
 * it carries (the proxy keeps a connection it opened for an abandoned attempt in its pool, so
 * there may be no EOF); returns the bytes received (malloc'd, NUL-terminated) and their count.
 * The connections are closed, and the proxy is given a moment to see those FINs before the next
 * row (a request must not be written onto one of them). */
static char *upstream_leftovers(int lfd, size_t *n)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    while (poll(&p, 1, 20) == 1) {
        int fd = accept(lfd, NULL, NULL);
        assert_true(fd >= 0);
        struct timeval tv = {0, 50000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        for (;;) {
            if (cap - len < 1024)
                buf = realloc(buf, (cap *= 2) + 1);
            ssize_t r = recv(fd, buf + len, cap - len, 0);
            if (r <= 0)
                break;
            len += (size_t)r;
        }
        close(fd);
        usleep(20000);
    }
    buf[len] = '\0';
    *n = len;
    return buf;
}

/* After a rejection the proxy closes: our FIN ends its delayed close, then EOF (or the RST of
 * unread request bytes). */
static void assert_closed(int fd, const char *name)
{
    char c;
    shutdown(fd, SHUT_WR);
    ssize_t r = recv(fd, &c, 1, 0);
    if (r != 0 && !(r < 0 && errno == ECONNRESET))
        fail_msg("%s: the connection stayed open after the rejection (%zd, %s)", name, r,
                 strerror(errno));
}

static void run_row(const struct row *w, int pport, int lfd)
{
    size_t len = w->len ? w->len : (w->req ? strlen(w->req) : 0);
    char *made = w->make ? w->make(&len) : NULL;
    const char *req = made ? made : w->req;
    int fd = raw_connect(pport);
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);

    char *up = NULL;
    if (w->status == 200)
        up = raw_serve_one(lfd, OK_RESP, true);
    char buf[8192];
    bool closes = false;
    int st = pxt_read_response(fd, buf, sizeof(buf), &closes);
    if (st != w->status)
        fail_msg("%s: status %d, want %d", w->name, st, w->status);
    if (w->status == 200) {
        if (w->up_has && !strstr(up, w->up_has))
            fail_msg("%s: the upstream lacks '%s' in:\n%s", w->name, w->up_has, up);
        if (w->up_lacks && strstr(up, w->up_lacks))
            fail_msg("%s: the upstream got '%s' in:\n%s", w->name, w->up_lacks, up);
    } else {
        if (!closes)
            fail_msg("%s: the %d does not say connection: close", w->name, st);
        assert_closed(fd, w->name);
    }
    close(fd);
    size_t n;
    char *left = upstream_leftovers(lfd, &n);
    if (n)
        fail_msg("%s: the upstream received %zu bytes:\n%s", w->name, n, left);
    free(left);
    free(up);
    free(made);
}

static void test_hostile_rows(void **state)
{
    struct tsup_ctx *c = *state;
    const size_t nrows = sizeof(rows) / sizeof(rows[0]);
    int uport;
    int lfd = raw_listen(&uport);
    struct pxp p;
    pxp_start(&p, c->dir, "hostile", uport, NULL);
    for (size_t i = 0; i < nrows; i++)
        run_row(&rows[i], p.port, lfd);
    pxp_stop(&p);

    /* one access-log record per row, in order, saying why */
    json_t *acc = pxp_access(&p);
    assert_int_equal(json_array_size(acc), nrows);
    for (size_t i = 0; i < nrows; i++) {
        json_t *r = json_array_get(acc, i);
        const char *want = rows[i].details ? rows[i].details : "via_upstream";
        if (rec_int(r, "status") != rows[i].status || strcmp(rec_str(r, "details"), want) != 0)
            fail_msg("%s: logged %lld %s, want %d %s", rows[i].name, rec_int(r, "status"),
                     rec_str(r, "details"), rows[i].status, want);
        if (rows[i].status != 200 && !strstr(rec_str(r, "flags"), "DPE"))
            fail_msg("%s: flags %s lack DPE", rows[i].name, rec_str(r, "flags"));
    }
    json_decref(acc);
    close(lfd);
    pxp_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_rows),
    };
    return cmocka_run_group_tests(tests, tsup_ctx_setup, tsup_ctx_teardown);
}
