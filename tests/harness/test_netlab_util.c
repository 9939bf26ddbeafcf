#include "test_netlab_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "analysis.h"
#include "capture.h"
#include "clk.h"
#include "explain.h"
#include "netns.h"
#include "wire.h"

/* the child's ends, for tinfra_tell_parent / tinfra_wait_parent */
static int child_up = -1, child_down = -1;

void tinfra_fail(char *msg, size_t msglen, const char *file, int line, const char *fmt, ...)
{
    const char *base = strrchr(file, '/');
    int n = snprintf(msg, msglen, "%s:%d: ", base ? base + 1 : file, line);
    if (n < 0 || (size_t)n >= msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, msglen - (size_t)n, fmt, ap);
    va_end(ap);
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes before the monotonic deadline; 0, or -1. */
static int read_all(int fd, void *buf, size_t n, uint64_t deadline_us)
{
    char *p = buf;
    while (n > 0) {
        uint64_t now = clk_mono_us();
        if (now >= deadline_us)
            return -1;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int k = poll(&pf, 1, (int)((deadline_us - now) / 1000 + 1));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

struct result_head {
    int rc;
    size_t msglen;
};

int tinfra_spawn(struct tinfra_child *c, tinfra_fn fn, void *arg, size_t outlen)
{
    int up[2], down[2];
    memset(c, 0, sizeof *c);
    if (pipe2(up, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(down, O_CLOEXEC) < 0) {
        close(up[0]);
        close(up[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(up[0]);
        close(down[1]);
        child_up = up[1];
        child_down = down[0];
        char msg[1024] = "";
        void *out = calloc(1, outlen ? outlen : 1);
        int rc;
        if (netns_enter(msg, sizeof msg) < 0)
            rc = -1;
        else
            rc = fn(arg, out, msg, sizeof msg);
        struct result_head h = {rc, strlen(msg)};
        write_all(child_up, "R", 1);
        write_all(child_up, &h, sizeof h);
        write_all(child_up, out, outlen);
        write_all(child_up, msg, h.msglen);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    c->pid = pid;
    c->up = up[0];
    c->down = down[1];
    c->outlen = outlen;
    return 0;
}

static void reap(struct tinfra_child *c, bool kill_it)
{
    if (c->pid <= 0)
        return;
    if (kill_it)
        kill(c->pid, SIGKILL);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    c->pid = 0;
    close(c->up);
    close(c->down);
}

int tinfra_join(struct tinfra_child *c, void *out, int timeout_ms, char *msg, size_t msglen)
{
    uint64_t deadline = clk_mono_us() + (uint64_t)timeout_ms * 1000u;
    char b;
    /* skip sync bytes the parent did not wait for */
    do {
        if (read_all(c->up, &b, 1, deadline) < 0) {
            snprintf(msg, msglen, "test child timed out or died after %d ms", timeout_ms);
            reap(c, true);
            return -1;
        }
    } while (b != 'R');
    struct result_head h;
    if (read_all(c->up, &h, sizeof h, deadline) < 0 ||
        read_all(c->up, out, c->outlen, deadline) < 0 || h.msglen >= msglen ||
        read_all(c->up, msg, h.msglen, deadline) < 0) {
        snprintf(msg, msglen, "test child's result is incomplete");
        reap(c, true);
        return -1;
    }
    msg[h.msglen] = '\0';
    reap(c, false);
    return h.rc;
}

int tinfra_in_netns(tinfra_fn fn, void *arg, void *out, size_t outlen, int timeout_ms, char *msg,
                    size_t msglen)
{
    struct tinfra_child c;
    if (tinfra_spawn(&c, fn, arg, outlen) < 0) {
        snprintf(msg, msglen, "fork: %s", strerror(errno));
        return -1;
    }
    return tinfra_join(&c, out, timeout_ms, msg, msglen);
}

int tinfra_tell(struct tinfra_child *c, char b)
{
    return write_all(c->down, &b, 1);
}

int tinfra_wait(struct tinfra_child *c, char b, int timeout_ms)
{
    char got;
    if (read_all(c->up, &got, 1, clk_mono_us() + (uint64_t)timeout_ms * 1000u) < 0)
        return -1;
    return got == b ? 0 : -1;
}

int tinfra_tell_parent(char b)
{
    return write_all(child_up, &b, 1);
}

int tinfra_wait_parent(char b, int timeout_ms)
{
    char got;
    if (read_all(child_down, &got, 1, clk_mono_us() + (uint64_t)timeout_ms * 1000u) < 0)
        return -1;
    return got == b ? 0 : -1;
}

static void timeouts(int fd)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int tinfra_listen(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    timeouts(fd);
    return fd;
}

uint16_t tinfra_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return 0;
    return ntohs(a.sin_port);
}

int tinfra_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    timeouts(fd);
    struct sockaddr_in a = loopback(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int tinfra_accept(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        timeouts(fd);
    return fd;
}

ssize_t tinfra_recv_n(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return got > 0 ? (ssize_t)got : r;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int tinfra_cap_wait(struct cap *c, uint64_t n, int timeout_ms)
{
    uint64_t deadline = clk_mono_us() + (uint64_t)timeout_ms * 1000u;
    while (capture_written(c) < n) {
        if (clk_mono_us() >= deadline)
            return -1;
        clk_sleep_us(1000);
    }
    return 0;
}

static int wait_unread(int fd)
{
    for (int i = 0; i < 5000; i++) {
        int n = 0;
        if (ioctl(fd, FIONREAD, &n) == 0 && n > 0)
            return 0;
        clk_sleep_us(1000);
    }
    return -1;
}

int tinfra_race_capture(const char *path, struct analysis_hop *hops, char *msg, size_t msglen)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    static const char uc[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    static const char post[] = "POST /up HTTP/1.1\r\nContent-Length: 100000\r\n\r\nxxxxxxxx";
    static const char tl[] = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n";
    char err[512] = "", buf[256];
    size_t rl = sizeof req - 1, okl = sizeof ok - 1;
    int lp = tinfra_listen(0), lu = tinfra_listen(0);
    TCHECK(lp >= 0 && lu >= 0, "listen: %s", strerror(errno));
    hops[0] = (struct analysis_hop){tinfra_port(lp), "downstream", "proxy"};
    hops[1] = (struct analysis_hop){tinfra_port(lu), "proxy", "upstream"};
    struct cap *c = capture_start("lo", "tcp", path, err, sizeof err);
    TCHECK(c, "capture_start: %s", err);
    struct wire_rule rule = {
        .sport = hops[1].server_port, .what = WIRE_FIN, .action = WIRE_HOLD, .hold_ms = 60000};
    struct wire *w = wire_start(&rule, 1, 0, err, sizeof err);
    TCHECK(w, "wire_start: %s", err);

    int d = tinfra_connect(hops[0].server_port), pd = tinfra_accept(lp);
    int pu = tinfra_connect(hops[1].server_port), u = tinfra_accept(lu);
    TCHECK(d >= 0 && pd >= 0 && pu >= 0 && u >= 0, "connections: %s", strerror(errno));
    /* request 1 through both hops */
    TCHECK(send(d, req, rl, 0) == (ssize_t)rl && tinfra_recv_n(pd, buf, rl) == (ssize_t)rl, "r1");
    TCHECK(send(pu, req, rl, 0) == (ssize_t)rl && tinfra_recv_n(u, buf, rl) == (ssize_t)rl,
           "r1 up");
    TCHECK(send(u, ok, okl, 0) == (ssize_t)okl && tinfra_recv_n(pu, buf, okl) == (ssize_t)okl,
           "200 up");
    TCHECK(send(pd, ok, okl, 0) == (ssize_t)okl && tinfra_recv_n(d, buf, okl) == (ssize_t)okl,
           "200");
    /* the upstream closes; its FIN stays on the wire */
    close(u);
    TCHECK(send(d, req, rl, 0) == (ssize_t)rl && tinfra_recv_n(pd, buf, rl) == (ssize_t)rl, "r2");
    TCHECK(send(pu, req, rl, 0) == (ssize_t)rl, "r2 up");
    TCHECK(recv(pu, buf, sizeof buf, 0) < 0 && errno == ECONNRESET, "the reuse was not reset");
    close(pu);
    TCHECK(send(pd, uc, sizeof uc - 1, 0) == (ssize_t)sizeof uc - 1 &&
               tinfra_recv_n(d, buf, sizeof uc - 1) == (ssize_t)sizeof uc - 1,
           "503");
    close(d);
    TCHECK(recv(pd, buf, sizeof buf, 0) == 0, "no EOF from the downstream");
    close(pd);
    /* an upload answered early: close() with the body unread */
    int d2 = tinfra_connect(hops[0].server_port), pd2 = tinfra_accept(lp);
    TCHECK(d2 >= 0 && pd2 >= 0, "connection B: %s", strerror(errno));
    TCHECK(send(d2, post, sizeof post - 1, 0) == (ssize_t)sizeof post - 1, "upload");
    TCHECK(wait_unread(pd2) == 0, "the upload did not arrive");
    TCHECK(send(pd2, tl, sizeof tl - 1, 0) == (ssize_t)sizeof tl - 1 &&
               tinfra_recv_n(d2, buf, sizeof tl - 1) == (ssize_t)sizeof tl - 1,
           "413");
    close(pd2);
    TCHECK(recv(d2, buf, sizeof buf, 0) < 0 && errno == ECONNRESET, "no RST after the 413");
    close(d2);
    /* last, the held FIN */
    wire_stop(w, NULL);
    TCHECK(tinfra_cap_wait(c, 1, 10000) == 0, "nothing captured");
    TCHECK(capture_stop(c, NULL) == 0, "capture_stop");
    TCHECK(explain_write_hops(path, hops, 2) == 0, "explain_write_hops: %s", strerror(errno));
    close(lp);
    close(lu);
    return 0;
}

void tinfra_same_analysis(const struct analysis_result *a, const struct analysis_result *b)
{
    assert_int_equal(a->packets, b->packets);
    assert_int_equal(a->nflows, b->nflows);
    assert_int_equal(a->ndirs, b->ndirs);
    for (size_t i = 0; i < a->ndirs; i++) {
        assert_string_equal(a->dirs[i].name, b->dirs[i].name);
#define SAME(field, help) assert_int_equal(a->dirs[i].field, b->dirs[i].field);
        ANALYSIS_COUNTERS(SAME)
#undef SAME
    }
    for (size_t f = 0; f < a->nflows; f++) {
        const struct analysis_flow *x = &a->flows[f], *y = &b->flows[f];
        assert_int_equal(x->client_port, y->client_port);
        assert_int_equal(x->nevents, y->nevents);
        for (size_t e = 0; e < x->nevents; e++) {
            const struct analysis_event *u = &x->events[e], *v = &y->events[e];
            assert_int_equal(u->ts_us, v->ts_us);
            assert_int_equal(u->kind, v->kind);
            assert_int_equal(u->from_client, v->from_client);
            assert_int_equal(u->len, v->len);
            assert_int_equal(u->flags, v->flags);
            assert_int_equal(u->seq, v->seq);
            assert_int_equal(u->ack, v->ack);
            assert_int_equal(u->notes, v->notes);
        }
    }
}
