#include "h1.h"

#include <string.h>
#include <strings.h>

/* RFC 7230 tchar */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_vchar_or_ws(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* One line of the head: [start, start+len) without its CRLF or LF. Returns the offset of the
 * next line, or 0 when no line end is in the buffer yet. */
static size_t next_line(const char *buf, size_t len, size_t pos, size_t *line_len)
{
    const char *nl = memchr(buf + pos, '\n', len - pos);
    if (!nl)
        return 0;
    size_t end = (size_t)(nl - buf);
    size_t l = end - pos;
    if (l > 0 && buf[end - 1] == '\r')
        l--;
    *line_len = l;
    return end + 1;
}

static bool eq_ci(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* Validates a partial (unterminated) line so that garbage fails fast instead of waiting for a
 * line end that may never come. Only bytes that can never appear in a head line are checked. */
static bool partial_line_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r' && i + 1 == n)
            return true;
        if (!is_vchar_or_ws(c))
            return false;
    }
    return true;
}

static int parse_version(const char *p, size_t n, int *minor)
{
    if (n != 8 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1'))
        return H1_ERROR;
    *minor = p[7] - '0';
    return 0;
}

static int parse_request_line(const char *p, size_t n, struct h1_msg *m)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return H1_ERROR;
    m->method = p;
    m->method_len = i;
    size_t t = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7f)
            return H1_ERROR;
        i++;
    }
    if (i == t || i >= n)
        return H1_ERROR;
    m->target = p + t;
    m->target_len = i - t;
    return parse_version(p + i + 1, n - i - 1, &m->minor);
}

static int parse_status_line(const char *p, size_t n, struct h1_msg *m)
{
    if (n < 12 || parse_version(p, 8, &m->minor) != 0 || p[8] != ' ')
        return H1_ERROR;
    int st = 0;
    for (int k = 9; k < 12; k++) {
        if (p[k] < '0' || p[k] > '9')
            return H1_ERROR;
        st = st * 10 + (p[k] - '0');
    }
    if (st < 100)
        return H1_ERROR;
    m->status = st;
    if (n > 12) {
        if (p[12] != ' ')
            return H1_ERROR;
        m->reason = p + 13;
        m->reason_len = n - 13;
        for (size_t k = 0; k < m->reason_len; k++)
            if (!is_vchar_or_ws((unsigned char)m->reason[k]))
                return H1_ERROR;
    } else {
        m->reason = p + 12;
        m->reason_len = 0;
    }
    return 0;
}

/* Walks the comma-separated tokens of a Connection/Transfer-Encoding value. */
void h1_each_token(const char *v, size_t n, void (*fn)(const char *, size_t, void *), void *arg)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s)
            fn(v + s, e - s, arg);
    }
}

struct token_search {
    const char *t;
    size_t len;
    bool found;
};

static void token_match(const char *tok, size_t n, void *arg)
{
    struct token_search *ts = arg;
    if (n == ts->len && strncasecmp(tok, ts->t, n) == 0)
        ts->found = true;
}

bool h1_list_has(const char *v, size_t n, const char *t, size_t tlen)
{
    struct token_search ts = {t, tlen, false};
    h1_each_token(v, n, token_match, &ts);
    return ts.found;
}

static void conn_token(const char *t, size_t n, void *arg)
{
    struct h1_msg *m = arg;
    if (eq_ci(t, n, "close"))
        m->conn_close = true;
    else if (eq_ci(t, n, "keep-alive"))
        m->conn_keep_alive = true;
}

struct te_state {
    int count;
    int chunked; /* how many times chunked is listed */
    bool last_chunked;
};

static void te_token(const char *t, size_t n, void *arg)
{
    struct te_state *s = arg;
    s->count++;
    s->last_chunked = eq_ci(t, n, "chunked");
    s->chunked += s->last_chunked;
}

static int parse_content_length(const char *v, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return H1_ERROR;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return H1_ERROR;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 0;
}

/* Reads the framing-relevant headers; rejects the ambiguous framings that request smuggling
 * relies on (RFC 7230 §3.3.3: both Transfer-Encoding and Content-Length, differing lengths). */
static int interpret_headers(struct h1_msg *m)
{
    bool have_te = false;
    struct te_state te = {0};
    for (size_t i = 0; i < m->nheaders; i++) {
        const struct h1_header *h = &m->headers[i];
        if (eq_ci(h->name, h->name_len, "content-length")) {
            int64_t cl;
            if (parse_content_length(h->value, h->value_len, &cl) != 0)
                return H1_ERROR;
            if (m->content_length >= 0 && m->content_length != cl)
                return H1_ERROR;
            m->content_length = cl;
        } else if (eq_ci(h->name, h->name_len, "transfer-encoding")) {
            have_te = true;
            h1_each_token(h->value, h->value_len, te_token, &te);
        } else if (eq_ci(h->name, h->name_len, "connection")) {
            h1_each_token(h->value, h->value_len, conn_token, m);
        } else if (eq_ci(h->name, h->name_len, "expect")) {
            m->expect_continue = eq_ci(h->value, h->value_len, "100-continue");
        }
    }
    if (have_te) {
        /* chunked last and only once (RFC 9112 §6.1, §7) */
        if (m->content_length >= 0 || te.count == 0 || !te.last_chunked || te.chunked > 1 ||
            m->minor == 0)
            return H1_ERROR;
        m->chunked = true;
    }
    return 0;
}

static int parse_header_line(const char *p, size_t n, struct h1_msg *m)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    /* no name, obs-fold (leading white space), or white space before the colon */
    if (i == 0 || i >= n || p[i] != ':')
        return H1_ERROR;
    if (m->nheaders == H1_MAX_HEADERS)
        return H1_TOO_MANY;
    struct h1_header *h = &m->headers[m->nheaders++];
    h->name = p;
    h->name_len = i;
    i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t e = n;
    while (e > i && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    for (size_t k = i; k < e; k++)
        if (!is_vchar_or_ws((unsigned char)p[k]))
            return H1_ERROR;
    h->value = p + i;
    h->value_len = e - i;
    return 0;
}

/* Skips the empty lines (CRLF or LF) before a request line, at most H1_MAX_EMPTY_LINES; sets
 * *pos past them. 0, H1_INCOMPLETE (a CR that may become one) or H1_ERROR (too many). */
static int skip_empty_lines(const char *buf, size_t len, size_t *pos)
{
    size_t p = 0;
    for (int n = 0;; n++) {
        size_t k = 0;
        if (p < len && buf[p] == '\n')
            k = 1;
        else if (p + 1 < len && buf[p] == '\r' && buf[p + 1] == '\n')
            k = 2;
        else if (p + 1 == len && buf[p] == '\r')
            return H1_INCOMPLETE;
        if (k == 0)
            break;
        if (n == H1_MAX_EMPTY_LINES)
            return H1_ERROR;
        p += k;
    }
    *pos = p;
    return 0;
}

static int parse_head(const char *buf, size_t len, struct h1_msg *m, bool request)
{
    memset(m, 0, sizeof(*m));
    m->content_length = -1;
    size_t pos = 0, ll = 0, next;
    int rc;

    if (request && (rc = skip_empty_lines(buf, len, &pos)) != 0)
        return rc;
    next = next_line(buf, len, pos, &ll);
    if (!next)
        return partial_line_ok(buf + pos, len - pos) ? H1_INCOMPLETE : H1_ERROR;
    rc = request ? parse_request_line(buf + pos, ll, m) : parse_status_line(buf + pos, ll, m);
    if (rc != 0)
        return rc;
    pos = next;
    for (;;) {
        next = next_line(buf, len, pos, &ll);
        if (!next)
            return partial_line_ok(buf + pos, len - pos) ? H1_INCOMPLETE : H1_ERROR;
        if (ll == 0)
            break;
        rc = parse_header_line(buf + pos, ll, m);
        if (rc != 0)
            return rc;
        pos = next;
    }
    rc = interpret_headers(m);
    if (rc != 0)
        return rc;
    return (int)next;
}

int h1_parse_request(const char *buf, size_t len, struct h1_msg *m)
{
    return parse_head(buf, len, m, true);
}

int h1_parse_response(const char *buf, size_t len, struct h1_msg *m)
{
    return parse_head(buf, len, m, false);
}

bool h1_keep_alive(const struct h1_msg *m)
{
    if (m->minor >= 1)
        return !m->conn_close;
    return m->conn_keep_alive && !m->conn_close;
}

const struct h1_header *h1_find(const struct h1_msg *m, const char *name)
{
    for (size_t i = 0; i < m->nheaders; i++)
        if (eq_ci(m->headers[i].name, m->headers[i].name_len, name))
            return &m->headers[i];
    return NULL;
}

bool h1_method_is(const struct h1_msg *m, const char *method)
{
    size_t n = strlen(method);
    return m->method_len == n && memcmp(m->method, method, n) == 0;
}

const char *h1_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    }
    return "Unknown";
}

void h1_body_init_request(struct h1_body *b, const struct h1_msg *req)
{
    memset(b, 0, sizeof(*b));
    if (req->chunked) {
        b->kind = H1_BODY_CHUNKED;
    } else if (req->content_length > 0) {
        b->kind = H1_BODY_LENGTH;
        b->remaining = (uint64_t)req->content_length;
    } else {
        b->kind = H1_BODY_NONE;
        b->done = true;
    }
}

void h1_body_init_response(struct h1_body *b, const struct h1_msg *resp, bool head_request)
{
    memset(b, 0, sizeof(*b));
    if (head_request || (resp->status >= 100 && resp->status < 200) || resp->status == 204 ||
        resp->status == 304) {
        b->kind = H1_BODY_NONE;
        b->done = true;
    } else if (resp->chunked) {
        b->kind = H1_BODY_CHUNKED;
    } else if (resp->content_length >= 0) {
        b->kind = resp->content_length ? H1_BODY_LENGTH : H1_BODY_NONE;
        b->remaining = (uint64_t)resp->content_length;
        b->done = resp->content_length == 0;
    } else {
        b->kind = H1_BODY_CLOSE;
    }
}

/* chunked grammar positions (RFC 9112 §7.1); every line of the framing ends with CRLF: a bare
 * CR or a bare LF is an error, so that no recipient can split the body differently */
enum {
    CK_SIZE,       /* hex digits */
    CK_SIZE_WS,    /* white space after the digits: only ';' or the CR may follow */
    CK_EXT,        /* chunk extension up to the CR */
    CK_SIZE_LF,    /* LF after the size line's CR */
    CK_DATA,       /* chunk data */
    CK_DATA_CR,    /* CR after data */
    CK_DATA_LF,    /* LF after data */
    CK_TRAILER,    /* start of a trailer line (or the final empty line) */
    CK_TRAILER_IN, /* inside a trailer line */
    CK_TRAILER_LF, /* LF after a trailer line's CR */
    CK_END_LF,     /* LF of the final empty line */
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The chunk-size line: size, optional white space and extensions, CRLF. Returns the next state,
 * or -1 on an error. */
static int chunk_size_byte(struct h1_body *b, char c)
{
    int v = hexval(c);
    switch (b->state) {
    case CK_SIZE:
        if (v >= 0) {
            if (++b->digits > 15)
                return -1;
            b->remaining = b->remaining * 16 + (uint64_t)v;
            return CK_SIZE;
        }
        if (b->digits == 0)
            return -1;
        if (c == ' ' || c == '\t')
            return CK_SIZE_WS;
        return c == ';' ? CK_EXT : c == '\r' ? CK_SIZE_LF : -1;
    case CK_SIZE_WS:
        if (c == ' ' || c == '\t')
            return CK_SIZE_WS;
        return c == ';' ? CK_EXT : c == '\r' ? CK_SIZE_LF : -1;
    case CK_EXT:
        if (c == '\r')
            return CK_SIZE_LF;
        return is_vchar_or_ws((unsigned char)c) ? CK_EXT : -1;
    case CK_SIZE_LF:
        if (c != '\n')
            return -1;
        b->digits = 0;
        return b->remaining ? CK_DATA : CK_TRAILER;
    }
    return -1;
}

/* The trailer section: field lines, then the final CRLF. Returns the next state, or -1. */
static int chunk_trailer_byte(struct h1_body *b, char c)
{
    switch (b->state) {
    case CK_TRAILER:
        if (c == '\r')
            return CK_END_LF;
        /* a field line starts with a name: no obs-fold, no bare LF */
        return is_tchar((unsigned char)c) ? CK_TRAILER_IN : -1;
    case CK_TRAILER_IN:
        if (c == '\r')
            return CK_TRAILER_LF;
        return is_vchar_or_ws((unsigned char)c) ? CK_TRAILER_IN : -1;
    case CK_TRAILER_LF:
        return c == '\n' ? CK_TRAILER : -1;
    case CK_END_LF:
        if (c != '\n')
            return -1;
        b->done = true;
        return CK_END_LF;
    }
    return -1;
}

static long consume_chunked(struct h1_body *b, const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len && !b->done) {
        char c = buf[i];
        int next;
        switch (b->state) {
        case CK_DATA: {
            size_t n = len - i;
            if (n > b->remaining)
                n = (size_t)b->remaining;
            b->remaining -= n;
            b->payload += n;
            i += n;
            if (b->remaining == 0)
                b->state = CK_DATA_CR;
            continue;
        }
        case CK_DATA_CR:
            next = c == '\r' ? CK_DATA_LF : -1;
            break;
        case CK_DATA_LF:
            next = c == '\n' ? CK_SIZE : -1;
            break;
        case CK_TRAILER:
        case CK_TRAILER_IN:
        case CK_TRAILER_LF:
        case CK_END_LF:
            next = chunk_trailer_byte(b, c);
            break;
        default:
            next = chunk_size_byte(b, c);
            break;
        }
        if (next < 0)
            return H1_ERROR;
        b->state = next;
        i++;
    }
    return (long)i;
}

long h1_body_consume(struct h1_body *b, const char *buf, size_t len)
{
    if (b->done)
        return 0;
    switch (b->kind) {
    case H1_BODY_NONE:
        b->done = true;
        return 0;
    case H1_BODY_LENGTH: {
        size_t n = len < b->remaining ? len : (size_t)b->remaining;
        b->remaining -= n;
        b->payload += n;
        b->done = b->remaining == 0;
        return (long)n;
    }
    case H1_BODY_CHUNKED:
        return consume_chunked(b, buf, len);
    case H1_BODY_CLOSE:
        b->payload += len;
        return (long)len;
    }
    return H1_ERROR;
}

bool h1_body_eof_ok(struct h1_body *b)
{
    if (b->kind == H1_BODY_CLOSE)
        b->done = true;
    return b->done;
}

const char *h1_body_kind_name(enum h1_body_kind k)
{
    switch (k) {
    case H1_BODY_NONE:
        return "none";
    case H1_BODY_LENGTH:
        return "content-length";
    case H1_BODY_CHUNKED:
        return "chunked";
    case H1_BODY_CLOSE:
        return "close";
    }
    return "?";
}
