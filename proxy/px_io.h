/* px_io — socket I/O on evbuffers without bufferevents, because the order of events is the
 * point of racelab: each connection has one libevent event whose interest the owner sets
 * (px_io_watch), reads are single recv()s the owner loops over, and the kernel can be asked
 * whether the peer already closed (TCP_INFO, MSG_PEEK) without consuming anything. */
#ifndef RACELAB_PX_IO_H
#define RACELAB_PX_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event;
struct evbuffer;

/* One recv() of at most max bytes appended to buf: bytes read, 0 at EOF, -1 with errno
 * (EAGAIN when nothing is there). */
ssize_t px_io_read(struct evbuffer *buf, int fd, size_t max);

/* Writes buf until it is empty or the socket would block: 1 all written, 0 would block, -1 on
 * error (errno). *written (may be NULL) is increased by the bytes written. */
int px_io_flush(struct evbuffer *buf, int fd, size_t *written);

/* Changes the interest of ev (same fd, callback and argument) to flags, when different. */
void px_io_watch(struct event *ev, short flags);

/* The kernel's view: the peer sent FIN (CLOSE_WAIT) or RST (CLOSE). */
bool px_io_peer_closed(int fd);

enum px_peek {
    PX_PEEK_OPEN,   /* nothing to read: still open as far as this host knows */
    PX_PEEK_CLOSED, /* EOF or an error queued: the peer closed */
    PX_PEEK_DATA,   /* unexpected bytes from an idle peer */
};
enum px_peek px_io_peek(int fd);

#endif
