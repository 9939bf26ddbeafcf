#include "dn_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "dn_conn.h"
#include "jl.h"

static bool has_body(const struct dn_cfg *c)
{
    if (c->body_size > 0 || c->chunked)
        return true;
    /* an empty POST still says so, as clients do */
    return strcmp(c->method, "POST") == 0 || strcmp(c->method, "PUT") == 0 ||
           strcmp(c->method, "PATCH") == 0;
}

int dn_run_init(struct dn_run *r, struct event_base *base, const struct dn_cfg *cfg, int rec_fd,
                char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->base = base;
    r->cfg = cfg;
    r->rec_fd = rec_fd;
    r->keep = cfg->records_keep;

    char *h = NULL;
    size_t hl = 0;
    FILE *f = open_memstream(&h, &hl);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fprintf(f, "%s %s HTTP/1.%d\r\nHost: %s\r\n", cfg->method, cfg->path, cfg->http10 ? 0 : 1,
            cfg->target);
    if (has_body(cfg)) {
        if (cfg->chunked)
            fprintf(f, "Transfer-Encoding: chunked\r\n");
        else
            fprintf(f, "Content-Length: %ld\r\n", cfg->body_size);
    }
    switch ((enum dn_connection)cfg->connection) {
    case DN_CONN_CLOSE:
        fprintf(f, "Connection: close\r\n");
        break;
    case DN_CONN_KEEP_ALIVE:
        fprintf(f, "Connection: keep-alive\r\n");
        break;
    case DN_CONN_NONE:
        break;
    }
    for (size_t i = 0; i < cfg->nheaders; i++)
        fprintf(f, "%s\r\n", cfg->headers[i]);
    fprintf(f, "\r\n");
    if (fclose(f) != 0 || !h) {
        free(h);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->head = h;
    r->head_len = hl;
    r->head_base =
        cfg->no_tag ? hl : hl - 2; /* without the blank line: the tag's line goes there */
    return 0;
}

static void trial_free(struct dn_trial *t)
{
    for (long i = 0; i < t->run->cfg->conns; i++)
        dn_conn_free(t->conns[i]);
    free(t->conns);
    free(t);
}

static void start_trial(struct dn_run *r)
{
    const struct dn_cfg *cfg = r->cfg;
    struct dn_trial *t = calloc(1, sizeof(*t));
    if (t)
        t->conns = calloc((size_t)cfg->conns, sizeof(*t->conns));
    if (!t || !t->conns) {
        free(t);
        fprintf(stderr, "racelab-downstream: out of memory starting a trial\n");
        r->failed = true;
        event_base_loopexit(r->base, NULL);
        return;
    }
    t->run = r;
    t->index = r->next_trial++;
    t->conns_left = cfg->conns;
    for (long i = 0; i < cfg->conns; i++) {
        t->conns[i] = dn_conn_new(t, i);
        if (!t->conns[i]) {
            trial_free(t);
            fprintf(stderr, "racelab-downstream: out of memory starting a trial\n");
            r->failed = true;
            event_base_loopexit(r->base, NULL);
            return;
        }
    }
    t->next = r->trials;
    if (r->trials)
        r->trials->prev = t;
    r->trials = t;
    r->running++;
    for (long i = 0; i < cfg->conns; i++)
        dn_conn_start(t->conns[i]);
}

static void on_trial_gap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_trial(arg);
}

/* --rate: trials start no faster than R / (conns x requests) a second on average. The trials
 * due are started when the pace timer fires; a trial that finishes early waits for it. */
static uint64_t trial_interval_us(const struct dn_run *r)
{
    double per_trial = (double)r->cfg->conns * (double)r->cfg->requests;
    return (uint64_t)(1e6 * per_trial / (double)r->cfg->rate);
}

static void paced_start(struct dn_run *r);

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dn_run *r = arg;
    r->pace_armed = false;
    paced_start(r);
}

/* Starts the trials whose turn has come, while fewer than --parallel run. */
static void paced_start(struct dn_run *r)
{
    while (r->next_trial < r->cfg->trials && r->running < r->cfg->parallel && !r->failed) {
        uint64_t now = clk_mono_us();
        if (r->cfg->rate && now < r->next_start_us) {
            if (!r->pace_armed) {
                uint64_t d = r->next_start_us - now;
                struct timeval tv = {(time_t)(d / 1000000u), (suseconds_t)(d % 1000000u)};
                if (evtimer_add(r->pace, &tv) != 0) {
                    r->failed = true;
                    event_base_loopexit(r->base, NULL);
                    return;
                }
                r->pace_armed = true;
            }
            return;
        }
        if (r->cfg->rate) {
            /* no credit piles up while the machine could not keep the pace */
            uint64_t base = r->next_start_us > now - 100000u ? r->next_start_us : now;
            r->next_start_us = base + trial_interval_us(r);
        }
        start_trial(r);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dn_run_counters(arg, false);
}

void dn_run_start(struct dn_run *r)
{
    if (r->cfg->counters) {
        r->tick = event_new(r->base, -1, EV_PERSIST, on_tick, r);
        struct timeval sec = {1, 0};
        if (!r->tick || evtimer_add(r->tick, &sec) != 0) {
            fprintf(stderr, "racelab-downstream: cannot set up the counters timer\n");
            r->failed = true;
            event_base_loopexit(r->base, NULL);
            return;
        }
    }
    if (r->cfg->rate) {
        r->pace = evtimer_new(r->base, on_pace, r);
        if (!r->pace) {
            r->failed = true;
            event_base_loopexit(r->base, NULL);
            return;
        }
        r->next_start_us = clk_mono_us();
        paced_start(r);
        return;
    }
    long n = r->cfg->parallel < r->cfg->trials ? r->cfg->parallel : r->cfg->trials;
    for (long i = 0; i < n; i++)
        start_trial(r);
}

void dn_run_conn_done(struct dn_trial *t)
{
    if (--t->conns_left > 0)
        return;
    struct dn_run *r = t->run;
    if (t->prev)
        t->prev->next = t->next;
    else
        r->trials = t->next;
    if (t->next)
        t->next->prev = t->prev;
    trial_free(t);
    r->running--;
    r->completed++;
    if (r->next_trial < r->cfg->trials && r->cfg->rate) {
        paced_start(r);
        return;
    }
    if (r->next_trial < r->cfg->trials) {
        if (r->cfg->trial_gap_ms) {
            struct timeval tv = {r->cfg->trial_gap_ms / 1000, (r->cfg->trial_gap_ms % 1000) * 1000};
            if (event_base_once(r->base, -1, EV_TIMEOUT, on_trial_gap, r, &tv) != 0) {
                r->failed = true;
                event_base_loopexit(r->base, NULL);
            }
            return;
        }
        start_trial(r);
        return;
    }
    if (r->running == 0)
        event_base_loopexit(r->base, NULL);
}

void dn_run_count(struct dn_run *r, const char *outcome)
{
    r->requests++;
    for (size_t i = 0; i < r->noutcomes; i++) {
        if (strcmp(r->outcomes[i].name, outcome) == 0) {
            r->outcomes[i].n++;
            return;
        }
    }
    if (r->noutcomes == DN_MAX_OUTCOMES)
        return;
    struct dn_outcome_count *o = &r->outcomes[r->noutcomes++];
    snprintf(o->name, sizeof(o->name), "%s", outcome);
    o->n = 1;
}

bool dn_run_keep(struct dn_run *r, bool failing, uint64_t latency_us)
{
    size_t b = 0;
    while (b + 1 < DN_LAT_BUCKETS && latency_us >> (b + 1))
        b++;
    r->lat_hist[b]++;
    if (failing)
        r->failures++;
    return keep_want(&r->keep, failing);
}

void dn_run_counters(struct dn_run *r, bool final)
{
    char outs[1024], hist[DN_LAT_BUCKETS * 24];
    size_t o = 0, h = 0;
    o += (size_t)snprintf(outs + o, sizeof(outs) - o, "{");
    for (size_t i = 0; i < r->noutcomes && o < sizeof(outs) - 40; i++)
        o += (size_t)snprintf(outs + o, sizeof(outs) - o, "%s\"%s\":%lu", i ? "," : "",
                              r->outcomes[i].name, r->outcomes[i].n);
    snprintf(outs + o, sizeof(outs) - o, "}");
    size_t last = 0;
    for (size_t i = 0; i < DN_LAT_BUCKETS; i++)
        if (r->lat_hist[i])
            last = i + 1;
    h += (size_t)snprintf(hist + h, sizeof(hist) - h, "[");
    for (size_t i = 0; i < last; i++)
        h += (size_t)snprintf(hist + h, sizeof(hist) - h, "%s%lu", i ? "," : "", r->lat_hist[i]);
    snprintf(hist + h, sizeof(hist) - h, "]");
    struct jl j;
    jl_begin(&j);
    jl_uint(&j, "ts_us", clk_real_us());
    jl_str(&j, "type", "counters");
    jl_bool(&j, "final", final);
    jl_uint(&j, "requests", r->requests);
    jl_uint(&j, "failures", r->failures);
    jl_int(&j, "trials", r->completed);
    jl_raw(&j, "outcomes", outs);
    jl_raw(&j, "latency_log2_us", hist);
    if (jl_write(&j, r->rec_fd) != 0) {
        fprintf(stderr, "racelab-downstream: writing the counters: %m\n");
        r->failed = true;
    }
}

void dn_run_free(struct dn_run *r)
{
    if (r->tick)
        event_free(r->tick);
    if (r->pace)
        event_free(r->pace);
    r->tick = r->pace = NULL;
    while (r->trials) {
        struct dn_trial *t = r->trials;
        r->trials = t->next;
        trial_free(t);
    }
    free(r->head);
    r->head = NULL;
}

static int cmp_outcome(const void *a, const void *b)
{
    return strcmp(((const struct dn_outcome_count *)a)->name,
                  ((const struct dn_outcome_count *)b)->name);
}

void dn_run_summary(const struct dn_run *r, char *buf, size_t cap)
{
    struct dn_outcome_count sorted[DN_MAX_OUTCOMES];
    memcpy(sorted, r->outcomes, r->noutcomes * sizeof(sorted[0]));
    qsort(sorted, r->noutcomes, sizeof(sorted[0]), cmp_outcome);
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->noutcomes && off < cap; i++) {
        int n =
            snprintf(buf + off, cap - off, "%s%s=%lu", i ? " " : "", sorted[i].name, sorted[i].n);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}
