#include "peers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h> /* tcpi_data_segs_in, which glibc's netinet/tcp.h lacks */
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "h1.h"

#define MAX_ARGS 64

uint64_t now_us(void)
{
    return clk_real_us();
}

static int collect(char **argv, int n, va_list ap)
{
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(n < MAX_ARGS - 1);
        argv[n++] = (char *)a;
    }
    argv[n] = NULL;
    return n;
}

void up_start(struct up *u, const char *dir, const char *tag, ...)
{
    char *argv[MAX_ARGS];
    char *bin = tsup_bin("racelab-upstream");
    char *pf = tsup_fmt("%s/%s.port", dir, tag);
    memset(u, 0, sizeof(*u));
    u->log = tsup_fmt("%s/%s.log", dir, tag);
    u->err = tsup_fmt("%s/%s.err", dir, tag);
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--port-file";
    argv[n++] = pf;
    argv[n++] = "--log";
    argv[n++] = u->log;
    va_list ap;
    va_start(ap, tag);
    collect(argv, n, ap);
    va_end(ap);
    assert_int_equal(tsup_spawn(&u->proc, argv, NULL, u->err), 0);
    u->port = tsup_wait_port(pf, 10000);
    if (u->port <= 0) {
        char *e = tsup_slurp(u->err);
        fail_msg("racelab-upstream did not come up: %s", e ? e : "(no stderr)");
    }
    free(bin);
    free(pf);
}

int up_stop(struct up *u)
{
    /* let every connection finish its close (a delayed close, a drain, the peer's EOF) so the
     * log holds each close with its real how and why, not the close at exit */
    uint64_t deadline = clk_mono_us() + 10000000u;
    for (;;) {
        json_t *l = tsup_read_jsonl(u->log);
        size_t acc = l ? tsup_count(l, "event", "accept") : 0;
        size_t cl = l ? tsup_count(l, "event", "close") : 0;
        json_decref(l);
        if ((l && acc == cl) || clk_mono_us() > deadline)
            break;
        clk_sleep_us(2000);
    }
    return tsup_stop(&u->proc);
}

json_t *up_log(struct up *u)
{
    json_t *a = tsup_read_jsonl(u->log);
    assert_non_null(a);
    return a;
}

void up_free(struct up *u)
{
    if (!u->proc.reaped && u->proc.pid > 0)
        tsup_stop(&u->proc);
    free(u->log);
    free(u->err);
    u->log = u->err = NULL;
}

static void dn_vstart(struct dn *d, const char *dir, int port, va_list ap)
{
    static int seq;
    char *argv[MAX_ARGS];
    char *bin = tsup_bin("racelab-downstream");
    char *target = tsup_fmt("127.0.0.1:%d", port);
    d->rec = tsup_fmt("%s/dn-%d.jsonl", dir, seq);
    d->err = tsup_fmt("%s/dn-%d.err", dir, seq++);
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--target";
    argv[n++] = target;
    argv[n++] = "--records";
    argv[n++] = d->rec;
    collect(argv, n, ap);
    assert_int_equal(tsup_spawn(&d->proc, argv, NULL, d->err), 0);
    free(bin);
    free(target);
}

void dn_start(struct dn *d, const char *dir, int port, ...)
{
    va_list ap;
    va_start(ap, port);
    dn_vstart(d, dir, port, ap);
    va_end(ap);
}

json_t *dn_wait(struct dn *d)
{
    int rc = tsup_wait(&d->proc, 120000);
    if (rc < 0)
        tsup_stop(&d->proc);
    if (rc != 0) {
        char *e = tsup_slurp(d->err);
        fail_msg("racelab-downstream exited %d: %s", rc, e ? e : "(no stderr)");
    }
    json_t *a = tsup_read_jsonl(d->rec);
    assert_non_null(a);
    free(d->rec);
    free(d->err);
    return a;
}

json_t *dn_run(const char *dir, int port, ...)
{
    struct dn d;
    va_list ap;
    va_start(ap, port);
    dn_vstart(&d, dir, port, ap);
    va_end(ap);
    return dn_wait(&d);
}

long long rec_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_true(v))
        return 1;
    if (json_is_false(v))
        return 0;
    if (json_is_real(v))
        return (long long)json_real_value(v);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

const char *rec_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

size_t rec_count_int(json_t *arr, const char *key, long long val)
{
    size_t n = 0, i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (json_object_get(o, key) && rec_int(o, key) == val)
            n++;
    }
    return n;
}

json_t *rec_filter_int(json_t *arr, const char *key, long long val)
{
    json_t *out = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (json_object_get(o, key) && rec_int(o, key) == val)
            json_array_append(out, o);
    }
    return out;
}

size_t rec_count_str(json_t *arr, const char *key, const char *val)
{
    return tsup_count(arr, key, val);
}

size_t rec_distinct(json_t *arr, const char *key)
{
    size_t n = 0, i, k;
    json_t *o, *p;
    json_array_foreach(arr, i, o)
    {
        bool seen = false;
        for (k = 0; k < i && !seen; k++) {
            p = json_array_get(arr, k);
            seen = rec_int(p, key) == rec_int(o, key);
        }
        if (!seen)
            n++;
    }
    return n;
}

json_t *rec_event(json_t *arr, const char *event, long long conn)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (strcmp(rec_str(o, "event"), event) == 0 && (conn < 0 || rec_int(o, "conn") == conn))
            return o;
    }
    return NULL;
}

void rec_dump(json_t *arr, const char *what)
{
    size_t i;
    json_t *o;
    fprintf(stderr, "--- %s\n", what);
    json_array_foreach(arr, i, o)
    {
        char *s = json_dumps(o, JSON_COMPACT);
        fprintf(stderr, "%s\n", s);
        free(s);
    }
}

static void set_timeouts(int fd)
{
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    set_timeouts(fd);
    return fd;
}

size_t raw_exchange(int port, const char *req, char *buf, size_t cap, int *err)
{
    int fd = raw_connect(port);
    size_t len = strlen(req);
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    size_t got = 0;
    *err = 0;
    while (got < cap) {
        ssize_t n = recv(fd, buf + got, cap - got, 0);
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
    close(fd);
    if (got < cap)
        buf[got] = '\0';
    return got;
}

int raw_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t l = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

char *raw_serve_one(int lfd, const char *resp, bool read_body)
{
    struct timeval tv = {10, 0};
    setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    set_timeouts(fd);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    int hl = H1_INCOMPLETE;
    struct h1_msg m;
    struct h1_body b;
    size_t body_off = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (hl == H1_INCOMPLETE) {
            hl = h1_parse_request(buf, len, &m);
            if (hl == H1_INCOMPLETE)
                continue;
            assert_true(hl > 0);
            h1_body_init_request(&b, &m);
            body_off = (size_t)hl;
            if (!read_body)
                break;
        }
        long k = h1_body_consume(&b, buf + body_off, len - body_off);
        assert_true(k >= 0);
        body_off += (size_t)k;
        if (b.done || len == cap)
            break;
    }
    buf[len] = '\0';
    size_t rl = strlen(resp);
    assert_int_equal(send(fd, resp, rl, MSG_NOSIGNAL), (ssize_t)rl);
    close(fd);
    return buf;
}

void raw_accept_request(int lfd, size_t body_wire, struct raw_req *q)
{
    struct timeval tv = {10, 0};
    setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(q, 0, sizeof(*q));
    q->fd = accept(lfd, NULL, NULL);
    assert_true(q->fd >= 0);
    set_timeouts(q->fd);
    static char buf[65536];
    uint64_t deadline = clk_mono_us() + 10000000u;
    for (;;) {
        struct pollfd p = {.fd = q->fd, .events = POLLIN};
        (void)poll(&p, 1, 10);
        ssize_t n = recv(q->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        if (n == 0)
            fail_msg("the client closed before its request was whole (%zu bytes)", q->queued);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fail_msg("peeking at the request: %s", strerror(errno));
        if (n > 0) {
            q->queued = (size_t)n;
            if (!q->head_len) {
                const char *e = memmem(buf, (size_t)n, "\r\n\r\n", 4);
                if (e) {
                    q->head_len = (size_t)(e - buf) + 4;
                    q->first_seen = (size_t)n;
                }
            }
            if (q->head_len && q->queued >= q->head_len + body_wire)
                return;
        }
        if (clk_mono_us() > deadline)
            fail_msg("no whole request within 10 s (%zu bytes queued)", q->queued);
        if (n > 0)
            clk_sleep_us(1000); /* poll() says readable at once while bytes wait */
    }
}

void raw_answer(struct raw_req *q, const char *resp)
{
    static char buf[65536];
    while (recv(q->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
    size_t rl = strlen(resp);
    assert_int_equal(send(q->fd, resp, rl, MSG_NOSIGNAL), (ssize_t)rl);
    close(q->fd);
    q->fd = -1;
}

unsigned tcp_data_segs_in(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    assert_true(len >= offsetof(struct tcp_info, tcpi_data_segs_in) + sizeof(ti.tcpi_data_segs_in));
    return ti.tcpi_data_segs_in;
}
