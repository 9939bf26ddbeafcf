#include "px_msg.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Heads are built in a stack buffer and added to the evbuffer in one piece: one small add per
 * header line would cost more than the rest of the request. */
struct sb {
    struct evbuffer *out;
    size_t len;
    char buf[4096];
};

static void sb_put(struct sb *s, const char *p, size_t n)
{
    if (s->len + n > sizeof(s->buf)) {
        if (s->len > 0)
            evbuffer_add(s->out, s->buf, s->len);
        s->len = 0;
        if (n > sizeof(s->buf)) {
            evbuffer_add(s->out, p, n);
            return;
        }
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void sb_str(struct sb *s, const char *p)
{
    sb_put(s, p, strlen(p));
}

static void sb_done(struct sb *s)
{
    if (s->len)
        evbuffer_add(s->out, s->buf, s->len);
    s->len = 0;
}

static bool name_is(const struct h1_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

static bool hop_by_hop(const struct h1_header *h)
{
    return name_is(h, "connection") || name_is(h, "keep-alive") || name_is(h, "proxy-connection") ||
           name_is(h, "te") || name_is(h, "upgrade");
}

/* Whether a Connection line of m names the header called name (RFC 9110 §7.6.1: the sender
 * marks it hop-by-hop). */
static bool nominated(const struct h1_msg *m, const char *name, size_t name_len)
{
    for (size_t i = 0; i < m->nheaders; i++) {
        const struct h1_header *c = &m->headers[i];
        if (name_is(c, "connection") && h1_list_has(c->value, c->value_len, name, name_len))
            return true;
    }
    return false;
}

/* Hop-by-hop headers are not forwarded: the fixed ones and those the message's Connection names
 * (never the framing ones: a request naming them is refused, and a response's body is relayed by
 * them). */
static bool drop_hop_by_hop(const struct h1_msg *m, bool has_connection, const struct h1_header *h)
{
    if (hop_by_hop(h))
        return true;
    if (!has_connection || name_is(h, "content-length") || name_is(h, "transfer-encoding"))
        return false;
    return nominated(m, h->name, h->name_len);
}

static void sb_header(struct sb *s, const struct h1_header *h)
{
    sb_put(s, h->name, h->name_len);
    sb_put(s, ": ", 2);
    sb_put(s, h->value, h->value_len);
    sb_put(s, "\r\n", 2);
}

/* RFC 3986 uri-host [ ":" port ]: reg-name (unreserved, pct-encoded, sub-delims), IPv4, or an
 * IP literal in brackets. Only the alphabet is checked: enough to refuse spaces, userinfo, paths
 * and quotes that an upstream would read as something else. */
static bool host_ok(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == '\0' || !strchr("-._~%!$&'()*+,;=:[]", c))
            return false;
    }
    return true;
}

/* A name with '_' that reads as a framing header once '_' is taken for '-', as CGI-style
 * servers (and WSGI, PHP) do: Transfer_Encoding, content_length. */
static bool framing_lookalike(const struct h1_header *h)
{
    static const char *const framing[] = {"content-length", "transfer-encoding"};
    if (!memchr(h->name, '_', h->name_len))
        return false;
    for (size_t k = 0; k < sizeof(framing) / sizeof(framing[0]); k++) {
        size_t n = strlen(framing[k]);
        if (h->name_len != n)
            continue;
        size_t i = 0;
        while (i < n &&
               (h->name[i] == '_' ? '-' : tolower((unsigned char)h->name[i])) == framing[k][i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

const char *px_msg_request_refusal(const struct h1_msg *req)
{
    const struct h1_header *host = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct h1_header *h = &req->headers[i];
        if (framing_lookalike(h))
            return "http1.unexpected_underscore";
        if (!name_is(h, "host"))
            continue;
        if (host)
            return "duplicate_host_header";
        host = h;
    }
    /* dropping them would change how the body is framed, or where the request goes */
    static const char *const kept[] = {"content-length", "transfer-encoding", "host"};
    for (size_t k = 0; k < sizeof(kept) / sizeof(kept[0]); k++)
        if (nominated(req, kept[k], strlen(kept[k])))
            return "connection_header_names_framing";
    if (!host)
        return req->minor >= 1 ? "missing_host_header" : NULL;
    if (!host_ok(host->value, host->value_len))
        return "invalid_host_header";
    return NULL;
}

/* The framing headers of a request, in one spelling (the parser accepted them, so they agree):
 * Content-Length once, in decimal without leading zeros; Transfer-Encoding codings joined by
 * ", " with chunked in lower case. An upstream that would read "Chunked" or "005" another way
 * than the proxy did gets nothing to misread. */
static void sb_framing(struct sb *s, const struct h1_msg *req, const struct h1_header *h,
                       bool *cl_sent)
{
    if (name_is(h, "content-length")) {
        char tmp[32];
        if (*cl_sent)
            return;
        *cl_sent = true;
        int n = snprintf(tmp, sizeof(tmp), ": %lld\r\n", (long long)req->content_length);
        sb_put(s, h->name, h->name_len);
        sb_put(s, tmp, (size_t)n);
        return;
    }
    sb_put(s, h->name, h->name_len);
    sb_put(s, ": ", 2);
    const char *v = h->value;
    size_t i = 0, n = h->value_len;
    bool first = true;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t b = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e == b)
            continue;
        if (!first)
            sb_put(s, ", ", 2);
        first = false;
        if (e - b == 7 && strncasecmp(v + b, "chunked", 7) == 0)
            sb_put(s, "chunked", 7);
        else
            sb_put(s, v + b, e - b);
    }
    sb_put(s, "\r\n", 2);
}

void px_msg_request_head(struct evbuffer *out, const struct h1_msg *req, bool expect_handled,
                         const char *default_host)
{
    struct sb s;
    s.out = out;
    s.len = 0;
    sb_put(&s, req->method, req->method_len);
    sb_put(&s, " ", 1);
    sb_put(&s, req->target, req->target_len);
    sb_str(&s, " HTTP/1.1\r\n");
    bool has_connection = h1_find(req, "connection") != NULL;
    bool cl_sent = false;
    if (default_host && !h1_find(req, "host")) {
        sb_str(&s, "Host: ");
        sb_str(&s, default_host);
        sb_put(&s, "\r\n", 2);
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct h1_header *h = &req->headers[i];
        if (drop_hop_by_hop(req, has_connection, h) || (expect_handled && name_is(h, "expect")))
            continue;
        if (name_is(h, "content-length") || name_is(h, "transfer-encoding"))
            sb_framing(&s, req, h, &cl_sent);
        else
            sb_header(&s, h);
    }
    sb_put(&s, "\r\n", 2);
    sb_done(&s);
}

static void status_line(struct sb *s, int minor, int status, const char *reason, size_t rlen)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "HTTP/1.%d %03d ", minor ? 1 : 0, status);
    sb_put(s, tmp, (size_t)n);
    sb_put(s, reason, rlen);
    sb_put(s, "\r\n", 2);
}

void px_msg_response_head(struct evbuffer *out, const struct h1_msg *resp,
                          const struct px_resp_head *h)
{
    struct sb s;
    s.out = out;
    s.len = 0;
    if (resp->reason_len)
        status_line(&s, h->minor, resp->status, resp->reason, resp->reason_len);
    else
        status_line(&s, h->minor, resp->status, h1_reason(resp->status),
                    strlen(h1_reason(resp->status)));
    bool has_connection = h1_find(resp, "connection") != NULL;
    for (size_t i = 0; i < resp->nheaders; i++) {
        const struct h1_header *hd = &resp->headers[i];
        if (drop_hop_by_hop(resp, has_connection, hd))
            continue;
        if (h->reframe == PX_REFRAME_DECHUNK && name_is(hd, "transfer-encoding"))
            continue;
        sb_header(&s, hd);
    }
    if (h->reframe == PX_REFRAME_CHUNK)
        sb_str(&s, "transfer-encoding: chunked\r\n");
    if (h->minor >= 1 && h->close)
        sb_str(&s, "connection: close\r\n");
    else if (h->minor == 0 && !h->close)
        sb_str(&s, "connection: keep-alive\r\n");
    sb_put(&s, "\r\n", 2);
    sb_done(&s);
}

void px_msg_local_reply(struct evbuffer *out, int minor, int status, const char *body, bool close,
                        bool head_only)
{
    struct sb s;
    char tmp[64];
    size_t blen = body ? strlen(body) : 0;
    s.out = out;
    s.len = 0;
    status_line(&s, minor, status, h1_reason(status), strlen(h1_reason(status)));
    int n = snprintf(tmp, sizeof(tmp), "content-length: %zu\r\n", blen);
    sb_put(&s, tmp, (size_t)n);
    sb_str(&s, "content-type: text/plain\r\n");
    if (minor >= 1 && close)
        sb_str(&s, "connection: close\r\n");
    else if (minor == 0 && !close)
        sb_str(&s, "connection: keep-alive\r\n");
    sb_put(&s, "\r\n", 2);
    if (!head_only && blen)
        sb_put(&s, body, blen);
    sb_done(&s);
}

void px_msg_chunk(struct evbuffer *out, struct evbuffer *in, size_t n)
{
    if (n == 0)
        return;
    evbuffer_add_printf(out, "%zx\r\n", n);
    evbuffer_remove_buffer(in, out, n);
    evbuffer_add(out, "\r\n", 2);
}

void px_msg_last_chunk(struct evbuffer *out)
{
    evbuffer_add(out, "0\r\n\r\n", 5);
}

int px_msg_dechunk(struct h1_body *b, struct evbuffer *in, size_t n, struct evbuffer *out)
{
    while (n > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            return -1;
        size_t seg = v.iov_len < n ? v.iov_len : n;
        const char *p = v.iov_base;
        size_t i = 0;
        while (i < seg) {
            uint64_t before = b->payload;
            long r = h1_body_consume(b, p + i, 1);
            if (r < 0)
                return -1;
            if (r == 0)
                break;
            if (b->payload > before) {
                /* a payload byte: the rest of this chunk's data follows in one piece */
                size_t k = seg - i - 1;
                if (k > b->remaining)
                    k = (size_t)b->remaining;
                if (k && h1_body_consume(b, p + i + 1, k) < 0)
                    return -1;
                evbuffer_add(out, p + i, 1 + k);
                i += 1 + k;
            } else {
                i++;
            }
        }
        evbuffer_drain(in, seg);
        n -= seg;
    }
    return 0;
}

long px_msg_body_span(struct h1_body *b, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    switch (b->kind) {
    case H1_BODY_NONE:
        b->done = true;
        return 0;
    case H1_BODY_LENGTH:
    case H1_BODY_CLOSE:
        return h1_body_consume(b, NULL, len);
    case H1_BODY_CHUNKED:
        break;
    }
    long total = 0;
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
    while (!b->done && (size_t)total < len) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, &pos, &v, 1) < 1)
            break;
        long r = h1_body_consume(b, v.iov_base, v.iov_len);
        if (r < 0)
            return -1;
        total += r;
        if ((size_t)r < v.iov_len)
            break;
        evbuffer_ptr_set(in, &pos, v.iov_len, EVBUFFER_PTR_ADD);
    }
    return total;
}
