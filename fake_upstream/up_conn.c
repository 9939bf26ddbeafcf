#include "up_conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clk.h"
#include "h1.h"
#include "net.h"

#define HEAD_MAX  16384
#define PEEK_MAX  65536
#define FILL_MAX  (256 * 1024) /* response bytes generated ahead of the socket */
#define CHUNK_MAX 16384        /* payload per chunk with --framing chunked */
/* racelab-downstream's tag of each request (TRIAL.CONN.REQ), logged as `tag` on `request`: with
 * rport, the proxy's local port of this connection, it names the trial that used it */
#define TAG_HEADER "X-Racelab-Trial"

enum conn_state {
    CS_HEAD,     /* waiting for or reading a request head */
    CS_BODY,     /* reading the request body before answering */
    CS_RESPOND,  /* response in progress (its delay timers or its writes) */
    CS_DRAIN,    /* --drain-body: discarding the rest of the body after the early answer */
    CS_CLOSING,  /* --delay-close running */
    CS_SHUTDOWN, /* shut down for writing; discarding input until the peer closes */
};

enum resp_phase {
    RP_DELAY,      /* --delay-response */
    RP_HEAD,       /* writing the head alone (a --delay-body follows) */
    RP_BODY_DELAY, /* --delay-body */
    RP_BODY,       /* writing the rest of the response */
};

struct up_conn {
    struct up_srv *srv;
    struct up_conn *next, *prev;
    int fd;
    unsigned long id;
    int lport, rport;
    enum conn_state st;
    struct event *rd, *wr, *timer, *idle, *unread;
    /* the current request */
    char head[HEAD_MAX];
    size_t hlen;
    unsigned long req;
    char method[32];
    char path[256];
    char tag[64]; /* the request's TAG_HEADER, "" when it had none */
    bool req_close;
    bool head_request;
    struct h1_body body;
    uint64_t first_us, head_us;
    /* the current response */
    enum resp_phase rp;
    struct evbuffer *out;
    bool send_body;
    uint64_t body_left;
    bool body_ended;
    uint64_t resp_bytes;
    uint64_t resp_start_us;
    bool resp_close, announce, early, corked;
    const char *close_why;
    unsigned long nresp;
    uint64_t discarded;
    bool sampled; /* --log-keep failures: this connection's events are written */
};

static char pattern[CHUNK_MAX * 4];
static char scratch[PEEK_MAX];

void up_log_begin(struct jl *j, const char *event)
{
    jl_begin(j);
    jl_uint(j, "ts_us", clk_real_us());
    jl_str(j, "event", event);
}

void up_log_write(struct up_srv *s, struct jl *j)
{
    if (s->log_fd >= 0 && jl_write(j, s->log_fd) != 0)
        fprintf(stderr, "racelab-upstream: log write: %s\n", strerror(errno));
}

/* --log-keep failures: a connection's events reach the log when it is sampled, or (its close)
 * when it ended abnormally */
static bool conn_log_wanted(const struct up_conn *c, bool abnormal)
{
    return c->srv->log_fd >= 0 && (!c->srv->keep.failures_only || c->sampled || abnormal);
}

static void conn_log_write(struct up_conn *c, struct jl *j, bool abnormal)
{
    if (conn_log_wanted(c, abnormal))
        up_log_write(c->srv, j);
}

/* --log-keep failures:N:MAX: room for one more abnormal close (counted by close_kept) */
static bool abnormal_room(const struct up_srv *s)
{
    return s->keep.max_failing == 0 || s->keep.failing < (unsigned long)s->keep.max_failing;
}

static bool close_kept(struct up_srv *s)
{
    bool room = abnormal_room(s);
    s->keep.failing++;
    return room;
}

void up_log_counters(const struct up_srv *s, struct jl *j)
{
    jl_uint(j, "requests", s->requests);
    jl_uint(j, "responses", s->responses);
    jl_uint(j, "random_closes", s->random_closes);
    jl_uint(j, "abnormal_closes", s->abnormal_closes);
}

/* --close-random: true with probability 1/N (xorshift64*, the same sequence for a seed) */
static bool draw_close(struct up_srv *s, long n)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return (x * 2685821657736338717ULL) % (uint64_t)n == 0;
}

static void log_conn(struct up_conn *c, struct jl *j, const char *event)
{
    up_log_begin(j, event);
    jl_uint(j, "conn", c->id);
    jl_int(j, "lport", c->lport);
    jl_int(j, "rport", c->rport);
}

static void conn_free(struct up_conn *c)
{
    struct up_srv *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    struct event *evs[] = {c->rd, c->wr, c->timer, c->idle, c->unread};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    if (c->out)
        evbuffer_free(c->out);
    free(c);
}

/* Logs the close with what was still unread in the kernel (non-zero: this close is an RST),
 * then closes the socket and forgets the connection. */
static void conn_end(struct up_conn *c, const char *how, const char *why, int err)
{
    int unread = 0;
    if (ioctl(c->fd, FIONREAD, &unread) != 0)
        unread = 0;
    struct jl j;
    log_conn(c, &j, "close");
    jl_str(&j, "how", how);
    jl_str(&j, "why", why);
    jl_int(&j, "unread", unread);
    jl_uint(&j, "responses", c->nresp);
    if (c->discarded)
        jl_uint(&j, "discarded", c->discarded);
    if (err)
        jl_str(&j, "errno", strerrorname_np(err) ? strerrorname_np(err) : "?");
    bool abnormal = unread > 0 || err || strcmp(how, "rst") == 0 || strcmp(why, "random") == 0;
    if (abnormal)
        c->srv->abnormal_closes++;
    conn_log_write(c, &j, abnormal && close_kept(c->srv));
    event_del(c->rd); /* still watched after a response (start_response): out of epoll first */
    close(c->fd);
    conn_free(c);
}

/* The peer broke the connection under us (or a socket call failed). */
static void conn_fail(struct up_conn *c, int err)
{
    bool peer = err == ECONNRESET || err == EPIPE;
    conn_end(c, peer ? "peer" : "fin", "error", err);
}

static void idle_disarm(struct up_conn *c)
{
    evtimer_del(c->idle);
    evtimer_del(c->unread);
}

static void idle_arm(struct up_conn *c)
{
    const struct up_cfg *cfg = c->srv->cfg;
    if (!cfg->idle_timeout_ms)
        return;
    struct timeval tv = {cfg->idle_timeout_ms / 1000, (cfg->idle_timeout_ms % 1000) * 1000};
    evtimer_add(c->idle, &tv);
    if (cfg->idle_unread_ms) {
        long ms = cfg->idle_timeout_ms - cfg->idle_unread_ms;
        struct timeval tu = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(c->unread, &tu);
    }
}

static void timer_ms(struct up_conn *c, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* How the flags say to close, once the response (and any drain) is done. */
static void final_close(struct up_conn *c)
{
    const struct up_cfg *cfg = c->srv->cfg;
    switch ((enum up_close_how)cfg->close_how) {
    case UP_CLOSE_FIN:
        conn_end(c, "fin", c->close_why, 0);
        return;
    case UP_CLOSE_FIN_WITH_DATA:
        /* the cork still holds the response's last bytes: close() sends them with the FIN */
        conn_end(c, c->corked ? "fin-with-data" : "fin", c->close_why, 0);
        return;
    case UP_CLOSE_RST:
        net_set_linger0(c->fd);
        conn_end(c, "rst", c->close_why, 0);
        return;
    case UP_CLOSE_SHUTDOWN:
        /* nginx's lingering close: no RST, whatever the peer still sends is read and dropped */
        if (shutdown(c->fd, SHUT_WR) != 0) {
            conn_fail(c, errno);
            return;
        }
        c->st = CS_SHUTDOWN;
        event_add(c->rd, NULL);
        return;
    }
}

static void begin_close(struct up_conn *c)
{
    long ms = c->srv->cfg->delay_close_ms;
    if (ms) {
        c->st = CS_CLOSING;
        timer_ms(c, ms);
        return;
    }
    final_close(c);
}

static void log_request(struct up_conn *c)
{
    c->srv->requests++;
    /* --log-keep failures: one request in N is sampled, with its response (and the close that
     * may follow it); a line that is not written is not built either */
    c->sampled = !c->srv->keep.failures_only || keep_want(&c->srv->keep, false);
    if (!conn_log_wanted(c, false))
        return;
    struct jl j;
    log_conn(c, &j, "request");
    jl_uint(&j, "req", c->req);
    jl_str(&j, "method", c->method);
    jl_str(&j, "path", c->path);
    if (c->tag[0])
        jl_str(&j, "tag", c->tag);
    jl_uint(&j, "body", c->body.payload);
    jl_bool(&j, "early", c->early);
    jl_uint(&j, "first_us", c->first_us);
    jl_uint(&j, "head_us", c->head_us);
    conn_log_write(c, &j, false);
}

static void response_done(struct up_conn *c)
{
    const struct up_cfg *cfg = c->srv->cfg;
    c->srv->responses++;
    /* the response after which a --close-random close comes: part of the abnormal close */
    bool abnormal = c->resp_close && c->close_why && strcmp(c->close_why, "random") == 0 &&
                    abnormal_room(c->srv);
    if (conn_log_wanted(c, abnormal)) {
        struct jl j;
        log_conn(c, &j, "response");
        jl_uint(&j, "req", c->req);
        jl_int(&j, "status", cfg->status);
        jl_uint(&j, "bytes", c->resp_bytes);
        jl_bool(&j, "announce_close", c->announce);
        jl_bool(&j, "early", c->early);
        jl_bool(&j, "close", c->resp_close);
        jl_uint(&j, "start_us", c->resp_start_us);
        up_log_write(c->srv, &j);
    }
    c->nresp++;

    if (c->resp_close) {
        if (c->early && cfg->drain_body && !c->body.done) {
            c->st = CS_DRAIN;
            event_add(c->rd, NULL);
            return;
        }
        begin_close(c);
        return;
    }
    c->req++;
    c->hlen = 0;
    c->early = false;
    c->st = CS_HEAD;
    event_add(c->rd, NULL);
    idle_arm(c);
}

static void fill_body(struct up_conn *c)
{
    const struct up_cfg *cfg = c->srv->cfg;
    bool chunked = cfg->framing == UP_FRAMING_CHUNKED;
    while (!c->body_ended && evbuffer_get_length(c->out) < FILL_MAX) {
        if (c->body_left == 0) {
            if (chunked)
                evbuffer_add(c->out, "0\r\n\r\n", 5);
            c->body_ended = true;
            break;
        }
        size_t n = c->body_left < CHUNK_MAX ? (size_t)c->body_left : CHUNK_MAX;
        if (chunked)
            evbuffer_add_printf(c->out, "%zx\r\n", n);
        evbuffer_add(c->out, pattern, n);
        if (chunked)
            evbuffer_add(c->out, "\r\n", 2);
        c->body_left -= n;
    }
}

/* Writes what the current phase has; returns when the kernel takes no more (the write event
 * resumes it) or the phase is complete. */
static void flush(struct up_conn *c)
{
    for (;;) {
        if (c->rp == RP_BODY)
            fill_body(c);
        size_t len = evbuffer_get_length(c->out);
        if (len == 0)
            break;
        int n = evbuffer_write(c->out, c->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                event_add(c->wr, NULL);
                return;
            }
            conn_fail(c, errno);
            return;
        }
        c->resp_bytes += (uint64_t)n;
    }
    event_del(c->wr);
    if (c->rp == RP_HEAD) {
        c->rp = RP_BODY_DELAY;
        timer_ms(c, c->srv->cfg->delay_body_ms);
        return;
    }
    response_done(c);
}

/* envoy#2715's deterministic form: with the cork on, the response's last bytes wait in the
 * kernel and close() sends them in the same segment as the FIN. Not when the body must be
 * drained first: the response would sit in the cork while the client waits for it. */
static void maybe_cork(struct up_conn *c)
{
    const struct up_cfg *cfg = c->srv->cfg;
    if (!c->resp_close || cfg->close_how != UP_CLOSE_FIN_WITH_DATA)
        return;
    if (c->early && cfg->drain_body && !c->body.done)
        return;
    if (net_set_cork(c->fd, true) == 0)
        c->corked = true;
}

static void begin_body(struct up_conn *c)
{
    maybe_cork(c);
    c->rp = RP_BODY;
    if (!c->send_body)
        c->body_ended = true;
    flush(c);
}

static void begin_head(struct up_conn *c)
{
    c->resp_start_us = clk_real_us();
    if (c->srv->cfg->delay_body_ms && c->send_body) {
        c->rp = RP_HEAD;
        flush(c);
        return;
    }
    begin_body(c);
}

static void start_response(struct up_conn *c)
{
    const struct up_cfg *cfg = c->srv->cfg;
    /* The socket is not read while responding. Its read event is not deleted here but when it
     * fires (on_read in CS_RESPOND): a response written at once is over before the loop looks
     * again, and a delete here and an add in response_done would cost two epoll_ctl calls a
     * request for nothing. */
    c->st = CS_RESPOND;

    const char *why = NULL;
    if (c->early)
        why = "early-response";
    else if (c->req_close || cfg->framing == UP_FRAMING_CLOSE)
        why = "after-response";
    else if (cfg->close_after && c->nresp + 1 >= (unsigned long)cfg->close_after)
        why = "after-n";
    else if (cfg->close_random && draw_close(c->srv, cfg->close_random)) {
        why = "random";
        c->srv->random_closes++;
    }
    c->resp_close = why != NULL;
    c->close_why = why;
    /* a server that closes because the client asked says so, as any server does; otherwise
     * only --announce-close tells the client (envoy#6815 is the server that does not) */
    c->announce = c->resp_close && (cfg->announce_close || c->req_close);

    long st = cfg->status;
    bool bodyless = (st >= 100 && st < 200) || st == 204 || st == 304;
    c->send_body = !bodyless && !c->head_request;
    c->body_left = c->send_body ? (uint64_t)cfg->body_size : 0;
    c->body_ended = false;
    c->resp_bytes = 0;
    c->corked = false;

    struct evbuffer *o = c->out;
    evbuffer_drain(o, evbuffer_get_length(o));
    evbuffer_add_printf(o, "HTTP/1.%d %ld %s\r\n", cfg->http10 ? 0 : 1, st, h1_reason((int)st));
    if (!bodyless) {
        switch ((enum up_framing)cfg->framing) {
        case UP_FRAMING_LENGTH:
            evbuffer_add_printf(o, "Content-Length: %ld\r\n", cfg->body_size);
            break;
        case UP_FRAMING_CHUNKED:
            evbuffer_add_printf(o, "Transfer-Encoding: chunked\r\n");
            break;
        case UP_FRAMING_CLOSE:
            break;
        }
    }
    for (size_t i = 0; i < cfg->nheaders; i++)
        evbuffer_add_printf(o, "%s\r\n", cfg->headers[i]);
    if (c->announce)
        evbuffer_add_printf(o, "Connection: close\r\n");
    else if (!c->resp_close && cfg->http10)
        evbuffer_add_printf(o, "Connection: keep-alive\r\n");
    evbuffer_add(o, "\r\n", 2);

    if (cfg->delay_response_ms) {
        c->rp = RP_DELAY;
        timer_ms(c, cfg->delay_response_ms);
        return;
    }
    begin_head(c);
}

/* Takes exactly n bytes that a peek already showed, so nothing beyond them leaves the kernel. */
static int consume(struct up_conn *c, char *dst, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(c->fd, dst, n, 0);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return -1;
        }
        dst += r;
        n -= (size_t)r;
    }
    return 0;
}

static void copy_str(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void read_head(struct up_conn *c)
{
    const struct up_cfg *cfg = c->srv->cfg;
    ssize_t n = recv(c->fd, c->head + c->hlen, HEAD_MAX - c->hlen, MSG_PEEK);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_fail(c, errno);
        return;
    }
    if (n == 0) {
        conn_end(c, "peer", "peer-eof", 0);
        return;
    }
    if (c->hlen == 0) {
        c->first_us = clk_real_us();
        idle_disarm(c);
    }
    struct h1_msg m;
    int r = h1_parse_request(c->head, c->hlen + (size_t)n, &m);
    if (r == H1_INCOMPLETE) {
        if (consume(c, c->head + c->hlen, (size_t)n) != 0) {
            conn_fail(c, errno);
            return;
        }
        c->hlen += (size_t)n;
        if (c->hlen == HEAD_MAX)
            conn_end(c, "fin", "error", 0);
        return;
    }
    if (r < 0) {
        conn_end(c, "fin", "error", 0);
        return;
    }
    if (consume(c, c->head + c->hlen, (size_t)r - c->hlen) != 0) {
        conn_fail(c, errno);
        return;
    }
    c->hlen = (size_t)r;
    c->head_us = clk_real_us();
    copy_str(c->method, sizeof(c->method), m.method, m.method_len);
    copy_str(c->path, sizeof(c->path), m.target, m.target_len);
    const struct h1_header *tag = h1_find(&m, TAG_HEADER);
    if (tag)
        copy_str(c->tag, sizeof(c->tag), tag->value, tag->value_len);
    else
        c->tag[0] = '\0';
    c->req_close = !h1_keep_alive(&m);
    c->head_request = h1_method_is(&m, "HEAD");
    h1_body_init_request(&c->body, &m);
    if (cfg->answer_early) {
        /* envoy#2929: the answer goes out while the body is still arriving */
        c->early = true;
        log_request(c);
        start_response(c);
        return;
    }
    if (c->body.done) {
        log_request(c);
        start_response(c);
        return;
    }
    if (m.expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
            conn_fail(c, errno);
            return;
        }
    }
    c->st = CS_BODY;
}

/* Body bytes are peeked, then exactly the body's share is consumed: a pipelined request after
 * it stays in the kernel for the next read_head. */
static void read_body(struct up_conn *c)
{
    ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_PEEK);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_fail(c, errno);
        return;
    }
    if (n == 0) {
        conn_end(c, "peer", "peer-eof", 0);
        return;
    }
    long k = h1_body_consume(&c->body, scratch, (size_t)n);
    if (k < 0) {
        conn_end(c, "fin", "error", 0);
        return;
    }
    if (consume(c, scratch, (size_t)k) != 0) {
        conn_fail(c, errno);
        return;
    }
    if (c->st == CS_DRAIN)
        c->discarded += (uint64_t)k;
    if (!c->body.done)
        return;
    event_del(c->rd);
    if (c->st == CS_DRAIN) {
        begin_close(c);
        return;
    }
    log_request(c);
    start_response(c);
}

static void read_discard(struct up_conn *c)
{
    ssize_t n = recv(c->fd, scratch, sizeof(scratch), 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        conn_end(c, "shutdown", c->close_why, errno);
        return;
    }
    if (n == 0) {
        conn_end(c, "shutdown", c->close_why, 0);
        return;
    }
    c->discarded += (uint64_t)n;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *c = arg;
    (void)fd;
    (void)what;
    switch (c->st) {
    case CS_HEAD:
        read_head(c);
        return;
    case CS_BODY:
    case CS_DRAIN:
        read_body(c);
        return;
    case CS_SHUTDOWN:
        read_discard(c);
        return;
    case CS_RESPOND:
    case CS_CLOSING:
        event_del(c->rd);
        return;
    }
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *c = arg;
    (void)fd;
    (void)what;
    flush(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->st == CS_CLOSING) {
        final_close(c);
        return;
    }
    if (c->st != CS_RESPOND)
        return;
    switch (c->rp) {
    case RP_DELAY:
        begin_head(c);
        return;
    case RP_BODY_DELAY:
        begin_body(c);
        return;
    case RP_HEAD:
    case RP_BODY:
        return;
    }
}

/* idle-timeout-mismatch / envoy#13388: the server's keep-alive timeout expires */
static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *c = arg;
    (void)fd;
    (void)what;
    evtimer_del(c->unread);
    event_del(c->rd);
    c->close_why = "idle";
    c->resp_close = true;
    final_close(c);
}

/* --idle-unread: from here on a request that arrives is left in the kernel, so the idle close
 * finds it unread and becomes an RST — the reuse-at-timeout race without timing luck. */
static void on_stop_reading(evutil_socket_t fd, short what, void *arg)
{
    struct up_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->st == CS_HEAD && c->hlen == 0)
        event_del(c->rd);
}

int up_conn_start(struct up_srv *s, int fd)
{
    struct up_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -1;
    }
    if (!pattern[0])
        for (size_t i = 0; i < sizeof(pattern); i++)
            pattern[i] = (char)('a' + i % 26);
    c->srv = s;
    c->fd = fd;
    c->id = s->next_id++;
    c->lport = net_local_port(fd);
    c->rport = net_peer_port(fd);
    c->st = CS_HEAD;
    c->rd = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wr = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    c->timer = evtimer_new(s->base, on_timer, c);
    c->idle = evtimer_new(s->base, on_idle, c);
    c->unread = evtimer_new(s->base, on_stop_reading, c);
    c->out = evbuffer_new();
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (!c->rd || !c->wr || !c->timer || !c->idle || !c->unread || !c->out) {
        close(fd);
        conn_free(c);
        return -1;
    }
    net_set_nodelay(fd);
    struct jl j;
    log_conn(c, &j, "accept");
    conn_log_write(c, &j, false);
    event_add(c->rd, NULL);
    idle_arm(c);
    return 0;
}

void up_conn_close_all(struct up_srv *s)
{
    while (s->conns)
        conn_end(s->conns, "fin", "exit", 0);
}
