/* fuzz_proxy — racelab-proxy's request path on a client's bytes, in-process.
 *
 * Per input: the proxy's objects as px_main.c makes them (a libevent base, the upstream pool,
 * the reaper) with one of a few configurations; one end of a socketpair handed to px_down_new
 * as an accepted connection; the client's bytes written to the other end; the loop run until
 * nothing happens; then the client's close, the loop again, and everything freed. The upstream
 * is a listener in this process that answers each request with the input's response bytes (or
 * a plain 200), or a port that refuses connections. Between inputs nothing may be left: the
 * sanitizers' leak check covers memory, and the number of open descriptors must be the same
 * after an input as before it.
 *
 * Input:  byte 0     configuration (index into variants[], modulo)
 *         byte 1     upstream and client behaviour (UP_* bits)
 *         the rest   the client's bytes, then optionally SEP and the upstream's answer */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net.h"
#include "px.h"
#include "px_cfg.h"
#include "px_close.h"
#include "px_down.h"
#include "px_pool.h"

#define SEP        "@@UPSTREAM@@"
#define FUZZ_MAX_INPUT  (64 * 1024)
#define IDLE_US    100 /* no event for this long: the loop is idle */
#define MAX_PASSES 400 /* loop passes per phase (a bound, not a goal) */
#define TIMER_MS   6   /* UP_TIMERS: how long the proxy's short timers get */
#define MAX_UCONNS 16
#define MAX_ANSWERS 8 /* answers per upstream connection */

enum {
    UP_CLOSE_AFTER = 1 << 0,  /* the upstream closes after its answer */
    UP_NO_ANSWER = 1 << 1,    /* the upstream closes after reading, without answering */
    UP_REFUSE = 1 << 2,       /* the upstream port refuses connections */
    UP_EARLY = 1 << 3,        /* the upstream answers at accept, before reading */
    UP_RST = 1 << 4,          /* the upstream's closes are RSTs (SO_LINGER 0) */
    UP_HALF_CLOSE = 1 << 5,   /* the client shuts down its write side after its bytes */
    UP_TWO_WRITES = 1 << 6,   /* the client's bytes in two writes, the loop run in between */
    UP_TIMERS = 1 << 7,       /* run the loop TIMER_MS longer (short-timeout configurations) */
};

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_proxy: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Configurations: the defaults, then the mitigations and limits that change the request path.
 * The listener and upstream flags are added in front. */
static const char *const *const variants[] = {
    (const char *const[]){NULL},
    (const char *const[]){"--no-mitigations", NULL},
    (const char *const[]){"--attach-pending", "immediate", "--reuse-check", "peek", NULL},
    (const char *const[]){"--lingering-close", "--reuse-check", "tcp-info", NULL},
    (const char *const[]){"--retry-on", "reset,connect-failure,5xx", "--num-retries", "2",
                          "--retry-backoff-base", "1", NULL},
    (const char *const[]){"--max-request-bytes", "64", "--max-request-headers-kb", "1", NULL},
    (const char *const[]){"--max-requests-per-connection", "2", "--no-skip-delay-close",
                          "--delayed-close-timeout", "2", NULL},
    (const char *const[]){"--request-headers-timeout", "2", "--upstream-timeout", "3",
                          "--downstream-idle-timeout", "4", "--drain-timeout", "1", NULL},
    (const char *const[]){"--upstream-max-connections", "1", "--upstream-max-pending", "1",
                          "--attach-pending", "delay:1", "--retry-idempotent-only",
                          "--retry-on", "reset", NULL},
    (const char *const[]){"--max-connection-duration", "3", "--upstream-idle-timeout", "1",
                          "--lingering-close", "--lingering-timeout", "2", "--lingering-time",
                          "4", NULL},
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static struct px_cfg cfgs[NVARIANTS][2]; /* [variant][refusing upstream] */
static char up_addr[2][32];
static int up_lfd = -1;   /* the upstream listener */
static int refuse_fd = -1; /* bound, not listening: its port refuses */
static int access_fd = -1; /* /dev/null: the access log is written */
static bool trace;         /* FUZZ_PROXY_TRACE set: what each side received, on stderr */

static const char default_answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* ---------------------------------------------------------------- the upstream */

struct upstream;
struct uconn {
    struct upstream *up;
    int fd;
    struct event *ev;
    int answers;
    size_t got; /* request bytes received */
};

struct upstream {
    struct event_base *base;
    struct event *accept_ev;
    unsigned mode;
    const char *answer;
    size_t answer_len;
    struct uconn conns[MAX_UCONNS];
};

static void uconn_close(struct uconn *c)
{
    if (c->fd < 0)
        return;
    if (c->up->mode & UP_RST)
        net_set_linger0(c->fd);
    event_free(c->ev);
    close(c->fd);
    c->fd = -1;
    c->ev = NULL;
}

static void uconn_answer(struct uconn *c)
{
    if (c->answers >= MAX_ANSWERS || (c->up->mode & UP_NO_ANSWER)) {
        uconn_close(c);
        return;
    }
    c->answers++;
    /* a short write is a cut answer: what the proxy sees of a peer that stalls */
    ssize_t w = send(c->fd, c->up->answer, c->up->answer_len, MSG_NOSIGNAL);
    (void)w;
    if (c->up->mode & UP_CLOSE_AFTER)
        uconn_close(c);
}

static void uconn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct uconn *c = arg;
    char buf[16384];
    (void)what;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
        c->got += (size_t)n;
        if (trace)
            fprintf(stderr, "fuzz_proxy: upstream %d got %zd bytes: %.*s\n", fd, n, (int)n, buf);
        if (!(c->up->mode & UP_EARLY))
            uconn_answer(c);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    uconn_close(c);
}

static void upstream_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct upstream *up = arg;
    (void)what;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct uconn *c = NULL;
        for (int i = 0; i < MAX_UCONNS && !c; i++)
            if (up->conns[i].fd < 0)
                c = &up->conns[i];
        if (!c) {
            net_set_linger0(fd);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->answers = 0;
        c->got = 0;
        c->ev = event_new(up->base, fd, EV_READ | EV_PERSIST, uconn_cb, c);
        CHECK(c->ev && event_add(c->ev, NULL) == 0);
        if (up->mode & UP_EARLY)
            uconn_answer(c);
    }
}

/* Connections the upstream listener holds but nobody accepted: reset, so that none is left. */
static void drain_backlog(void)
{
    int fd;
    while ((fd = accept4(up_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        net_set_linger0(fd);
        close(fd);
    }
}

/* ---------------------------------------------------------------- the client */

struct client {
    int fd;
    struct event *ev;
    const uint8_t *data;
    size_t len, off;
    bool half_close;
};

static void client_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    if (what & EV_READ) {
        char buf[16384];
        ssize_t n;
        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
            if (trace)
                fprintf(stderr, "fuzz_proxy: client got %zd bytes: %.*s\n", n, (int)n, buf);
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            event_del(c->ev); /* the proxy closed: nothing more to read or write */
            return;
        }
    }
    if ((what & EV_WRITE) && c->off < c->len) {
        ssize_t n = send(fd, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n > 0)
            c->off += (size_t)n;
        else if (n < 0 && errno != EAGAIN)
            c->off = c->len; /* the proxy closed: nothing more goes */
    }
    if (c->off == c->len && (what & EV_WRITE)) {
        /* everything written: read only */
        event_del(c->ev);
        event_assign(c->ev, event_get_base(c->ev), fd, EV_READ | EV_PERSIST, client_cb, c);
        event_add(c->ev, NULL);
        if (c->half_close)
            shutdown(fd, SHUT_WR);
    }
}

static void client_send(struct client *c, const uint8_t *data, size_t len)
{
    c->data = data;
    c->len = len;
    c->off = 0;
    event_del(c->ev);
    event_assign(c->ev, event_get_base(c->ev), c->fd, EV_READ | EV_WRITE | EV_PERSIST, client_cb,
                 c);
    event_add(c->ev, NULL);
}

/* ---------------------------------------------------------------- the loop */

static bool idle_fired;

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    idle_fired = true;
}

/* Runs the loop until a pass finds nothing to do for IDLE_US (every callback has run, no
 * socket is readable or writable, no timer is due). */
static void run_until_idle(struct event_base *base, struct event *idle)
{
    for (int i = 0; i < MAX_PASSES; i++) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = IDLE_US};
        idle_fired = false;
        event_add(idle, &tv);
        event_base_loop(base, EVLOOP_ONCE);
        if (idle_fired)
            break;
    }
    event_del(idle);
}

static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    px_reap(arg);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------- set-up */

static int bound_socket(bool listening)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        (listening && listen(fd, 128) != 0) || getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        perror("fuzz_proxy: socket");
        exit(1);
    }
    return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    trace = getenv("FUZZ_PROXY_TRACE") != NULL;
    up_lfd = bound_socket(true);
    refuse_fd = bound_socket(false);
    access_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (access_fd < 0) {
        perror("fuzz_proxy: /dev/null");
        exit(1);
    }
    snprintf(up_addr[0], sizeof(up_addr[0]), "127.0.0.1:%d", net_local_port(up_lfd));
    snprintf(up_addr[1], sizeof(up_addr[1]), "127.0.0.1:%d", net_local_port(refuse_fd));
    for (size_t v = 0; v < NVARIANTS; v++) {
        for (int r = 0; r < 2; r++) {
            char *args[32] = {"racelab-proxy", "--listen", "127.0.0.1:0", "--upstream", up_addr[r]};
            int n = 5;
            for (const char *const *a = variants[v]; *a; a++)
                args[n++] = (char *)*a;
            char err[512];
            if (px_cfg_parse(&cfgs[v][r], n, args, err, sizeof(err)) != OPT_OK) {
                fprintf(stderr, "fuzz_proxy: configuration %zu: %s\n", v, err);
                exit(1);
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- one input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > FUZZ_MAX_INPUT)
        return 0;
    unsigned mode = data[1];
    const struct px_cfg *cfg = &cfgs[data[0] % NVARIANTS][(mode & UP_REFUSE) ? 1 : 0];
    const uint8_t *req = data + 2;
    size_t req_len = size - 2;
    struct upstream up = {.mode = mode, .answer = default_answer,
                          .answer_len = sizeof(default_answer) - 1};
    const uint8_t *sep = memmem(req, req_len, SEP, strlen(SEP));
    if (sep) {
        up.answer = (const char *)sep + strlen(SEP);
        up.answer_len = req_len - (size_t)(sep - req) - strlen(SEP);
        req_len = (size_t)(sep - req);
    }
    for (int i = 0; i < MAX_UCONNS; i++) {
        up.conns[i].fd = -1;
        up.conns[i].up = &up;
    }
    int fds_before = open_fds();

    /* the proxy, as px_main.c makes it */
    struct px px;
    memset(&px, 0, sizeof(px));
    px.cfg = cfg;
    px.access_fd = access_fd;
    px.rng = 1;
    LIST_INIT(&px.dconns);
    LIST_INIT(&px.closings);
    struct event_config *ecfg = event_config_new();
    CHECK(ecfg);
    event_config_require_features(ecfg, EV_FEATURE_EARLY_CLOSE | EV_FEATURE_ET);
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER); /* IDLE_US, not a millisecond */
    px.base = event_base_new_with_config(ecfg);
    CHECK(px.base);
    event_config_free(ecfg);
    px.down_idle_tv = px_common_timeout(&px, cfg->downstream_idle_timeout_ms);
    px.rq_timeout_tv = px_common_timeout(&px, cfg->upstream_timeout_ms);
    px.head_timeout_tv = px_common_timeout(&px, cfg->request_headers_timeout_ms);
    px.lport = 8000;
    px.pool = px_pool_new(&px);
    px.reaper = event_new(px.base, -1, 0, reaper_cb, &px);
    CHECK(px.pool && px.reaper);

    up.base = px.base;
    up.accept_ev = event_new(px.base, up_lfd, EV_READ | EV_PERSIST, upstream_accept_cb, &up);
    struct event *idle = evtimer_new(px.base, idle_cb, NULL);
    CHECK(up.accept_ev && idle && event_add(up.accept_ev, NULL) == 0);

    /* the client: one end of a socketpair, the other accepted by the proxy */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    struct client cl = {.fd = sv[1], .half_close = (mode & UP_HALF_CLOSE) != 0};
    cl.ev = event_new(px.base, sv[1], EV_READ | EV_PERSIST, client_cb, &cl);
    CHECK(cl.ev);
    px_down_new(&px, sv[0]);

    if ((mode & UP_TWO_WRITES) && req_len > 1) {
        bool hc = cl.half_close;
        cl.half_close = false;
        client_send(&cl, req, req_len / 2);
        run_until_idle(px.base, idle);
        cl.half_close = hc;
        client_send(&cl, req + req_len / 2, req_len - req_len / 2);
    } else {
        client_send(&cl, req, req_len);
    }
    run_until_idle(px.base, idle);
    if (mode & UP_TIMERS) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = TIMER_MS * 1000};
        event_base_loopexit(px.base, &tv);
        event_base_dispatch(px.base);
        run_until_idle(px.base, idle);
    }

    /* the client leaves */
    event_free(cl.ev);
    close(cl.fd);
    run_until_idle(px.base, idle);

    /* everything freed, as px_main.c does at exit */
    for (int i = 0; i < MAX_UCONNS; i++) {
        up.mode |= UP_RST; /* no TIME_WAIT left behind */
        uconn_close(&up.conns[i]);
    }
    px_down_close_all(&px);
    px_pool_free(px.pool);
    px_close_all(&px);
    px_reap(&px);
    event_free(px.reaper);
    event_free(up.accept_ev);
    event_free(idle);
    event_base_free(px.base);
    drain_backlog();

    int fds_after = open_fds();
    if (fds_after != fds_before) {
        fprintf(stderr, "fuzz_proxy: %d descriptors open before the input, %d after\n",
                fds_before, fds_after);
        abort();
    }
    return 0;
}
