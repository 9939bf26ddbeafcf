/* explain — `racelab explain`: the capture as a sequence diagram an SRE can read in a terminal,
 * with the race named where it happens (the notes the analyser put on the events). Here: what
 * is drawn, as a model (struct explain_model: the sides in order, one row per line, the race
 * notes, what was sent); explain_text.c prints it as text, the report draws it as SVG. */
#include "explain.h"

#include <stdlib.h>
#include <string.h>

#include "grow.h"

/* ---------------------------------------------------------------- sides */

static int side_index(struct explain_model *m, const char *name)
{
    for (size_t i = 0; i < m->nsides; i++)
        if (strcmp(m->side[i], name) == 0)
            return (int)i;
    if (m->nsides == EXPLAIN_MAX_SIDES)
        return -1;
    m->side[m->nsides] = name;
    return (int)m->nsides++;
}

static bool is_server_side(const struct analysis_result *r, const char *name);

/* Follows the hops from name: each side's server comes right after it. */
static int walk(struct explain_model *m, const struct analysis_result *r, const char *name)
{
    for (size_t i = 0; i < r->nhops; i++) {
        const struct analysis_hop *h = &r->hops[i];
        if (strcmp(h->client, name) != 0)
            continue;
        bool placed = false;
        for (size_t k = 0; k < m->nsides; k++)
            placed = placed || strcmp(m->side[k], h->server) == 0;
        if (placed)
            continue;
        if (side_index(m, h->server) < 0 || walk(m, r, h->server) < 0)
            return -1;
    }
    return 0;
}

/* Sides in the order a request travels: from each client that is nobody's server, along the
 * hops (whatever order the hops were given in); then any side left, in hop order. */
static int plan(struct explain_model *m, const struct analysis_result *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->nhops; i++) {
        const char *c = r->hops[i].client;
        if (is_server_side(r, c))
            continue;
        if (side_index(m, c) < 0 || walk(m, r, c) < 0)
            goto many;
    }
    for (size_t i = 0; i < r->nhops; i++)
        if (side_index(m, r->hops[i].client) < 0 || side_index(m, r->hops[i].server) < 0)
            goto many;
    return 0;
many:
    snprintf(err, errlen, "more than %d sides to draw", EXPLAIN_MAX_SIDES);
    return -1;
}

/* ---------------------------------------------------------------- words */

size_t explain_note_texts(unsigned notes, bool from_client, const char **out)
{
    size_t n = 0;
    if (notes & ANALYSIS_NOTE_DATA_AFTER_FIN)
        out[n++] = "request on a half-closed connection (peer FIN seen)";
    if (notes & ANALYSIS_NOTE_DATA_FIN_IN_FLIGHT)
        out[n++] = "sent while the peer's FIN was still held in flight";
    if (notes & ANALYSIS_NOTE_RST_AFTER_DATA)
        out[n++] = "data sent after close() → RST";
    if (notes & ANALYSIS_NOTE_RST_ABORT)
        out[n++] = "close() with unread data (or SO_LINGER 0) → RST instead of FIN";
    if (notes & ANALYSIS_NOTE_FIN_AFTER_RST)
        out[n++] = "RST overtook held FIN (this FIN was sent before the RST)";
    if (notes & ANALYSIS_NOTE_FIN_WITH_DATA)
        out[n++] = from_client ? "FIN with the request's last bytes"
                               : "FIN with the response's last bytes";
    return n;
}

void explain_flags(char *out, size_t n, uint8_t fl)
{
    static const struct {
        uint8_t bit;
        char c;
    } order[] = {{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'}, {0x20, 'U'}, {0x10, '.'}};
    size_t k = 0;
    if (n < 3) {
        if (n)
            out[0] = '\0';
        return;
    }
    out[k++] = '[';
    for (size_t i = 0; i < sizeof order / sizeof order[0] && k + 2 < n; i++)
        if (fl & order[i].bit)
            out[k++] = order[i].c;
    out[k++] = ']';
    out[k] = '\0';
}

void explain_row_label(char *buf, size_t len, const struct explain_row *row)
{
    char fl[12];
    explain_flags(fl, sizeof fl, row->flags);
    if (row->packets > 1)
        snprintf(buf, len, "%s %llu x%zu", fl, (unsigned long long)row->bytes, row->packets);
    else if (row->bytes > 0)
        snprintf(buf, len, "%s %llu", fl, (unsigned long long)row->bytes);
    else
        snprintf(buf, len, "%s", fl);
}

/* ---------------------------------------------------------------- selection and order */

struct item {
    size_t flow, ev;
    uint64_t ts;
};

static int item_cmp(const void *pa, const void *pb)
{
    const struct item *a = pa, *b = pb;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->flow != b->flow)
        return a->flow < b->flow ? -1 : 1;
    return a->ev < b->ev ? -1 : a->ev > b->ev;
}

static bool is_server_side(const struct analysis_result *r, const char *name)
{
    for (size_t i = 0; i < r->nhops; i++)
        if (strcmp(r->hops[i].server, name) == 0)
            return true;
    return false;
}

static bool active_within(const struct analysis_flow *g, uint64_t from, uint64_t to)
{
    for (size_t i = 0; i < g->nevents; i++)
        if (g->events[i].ts_us >= from && g->events[i].ts_us <= to)
            return true;
    return false;
}

/* A part of a flow to draw: its packets between from and to (0 .. UINT64_MAX: all of them). */
struct fwin {
    size_t flow;
    uint64_t from, to;
};

struct wins {
    struct fwin *v;
    size_t n, cap;
};

static int wins_add(struct wins *w, size_t flow, uint64_t from, uint64_t to)
{
    struct fwin *v = grow_array(w->v, &w->cap, w->n + 1, sizeof *v);
    if (!v)
        return -1;
    w->v = v;
    w->v[w->n++] = (struct fwin){flow, from, to};
    return 0;
}

static int fwin_cmp(const void *pa, const void *pb)
{
    const struct fwin *a = pa, *b = pb;
    if (a->flow != b->flow)
        return a->flow < b->flow ? -1 : 1;
    return a->from < b->from ? -1 : a->from > b->from;
}

/* --flow PORT: the flows that carry port, whole; for the outermost client's port also the
 * flows of the other hops that carry packets while it lives (the same trial one hop further),
 * within that time (a pooled one is clipped to it). */
static int select_port(const struct analysis_result *r, uint16_t port, struct wins *w)
{
    bool *whole = calloc(r->nflows ? r->nflows : 1, sizeof *whole);
    if (!whole)
        return -1;
    for (size_t i = 0; i < r->nflows; i++) {
        whole[i] =
            port == 0 || r->flows[i].client_port == port || r->flows[i].hop->server_port == port;
        if (whole[i] && wins_add(w, i, 0, UINT64_MAX) != 0)
            goto oom;
    }
    for (size_t i = 0; port != 0 && i < r->nflows; i++) {
        const struct analysis_flow *f = &r->flows[i];
        if (f->client_port != port || is_server_side(r, f->hop->client))
            continue;
        for (size_t j = 0; j < r->nflows; j++) {
            const struct analysis_flow *g = &r->flows[j];
            if (!whole[j] && g->hop != f->hop && active_within(g, f->first_us, f->last_us) &&
                wins_add(w, j, f->first_us, f->last_us) != 0)
                goto oom;
        }
    }
    free(whole);
    return 0;
oom:
    free(whole);
    return -1;
}

/* The selection of explain_print_flows as windows of flows. */
static int select_sel(const struct analysis_result *r, const struct analysis_hop *hops,
                      size_t nhops, const struct explain_flow_sel *sel, size_t nsel,
                      uint64_t from_us, uint64_t to_us, struct wins *w)
{
    for (size_t k = 0; k < nsel; k++) {
        const struct explain_flow_sel *x = &sel[k];
        const struct analysis_hop *hop = hops ? (x->hop < nhops ? &hops[x->hop] : NULL)
                                              : (x->hop < r->nhops ? &r->hops[x->hop] : NULL);
        if (!hop)
            continue;
        uint64_t from = x->from_us || x->to_us ? x->from_us : from_us;
        uint64_t to = x->from_us || x->to_us ? x->to_us : to_us;
        for (size_t i = 0; i < r->nflows; i++) {
            const struct analysis_flow *f = &r->flows[i];
            if (f->hop->server_port != hop->server_port)
                continue;
            bool hit = x->client_port
                           ? f->client_port == x->client_port && f->first_us <= to &&
                                 f->last_us >= from /* the port's connection of that time */
                           : active_within(f, from, to);
            if (hit && wins_add(w, i, x->whole ? 0 : from, x->whole ? UINT64_MAX : to) != 0)
                return -1;
        }
    }
    return 0;
}

static bool within(uint64_t t, const struct fwin *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t >= w[i].from && t <= w[i].to)
            return true;
    return false;
}

/* A FIN or RST of a pooled flow after one of its windows and before the flow's next payload:
 * the late close of the selection's connection (up to EXPLAIN_LATE_MS later), or what the
 * connection went through before the selection used it again (the upstream's idle close
 * before the reuse), not another request's packet. */
static bool late_close(const struct analysis_flow *f, size_t ev, const struct fwin *w, size_t n)
{
    const struct analysis_event *e = &f->events[ev];
    if (e->len > 0 || !(e->flags & 0x05)) /* FIN 0x01, RST 0x04 */
        return false;
    bool used_later = false;
    for (size_t i = 0; i < n; i++)
        used_later = used_later || w[i].from > e->ts_us;
    for (size_t i = 0; i < n; i++) {
        if (e->ts_us <= w[i].to ||
            (e->ts_us > w[i].to + (uint64_t)EXPLAIN_LATE_MS * 1000u && !used_later))
            continue;
        bool data_between = false;
        for (size_t j = 0; j < ev && !data_between; j++)
            data_between = f->events[j].len > 0 && f->events[j].ts_us > w[i].to;
        if (!data_between)
            return true;
    }
    return false;
}

/* What is drawn: the events of each flow's windows (sorted by flow). A flow whose payload all
 * lies within its windows carried only the selection's requests and is drawn whole; else it
 * is pooled and clipped (clipped[i]). Returns the number of items, or -1 out of memory. */
static long pick_events(const struct analysis_result *r, struct wins *w, bool *on, bool *clipped,
                        struct item **out)
{
    if (w->n > 1)
        qsort(w->v, w->n, sizeof *w->v, fwin_cmp);
    size_t cap = 0, n = 0;
    struct item *items = NULL;
    for (size_t a = 0; a < w->n;) {
        size_t b = a;
        while (b < w->n && w->v[b].flow == w->v[a].flow)
            b++;
        size_t fi = w->v[a].flow;
        const struct analysis_flow *f = &r->flows[fi];
        const struct fwin *fw = &w->v[a];
        size_t nw = b - a;
        bool pooled = false;
        for (size_t e = 0; e < f->nevents && !pooled; e++)
            pooled = f->events[e].len > 0 && !within(f->events[e].ts_us, fw, nw);
        for (size_t e = 0; e < f->nevents; e++) {
            uint64_t ts = f->events[e].ts_us;
            if (pooled && !within(ts, fw, nw) && !late_close(f, e, fw, nw))
                continue;
            struct item *v = grow_array(items, &cap, n + 1, sizeof *v);
            if (!v) {
                free(items);
                return -1;
            }
            items = v;
            items[n++] = (struct item){fi, e, ts};
            on[fi] = true;
        }
        clipped[fi] = pooled && on[fi];
        a = b;
    }
    if (n > 1)
        qsort(items, n, sizeof *items, item_cmp);
    *out = items;
    return (long)n;
}

/* ---------------------------------------------------------------- the model */

/* Consecutive payload of one direction, told the same way (PSH aside: a 64 KiB write is a full
 * segment and a pushed tail), is one line: an upload that goes on after the peer's FIN is one
 * line with its note, not one per segment. */
static bool groupable(const struct analysis_event *a, const struct analysis_event *b)
{
    return a->kind == ANALYSIS_EV_DATA && b->kind == ANALYSIS_EV_DATA && a->notes == b->notes &&
           a->from_client == b->from_client && (a->flags | 0x08) == (b->flags | 0x08) &&
           b->seq == a->seq + a->len;
}

/* What the drawn packets of a clipped flow sent (the analyser's counts cover the whole flow). */
static void count_drawn(struct analysis_dir *d, const struct analysis_event *e)
{
    d->packets++;
    d->syn += (e->flags & 0x02) != 0;
    d->fin += (e->flags & 0x01) != 0;
    d->rst += (e->flags & 0x04) != 0;
    if (e->len > 0) {
        d->data_packets++;
        d->data_bytes += e->len;
    }
    d->data_after_fin += (e->notes & ANALYSIS_NOTE_DATA_AFTER_FIN) != 0;
    d->rst_after_data += (e->notes & ANALYSIS_NOTE_RST_AFTER_DATA) != 0;
    d->rst_abort += (e->notes & ANALYSIS_NOTE_RST_ABORT) != 0;
}

/* Per hop and direction, what the drawn flows sent (a clipped flow: its drawn packets). */
static int model_sent(struct explain_model *m, const bool *on, const bool *clipped,
                      const struct item *items, size_t nitems)
{
    const struct analysis_result *r = &m->r;
    m->sent = calloc(r->nhops * 2 + 1, sizeof *m->sent);
    if (!m->sent)
        return -1;
    for (size_t h = 0; h < r->nhops; h++) {
        for (int dir = 0; dir < 2; dir++) {
            struct explain_sent *s = &m->sent[m->nsent];
            memset(s, 0, sizeof *s);
            size_t n = 0;
            for (size_t i = 0; i < r->nflows; i++) {
                const struct analysis_flow *f = &r->flows[i];
                if (!on[i] || f->hop != &r->hops[h])
                    continue;
                n++;
                if (!clipped[i]) {
                    analysis_dir_add(&s->d, dir == 0 ? &f->c2s : &f->s2c);
                    continue;
                }
                for (size_t k = 0; k < nitems; k++) {
                    const struct analysis_event *e = &f->events[items[k].ev];
                    if (items[k].flow == i && e->from_client == (dir == 0))
                        count_drawn(&s->d, e);
                }
            }
            if (n == 0)
                continue;
            s->hop = h;
            s->from_client = dir == 0;
            m->nsent++;
        }
    }
    return 0;
}

/* The rows: one per packet, a run of plain data in one direction of one flow in one. */
static int model_rows(struct explain_model *m, const struct item *items, size_t nitems)
{
    const struct analysis_result *r = &m->r;
    size_t cap = 0;
    uint64_t t0 = nitems ? items[0].ts : 0;
    for (size_t i = 0; i < nitems;) {
        const struct analysis_flow *f = &r->flows[items[i].flow];
        const struct analysis_event *e = &f->events[items[i].ev];
        size_t run = 1;
        uint64_t bytes = e->len;
        uint8_t flags = e->flags;
        while (i + run < nitems && items[i + run].flow == items[i].flow &&
               groupable(&f->events[items[i + run - 1].ev], &f->events[items[i + run].ev])) {
            bytes += f->events[items[i + run].ev].len;
            flags |= f->events[items[i + run].ev].flags;
            run++;
        }
        struct explain_row *v = grow_array(m->rows, &cap, m->nrows + 1, sizeof *v);
        if (!v)
            return -1;
        m->rows = v;
        int ci = side_index(m, f->hop->client), si = side_index(m, f->hop->server);
        m->rows[m->nrows++] = (struct explain_row){
            .t_us = e->ts_us - t0,
            .from = (size_t)(e->from_client ? ci : si),
            .to = (size_t)(e->from_client ? si : ci),
            .flags = flags,
            .bytes = bytes,
            .packets = run,
            .port = f->client_port,
            .notes = e->notes,
            .from_client = e->from_client,
        };
        i += run;
    }
    return 0;
}

/* The model of the selected windows of m->r. */
static int build(struct explain_model *m, const char *pcap_path, struct wins *w,
                 const char *nothing, char *err, size_t errlen)
{
    const struct analysis_result *r = &m->r;
    int rc = -1;
    size_t nf = r->nflows ? r->nflows : 1;
    bool *on = calloc(nf, sizeof *on), *clipped = calloc(nf, sizeof *clipped);
    struct item *items = NULL;
    long ni = on && clipped ? pick_events(r, w, on, clipped, &items) : -1;
    if (ni < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->nflows; i++)
        m->nflows += on[i];
    if (m->nflows == 0) {
        snprintf(err, errlen, "%s: %s", pcap_path, nothing);
        goto out;
    }
    if (plan(m, r, err, errlen) < 0)
        goto out;
    m->npackets = (size_t)ni;
    m->pooled = calloc(nf, sizeof *m->pooled);
    if (!m->pooled || model_rows(m, items, (size_t)ni) != 0 ||
        model_sent(m, on, clipped, items, (size_t)ni) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->nflows; i++)
        if (clipped[i])
            m->pooled[m->npooled++] = r->flows[i].client_port;
    rc = 0;
out:
    free(items);
    free(on);
    free(clipped);
    return rc;
}

void explain_model_free(struct explain_model *m)
{
    free(m->rows);
    free(m->pooled);
    free(m->sent);
    analysis_free(&m->r);
    memset(m, 0, sizeof *m);
}

int explain_model_port(struct explain_model *m, const char *pcap_path,
                       const struct analysis_hop *hops, size_t nhops, uint16_t flow_port, char *err,
                       size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (analysis_read(pcap_path, hops, hops ? nhops : 0, &m->r, err, errlen) < 0)
        return -1;
    int rc = -1;
    struct wins w = {0};
    char nothing[64];
    if (m->r.nflows == 0) {
        snprintf(err, errlen, "%s: no TCP connection of a known hop in the capture", pcap_path);
        goto out;
    }
    if (select_port(&m->r, flow_port, &w) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(nothing, sizeof nothing, "no flow carries port %u", flow_port);
    rc = build(m, pcap_path, &w, nothing, err, errlen);
out:
    free(w.v);
    if (rc != 0)
        explain_model_free(m);
    return rc;
}

int explain_model_flows(struct explain_model *m, const char *pcap_path,
                        const struct analysis_hop *hops, size_t nhops,
                        const struct explain_flow_sel *sel, size_t nsel, uint64_t from_us,
                        uint64_t to_us, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (analysis_read(pcap_path, hops, hops ? nhops : 0, &m->r, err, errlen) < 0)
        return -1;
    int rc = -1;
    struct wins w = {0};
    if (select_sel(&m->r, hops, hops ? nhops : 0, sel, nsel, from_us, to_us, &w) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = build(m, pcap_path, &w, "no selected flow has a packet in its time window", err, errlen);
out:
    free(w.v);
    if (rc != 0)
        explain_model_free(m);
    return rc;
}

int explain_print(FILE *out, const char *pcap_path, const struct analysis_hop *hops, size_t nhops,
                  uint16_t flow_port, char *err, size_t errlen)
{
    struct explain_model m;
    if (explain_model_port(&m, pcap_path, hops, nhops, flow_port, err, errlen) != 0)
        return -1;
    explain_model_print(out, pcap_path, &m);
    explain_model_free(&m);
    return 0;
}

int explain_print_flows(FILE *out, const char *pcap_path, const struct analysis_hop *hops,
                        size_t nhops, const struct explain_flow_sel *sel, size_t nsel,
                        uint64_t from_us, uint64_t to_us, char *err, size_t errlen)
{
    struct explain_model m;
    if (explain_model_flows(&m, pcap_path, hops, nhops, sel, nsel, from_us, to_us, err, errlen) !=
        0)
        return -1;
    explain_model_print(out, pcap_path, &m);
    explain_model_free(&m);
    return 0;
}
