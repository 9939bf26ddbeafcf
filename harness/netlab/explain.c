/* explain — `racelab explain`: the capture as a sequence diagram an SRE can read in a terminal,
 * with the race named where it happens (the notes the analyser put on the events). */
#include "explain.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

#define WIDTH     100 /* no line is wider */
#define TIME_W    12  /* "%10.3f" and two spaces */
#define TAG_W     8   /* "  :65535" after the last column */
#define MAX_SIDES 16

/* ---------------------------------------------------------------- layout */

struct layout {
    const char *side[MAX_SIDES];
    size_t nsides;
    int col[MAX_SIDES];
    int step;
    int tag_col;
};

static int side_index(struct layout *l, const char *name)
{
    for (size_t i = 0; i < l->nsides; i++)
        if (strcmp(l->side[i], name) == 0)
            return (int)i;
    if (l->nsides == MAX_SIDES)
        return -1;
    l->side[l->nsides] = name;
    return (int)l->nsides++;
}

static bool is_server_side(const struct analysis_result *r, const char *name);

/* Follows the hops from name: each side's server comes right after it. */
static int walk(struct layout *l, const struct analysis_result *r, const char *name)
{
    for (size_t i = 0; i < r->nhops; i++) {
        const struct analysis_hop *h = &r->hops[i];
        if (strcmp(h->client, name) != 0)
            continue;
        bool placed = false;
        for (size_t k = 0; k < l->nsides; k++)
            placed = placed || strcmp(l->side[k], h->server) == 0;
        if (placed)
            continue;
        if (side_index(l, h->server) < 0 || walk(l, r, h->server) < 0)
            return -1;
    }
    return 0;
}

/* Columns in the order a request travels: from each client that is nobody's server, along
 * the hops (whatever order the hops were given in); then any side left, in hop order. */
static int plan(struct layout *l, const struct analysis_result *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->nhops; i++) {
        const char *c = r->hops[i].client;
        if (is_server_side(r, c))
            continue;
        if (side_index(l, c) < 0 || walk(l, r, c) < 0)
            goto many;
    }
    for (size_t i = 0; i < r->nhops; i++)
        if (side_index(l, r->hops[i].client) < 0 || side_index(l, r->hops[i].server) < 0)
            goto many;
    int span = WIDTH - TIME_W - TAG_W - 1;
    l->step = l->nsides > 1 ? span / (int)(l->nsides - 1) : span;
    if (l->step > 30)
        l->step = 30;
    for (size_t i = 0; i < l->nsides; i++)
        l->col[i] = TIME_W + (int)i * l->step;
    l->tag_col = l->col[l->nsides ? l->nsides - 1 : 0] + 2;
    return 0;
many:
    snprintf(err, errlen, "more than %d sides to draw", MAX_SIDES);
    return -1;
}

static size_t utf8_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static void flags_str(char *out, size_t n, uint8_t fl)
{
    static const struct {
        uint8_t bit;
        char c;
    } order[] = {{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'}, {0x20, 'U'}, {0x10, '.'}};
    size_t k = 0;
    out[k++] = '[';
    for (size_t i = 0; i < sizeof order / sizeof order[0] && k + 2 < n; i++)
        if (fl & order[i].bit)
            out[k++] = order[i].c;
    out[k++] = ']';
    out[k] = '\0';
}

static void blank_line(const struct layout *l, char *buf)
{
    memset(buf, ' ', WIDTH);
    buf[WIDTH] = '\0';
    for (size_t i = 0; i < l->nsides; i++)
        buf[l->col[i]] = '|';
}

static void trim_right(char *buf)
{
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
}

/* Draws an arrow from column a to column b with label on it. */
static void arrow(char *buf, int a, int b, const char *label)
{
    int lo = a < b ? a : b, hi = a < b ? b : a;
    for (int x = lo + 1; x < hi; x++)
        buf[x] = '-';
    if (a < b)
        buf[hi - 1] = '>';
    else
        buf[lo + 1] = '<';
    int room = hi - lo - 5; /* keep both ends of the arrow visible */
    int len = (int)strlen(label);
    if (room <= 0)
        return;
    if (len > room)
        len = room;
    int start = a < b ? lo + 3 : hi - 2 - len;
    memcpy(buf + start, label, (size_t)len);
}

/* ---------------------------------------------------------------- notes */

static void note_texts(const struct analysis_event *e, const char **out, size_t *n)
{
    *n = 0;
    if (e->notes & ANALYSIS_NOTE_DATA_AFTER_FIN)
        out[(*n)++] = "request on a half-closed connection (peer FIN seen)";
    if (e->notes & ANALYSIS_NOTE_DATA_FIN_IN_FLIGHT)
        out[(*n)++] = "sent while the peer's FIN was still held in flight";
    if (e->notes & ANALYSIS_NOTE_RST_AFTER_DATA)
        out[(*n)++] = "data sent after close() → RST";
    if (e->notes & ANALYSIS_NOTE_RST_ABORT)
        out[(*n)++] = "close() with unread data (or SO_LINGER 0) → RST instead of FIN";
    if (e->notes & ANALYSIS_NOTE_FIN_AFTER_RST)
        out[(*n)++] = "RST overtook held FIN (this FIN was sent before the RST)";
    if (e->notes & ANALYSIS_NOTE_FIN_WITH_DATA)
        out[(*n)++] = e->from_client ? "FIN with the request's last bytes"
                                     : "FIN with the response's last bytes";
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

/* ---------------------------------------------------------------- printing */

static void print_header(FILE *out, const char *path, const struct analysis_result *r,
                         const struct layout *l, size_t nflows, size_t nev, const bool *clipped)
{
    fprintf(out, "racelab explain: %s\n", path);
    for (size_t i = 0; i < r->nhops; i++)
        fprintf(out, "  hop :%u  %s -> %s\n", r->hops[i].server_port, r->hops[i].client,
                r->hops[i].server);
    fprintf(out,
            "%zu flow%s, %zu packets shown (pure ACKs hidden); time: ms since the first "
            "one\n",
            nflows, nflows == 1 ? "" : "s", nev);
    /* pooled connections also carried other requests: say that only a part is drawn */
    size_t npooled = 0;
    for (size_t i = 0; i < r->nflows; i++)
        npooled += clipped[i];
    if (npooled) {
        char line[WIDTH + 1];
        int o = snprintf(line, sizeof line,
                         "pooled (other requests used %s too), drawn only in the selected time:",
                         npooled == 1 ? "it" : "them");
        for (size_t i = 0; i < r->nflows; i++) {
            if (!clipped[i])
                continue;
            if (o + 7 + 4 > WIDTH) { /* " :65535", and room for " ..." */
                o += snprintf(line + o, sizeof line - (size_t)o, " ...");
                break;
            }
            o += snprintf(line + o, sizeof line - (size_t)o, " :%u", r->flows[i].client_port);
        }
        fprintf(out, "%s\n", line);
    }
    fputc('\n', out);
    char line[WIDTH + 1];
    memset(line, ' ', WIDTH);
    line[WIDTH] = '\0';
    memcpy(line + 3, "time ms", 7);
    for (size_t i = 0; i < l->nsides; i++) {
        size_t n = strlen(l->side[i]);
        int start = l->col[i] - (int)n / 2;
        if (start < TIME_W - 1)
            start = TIME_W - 1;
        if (start + (int)n > WIDTH)
            n = (size_t)(WIDTH - start);
        memcpy(line + start, l->side[i], n);
    }
    trim_right(line);
    fprintf(out, "%s\n", line);
    blank_line(l, line);
    memcpy(line + l->tag_col, "port", 4);
    trim_right(line);
    fprintf(out, "%s\n", line);
}

static void print_note(FILE *out, const struct layout *l, int at, const char *text)
{
    char line[WIDTH + 1];
    blank_line(l, line);
    size_t w = utf8_width(text) + 2;
    if (at + (int)w > WIDTH)
        at = WIDTH - (int)w;
    if (at < 0)
        at = 0;
    line[at] = '\0';
    fprintf(out, "%s^ %s\n", line, text);
}

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

static void print_summary(FILE *out, const struct analysis_result *r, const bool *on,
                          const bool *clipped, const struct item *items, size_t nitems)
{
    bool any_clipped = false;
    for (size_t i = 0; i < r->nflows; i++)
        any_clipped = any_clipped || clipped[i];
    fprintf(out, "\nsent per direction (A->B: packets sent by A%s):\n",
            any_clipped ? ", as drawn" : "");
    for (size_t h = 0; h < r->nhops; h++) {
        for (int dir = 0; dir < 2; dir++) {
            struct analysis_dir t;
            memset(&t, 0, sizeof t);
            size_t n = 0;
            for (size_t i = 0; i < r->nflows; i++) {
                const struct analysis_flow *f = &r->flows[i];
                if (!on[i] || f->hop != &r->hops[h])
                    continue;
                n++;
                if (!clipped[i]) {
                    analysis_dir_add(&t, dir == 0 ? &f->c2s : &f->s2c);
                    continue;
                }
                for (size_t k = 0; k < nitems; k++) {
                    const struct analysis_event *e = &f->events[items[k].ev];
                    if (items[k].flow == i && e->from_client == (dir == 0))
                        count_drawn(&t, e);
                }
            }
            if (n == 0)
                continue;
            char name[80];
            snprintf(name, sizeof name, "%s->%s", dir == 0 ? r->hops[h].client : r->hops[h].server,
                     dir == 0 ? r->hops[h].server : r->hops[h].client);
            fprintf(out, "  %-24s SYN %" PRIu64 "  FIN %" PRIu64 "  RST %" PRIu64, name, t.syn,
                    t.fin, t.rst);
            if (t.rst_after_data || t.rst_abort)
                fprintf(out, " (%" PRIu64 " after late data, %" PRIu64 " abortive)",
                        t.rst_after_data, t.rst_abort);
            fprintf(out, "  data %" PRIu64 " pkts %" PRIu64 " B", t.data_packets, t.data_bytes);
            if (t.data_after_fin)
                fprintf(out, " (%" PRIu64 " after peer FIN)", t.data_after_fin);
            fprintf(out, "\n");
        }
    }
}

/* Draws the selected windows of r (freed by the caller). */
static int draw(FILE *out, const char *pcap_path, const struct analysis_result *r, struct wins *w,
                const char *nothing, char *err, size_t errlen)
{
    int rc = -1;
    size_t nf = r->nflows ? r->nflows : 1;
    bool *on = calloc(nf, sizeof *on), *clipped = calloc(nf, sizeof *clipped);
    struct item *items = NULL;
    struct layout l;
    memset(&l, 0, sizeof l);
    if (!on || !clipped) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    long ni = pick_events(r, w, on, clipped, &items);
    if (ni < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    size_t nitems = (size_t)ni, nflows = 0;
    for (size_t i = 0; i < r->nflows; i++)
        nflows += on[i];
    if (nflows == 0) {
        snprintf(err, errlen, "%s: %s", pcap_path, nothing);
        goto out;
    }
    if (plan(&l, r, err, errlen) < 0)
        goto out;

    print_header(out, pcap_path, r, &l, nflows, nitems, clipped);
    uint64_t t0 = nitems ? items[0].ts : 0;
    char line[WIDTH + 1];
    for (size_t i = 0; i < nitems;) {
        const struct analysis_flow *f = &r->flows[items[i].flow];
        const struct analysis_event *e = &f->events[items[i].ev];
        /* a run of plain data in one direction of one flow is one line */
        size_t run = 1;
        uint64_t bytes = e->len;
        uint8_t flags = e->flags;
        while (i + run < nitems && items[i + run].flow == items[i].flow &&
               groupable(&f->events[items[i + run - 1].ev], &f->events[items[i + run].ev])) {
            bytes += f->events[items[i + run].ev].len;
            flags |= f->events[items[i + run].ev].flags;
            run++;
        }
        int ci = side_index(&l, f->hop->client), si = side_index(&l, f->hop->server);
        int from = e->from_client ? l.col[ci] : l.col[si];
        int to = e->from_client ? l.col[si] : l.col[ci];
        char label[48], fl[12];
        flags_str(fl, sizeof fl, flags);
        if (run > 1)
            snprintf(label, sizeof label, "%s %llu x%zu", fl, (unsigned long long)bytes, run);
        else if (e->len > 0)
            snprintf(label, sizeof label, "%s %u", fl, e->len);
        else
            snprintf(label, sizeof label, "%s", fl);
        blank_line(&l, line);
        char t[16];
        int tl = snprintf(t, sizeof t, "%10.3f", (double)(e->ts_us - t0) / 1000.0);
        memcpy(line, t, (size_t)(tl < TIME_W - 1 ? tl : TIME_W - 1));
        arrow(line, from, to, label);
        char tag[12];
        snprintf(tag, sizeof tag, ":%u", f->client_port);
        memcpy(line + l.tag_col, tag, strlen(tag));
        trim_right(line);
        fprintf(out, "%s\n", line);
        const char *notes[8];
        size_t nn;
        note_texts(e, notes, &nn);
        for (size_t j = 0; j < nn; j++)
            print_note(out, &l, (from < to ? from : to) + 3, notes[j]);
        i += run;
    }
    print_summary(out, r, on, clipped, items, nitems);
    rc = 0;
out:
    free(items);
    free(on);
    free(clipped);
    return rc;
}

int explain_print(FILE *out, const char *pcap_path, const struct analysis_hop *hops, size_t nhops,
                  uint16_t flow_port, char *err, size_t errlen)
{
    struct analysis_result r;
    if (analysis_read(pcap_path, hops, hops ? nhops : 0, &r, err, errlen) < 0)
        return -1;
    int rc = -1;
    struct wins w = {0};
    char nothing[64];
    if (r.nflows == 0) {
        snprintf(err, errlen, "%s: no TCP connection of a known hop in the capture", pcap_path);
        goto out;
    }
    if (select_port(&r, flow_port, &w) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(nothing, sizeof nothing, "no flow carries port %u", flow_port);
    rc = draw(out, pcap_path, &r, &w, nothing, err, errlen);
out:
    free(w.v);
    analysis_free(&r);
    return rc;
}

int explain_print_flows(FILE *out, const char *pcap_path, const struct analysis_hop *hops,
                        size_t nhops, const struct explain_flow_sel *sel, size_t nsel,
                        uint64_t from_us, uint64_t to_us, char *err, size_t errlen)
{
    struct analysis_result r;
    if (analysis_read(pcap_path, hops, hops ? nhops : 0, &r, err, errlen) < 0)
        return -1;
    int rc = -1;
    struct wins w = {0};
    if (select_sel(&r, hops, hops ? nhops : 0, sel, nsel, from_us, to_us, &w) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = draw(out, pcap_path, &r, &w, "no selected flow has a packet in its time window", err,
              errlen);
out:
    free(w.v);
    analysis_free(&r);
    return rc;
}
