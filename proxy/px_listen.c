#include "px_listen.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "px_down.h"

/* connections accepted per readable event before other events get their turn */
#define PX_ACCEPT_BATCH 64
/* the most connections accepted and closed at once when out of descriptors (the backlog) */
#define PX_REJECT_MAX 4096

struct px_listener {
    struct px *px;
    int fd;
    int spare; /* reserve descriptor: /dev/null, -1 when it could not be reopened */
    struct event *ev, *resume;
    bool warned; /* the first pause was reported on stderr */
};

static void reserve(struct px_listener *l)
{
    if (l->spare < 0)
        l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* With the reserve descriptor free, accept-and-close everything waiting. */
static void reject_waiting(struct px_listener *l)
{
    if (l->spare < 0)
        return;
    close(l->spare);
    l->spare = -1;
    for (int i = 0; i < PX_REJECT_MAX; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        close(fd);
        l->px->stats.downstream_cx_fd_exhausted++;
    }
    reserve(l);
}

/* accept() failed for lack of descriptors or memory: answer what waits, then stop for a
 * moment (the listener is level-triggered: it would be reported readable again at once). */
static void out_of_resources(struct px_listener *l, int err)
{
    if (!l->warned) {
        fprintf(stderr,
                "racelab-proxy: accept: %s: closing the connections that wait and pausing the "
                "listener for %d ms each time (stats downstream_cx_fd_exhausted, "
                "listener_accept_paused)\n",
                strerror(err), PX_ACCEPT_PAUSE_MS);
        l->warned = true;
    }
    if (err == EMFILE || err == ENFILE)
        reject_waiting(l);
    event_del(l->ev);
    l->px->stats.listener_accept_paused++;
    px_arm_ms(l->resume, PX_ACCEPT_PAUSE_MS);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct px_listener *l = arg;
    (void)fd;
    (void)what;
    reserve(l);
    event_add(l->ev, NULL);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct px_listener *l = arg;
    (void)what;
    for (int i = 0; i < PX_ACCEPT_BATCH; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED)
                continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
                out_of_resources(l, err);
            return;
        }
        long max = l->px->cfg->max_connections;
        if (max > 0 && l->px->down_open >= max) {
            /* Envoy's global connection limit: accepted and closed at once */
            close(fd);
            l->px->stats.downstream_global_cx_overflow++;
            continue;
        }
        px_down_new(l->px, fd);
    }
}

struct px_listener *px_listen_new(struct px *px, int lfd)
{
    struct px_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->px = px;
    l->fd = lfd;
    l->spare = -1;
    reserve(l);
    l->ev = event_new(px->base, lfd, EV_READ | EV_PERSIST, on_accept, l);
    l->resume = evtimer_new(px->base, on_resume, l);
    if (!l->ev || !l->resume || event_add(l->ev, NULL) != 0) {
        px_listen_free(l);
        return NULL;
    }
    return l;
}

void px_listen_free(struct px_listener *l)
{
    if (!l)
        return;
    if (l->ev)
        event_free(l->ev);
    if (l->resume)
        event_free(l->resume);
    if (l->spare >= 0)
        close(l->spare);
    free(l);
}
