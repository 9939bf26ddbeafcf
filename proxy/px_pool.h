/* px_pool — the upstream connection pool of the one cluster: connections (connecting, busy,
 * ready, held), the pending queue, the attach policy, the reuse check, the idle timeout, and the
 * upstream HTTP/1 codec (request out, response parsed in).
 *
 * Event order, as Envoy's: a connection's event handles write before read (so a write error is
 * a connection termination before the receive queue is looked at: envoy#2929's chain); a read
 * loops until EAGAIN or EOF, hands every byte to the parser, and only then acts on the EOF. So
 * with --attach-pending immediate a pending request is attached (and written) inside the
 * parser's response-complete step, before the FIN that arrived with the response is processed
 * (envoy#2715); deferred attaches after the current loop's events, when the FIN has been seen. */
#ifndef RACELAB_PX_POOL_H
#define RACELAB_PX_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "px.h"

struct px_req;

enum px_pool_result {
    PX_POOL_ATTACHED, /* the request went out on a connection */
    PX_POOL_PENDING,  /* queued until a connection is ready */
    PX_POOL_OVERFLOW, /* the pending queue is full: 503 UO */
};

struct px_pool *px_pool_new(struct px *px);
/* Closes every connection (exit); pending requests must be gone. */
void px_pool_free(struct px_pool *pool);

/* A new attempt of req. */
enum px_pool_result px_pool_request(struct px_pool *pool, struct px_req *req);

/* The request's bytes in req->upbuf go to its connection, when it has one. */
void px_pool_flush(struct px_req *req);

/* The request ends early (client gone, local reply, timeout, a 5xx retried): it leaves the
 * pending queue, or its connection is closed (HTTP/1 cannot abandon a request in flight). */
void px_pool_detach(struct px_req *req);

/* Back-pressure from the downstream: stop or resume reading the request's response. */
void px_pool_pause(struct px_req *req, bool pause);

/* Request bytes given to the request's connection and not yet written. */
size_t px_pool_queued(const struct px_req *req);

#endif
