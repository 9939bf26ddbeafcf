/* racelab-proxy under load it must bound:
 * - more clients than descriptors: with RLIMIT_NOFILE 64 and 100 idle clients, accept() fails
 *   with EMFILE while the listener stays readable. The proxy must not spin on it (its CPU time
 *   over two seconds of wall time, read from /proc/PID/stat, stays under 10%: a bound, not a
 *   speed) and must serve again once a client leaves;
 * - a client that drips its request head (slowloris) gets 408 after --request-headers-timeout,
 *   counted from the head's first byte, whatever it keeps sending;
 * - beyond --max-connections a new connection is accepted and closed at once. */
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

/* Sends a request on an open keep-alive connection and reads its response's status. */
static int ask(int fd, const char *req)
{
    char buf[4096];
    size_t len = strlen(req);
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    return pxt_read_response(fd, buf, sizeof(buf), NULL);
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

/* Waits up to ms for the proxy to close fd (EOF or RST); true when it did. */
static bool closed_within(int fd, int ms)
{
    uint64_t deadline = clk_mono_us() + (uint64_t)ms * 1000u;
    while (clk_mono_us() < deadline) {
        if (closed_by_proxy(fd))
            return true;
        clk_sleep_us(5000);
    }
    return false;
}

#define KA "GET /ka HTTP/1.1\r\nHost: a\r\n\r\n"

static void test_slowloris(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    struct pxp p;
    char buf[4096];
    up_start(&u, c->dir, "up2", NULL);
    pxp_start(&p, c->dir, "slow", u.port, "--request-headers-timeout", "300", NULL);
    int silent = raw_connect(p.port);
    int ka = raw_connect(p.port);
    assert_int_equal(ask(ka, KA), 200);

    /* a head that never ends, one byte every 50 ms: the timer is not re-armed by them */
    int fd = raw_connect(p.port);
    const char *head = "GET /slow HTTP/1.1\r\nHost: a\r\nX-Drip: ";
    uint64_t t0 = clk_mono_us();
    assert_int_equal(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    char c1;
    while (recv(fd, &c1, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && clk_mono_us() - t0 < 5000000u) {
        (void)!send(fd, "a", 1, MSG_NOSIGNAL);
        clk_sleep_us(50000);
    }
    uint64_t waited_ms = (clk_mono_us() - t0) / 1000u;
    bool closes = false;
    assert_int_equal(pxt_read_response(fd, buf, sizeof(buf), &closes), 408);
    assert_true(closes);
    assert_non_null(strstr(buf, "request header timeout"));
    if (waited_ms < 300 || waited_ms > 2000)
        fail_msg("the 408 came after %llu ms (timeout 300 ms)", (unsigned long long)waited_ms);
    shutdown(fd, SHUT_WR);
    assert_true(closed_within(fd, 2000));
    close(fd);

    /* between requests no head is under way: an idle keep-alive client is not timed out */
    assert_int_equal(ask(ka, KA), 200);
    /* a head in two pieces inside the timeout is served */
    fd = raw_connect(p.port);
    const char *first = "GET /two HTTP/1.1\r\n";
    assert_int_equal(send(fd, first, strlen(first), MSG_NOSIGNAL), (ssize_t)strlen(first));
    clk_sleep_us(100000);
    assert_int_equal(ask(fd, "Host: a\r\n\r\n"), 200);
    close(fd);
    /* a connection that sent nothing is the idle timeout's (1 h), not this one's */
    assert_false(closed_by_proxy(silent));
    close(silent);
    close(ka);

    pxp_stop(&p);
    json_t *acc = pxp_access(&p);
    json_t *r = rec_filter_int(acc, "status", 408);
    assert_int_equal(json_array_size(r), 1);
    /* as Envoy: no response flag, the details say why */
    assert_string_equal(rec_str(json_array_get(r, 0), "flags"), "-");
    assert_string_equal(rec_str(json_array_get(r, 0), "details"), "request_header_timeout");
    assert_true(rec_int(json_array_get(r, 0), "close"));
    json_decref(r);
    assert_int_equal(acc_count_status(acc, 200), 3);
    json_decref(acc);
    json_t *st = pxp_stats(&p);
    assert_int_equal(pxp_stat(st, "downstream_rq_header_timeout"), 1);
    assert_int_equal(pxp_stat(st, "downstream_cx_protocol_error"), 0);
    json_decref(st);
    up_stop(&u);
    up_free(&u);
    pxp_free(&p);
}

static void test_max_connections(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    struct pxp p;
    up_start(&u, c->dir, "up3", NULL);
    pxp_start(&p, c->dir, "maxcx", u.port, "--max-connections", "3", NULL);
    int held[3];
    for (int i = 0; i < 3; i++)
        held[i] = raw_connect(p.port);
    assert_int_equal(ask(held[2], KA), 200);
    /* the fourth is accepted and closed at once */
    int extra = raw_connect(p.port);
    assert_true(closed_within(extra, 2000));
    close(extra);
    /* the three are served; when one leaves there is room again */
    assert_int_equal(ask(held[0], KA), 200);
    close(held[1]);
    clk_sleep_us(100000);
    int fd = raw_connect(p.port);
    assert_int_equal(ask(fd, KA), 200);
    close(fd);
    close(held[0]);
    close(held[2]);
    pxp_stop(&p);
    json_t *st = pxp_stats(&p);
    assert_int_equal(pxp_stat(st, "downstream_global_cx_overflow"), 1);
    assert_int_equal(pxp_stat(st, "downstream_cx_total"), 4);
    assert_int_equal(pxp_stat(st, "downstream_rq_2xx"), 3);
    json_decref(st);
    up_stop(&u);
    up_free(&u);
    pxp_free(&p);
}

/* Both limits are flags of the table, so scenarios can set them, and --help explains them. */
static void test_help(void **state)
{
    struct tsup_ctx *c = *state;
    char *out = tsup_fmt("%s/help.out", c->dir);
    char *argv[] = {tsup_bin("racelab-proxy"), "--help", NULL};
    assert_int_equal(tsup_run(argv, out, NULL, 10000), 0);
    char *text = tsup_slurp(out);
    assert_non_null(text);
    assert_non_null(strstr(text, "--request-headers-timeout"));
    assert_non_null(strstr(text, "request_headers_timeout"));
    assert_non_null(strstr(text, "client_header_timeout"));
    assert_non_null(strstr(text, "--max-connections"));
    assert_non_null(strstr(text, "worker_connections"));
    free(text);
    free(out);
    free(argv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_exhaustion),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, tsup_ctx_setup, tsup_ctx_teardown);
}
