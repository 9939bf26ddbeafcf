#include "pxt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "h1.h"

#define MAX_ARGS 64

void pxp_start(struct pxp *p, const char *dir, const char *tag, int upstream_port, ...)
{
    const char *flags[MAX_ARGS];
    int n = 0;
    va_list ap;
    va_start(ap, upstream_port);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(n < MAX_ARGS - 1);
        flags[n++] = a;
    }
    va_end(ap);
    flags[n] = NULL;
    pxp_startv(p, dir, tag, upstream_port, flags);
}

void pxp_startv(struct pxp *p, const char *dir, const char *tag, int upstream_port,
                const char *const *flags)
{
    char *argv[MAX_ARGS];
    char *bin = tsup_bin("racelab-proxy");
    char *pf = tsup_fmt("%s/%s.px.port", dir, tag);
    char *up = tsup_fmt("127.0.0.1:%d", upstream_port);
    memset(p, 0, sizeof(*p));
    p->access = tsup_fmt("%s/%s.px.access", dir, tag);
    p->stats = tsup_fmt("%s/%s.px.stats", dir, tag);
    p->err = tsup_fmt("%s/%s.px.err", dir, tag);
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--port-file";
    argv[n++] = pf;
    argv[n++] = "--upstream";
    argv[n++] = up;
    argv[n++] = "--access-log";
    argv[n++] = p->access;
    argv[n++] = "--stats";
    argv[n++] = p->stats;
    for (; *flags; flags++) {
        assert_true(n < MAX_ARGS - 1);
        argv[n++] = (char *)*flags;
    }
    argv[n] = NULL;
    assert_int_equal(tsup_spawn(&p->proc, argv, NULL, p->err), 0);
    p->port = tsup_wait_port(pf, 10000);
    if (p->port <= 0) {
        char *e = tsup_slurp(p->err);
        fail_msg("racelab-proxy did not come up: %s", e ? e : "(no stderr)");
    }
    free(bin);
    free(pf);
    free(up);
}

void pxp_stop(struct pxp *p)
{
    int rc = tsup_stop(&p->proc);
    if (rc != 0) {
        char *e = tsup_slurp(p->err);
        fail_msg("racelab-proxy exited %d on SIGTERM: %s", rc, e ? e : "(no stderr)");
    }
}

json_t *pxp_access(struct pxp *p)
{
    json_t *a = tsup_read_jsonl(p->access);
    if (!a)
        a = json_array();
    return a;
}

json_t *pxp_stats(struct pxp *p)
{
    json_error_t e;
    json_t *o = json_load_file(p->stats, 0, &e);
    if (!o)
        fail_msg("%s: %s", p->stats, e.text);
    return o;
}

long long pxp_stat(json_t *stats, const char *key)
{
    json_t *v = json_object_get(stats, key);
    if (!json_is_integer(v))
        fail_msg("stats: no counter %s", key);
    return json_integer_value(v);
}

void pxp_free(struct pxp *p)
{
    if (!p->proc.reaped && p->proc.pid > 0)
        tsup_stop(&p->proc);
    free(p->access);
    free(p->stats);
    free(p->err);
    memset(p, 0, sizeof(*p));
}

size_t acc_count_flag(json_t *acc, const char *flag)
{
    size_t n = 0, i;
    json_t *o;
    size_t fl = strlen(flag);
    json_array_foreach(acc, i, o)
    {
        const char *f = rec_str(o, "flags");
        const char *p = f;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l == fl && strncmp(p, flag, l) == 0) {
                n++;
                break;
            }
            p += l;
            if (*p == ',')
                p++;
        }
    }
    return n;
}

size_t acc_count_status(json_t *acc, long long status)
{
    return rec_count_int(acc, "status", status);
}

int pxt_read_response(int fd, char *buf, size_t cap, bool *closes)
{
    size_t len = 0;
    buf[0] = '\0';
    for (;;) {
        struct h1_msg m;
        int hl = h1_parse_response(buf, len, &m);
        if (hl > 0 && m.content_length >= 0 && len >= (size_t)hl + (size_t)m.content_length) {
            if (closes)
                *closes = m.conn_close;
            return m.status;
        }
        if (hl != H1_INCOMPLETE && hl <= 0)
            return 0;
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            return 0;
        len += (size_t)r;
        buf[len] = '\0';
    }
}

int pxp_run(const char *dir, char **err, ...)
{
    char *argv[MAX_ARGS];
    char *bin = tsup_bin("racelab-proxy");
    char *errp = tsup_fmt("%s/run.err", dir);
    int n = 0;
    argv[n++] = bin;
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(n < MAX_ARGS - 1);
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    int rc = tsup_run(argv, NULL, errp, 10000);
    *err = tsup_slurp(errp);
    free(bin);
    free(errp);
    return rc;
}
