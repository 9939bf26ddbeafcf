/* px_close — how a downstream connection ends: the one place that decision is made and carried
 * out.
 *
 *   FLUSH   Envoy ConnectionCloseType::FlushWrite: write what is queued, then close().
 *   DELAY   Envoy FlushWriteAndDelay (delayed_close_timeout, PR #4382): write what is queued,
 *           then keep the fd open WITHOUT shutdown() and WITHOUT reading, until the client's
 *           FIN/RST or the timer (re-armed on write progress); then close(), which still sends
 *           RST when request bytes are unread.
 *   LINGER  nginx lingering close: write what is queued, shutdown(SHUT_WR), then read and
 *           discard until EOF, lingering_timeout between reads or lingering_time in total.
 *   ABORT   close() now (the client is gone, or a response was cut).
 *
 * The decision (px_close_decide) is pure, so its table is unit-tested; px_close_start() takes
 * the socket over from the downstream connection and finishes it on its own. */
#ifndef RACELAB_PX_CLOSE_H
#define RACELAB_PX_CLOSE_H

#include <stdbool.h>
#include <sys/queue.h>

#include "px.h"

struct evbuffer;

enum px_close_kind {
    PX_CLOSE_ABORT,
    PX_CLOSE_FLUSH,
    PX_CLOSE_DELAY,
    PX_CLOSE_LINGER,
};

/* What the downstream connection knows when it decides to close. */
struct px_close_facts {
    bool protocol_error;   /* a local 400/431: Envoy always delays these */
    bool after_response;   /* closing because of this response (Envoy's saw_connection_close_) */
    bool request_complete; /* every request byte was read */
    bool http10_sans_cl;   /* HTTP/1.0 response without Content-Length (framed by the close) */
    bool never_requested;  /* idle/duration timeout before any request: Envoy uses FlushWrite */
    bool unread_input;     /* bytes beyond the request were received (pipelined, or the body) */
};

enum px_close_kind px_close_decide(const struct px_cfg *cfg, const struct px_close_facts *f);

const char *px_close_kind_name(enum px_close_kind k);

/* Takes over fd and out (queued response bytes; ownership passes, may be NULL) and closes the
 * socket the chosen way; the object frees itself. */
void px_close_start(struct px *px, int fd, struct evbuffer *out, enum px_close_kind kind);

/* At exit: closes every socket still being closed. */
void px_close_all(struct px *px);

#endif
