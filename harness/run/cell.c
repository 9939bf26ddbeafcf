#include "cell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "analysis.h"
#include "capture.h"
#include "child.h"
#include "clk.h"
#include "cmd.h"
#include "explain.h"
#include "kind.h"
#include "metrics.h"
#include "netns.h"
#include "pack.h"
#include "peer.h"
#include "wire.h"

#define READY_TIMEOUT_MS 10000
#define READY_POLL_US    2000
/* after the wire released what it held: time for the answers to it to cross lo */
#define WIRE_RELEASE_SETTLE_US 5000

struct cell_run {
    const struct scenario_cell *c;
    const struct run_env *env;
    const char *dir;
    volatile sig_atomic_t *stop;
    const char *names[4];
    size_t nnodes;
    uint16_t ports[4];
    struct analysis_hop hops[3];
    size_t nhops;
    struct child procs[4];    /* by topology index; [0] is the downstream */
    struct run_stop stops[4]; /* how each is stopped */
    /* when the downstream was seen to have finished every trial (0: it did not) */
    uint64_t done_mono_us;
    /* when, after that, the first program was sent its stop signal (0: never): RSTs from then
     * on that follow their trial's last request are the stop's (metrics.h, teardown) */
    uint64_t teardown_real_us;
    struct cap *cap;
    struct wire *wire;
    struct capture_stats cstats;
    struct wire_stats wstats;
    char pcap[1024];
    char error[1024];
    char unsupported[1024]; /* a driver refused the cell's settings (peer.h) */
    bool interrupted;
};

static void path_of(char *buf, size_t len, const char *dir, const char *name, const char *ext)
{
    snprintf(buf, len, "%s/%s%s", dir, name, ext);
}

static void set_error(struct cell_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct cell_run *r, const char *fmt, ...)
{
    if (r->error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
}

/* Readiness: the port file (when the program writes one), then a listening socket on its port
 * in the namespace's socket table (child_wait_listening). Nothing connects to the program, so
 * no connection of the cell's capture, and no line of a proxy's log, is racelab's own. */
static int wait_ready(struct cell_run *r, size_t idx, const char *port_file)
{
    struct child *ch = &r->procs[idx];
    char err[256];
    int why = child_wait_listening(ch, port_file, r->ports[idx], r->stop, READY_TIMEOUT_MS,
                                   READY_POLL_US, err, sizeof(err));
    if (why == 0)
        return 0;
    if (why == CHILD_NOT_READY_STOPPED) {
        r->interrupted = true;
        set_error(r, "interrupted");
    } else if (why == CHILD_NOT_READY_ERROR) {
        set_error(r, "readiness of %s: %s", r->names[idx], err);
    } else if (why == CHILD_NOT_READY_EXITED) {
        char how[64];
        child_describe(ch, how, sizeof(how));
        set_error(r, "%s ('%s') exited before listening on port %u (%s; see %s/%s.err)",
                  r->names[idx], ch->prog, r->ports[idx], how, r->dir, r->names[idx]);
    } else {
        set_error(r, "%s ('%s') did not listen on port %u within %d ms (see %s/%s.err)",
                  r->names[idx], ch->prog, r->ports[idx], READY_TIMEOUT_MS, r->dir, r->names[idx]);
    }
    return -1;
}

static int start_prog(struct cell_run *r, size_t idx, struct run_argv *argv, const char *port_file)
{
    char out[1100], errp[1100], msg[512];
    path_of(out, sizeof(out), r->dir, r->names[idx], ".out");
    path_of(errp, sizeof(errp), r->dir, r->names[idx], ".err");
    if (argv->oom) {
        set_error(r, "out of memory");
        return -1;
    }
    /* The command line, for whoever wants to rerun one program by hand. */
    char cmdp[1100];
    path_of(cmdp, sizeof(cmdp), r->dir, r->names[idx], ".cmd");
    FILE *f = fopen(cmdp, "w");
    if (f) {
        for (size_t i = 0; i < argv->n; i++)
            fprintf(f, "%s'%s'", i ? " " : "", argv->v[i]);
        fputc('\n', f);
        fclose(f);
    }
    /* a --proxy-cmd or KIND proxy stops as the run says; racelab's own programs at once */
    struct run_stop pstop = RUN_STOP_OWN;
    bool foreign = idx > 0 && idx < r->nnodes - 1 &&
                   (run_env_kind(r->env, idx, NULL, &pstop) || r->env->proxy_cmd);
    r->stops[idx] = foreign ? (r->env->proxy_cmd ? r->env->proxy_stop : pstop) : RUN_STOP_OWN;
    if (!r->stops[idx].sig) /* a run_env that says nothing */
        r->stops[idx].sig = SIGTERM;
    if (child_spawn(&r->procs[idx], r->names[idx], argv->v, out, errp, msg, sizeof(msg)) != 0) {
        set_error(r, "%s", msg);
        return -1;
    }
    if (idx == 0)
        return 0;
    return wait_ready(r, idx, port_file);
}

/* A driver that exited with status 2 refused the cell's settings: the cell is unsupported. */
static void refused(struct cell_run *r, size_t idx, bool client, const char *kind)
{
    char errp[1100];
    path_of(errp, sizeof(errp), r->dir, r->names[idx], ".err");
    run_peer_refused(errp, child_code(&r->procs[idx]), client, kind, r->unsupported,
                     sizeof(r->unsupported));
}

static int start_upstream(struct cell_run *r)
{
    size_t idx = r->nnodes - 1;
    char bin[1100], pf[1100], log[1100];
    struct run_argv a = {0};
    run_peer_path(r->env->bin_dir, false, r->c->server_kind, bin, sizeof(bin));
    path_of(pf, sizeof(pf), r->dir, "upstream", ".port");
    path_of(log, sizeof(log), r->dir, "upstream", ".log");
    run_argv_add(&a, bin);
    run_argv_addf(&a, "--listen=127.0.0.1:%u", r->ports[idx]);
    run_argv_addf(&a, "--port-file=%s", pf);
    run_argv_addf(&a, "--log=%s", log);
    run_argv_settings(&a, &r->c->progs[idx]);
    int rc = start_prog(r, idx, &a, pf);
    run_argv_free(a.v);
    if (rc != 0 && r->procs[idx].reaped)
        refused(r, idx, false, r->c->server_kind);
    return rc;
}

static int start_proxy(struct cell_run *r, size_t idx)
{
    const char *name = r->names[idx];
    struct run_argv a = {0};
    char pf[1100];
    int rc;
    path_of(pf, sizeof(pf), r->dir, name, ".port");
    const char *kbin = NULL;
    const struct kind *kind = run_env_kind(r->env, idx, &kbin, NULL);
    if (r->env->proxy_cmd || kind) {
        /* the cell's folder as an absolute path: a proxy resolves relative paths against its
         * own prefix (nginx -p), not racelab's working folder (--out captures/run) */
        char absdir[PATH_MAX];
        const char *dir = realpath(r->dir, absdir) ? absdir : r->dir;
        struct run_vars v = {r->ports[idx], r->ports[idx + 1], name, dir};
        struct kind_vars kv = {dir, name, r->ports[idx], r->ports[idx + 1], NULL};
        struct run_argv flags = {0};
        char msg[2560];
        /* a kind's config rendered into the cell's folder, then its command; a command gets
         * the proxy's settings as racelab-proxy flags */
        run_argv_settings(&flags, &r->c->progs[idx]);
        char **argv = kind ? kind_prepare(kind, kbin, r->c, idx, &kv, msg, sizeof(msg))
                           : run_expand_cmd(r->env->proxy_cmd, &v, (const char *const *)flags.v,
                                            flags.n, msg, sizeof(msg));
        if (flags.oom) {
            run_argv_free(argv);
            argv = NULL;
            snprintf(msg, sizeof(msg), "out of memory");
        }
        run_argv_free(flags.v);
        if (!argv) {
            set_error(r, "%s", msg);
            return -1;
        }
        a.v = argv;
        for (a.n = 0; argv[a.n]; a.n++)
            ;
        rc = start_prog(r, idx, &a, NULL);
        run_argv_free(a.v);
        return rc;
    }
    char bin[1100], log[1100], stats[1100];
    snprintf(bin, sizeof(bin), "%s/racelab-proxy", r->env->bin_dir);
    path_of(log, sizeof(log), r->dir, name, ".access.jsonl");
    path_of(stats, sizeof(stats), r->dir, name, ".stats.json");
    run_argv_add(&a, bin);
    run_argv_addf(&a, "--listen=127.0.0.1:%u", r->ports[idx]);
    run_argv_addf(&a, "--upstream=127.0.0.1:%u", r->ports[idx + 1]);
    run_argv_addf(&a, "--port-file=%s", pf);
    run_argv_addf(&a, "--name=%s", name);
    run_argv_addf(&a, "--access-log=%s", log);
    run_argv_addf(&a, "--stats=%s", stats);
    run_argv_settings(&a, &r->c->progs[idx]);
    rc = start_prog(r, idx, &a, pf);
    run_argv_free(a.v);
    return rc;
}

static int run_downstream(struct cell_run *r)
{
    char bin[1100], rec[1100];
    struct run_argv a = {0};
    run_peer_path(r->env->bin_dir, true, r->c->client_kind, bin, sizeof(bin));
    path_of(rec, sizeof(rec), r->dir, "downstream", ".jsonl");
    run_argv_add(&a, bin);
    run_argv_addf(&a, "--target=127.0.0.1:%u", r->ports[1]);
    run_argv_addf(&a, "--trials=%ld", r->c->trials);
    run_argv_addf(&a, "--records=%s", rec);
    run_argv_settings(&a, &r->c->progs[0]);
    int rc = start_prog(r, 0, &a, NULL);
    run_argv_free(a.v);
    if (rc != 0)
        return -1;
    if (child_wait(&r->procs[0], r->c->timeout_ms, r->stop) != 0) {
        if (*r->stop) {
            r->interrupted = true;
            set_error(r, "interrupted");
        } else {
            set_error(r,
                      "timed out: the downstream was still running after %ld ms (raise the "
                      "scenario's timeout:, or lower its trials)",
                      r->c->timeout_ms);
        }
        child_stop(&r->procs[0], SIGTERM, RUN_STOP_GRACE_MS);
        return -1;
    }
    uint64_t mono = clk_mono_us();
    /* 1: it could not write its records; 2: bad flags; 128+: killed. */
    int code = child_code(&r->procs[0]);
    if (code != 0) {
        char how[64];
        child_describe(&r->procs[0], how, sizeof(how));
        refused(r, 0, true, r->c->client_kind);
        set_error(r, "%s failed (%s; see %s/downstream.err)", r->procs[0].prog, how, r->dir);
        return -1;
    }
    r->done_mono_us = mono;
    return 0;
}

static const char *signame(int sig)
{
    switch (sig) {
    case SIGTERM:
        return "SIGTERM";
    case SIGQUIT:
        return "SIGQUIT";
    case SIGINT:
        return "SIGINT";
    case SIGHUP:
        return "SIGHUP";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGUSR2:
        return "SIGUSR2";
    case SIGKILL:
        return "SIGKILL";
    }
    return "a signal";
}

/* Waits out program idx's settle time, counted from the downstream's end; not when the cell
 * is interrupted or the downstream did not finish, and no longer than the program lives. */
static void settle(struct cell_run *r, size_t idx)
{
    if (!r->done_mono_us || r->stops[idx].settle_ms <= 0)
        return;
    uint64_t until = r->done_mono_us + (uint64_t)r->stops[idx].settle_ms * 1000u;
    while (clk_mono_us() < until && !*r->stop && child_alive(&r->procs[idx]))
        clk_sleep_us(2000);
}

/* Proxies first (front to back: they write their stats on SIGTERM), then the upstream, each
 * with its stop (struct run_stop). A program that is already gone died during the cell: that
 * is an error of the cell. */
static void stop_all(struct cell_run *r)
{
    for (size_t i = 0; i < r->nnodes; i++) {
        struct child *ch = &r->procs[i];
        if (!ch->pid)
            continue;
        if (i > 0)
            settle(r, i);
        if (i > 0 && r->done_mono_us && !r->teardown_real_us)
            r->teardown_real_us = clk_real_us();
        if (i > 0 && !child_alive(ch) && !r->error[0]) {
            char how[64];
            child_describe(ch, how, sizeof(how));
            set_error(r, "%s exited during the cell (%s; see %s/%s.err)", r->names[i], how, r->dir,
                      r->names[i]);
        }
        if (child_stop(ch, r->stops[i].sig, RUN_STOP_GRACE_MS) != 0)
            set_error(r,
                      "%s did not exit within %d ms of %s and was killed (its logs and "
                      "stats may be incomplete; see %s/%s.err)",
                      r->names[i], RUN_STOP_GRACE_MS, signame(r->stops[i].sig), r->dir,
                      r->names[i]);
    }
}

/* The cell's n wire faults as rules, by port. */
static void wire_rules(const struct cell_run *r, struct wire_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct scenario_wire *w = &r->c->wire[i];
        struct wire_rule *x = &rules[i];
        memset(x, 0, sizeof(*x));
        for (size_t h = 0; h < r->nhops; h++) {
            bool fwd =
                strcmp(w->from, r->hops[h].client) == 0 && strcmp(w->to, r->hops[h].server) == 0;
            bool back =
                strcmp(w->from, r->hops[h].server) == 0 && strcmp(w->to, r->hops[h].client) == 0;
            /* Sent by the server side: its source port is the listener's. */
            if (fwd)
                x->dport = r->hops[h].server_port;
            if (back)
                x->sport = r->hops[h].server_port;
        }
        x->what = w->what;
        x->nth = w->nth;
        x->action = w->drop ? WIRE_DROP : WIRE_HOLD;
        x->hold_ms = w->hold_ms;
    }
}

static json_t *analyse(struct cell_run *r)
{
    char err[1024] = "";
    char p[1100];
    json_t *records, *access[2] = {NULL, NULL}, *stats[2] = {NULL, NULL}, *up;
    struct analysis_result ana;
    bool have_ana = false;

    memset(&ana, 0, sizeof(ana));
    path_of(p, sizeof(p), r->dir, "downstream", ".jsonl");
    records = run_read_jsonl(p, err, sizeof(err));
    path_of(p, sizeof(p), r->dir, "upstream", ".log");
    up = run_read_jsonl(p, err, sizeof(err));
    size_t np = r->nnodes - 2;
    for (size_t i = 0; i < np && i < 2; i++) {
        path_of(p, sizeof(p), r->dir, r->names[i + 1], ".access.jsonl");
        access[i] = run_read_jsonl(p, err, sizeof(err));
        path_of(p, sizeof(p), r->dir, r->names[i + 1], ".stats.json");
        json_error_t je;
        stats[i] = json_load_file(p, 0, &je);
    }
    if (err[0])
        set_error(r, "%s", err);
    if (!records)
        set_error(r, "the downstream wrote no records (see %s/downstream.err)", r->dir);
    if (r->cap) {
        char aerr[512];
        if (analysis_read(r->pcap, r->hops, r->nhops, &ana, aerr, sizeof(aerr)) == 0)
            have_ana = true;
        else
            set_error(r, "capture analysis: %s", aerr);
    }
    struct metrics_input in = {
        .cell = r->c,
        .records = records,
        .nproxies = np,
        .access_log = run_env_own_proxies(r->env), /* racelab-proxy's */
        .upstream_log = up,
        .ana = have_ana ? &ana : NULL,
        .hops = r->hops,
        .nhops = r->nhops,
        .teardown_us = r->teardown_real_us,
    };
    for (size_t i = 0; i < 2; i++) {
        in.access[i] = access[i];
        in.stats[i] = stats[i];
    }
    char merr[256];
    json_t *m = metrics_build(&in, merr, sizeof(merr));
    if (have_ana)
        analysis_free(&ana);
    json_decref(records);
    json_decref(up);
    for (size_t i = 0; i < 2; i++) {
        json_decref(access[i]);
        json_decref(stats[i]);
    }
    return m;
}

/* The cell's network namespace (when env->netns), the listening ports and the hops between
 * the programs. */
static int enter_lab(struct cell_run *r)
{
    char err[1024];
    if (r->env->netns) {
        pid_t parent = getppid();
        if (netns_enter(err, sizeof(err)) != 0) {
            set_error(r, "%s", err);
            return -1;
        }
        /* Entering a user namespace clears the parent-death signal: set it again. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            set_error(r, "racelab exited while the cell started");
            return -1;
        }
    }
    if (run_ports(r->c->s->topo, r->env->netns, r->ports, err, sizeof(err)) != 0) {
        set_error(r, "%s", err);
        return -1;
    }
    for (size_t h = 0; h < r->nhops; h++)
        r->hops[h] = (struct analysis_hop){r->ports[h + 1], r->names[h], r->names[h + 1]};
    return 0;
}

/* The capture on lo, and its hops file. Without a namespace a capture that cannot start (no
 * permission) is not an error: the cell runs without one. */
static int start_capture(struct cell_run *r)
{
    char err[1024];
    /* Inside the namespace all traffic is the cell's; on the host only its ports are. */
    char filter[256] = "tcp";
    if (!r->env->netns) {
        size_t o = (size_t)snprintf(filter, sizeof(filter), "tcp and (");
        for (size_t h = 0; h < r->nhops; h++)
            o += (size_t)snprintf(filter + o, sizeof(filter) - o, "%sport %u", h ? " or " : "",
                                  r->hops[h].server_port);
        snprintf(filter + o, sizeof(filter) - o, ")");
    }
    r->cap = capture_start_mode("lo", filter, r->pcap, r->env->capture, err, sizeof(err));
    if (!r->cap && r->env->netns) {
        set_error(r, "capture: %s", err);
        return -1;
    }
    if (r->cap)
        explain_write_hops(r->pcap, r->hops, r->nhops);
    return 0;
}

/* The wire faults of the cell, when it has any. */
static int start_wire(struct cell_run *r)
{
    if (!r->c->nwire)
        return 0;
    char err[1024];
    /* every fault of the scenario (the loader refuses more than WIRE_MAX_RULES) */
    size_t n = r->c->nwire;
    struct wire_rule *rules = calloc(n, sizeof(*rules));
    if (!rules) {
        set_error(r, "wire faults: out of memory");
        return -1;
    }
    wire_rules(r, rules, n);
    r->wire = wire_start(rules, n, 0, err, sizeof(err));
    free(rules);
    if (!r->wire) {
        set_error(r, "wire faults: %s", err);
        return -1;
    }
    return 0;
}

/* The upstream, then the proxies back to front: each is ready before the one in front of it
 * starts. */
static int start_programs(struct cell_run *r)
{
    if (start_upstream(r) != 0)
        return -1;
    for (size_t i = r->nnodes - 2; i >= 1; i--)
        if (start_proxy(r, i) != 0)
            return -1;
    return 0;
}

/* The wire rules off (what they held delivered), every program stopped, the capture closed
 * (its pcap complete). */
static void stop_lab(struct cell_run *r)
{
    /* The wire first: the trials are over, so what it still holds is delivered while the
     * programs run, and what answers it (a held FIN meeting a socket closed by the race) is
     * still the trials' doing, as when the hold runs out; only then are the programs
     * stopped. */
    if (r->wire) {
        wire_stop(r->wire, &r->wstats);
        r->wire = NULL;
        clk_sleep_us(WIRE_RELEASE_SETTLE_US);
    }
    stop_all(r);
    if (r->cap && capture_stop(r->cap, &r->cstats) != 0)
        set_error(r, "capture: %s could not be completed", r->pcap);
}

/* What the lab saw besides the metrics: ports, how each process ended, capture and wire
 * counters. */
static void add_lab_facts(json_t *cell, const struct cell_run *r)
{
    json_t *ports = json_object(), *procs = json_object();
    for (size_t i = 1; i < r->nnodes; i++)
        json_object_set_new(ports, r->names[i], json_integer(r->ports[i]));
    for (size_t i = 0; i < r->nnodes; i++) {
        char how[64];
        child_describe(&r->procs[i], how, sizeof(how));
        json_object_set_new(procs, r->names[i], json_string(how));
    }
    json_t *stops = json_object();
    for (size_t i = 1; i < r->nnodes; i++) {
        if (!r->procs[i].pid)
            continue;
        json_t *s = json_object();
        json_object_set_new(s, "signal", json_string(signame(r->stops[i].sig)));
        json_object_set_new(s, "settle_ms", json_integer(r->stops[i].settle_ms));
        json_object_set_new(stops, r->names[i], s);
    }
    json_object_set_new(cell, "ports", ports);
    json_object_set_new(cell, "processes", procs);
    json_object_set_new(cell, "stop", stops);
    if (r->cap) {
        json_t *cs = json_object();
        json_object_set_new(cs, "packets", json_integer((json_int_t)r->cstats.packets));
        json_object_set_new(cs, "dropped", json_integer((json_int_t)r->cstats.dropped));
        json_object_set_new(cell, "capture_stats", cs);
    }
    if (r->c->nwire) {
        json_t *ws = json_object();
        json_object_set_new(ws, "seen", json_integer((json_int_t)r->wstats.seen));
        json_object_set_new(ws, "held", json_integer((json_int_t)r->wstats.held));
        json_object_set_new(ws, "dropped", json_integer((json_int_t)r->wstats.dropped));
        json_object_set_new(cell, "wire", ws);
    }
}

/* The cell object: the metrics (when the downstream ran to its end), the cell's identity, the
 * lab's facts, and the error, if any. */
static json_t *cell_result(struct cell_run *r, bool started, uint64_t t0)
{
    const struct scenario_cell *c = r->c;
    if (!r->interrupted && *r->stop) {
        r->interrupted = true;
        set_error(r, "interrupted");
    }
    /* a cell a driver refused has no results: it did not run as the scenario says */
    bool ran = r->procs[0].pid && r->procs[0].reaped && !r->unsupported[0];
    json_t *cell = ran ? analyse(r) : json_object();
    if (!cell)
        return NULL;
    json_object_set_new(cell, "scenario", json_string(c->s->name));
    json_object_set_new(cell, "mitigation", json_string(c->m->name));
    json_object_set_new(cell, "trials", json_integer(c->trials));
    /* No trial ran (a program that never started): the cell is an error, not a result with
     * failed trials. */
    if (!json_object_get(cell, "failures"))
        json_object_set_new(cell, "failures", json_null());
    json_object_set_new(cell, "capture", r->cap ? json_string(r->pcap) : json_null());
    json_object_set_new(cell, "dir", json_string(r->dir));
    json_object_set_new(cell, "netns", json_boolean(r->env->netns));
    add_lab_facts(cell, r);
    /* a KIND proxy's own logs, as its adapter reads them: evidence beside the checks */
    for (size_t i = 1; i + 1 < r->nnodes; i++) {
        const struct kind *k = run_env_kind(r->env, i, NULL, NULL);
        json_t *logs = json_object_get(cell, "proxy_logs");
        if (!k)
            continue;
        if (!logs)
            json_object_set_new(cell, "proxy_logs", logs = json_object());
        json_object_set_new(logs, r->names[i], kind_log_summary(k, r->dir, r->names[i]));
    }
    json_object_set_new(cell, "wall_s", json_real((double)(clk_mono_us() - t0) / 1e6));
    if (!scenario_peer_is_racelab(c->client_kind))
        json_object_set_new(cell, "client", json_string(c->client_kind));
    if (!scenario_peer_is_racelab(c->server_kind))
        json_object_set_new(cell, "server", json_string(c->server_kind));
    if (r->unsupported[0]) { /* not run: neither an error nor a result (suite.c) */
        json_object_set_new(cell, "unsupported", json_string(r->unsupported));
        return cell;
    }
    if (r->error[0])
        json_object_set_new(cell, "error", json_string(r->error));
    /* A cell that could not even start (a program that does not come up, no capture) says
     * something about the setup that every later cell would repeat. */
    if (r->error[0] && !started && !r->interrupted)
        json_object_set_new(cell, "setup_error", json_true());
    if (r->interrupted)
        json_object_set_new(cell, "interrupted", json_true());
    return cell;
}

json_t *run_cell(const struct scenario_cell *c, const struct run_env *env, const char *dir,
                 volatile sig_atomic_t *stop)
{
    struct cell_run *r = calloc(1, sizeof(*r));
    uint64_t t0 = clk_mono_us();
    bool started = false; /* every program is up: later errors are the cell's, not setup's */

    if (!r)
        return NULL;
    r->c = c;
    r->env = env;
    r->dir = dir;
    r->stop = stop;
    r->nnodes = scenario_topo_nodes(c->s->topo, r->names);
    r->nhops = r->nnodes - 1;
    path_of(r->pcap, sizeof(r->pcap), dir, "capture", ".pcap");

    if (enter_lab(r) == 0 && start_capture(r) == 0) {
        if (start_wire(r) == 0 && start_programs(r) == 0) {
            started = true;
            run_downstream(r);
        }
        stop_lab(r);
    }
    json_t *cell = cell_result(r, started, t0);
    if (cell)
        pack_cell(cell, dir); /* the capture and the logs gzip'd, now that they are read */
    free(r);
    return cell;
}
