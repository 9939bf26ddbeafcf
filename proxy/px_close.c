#include "px_close.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clk.h"
#include "px_io.h"

struct px_closing {
    struct px *px;
    int fd;
    enum px_close_kind kind;
    struct event *ev;
    struct event *tmr;
    struct evbuffer *out;
    bool shut;                /* LINGER: shutdown(SHUT_WR) done */
    uint64_t deadline;        /* when the timer is due, monotonic µs */
    uint64_t linger_deadline; /* LINGER: lingering_time, monotonic µs */
    LIST_ENTRY(px_closing) link;
    struct px_deferred dfr;
};

enum px_close_kind px_close_decide(const struct px_cfg *cfg, const struct px_close_facts *f)
{
    if (cfg->lingering_close) {
        /* nginx's "lingering_close on": linger only when the client may still be sending */
        if (!f->request_complete || f->unread_input || f->protocol_error)
            return f->never_requested ? PX_CLOSE_FLUSH : PX_CLOSE_LINGER;
        return PX_CLOSE_FLUSH;
    }
    /* Envoy: an idle or duration timeout before any request flushes and closes */
    if (f->never_requested)
        return PX_CLOSE_FLUSH;
    if (cfg->delayed_close_timeout_ms == 0)
        return PX_CLOSE_FLUSH;
    /* Envoy 1.22 (PR #19863): no delay when the close follows a response and the request was
     * fully read (no FIN-RST race left) or the response is framed by the close (the delay would
     * only postpone the end of the response: envoy#19821). Protocol errors always delay. */
    if (cfg->skip_delay_close && !f->protocol_error && f->after_response &&
        (f->request_complete || f->http10_sans_cl))
        return PX_CLOSE_FLUSH;
    return PX_CLOSE_DELAY;
}

const char *px_close_kind_name(enum px_close_kind k)
{
    switch (k) {
    case PX_CLOSE_ABORT:
        return "abort";
    case PX_CLOSE_FLUSH:
        return "flush";
    case PX_CLOSE_DELAY:
        return "delay";
    case PX_CLOSE_LINGER:
        return "linger";
    }
    return "?";
}

static void closing_free(struct px_deferred *d)
{
    struct px_closing *c = (struct px_closing *)((char *)d - offsetof(struct px_closing, dfr));
    free(c);
}

/* libevent's timers run on the coarse monotonic clock and the time cached at the start of the
 * loop iteration, so they may fire up to a tick early; the deadline is kept here and checked on
 * the precise clock, so a delayed close never ends before its timeout. */
static void arm(struct px_closing *c, long ms)
{
    c->deadline = clk_mono_us() + (uint64_t)ms * 1000u;
    px_arm_ms(c->tmr, ms);
}

static void finish(struct px_closing *c)
{
    if (c->fd < 0)
        return;
    if (c->ev)
        event_free(c->ev);
    if (c->tmr)
        event_free(c->tmr);
    c->ev = c->tmr = NULL;
    if (c->out)
        evbuffer_free(c->out);
    c->out = NULL;
    close(c->fd);
    c->fd = -1;
    c->px->down_open--;
    LIST_REMOVE(c, link);
    c->dfr.free_fn = closing_free;
    px_defer_free(c->px, &c->dfr);
}

/* LINGER: discard what the client still sends, until EOF. 1 = EOF/error (close now), 0 = more
 * may come. */
static int discard(struct px_closing *c, bool *progress)
{
    static char sink[65536];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n > 0) {
            *progress = true;
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EINTR)
            continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : 1;
    }
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct px_closing *c = arg;
    const struct px_cfg *cfg = c->px->cfg;
    size_t written = 0;
    int fl = 1;
    (void)fd;

    if (c->out && evbuffer_get_length(c->out) > 0) {
        fl = px_io_flush(c->out, c->fd, &written);
        if (fl < 0) {
            finish(c);
            return;
        }
    }

    switch (c->kind) {
    case PX_CLOSE_ABORT:
        finish(c);
        return;
    case PX_CLOSE_FLUSH:
        if (fl == 1)
            finish(c);
        return;
    case PX_CLOSE_DELAY:
        /* never read: the client's FIN (EV_CLOSED) or RST (reported as read|write) ends it */
        if ((what & EV_CLOSED) || px_io_peer_closed(c->fd)) {
            finish(c);
            return;
        }
        if (written > 0)
            arm(c, cfg->delayed_close_timeout_ms);
        return;
    case PX_CLOSE_LINGER: {
        bool progress = false;
        if (discard(c, &progress)) {
            finish(c);
            return;
        }
        if (fl == 1 && !c->shut) {
            shutdown(c->fd, SHUT_WR);
            c->shut = true;
        }
        if (progress || written > 0) {
            uint64_t now = clk_mono_us();
            long left = c->linger_deadline > now ? (long)((c->linger_deadline - now) / 1000) : 0;
            arm(c, left < cfg->lingering_timeout_ms ? left : cfg->lingering_timeout_ms);
        }
        return;
    }
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct px_closing *c = arg;
    (void)fd;
    (void)what;
    uint64_t now = clk_mono_us();
    if (now < c->deadline) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)(c->deadline - now)};
        if (tv.tv_usec >= 1000000) {
            tv.tv_sec = tv.tv_usec / 1000000;
            tv.tv_usec %= 1000000;
        }
        event_add(c->tmr, &tv);
        return;
    }
    switch (c->kind) {
    case PX_CLOSE_DELAY:
        c->px->stats.delayed_close_timeouts++;
        break;
    case PX_CLOSE_LINGER:
        c->px->stats.lingering_close_timeouts++;
        break;
    case PX_CLOSE_ABORT:
    case PX_CLOSE_FLUSH:
        break;
    }
    finish(c);
}

void px_close_start(struct px *px, int fd, struct evbuffer *out, enum px_close_kind kind)
{
    const struct px_cfg *cfg = px->cfg;
    struct px_closing *c = calloc(1, sizeof(*c));
    if (!c) {
        if (out)
            evbuffer_free(out);
        close(fd);
        px->down_open--;
        return;
    }
    c->px = px;
    c->fd = fd;
    c->kind = kind;
    c->out = out;
    LIST_INSERT_HEAD(&px->closings, c, link);

    if (kind == PX_CLOSE_ABORT) {
        finish(c);
        return;
    }

    size_t written = 0;
    int fl = c->out ? px_io_flush(c->out, fd, &written) : 1;
    if (fl < 0 || (fl == 1 && kind == PX_CLOSE_FLUSH)) {
        finish(c);
        return;
    }

    short flags = EV_PERSIST | EV_ET;
    long timeout = 0;
    switch (kind) {
    case PX_CLOSE_ABORT:
        break;
    case PX_CLOSE_FLUSH:
        /* Envoy uses the delayed-close timer as the flush timeout of FlushWrite too */
        flags |= EV_WRITE;
        timeout = cfg->delayed_close_timeout_ms;
        break;
    case PX_CLOSE_DELAY:
        px->stats.delayed_closes++;
        /* EV_WRITE too: libevent reports an RST (EPOLLHUP|EPOLLERR) as read|write only */
        flags |= EV_WRITE | EV_CLOSED;
        timeout = cfg->delayed_close_timeout_ms;
        break;
    case PX_CLOSE_LINGER:
        px->stats.lingering_closes++;
        flags |= EV_WRITE | EV_READ;
        c->linger_deadline = clk_mono_us() + (uint64_t)cfg->lingering_time_ms * 1000u;
        timeout = cfg->lingering_timeout_ms < cfg->lingering_time_ms ? cfg->lingering_timeout_ms
                                                                     : cfg->lingering_time_ms;
        if (fl == 1) {
            shutdown(fd, SHUT_WR);
            c->shut = true;
        }
        break;
    }
    c->ev = event_new(px->base, fd, flags, on_event, c);
    c->tmr = evtimer_new(px->base, on_timer, c);
    if (!c->ev || !c->tmr || event_add(c->ev, NULL) != 0) {
        finish(c);
        return;
    }
    if (timeout > 0)
        arm(c, timeout);
}

void px_close_all(struct px *px)
{
    while (!LIST_EMPTY(&px->closings))
        finish(LIST_FIRST(&px->closings));
}
