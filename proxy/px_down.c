#include "px_down.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clk.h"
#include "net.h"
#include "px_close.h"
#include "px_io.h"
#include "px_log.h"
#include "px_pool.h"
#include "px_retry.h"

#define PX_DOWN_READ_SIZE 16384
/* Envoy's per_connection_buffer_limit_bytes default: above it a side stops reading */
#define PX_HIGH_WATER (1u << 20)
/* how much of a request body is kept for a retry (Envoy buffers up to the buffer limit) */
#define PX_REPLAY_MAX (1u << 20)

static void dc_process(struct px_dconn *dc);
static void dc_on_event(evutil_socket_t fd, short what, void *arg);
static void req_finish(struct px_dconn *dc);

static size_t req_queued(const struct px_req *req)
{
    return evbuffer_get_length(req->upbuf) + px_pool_queued(req);
}

/* Interest of the downstream socket: read unless a buffer is over the high-water mark (the body
 * waits for the upstream, or pipelined bytes wait for this response), write while queued. */
static void dc_watch(struct px_dconn *dc)
{
    const struct px_req *req = &dc->req;
    short f = EV_PERSIST;
    bool want_read = true;
    if (dc->dead)
        return;
    if (req->active) {
        if (!req->body_done)
            want_read = req_queued(req) < PX_HIGH_WATER;
        else
            want_read = evbuffer_get_length(dc->in) < PX_HIGH_WATER;
    }
    if (want_read)
        f |= EV_READ;
    if (evbuffer_get_length(dc->out) > 0)
        f |= EV_WRITE;
    px_io_watch(dc->ev, f);
}

static void dc_free(struct px_deferred *d)
{
    struct px_dconn *dc = (struct px_dconn *)((char *)d - offsetof(struct px_dconn, dfr));
    free(dc);
}

/* Ends the connection; px_close takes the socket and the queued response bytes over. */
static void dc_close(struct px_dconn *dc, enum px_close_kind kind)
{
    if (dc->dead)
        return;
    dc->dead = true;
    struct event *tmrs[] = {dc->idle_tmr,  dc->dur_tmr,     dc->drain_tmr,
                            dc->retry_tmr, dc->timeout_tmr, dc->head_tmr};
    for (size_t i = 0; i < sizeof(tmrs) / sizeof(tmrs[0]); i++)
        if (tmrs[i])
            event_free(tmrs[i]);
    event_free(dc->ev);
    LIST_REMOVE(dc, link);
    px_close_start(dc->px, dc->fd, dc->out, kind);
    dc->out = NULL;
    dc->fd = -1;
    evbuffer_free(dc->in);
    evbuffer_free(dc->req.upbuf);
    if (dc->req.replay)
        evbuffer_free(dc->req.replay);
    dc->dfr.free_fn = dc_free;
    px_defer_free(dc->px, &dc->dfr);
}

/* Writes what is queued; an error is left to the connection's own callback (write first), so
 * the caller (often the upstream's callback) never sees the downstream vanish under it. */
static void dc_flush_soft(struct px_dconn *dc)
{
    if (dc->dead)
        return;
    int r = px_io_flush(dc->out, dc->fd, NULL);
    if (r < 0) {
        event_active(dc->ev, EV_WRITE, 1);
        return;
    }
    if (evbuffer_get_length(dc->out) > PX_HIGH_WATER && dc->req.active && !dc->up_paused) {
        dc->up_paused = true;
        px_pool_pause(&dc->req, true);
    }
    dc_watch(dc);
}

static void req_log_end(struct px_dconn *dc)
{
    struct px *px = dc->px;
    struct px_req *req = &dc->req;
    if (dc->timeout_tmr)
        event_del(dc->timeout_tmr);
    if (dc->retry_tmr)
        event_del(dc->retry_tmr);
    px_log_request(px, req, dc);
    if (req->resp_started)
        px_stats_count_status(&px->stats, req->status);
    req->active = false;
}

static void set_details(struct px_req *req, const char *details)
{
    snprintf(req->details, sizeof(req->details), "%s", details);
}

/* The client is gone (EOF, RST, write error) or the response was cut: Envoy resets the stream
 * and closes without flushing. */
static void dc_abort(struct px_dconn *dc, unsigned flags)
{
    struct px_req *req = &dc->req;
    if (req->active) {
        req->flags |= flags;
        if (flags & PX_F_DC)
            dc->px->stats.downstream_cx_destroy_remote_active_rq++;
        if ((flags & PX_F_DC) && !req->resp_started)
            set_details(req, "downstream_remote_disconnect");
        px_pool_detach(req);
        req_log_end(dc);
    }
    dc_close(dc, PX_CLOSE_ABORT);
}

/* What decides "the connection closes after this response" (Envoy's saw_connection_close_). */
static bool req_close_after(const struct px_dconn *dc, const struct px_req *req)
{
    const struct px_cfg *cfg = dc->px->cfg;
    bool max_reached = cfg->max_requests_per_connection > 0 &&
                       dc->nreq >= (uint32_t)cfg->max_requests_per_connection;
    return req->want_close || dc->draining || max_reached || !req->body_done || req->protocol_error;
}

/* A fresh request record; the buffers stay allocated for the next request. */
static void req_reset(struct px_dconn *dc)
{
    struct px_req *req = &dc->req;
    struct evbuffer *upbuf = req->upbuf, *replay = req->replay;
    memset(req, 0, sizeof(*req));
    req->dc = dc;
    req->upbuf = upbuf;
    req->replay = replay;
    evbuffer_drain(upbuf, evbuffer_get_length(upbuf));
}

/* The proxy's own response; details says why (Envoy's response code details). */
static void local_reply(struct px_dconn *dc, int status, const char *body, const char *details)
{
    struct px *px = dc->px;
    struct px_req *req = &dc->req;
    if (req->resp_started) {
        dc_abort(dc, 0);
        return;
    }
    px_pool_detach(req);
    set_details(req, details);
    req->status = status;
    req->resp_started = true;
    req->close_after = req_close_after(dc, req);
    if (!req->body_done && !req->protocol_error)
        px->stats.early_responses++;
    size_t before = evbuffer_get_length(dc->out);
    px_msg_local_reply(dc->out, req->minor, status, body, req->close_after, req->head_method);
    req->tx_bytes += evbuffer_get_length(dc->out) - before;
    req->resp_done = true;
    req_finish(dc);
}

/* The proxy answers a request head it cannot take (400/431 malformed or oversized, 408 not
 * complete in time), then closes with a delayed close (Envoy always delays these). dpe: a
 * downstream protocol error (flag DPE, downstream_cx_protocol_error). */
static void head_error(struct px_dconn *dc, int status, const char *body, const char *details,
                       bool dpe)
{
    struct px_req *req = &dc->req;
    req_reset(dc);
    req->active = true;
    req->minor = 1;
    req->start_us = clk_real_us();
    req->start_mono = clk_mono_us();
    req->rx_bytes = evbuffer_get_length(dc->in);
    req->protocol_error = true;
    if (dpe) {
        req->flags |= PX_F_DPE;
        dc->px->stats.downstream_cx_protocol_error++;
    }
    dc->px->stats.downstream_rq_total++;
    dc->nreq++;
    local_reply(dc, status, body, details);
}

static void protocol_error(struct px_dconn *dc, int status, const char *details)
{
    head_error(dc, status, h1_reason(status), details, true);
}

/* --request-headers-timeout (Envoy's request_headers_timeout): the head that started did not
 * complete in time. Envoy sets no response flag for it, only the details. */
static void head_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct px_dconn *dc = arg;
    (void)fd;
    (void)what;
    if (dc->dead || dc->req.active)
        return;
    dc->px->stats.downstream_rq_header_timeout++;
    head_error(dc, 408, "request header timeout", "request_header_timeout", false);
}

/* Bytes of a request head are in: the timer runs from the first of them (not re-armed by the
 * next ones, or a client dripping its head would never time out). */
static void head_timer_start(struct px_dconn *dc)
{
    struct px *px = dc->px;
    if (!px->head_timeout_tv)
        return;
    if (!dc->head_tmr)
        dc->head_tmr = evtimer_new(px->base, head_timeout_cb, dc);
    if (dc->head_tmr && !evtimer_pending(dc->head_tmr, NULL))
        event_add(dc->head_tmr, px->head_timeout_tv);
}

static void start_attempt(struct px_dconn *dc)
{
    struct px_req *req = &dc->req;
    req->attempts++;
    if (px_pool_request(dc->px->pool, req) == PX_POOL_OVERFLOW) {
        req->flags |= PX_F_UO;
        dc->px->stats.rq_503_by_reason[PX_REASON_OVERFLOW]++;
        local_reply(dc, 503, PX_503_PREFIX "reset reason: overflow",
                    "upstream_reset_before_response_started{overflow}");
    }
}

static void copy_into(struct evbuffer *dst, struct evbuffer *src, size_t n)
{
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(src, &pos, 0, EVBUFFER_PTR_SET);
    while (n > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(src, -1, &pos, &v, 1) < 1)
            return;
        size_t k = v.iov_len < n ? v.iov_len : n;
        evbuffer_add(dst, v.iov_base, k);
        n -= k;
        if (evbuffer_ptr_set(src, &pos, k, EVBUFFER_PTR_ADD) != 0)
            return;
    }
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct px_dconn *dc = arg;
    struct px_req *req = &dc->req;
    (void)fd;
    (void)what;
    if (!req->active || !req->replay)
        return;
    /* everything received so far, including body bytes that came in while backing off */
    evbuffer_drain(req->upbuf, evbuffer_get_length(req->upbuf));
    copy_into(req->upbuf, req->replay, evbuffer_get_length(req->replay));
    start_attempt(dc);
}

static void schedule_retry(struct px_dconn *dc)
{
    struct px *px = dc->px;
    struct px_req *req = &dc->req;
    px->stats.upstream_rq_retry++;
    if (!dc->retry_tmr)
        dc->retry_tmr = evtimer_new(px->base, retry_cb, dc);
    uint64_t ms = px_retry_backoff_ms(px->cfg->retry_backoff_base_ms, req->attempts, px_random(px));
    px_arm_ms(dc->retry_tmr, (long)ms);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct px_dconn *dc = arg;
    struct px_req *req = &dc->req;
    (void)fd;
    (void)what;
    if (!req->active)
        return;
    dc->px->stats.upstream_rq_timeout++;
    req->flags |= PX_F_UT;
    px_pool_detach(req);
    if (req->resp_started)
        dc_abort(dc, 0);
    else
        local_reply(dc, 504, "upstream request timeout", "response_timeout");
}

static void request_complete(struct px_dconn *dc)
{
    struct px *px = dc->px;
    struct px_req *req = &dc->req;
    req->body_done = true;
    /* Envoy's route timeout runs from the end of the request */
    if (px->cfg->upstream_timeout_ms > 0 && !req->resp_done) {
        if (!dc->timeout_tmr)
            dc->timeout_tmr = evtimer_new(px->base, timeout_cb, dc);
        event_add(dc->timeout_tmr, px->rq_timeout_tv);
    }
}

static void req_begin(struct px_dconn *dc, const struct h1_msg *m, size_t head_len)
{
    struct px *px = dc->px;
    const struct px_cfg *cfg = px->cfg;
    struct px_req *req = &dc->req;

    req_reset(dc);
    req->active = true;
    dc->nreq++;
    px->stats.downstream_rq_total++;
    if (dc->idle_tmr)
        event_del(dc->idle_tmr);
    if (cfg->max_requests_per_connection > 0 &&
        dc->nreq == (uint32_t)cfg->max_requests_per_connection)
        px->stats.downstream_cx_max_requests_reached++;

    size_t ml = m->method_len < PX_METHOD_MAX - 1 ? m->method_len : PX_METHOD_MAX - 1;
    memcpy(req->method, m->method, ml);
    req->method[ml] = '\0';
    size_t pl = m->target_len < PX_PATH_MAX - 1 ? m->target_len : PX_PATH_MAX - 1;
    memcpy(req->path, m->target, pl);
    req->path[pl] = '\0';
    req->minor = m->minor;
    req->want_close = !h1_keep_alive(m);
    req->head_method = h1_method_is(m, "HEAD");
    /* nginx's non-idempotent methods */
    req->idempotent =
        !h1_method_is(m, "POST") && !h1_method_is(m, "PATCH") && !h1_method_is(m, "LOCK");
    h1_body_init_request(&req->body, m);
    req->start_us = clk_real_us();
    req->start_mono = clk_mono_us();
    req->rx_bytes = head_len;

    /* premature-close (envoy#2929): a body announced over the limit is answered at once, with
     * the body unread */
    if (cfg->max_request_bytes > 0 && m->content_length > cfg->max_request_bytes) {
        evbuffer_drain(dc->in, head_len);
        local_reply(dc, 413, "Payload Too Large", "request_payload_too_large");
        return;
    }
    bool expect = m->expect_continue && !req->body.done;
    px_msg_request_head(req->upbuf, m, expect, cfg->upstream);
    if (cfg->retry_on) {
        if (!req->replay)
            req->replay = evbuffer_new();
        else
            evbuffer_drain(req->replay, evbuffer_get_length(req->replay));
        if (req->replay)
            copy_into(req->replay, req->upbuf, evbuffer_get_length(req->upbuf));
    }
    evbuffer_drain(dc->in, head_len);
    if (expect) {
        /* Envoy answers 100-continue itself (proxy_100_continue off) */
        evbuffer_add(dc->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        dc_flush_soft(dc);
    }
    if (req->body.done)
        request_complete(dc);
    start_attempt(dc);
}

/* Moves the request body bytes in dc->in to the upstream; false when nothing more can be done
 * now (more bytes needed, or the request ended). */
static bool req_body(struct px_dconn *dc)
{
    const struct px_cfg *cfg = dc->px->cfg;
    struct px_req *req = &dc->req;
    long n = px_msg_body_span(&req->body, dc->in);
    if (n < 0) {
        px_pool_detach(req);
        req->protocol_error = true;
        req->flags |= PX_F_DPE;
        dc->px->stats.downstream_cx_protocol_error++;
        local_reply(dc, 400, "Bad Request", "http1.codec_error");
        return false;
    }
    req->rx_bytes += (uint64_t)n;
    if (cfg->max_request_bytes > 0 && req->body.payload > (uint64_t)cfg->max_request_bytes) {
        evbuffer_drain(dc->in, (size_t)n);
        local_reply(dc, 413, "Payload Too Large", "request_payload_too_large");
        return false;
    }
    if (n > 0) {
        if (req->replay) {
            if (evbuffer_get_length(req->replay) + (size_t)n <= PX_REPLAY_MAX) {
                copy_into(req->replay, dc->in, (size_t)n);
            } else {
                evbuffer_free(req->replay);
                req->replay = NULL;
            }
        }
        evbuffer_remove_buffer(dc->in, req->upbuf, (size_t)n);
        px_pool_flush(req);
        if (!req->active || dc->dead)
            return false;
    }
    if (req->body.done) {
        request_complete(dc);
        return true;
    }
    return false;
}

static void dc_process(struct px_dconn *dc)
{
    const struct px_cfg *cfg = dc->px->cfg;
    if (dc->in_process || dc->dead)
        return;
    dc->in_process = true;
    while (!dc->dead) {
        struct px_req *req = &dc->req;
        size_t len = evbuffer_get_length(dc->in);
        if (!req->active) {
            if (len == 0)
                break;
            size_t limit = (size_t)cfg->max_request_headers_kb * 1024u;
            size_t take = len < limit ? len : limit;
            const char *p = (const char *)evbuffer_pullup(dc->in, (ev_ssize_t)take);
            struct h1_msg m;
            int rc = h1_parse_request(p, take, &m);
            if (rc == H1_INCOMPLETE) {
                if (len >= limit)
                    protocol_error(dc, 431, "http1.headers_too_large");
                else
                    head_timer_start(dc);
                break;
            }
            if (dc->head_tmr)
                event_del(dc->head_tmr);
            const char *refusal = rc > 0 ? px_msg_request_refusal(&m) : NULL;
            if (rc == H1_ERROR || refusal) {
                protocol_error(dc, 400, refusal ? refusal : "http1.codec_error");
                break;
            }
            if (rc == H1_TOO_MANY) {
                protocol_error(dc, 431, "http1.too_many_headers");
                break;
            }
            req_begin(dc, &m, (size_t)rc);
            continue;
        }
        if (req->body_done || len == 0)
            break;
        if (!req_body(dc))
            break;
    }
    dc->in_process = false;
    dc_watch(dc);
}

/* The response is fully queued: log, then keep the connection or close it (px_close decides
 * how). */
static void req_finish(struct px_dconn *dc)
{
    struct px *px = dc->px;
    struct px_req *req = &dc->req;
    struct px_close_facts f = {
        .protocol_error = req->protocol_error,
        .after_response = true,
        .request_complete = req->body_done,
        .http10_sans_cl = req->http10_sans_cl,
        .never_requested = false,
        .unread_input = !req->body_done || evbuffer_get_length(dc->in) > 0,
    };
    bool close_after = req->close_after;
    req_log_end(dc);
    if (dc->up_paused)
        dc->up_paused = false;
    if (close_after) {
        dc_close(dc, px_close_decide(px->cfg, &f));
        return;
    }
    if (dc->idle_tmr)
        event_add(dc->idle_tmr, px->down_idle_tv);
    dc_flush_soft(dc);
    if (dc->dead)
        return;
    if (!dc->in_process && evbuffer_get_length(dc->in) > 0)
        dc_process(dc);
    else
        dc_watch(dc);
}

/* The retry policy's verdict on this failure of req's current attempt; an exhausted policy
 * marks the request URX. */
static bool retry_wanted(struct px_req *req, enum px_fail fail)
{
    struct px *px = req->dc->px;
    struct px_retry_facts f = {
        .fail = fail,
        .request_sent = req->sent,
        .idempotent = req->idempotent,
        .replayable = req->replay != NULL,
        .response_started = req->resp_started,
        .retries_done = req->attempts - 1,
    };
    switch (px_retry_decide(px->cfg, &f)) {
    case PX_RETRY_YES:
        return true;
    case PX_RETRY_EXHAUSTED:
        req->flags |= PX_F_URX;
        px->stats.upstream_rq_retry_limit_exceeded++;
        return false;
    case PX_RETRY_NO:
        return false;
    }
    return false;
}

void px_down_upstream_head(struct px_req *req, const struct h1_msg *resp, const struct h1_body *rb)
{
    struct px_dconn *dc = req->dc;
    struct px *px = dc->px;
    if (resp->status >= 500 && (px->cfg->retry_on & PX_RETRY_5XX)) {
        if (retry_wanted(req, PX_FAIL_5XX)) {
            px_pool_detach(req);
            schedule_retry(dc);
            return;
        }
    }
    req->status = resp->status;
    req->resp_started = true;
    set_details(req, "via_upstream");
    req->reframe = PX_REFRAME_NONE;
    if (rb->kind == H1_BODY_CLOSE && req->minor >= 1)
        req->reframe = PX_REFRAME_CHUNK;
    else if (rb->kind == H1_BODY_CHUNKED && req->minor == 0)
        req->reframe = PX_REFRAME_DECHUNK;
    if (req->reframe == PX_REFRAME_DECHUNK)
        h1_body_init_response(&req->dechunk, resp, false);
    /* an HTTP/1.0 client gets a body without a length framed by the close */
    bool framed_by_close =
        req->minor == 0 && (rb->kind == H1_BODY_CLOSE || rb->kind == H1_BODY_CHUNKED);
    req->http10_sans_cl = req->minor == 0 && resp->content_length < 0 && !req->head_method &&
                          rb->kind != H1_BODY_NONE;
    req->close_after = req_close_after(dc, req) || framed_by_close;
    if (!req->body_done)
        px->stats.early_responses++;
    struct px_resp_head h = {
        .minor = req->minor,
        .close = req->close_after,
        .reframe = req->reframe,
    };
    size_t before = evbuffer_get_length(dc->out);
    px_msg_response_head(dc->out, resp, &h);
    req->tx_bytes += evbuffer_get_length(dc->out) - before;
}

void px_down_upstream_body(struct px_req *req, struct evbuffer *in, size_t n)
{
    struct px_dconn *dc = req->dc;
    size_t before = evbuffer_get_length(dc->out);
    switch (req->reframe) {
    case PX_REFRAME_NONE:
        evbuffer_remove_buffer(in, dc->out, n);
        break;
    case PX_REFRAME_CHUNK:
        px_msg_chunk(dc->out, in, n);
        break;
    case PX_REFRAME_DECHUNK:
        if (px_msg_dechunk(&req->dechunk, in, n, dc->out) != 0)
            evbuffer_drain(in, n);
        break;
    }
    req->tx_bytes += evbuffer_get_length(dc->out) - before;
    if (evbuffer_get_length(dc->out) > PX_HIGH_WATER)
        dc_flush_soft(dc);
}

void px_down_upstream_flush(struct px_req *req)
{
    dc_flush_soft(req->dc);
}

void px_down_upstream_done(struct px_req *req)
{
    struct px_dconn *dc = req->dc;
    if (dc->dead || !req->active)
        return;
    if (req->reframe == PX_REFRAME_CHUNK) {
        px_msg_last_chunk(dc->out);
        req->tx_bytes += 5;
    }
    req->resp_done = true;
    req_finish(dc);
}

void px_down_upstream_reset(struct px_req *req, enum px_reason reason)
{
    struct px_dconn *dc = req->dc;
    struct px *px = dc->px;
    unsigned flag = 0;
    enum px_fail fail = PX_FAIL_RESET;
    switch (reason) {
    case PX_REASON_CONNECTION_TERMINATION:
        flag = PX_F_UC;
        break;
    case PX_REASON_CONNECTION_FAILURE:
        flag = PX_F_UF;
        fail = PX_FAIL_CONNECT;
        break;
    case PX_REASON_OVERFLOW:
        flag = PX_F_UO;
        break;
    case PX_REASON_PROTOCOL_ERROR:
        flag = PX_F_UPE;
        break;
    case PX_REASON_COUNT:
        break;
    }
    if (dc->dead || !req->active)
        return;
    if (req->resp_started) {
        /* the response is cut: the client sees the connection end mid-response */
        snprintf(req->details, sizeof(req->details), "upstream_reset_after_response_started{%s}",
                 px_reason_name(reason));
        dc_abort(dc, flag);
        return;
    }
    if (retry_wanted(req, fail)) {
        schedule_retry(dc);
        return;
    }
    req->flags |= flag;
    char body[160];
    snprintf(body, sizeof(body), "%s%sreset reason: %s", PX_503_PREFIX,
             req->attempts > 1 ? "retried and the latest " : "", px_reason_envoy_text(reason));
    int status = reason == PX_REASON_PROTOCOL_ERROR ? 502 : 503;
    if (status == 503)
        px->stats.rq_503_by_reason[reason]++;
    char details[PX_DETAILS_MAX];
    snprintf(details, sizeof(details), "upstream_reset_before_response_started{%s}",
             px_reason_name(reason));
    local_reply(dc, status, body, details);
}

void px_down_upstream_drained(struct px_req *req)
{
    struct px_dconn *dc = req->dc;
    if (dc->dead)
        return;
    dc_watch(dc);
}

static void dc_on_event(evutil_socket_t fd, short what, void *arg)
{
    struct px_dconn *dc = arg;
    (void)fd;
    if (what & EV_WRITE) {
        if (px_io_flush(dc->out, dc->fd, NULL) < 0) {
            dc_abort(dc, PX_F_DC);
            return;
        }
        if (dc->up_paused && evbuffer_get_length(dc->out) < PX_HIGH_WATER / 2) {
            dc->up_paused = false;
            px_pool_pause(&dc->req, false);
        }
        dc_watch(dc);
    }
    if (!(what & EV_READ) || dc->dead)
        return;
    ssize_t n = px_io_read(dc->in, dc->fd, PX_DOWN_READ_SIZE);
    if (n > 0) {
        dc_process(dc);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    /* EOF or error: the client is gone (a half-close is a close for HTTP/1, as in Envoy) */
    dc_abort(dc, PX_F_DC);
}

static void drain_close(struct px_dconn *dc)
{
    struct px_close_facts f = {
        .protocol_error = false,
        .after_response = false,
        .request_complete = true,
        .http10_sans_cl = false,
        .never_requested = dc->nreq == 0,
        .unread_input = evbuffer_get_length(dc->in) > 0,
    };
    dc_close(dc, px_close_decide(dc->px->cfg, &f));
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct px_dconn *dc = arg;
    (void)fd;
    (void)what;
    /* Envoy's drain timeout: an idle connection closes now (with delayed close); a busy one
     * closes after its response, which says "Connection: close" */
    if (!dc->req.active)
        drain_close(dc);
}

static void start_drain(struct px_dconn *dc)
{
    if (dc->draining)
        return;
    dc->draining = true;
    if (!dc->drain_tmr)
        dc->drain_tmr = evtimer_new(dc->px->base, drain_cb, dc);
    px_arm_ms(dc->drain_tmr, dc->px->cfg->drain_timeout_ms);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct px_dconn *dc = arg;
    (void)fd;
    (void)what;
    if (dc->req.active)
        return;
    dc->px->stats.downstream_cx_idle_timeout++;
    /* Envoy: no request yet, flush and close; otherwise drain, then close */
    if (dc->nreq == 0)
        drain_close(dc);
    else
        start_drain(dc);
}

static void duration_cb(evutil_socket_t fd, short what, void *arg)
{
    struct px_dconn *dc = arg;
    (void)fd;
    (void)what;
    dc->px->stats.downstream_cx_max_duration_reached++;
    if (dc->nreq == 0 && !dc->req.active)
        drain_close(dc);
    else
        start_drain(dc);
}

void px_down_new(struct px *px, int fd)
{
    const struct px_cfg *cfg = px->cfg;
    struct px_dconn *dc = calloc(1, sizeof(*dc));
    if (!dc) {
        close(fd);
        return;
    }
    dc->px = px;
    dc->fd = fd;
    dc->dport = net_peer_port(fd);
    dc->lport = px->lport;
    dc->req.dc = dc;
    net_set_nodelay(fd);
    dc->in = evbuffer_new();
    dc->out = evbuffer_new();
    dc->req.upbuf = evbuffer_new();
    dc->ev = event_new(px->base, fd, EV_READ | EV_PERSIST, dc_on_event, dc);
    if (!dc->in || !dc->out || !dc->req.upbuf || !dc->ev || event_add(dc->ev, NULL) != 0) {
        if (dc->in)
            evbuffer_free(dc->in);
        if (dc->out)
            evbuffer_free(dc->out);
        if (dc->req.upbuf)
            evbuffer_free(dc->req.upbuf);
        if (dc->ev)
            event_free(dc->ev);
        free(dc);
        close(fd);
        return;
    }
    LIST_INSERT_HEAD(&px->dconns, dc, link);
    px->down_open++;
    px->stats.downstream_cx_total++;
    if (cfg->downstream_idle_timeout_ms > 0) {
        dc->idle_tmr = evtimer_new(px->base, idle_cb, dc);
        event_add(dc->idle_tmr, px->down_idle_tv);
    }
    if (cfg->max_connection_duration_ms > 0) {
        dc->dur_tmr = evtimer_new(px->base, duration_cb, dc);
        px_arm_ms(dc->dur_tmr, cfg->max_connection_duration_ms);
    }
}

void px_down_close_all(struct px *px)
{
    while (!LIST_EMPTY(&px->dconns))
        dc_abort(LIST_FIRST(&px->dconns), PX_F_LR);
}
