#include "dn_conn.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clk.h"
#include "h1.h"
#include "jl.h"
#include "net.h"

#define RBUF_MAX 16384

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
/* iovecs of one write: 1024 of the 64 KiB pattern are far more than any socket buffer takes */
#define WIOV_MAX (IOV_MAX < 1024 ? IOV_MAX : 1024)

enum phase {
    PH_GAP,     /* before a request: the --gap (or the start of the connection) */
    PH_CONNECT, /* a new socket is connecting */
    PH_WRITE,   /* writing the request (or waiting for --upload-delay / --upload-pace) */
    PH_READ,    /* reading the response */
};

/* The request as the writer sees it: the head, then the body in units (the whole body, or
 * --upload-chunk bytes each), each unit framed as a chunk with --chunked, then the last chunk.
 * The parts go out together, one write as far as the socket buffer takes them, except across a
 * write break: after the head with --split-head (--upload-delay pauses there), after each unit
 * with --upload-chunk (--upload-pace pauses there). */
enum wpart {
    W_HEAD, /* the request head */
    W_PRE,  /* a unit's chunk-size line */
    W_DATA, /* a unit's body bytes */
    W_POST, /* a unit's CRLF after its data */
    W_LAST, /* the last chunk, 0 CRLF CRLF */
    W_END,  /* everything written */
};

struct wpos {
    enum wpart part;
    size_t off;         /* bytes of the part already written (head and framing parts) */
    uint64_t body_left; /* body bytes not yet written */
    uint64_t unit_left; /* bytes of the current unit not yet written */
};

struct dn_conn {
    struct dn_trial *t;
    struct dn_run *run;
    const struct dn_cfg *cfg;
    long index;
    int fd;
    int lport;
    bool carried;           /* the socket already carried a response: the next request reuses it */
    struct event *rd, *wr;  /* bound to the current socket */
    struct event *peek;     /* --upload-after-response: the response's arrival, not read */
    struct event *timer;    /* gap, upload delay, upload pace */
    struct event *deadline; /* --connect-timeout, then --timeout */
    struct event *idle;     /* the client's own --idle-timeout */
    long req;
    enum phase ph;
    /* the current request */
    uint64_t start_us;
    long gap_us;
    bool reused;
    bool reconnected; /* a new connection because the previous request failed */
    bool last_failed; /* the previous request failed (--on-failure reconnect goes on) */
    struct wpos wp;
    char tag[96]; /* DN_TAG_HEADER's line and the blank line that ends the head */
    size_t tag_len;
    uint64_t sent, received, body_sent;
    unsigned long writes; /* write calls that took bytes of this request */
    int write_err;        /* a write error passed over with --on-write-error read */
    /* the response */
    char rbuf[RBUF_MAX];
    size_t rlen;
    bool head_done;
    int status;
    struct h1_body body;
    bool resp_keep;
};

static char pattern[65536];
static char scratch[65536];

static void start_request(struct dn_conn *c);
static void do_write(struct dn_conn *c);
static void on_peek(evutil_socket_t fd, short what, void *arg);
static void do_read(struct dn_conn *c);

static void arm_ms(struct event *ev, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static void arm_us(struct event *ev, long us)
{
    struct timeval tv = {us / 1000000, us % 1000000};
    evtimer_add(ev, &tv);
}

static const char *errname(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "EUNKNOWN";
}

static void close_sock(struct dn_conn *c)
{
    if (c->rd) {
        event_free(c->rd);
        c->rd = NULL;
    }
    if (c->wr) {
        event_free(c->wr);
        c->wr = NULL;
    }
    if (c->peek) {
        event_free(c->peek);
        c->peek = NULL;
    }
    if (c->idle)
        evtimer_del(c->idle);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->carried = false;
}

/* Reports to the trial; the trial may free c, so this is the last thing a callback does. */
static void conn_done(struct dn_conn *c)
{
    close_sock(c);
    evtimer_del(c->timer);
    evtimer_del(c->deadline);
    dn_run_conn_done(c->t);
}

/* Milliseconds as an integer when whole, else with the fraction (--gap 2.5). */
static void put_ms(struct jl *j, const char *key, long us)
{
    if (us % 1000)
        jl_double(j, key, (double)us / 1000.0);
    else
        jl_int(j, key, us / 1000);
}

/* A failing request: its outcome is not a 2xx status (a 503 is as much a failure as a reset). */
static bool failing_outcome(const char *outcome)
{
    return !(outcome[0] == '2' && strlen(outcome) == 3);
}

static void write_record(struct dn_conn *c, const char *outcome, const char *phase, int err,
                         uint64_t end_us)
{
    bool keep = dn_run_keep(c->run, failing_outcome(outcome),
                            end_us > c->start_us ? end_us - c->start_us : 0);
    if (!keep) {
        dn_run_count(c->run, outcome);
        return;
    }
    struct jl j;
    jl_begin(&j);
    jl_uint(&j, "ts_us", end_us);
    jl_str(&j, "type", "request");
    jl_int(&j, "trial", c->t->index);
    jl_int(&j, "conn", c->index);
    jl_int(&j, "req", c->req);
    jl_int(&j, "lport", c->lport);
    jl_bool(&j, "reused", c->reused);
    jl_bool(&j, "reconnected", c->reconnected);
    put_ms(&j, "gap_ms", c->gap_us);
    /* the trial's gap on every record, the first request's too: a trial whose first request
     * fails has no record with the swept gap in gap_ms, and a sweep groups trials by this */
    put_ms(&j, "reuse_gap_ms", dn_cfg_gap_us(c->cfg, c->t->index));
    jl_uint(&j, "start_us", c->start_us);
    jl_uint(&j, "end_us", end_us);
    jl_str(&j, "outcome", outcome);
    jl_int(&j, "status", c->status);
    jl_str(&j, "phase", phase);
    if (err)
        jl_str(&j, "errno", errname(err));
    if (c->write_err)
        jl_str(&j, "write_errno", errname(c->write_err));
    jl_uint(&j, "sent", c->sent);
    jl_uint(&j, "received", c->received);
    jl_uint(&j, "body_sent", c->body_sent);
    jl_uint(&j, "writes", c->writes);
    if (jl_write(&j, c->run->rec_fd) != 0) {
        fprintf(stderr, "racelab-downstream: writing a record: %s\n", strerror(errno));
        c->run->failed = true;
    }
    dn_run_count(c->run, outcome);
}

static void next_request(struct dn_conn *c)
{
    c->req++;
    if (c->req >= c->cfg->requests) {
        conn_done(c);
        return;
    }
    c->ph = PH_GAP;
    c->gap_us = dn_cfg_gap_us(c->cfg, c->t->index);
    /* the socket is NOT watched during the gap: a FIN arriving now goes unnoticed, as in a
     * client pool that only looks at a connection when it hands it out */
    if (c->fd >= 0 && c->cfg->idle_timeout_ms)
        arm_ms(c->idle, c->cfg->idle_timeout_ms);
    arm_us(c->timer, c->gap_us);
}

/* outcome: the status code as a string, or a failure name. A failure ends the connection:
 * its remaining requests are skipped, or with --on-failure reconnect the socket is dropped and
 * the next request opens a new one. */
static void finish(struct dn_conn *c, const char *outcome, const char *phase, int err, bool ok)
{
    uint64_t end = clk_real_us();
    /* the read event stays: a socket that is closed below takes it with it, and a kept one is
     * not read in the gap all the same (on_read deletes it when it fires there), while a
     * delete here and an add in begin_read would cost two epoll_ctl calls a request */
    if (c->wr)
        event_del(c->wr);
    if (c->peek)
        event_del(c->peek);
    evtimer_del(c->timer);
    evtimer_del(c->deadline);
    write_record(c, outcome, phase, err, end);
    c->last_failed = !ok;
    if (!ok) {
        if (c->cfg->on_failure == DN_FAIL_STOP) {
            conn_done(c);
            return;
        }
        close_sock(c);
        next_request(c);
        return;
    }
    if (c->resp_keep)
        c->carried = true;
    else
        close_sock(c);
    next_request(c);
}

static void finish_status(struct dn_conn *c)
{
    char st[16];
    snprintf(st, sizeof(st), "%d", c->status);
    finish(c, st, "done", 0, true);
}

static void reset_request(struct dn_conn *c)
{
    c->wp = (struct wpos){.part = W_HEAD, .body_left = (uint64_t)c->cfg->body_size};
    c->reconnected = false;
    c->tag_len = 0;
    if (!c->cfg->no_tag) { /* the head's shared part ends without its blank line (dn_run.c) */
        int k = snprintf(c->tag, sizeof(c->tag), DN_TAG_HEADER ": %ld.%ld.%ld\r\n\r\n", c->t->index,
                         c->index, c->req);
        c->tag_len = (size_t)k; /* three longs fit in 96 bytes */
    }
    c->sent = c->received = c->body_sent = 0;
    c->writes = 0;
    c->write_err = 0;
    c->rlen = 0;
    c->head_done = false;
    c->status = 0;
    c->resp_keep = false;
    memset(&c->body, 0, sizeof(c->body));
}

/* A pause of ms at a write break; after the head with --upload-after-response it ends as soon
 * as something arrives to be read (on_peek), which stays unread. */
static void pause_write(struct dn_conn *c, long ms)
{
    event_del(c->wr);
    arm_ms(c->timer, ms);
    if (c->peek && c->wp.part != W_HEAD && c->body_sent == 0 && c->cfg->upload_after_response)
        event_add(c->peek, NULL);
}

/* --read-while-uploading: a response (or a FIN, or an RST) is waiting to be read */
static bool something_came_back(struct dn_conn *c)
{
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static const char crlf[] = "\r\n";
static const char last_chunk[] = "0\r\n\r\n";

/* The chunk-size line of a unit of n bytes. */
static size_t chunk_line(char buf[24], uint64_t n)
{
    return (size_t)snprintf(buf, 24, "%llx\r\n", (unsigned long long)n);
}

/* Bytes of the current part still to write (W_END: 0). */
static uint64_t part_left(const struct dn_conn *c, const struct wpos *p)
{
    char tmp[24];
    switch (p->part) {
    case W_HEAD:
        return c->run->head_base + c->tag_len - p->off;
    case W_PRE:
        return chunk_line(tmp, p->unit_left) - p->off;
    case W_DATA:
        return p->unit_left;
    case W_POST:
        return sizeof(crlf) - 1 - p->off;
    case W_LAST:
        return sizeof(last_chunk) - 1 - p->off;
    case W_END:
        break;
    }
    return 0;
}

/* The next unit of the body, or the end of it. */
static void next_unit(const struct dn_cfg *cfg, struct wpos *p)
{
    p->off = 0;
    if (p->body_left == 0) {
        p->part = cfg->chunked ? W_LAST : W_END;
        return;
    }
    p->unit_left = p->body_left;
    if (cfg->upload_chunk && p->unit_left > (uint64_t)cfg->upload_chunk)
        p->unit_left = (uint64_t)cfg->upload_chunk;
    p->part = cfg->chunked ? W_PRE : W_DATA;
}

/* Moves p on by k bytes of its current part (k <= part_left). When that completes the part, p
 * goes to the next one; the return value is then the pause of the write break crossed (0: a
 * break without a pause), or -1 when no break lies there. *body gets the body bytes passed. */
static long advance(const struct dn_conn *c, struct wpos *p, uint64_t k, uint64_t *body)
{
    const struct dn_cfg *cfg = c->cfg;
    *body = 0;
    if (p->part == W_DATA) {
        p->unit_left -= k;
        p->body_left -= k;
        *body = k;
    } else {
        p->off += (size_t)k;
    }
    if (part_left(c, p) > 0)
        return -1;
    switch (p->part) {
    case W_HEAD:
        if (cfg->body_size == 0 && !cfg->chunked) {
            p->part = W_END;
            return -1;
        }
        next_unit(cfg, p);
        return dn_cfg_split_head(cfg) ? cfg->upload_delay_ms : -1;
    case W_PRE:
        p->part = W_DATA;
        p->off = 0;
        return -1;
    case W_DATA:
        if (cfg->chunked) {
            p->part = W_POST;
            p->off = 0;
            return -1;
        }
        break;
    case W_POST:
        break;
    case W_LAST:
        p->part = W_END;
        return -1;
    case W_END:
        return -1;
    }
    /* the end of a unit: with --upload-chunk each unit is a write of its own */
    next_unit(cfg, p);
    return cfg->upload_chunk && p->body_left > 0 ? cfg->upload_pace_ms : -1;
}

/* One write: the iovecs from the writer's position up to the next write break, the end of the
 * request, or WIOV_MAX iovecs. */
struct wbatch {
    struct iovec iov[WIOV_MAX];
    int n;
    size_t len;
    char line[24]; /* a chunk-size line (at most one per write: a unit ends at a break) */
    bool line_used;
    bool whole; /* it reaches a write break or the end of the request */
    long pause; /* with whole: the break's pause (-1 none, the end of the request) */
};

static void build_batch(const struct dn_conn *c, struct wbatch *b)
{
    struct wpos p = c->wp;
    b->n = 0;
    b->len = 0;
    b->line_used = false;
    b->whole = false;
    b->pause = -1;
    while (p.part != W_END && b->n < WIOV_MAX) {
        const char *ptr = NULL;
        size_t n = (size_t)part_left(c, &p);
        switch (p.part) {
        case W_HEAD: /* the shared head, then this request's tag: two iovecs of one write */
            if (p.off < c->run->head_base) {
                ptr = c->run->head + p.off;
                n = c->run->head_base - p.off;
            } else {
                ptr = c->tag + (p.off - c->run->head_base);
            }
            break;
        case W_PRE:
            if (b->line_used)
                return;
            chunk_line(b->line, p.unit_left);
            b->line_used = true;
            ptr = b->line + p.off;
            break;
        case W_DATA:
            ptr = pattern;
            if (n > sizeof(pattern))
                n = sizeof(pattern);
            break;
        case W_POST:
            ptr = crlf + p.off;
            break;
        case W_LAST:
            ptr = last_chunk + p.off;
            break;
        case W_END:
            return;
        }
        b->iov[b->n++] = (struct iovec){.iov_base = (void *)ptr, .iov_len = n};
        b->len += n;
        uint64_t body;
        long brk = advance(c, &p, n, &body);
        if (brk >= 0) {
            b->whole = true;
            b->pause = brk;
            return;
        }
    }
    b->whole = p.part == W_END;
}

/* The writer's position moves on by the k bytes a write took. */
static void consume(struct dn_conn *c, size_t k)
{
    while (k > 0 && c->wp.part != W_END) {
        uint64_t left = part_left(c, &c->wp), body;
        uint64_t step = k < left ? k : left;
        advance(c, &c->wp, step, &body);
        c->body_sent += body;
        k -= (size_t)step;
    }
}

/* 1: the request is written; 2: a response came back first (--read-while-uploading); 0:
 * waiting (for the socket or for a delay timer); -1: a write error, in errno. The server is not
 * read meanwhile (unless --read-while-uploading, which looks before every write that carries
 * no head byte): a client that keeps writing after the server's FIN is the one envoy#19821
 * describes (docs/behaviour.md, The public reports). */
static int write_some(struct dn_conn *c)
{
    struct wbatch b;
    for (;;) {
        if (c->wp.part == W_END)
            return 1;
        if (c->wp.part != W_HEAD && c->cfg->read_while_uploading && something_came_back(c))
            return 2;
        build_batch(c, &b);
        struct msghdr m = {.msg_iov = b.iov, .msg_iovlen = (size_t)b.n};
        ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(c->wr, NULL);
                return 0;
            }
            return -1;
        }
        c->sent += (uint64_t)k;
        if (k > 0)
            c->writes++;
        consume(c, (size_t)k);
        if ((size_t)k == b.len && b.whole && b.pause > 0 && c->wp.part != W_END) {
            pause_write(c, b.pause);
            return 0;
        }
    }
}

/* now: read at once (something came back, or a write failed: the answer may be waiting);
 * otherwise the request has just gone out and the loop says when its answer is there. */
static void begin_read(struct dn_conn *c, bool now)
{
    c->ph = PH_READ;
    event_del(c->wr);
    evtimer_del(c->timer);
    event_add(c->rd, NULL);
    if (now)
        do_read(c);
}

static void do_write(struct dn_conn *c)
{
    int r = write_some(c);
    if (r == 0)
        return;
    if (r == 1 || r == 2) {
        begin_read(c, r == 2);
        return;
    }
    int e = errno;
    if ((e == EPIPE || e == ECONNRESET) && c->cfg->on_write_error == DN_WERR_READ) {
        /* the response may already sit in our receive queue: Linux keeps it after an RST */
        c->write_err = e;
        begin_read(c, true);
        return;
    }
    /* envoy#2929's client: the write fails, it gives up, the early 413 is never read */
    finish(c, "reset", "write", e, false);
}

static void begin_write(struct dn_conn *c)
{
    c->ph = PH_WRITE;
    arm_ms(c->deadline, c->cfg->timeout_ms);
    if (c->cfg->read_while_uploading)
        event_add(c->rd, NULL);
    do_write(c);
}

/* Feeds body bytes; returns true when the request is finished (either way). */
static bool feed_body(struct dn_conn *c, const char *p, size_t n)
{
    long k = h1_body_consume(&c->body, p, n);
    if (k < 0) {
        finish(c, "partial", "read", EPROTO, false);
        return true;
    }
    if (!c->body.done)
        return false;
    if ((size_t)k < n) /* bytes beyond the response: the connection is not reusable */
        c->resp_keep = false;
    finish_status(c);
    return true;
}

/* Parses what rbuf holds; returns true when the request is finished. */
static bool parse_head(struct dn_conn *c)
{
    for (;;) {
        struct h1_msg m;
        int r = h1_parse_response(c->rbuf, c->rlen, &m);
        if (r == H1_INCOMPLETE) {
            if (c->rlen == sizeof(c->rbuf)) {
                finish(c, "partial", "read", EPROTO, false);
                return true;
            }
            return false;
        }
        if (r < 0) {
            finish(c, "partial", "read", EPROTO, false);
            return true;
        }
        size_t left = c->rlen - (size_t)r;
        if (m.status < 200) { /* an interim response (100 Continue): the real one follows */
            memmove(c->rbuf, c->rbuf + r, left);
            c->rlen = left;
            continue;
        }
        const struct dn_cfg *cfg = c->cfg;
        bool req_keep =
            cfg->http10 ? cfg->connection == DN_CONN_KEEP_ALIVE : cfg->connection != DN_CONN_CLOSE;
        c->status = m.status;
        c->head_done = true;
        h1_body_init_response(&c->body, &m, strcmp(cfg->method, "HEAD") == 0);
        /* Connection: close or HTTP/1.0 semantics: the next request opens a new connection */
        c->resp_keep = req_keep && h1_keep_alive(&m) && c->body.kind != H1_BODY_CLOSE;
        if (c->body.done) {
            if (left)
                c->resp_keep = false;
            finish_status(c);
            return true;
        }
        return left ? feed_body(c, c->rbuf + r, left) : false;
    }
}

static void on_eof(struct dn_conn *c)
{
    if (!c->head_done) {
        finish(c, c->received ? "partial" : "empty", "read", 0, false);
        return;
    }
    if (h1_body_eof_ok(&c->body)) {
        c->resp_keep = false;
        finish_status(c); /* a close-delimited body ends here */
        return;
    }
    finish(c, "partial", "read", 0, false);
}

static void do_read(struct dn_conn *c)
{
    for (;;) {
        char *dst = c->head_done ? scratch : c->rbuf + c->rlen;
        size_t cap = c->head_done ? sizeof(scratch) : sizeof(c->rbuf) - c->rlen;
        ssize_t n = recv(c->fd, dst, cap, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            finish(c, "reset", "read", errno, false);
            return;
        }
        if (n == 0) {
            on_eof(c);
            return;
        }
        c->received += (uint64_t)n;
        if (!c->head_done) {
            c->rlen += (size_t)n;
            if (parse_head(c))
                return;
        } else if (feed_body(c, scratch, (size_t)n)) {
            return;
        }
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct dn_conn *c = arg;
    (void)fd;
    (void)what;
    switch (c->ph) {
    case PH_WRITE:
        /* --read-while-uploading: something came back (a response, a FIN, an RST): stop
         * uploading and read it, as a careful client does. Without it the socket is not
         * read while writing: the event left from the last request goes. */
        if (!c->cfg->read_while_uploading) {
            event_del(c->rd);
            return;
        }
        begin_read(c, true);
        return;
    case PH_READ:
        do_read(c);
        return;
    case PH_GAP:
    case PH_CONNECT:
        event_del(c->rd);
        return;
    }
}

static void on_connected(struct dn_conn *c)
{
    int e = net_socket_error(c->fd);
    evtimer_del(c->deadline);
    event_del(c->wr);
    if (e) {
        finish(c, "connect-error", "connect", e, false);
        return;
    }
    c->lport = net_local_port(c->fd);
    net_set_nodelay(c->fd);
    begin_write(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct dn_conn *c = arg;
    (void)fd;
    (void)what;
    switch (c->ph) {
    case PH_CONNECT:
        on_connected(c);
        return;
    case PH_WRITE:
        do_write(c);
        return;
    case PH_GAP:
    case PH_READ:
        event_del(c->wr);
        return;
    }
}

static void begin_connect(struct dn_conn *c)
{
    c->ph = PH_CONNECT;
    c->reused = false;
    c->start_us = clk_real_us();
    c->lport = 0;
    c->fd = net_connect_nb(&c->cfg->target_addr);
    if (c->fd < 0) {
        finish(c, "connect-error", "connect", errno, false);
        return;
    }
    c->lport = net_local_port(c->fd);
    c->rd = event_new(c->run->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
    c->wr = event_new(c->run->base, c->fd, EV_WRITE | EV_PERSIST, on_write, c);
    if (c->cfg->upload_after_response)
        c->peek = event_new(c->run->base, c->fd, EV_READ, on_peek, c);
    if (!c->rd || !c->wr || (c->cfg->upload_after_response && !c->peek)) {
        c->run->failed = true;
        finish(c, "connect-error", "connect", ENOMEM, false);
        return;
    }
    event_add(c->wr, NULL);
    arm_ms(c->deadline, c->cfg->connect_timeout_ms);
}

/* The careful client's liveness check (urllib3 does this): a FIN already in the receive queue
 * reads as 0 and an RST as an error, so the connection is not reused. It cannot see a FIN that
 * is still in flight. */
static bool still_alive(struct dn_conn *c)
{
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void start_request(struct dn_conn *c)
{
    reset_request(c);
    evtimer_del(c->idle);
    if (c->fd >= 0 && c->cfg->check_before_reuse && !still_alive(c))
        close_sock(c);
    if (c->fd < 0) {
        /* the failed request's socket was dropped (--on-failure reconnect) */
        c->reconnected = c->last_failed;
        begin_connect(c);
        return;
    }
    c->reused = c->carried;
    c->start_us = clk_real_us();
    begin_write(c);
}

static void on_peek(evutil_socket_t fd, short what, void *arg)
{
    struct dn_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->ph != PH_WRITE)
        return;
    evtimer_del(c->timer);
    do_write(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dn_conn *c = arg;
    (void)fd;
    (void)what;
    switch (c->ph) {
    case PH_GAP:
        start_request(c);
        return;
    case PH_WRITE:
        if (c->peek) /* the wait for the response is over */
            event_del(c->peek);
        do_write(c);
        return;
    case PH_CONNECT:
    case PH_READ:
        return;
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct dn_conn *c = arg;
    (void)fd;
    (void)what;
    switch (c->ph) {
    case PH_CONNECT:
        finish(c, "connect-error", "connect", ETIMEDOUT, false);
        return;
    case PH_WRITE:
        finish(c, "timeout", "write", ETIMEDOUT, false);
        return;
    case PH_READ:
        finish(c, "timeout", "read", ETIMEDOUT, false);
        return;
    case PH_GAP:
        return;
    }
}

/* --idle-timeout: the client closes a connection idle longer than its own timeout, so the next
 * request opens a new one instead of racing the server's close (envoy#13388's fix) */
static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct dn_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->ph == PH_GAP)
        close_sock(c);
}

struct dn_conn *dn_conn_new(struct dn_trial *t, long index)
{
    struct dn_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (!pattern[0])
        for (size_t i = 0; i < sizeof(pattern); i++)
            pattern[i] = (char)('A' + i % 26);
    c->t = t;
    c->run = t->run;
    c->cfg = t->run->cfg;
    c->index = index;
    c->fd = -1;
    c->timer = evtimer_new(c->run->base, on_timer, c);
    c->deadline = evtimer_new(c->run->base, on_deadline, c);
    c->idle = evtimer_new(c->run->base, on_idle, c);
    if (!c->timer || !c->deadline || !c->idle) {
        dn_conn_free(c);
        return NULL;
    }
    return c;
}

void dn_conn_start(struct dn_conn *c)
{
    /* started from the loop, never from the caller's stack: a connection that fails at once
     * must not end its trial while the trial is still starting its other connections */
    c->ph = PH_GAP;
    c->req = 0;
    c->gap_us = 0;
    arm_us(c->timer, 0);
}

void dn_conn_free(struct dn_conn *c)
{
    if (!c)
        return;
    close_sock(c);
    if (c->timer)
        event_free(c->timer);
    if (c->deadline)
        event_free(c->deadline);
    if (c->idle)
        event_free(c->idle);
    free(c);
}
