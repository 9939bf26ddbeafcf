#include "px_pool.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "h1.h"
#include "net.h"
#include "px_down.h"
#include "px_io.h"
#include "px_msg.h"

#define PX_UP_READ_SIZE 16384
/* Per read event: enough for every small response (and its FIN) in one go, while a big body
 * cannot pile up in memory ahead of the downstream. */
#define PX_UP_READ_BUDGET (256u * 1024u)
/* Envoy's max_response_headers_kb default */
#define PX_UP_MAX_HEAD (60u * 1024u)

enum px_ustate {
    PX_U_CONNECTING,
    PX_U_BUSY,  /* carries a request */
    PX_U_READY, /* idle in the pool, reusable */
    PX_U_HELD,  /* idle, waiting out --attach-pending delay:MS before it is reusable */
    PX_U_CLOSED,
};

struct px_uconn {
    struct px_pool *pool;
    int fd;
    int connect_err; /* connect() failed at once; reported from the timer */
    enum px_ustate state;
    struct event *ev;
    struct event *tmr; /* connect timeout, idle timeout or re-use delay, by state */
    struct evbuffer *in, *out;
    struct px_req *req;
    int lport;
    uint32_t nreq;
    bool head_done;
    bool resp_keep_alive;
    bool paused;
    bool write_failed;
    struct h1_body rbody;
    TAILQ_ENTRY(px_uconn) link; /* ready or held */
    LIST_ENTRY(px_uconn) all;
    struct px_deferred dfr;
};

struct px_pool {
    struct px *px;
    TAILQ_HEAD(, px_uconn) ready;
    TAILQ_HEAD(, px_uconn) held;
    TAILQ_HEAD(, px_req) pending;
    LIST_HEAD(, px_uconn) all;
    size_t npending, nconns, nconnecting;
    struct event *ready_ev;
    const struct timeval *idle_tv;
};

static void uc_on_event(evutil_socket_t fd, short what, void *arg);
static void uc_on_timer(evutil_socket_t fd, short what, void *arg);
static void pool_connect_more(struct px_pool *pool);

static void uc_watch(struct px_uconn *uc)
{
    short f = EV_PERSIST;
    if (uc->state == PX_U_CLOSED || !uc->ev)
        return;
    if (uc->state == PX_U_CONNECTING) {
        f |= EV_WRITE;
    } else {
        if (!uc->paused)
            f |= EV_READ;
        if (evbuffer_get_length(uc->out) > 0)
            f |= EV_WRITE;
    }
    px_io_watch(uc->ev, f);
}

static void uc_free(struct px_deferred *d)
{
    struct px_uconn *uc = (struct px_uconn *)((char *)d - offsetof(struct px_uconn, dfr));
    free(uc);
}

/* connect_more: pending requests may need a new connection now that this one is gone (not
 * after a connect failure: those requests fail instead of reconnecting in a loop). */
static void uc_close(struct px_uconn *uc, bool connect_more)
{
    struct px_pool *pool = uc->pool;
    switch (uc->state) {
    case PX_U_CLOSED:
        return;
    case PX_U_CONNECTING:
        pool->nconnecting--;
        break;
    case PX_U_READY:
        TAILQ_REMOVE(&pool->ready, uc, link);
        break;
    case PX_U_HELD:
        TAILQ_REMOVE(&pool->held, uc, link);
        break;
    case PX_U_BUSY:
        break;
    }
    uc->state = PX_U_CLOSED;
    pool->nconns--;
    if (uc->req) {
        uc->req->uc = NULL;
        uc->req = NULL;
    }
    if (uc->ev)
        event_free(uc->ev);
    event_free(uc->tmr);
    uc->ev = uc->tmr = NULL;
    if (uc->fd >= 0)
        close(uc->fd);
    uc->fd = -1;
    evbuffer_free(uc->in);
    evbuffer_free(uc->out);
    uc->in = uc->out = NULL;
    LIST_REMOVE(uc, all);
    uc->dfr.free_fn = uc_free;
    px_defer_free(pool->px, &uc->dfr);
    if (connect_more)
        pool_connect_more(pool);
}

/* The liveness check before reuse (--reuse-check): the one place it happens. */
static bool uc_reusable(struct px_uconn *uc)
{
    switch ((enum px_reuse_check)uc->pool->px->cfg->reuse_check) {
    case PX_REUSE_NONE:
        return true;
    case PX_REUSE_PEEK:
        return px_io_peek(uc->fd) == PX_PEEK_OPEN;
    case PX_REUSE_TCP_INFO:
        return !px_io_peer_closed(uc->fd);
    }
    return true;
}

static int uc_flush(struct px_uconn *uc)
{
    if (uc->state != PX_U_BUSY && uc->state != PX_U_READY && uc->state != PX_U_HELD)
        return 0;
    if (uc->write_failed)
        return -1;
    int r = px_io_flush(uc->out, uc->fd, NULL);
    if (r < 0)
        return -1;
    uc_watch(uc);
    return 0;
}

/* Writes from outside the connection's own callback (a request body streaming in, an attach):
 * a write error is handled by the connection's callback, write before read, so the response
 * that may sit in the receive queue is never looked at (envoy#2929's chain). */
static void uc_flush_soft(struct px_uconn *uc)
{
    if (uc_flush(uc) < 0 && uc->state != PX_U_CLOSED) {
        uc->write_failed = true;
        event_active(uc->ev, EV_WRITE, 1);
    }
}

static void uc_attach(struct px_uconn *uc, struct px_req *req)
{
    struct px_pool *pool = uc->pool;
    if (req->pending) {
        TAILQ_REMOVE(&pool->pending, req, pq);
        pool->npending--;
        req->pending = false;
    }
    event_del(uc->tmr);
    uc->state = PX_U_BUSY;
    uc->req = req;
    req->uc = uc;
    uc->nreq++;
    uc->head_done = false;
    int i = req->attempts > 0 ? req->attempts - 1 : 0;
    req->ports[i] = uc->lport;
    req->reused[i] = uc->nreq > 1;
    req->sent = true;
    evbuffer_add_buffer(uc->out, req->upbuf);
    uc_flush_soft(uc);
}

static void uc_make_ready(struct px_uconn *uc)
{
    struct px_pool *pool = uc->pool;
    uc->state = PX_U_READY;
    /* most recently used first, as Envoy's pool */
    TAILQ_INSERT_HEAD(&pool->ready, uc, link);
    if (pool->idle_tv)
        event_add(uc->tmr, pool->idle_tv);
    uc_watch(uc);
}

/* Pending requests take ready connections (the deferred attach, the end of a re-use delay). */
static void pool_on_ready(struct px_pool *pool)
{
    struct px_uconn *uc;
    while (!TAILQ_EMPTY(&pool->pending) && (uc = TAILQ_FIRST(&pool->ready)) != NULL) {
        TAILQ_REMOVE(&pool->ready, uc, link);
        uc->state = PX_U_BUSY;
        if (!uc_reusable(uc)) {
            pool->px->stats.reuse_check_rejected++;
            uc_close(uc, true);
            continue;
        }
        uc_attach(uc, TAILQ_FIRST(&pool->pending));
    }
}

static void pool_ready_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pool_on_ready(arg);
}

/* A response completed and the connection can carry another request: the attach policy. */
static void uc_release(struct px_uconn *uc)
{
    struct px_pool *pool = uc->pool;
    const struct px_cfg *cfg = pool->px->cfg;
    switch ((enum px_attach)cfg->attach) {
    case PX_ATTACH_IMMEDIATE:
        /* envoy#2715: the FIN that came with the response is in this read's bytes but not yet
         * processed; the pending request is written onto the dying connection right here. */
        if (!TAILQ_EMPTY(&pool->pending)) {
            if (!uc_reusable(uc)) {
                pool->px->stats.reuse_check_rejected++;
                uc_close(uc, true);
                return;
            }
            uc_attach(uc, TAILQ_FIRST(&pool->pending));
            return;
        }
        uc_make_ready(uc);
        return;
    case PX_ATTACH_DEFERRED:
        /* PR #2871: attach after the current loop's events; the EOF of this read is processed
         * before, and closes the connection instead. */
        uc_make_ready(uc);
        if (!TAILQ_EMPTY(&pool->pending))
            event_active(pool->ready_ev, EV_TIMEOUT, 1);
        return;
    case PX_ATTACH_DELAY:
        /* PR #7159's idea: not reusable until a delay passed; a FIN later than that still races */
        uc->state = PX_U_HELD;
        TAILQ_INSERT_TAIL(&pool->held, uc, link);
        px_arm_ms(uc->tmr, cfg->attach_delay_ms);
        uc_watch(uc);
        return;
    }
}

static void pool_open(struct px_pool *pool)
{
    struct px *px = pool->px;
    struct px_uconn *uc = calloc(1, sizeof(*uc));
    if (!uc)
        return;
    uc->pool = pool;
    uc->state = PX_U_CONNECTING;
    uc->in = evbuffer_new();
    uc->out = evbuffer_new();
    uc->tmr = evtimer_new(px->base, uc_on_timer, uc);
    uc->fd = net_connect_nb(&px->cfg->upstream_addr);
    LIST_INSERT_HEAD(&pool->all, uc, all);
    pool->nconns++;
    pool->nconnecting++;
    px->stats.upstream_cx_total++;
    if (uc->fd < 0) {
        /* loopback refuses at once; report it from the loop like an asynchronous failure */
        uc->connect_err = errno;
        px_arm_ms(uc->tmr, 0);
        return;
    }
    net_set_nodelay(uc->fd);
    uc->ev = event_new(px->base, uc->fd, EV_WRITE | EV_PERSIST, uc_on_event, uc);
    event_add(uc->ev, NULL);
    px_arm_ms(uc->tmr, px->cfg->upstream_connect_timeout_ms);
}

static void pool_connect_more(struct px_pool *pool)
{
    long max = pool->px->cfg->upstream_max_connections;
    while (pool->npending > pool->nconnecting && pool->nconns < (size_t)max)
        pool_open(pool);
}

static void uc_connect_failed(struct px_uconn *uc, bool timeout)
{
    struct px_pool *pool = uc->pool;
    pool->px->stats.upstream_cx_connect_fail++;
    if (timeout)
        pool->px->stats.upstream_cx_connect_timeout++;
    uc_close(uc, false);
    /* Envoy purges the pending requests no connecting connection will serve */
    while (pool->npending > pool->nconnecting) {
        struct px_req *req = TAILQ_FIRST(&pool->pending);
        TAILQ_REMOVE(&pool->pending, req, pq);
        pool->npending--;
        req->pending = false;
        px_down_upstream_reset(req, PX_REASON_CONNECTION_FAILURE);
    }
}

static void uc_connected(struct px_uconn *uc)
{
    struct px_pool *pool = uc->pool;
    int err = net_socket_error(uc->fd);
    if (err) {
        uc_connect_failed(uc, false);
        return;
    }
    pool->nconnecting--;
    event_del(uc->tmr);
    uc->lport = net_local_port(uc->fd);
    uc->state = PX_U_BUSY;
    if (!TAILQ_EMPTY(&pool->pending))
        uc_attach(uc, TAILQ_FIRST(&pool->pending));
    else
        uc_make_ready(uc);
    uc_watch(uc);
}

/* The connection ended under its request: Envoy's ConnectionTermination. */
static void uc_lost(struct px_uconn *uc)
{
    struct px_req *req = uc->req;
    if (req)
        uc->pool->px->stats.upstream_cx_destroy_remote_with_active_rq++;
    uc_close(uc, true);
    if (req)
        px_down_upstream_reset(req, PX_REASON_CONNECTION_TERMINATION);
}

static void uc_protocol_error(struct px_uconn *uc)
{
    struct px_req *req = uc->req;
    uc->pool->px->stats.upstream_cx_protocol_error++;
    uc_close(uc, true);
    if (req)
        px_down_upstream_reset(req, PX_REASON_PROTOCOL_ERROR);
}

/* Response bytes of uc->in through the codec: head, body, completion; the attach policy runs
 * at completion, before the caller looks at the EOF of the same read. */
static void uc_dispatch(struct px_uconn *uc)
{
    while (uc->state != PX_U_CLOSED && evbuffer_get_length(uc->in) > 0) {
        struct px_req *req = uc->req;
        if (!req) {
            /* bytes on an idle connection: nothing asked for them */
            uc_protocol_error(uc);
            return;
        }
        if (!uc->head_done) {
            size_t len = evbuffer_get_length(uc->in);
            size_t take = len < PX_UP_MAX_HEAD ? len : PX_UP_MAX_HEAD;
            const char *p = (const char *)evbuffer_pullup(uc->in, (ev_ssize_t)take);
            struct h1_msg m;
            int rc = h1_parse_response(p, take, &m);
            if (rc == H1_INCOMPLETE) {
                if (len >= PX_UP_MAX_HEAD)
                    uc_protocol_error(uc);
                return;
            }
            if (rc < 0 || m.status == 101) {
                uc_protocol_error(uc);
                return;
            }
            if (m.status < 200) {
                /* 1xx: informational, not forwarded */
                evbuffer_drain(uc->in, (size_t)rc);
                continue;
            }
            h1_body_init_response(&uc->rbody, &m, req->head_method);
            uc->resp_keep_alive = h1_keep_alive(&m) && uc->rbody.kind != H1_BODY_CLOSE;
            uc->head_done = true;
            px_down_upstream_head(req, &m, &uc->rbody);
            if (uc->state == PX_U_CLOSED || uc->req != req)
                return;
            evbuffer_drain(uc->in, (size_t)rc);
        }
        long n = px_msg_body_span(&uc->rbody, uc->in);
        if (n < 0) {
            uc_protocol_error(uc);
            return;
        }
        if (n > 0) {
            px_down_upstream_body(req, uc->in, (size_t)n);
            if (uc->state == PX_U_CLOSED || uc->req != req)
                return;
        }
        if (!uc->rbody.done) {
            px_down_upstream_flush(req);
            return;
        }
        /* Envoy's codec client: no reuse when the request was not fully sent or the upstream
         * said it closes */
        bool keep = uc->resp_keep_alive && req->body_done && evbuffer_get_length(req->upbuf) == 0 &&
                    evbuffer_get_length(uc->out) == 0;
        uc->req = NULL;
        req->uc = NULL;
        uc->head_done = false;
        /* a pause asked while this response was relayed belongs to it, not to the next one */
        uc->paused = false;
        px_down_upstream_done(req);
        if (uc->state == PX_U_CLOSED)
            return;
        if (!keep) {
            uc_close(uc, true);
            return;
        }
        uc_release(uc);
    }
}

static void uc_remote_closed(struct px_uconn *uc, bool error)
{
    struct px_req *req = uc->req;
    if (req && uc->head_done && !error && uc->rbody.kind == H1_BODY_CLOSE) {
        /* the close ends a close-delimited body: a complete response */
        h1_body_eof_ok(&uc->rbody);
        uc_close(uc, true);
        px_down_upstream_done(req);
        return;
    }
    uc_lost(uc);
}

static void uc_on_read(struct px_uconn *uc)
{
    bool eof = false, error = false;
    size_t got = 0;
    /* read until EAGAIN or EOF, hand every byte to the parser, then act on the EOF: Envoy's
     * order, the one envoy#2715 depends on */
    while (got < PX_UP_READ_BUDGET) {
        ssize_t n = px_io_read(uc->in, uc->fd, PX_UP_READ_SIZE);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0)
            eof = true;
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            error = true;
        break;
    }
    if (got)
        uc_dispatch(uc);
    if (uc->state == PX_U_CLOSED)
        return;
    if (eof || error)
        uc_remote_closed(uc, error);
}

static void uc_on_event(evutil_socket_t fd, short what, void *arg)
{
    struct px_uconn *uc = arg;
    (void)fd;
    if (uc->state == PX_U_CONNECTING) {
        uc_connected(uc);
        return;
    }
    /* write before read, as Envoy's connection does */
    if (what & EV_WRITE) {
        struct px_req *req = uc->req;
        size_t before = evbuffer_get_length(uc->out);
        if (uc_flush(uc) < 0) {
            uc_lost(uc);
            return;
        }
        if (req && before > 0 && evbuffer_get_length(uc->out) == 0)
            px_down_upstream_drained(req);
        if (uc->state == PX_U_CLOSED)
            return;
    }
    if ((what & EV_READ) && !uc->paused)
        uc_on_read(uc);
}

static void uc_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct px_uconn *uc = arg;
    (void)fd;
    (void)what;
    switch (uc->state) {
    case PX_U_CONNECTING:
        uc_connect_failed(uc, uc->connect_err == 0);
        return;
    case PX_U_READY:
        uc->pool->px->stats.upstream_cx_idle_timeout++;
        uc_close(uc, true);
        return;
    case PX_U_HELD:
        TAILQ_REMOVE(&uc->pool->held, uc, link);
        uc_make_ready(uc);
        pool_on_ready(uc->pool);
        return;
    case PX_U_BUSY:
    case PX_U_CLOSED:
        return;
    }
}

struct px_pool *px_pool_new(struct px *px)
{
    struct px_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pool->px = px;
    TAILQ_INIT(&pool->ready);
    TAILQ_INIT(&pool->held);
    TAILQ_INIT(&pool->pending);
    LIST_INIT(&pool->all);
    pool->ready_ev = event_new(px->base, -1, 0, pool_ready_cb, pool);
    long ms = px->cfg->upstream_idle_timeout_ms;
    if (ms > 0) {
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        pool->idle_tv = event_base_init_common_timeout(px->base, &tv);
    }
    if (!pool->ready_ev) {
        free(pool);
        return NULL;
    }
    return pool;
}

void px_pool_free(struct px_pool *pool)
{
    if (!pool)
        return;
    while (!LIST_EMPTY(&pool->all))
        uc_close(LIST_FIRST(&pool->all), false);
    while (!TAILQ_EMPTY(&pool->pending)) {
        struct px_req *req = TAILQ_FIRST(&pool->pending);
        TAILQ_REMOVE(&pool->pending, req, pq);
        req->pending = false;
    }
    event_free(pool->ready_ev);
    free(pool);
}

enum px_pool_result px_pool_request(struct px_pool *pool, struct px_req *req)
{
    struct px *px = pool->px;
    struct px_uconn *uc;
    px->stats.upstream_rq_total++;
    req->sent = false;
    while ((uc = TAILQ_FIRST(&pool->ready)) != NULL) {
        TAILQ_REMOVE(&pool->ready, uc, link);
        uc->state = PX_U_BUSY;
        if (!uc_reusable(uc)) {
            px->stats.reuse_check_rejected++;
            uc_close(uc, false);
            continue;
        }
        uc_attach(uc, req);
        return PX_POOL_ATTACHED;
    }
    if (pool->npending >= (size_t)px->cfg->upstream_max_pending) {
        px->stats.upstream_rq_pending_overflow++;
        return PX_POOL_OVERFLOW;
    }
    TAILQ_INSERT_TAIL(&pool->pending, req, pq);
    req->pending = true;
    pool->npending++;
    px->stats.upstream_rq_pending_total++;
    pool_connect_more(pool);
    return PX_POOL_PENDING;
}

void px_pool_flush(struct px_req *req)
{
    struct px_uconn *uc = req->uc;
    if (!uc || uc->state != PX_U_BUSY || evbuffer_get_length(req->upbuf) == 0)
        return;
    evbuffer_add_buffer(uc->out, req->upbuf);
    uc_flush_soft(uc);
}

void px_pool_detach(struct px_req *req)
{
    struct px_pool *pool = req->dc->px->pool;
    if (req->pending) {
        TAILQ_REMOVE(&pool->pending, req, pq);
        pool->npending--;
        req->pending = false;
    }
    if (req->uc) {
        pool->px->stats.upstream_cx_destroy_local_with_active_rq++;
        uc_close(req->uc, true);
    }
}

void px_pool_pause(struct px_req *req, bool pause)
{
    struct px_uconn *uc = req->uc;
    if (!uc || uc->paused == pause)
        return;
    uc->paused = pause;
    uc_watch(uc);
}

size_t px_pool_queued(const struct px_req *req)
{
    return req->uc && req->uc->out ? evbuffer_get_length(req->uc->out) : 0;
}
