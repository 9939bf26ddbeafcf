/* fuzz_h1 — lib/h1 on a peer's bytes: the request and response head parsers and the body
 * framing, in both directions, the way the proxy and the fake peers call them.
 *
 * The input is one message as it arrives on a socket (head, then body, then whatever follows).
 * Besides the sanitizers, it checks what the callers rely on:
 *   - a head's length and every pointer of the parsed message lie inside the bytes given;
 *   - the head parse does not depend on where the bytes were cut: every prefix of a complete
 *     head is H1_INCOMPLETE, and a prefix that is rejected stays rejected with more bytes
 *     (else the outcome would depend on the TCP segmentation);
 *   - the body framing gives the same answer (bytes of the body, error, done, payload) whether
 *     the body arrives in one piece, a byte at a time, or cut at input-chosen points. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_h1: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static void check_msg(const struct h1_msg *m, const char *buf, size_t head, bool request)
{
    CHECK(m->nheaders <= H1_MAX_HEADERS);
    if (request) {
        CHECK(m->method_len > 0 && inside(m->method, m->method_len, buf, head));
        CHECK(m->target_len > 0 && inside(m->target, m->target_len, buf, head));
    } else {
        CHECK(m->status >= 100 && m->status <= 999);
        CHECK(inside(m->reason, m->reason_len, buf, head));
        (void)h1_reason(m->status);
    }
    CHECK(m->minor == 0 || m->minor == 1);
    for (size_t i = 0; i < m->nheaders; i++) {
        const struct h1_header *h = &m->headers[i];
        CHECK(h->name_len > 0 && inside(h->name, h->name_len, buf, head));
        CHECK(inside(h->value, h->value_len, buf, head));
    }
    CHECK(!(m->chunked && m->content_length >= 0));
    (void)h1_keep_alive(m);
    (void)h1_find(m, "host");
    (void)h1_find(m, "content-length");
    (void)h1_method_is(m, "HEAD");
}

typedef int (*parse_fn)(const char *, size_t, struct h1_msg *);

static bool rejected(int rc)
{
    return rc == H1_ERROR || rc == H1_TOO_MANY;
}

/* The parse of the first cut bytes agrees with the parse of all len bytes (rc). */
static void check_prefix(parse_fn parse, const char *buf, size_t len, int rc, size_t cut)
{
    struct h1_msg m;
    if (cut > len)
        cut = len;
    int p = parse(buf, cut, &m);
    if (rc > 0 && cut < (size_t)rc)
        CHECK(p == H1_INCOMPLETE); /* a complete head was cut short */
    else if (rc > 0)
        CHECK(p == rc); /* the bytes after the head change nothing */
    if (rejected(p))
        CHECK(rejected(rc)); /* a rejection is final */
    if (rc == H1_INCOMPLETE)
        CHECK(p == H1_INCOMPLETE);
}

struct body_run {
    long total; /* bytes of the body, or H1_ERROR */
    bool done, eof_ok;
    uint64_t payload;
};

/* Feeds buf to b in pieces: the lengths cuts[], then the rest at once (or a byte at a time). */
static struct body_run feed(struct h1_body b, const char *buf, size_t len, const size_t *cuts,
                            size_t ncuts, bool bytewise)
{
    struct body_run r = {0};
    size_t pos = 0, k = 0;
    while (pos < len && !b.done) {
        size_t n = len - pos;
        if (bytewise)
            n = 1;
        else if (k < ncuts && cuts[k] < n)
            n = cuts[k++];
        long c = h1_body_consume(&b, buf + pos, n);
        if (c == H1_ERROR) {
            r.total = H1_ERROR;
            return r;
        }
        CHECK(c >= 0 && (size_t)c <= n);
        if ((size_t)c < n)
            CHECK(b.done); /* only the end of the body stops short */
        CHECK(c > 0 || b.done); /* no progress only at the end */
        pos += (size_t)c;
    }
    r.total = (long)pos;
    r.done = b.done;
    r.payload = b.payload;
    r.eof_ok = h1_body_eof_ok(&b);
    if (r.done)
        CHECK(r.eof_ok);
    return r;
}

static void check_body(struct h1_body b, const char *buf, size_t len, const uint8_t *data,
                       size_t size)
{
    (void)h1_body_kind_name(b.kind);
    size_t cuts[8];
    size_t ncuts = 0;
    /* cut points chosen by the input's last bytes, so that the fuzzer can move them */
    for (size_t i = 0; i < 8 && i < size; i++)
        cuts[ncuts++] = (size_t)data[size - 1 - i] % 17 + 1;
    struct body_run whole = feed(b, buf, len, NULL, 0, false);
    struct body_run bytes = feed(b, buf, len, NULL, 0, true);
    struct body_run split = feed(b, buf, len, cuts, ncuts, false);
    const struct body_run *other[2] = {&bytes, &split};
    for (int i = 0; i < 2; i++) {
        if (whole.total == H1_ERROR || other[i]->total == H1_ERROR) {
            CHECK(whole.total == other[i]->total);
            continue;
        }
        CHECK(whole.total == other[i]->total);
        CHECK(whole.done == other[i]->done);
        CHECK(whole.payload == other[i]->payload);
        CHECK(whole.eof_ok == other[i]->eof_ok);
    }
    if (whole.total != H1_ERROR)
        CHECK(whole.payload <= (uint64_t)whole.total);
}

static void one_side(parse_fn parse, bool request, const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct h1_msg m;
    int rc = parse(buf, size, &m);
    CHECK(rc > 0 || rc == H1_ERROR || rc == H1_INCOMPLETE || rc == H1_TOO_MANY);
    if (rc > 0)
        CHECK((size_t)rc <= size);

    /* the same bytes cut short: at the end of the head, one byte before, and at points
     * depending on the input */
    if (rc > 0) {
        check_prefix(parse, buf, size, rc, (size_t)rc);
        check_prefix(parse, buf, size, rc, (size_t)rc - 1);
    }
    if (size > 0) {
        check_prefix(parse, buf, size, rc, size - 1);
        check_prefix(parse, buf, size, rc, data[0] % size);
        check_prefix(parse, buf, size, rc, size / 2);
    }
    if (rc <= 0)
        return;

    /* parse again: the message must not depend on a previous call */
    struct h1_msg m2;
    CHECK(parse(buf, size, &m2) == rc);
    check_msg(&m, buf, (size_t)rc, request);

    const char *body = buf + rc;
    size_t blen = size - (size_t)rc;
    struct h1_body b;
    if (request) {
        h1_body_init_request(&b, &m);
        check_body(b, body, blen, data, size);
    } else {
        h1_body_init_response(&b, &m, false);
        check_body(b, body, blen, data, size);
        h1_body_init_response(&b, &m, true); /* the answer to a HEAD request */
        CHECK(b.done && b.kind == H1_BODY_NONE);
        check_body(b, body, blen, data, size);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the parser's result is an int: the callers' buffers are far smaller than that */
    if (size > 1 << 20)
        return 0;
    one_side(h1_parse_request, true, data, size);
    one_side(h1_parse_response, false, data, size);
    return 0;
}
