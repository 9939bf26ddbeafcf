/* soak — racelab soak CASE: one cell at its natural rate, for a time or a number of requests,
 * with the failure rate and its 95% interval as the result and only the failing requests
 * captured and recorded (soak.h). */
#include "soak.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clk.h"
#include "interval.h"
#include "keep.h"
#include "suite.h"

#define DEFAULT_DURATION_MS 60000
#define DEFAULT_CONNS       64
#define DEFAULT_KEEP        100
#define DEFAULT_SAMPLE      10000
#define DEFAULT_RING        (1L << 19)

static const char *const capture_names[] = {"failures", "all", "off", NULL};

static int parse_records(void *cfg, const char *val, char *err, size_t errlen)
{
    struct soak_flags *f = cfg;
    if (strcmp(val, "all") == 0 || strcmp(val, "off") == 0) {
        f->records = val[0] == 'a' ? SOAK_REC_ALL : SOAK_REC_OFF;
        return 0;
    }
    struct keep kp;
    if (keep_parse(&kp, val, err, errlen) != 0 || !kp.failures_only || kp.max_failing) {
        snprintf(err, errlen, "expected failures, failures:N, all or off, got '%s'", val);
        return -1;
    }
    f->records = SOAK_REC_FAILURES;
    f->sample = kp.sample;
    return 0;
}

#define F(field) offsetof(struct soak_flags, field)

static const struct opt_spec soak_opts[] = {
    {.name = "mitigation",
     .type = OPT_STR,
     .off = F(mitigation),
     .metavar = "NAME",
     .help = "the mitigation of CASE to soak (default none, else the first)"},
    {.name = "duration",
     .type = OPT_MS,
     .off = F(duration_ms),
     .metavar = "TIME",
     .help = "how long the client sends (default 60s; 90s, 2500ms, or milliseconds)",
     .min = 1,
     .max = 365L * 24 * 3600 * 1000},
    {.name = "requests",
     .type = OPT_INT,
     .off = F(requests),
     .metavar = "N",
     .help = "stop after about N requests instead of a time (rounded up to whole trials of the "
             "scenario's connections x requests)",
     .min = 1,
     .max = 1000000000000L},
    {.name = "rate",
     .type = OPT_INT,
     .off = F(rate),
     .metavar = "R",
     .help = "at most R requests per second (default: as fast as the machine goes)",
     .min = 1,
     .max = 100000000},
    {.name = "conns",
     .type = OPT_INT,
     .off = F(conns),
     .metavar = "N",
     .help = "client trials running at once, each with the scenario's connections (default 64)",
     .min = 1,
     .max = 10000},
    {.name = "keep-failures",
     .type = OPT_INT,
     .off = F(keep),
     .metavar = "K",
     .help = "capture the packets of the first K failing requests (default 100)",
     .min = 0,
     .max = 100000},
    {.name = "capture",
     .type = OPT_ENUM,
     .off = F(capture),
     .metavar = "failures|all|off",
     .choices = capture_names,
     .help = "failures (default): packets in a ring in memory, only the kept failures' flows "
             "written; all: every packet written (as run does); off: no capture"},
    {.name = "records",
     .type = OPT_CUSTOM,
     .metavar = "failures[:N]|all|off",
     .help = "what the programs write: failures (default failures:10000): the failing requests "
             "and one good one in N, counters otherwise; all: a record per request; off: the "
             "proxy and upstream write no log, the client only its failures and counters",
     .parse = parse_records},
    {.name = "ring-packets",
     .type = OPT_INT,
     .off = F(ring_slots),
     .metavar = "N",
     .help = "packets the capture ring holds (default 524288, about 5 s at 25,000 req/s of a "
             "keep-alive cell)",
     .min = 1024,
     .max = 1L << 26},
    {.name = "out",
     .type = OPT_STR,
     .off = F(out),
     .metavar = "DIR",
     .help = "the soak's folder (default captures/soak-<id>): results.json, capture.pcap (+ "
             ".hops), the programs' records, logs and command lines"},
    OPT_END,
};

static const char soak_about[] =
    "Runs one cell of CASE (scenario x mitigation) at its natural timing - the scenario's wire "
    "faults are dropped, so a race happens only as often as it does by itself - through "
    "racelab-proxy for a time or a number of requests, as fast as the machine goes (or --rate), "
    "and reports the failure rate per request with its 95% Wilson interval, per outcome and per "
    "RST hop. Only the packets of the first K failing requests (the client's connection and the "
    "proxy's upstream connections it used) are written, and the programs write records only for "
    "failing requests and a sample: a soak leaves megabytes, not gigabytes. Progress on stderr "
    "every second; SIGINT/SIGTERM stop it with what it has. racelab explain works on its "
    "capture.pcap.";

/* ---------------------------------------------------------------- progress and result */

void soak_progress(struct soak *k, bool last)
{
    uint64_t now = clk_mono_us();
    double el = (double)(now - k->t0_mono) / 1e6;
    double dt = (double)(now - k->last_progress_mono) / 1e6;
    if (dt > 0 && k->requests >= k->last_progress_requests)
        k->rate_rps = (double)(k->requests - k->last_progress_requests) / dt;
    k->last_progress_mono = now;
    k->last_progress_requests = k->requests;
    char rate[64], eta[64] = "";
    interval_format(rate, sizeof(rate), (long)k->failures, (long)k->requests);
    if (!last && k->f.duration_ms)
        snprintf(eta, sizeof(eta), " / %.0f s, ETA %.0f s", k->f.duration_ms / 1e3,
                 fmax(0, k->f.duration_ms / 1e3 - el));
    else if (!last && k->rate_rps > 0 && (unsigned long)k->f.requests > k->requests)
        snprintf(eta, sizeof(eta), ", ETA %.0f s",
                 (double)(k->f.requests - (long)k->requests) / k->rate_rps);
    fprintf(stderr, "soak: %.1f s%s: %lu requests (%.0f req/s), %lu failures, rate %s, %zu kept\n",
            el, eta, k->requests, k->rate_rps, k->failures, rate, k->nkept);
}

static json_t *wilson(long x, long n)
{
    struct interval iv = interval_wilson(x, n);
    return json_pack("[f,f]", round(iv.lo * 1e8) / 1e8, round(iv.hi * 1e8) / 1e8);
}

static json_t *rate_obj(long x, long n)
{
    return json_pack("{s:I,s:f,s:o}", "count", (json_int_t)x, "rate",
                     n ? round((double)x / (double)n * 1e10) / 1e10 : 0.0, "rate_ci", wilson(x, n));
}

/* The hop directions with an RST in each kept failure's window, from the kept capture. */
static void analyse_kept(struct soak *k)
{
    if (k->f.capture != SOAK_CAP_FAILURES || k->nkept == 0)
        return;
    struct analysis_result ar;
    char err[512];
    if (analysis_read(k->pcap, k->hops, k->nhops, &ar, err, sizeof(err)) != 0) {
        fprintf(stderr, "racelab soak: %s\n", err);
        return;
    }
    for (size_t i = 0; i < k->nkept; i++) {
        struct soak_fail *f = &k->kept[i];
        for (size_t fl = 0; fl < ar.nflows; fl++) {
            const struct analysis_flow *w = &ar.flows[fl];
            bool mine = false;
            for (size_t p = 0; p < f->nports; p++)
                mine = mine || w->client_port == f->ports[p];
            for (size_t e = 0; mine && e < w->nevents; e++) {
                const struct analysis_event *ev = &w->events[e];
                if (ev->kind != ANALYSIS_EV_RST || ev->ts_us < f->from_us || ev->ts_us > f->to_us)
                    continue;
                char d[48];
                snprintf(d, sizeof(d), "%s->%s", ev->from_client ? w->hop->client : w->hop->server,
                         ev->from_client ? w->hop->server : w->hop->client);
                bool have = false;
                for (size_t r = 0; r < f->nrst; r++)
                    have = have || strcmp(f->rst[r], d) == 0;
                if (!have && f->nrst < 4)
                    snprintf(f->rst[f->nrst++], sizeof(f->rst[0]), "%s", d);
            }
        }
    }
    analysis_free(&ar);
}

static json_t *kept_json(const struct soak *k, json_t *hops)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < k->nkept; i++) {
        const struct soak_fail *f = &k->kept[i];
        json_t *ports = json_array(), *rst = json_array();
        for (size_t p = 1; p < f->nports; p++)
            json_array_append_new(ports, json_integer(f->ports[p]));
        for (size_t r = 0; r < f->nrst; r++) {
            json_array_append_new(rst, json_string(f->rst[r]));
            json_t *n = json_object_get(hops, f->rst[r]);
            json_object_set_new(hops, f->rst[r], json_integer(json_integer_value(n) + 1));
        }
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof(cmd), "racelab explain %s --flow %u", k->pcap, f->lport);
        json_array_append_new(
            arr, json_pack("{s:i,s:s,s:i,s:s?,s:b,s:I,s:I,s:o,s:o,s:s}", "lport", f->lport,
                           "outcome", f->outcome, "status", f->status, "proxy_flags",
                           f->proxy_matched ? f->flags : NULL, "reused", f->reused, "start_us",
                           (json_int_t)f->start_us, "end_us", (json_int_t)f->end_us,
                           "upstream_ports", ports, "rst", rst, "explain", cmd));
    }
    return arr;
}

static uint64_t dir_bytes(const char *path)
{
    DIR *d = opendir(path);
    uint64_t sum = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[PATH_MAX + 256];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        if (e->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return sum;
}

static json_t *read_json_file(const struct soak *k, const char *name)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", k->dir, name);
    return json_load_file(p, 0, NULL);
}

/* Each program's CPU time per request (µs), as /proc last saw it (soak.h), the capture ring's
 * and racelab's own: where a request's CPU goes. */
static json_t *cpu_by_program(const struct soak *k, long n, double cpu_me)
{
    json_t *o = json_object();
    double us_per_tick = 1e6 / (double)sysconf(_SC_CLK_TCK);
    for (size_t i = 0; i < k->nnodes; i++)
        json_object_set_new(
            o, k->names[i],
            json_real(n ? round((double)k->cpu_ticks[i] * us_per_tick / n * 100) / 100 : 0.0));
    if (k->f.capture == SOAK_CAP_FAILURES)
        json_object_set_new(
            o, "capture",
            json_real(n ? round((double)k->ring_ticks * us_per_tick / n * 100) / 100 : 0.0));
    json_object_set_new(o, "racelab", json_real(n ? round(cpu_me * 1e6 / n * 100) / 100 : 0.0));
    return o;
}

static json_t *result_json(struct soak *k)
{
    double wall = (double)((k->end_mono ? k->end_mono : clk_mono_us()) - k->t0_mono) / 1e6;
    long n = (long)k->requests, x = (long)k->failures;
    json_t *outs = json_object(), *hops = json_object();
    json_t *o = k->outcomes_json ? json_loads(k->outcomes_json, 0, NULL) : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
        json_object_set_new(outs, key, rate_obj((long)json_integer_value(v), n));
    json_decref(o);
    json_t *kept = kept_json(k, hops);
    json_t *per_hop = json_object();
    json_object_foreach(hops, key, v)
    {
        long h = (long)json_integer_value(v);
        /* the share of the kept failures that showed an RST on this hop direction, and the
         * natural rate of such failures it implies (share x rate) */
        json_object_set_new(per_hop, key,
                            json_pack("{s:I,s:o,s:f}", "kept_failures", (json_int_t)h, "share_ci",
                                      wilson(h, (long)k->nkept), "rate",
                                      n && k->nkept ? (double)x / n * h / (double)k->nkept : 0.0));
    }
    json_decref(hops);
    double loadavg[3] = {0};
    getloadavg(loadavg, 3);
    json_t *cap = json_pack("{s:s,s:s}", "mode", capture_names[k->f.capture], "path", k->pcap);
    json_t *more = NULL;
    if (k->f.capture == SOAK_CAP_FAILURES)
        more = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "ring_packets", (json_int_t)k->f.ring_slots,
                         "packets_seen", (json_int_t)k->rstats.seen, "packets_written",
                         (json_int_t)k->rstats.written, "kept_requests",
                         (json_int_t)k->rstats.requests, "late", (json_int_t)k->rstats.late,
                         "dropped", (json_int_t)k->rstats.dropped);
    else if (k->f.capture == SOAK_CAP_ALL)
        more = json_pack("{s:I,s:I}", "packets_written", (json_int_t)k->cstats.packets, "dropped",
                         (json_int_t)k->cstats.dropped);
    if (more)
        json_object_update(cap, more);
    json_decref(more);
    json_t *lat = k->latency_json ? json_loads(k->latency_json, 0, NULL) : json_null();
    json_t *r = json_pack(
        "{s:s,s:s,s:s,s:b,s:I,s:f,s:I,s:I,s:f,s:o,s:f,s:o,s:o,s:o,s:I,s:I,s:o,s:o,s:i,s:I,s:I,"
        "s:[f,f,f]}",
        "scenario", k->s->name, "mitigation", k->cell.m->name, "topology",
        scenario_topo_name(k->s->topo), "interrupted", k->interrupted, "wire_dropped",
        (json_int_t)k->wire_dropped, "wall_s", round(wall * 1000) / 1000, "requests", (json_int_t)n,
        "failures", (json_int_t)x, "failure_rate", n ? round((double)x / n * 1e10) / 1e10 : 0.0,
        "failure_rate_ci", wilson(x, n), "throughput_rps", wall > 0 ? round(n / wall) : 0.0,
        "outcomes", outs, "rst_hops", per_hop, "kept", kept, "kept_count", (json_int_t)k->nkept,
        "failures_not_kept", (json_int_t)(x > (long)k->nkept ? x - (long)k->nkept : 0), "capture",
        cap, "latency_log2_us", lat ? lat : json_null(), "conns", (int)k->f.conns, "rate_limit",
        (json_int_t)k->f.rate, "trials_requested", (json_int_t)k->trials, "load_avg", loadavg[0],
        loadavg[1], loadavg[2]);
    json_object_set_new(r, "records",
                        json_string(k->f.records == SOAK_REC_ALL   ? "all"
                                    : k->f.records == SOAK_REC_OFF ? "off"
                                                                   : "failures"));
    json_object_set_new(r, "sample", json_integer(k->f.sample));
    /* CPU time of the soak's programs and capture (reaped by now) and of racelab: what a
     * request costs whatever else the machine runs */
    struct rusage ch, me;
    getrusage(RUSAGE_CHILDREN, &ch);
    getrusage(RUSAGE_SELF, &me);
    double cpu_ch = (double)(ch.ru_utime.tv_sec + ch.ru_stime.tv_sec) +
                    (double)(ch.ru_utime.tv_usec + ch.ru_stime.tv_usec) / 1e6;
    double cpu_me = (double)(me.ru_utime.tv_sec + me.ru_stime.tv_sec) +
                    (double)(me.ru_utime.tv_usec + me.ru_stime.tv_usec) / 1e6;
    json_object_set_new(r, "cpu_s",
                        json_pack("{s:f,s:f}", "programs", round(cpu_ch * 1000) / 1000, "racelab",
                                  round(cpu_me * 1000) / 1000));
    json_object_set_new(r, "cpu_us_per_request",
                        json_real(n ? round((cpu_ch + cpu_me) / n * 1e8) / 100 : 0.0));
    json_object_set_new(r, "cpu_us_per_request_by_program", cpu_by_program(k, n, cpu_me));
    json_t *st = read_json_file(k, k->nnodes >= 3 ? "proxy.stats.json" : "no-proxy");
    if (!st && k->nnodes == 4)
        st = read_json_file(k, "proxy1.stats.json");
    if (st)
        json_object_set_new(r, "proxy_stats", st);
    if (k->error[0])
        json_object_set_new(r, "error", json_string(k->error));
    json_object_set_new(r, "dir", json_string(k->dir));
    return r;
}

/* results.json written whole (a temporary file renamed over it), then its size counted in. */
static int write_results(struct soak *k)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
    snprintf(path, sizeof(path), "%s/results.json", k->dir);
    snprintf(tmp, sizeof(tmp), "%s/.results.json.tmp", k->dir);
    json_t *r = result_json(k);
    if (!r)
        return -1;
    for (int pass = 0; pass < 2; pass++) {
        /* the second pass counts results.json itself in disk_bytes */
        uint64_t disk = dir_bytes(k->dir);
        json_object_set_new(r, "disk_bytes", json_integer((json_int_t)disk));
        json_object_set_new(
            r, "bytes_per_request",
            json_real(k->requests ? round((double)disk / k->requests * 1000) / 1000 : 0.0));
        if (json_dump_file(r, tmp, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0 ||
            rename(tmp, path) != 0) {
            json_decref(r);
            unlink(tmp);
            return -1;
        }
    }
    json_decref(r);
    return 0;
}

static void print_summary(struct soak *k)
{
    char rate[64];
    interval_format(rate, sizeof(rate), (long)k->failures, (long)k->requests);
    printf("%s x %s, natural timing (%zu wire fault%s dropped)%s\n", k->s->name, k->cell.m->name,
           k->wire_dropped, k->wire_dropped == 1 ? "" : "s", k->interrupted ? ", interrupted" : "");
    printf("  %lu requests in %.1f s (%.0f req/s), %lu failures: rate %s\n", k->requests,
           (double)(k->end_mono - k->t0_mono) / 1e6,
           k->requests / fmax(1e-6, (double)(k->end_mono - k->t0_mono) / 1e6), k->failures, rate);
    for (size_t i = 0; i < k->nkept && i < 3; i++)
        printf("  kept: lport %u %s%s%s, RST %s: racelab explain %s --flow %u\n", k->kept[i].lport,
               k->kept[i].outcome, k->kept[i].proxy_matched ? " " : "",
               k->kept[i].proxy_matched ? k->kept[i].flags : "",
               k->kept[i].nrst ? k->kept[i].rst[0] : "none seen", k->pcap, k->kept[i].lport);
    printf("  %zu failures kept of %lu; results in %s/results.json\n", k->nkept, k->failures,
           k->dir);
    if (k->error[0])
        printf("  error: %s\n", k->error);
}

/* ---------------------------------------------------------------- the soak process */

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* In a process of its own (its own process group, as a cell): the terminal's Ctrl-C reaches
 * only racelab, which stops the client first and the proxies after it. */
static int soak_child(struct soak *k)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    k->stop = &stop_flag;
    k->kept = calloc((size_t)k->f.keep + 1, sizeof(*k->kept));
    k->pxrec[0] = calloc(SOAK_PXRECS, sizeof(struct soak_pxrec));
    k->pxrec[1] = calloc(SOAK_PXRECS, sizeof(struct soak_pxrec));
    if (!k->kept || !k->pxrec[0] || !k->pxrec[1]) {
        fprintf(stderr, "racelab soak: out of memory\n");
        return EXIT_FAIL;
    }
    int started = soak_lab_start(k);
    if (started == 0)
        soak_lab_follow(k);
    soak_lab_stop(k);
    if (!k->end_mono)
        k->end_mono = clk_mono_us();
    soak_progress(k, true);
    analyse_kept(k);
    if (write_results(k) != 0)
        fprintf(stderr, "racelab soak: cannot write %s/results.json: %s\n", k->dir,
                strerror(errno));
    print_summary(k);
    if (started != 0 && !k->interrupted) {
        fprintf(stderr, "racelab soak: %s\n", k->error);
        return EXIT_BAD;
    }
    if (k->interrupted)
        return EXIT_INTERRUPTED;
    return k->error[0] ? EXIT_FAIL : EXIT_PASS;
}

static int run_child(struct soak *k)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "racelab soak: fork: %s\n", strerror(errno));
        return EXIT_FAIL;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        fflush(NULL);
        _exit(soak_child(k));
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int status = 0;
    bool sent = false;
    for (;;) {
        pid_t w = waitpid(pid, &status, 0);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return EXIT_FAIL;
        if (stop_flag && !sent) {
            kill(pid, SIGTERM);
            sent = true;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAIL;
}

/* ---------------------------------------------------------------- the command */

static int bad(const char *msg, const char *arg)
{
    fprintf(stderr, "racelab soak: %s%s\n", msg, arg ? arg : "");
    return EXIT_BAD;
}

static const struct scenario_mit *pick_mitigation(const struct scenario *s, const char *name)
{
    if (name)
        return scenario_find_mit(s, name);
    const struct scenario_mit *m = scenario_find_mit(s, "none");
    return m ? m : (s->nmit ? &s->mit[0] : NULL);
}

static int setup(struct soak *k, const char *case_arg)
{
    char path[PATH_MAX], err[2048];
    if (cli_resolve_case(case_arg, path, sizeof(path)) != 0)
        return EXIT_BAD;
    k->s = scenario_load(path, err, sizeof(err));
    if (!k->s)
        return bad(err, NULL);
    const struct scenario_mit *m = pick_mitigation(k->s, k->f.mitigation);
    if (!m) {
        fprintf(stderr, "racelab soak: --mitigation: %s has no mitigation '%s'\n", path,
                k->f.mitigation ? k->f.mitigation : "");
        return EXIT_BAD;
    }
    if (scenario_cell_build(k->s, m, 1, &k->cell, err, sizeof(err)) != 0)
        return bad(err, NULL);
    k->cell_built = true;
    /* natural timing: the wire faults that force the race are dropped (and said so) */
    k->wire_dropped = k->cell.nwire;
    k->cell.nwire = 0;
    long per_trial = 1;
    for (size_t i = 0; i < k->cell.progs[0].nset; i++) {
        const struct scenario_setting *st = k->cell.progs[0].set[i];
        long v;
        if ((strcmp(st->name, "conns") == 0 || strcmp(st->name, "requests") == 0) && st->nvals &&
            opt_parse_long(st->vals[st->nvals - 1], &v) == 0 && v > 0)
            per_trial *= v;
    }
    k->trials = k->f.requests ? (k->f.requests + per_trial - 1) / per_trial : 1000000000000L;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(k->bin, sizeof(k->bin), "%s", n > 0 ? dirname(exe) : ".");
    if (k->f.out) {
        snprintf(k->dir, sizeof(k->dir), "%s", k->f.out);
    } else {
        char ts[32];
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
        snprintf(k->dir, sizeof(k->dir), "%s/soak-%s-%ld",
                 cli_is_dir("captures") || !cli_is_dir(RACELAB_SOURCE_DIR "/captures")
                     ? "captures"
                     : RACELAB_SOURCE_DIR "/captures",
                 ts, (long)getpid());
    }
    if (suite_mkdirs(k->dir) != 0)
        return bad("--out: cannot create ", k->dir);
    if (geteuid() != 0)
        return bad("soak needs root (a network namespace and a capture on its loopback)", NULL);
    if (k->wire_dropped)
        fprintf(stderr,
                "racelab soak: %s x %s: %zu wire fault%s of the scenario dropped (natural "
                "timing)\n",
                k->s->name, m->name, k->wire_dropped, k->wire_dropped == 1 ? "" : "s");
    return -1;
}

int cmd_soak(int argc, char **argv)
{
    struct soak *k = calloc(1, sizeof(*k));
    if (!k)
        return EXIT_FAIL;
    k->f = (struct soak_flags){.conns = DEFAULT_CONNS,
                               .keep = DEFAULT_KEEP,
                               .sample = DEFAULT_SAMPLE,
                               .ring_slots = DEFAULT_RING};
    char *pos[2];
    int npos = 0, rc;
    bool seen[16] = {0};
    char err[512];
    rc = opt_parse(soak_opts, &k->f, argc, argv, 2, pos, &npos, 2, seen, err, sizeof(err));
    if (rc == OPT_HELP) {
        opt_usage(stdout, "racelab soak",
                  "CASE [--mitigation M] [--duration 60s | --requests N] [--rate R] [--conns N] "
                  "[--keep-failures K] [--out DIR]",
                  soak_about, soak_opts);
        rc = EXIT_PASS;
    } else if (rc != OPT_OK) {
        rc = bad(err, NULL);
    } else if (npos != 1) {
        rc = bad("expected one CASE (see racelab soak --help)", NULL);
    } else if (seen[1] && seen[2]) {
        rc = bad("--duration contradicts --requests (a soak stops on one of them)", NULL);
    } else {
        if (!seen[1] && !seen[2])
            k->f.duration_ms = DEFAULT_DURATION_MS;
        rc = setup(k, pos[0]);
        if (rc < 0)
            rc = run_child(k);
    }
    if (k->cell_built)
        scenario_cell_free(&k->cell);
    if (k->s)
        scenario_free(k->s);
    free(k);
    return rc;
}
