/* h1 — HTTP/1.0 and 1.1 message framing shared by the proxy and the fake peers.
 *
 * Zero-copy head parser in the style of picohttpparser: the caller owns the buffer and the
 * h1_msg; parsed names and values point into the buffer. Contract of h1_parse_request() and
 * h1_parse_response():
 *   n > 0            the head is complete and is n bytes long (the body, if any, follows);
 *   H1_INCOMPLETE    every line seen so far is valid, more bytes are needed;
 *   H1_ERROR         malformed (the proxy answers 400 / treats the upstream as a protocol error);
 *   H1_TOO_MANY      more than H1_MAX_HEADERS header lines (the proxy answers 431).
 * The caller enforces its own limit on head size while the result is H1_INCOMPLETE.
 *
 * Bodies are delimited by h1_body (RFC 7230 §3.3.3): none, Content-Length, chunked, or, for
 * responses only, the connection close. h1_body_consume() reports how many of the bytes given
 * belong to the body (framing included), so a proxy can relay them unchanged and knows where
 * the next message starts. */
#ifndef RACELAB_H1_H
#define RACELAB_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H1_MAX_HEADERS 64
/* Empty lines (CRLF or LF) ignored before a request line (RFC 9112 §2.2: a server SHOULD
 * ignore at least one); more are an error. */
#define H1_MAX_EMPTY_LINES 8

enum {
    H1_ERROR = -1,
    H1_INCOMPLETE = -2,
    H1_TOO_MANY = -3,
};

struct h1_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct h1_msg {
    /* request line */
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    /* status line */
    int status;
    const char *reason;
    size_t reason_len;
    /* both */
    int minor; /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    struct h1_header headers[H1_MAX_HEADERS];
    size_t nheaders;
    /* framing facts read from the headers */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool conn_close;        /* Connection: close */
    bool conn_keep_alive;   /* Connection: keep-alive */
    bool expect_continue;   /* Expect: 100-continue */
};

int h1_parse_request(const char *buf, size_t len, struct h1_msg *m);
int h1_parse_response(const char *buf, size_t len, struct h1_msg *m);

/* Whether the sender of m wants the connection kept open after this message
 * (HTTP/1.1: unless "Connection: close"; HTTP/1.0: only with "Connection: keep-alive"). */
bool h1_keep_alive(const struct h1_msg *m);

/* Case-insensitive header lookup; NULL when absent. */
const struct h1_header *h1_find(const struct h1_msg *m, const char *name);

bool h1_method_is(const struct h1_msg *m, const char *method);

/* The reason phrase of a status code ("Payload Too Large"), or "Unknown". */
const char *h1_reason(int status);

/* The comma-separated tokens of a list-valued header (Connection, Transfer-Encoding), without
 * the blanks around them and without empty elements: fn(token, length, arg) for each. */
void h1_each_token(const char *v, size_t n, void (*fn)(const char *, size_t, void *), void *arg);
/* Whether such a list holds the token t (case-insensitive). */
bool h1_list_has(const char *v, size_t n, const char *t, size_t tlen);

enum h1_body_kind {
    H1_BODY_NONE,
    H1_BODY_LENGTH,
    H1_BODY_CHUNKED,
    H1_BODY_CLOSE, /* response framed by the connection close (HTTP/1.0 style) */
};

struct h1_body {
    enum h1_body_kind kind;
    uint64_t remaining; /* LENGTH: bytes left; CHUNKED: bytes left in the current chunk */
    uint64_t payload;   /* payload bytes seen so far (chunk framing excluded) */
    int state;          /* CHUNKED: position in the chunk grammar */
    int digits;
    bool done;
};

void h1_body_init_request(struct h1_body *b, const struct h1_msg *req);
/* head_request: the request was HEAD (no body whatever the headers say). */
void h1_body_init_response(struct h1_body *b, const struct h1_msg *resp, bool head_request);

/* Consumes up to len bytes of body; returns how many belong to this body (< len only when the
 * body ended inside buf), or H1_ERROR for malformed chunk framing. Sets b->done at the end. */
long h1_body_consume(struct h1_body *b, const char *buf, size_t len);

/* The peer closed the connection: true when that ends the body properly (close-delimited body,
 * or a body already complete), false when the body was cut short. */
bool h1_body_eof_ok(struct h1_body *b);

const char *h1_body_kind_name(enum h1_body_kind k);

#endif
