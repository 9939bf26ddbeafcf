/* metrics_trial — one trial for `racelab repro` and the report to draw: a failing one, the
 * slowest trial (when none failed), and a trial's connections on every hop, from the records
 * and the access logs, or the upstream log's tags behind a foreign proxy. */
#include "metrics.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell.h" /* run_read_jsonl */
#include "grow.h"
#include "metrics_json.h"

long metrics_slowest_trial(const json_t *records, double *ms)
{
    size_t i;
    const json_t *r;
    long maxt = -1, best = -1;
    *ms = 0;
    json_array_foreach(records, i, r)
    {
        const json_t *tj = json_object_get(r, "trial");
        if (json_is_integer(tj) && json_integer_value(tj) > maxt)
            maxt = (long)json_integer_value(tj);
    }
    if (maxt < 0)
        return -1;
    uint64_t(*span)[2] = calloc((size_t)maxt + 1, sizeof(*span)); /* first start, last end */
    if (!span)
        return -1;
    json_array_foreach(records, i, r)
    {
        const json_t *tj = json_object_get(r, "trial");
        const char *type = jstr(r, "type");
        uint64_t s = jint(r, "start_us"), e = jint(r, "end_us");
        if (!json_is_integer(tj) || json_integer_value(tj) < 0 ||
            (type && strcmp(type, "request") != 0) || !s || e < s)
            continue;
        uint64_t *sp = span[json_integer_value(tj)];
        if (!sp[0] || s < sp[0])
            sp[0] = s;
        if (e > sp[1])
            sp[1] = e;
    }
    for (long t = 0; t <= maxt; t++) {
        double d = (double)(span[t][1] - span[t][0]) / 1000.0;
        if (span[t][0] && (best < 0 || d > *ms)) {
            best = t;
            *ms = d;
        }
    }
    free(span);
    return best;
}

struct sels {
    struct explain_flow_sel *v;
    size_t n, cap;
};

static int sels_add(struct sels *s, struct explain_flow_sel x)
{
    struct explain_flow_sel *v = grow_array(s->v, &s->cap, s->n + 1, sizeof(*v));
    if (!v)
        return -1;
    s->v = v;
    s->v[s->n++] = x;
    return 0;
}

/* The client's window of request T.C.R, from the records; false when there is no record. */
static bool tag_window(const json_t *records, long t, long k, long q, uint64_t *b, uint64_t *e)
{
    size_t i;
    const json_t *r;
    json_array_foreach(records, i, r)
    {
        const char *type = jstr(r, "type");
        if ((type && strcmp(type, "request") != 0) || jint(r, "trial") != (uint64_t)t ||
            jint(r, "conn") != (uint64_t)k || jint(r, "req") != (uint64_t)q || !jint(r, "start_us"))
            continue;
        *b = jint(r, "start_us");
        *e = jint(r, "end_us") > *b ? jint(r, "end_us") : *b;
        return true;
    }
    return false;
}

/* The upstream hop through the upstream log's tags (foreign proxies; metrics.h). */
static int add_tag_sels(struct sels *s, const json_t *records, const json_t *up, size_t hop,
                        long trial)
{
    size_t upto = s->n, i;
    const json_t *e;
    json_array_foreach(up, i, e)
    {
        const char *ev = jstr(e, "event"), *tag = jstr(e, "tag");
        long t, k, q;
        uint16_t port = (uint16_t)jint(e, "rport");
        if (!ev || strcmp(ev, "request") != 0 || !tag || !port ||
            sscanf(tag, "%ld.%ld.%ld", &t, &k, &q) != 3 || t != trial)
            continue;
        uint64_t b = jint(e, "first_us"), en = jint(e, "ts_us");
        if (!tag_window(records, t, k, q, &b, &en) && !b)
            continue;
        if (en < b)
            en = b;
        size_t x = upto;
        while (x < s->n && s->v[x].client_port != port)
            x++;
        if (x < s->n) { /* another of the trial's requests on it: one window over both */
            if (b < s->v[x].from_us)
                s->v[x].from_us = b;
            if (en > s->v[x].to_us)
                s->v[x].to_us = en;
        } else if (sels_add(s, (struct explain_flow_sel){hop, port, b, en, true}) != 0) {
            return -1;
        }
    }
    /* a connection that another trial's tag names too is pooled: clipped */
    json_array_foreach(up, i, e)
    {
        const char *ev = jstr(e, "event"), *tag = jstr(e, "tag");
        long t, k, q;
        if (!ev || strcmp(ev, "request") != 0 || !tag ||
            sscanf(tag, "%ld.%ld.%ld", &t, &k, &q) != 3 || t == trial)
            continue;
        for (size_t x = upto; x < s->n; x++)
            if (s->v[x].client_port == (uint16_t)jint(e, "rport"))
                s->v[x].whole = false;
    }
    return 0;
}

/* Hop 0's selection of a client port, widened to [b, e]. */
static int client_port(struct sels *s, uint16_t port, uint64_t b, uint64_t e)
{
    for (size_t k = 0; k < s->n; k++) {
        if (s->v[k].hop != 0 || s->v[k].client_port != port)
            continue;
        if (b < s->v[k].from_us)
            s->v[k].from_us = b;
        if (e > s->v[k].to_us)
            s->v[k].to_us = e;
        return 0;
    }
    return sels_add(s, (struct explain_flow_sel){0, port, b, e, true});
}

struct explain_flow_sel *metrics_trial_flows(const json_t *records, const json_t *const *access,
                                             size_t nproxies, const json_t *upstream_log,
                                             size_t upstream_hop, long trial, size_t *n,
                                             uint64_t *first_us, uint64_t *last_us)
{
    struct sels s = {0};
    size_t i;
    const json_t *r;
    *n = 0;
    *first_us = *last_us = 0;
    /* Hop 0: one selection per client connection, over the requests it carried. */
    json_array_foreach(records, i, r)
    {
        const json_t *tj = json_object_get(r, "trial");
        const char *type = jstr(r, "type");
        uint16_t port = (uint16_t)jint(r, "lport");
        uint64_t b = jint(r, "start_us"), e = jint(r, "end_us");
        if (!json_is_integer(tj) || json_integer_value(tj) != trial ||
            (type && strcmp(type, "request") != 0) || !b)
            continue;
        if (e < b)
            e = b;
        if (!*first_us || b < *first_us)
            *first_us = b;
        if (e > *last_us)
            *last_us = e;
        /* a driver's lports: every connection the library sent the request on */
        const json_t *lports = json_object_get(r, "lports"), *pj;
        size_t k;
        json_array_foreach(lports, k, pj)
        {
            if (json_integer_value(pj) > 0 &&
                client_port(&s, (uint16_t)json_integer_value(pj), b, e) != 0)
                goto oom;
        }
        /* no port: the connect failed before a port was bound */
        if (!json_array_size(lports) && port && client_port(&s, port, b, e) != 0)
            goto oom;
    }
    /* Hop p + 1: the upstream attempts of the trial's requests at proxy p, each within the time
     * that proxy served the request. A connection that no other trial's request used is the
     * trial's alone and drawn whole; a pooled one that others used too is clipped. */
    for (size_t p = 0; p < nproxies && p < 2; p++) {
        size_t upto = s.n;
        json_array_foreach(access[p], i, r)
        {
            uint16_t dport = (uint16_t)jint(r, "dport");
            uint64_t b = jint(r, "start_us"), e = jint(r, "end_us");
            bool mine = false;
            for (size_t k = 0; k < upto && !mine; k++)
                mine = s.v[k].hop == p && s.v[k].client_port == dport &&
                       (!b || (b >= s.v[k].from_us && b <= s.v[k].to_us));
            if (!mine)
                continue;
            if (e < b)
                e = b;
            size_t k;
            const json_t *u;
            json_array_foreach(json_object_get(r, "upstream_ports"), k, u)
            {
                if (json_is_integer(u) &&
                    sels_add(&s, (struct explain_flow_sel){p + 1, (uint16_t)json_integer_value(u),
                                                           b, e, true}) != 0)
                    goto oom;
            }
        }
        json_array_foreach(access[p], i, r)
        {
            uint16_t dport = (uint16_t)jint(r, "dport");
            uint64_t b = jint(r, "start_us");
            bool mine = false;
            for (size_t k = 0; k < upto && !mine; k++)
                mine = s.v[k].hop == p && s.v[k].client_port == dport &&
                       (!b || (b >= s.v[k].from_us && b <= s.v[k].to_us));
            size_t k;
            const json_t *u;
            json_array_foreach(json_object_get(r, "upstream_ports"), k, u)
            {
                for (size_t q = upto; !mine && q < s.n; q++)
                    if (s.v[q].client_port == (uint16_t)json_integer_value(u))
                        s.v[q].whole = false;
            }
        }
    }
    if (s.n && upstream_log && upstream_hop > nproxies &&
        add_tag_sels(&s, records, upstream_log, upstream_hop, trial) != 0)
        goto oom;
    if (!s.n) {
        free(s.v);
        return NULL;
    }
    *n = s.n;
    return s.v;
oom:
    free(s.v);
    *n = 0;
    return NULL;
}

const json_t *metrics_failing_pick(const json_t *cell)
{
    const json_t *pick = NULL, *t;
    size_t i;
    json_array_foreach(json_object_get(cell, "failing_trials"), i, t)
    {
        if (!pick || (json_array_size(json_object_get(t, "rst")) > 0 &&
                      json_array_size(json_object_get(pick, "rst")) == 0))
            pick = t;
    }
    return pick;
}

struct explain_flow_sel *metrics_trial_select(const char *dir, const char *const *nodes,
                                              size_t nnodes, bool access_log, const json_t *records,
                                              long trial, size_t *nsel, uint64_t *from,
                                              uint64_t *to)
{
    char path[PATH_MAX], err[256];
    json_t *access[2] = {NULL, NULL}, *up = NULL;
    size_t np = 0;
    *nsel = 0;
    if (!dir || !records)
        return NULL;
    for (size_t p = 0; access_log && p + 2 < nnodes && p < 2; p++, np++) {
        snprintf(path, sizeof path, "%s/%s.access.jsonl", dir, nodes[p + 1]);
        access[p] = run_read_jsonl(path, err, sizeof err);
    }
    /* Without one (a foreign proxy, --proxy-cmd), the upstream hop through the upstream log's
     * tags of the trial's requests. */
    if (!access_log && nnodes > 2) {
        snprintf(path, sizeof path, "%s/upstream.log", dir);
        up = run_read_jsonl(path, err, sizeof err);
    }
    size_t n = 0, uhop = nnodes > 2 ? nnodes - 2 : 0;
    struct explain_flow_sel *sel = metrics_trial_flows(records, (const json_t *const *)access, np,
                                                       up, uhop, trial, &n, from, to);
    bool tagged = false;
    for (size_t k = 0; k < n; k++)
        tagged = tagged || (uhop > np && sel[k].hop == uhop);
    json_decref(up);
    json_decref(access[0]);
    json_decref(access[1]);
    /* A hop behind the proxy that neither joins to a trial (a chain's middle hop under foreign
     * proxies, every hop without tags) is drawn whole: every flow of it during the trial,
     * pooled ones clipped to it. */
    size_t cap = n; /* metrics_trial_flows allocates exactly n */
    for (size_t h = np + 1; sel && h + 1 < nnodes; h++) {
        if (tagged && h == uhop)
            continue;
        struct explain_flow_sel *v = grow_array(sel, &cap, n + 1, sizeof(*v));
        if (!v)
            break;
        sel = v;
        sel[n++] = (struct explain_flow_sel){h, 0, 0, 0, false};
    }
    *nsel = n;
    return sel;
}
