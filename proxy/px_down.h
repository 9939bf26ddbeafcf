/* px_down — the downstream side: accepted connections, request parsing, the request's life
 * (upstream attempts, retries, timeout, local replies), writing the response, and deciding when
 * the connection closes (then px_close decides how).
 *
 * Close rules (Envoy's): after a response the connection closes when the request said
 * "Connection: close", was HTTP/1.0 without keep-alive, was answered locally with 400/431,
 * reached --max-requests-per-connection, the response started before the request was complete
 * (an early 413), the response can only be framed by the close, or the connection is draining
 * (idle timeout, max connection duration). Draining responses say "Connection: close"; the
 * upstream's own Connection header is never passed on (docs/behaviour.md, Envoy). */
#ifndef RACELAB_PX_DOWN_H
#define RACELAB_PX_DOWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "h1.h"
#include "px.h"
#include "px_cfg.h"
#include "px_msg.h"

struct evbuffer;
struct px_uconn;

#define PX_METHOD_MAX  24
#define PX_PATH_MAX    256
#define PX_DETAILS_MAX 80

struct px_req {
    struct px_dconn *dc;
    bool active;

    /* the request */
    char method[PX_METHOD_MAX];
    char path[PX_PATH_MAX];
    int minor;       /* 0 = HTTP/1.0 */
    bool want_close; /* the client does not keep the connection alive */
    bool head_method;
    bool idempotent;
    struct h1_body body;
    bool body_done;
    uint64_t rx_bytes; /* request bytes read (head and body) */
    uint64_t tx_bytes; /* response bytes queued downstream */
    uint64_t start_us, start_mono;
    struct evbuffer *upbuf;  /* request bytes not yet handed to an upstream connection */
    struct evbuffer *replay; /* every request byte, kept for a retry (NULL: not replayable) */

    /* upstream attempts */
    struct px_uconn *uc; /* the attempt's connection; NULL while pending or backing off */
    bool pending;        /* in the pool's pending queue */
    TAILQ_ENTRY(px_req) pq;
    bool sent; /* this attempt's request went to an upstream connection */
    int attempts;
    int ports[PX_MAX_RETRIES + 1];
    bool reused[PX_MAX_RETRIES + 1];

    /* the response */
    bool resp_started, resp_done;
    int status;
    enum px_reframe reframe;
    struct h1_body dechunk; /* PX_REFRAME_DECHUNK: chunk grammar of the upstream body */
    bool close_after;
    bool http10_sans_cl;
    bool protocol_error; /* local 400/431/408 to a head: closes after it, delayed */
    unsigned flags;      /* PX_F_* */
    /* why the response is what it is, Envoy's %RESPONSE_CODE_DETAILS% ("via_upstream",
     * "missing_host_header", ...); empty when there was no response */
    char details[PX_DETAILS_MAX];
};

struct px_dconn {
    struct px *px;
    int fd;
    struct event *ev;
    struct evbuffer *in, *out;
    int dport, lport;
    uint32_t nreq;
    bool draining; /* responses say "Connection: close" (Envoy's drain sequence) */
    bool dead;
    bool in_process; /* px_down's parse loop is on the stack */
    bool up_paused;  /* the upstream read is paused until out drains (back-pressure) */
    struct event *idle_tmr, *dur_tmr, *drain_tmr, *retry_tmr, *timeout_tmr, *head_tmr;
    struct px_req req; /* HTTP/1: one request at a time */
    LIST_ENTRY(px_dconn) link;
    struct px_deferred dfr;
};

/* A connection px_listen accepted (non-blocking): the downstream side takes it over. */
void px_down_new(struct px *px, int fd);

/* Closes every downstream connection (exit). */
void px_down_close_all(struct px *px);

/* Called by px_pool for the request's current attempt. */

/* Each of these may detach the request from its connection (px_pool_detach closes it); the pool
 * checks its connection's state after every call. */

/* The response head arrived; rb is the body framing it announces. The request may give the
 * attempt up (a 5xx it retries). */
void px_down_upstream_head(struct px_req *req, const struct h1_msg *resp, const struct h1_body *rb);
/* n bytes of response body (framing included) at the front of in: the request takes them. */
void px_down_upstream_body(struct px_req *req, struct evbuffer *in, size_t n);
/* The pool read everything there was for now: write what the response queued downstream (the
 * head and the body of a small response leave in one write). */
void px_down_upstream_flush(struct px_req *req);
/* The response is complete; the connection is already detached from the request. */
void px_down_upstream_done(struct px_req *req);
/* The attempt ended without a complete response; the connection is already detached. */
void px_down_upstream_reset(struct px_req *req, enum px_reason reason);
/* The connection wrote everything the request gave it: the client may be read again. */
void px_down_upstream_drained(struct px_req *req);

#endif
