/* px_msg — the proxy's glue on top of lib/h1: the request head sent upstream, the response
 * head sent downstream, local replies (with Envoy's texts), and the two body re-framings HTTP/1.0
 * clients and close-delimited upstream bodies need. Pure functions on evbuffers, unit-tested.
 *
 * Upstream requests are always HTTP/1.1 (as Envoy sends them); hop-by-hop headers (Connection,
 * Keep-Alive, Proxy-Connection, TE, Upgrade, and those a Connection line names) are not
 * forwarded in either direction, so the upstream's "Connection: close" never reaches the client
 * (docs/behaviour.md, Envoy). */
#ifndef RACELAB_PX_MSG_H
#define RACELAB_PX_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "h1.h"

struct evbuffer;

enum px_reframe {
    PX_REFRAME_NONE,
    PX_REFRAME_CHUNK,   /* close-delimited upstream body to an HTTP/1.1 client: chunked */
    PX_REFRAME_DECHUNK, /* chunked upstream body to an HTTP/1.0 client: framed by the close */
};

/* Envoy's local reply body for a reset before the response headers; after a retry
 * "retried and the latest " goes before "reset reason". */
#define PX_503_PREFIX "upstream connect error or disconnect/reset before headers. "

/* Why the parsed request must not be forwarded (the proxy answers 400): a name for the access
 * log's details, NULL when it may be forwarded.
 *   missing_host_header    HTTP/1.1 without Host (RFC 9112 §3.2; HTTP/1.0 may omit it)
 *   duplicate_host_header  more than one Host line, even with the same value
 *   invalid_host_header    a Host value that is not uri-host [ ":" port ]
 *   http1.unexpected_underscore  a name that is Content-Length or Transfer-Encoding once '_' is
 *                          read as '-' (Transfer_Encoding): CGI-style upstreams do, and would
 *                          frame the body differently (Envoy's headers_with_underscores_action
 *                          REJECT_REQUEST, for these two names only)
 *   connection_header_names_framing  Connection names Content-Length, Transfer-Encoding or
 *                          Host: dropping them as hop-by-hop would change the framing or the
 *                          destination of the request */
const char *px_msg_request_refusal(const struct h1_msg *req);

/* expect_handled: the proxy answered "Expect: 100-continue" itself, so the header is dropped.
 * default_host: the Host sent for a request without one (HTTP/1.0): the upstream request is
 * HTTP/1.1, which requires it; nginx sends its $proxy_host, the upstream's address. */
void px_msg_request_head(struct evbuffer *out, const struct h1_msg *req, bool expect_handled,
                         const char *default_host);

struct px_resp_head {
    int minor;  /* the client's HTTP version: the status line says the same */
    bool close; /* the connection closes after this response */
    enum px_reframe reframe;
};
void px_msg_response_head(struct evbuffer *out, const struct h1_msg *resp,
                          const struct px_resp_head *h);

/* A complete local response (text/plain body; no body bytes for HEAD). */
void px_msg_local_reply(struct evbuffer *out, int minor, int status, const char *body, bool close,
                        bool head_only);

/* PX_REFRAME_CHUNK: n bytes of in become one chunk of out (n > 0); the last chunk ends it. */
void px_msg_chunk(struct evbuffer *out, struct evbuffer *in, size_t n);
void px_msg_last_chunk(struct evbuffer *out);

/* PX_REFRAME_DECHUNK: moves the payload of the next n bytes of in (chunked framing, parsed with
 * b) to out and drops the framing. 0, or -1 when the framing is malformed. */
int px_msg_dechunk(struct h1_body *b, struct evbuffer *in, size_t n, struct evbuffer *out);

/* How many of the bytes at the front of in belong to body b (consuming them in b's state);
 * -1 when the framing is malformed. */
long px_msg_body_span(struct h1_body *b, struct evbuffer *in);

#endif
