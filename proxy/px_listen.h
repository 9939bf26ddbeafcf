/* px_listen — the downstream listener: accepts connections and hands them to px_down. With
 * --max-connections open client sockets (Envoy's global downstream connection limit) a new
 * connection is accepted and closed at once (downstream_global_cx_overflow).
 *
 * Out of descriptors (accept() fails with EMFILE or ENFILE) the listener stays readable, so a
 * level-triggered accept loop would spin at 100% CPU and never get to the connections that could
 * free a descriptor. Instead (libuv's and nginx's answers together): a reserve descriptor is
 * closed to accept-and-close every connection waiting in the backlog (each client is told at
 * once rather than left waiting for a descriptor that may never come; counted in
 * downstream_cx_fd_exhausted), then the listener stops for PX_ACCEPT_PAUSE_MS (nginx's
 * accept_mutex_delay idea; counted in listener_accept_paused) and is re-enabled by a timer. */
#ifndef RACELAB_PX_LISTEN_H
#define RACELAB_PX_LISTEN_H

#include "px.h"

/* How long the listener stops after running out of descriptors (nginx: 500 ms). */
#define PX_ACCEPT_PAUSE_MS 100

struct px_listener;

/* Starts accepting on lfd (listening, non-blocking); NULL on failure. */
struct px_listener *px_listen_new(struct px *px, int lfd);
/* Stops accepting; the caller closes lfd. */
void px_listen_free(struct px_listener *l);

#endif
