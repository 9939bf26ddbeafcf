#include "px_io.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

ssize_t px_io_read(struct evbuffer *buf, int fd, size_t max)
{
    struct evbuffer_iovec v;
    /* evbuffer_read() asks FIONREAD first: one syscall per read we do not need */
    if (evbuffer_reserve_space(buf, (ev_ssize_t)max, &v, 1) < 1) {
        errno = ENOMEM;
        return -1;
    }
    if (v.iov_len > max)
        v.iov_len = max;
    ssize_t n;
    do {
        n = recv(fd, v.iov_base, v.iov_len, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        int e = errno;
        v.iov_len = 0;
        evbuffer_commit_space(buf, &v, 1);
        errno = e;
        return n;
    }
    v.iov_len = (size_t)n;
    evbuffer_commit_space(buf, &v, 1);
    return n;
}

int px_io_flush(struct evbuffer *buf, int fd, size_t *written)
{
    while (evbuffer_get_length(buf) > 0) {
        int n = evbuffer_write(buf, fd);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        if (n == 0)
            return 0;
        if (written)
            *written += (size_t)n;
    }
    return 1;
}

void px_io_watch(struct event *ev, short flags)
{
    struct event_base *base;
    evutil_socket_t fd;
    short cur;
    event_callback_fn cb;
    void *arg;
    event_get_assignment(ev, &base, &fd, &cur, &cb, &arg);
    if (cur == flags)
        return;
    event_del(ev);
    event_assign(ev, base, fd, flags, cb, arg);
    if (flags & (EV_READ | EV_WRITE | EV_CLOSED))
        event_add(ev, NULL);
}

bool px_io_peer_closed(int fd)
{
    struct tcp_info ti;
    socklen_t l = sizeof(ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) != 0)
        return true;
    return ti.tcpi_state == TCP_CLOSE_WAIT || ti.tcpi_state == TCP_CLOSE ||
           ti.tcpi_state == TCP_LAST_ACK || ti.tcpi_state == TCP_CLOSING ||
           ti.tcpi_state == TCP_TIME_WAIT;
}

enum px_peek px_io_peek(int fd)
{
    char c;
    ssize_t n;
    do {
        n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == 0)
        return PX_PEEK_CLOSED;
    if (n > 0)
        return PX_PEEK_DATA;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? PX_PEEK_OPEN : PX_PEEK_CLOSED;
}
