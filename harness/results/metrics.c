#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "interval.h"
#include "metrics_json.h"
#include "metrics_uses.h"

#define MAX_DIRS           6 /* three hops at most (chain), two directions each */
#define MAX_FAILING_LISTED 1000

struct req {
    long trial;
    long conn, reqno; /* the record's conn and req: with trial, the request's tag T.C.R */
    int lport;
    const json_t *lports; /* a driver's every port of the request, retries included, or NULL */
    uint64_t start, end;
    const char *outcome;
    double gap_ms;
    double reuse_gap_ms; /* racelab-downstream's reuse_gap_ms, when the record has it */
    bool has_trial_gap;
};

struct trial {
    const char *label; /* outcome that decides the trial */
    uint64_t first_start;
    bool failed;
    bool seen;
    double gap_ms; /* the trial's gap: reuse_gap_ms, else the largest gap_ms */
    bool has_trial_gap;
    uint64_t last_end; /* when its last request ended */
    int lport;
    bool rst[MAX_DIRS];
};

static void bump(json_t *obj, const char *key, long by)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer((v ? json_integer_value(v) : 0) + by));
}

double metrics_percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    double r = ceil(p / 100.0 * (double)n);
    size_t idx = r < 1 ? 0 : (size_t)r - 1;
    if (idx >= n)
        idx = n - 1;
    return sorted[idx];
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double round3(double v)
{
    return round(v * 1000.0) / 1000.0;
}

static long hop_index(const struct metrics_input *in, const struct analysis_flow *f)
{
    for (size_t h = 0; h < in->nhops; h++)
        if (f->hop == &in->hops[h] || (f->hop && f->hop->server_port == in->hops[h].server_port))
            return (long)h;
    return -1;
}

/* Access-log flags "UC,URX" (or "-") counted one by one. */
static void count_flags(json_t *flags, const char *s)
{
    if (!s || !*s || strcmp(s, "-") == 0)
        return;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        bump(flags, t, 1);
}

static json_t *upstream_summary(const json_t *log)
{
    json_t *o = json_object(), *how = json_object(), *why = json_object();
    long unread = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(log, i, e)
    {
        const char *ev = jstr(e, "event");
        if (!ev)
            continue;
        bump(o, ev, 1);
        if (strcmp(ev, "close") == 0) {
            const char *h = jstr(e, "how"), *w = jstr(e, "why");
            if (h)
                bump(how, h, 1);
            if (w)
                bump(why, w, 1);
            if (jint(e, "unread") > 0)
                unread++;
        }
    }
    json_object_set_new(o, "close_how", how);
    json_object_set_new(o, "close_why", why);
    json_object_set_new(o, "close_unread", json_integer(unread));
    return o;
}

/* What metrics_build works with, section by section. */
struct build {
    const struct metrics_input *in;
    const struct scenario_cell *c;
    long ntrials;
    json_t *out;
    struct req *reqs; /* in the order the client wrote them */
    size_t nreqs;
    double *lat; /* request latencies, ms */
    size_t nlat;
    uint64_t first_us, last_us; /* the first request's start, the last outcome */
    struct trial *tr;           /* ntrials */
    struct uses uses[3];        /* per hop */
    bool hop_attr[3];           /* the hop's connections are attributed to trials */
    char dirs[MAX_DIRS][80];    /* "A->B", two per hop */
    size_t ndirs;
};

/* Requests, in the order the client wrote them. */
static int add_requests(struct build *b)
{
    const struct metrics_input *in = b->in;
    size_t nrec = in->records ? json_array_size(in->records) : 0;
    b->reqs = calloc(nrec ? nrec : 1, sizeof(*b->reqs));
    b->lat = calloc(nrec ? nrec : 1, sizeof(*b->lat));
    if (!b->reqs || !b->lat)
        return -1;
    json_t *req_out = json_object(), *req_counts = json_object();
    json_object_set_new(b->out, "requests", req_out);
    json_object_set_new(req_out, "outcomes", req_counts);
    long req_failures = 0;
    for (size_t i = 0; i < nrec; i++) {
        const json_t *r = json_array_get(in->records, i);
        const char *type = jstr(r, "type");
        if (type && strcmp(type, "request") != 0)
            continue;
        const char *oc = jstr(r, "outcome");
        const json_t *tj = json_object_get(r, "trial");
        if (!oc || !json_is_integer(tj))
            continue;
        struct req *q = &b->reqs[b->nreqs++];
        q->trial = (long)json_integer_value(tj);
        q->conn = (long)jint(r, "conn");
        q->reqno = (long)jint(r, "req");
        q->lport = (int)jint(r, "lport");
        q->lports = json_object_get(r, "lports");
        q->start = jint(r, "start_us");
        q->end = jint(r, "end_us");
        q->outcome = oc;
        q->gap_ms = json_number_value(json_object_get(r, "gap_ms"));
        const json_t *tg = json_object_get(r, "reuse_gap_ms");
        q->has_trial_gap = json_is_number(tg);
        q->reuse_gap_ms = json_number_value(tg);
        bump(req_counts, oc, 1);
        if (!scenario_cell_success(b->c, oc))
            req_failures++;
        if (q->end >= q->start && q->start)
            b->lat[b->nlat++] = (double)(q->end - q->start) / 1000.0;
        if (q->start && (!b->first_us || q->start < b->first_us))
            b->first_us = q->start;
        if (q->end > b->last_us)
            b->last_us = q->end;
    }
    json_object_set_new(req_out, "total", json_integer((json_int_t)b->nreqs));
    json_object_set_new(req_out, "failures", json_integer(req_failures));
    return 0;
}

/* Trial outcome: the first request (by start) that is not a success decides. */
static void add_trials(struct build *b)
{
    const struct scenario_cell *c = b->c;
    struct trial *tr = b->tr;
    for (size_t i = 0; i < b->nreqs; i++) {
        struct req *q = &b->reqs[i];
        if (q->trial < 0 || q->trial >= b->ntrials)
            continue;
        struct trial *t = &tr[q->trial];
        bool ok = scenario_cell_success(c, q->outcome);
        uint64_t end = q->end > q->start ? q->end : q->start;
        if (end > t->last_end)
            t->last_end = end;
        /* A trial whose first request fails has no record with its gap in gap_ms; the
         * downstream's reuse_gap_ms names it on every record. Older records: the largest. */
        if (q->has_trial_gap) {
            t->gap_ms = q->reuse_gap_ms;
            t->has_trial_gap = true;
        } else if (!t->has_trial_gap && q->gap_ms > t->gap_ms) {
            t->gap_ms = q->gap_ms;
        }
        if (!t->seen) {
            t->seen = true;
            t->label = q->outcome;
            t->failed = !ok;
            t->first_start = q->start;
            t->lport = q->lport;
            continue;
        }
        if (!ok && (!t->failed || q->start < t->first_start)) {
            t->label = q->outcome;
            t->failed = true;
            t->first_start = q->start;
            t->lport = q->lport;
        }
    }
    json_t *outcomes = json_object();
    json_object_set_new(b->out, "outcomes", outcomes);
    for (size_t i = 0; i < c->nsuccess; i++)
        json_object_set_new(outcomes, c->success[i], json_integer(0));
    if (c->nprogs > 2)
        json_object_set_new(outcomes, "503", json_integer(0));
    json_object_set_new(outcomes, "reset", json_integer(0));
    json_object_set_new(outcomes, "empty", json_integer(0));
    json_object_set_new(outcomes, "timeout", json_integer(0));
    long failures = 0;
    for (long t = 0; t < b->ntrials; t++) {
        if (!tr[t].seen) {
            tr[t].label = "missing";
            tr[t].failed = true;
        }
        bump(outcomes, tr[t].label, 1);
        if (tr[t].failed)
            failures++;
    }
    json_object_set_new(b->out, "trials", json_integer(b->ntrials));
    json_object_set_new(b->out, "failures", json_integer(failures));
    json_object_set_new(b->out, "failure_rate",
                        json_real(b->ntrials ? round3((double)failures / (double)b->ntrials) : 0));
    json_object_set_new(b->out, "failure_rate_ci", interval_json(failures, b->ntrials));
}

static int req_key_cmp(const void *a, const void *b)
{
    const struct req *x = *(const struct req *const *)a, *y = *(const struct req *const *)b;
    if (x->trial != y->trial)
        return x->trial < y->trial ? -1 : 1;
    if (x->conn != y->conn)
        return x->conn < y->conn ? -1 : 1;
    return x->reqno < y->reqno ? -1 : x->reqno > y->reqno;
}

/* Without an access log (a foreign proxy, --proxy-cmd): the last hop's connections through the
 * upstream's log. racelab-downstream tags every request (X-Racelab-Trial: T.C.R) and the
 * upstream logs the tag on its request event with rport, the proxy's local port of that
 * connection: trial T used that connection during request T.C.R, whose window is the client's
 * record of it (the proxy served it within that time). A request the upstream never read (the
 * proxy wrote it onto a connection the upstream had closed, and its kernel answered with an
 * RST) has no event: a proxy->upstream data packet that no tagged use covers is a use of the
 * trial whose request was in flight at that moment, when exactly one was. In a chain the
 * middle hop stays unattributed (neither side of it is racelab's). */
static int add_tag_uses(struct build *b)
{
    const struct metrics_input *in = b->in;
    if (!in->upstream_log || in->nproxies < 1 || in->nhops != in->nproxies + 1 || in->nhops > 3)
        return 0;
    size_t L = in->nhops - 1;
    struct uses *u = &b->uses[L];
    const struct req **idx = calloc(b->nreqs ? b->nreqs : 1, sizeof(*idx));
    if (!idx)
        return -1;
    for (size_t i = 0; i < b->nreqs; i++)
        idx[i] = &b->reqs[i];
    if (b->nreqs > 1)
        qsort(idx, b->nreqs, sizeof(*idx), req_key_cmp);
    size_t i, tagged = 0;
    const json_t *e;
    json_array_foreach(in->upstream_log, i, e)
    {
        const char *ev = jstr(e, "event"), *tag = jstr(e, "tag");
        long t, k, q;
        int port = (int)jint(e, "rport");
        if (!ev || strcmp(ev, "request") != 0 || !tag || !port ||
            sscanf(tag, "%ld.%ld.%ld", &t, &k, &q) != 3 || t < 0 || t >= b->ntrials)
            continue;
        struct req key = {.trial = t, .conn = k, .reqno = q};
        const struct req *kp = &key;
        const struct req **hit = bsearch(&kp, idx, b->nreqs, sizeof(*idx), req_key_cmp);
        uint64_t s = jint(e, "first_us"), end = jint(e, "ts_us");
        if (hit && (*hit)->start) { /* the client's window holds the proxy's */
            s = (*hit)->start;
            end = (*hit)->end > s ? (*hit)->end : s;
        }
        if (!s)
            continue;
        if (uses_add(u, port, s, end > s ? end : s, t) != 0) {
            free(idx);
            return -1;
        }
        tagged++;
    }
    free(idx);
    if (!tagged) /* no tag reached the upstream (--no-tag, another client): nothing to join */
        return 0;
    size_t ntagged = u->n;
    for (size_t f = 0; in->ana && f < in->ana->nflows; f++) {
        const struct analysis_flow *fl = &in->ana->flows[f];
        if (hop_index(in, fl) != (long)L)
            continue;
        uint64_t done_to = 0; /* the window of the last use inferred on this flow */
        for (size_t n = 0; n < fl->nevents; n++) {
            const struct analysis_event *ev = &fl->events[n];
            if (ev->kind != ANALYSIS_EV_DATA || !ev->from_client || !ev->len ||
                ev->ts_us <= done_to || uses_cover(u, 0, ntagged, fl->client_port, ev->ts_us))
                continue;
            const struct req *only = NULL;
            bool many = false;
            for (size_t r = 0; r < b->nreqs && !many; r++) {
                const struct req *q = &b->reqs[r];
                if (q->trial < 0 || q->trial >= b->ntrials || !q->start || q->start > ev->ts_us ||
                    q->end < ev->ts_us)
                    continue;
                if (only && only->trial != q->trial)
                    many = true;
                else if (!only || q->end > only->end)
                    only = q;
            }
            if (!only || many)
                continue;
            if (uses_add(u, fl->client_port, only->start, only->end, only->trial) != 0)
                return -1;
            done_to = only->end;
        }
    }
    if (u->n > 1)
        qsort(u->v, u->n, sizeof(*u->v), uses_cmp);
    b->hop_attr[L] = true;
    return 0;
}

/* Uses of each hop's connections. Hop 0: the downstream's own records; hop p + 1: the
 * upstream ports of proxy p's requests, which belong to the trial of the use they served. */
static int add_uses(struct build *b)
{
    const struct metrics_input *in = b->in;
    struct uses *uses = b->uses;
    for (size_t i = 0; i < b->nreqs; i++) {
        const struct req *q = &b->reqs[i];
        if (q->trial < 0 || q->trial >= b->ntrials)
            continue;
        /* a driver's lports: every connection the library sent the request on (a retry's
         * dead connection first); else the record's lport */
        size_t np = json_array_size(q->lports), k;
        const json_t *pj;
        json_array_foreach(q->lports, k, pj)
        {
            if (json_integer_value(pj) > 0 &&
                uses_add(&uses[0], (int)json_integer_value(pj), q->start, q->end, q->trial) != 0)
                return -1;
        }
        if (!np && q->lport && uses_add(&uses[0], q->lport, q->start, q->end, q->trial) != 0)
            return -1;
    }
    if (uses[0].n > 1)
        qsort(uses[0].v, uses[0].n, sizeof(*uses[0].v), uses_cmp);
    b->hop_attr[0] = in->nhops > 0;
    if (!in->access_log)
        return add_tag_uses(b);
    for (size_t p = 0; p < in->nproxies && p + 1 < in->nhops && p < 2; p++) {
        size_t na = in->access[p] ? json_array_size(in->access[p]) : 0;
        for (size_t i = 0; i < na; i++) {
            const json_t *a = json_array_get(in->access[p], i);
            uint64_t s = jint(a, "start_us"), e = jint(a, "end_us");
            const struct use *u = uses_find(&uses[p], (int)jint(a, "dport"), s, s, e ? e : s);
            if (!u)
                continue;
            const json_t *ups = json_object_get(a, "upstream_ports");
            size_t k;
            const json_t *pj;
            json_array_foreach(ups, k, pj)
            {
                if (json_is_integer(pj) &&
                    uses_add(&uses[p + 1], (int)json_integer_value(pj), s, e, u->trial) != 0)
                    return -1;
            }
        }
        if (uses[p + 1].n > 1)
            qsort(uses[p + 1].v, uses[p + 1].n, sizeof(*uses[p + 1].v), uses_cmp);
        b->hop_attr[p + 1] = true;
    }
    return 0;
}

/* The capture's counts per direction (counts[k][d]: analysis_counters[k] on b->dirs[d]), each
 * RST of an attributed hop given to a trial (b->tr[].rst), and the RSTs of the teardown per
 * direction (teardown[d]; metrics.h). Returns the RSTs no trial could claim. */
static long count_capture(struct build *b, uint64_t counts[][MAX_DIRS], uint64_t *teardown)
{
    const struct metrics_input *in = b->in;
    long unattributed = 0;
    for (size_t i = 0; i < in->ana->nflows; i++) {
        const struct analysis_flow *f = &in->ana->flows[i];
        long h = hop_index(in, f);
        if (h < 0 || h >= 3)
            continue;
        const struct analysis_dir *d2[2] = {&f->c2s, &f->s2c};
        for (int k = 0; k < 2; k++) {
            size_t d = (size_t)h * 2 + (size_t)k;
            for (size_t n = 0; n < ANALYSIS_NRESULT; n++)
                counts[n][d] += analysis_dir_count(d2[k], n);
        }
        bool attributed = b->hop_attr[h];
        for (size_t e = 0; e < f->nevents; e++) {
            const struct analysis_event *ev = &f->events[e];
            if (ev->kind != ANALYSIS_EV_RST)
                continue;
            size_t d = (size_t)h * 2 + (ev->from_client ? 0 : 1);
            bool stopping = in->teardown_us && ev->ts_us > in->teardown_us;
            const struct use *u = attributed ? uses_find(&b->uses[h], f->client_port, ev->ts_us,
                                                         f->first_us, f->last_us)
                                             : NULL;
            if (stopping && (!u || ev->ts_us > b->tr[u->trial].last_end)) {
                teardown[d]++;
                continue;
            }
            if (!attributed)
                continue;
            if (!u) {
                unattributed++;
                continue;
            }
            b->tr[u->trial].rst[d] = true;
        }
    }
    return unattributed;
}

/* Capture: per-direction counts, and the trials with a RST on each attributed direction
 * (null when nothing was captured). */
static void add_capture(struct build *b)
{
    const struct metrics_input *in = b->in;
    json_t *frst = json_object(), *trst = json_object(), *att = json_array();
    json_t *fams[ANALYSIS_NRESULT];
    for (size_t k = 0; k < ANALYSIS_NRESULT; k++)
        fams[k] = json_object();
    json_t *down = json_object();
    uint64_t counts[ANALYSIS_NRESULT][MAX_DIRS] = {{0}}, teardown[MAX_DIRS] = {0};
    long unattributed = in->ana ? count_capture(b, counts, teardown) : 0;
    for (size_t d = 0; d < b->ndirs; d++) {
        for (size_t k = 0; k < ANALYSIS_NRESULT; k++)
            json_object_set_new(fams[k], b->dirs[d],
                                in->ana ? json_integer((json_int_t)counts[k][d]) : json_null());
        json_object_set_new(down, b->dirs[d],
                            in->ana ? json_integer((json_int_t)teardown[d]) : json_null());
        if (b->hop_attr[d / 2]) {
            long fr = 0, wr = 0;
            for (long t = 0; t < b->ntrials; t++) {
                fr += b->tr[t].failed && b->tr[t].rst[d];
                wr += b->tr[t].rst[d];
            }
            json_object_set_new(frst, b->dirs[d], in->ana ? json_integer(fr) : json_null());
            json_object_set_new(trst, b->dirs[d], in->ana ? json_integer(wr) : json_null());
            json_array_append_new(att, json_string(b->dirs[d]));
        }
    }
    for (size_t k = 0; k < ANALYSIS_NRESULT; k++)
        json_object_set_new(b->out, analysis_counters[k].name, fams[k]);
    json_object_set_new(b->out, "failing_rst", frst);
    json_object_set_new(b->out, "trials_with_rst", trst);
    json_object_set_new(b->out, "attributed", att);
    json_object_set_new(b->out, "unattributed_rst",
                        in->ana ? json_integer(unattributed) : json_null());
    json_object_set_new(b->out, "teardown_rst", down);
}

/* Failing trials, with the port that identifies them in the capture. */
static void add_failing_trials(struct build *b)
{
    json_t *ft = json_array();
    size_t listed = 0;
    for (long t = 0; t < b->ntrials && listed < MAX_FAILING_LISTED; t++) {
        const struct trial *tr = &b->tr[t];
        if (!tr->failed)
            continue;
        json_t *o = json_object(), *r = json_array();
        json_object_set_new(o, "trial", json_integer(t));
        json_object_set_new(o, "outcome", json_string(tr->label));
        json_object_set_new(o, "lport", json_integer(tr->lport));
        for (size_t d = 0; d < b->ndirs; d++)
            if (tr->rst[d])
                json_array_append_new(r, json_string(b->dirs[d]));
        json_object_set_new(o, "rst", r);
        json_array_append_new(ft, o);
        listed++;
    }
    json_object_set_new(b->out, "failing_trials", ft);
}

/* Proxies: flags, statuses and stats of each, the front one also at the top level; the
 * upstream's events. */
static void add_proxies(struct build *b)
{
    const struct metrics_input *in = b->in;
    json_t *out = b->out;
    json_object_set_new(out, "access_log", json_boolean(in->access_log && in->nproxies > 0));
    json_t *proxies = json_object();
    for (size_t p = 0; p < in->nproxies && p < 2; p++) {
        json_t *po = json_object(), *flags = json_object(), *st = json_object();
        long retried = 0, n = 0;
        size_t i;
        const json_t *a;
        json_array_foreach(in->access[p], i, a)
        {
            n++;
            count_flags(flags, jstr(a, "flags"));
            char code[16];
            snprintf(code, sizeof(code), "%lld",
                     (long long)json_integer_value(json_object_get(a, "status")));
            bump(st, code, 1);
            if (jint(a, "attempts") > 1)
                retried++;
        }
        json_object_set_new(po, "requests", json_integer(n));
        json_object_set_new(po, "retried", json_integer(retried));
        json_object_set_new(po, "flags", flags);
        json_object_set_new(po, "statuses", st);
        json_object_set_new(po, "stats",
                            in->stats[p] ? json_deep_copy(in->stats[p]) : json_object());
        if (p == 0) {
            json_object_set_new(out, "proxy_flags", json_deep_copy(flags));
            json_object_set_new(out, "stats",
                                in->stats[p] ? json_deep_copy(in->stats[p]) : json_object());
        }
        const char *names[4];
        scenario_topo_nodes(b->c->s->topo, names);
        json_object_set_new(proxies, names[p + 1], po);
    }
    if (in->nproxies == 0) {
        json_object_set_new(out, "proxy_flags", json_object());
        json_object_set_new(out, "stats", json_object());
    }
    json_object_set_new(out, "proxies", proxies);
    json_object_set_new(out, "upstream",
                        in->upstream_log ? upstream_summary(in->upstream_log) : json_object());
}

/* Latency and throughput (the delay-close-cost numbers). */
static void add_latency(struct build *b)
{
    double *lat = b->lat;
    size_t nlat = b->nlat;
    if (nlat > 1)
        qsort(lat, nlat, sizeof(*lat), dbl_cmp);
    json_t *lo = json_object();
    double sum = 0;
    for (size_t i = 0; i < nlat; i++)
        sum += lat[i];
    json_object_set_new(lo, "p50", json_real(round3(metrics_percentile(lat, nlat, 50))));
    json_object_set_new(lo, "p90", json_real(round3(metrics_percentile(lat, nlat, 90))));
    json_object_set_new(lo, "p99", json_real(round3(metrics_percentile(lat, nlat, 99))));
    json_object_set_new(lo, "mean", json_real(round3(nlat ? sum / (double)nlat : 0)));
    json_object_set_new(lo, "max", json_real(round3(nlat ? lat[nlat - 1] : 0)));
    json_object_set_new(b->out, "latency_ms", lo);
    double wall = b->last_us > b->first_us ? (double)(b->last_us - b->first_us) / 1e6 : 0;
    json_object_set_new(b->out, "downstream_wall_s", json_real(round3(wall)));
    json_object_set_new(b->out, "throughput_rps",
                        wall > 0 ? json_real(round(((double)b->nreqs / wall) * 10) / 10)
                                 : json_null());
}

/* Sweep: failure probability per gap (the race window as data). */
static int add_sweep(struct build *b)
{
    const struct trial *tr = b->tr;
    double *gaps = calloc((size_t)b->ntrials + 1, sizeof(*gaps));
    size_t ng = 0;
    if (!gaps)
        return -1;
    for (long t = 0; t < b->ntrials; t++) {
        if (!tr[t].seen)
            continue;
        bool dup = false;
        for (size_t g = 0; g < ng; g++)
            if (gaps[g] == tr[t].gap_ms)
                dup = true;
        if (!dup)
            gaps[ng++] = tr[t].gap_ms;
    }
    if (ng > 1)
        qsort(gaps, ng, sizeof(*gaps), dbl_cmp);
    json_t *sw = json_array();
    long failing = 0;
    double maxr = 0, minr = ng ? 1 : 0;
    for (size_t g = 0; g < ng; g++) {
        long n = 0, f = 0;
        for (long t = 0; t < b->ntrials; t++) {
            if (tr[t].seen && tr[t].gap_ms == gaps[g]) {
                n++;
                f += tr[t].failed;
            }
        }
        double rate = n ? (double)f / (double)n : 0;
        json_t *o = json_object();
        json_object_set_new(o, "gap_ms", json_real(gaps[g]));
        json_object_set_new(o, "trials", json_integer(n));
        json_object_set_new(o, "failures", json_integer(f));
        json_object_set_new(o, "failure_rate", json_real(round3(rate)));
        json_object_set_new(o, "failure_rate_ci", interval_json(f, n));
        json_array_append_new(sw, o);
        failing += f > 0;
        if (rate > maxr)
            maxr = rate;
        if (rate < minr)
            minr = rate;
    }
    free(gaps);
    json_t *ss = json_object();
    json_object_set_new(ss, "gaps", json_integer((json_int_t)ng));
    json_object_set_new(ss, "gaps_failing", json_integer(failing));
    json_object_set_new(ss, "gaps_clean", json_integer((json_int_t)ng - failing));
    json_object_set_new(ss, "max_failure_rate", json_real(round3(maxr)));
    json_object_set_new(ss, "min_failure_rate", json_real(round3(minr)));
    json_object_set_new(b->out, "sweep", sw);
    json_object_set_new(b->out, "sweep_stats", ss);
    return 0;
}

json_t *metrics_build(const struct metrics_input *in, char *err, size_t errlen)
{
    struct build b = {.in = in, .c = in->cell, .ntrials = in->cell->trials};
    b.out = json_object();
    b.tr = calloc((size_t)b.ntrials, sizeof(*b.tr));
    for (size_t h = 0; h < in->nhops && h < 3; h++) {
        const struct analysis_hop *hop = &in->hops[h];
        snprintf(b.dirs[b.ndirs++], sizeof(b.dirs[0]), "%s->%s", hop->client, hop->server);
        snprintf(b.dirs[b.ndirs++], sizeof(b.dirs[0]), "%s->%s", hop->server, hop->client);
    }
    int rc = -1;
    if (b.out && b.tr && add_requests(&b) == 0) {
        add_trials(&b);
        if (add_uses(&b) == 0) {
            add_capture(&b);
            add_failing_trials(&b);
            add_proxies(&b);
            add_latency(&b);
            rc = metrics_duplicates(b.out, in->upstream_log, b.ntrials, b.c);
            if (rc == 0 && b.c->sweep)
                rc = add_sweep(&b);
        }
    }
    for (int h = 0; h < 3; h++)
        free(b.uses[h].v);
    free(b.reqs);
    free(b.lat);
    free(b.tr);
    if (rc != 0) {
        json_decref(b.out);
        snprintf(err, errlen, "out of memory while computing metrics");
        return NULL;
    }
    return b.out;
}
