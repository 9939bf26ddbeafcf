/* racelab-proxy's command line and its robustness: bad or contradictory flags exit 2 with one
 * line naming them, --help lists every flag, SIGTERM exits 0 and writes the stats, SIGUSR1
 * rewrites them; malformed requests get 400 and a close, oversized heads 431; garbage and
 * truncated messages from either side never crash it (run under ASan/UBSan too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"
#include "pxt.h"

struct bad {
    const char *args[8];
    const char *want[2];
};

static const struct bad bad[] = {
    {{"--listen", "127.0.0.1:0"}, {"--upstream"}},
    {{"--upstream", "127.0.0.1:1", "--nope"}, {"--nope"}},
    {{"--upstream", "127.0.0.1:1", "--access-log-keep", "most"}, {"--access-log-keep"}},
    {{"--upstream", "127.0.0.1:1", "--access-log-keep", "failures:0"}, {"--access-log-keep"}},
    {{"--upstream", "127.0.0.1:1", "--attach-pending", "soon"}, {"--attach-pending"}},
    {{"--upstream", "127.0.0.1:1", "--reuse-check", "ping"}, {"--reuse-check"}},
    {{"--upstream", "127.0.0.1:1", "--retry-on", "reset,bogus"}, {"--retry-on"}},
    {{"--upstream", "127.0.0.1:1", "--delayed-close-timeout", "x"}, {"--delayed-close-timeout"}},
    {{"--upstream", "127.0.0.1:1", "--lingering-close", "--delayed-close-timeout", "500"},
     {"--lingering-close", "--delayed-close-timeout"}},
    {{"--upstream", "127.0.0.1:1", "--skip-delay-close", "--no-skip-delay-close"},
     {"--skip-delay-close", "--no-skip-delay-close"}},
    {{"--upstream", "127.0.0.1:1", "--num-retries", "2"}, {"--num-retries", "--retry-on"}},
    {{"--upstream", "127.0.0.1:1", "--access-log", "/nonexistent/dir/a.log"}, {"--access-log"}},
    {{"--upstream", "127.0.0.1:1", "positional"}, {"positional"}},
};

static void test_bad_flags_exit_2(void **state)
{
    struct tsup_ctx *c = *state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[12];
        int n = 0;
        argv[n++] = tsup_bin("racelab-proxy");
        for (int k = 0; bad[i].args[k]; k++)
            argv[n++] = (char *)bad[i].args[k];
        argv[n] = NULL;
        char *errp = tsup_fmt("%s/bad.err", c->dir);
        int rc = tsup_run(argv, NULL, errp, 10000);
        char *err = tsup_slurp(errp);
        assert_non_null(err);
        if (rc != 2)
            fail_msg("case %zu: exit %d, stderr '%s'", i, rc, err);
        for (int k = 0; k < 2 && bad[i].want[k]; k++)
            if (!strstr(err, bad[i].want[k]))
                fail_msg("case %zu: '%s' not in '%s'", i, bad[i].want[k], err);
        /* one line */
        char *nl = strchr(err, '\n');
        assert_non_null(nl);
        assert_int_equal(nl[1], '\0');
        free(err);
        free(errp);
        free(argv[0]);
    }
}

static void test_help_lists_every_flag(void **state)
{
    struct tsup_ctx *c = *state;
    char *out = tsup_fmt("%s/help.out", c->dir);
    char *argv[] = {tsup_bin("racelab-proxy"), "--help", NULL};
    assert_int_equal(tsup_run(argv, out, NULL, 10000), 0);
    char *text = tsup_slurp(out);
    assert_non_null(text);
    static const char *const flags[] = {"--listen",
                                        "--upstream",
                                        "--delayed-close-timeout",
                                        "--lingering-close",
                                        "--lingering-timeout",
                                        "--skip-delay-close",
                                        "--no-skip-delay-close",
                                        "--downstream-idle-timeout",
                                        "--max-connection-duration",
                                        "--drain-timeout",
                                        "--max-requests-per-connection",
                                        "--max-request-bytes",
                                        "--max-request-headers-kb",
                                        "--upstream-idle-timeout",
                                        "--upstream-max-connections",
                                        "--attach-pending",
                                        "--reuse-check",
                                        "--retry-on",
                                        "--num-retries",
                                        "--retry-backoff-base",
                                        "--retry-idempotent-only",
                                        "--upstream-timeout",
                                        "--no-mitigations",
                                        "--access-log",
                                        "--stats",
                                        "--name",
                                        "--port-file"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (!strstr(text, flags[i]))
            fail_msg("--help lacks %s", flags[i]);
    /* each mitigation says which setting it mirrors */
    assert_non_null(strstr(text, "delayed_close_timeout"));
    assert_non_null(strstr(text, "lingering_close"));
    assert_non_null(strstr(text, "PR #2871"));
    assert_non_null(strstr(text, "switch single mitigations back on"));
    free(text);
    free(out);
    free(argv[0]);
}

/* Sends req on a new connection, reads until EOF; returns the status of the first response. */
static int exchange(int port, const char *req, size_t len, char *buf, size_t cap, int *err)
{
    int fd = raw_connect(port);
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    size_t got = 0;
    *err = 0;
    while (got < cap - 1) {
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            break;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    int status = 0;
    if (got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0)
        status = atoi(buf + 9);
    return status;
}

static void test_malformed_and_oversized(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    struct pxp p;
    char buf[8192];
    int err;
    up_start(&u, c->dir, "up1", NULL);
    pxp_start(&p, c->dir, "px1", u.port, "--delayed-close-timeout", "100", NULL);

    /* 400, "Connection: close", and the proxy closes (EOF, after its delayed close) */
    static const char *const garbled[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(exchange(p.port, garbled[i], strlen(garbled[i]), buf, sizeof(buf), &err),
                         400);
        assert_non_null(strstr(buf, "connection: close\r\n"));
        assert_int_equal(err, 0);
    }

    /* a head over --max-request-headers-kb (60 KiB) */
    size_t big = 70 * 1024;
    char *req = malloc(big + 64);
    int off = sprintf(req, "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + off, 'a', big);
    off += (int)big;
    off += sprintf(req + off, "\r\n\r\n");
    assert_int_equal(exchange(p.port, req, (size_t)off, buf, sizeof(buf), &err), 431);
    /* more header lines than the parser takes */
    off = sprintf(req, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 80; i++)
        off += sprintf(req + off, "X-H%d: v\r\n", i);
    off += sprintf(req + off, "\r\n");
    assert_int_equal(exchange(p.port, req, (size_t)off, buf, sizeof(buf), &err), 431);
    free(req);

    /* and it still proxies */
    const char *ok = "GET /fine HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_int_equal(exchange(p.port, ok, strlen(ok), buf, sizeof(buf), &err), 200);

    pxp_stop(&p);
    json_t *acc = pxp_access(&p);
    assert_int_equal(acc_count_status(acc, 400), 3);
    assert_int_equal(acc_count_status(acc, 431), 2);
    assert_int_equal(acc_count_flag(acc, "DPE"), 5);
    assert_int_equal(acc_count_status(acc, 200), 1);
    json_t *st = pxp_stats(&p);
    assert_int_equal(pxp_stat(st, "downstream_cx_protocol_error"), 5);
    /* protocol errors always delay the close (Envoy) */
    assert_int_equal(pxp_stat(st, "delayed_closes"), 5);
    json_decref(st);
    json_decref(acc);
    up_stop(&u);
    up_free(&u);
    pxp_free(&p);
}

/* Waits up to 10 s for a record of the JSON-lines file at path whose key1 is val1 and, when
 * key2 is not NULL, whose key2 is val2; fails the test when none comes. A line still being
 * written (the file does not parse yet) is read again on the next turn. */
static void wait_record(const char *path, const char *key1, const char *val1, const char *key2,
                        const char *val2)
{
    uint64_t deadline = clk_mono_us() + 10000000u;
    for (;;) {
        json_t *recs = tsup_read_jsonl(path);
        size_t i;
        json_t *o;
        bool found = false;
        json_array_foreach(recs, i, o)
        {
            const char *v1 = json_string_value(json_object_get(o, key1));
            const char *v2 = key2 ? json_string_value(json_object_get(o, key2)) : NULL;
            found =
                found || (v1 && strcmp(v1, val1) == 0 && (!key2 || (v2 && strcmp(v2, val2) == 0)));
        }
        json_decref(recs);
        if (found)
            return;
        if (clk_mono_us() > deadline)
            fail_msg("%s: no record with %s %s%s%s%s within 10 s", path, key1, val1,
                     key2 ? " and " : "", key2 ? key2 : "", key2 ? val2 : "");
        clk_sleep_us(2000);
    }
}

/* A fake upstream in a child process that answers each connection with the next canned reply
 * (NULL: close without answering) and closes. */
static pid_t bad_upstream(int lfd, const char *const *replies, size_t n)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    for (size_t i = 0;; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            _exit(0);
        char tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
        (void)r;
        const char *rep = replies[i % n];
        if (rep)
            (void)!send(fd, rep, strlen(rep), MSG_NOSIGNAL);
        close(fd);
    }
}

static void test_garbage_never_crashes(void **state)
{
    struct tsup_ctx *c = *state;
    static const char *const replies[] = {
        "garbage\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        NULL,
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA BYTES",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Len",
        "HTTP/1.0 200 OK\r\n\r\nclose-delimited",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    };
    const size_t nrep = sizeof(replies) / sizeof(replies[0]);
    int uport;
    int lfd = raw_listen(&uport);
    pid_t child = bad_upstream(lfd, replies, nrep);
    close(lfd);
    struct pxp p;
    pxp_start(&p, c->dir, "px2", uport, "--delayed-close-timeout", "50", NULL);

    char buf[8192];
    int err;
    /* every broken upstream reply: the client gets a 502/503 or a cut response, never a hang */
    for (size_t i = 0; i < 2 * nrep; i++) {
        const char *req = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        exchange(p.port, req, strlen(req), buf, sizeof(buf), &err);
    }

    /* garbage and every prefix of requests, the client closing at once */
    const char *good = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n0\r\n\r\n";
    for (size_t cut = 0; cut < strlen(good); cut += 3) {
        int fd = raw_connect(p.port);
        (void)!send(fd, good, cut, MSG_NOSIGNAL);
        close(fd);
    }
    uint64_t seed = 12345;
    for (int i = 0; i < 200; i++) {
        char junk[512];
        size_t len = 1 + (size_t)(i * 37 % (int)sizeof(junk));
        for (size_t k = 0; k < len; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            junk[k] = (char)(seed >> 56);
        }
        if (i % 3 == 0)
            memcpy(junk, "GET / HTTP/1.1\r\n", len < 16 ? len : 16);
        int fd = raw_connect(p.port);
        (void)!send(fd, junk, len, MSG_NOSIGNAL);
        if (i % 2)
            shutdown(fd, SHUT_WR);
        close(fd);
    }
    pxp_stop(&p);
    json_t *acc = pxp_access(&p);
    /* every exchange with the broken upstream was logged with an upstream flag or a status */
    assert_true(acc_count_flag(acc, "UPE") >= 4);
    assert_true(acc_count_flag(acc, "UC") >= 2);
    json_decref(acc);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    pxp_free(&p);
}

static void test_signals(void **state)
{
    struct tsup_ctx *c = *state;
    struct up u;
    struct pxp p;
    char buf[4096];
    int err;
    up_start(&u, c->dir, "up3", NULL);
    pxp_start(&p, c->dir, "px3", u.port, "--name", "proxy7", NULL);
    const char *ok = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < 3; i++)
        assert_int_equal(exchange(p.port, ok, strlen(ok), buf, sizeof(buf), &err), 200);
    kill(p.proc.pid, SIGUSR1);
    json_t *st = NULL;
    uint64_t deadline = clk_mono_us() + 5000000u;
    while (clk_mono_us() < deadline) {
        json_error_t e;
        st = json_load_file(p.stats, 0, &e);
        if (st)
            break;
        clk_sleep_us(5000);
    }
    assert_non_null(st);
    assert_int_equal(pxp_stat(st, "downstream_rq_total"), 3);
    assert_int_equal(pxp_stat(st, "downstream_rq_2xx"), 3);
    assert_string_equal(json_string_value(json_object_get(st, "proxy")), "proxy7");
    json_decref(st);
    assert_int_equal(exchange(p.port, ok, strlen(ok), buf, sizeof(buf), &err), 200);
    pxp_stop(&p);
    st = pxp_stats(&p);
    assert_int_equal(pxp_stat(st, "downstream_rq_total"), 4);
    json_decref(st);
    json_t *acc = pxp_access(&p);
    assert_int_equal(json_array_size(acc), 4);
    assert_string_equal(rec_str(json_array_get(acc, 0), "proxy"), "proxy7");
    assert_int_equal(json_array_size(json_object_get(json_array_get(acc, 0), "upstream_ports")), 1);
    json_decref(acc);
    up_stop(&u);
    up_free(&u);
    pxp_free(&p);
}

/* The proxy's own answers with Envoy's texts and flags: connect failure (UF, and URX once the
 * retries are used up), a full pending queue (UO), the route timeout (504 UT), and a client that
 * leaves before its response (DC). */
static void test_local_replies(void **state)
{
    struct tsup_ctx *c = *state;
    char buf[8192];
    int err;
    const char *req = "GET /r HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

    /* nothing listens on the upstream port */
    int dead_port;
    int lfd = raw_listen(&dead_port);
    close(lfd);
    struct pxp p;
    pxp_start(&p, c->dir, "uf", dead_port, NULL);
    assert_int_equal(exchange(p.port, req, strlen(req), buf, sizeof(buf), &err), 503);
    assert_non_null(strstr(buf, "\r\n\r\nupstream connect error or disconnect/reset before "
                                "headers. reset reason: connection failure"));
    pxp_stop(&p);
    json_t *acc = pxp_access(&p);
    assert_int_equal(acc_count_flag(acc, "UF"), 1);
    json_decref(acc);
    pxp_free(&p);

    pxp_start(&p, c->dir, "uf-retry", dead_port, "--retry-on", "connect-failure",
              "--retry-backoff-base", "5", NULL);
    assert_int_equal(exchange(p.port, req, strlen(req), buf, sizeof(buf), &err), 503);
    assert_non_null(strstr(buf, "before headers. retried and the latest reset reason: "
                                "connection failure"));
    pxp_stop(&p);
    acc = pxp_access(&p);
    assert_int_equal(acc_count_flag(acc, "UF"), 1);
    assert_int_equal(acc_count_flag(acc, "URX"), 1);
    assert_int_equal(rec_int(json_array_get(acc, 0), "attempts"), 2);
    json_decref(acc);
    json_t *st = pxp_stats(&p);
    assert_int_equal(pxp_stat(st, "upstream_cx_connect_fail"), 2);
    assert_int_equal(pxp_stat(st, "upstream_rq_retry"), 1);
    json_decref(st);
    pxp_free(&p);

    /* Envoy's max_pending_requests 0: a request that has to wait for a connection overflows */
    struct up u;
    up_start(&u, c->dir, "slow", "--delay-response", "400", NULL);
    pxp_start(&p, c->dir, "uo", u.port, "--upstream-max-pending", "0", NULL);
    assert_int_equal(exchange(p.port, req, strlen(req), buf, sizeof(buf), &err), 503);
    assert_non_null(strstr(buf, "reset reason: overflow"));
    pxp_stop(&p);
    acc = pxp_access(&p);
    assert_int_equal(acc_count_flag(acc, "UO"), 1);
    json_decref(acc);
    pxp_free(&p);

    /* the route timeout, from the end of the request */
    pxp_start(&p, c->dir, "ut", u.port, "--upstream-timeout", "100", NULL);
    assert_int_equal(exchange(p.port, req, strlen(req), buf, sizeof(buf), &err), 504);
    assert_non_null(strstr(buf, "upstream request timeout"));

    /* a client that goes away while its request waits for the upstream: it closes once the
     * upstream has logged the request (the proxy has it on an upstream connection), and the
     * proxy is stopped once it has logged the request (it noticed the close: the access-log
     * record is written when the request ends, after the DC counters) */
    const char *ka = "GET /dc HTTP/1.1\r\nHost: a\r\n\r\n";
    int fd = raw_connect(p.port);
    assert_int_equal(send(fd, ka, strlen(ka), MSG_NOSIGNAL), (ssize_t)strlen(ka));
    wait_record(u.log, "event", "request", "path", "/dc");
    close(fd);
    wait_record(p.access, "path", "/dc", NULL, NULL);
    pxp_stop(&p);
    acc = pxp_access(&p);
    assert_int_equal(json_array_size(acc), 2);
    assert_int_equal(acc_count_flag(acc, "UT"), 1);
    assert_int_equal(acc_count_status(acc, 504), 1);
    assert_int_equal(acc_count_flag(acc, "DC"), 1);
    json_decref(acc);
    st = pxp_stats(&p);
    assert_int_equal(pxp_stat(st, "upstream_rq_timeout"), 1);
    assert_int_equal(pxp_stat(st, "downstream_cx_destroy_remote_active_rq"), 1);
    assert_int_equal(pxp_stat(st, "upstream_cx_destroy_local_with_active_rq"), 2);
    json_decref(st);
    pxp_free(&p);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
}

/* --access-log-keep failures:N writes the failing requests' lines and one other in N;
 * failures:0:MAX the first MAX failing lines only; the stats count every request. */
static void test_access_log_keep(void **state)
{
    struct tsup_ctx *c = *state;
    struct up ok, err503;
    up_start(&ok, c->dir, "keep-ok", NULL);
    up_start(&err503, c->dir, "keep-503", "--status", "503", NULL);
    struct pxp p;
    pxp_start(&p, c->dir, "keep-good", ok.port, "--access-log-keep", "failures:10", NULL);
    json_decref(dn_run(c->dir, p.port, "--requests", "30", NULL));
    pxp_stop(&p);
    json_t *acc = pxp_access(&p), *st = pxp_stats(&p);
    assert_int_equal(json_array_size(acc), 3); /* the 1st, 11th and 21st */
    assert_int_equal(pxp_stat(st, "downstream_rq_total"), 30);
    json_decref(acc);
    json_decref(st);
    pxp_free(&p);

    pxp_start(&p, c->dir, "keep-bad", err503.port, "--access-log-keep", "failures:0:2", NULL);
    json_decref(dn_run(c->dir, p.port, "--requests", "5", NULL));
    pxp_stop(&p);
    acc = pxp_access(&p);
    assert_int_equal(json_array_size(acc), 2);
    assert_int_equal(acc_count_status(acc, 503), 2);
    json_decref(acc);
    pxp_free(&p);
    up_stop(&ok);
    up_stop(&err503);
    up_free(&ok);
    up_free(&err503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_flags_exit_2),
        cmocka_unit_test(test_help_lists_every_flag),
        cmocka_unit_test(test_malformed_and_oversized),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_local_replies),
        cmocka_unit_test(test_access_log_keep),
    };
    return cmocka_run_group_tests(tests, tsup_ctx_setup, tsup_ctx_teardown);
}
