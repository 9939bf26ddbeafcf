/* racelab-proxy under more clients than it has descriptors for: with RLIMIT_NOFILE 64 and 100
 * idle clients, accept() fails with EMFILE while the listener stays readable. The proxy must
 * not spin on it (its CPU time over two seconds of wall time, read from /proc/PID/stat, stays
 * under 10%: a bound, not a speed) and must serve again once a client leaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clk.h"
#include "pxt.h"

#define GOOD "GET /good HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

/* utime + stime of pid in seconds (/proc/PID/stat fields 14 and 15). */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    assert_non_null(p);
    unsigned long long ut = 0, st = 0;
    /* after the command name: state, then fields 4..13, then utime and stime */
    int k = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
    assert_int_equal(k, 2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The share of one CPU the process used over ms of wall time. */
static double cpu_share(pid_t pid, int ms)
{
    double c0 = cpu_seconds(pid);
    uint64_t t0 = clk_mono_us();
    clk_sleep_us((uint64_t)ms * 1000u);
    double c1 = cpu_seconds(pid);
    uint64_t t1 = clk_mono_us();
    return (c1 - c0) / ((double)(t1 - t0) / 1e6);
}

/* Sends req on a new connection and returns the status of the response (0: none). */
static int exchange(int port, const char *req)
{
    char buf[4096];
    int fd = raw_connect(port);
    size_t len = strlen(req);
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    size_t got = 0;
    while (got < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    return got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 ? atoi(buf + 9) : 0;
}

/* Whether the proxy closed this (idle) client: EOF or RST waiting, without blocking. */
static bool closed_by_proxy(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

#define NCLIENTS 100

static void test_fd_exhaustion(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    struct pxp p;
    up_start(&u, c->dir, "up", NULL);
    pxp_start(&p, c->dir, "px", u.port, NULL);
    /* a pooled upstream connection, so that a request needs one descriptor only */
    assert_int_equal(exchange(p.port, GOOD), 200);

    struct rlimit rl;
    assert_int_equal(prlimit(p.proc.pid, RLIMIT_NOFILE, NULL, &rl), 0);
    rl.rlim_cur = 64;
    assert_int_equal(prlimit(p.proc.pid, RLIMIT_NOFILE, &rl, NULL), 0);

    int cl[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++)
        cl[i] = raw_connect(p.port);
    clk_sleep_us(300000);
    double share = cpu_share(p.proc.pid, 2000);
    fprintf(stderr, "racelab-proxy with %d idle clients and 64 descriptors: %.1f%% CPU\n", NCLIENTS,
            share * 100);
    if (share >= 0.10)
        fail_msg("the proxy used %.0f%% of a CPU while out of descriptors", share * 100);

    /* the first client was accepted; when it leaves, a new client is served */
    assert_false(closed_by_proxy(cl[0]));
    close(cl[0]);
    clk_sleep_us(300000);
    assert_int_equal(exchange(p.port, GOOD), 200);

    size_t rejected = 0;
    for (int i = 1; i < NCLIENTS; i++) {
        rejected += closed_by_proxy(cl[i]);
        close(cl[i]);
    }
    pxp_stop(&p);
    json_t *st = pxp_stats(&p);
    /* the clients beyond the descriptors were accepted and closed at once, each counted */
    assert_true(rejected > 0 && rejected < NCLIENTS - 1);
    assert_int_equal(pxp_stat(st, "downstream_cx_fd_exhausted"), (long long)rejected);
    assert_true(pxp_stat(st, "listener_accept_paused") >= 1);
    assert_int_equal(pxp_stat(st, "downstream_rq_2xx"), 2);
    json_decref(st);
    up_stop(&u);
    up_free(&u);
    pxp_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_exhaustion),
    };
    return cmocka_run_group_tests(tests, tsup_ctx_setup, tsup_ctx_teardown);
}
