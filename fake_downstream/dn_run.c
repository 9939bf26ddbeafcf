#include "dn_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_conn.h"

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
    r->head_base = cfg->no_tag ? hl : hl - 2; /* without the blank line: the tag's line goes there */
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

void dn_run_start(struct dn_run *r)
{
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

void dn_run_free(struct dn_run *r)
{
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
