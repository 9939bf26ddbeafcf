/* dn_conn — one logical client connection of a trial: makes --requests requests, reusing its
 * socket between them the way a naive keep-alive client does (no check for a FIN, unless
 * --check-before-reuse), opening a new socket when the server said close, when its own
 * --idle-timeout expired, or when the previous one is gone. A failed request ends it, or with
 * --on-failure reconnect drops its socket: the next request opens a new one.
 *
 * A request goes out in one write (sendmsg, head and body) as far as the socket buffer takes
 * it, unless --split-head, --upload-delay or --upload-chunk put write breaks in it.
 *
 * Non-blocking sockets driven directly by libevent: the write-error and EOF classification must
 * be exact (EPIPE/ECONNRESET while writing before a full response → reset; EOF with no response
 * byte → empty; EOF inside a framed body → partial; a close-delimited body ends at EOF). */
#ifndef RACELAB_DN_CONN_H
#define RACELAB_DN_CONN_H

#include "dn_run.h"

struct dn_conn *dn_conn_new(struct dn_trial *t, long index);
/* Starts the first request; the connection reports to dn_run_conn_done() when finished. */
void dn_conn_start(struct dn_conn *c);
void dn_conn_free(struct dn_conn *c);

#endif
