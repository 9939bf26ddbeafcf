/* soak_lab — the lab of racelab soak: a network namespace, the capture (a ring, everything, or
 * none), the upstream, the proxies and the client started as a cell starts them, then the
 * client's records followed while it runs: each failing request it reports is matched with the
 * proxy's access-log line for it (its upstream connections) and the first K are asked of the
 * capture ring. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cell.h"
#include "clk.h"
#include "cmd.h"
#include "explain.h"
#include "netns.h"
#include "soak.h"

#define READY_TIMEOUT_MS 10000
#define POLL_US          10000
/* the window of a kept failure: from this long before its request started to this long after
 * its outcome (the FIN that made a reuse fail, the RST that answered it) */
#define WINDOW_BEFORE_US 20000
#define WINDOW_AFTER_US  5000
/* how long a failure waits for the proxy's access-log line before it is kept without it */
#define PROXY_WAIT_US 200000
/* failing records written beyond the K kept: the client's and the proxy's failures are not in
 * the same order, and the proxy's line of a kept failure must be among the written ones */
#define SOAK_EXTRA_FAILING 1000

static void set_error(struct soak *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct soak *k, const char *fmt, ...)
{
    if (k->error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->error, sizeof(k->error), fmt, ap);
    va_end(ap);
}

static void path_of(char *buf, size_t len, const struct soak *k, const char *name, const char *ext)
{
    if (snprintf(buf, len, "%s/%s%s", k->dir, name, ext) >= (int)len)
        buf[0] = '\0'; /* a folder too long for PATH_MAX: the open fails and says so */
}

static int wait_ready(struct soak *k, size_t idx, const char *port_file)
{
    char err[256];
    int why = child_wait_listening(&k->procs[idx], port_file, k->ports[idx], k->stop,
                                   READY_TIMEOUT_MS, 2000, err, sizeof(err));
    if (why == 0)
        return 0;
    if (why == CHILD_NOT_READY_STOPPED) {
        k->interrupted = true;
        set_error(k, "interrupted");
        return -1;
    }
    char how[64];
    child_describe(&k->procs[idx], how, sizeof(how));
    set_error(k, "%s did not listen on port %u (%s; see %s/%s.err)", k->names[idx], k->ports[idx],
              why == CHILD_NOT_READY_ERROR  ? err
              : child_alive(&k->procs[idx]) ? "still starting"
                                            : how,
              k->dir, k->names[idx]);
    return -1;
}

static int spawn(struct soak *k, size_t idx, struct run_argv *a)
{
    char out[PATH_MAX + 16], errp[PATH_MAX + 16], cmdp[PATH_MAX + 16], msg[512];
    path_of(out, sizeof(out), k, k->names[idx], ".out");
    path_of(errp, sizeof(errp), k, k->names[idx], ".err");
    path_of(cmdp, sizeof(cmdp), k, k->names[idx], ".cmd");
    if (a->oom) {
        set_error(k, "out of memory");
        return -1;
    }
    FILE *f = fopen(cmdp, "w");
    if (f) {
        for (size_t i = 0; i < a->n; i++)
            fprintf(f, "%s'%s'", i ? " " : "", a->v[i]);
        fputc('\n', f);
        fclose(f);
    }
    if (child_spawn(&k->procs[idx], k->names[idx], a->v, out, errp, msg, sizeof(msg)) != 0) {
        set_error(k, "%s", msg);
        return -1;
    }
    return 0;
}

/* The programs' --*-keep value: failures and one good record in N; at most the first
 * K + SOAK_EXTRA_FAILING failing records (the first K are the kept ones, the rest only counted) */
static const char *keep_arg(const struct soak *k)
{
    static char buf[64];
    if (k->f.records == SOAK_REC_ALL)
        return "all";
    snprintf(buf, sizeof(buf), "failures:%ld:%ld", k->f.records == SOAK_REC_OFF ? 0 : k->f.sample,
             k->f.keep + SOAK_EXTRA_FAILING);
    return buf;
}

static int start_server(struct soak *k, size_t idx)
{
    bool up = idx == k->nnodes - 1;
    const char *name = k->names[idx];
    char bin[PATH_MAX + 32], pf[PATH_MAX + 16], log[PATH_MAX + 32];
    struct run_argv a = {0};
    snprintf(bin, sizeof(bin), "%s/racelab-%s", k->bin, up ? "upstream" : "proxy");
    path_of(pf, sizeof(pf), k, name, ".port");
    run_argv_add(&a, bin);
    run_argv_addf(&a, "--listen=127.0.0.1:%u", k->ports[idx]);
    run_argv_addf(&a, "--port-file=%s", pf);
    if (!up) {
        run_argv_addf(&a, "--upstream=127.0.0.1:%u", k->ports[idx + 1]);
        run_argv_addf(&a, "--name=%s", name);
        path_of(log, sizeof(log), k, name, ".stats.json");
        run_argv_addf(&a, "--stats=%s", log);
    }
    run_argv_settings(&a, &k->cell.progs[idx]);
    if (k->f.records != SOAK_REC_OFF) {
        path_of(log, sizeof(log), k, name, up ? ".log" : ".access.jsonl");
        run_argv_addf(&a, up ? "--log=%s" : "--access-log=%s", log);
        run_argv_addf(&a, up ? "--log-keep=%s" : "--access-log-keep=%s", keep_arg(k));
    }
    int rc = spawn(k, idx, &a);
    run_argv_free(a.v);
    return rc == 0 ? wait_ready(k, idx, pf) : -1;
}

static int start_client(struct soak *k)
{
    char bin[PATH_MAX + 32], rec[PATH_MAX + 16];
    struct run_argv a = {0};
    snprintf(bin, sizeof(bin), "%s/racelab-downstream", k->bin);
    path_of(rec, sizeof(rec), k, "downstream", ".jsonl");
    run_argv_add(&a, bin);
    run_argv_addf(&a, "--target=127.0.0.1:%u", k->ports[1]);
    run_argv_settings(&a, &k->cell.progs[0]);
    /* after the scenario's settings: the soak's own win */
    run_argv_addf(&a, "--trials=%ld", k->trials);
    run_argv_addf(&a, "--parallel=%ld", k->f.conns);
    if (k->f.rate)
        run_argv_addf(&a, "--rate=%ld", k->f.rate);
    run_argv_addf(&a, "--records=%s", rec);
    run_argv_addf(&a, "--records-keep=%s",
                  k->f.records == SOAK_REC_ALL   ? "all"
                  : k->f.records == SOAK_REC_OFF ? "failures"
                                                 : keep_arg(k));
    int rc = spawn(k, 0, &a);
    run_argv_free(a.v);
    if (rc != 0)
        return -1;
    /* the records file exists once the client runs; it is read as it grows */
    for (int i = 0; i < 1000 && (k->dn.fd = open(rec, O_RDONLY | O_CLOEXEC)) < 0; i++) {
        if (!child_alive(&k->procs[0]))
            break;
        clk_sleep_us(2000);
    }
    if (k->dn.fd < 0) {
        set_error(k, "racelab-downstream wrote no records (see %s/downstream.err)", k->dir);
        return -1;
    }
    return 0;
}

static int start_capture(struct soak *k)
{
    char err[1024];
    snprintf(k->pcap, sizeof(k->pcap), "%s/capture.pcap", k->dir);
    if (k->f.capture == SOAK_CAP_OFF)
        return 0;
    if (k->f.capture == SOAK_CAP_ALL)
        k->full = capture_start("lo", "tcp", k->pcap, err, sizeof(err));
    else
        k->ring = ring_start("lo", "tcp", k->pcap, (size_t)k->f.ring_slots, err, sizeof(err));
    if (!k->full && !k->ring) {
        set_error(k, "%s", err);
        return -1;
    }
    explain_write_hops(k->pcap, k->hops, k->nhops);
    return 0;
}

int soak_lab_start(struct soak *k)
{
    char err[1024];
    if (netns_enter(err, sizeof(err)) != 0) {
        set_error(k, "%s", err);
        return -1;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    k->dn.fd = k->px[0].fd = k->px[1].fd = -1;
    k->nnodes = scenario_topo_nodes(k->s->topo, k->names);
    if (run_ports(k->s->topo, true, k->ports, err, sizeof(err)) != 0) {
        set_error(k, "%s", err);
        return -1;
    }
    k->nhops = k->nnodes - 1;
    for (size_t h = 0; h < k->nhops; h++)
        k->hops[h] = (struct analysis_hop){k->ports[h + 1], k->names[h], k->names[h + 1]};
    if (start_capture(k) != 0)
        return -1;
    for (size_t i = k->nnodes - 1; i >= 1; i--)
        if (start_server(k, i) != 0)
            return -1;
    for (size_t i = 1; i + 1 < k->nnodes && i <= 2; i++) {
        char log[PATH_MAX + 32];
        path_of(log, sizeof(log), k, k->names[i], ".access.jsonl");
        k->px[i - 1].fd = open(log, O_RDONLY | O_CLOEXEC);
    }
    k->t0_mono = clk_mono_us();
    k->t0_real = clk_real_us();
    return start_client(k);
}

/* ---------------------------------------------------------------- following the records */

static void on_proxy_line(struct soak *k, int p, const char *line)
{
    json_t *o = json_loads(line, 0, NULL);
    if (!o)
        return;
    struct soak_pxrec r = {0};
    r.dport = (uint16_t)json_integer_value(json_object_get(o, "dport"));
    r.start_us = (uint64_t)json_integer_value(json_object_get(o, "start_us"));
    r.end_us = (uint64_t)json_integer_value(json_object_get(o, "end_us"));
    r.status = (int)json_integer_value(json_object_get(o, "status"));
    const char *fl = json_string_value(json_object_get(o, "flags"));
    snprintf(r.flags, sizeof(r.flags), "%s", fl ? fl : "-");
    json_t *up = json_object_get(o, "upstream_ports");
    for (size_t i = 0; i < json_array_size(up) && r.nup < 4; i++)
        r.up[r.nup++] = (uint16_t)json_integer_value(json_array_get(up, i));
    json_decref(o);
    size_t n = k->npxrec[p];
    if (n == SOAK_PXRECS) { /* the oldest half goes */
        memmove(k->pxrec[p], k->pxrec[p] + SOAK_PXRECS / 2,
                (SOAK_PXRECS / 2) * sizeof(*k->pxrec[p]));
        n = SOAK_PXRECS / 2;
    }
    k->pxrec[p][n] = r;
    k->npxrec[p] = n + 1;
}

/* The access-log line of proxy p for the request that came in on port dport within
 * [start_us, end_us] (a little slack for the clocks of two processes), or NULL. */
static const struct soak_pxrec *find_px(const struct soak *k, int p, uint16_t dport,
                                        uint64_t start_us, uint64_t end_us)
{
    for (size_t i = k->npxrec[p]; i-- > 0;) {
        const struct soak_pxrec *r = &k->pxrec[p][i];
        if (r->dport == dport && r->start_us + 1000 >= start_us && r->end_us <= end_us + 1000)
            return r;
    }
    return NULL;
}

static void add_port(struct soak_fail *f, uint16_t port)
{
    for (size_t i = 0; i < f->nports; i++)
        if (f->ports[i] == port)
            return;
    if (port && f->nports < RING_MAX_PORTS)
        f->ports[f->nports++] = port;
}

/* The proxies' lines for f: the front proxy's by the client's port, a second proxy's by the
 * front one's upstream ports. True once the front proxy's line is found. */
static bool match_proxies(struct soak *k, struct soak_fail *f)
{
    if (k->nnodes < 3 || k->npxrec[0] == 0)
        return false;
    const struct soak_pxrec *r = find_px(k, 0, f->lport, f->start_us, f->end_us);
    if (!r)
        return false;
    f->proxy_matched = true;
    f->status = r->status;
    snprintf(f->flags, sizeof(f->flags), "%s", r->flags);
    for (size_t i = 0; i < r->nup; i++) {
        add_port(f, r->up[i]);
        const struct soak_pxrec *r2 =
            k->nnodes == 4 ? find_px(k, 1, r->up[i], f->start_us, f->end_us) : NULL;
        for (size_t j = 0; r2 && j < r2->nup; j++)
            add_port(f, r2->up[j]);
    }
    return true;
}

/* Asks the ring for the failures whose proxy line arrived, or that waited long enough. */
static void send_due(struct soak *k, bool force)
{
    uint64_t now = clk_mono_us();
    for (size_t i = 0; i < k->nkept; i++) {
        struct soak_fail *f = &k->kept[i];
        if (f->sent)
            continue;
        if (!match_proxies(k, f) && !force && now < f->seen_mono + PROXY_WAIT_US &&
            k->nnodes >= 3 && k->f.records != SOAK_REC_OFF)
            continue;
        f->sent = true;
        if (k->ring)
            ring_keep(k->ring, f->from_us, f->to_us, f->ports, f->nports);
    }
}

static void on_client_counters(struct soak *k, json_t *o)
{
    k->requests = (unsigned long)json_integer_value(json_object_get(o, "requests"));
    k->failures = (unsigned long)json_integer_value(json_object_get(o, "failures"));
    free(k->outcomes_json);
    free(k->latency_json);
    k->outcomes_json = json_dumps(json_object_get(o, "outcomes"), JSON_COMPACT | JSON_SORT_KEYS);
    k->latency_json = json_dumps(json_object_get(o, "latency_log2_us"), JSON_COMPACT);
    if (json_is_true(json_object_get(o, "final")))
        k->final_seen = true;
}

static bool good_outcome(const char *o)
{
    return o && o[0] == '2' && strlen(o) == 3;
}

static void on_client_line(struct soak *k, const char *line)
{
    /* a good request's record (a sample, or every one with --records all) needs no parsing */
    if (strstr(line, "\"type\":\"request\"") && strstr(line, "\"outcome\":\"2") &&
        strstr(line, "\"phase\":\"done\""))
        return;
    json_t *o = json_loads(line, 0, NULL);
    if (!o)
        return;
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *outcome = json_string_value(json_object_get(o, "outcome"));
    if (type && strcmp(type, "counters") == 0) {
        on_client_counters(k, o);
    } else if (type && strcmp(type, "request") == 0 && outcome && !good_outcome(outcome)) {
        k->failures_read++;
        if (k->nkept < (size_t)k->f.keep) {
            struct soak_fail *f = &k->kept[k->nkept++];
            memset(f, 0, sizeof(*f));
            f->lport = (uint16_t)json_integer_value(json_object_get(o, "lport"));
            snprintf(f->outcome, sizeof(f->outcome), "%s", outcome);
            f->start_us = (uint64_t)json_integer_value(json_object_get(o, "start_us"));
            f->end_us = (uint64_t)json_integer_value(json_object_get(o, "end_us"));
            f->reused = json_is_true(json_object_get(o, "reused"));
            f->status = (int)json_integer_value(json_object_get(o, "status"));
            f->from_us = f->start_us - WINDOW_BEFORE_US;
            f->to_us = f->end_us + WINDOW_AFTER_US;
            f->seen_mono = clk_mono_us();
            add_port(f, f->lport);
        }
    }
    json_decref(o);
}

/* Reads what t's file gained, one complete line at a time. */
static void read_tail(struct soak *k, struct soak_tail *t, int which)
{
    if (t->fd < 0)
        return;
    for (;;) {
        if (t->len == sizeof(t->buf)) /* a line longer than the buffer: not ours, dropped */
            t->len = 0;
        ssize_t n = read(t->fd, t->buf + t->len, sizeof(t->buf) - t->len);
        if (n <= 0)
            return;
        t->len += (size_t)n;
        size_t start = 0;
        for (size_t i = 0; i < t->len; i++) {
            if (t->buf[i] != '\n')
                continue;
            t->buf[i] = '\0';
            if (which < 0)
                on_client_line(k, t->buf + start);
            else
                on_proxy_line(k, which, t->buf + start);
            start = i + 1;
        }
        memmove(t->buf, t->buf + start, t->len - start);
        t->len -= start;
    }
}

static void read_all(struct soak *k)
{
    read_tail(k, &k->px[0], 0);
    read_tail(k, &k->px[1], 1);
    read_tail(k, &k->dn, -1);
    read_tail(k, &k->px[0], 0);
    read_tail(k, &k->px[1], 1);
}

/* The CPU time process pid has used (user + system, clock ticks), from /proc/PID/stat; *t is
 * left as it was when the process is gone. */
static void cpu_ticks(pid_t pid, uint64_t *t)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    /* after the command's closing parenthesis: state is field 3, utime 14, stime 15 */
    const char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
        *t = ut + st;
}

void soak_lab_follow(struct soak *k)
{
    bool told = false;
    k->last_progress_mono = k->t0_mono;
    while (child_alive(&k->procs[0])) {
        uint64_t now = clk_mono_us();
        bool time_up = k->f.duration_ms && now >= k->t0_mono + (uint64_t)k->f.duration_ms * 1000u;
        if ((*k->stop || time_up) && !told) {
            k->interrupted = *k->stop != 0;
            kill(k->procs[0].pid, SIGTERM); /* it writes its final counters and exits */
            told = true;
        }
        read_all(k);
        send_due(k, false);
        cpu_ticks(k->procs[0].pid, &k->cpu_ticks[0]);
        if (now >= k->last_progress_mono + 1000000u)
            soak_progress(k, false);
        clk_sleep_us(POLL_US);
    }
    k->end_mono = clk_mono_us();
    read_all(k);
    int code = child_code(&k->procs[0]);
    if (code != 0) {
        char how[64];
        child_describe(&k->procs[0], how, sizeof(how));
        set_error(k, "racelab-downstream failed (%s; see %s/downstream.err)", how, k->dir);
    }
    if (*k->stop)
        k->interrupted = true;
}

void soak_lab_stop(struct soak *k)
{
    if (k->procs[0].pid && !k->procs[0].reaped)
        child_stop(&k->procs[0], SIGTERM, RUN_STOP_GRACE_MS);
    for (size_t i = 1; i < k->nnodes; i++) {
        if (!k->procs[i].pid)
            continue;
        cpu_ticks(k->procs[i].pid, &k->cpu_ticks[i]);
        if (child_stop(&k->procs[i], SIGTERM, RUN_STOP_GRACE_MS) != 0)
            set_error(k, "%s did not stop on SIGTERM (killed)", k->names[i]);
    }
    read_all(k);
    send_due(k, true);
    cpu_ticks(ring_pid(k->ring), &k->ring_ticks);
    if (k->ring && ring_stop(k->ring, &k->rstats) != 0)
        set_error(k, "the capture ring could not complete %s", k->pcap);
    if (k->full && capture_stop(k->full, &k->cstats) != 0)
        set_error(k, "the capture could not complete %s", k->pcap);
    k->ring = NULL;
    k->full = NULL;
    int *fds[] = {&k->dn.fd, &k->px[0].fd, &k->px[1].fd};
    for (size_t i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}
