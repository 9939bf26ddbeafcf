/* explain_text — the model of explain.c as the text racelab explain and racelab repro print: one
 * column per side, one line per row, the notes under their arrow, what each direction sent. */
#include <inttypes.h>
#include <string.h>

#include "explain.h"

#define WIDTH  100 /* no line is wider */
#define TIME_W 12  /* "%10.3f" and two spaces */
#define TAG_W  8   /* "  :65535" after the last column */

struct layout {
    int col[EXPLAIN_MAX_SIDES];
    size_t nsides;
    int tag_col;
};

static void layout(struct layout *l, const struct explain_model *m)
{
    int span = WIDTH - TIME_W - TAG_W - 1;
    int step = m->nsides > 1 ? span / (int)(m->nsides - 1) : span;
    if (step > 30)
        step = 30;
    l->nsides = m->nsides;
    for (size_t i = 0; i < m->nsides; i++)
        l->col[i] = TIME_W + (int)i * step;
    l->tag_col = l->col[m->nsides ? m->nsides - 1 : 0] + 2;
}

static size_t utf8_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
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

static void print_header(FILE *out, const char *path, const struct explain_model *m,
                         const struct layout *l)
{
    const struct analysis_result *r = &m->r;
    fprintf(out, "racelab explain: %s\n", path);
    for (size_t i = 0; i < r->nhops; i++)
        fprintf(out, "  hop :%u  %s -> %s\n", r->hops[i].server_port, r->hops[i].client,
                r->hops[i].server);
    fprintf(out,
            "%zu flow%s, %zu packets shown (pure ACKs hidden); time: ms since the first "
            "one\n",
            m->nflows, m->nflows == 1 ? "" : "s", m->npackets);
    /* pooled connections also carried other requests: say that only a part is drawn */
    if (m->npooled) {
        char line[WIDTH + 1];
        int o = snprintf(line, sizeof line,
                         "pooled (other requests used %s too), drawn only in the selected time:",
                         m->npooled == 1 ? "it" : "them");
        for (size_t i = 0; i < m->npooled; i++) {
            if (o + 7 + 4 > WIDTH) { /* " :65535", and room for " ..." */
                o += snprintf(line + o, sizeof line - (size_t)o, " ...");
                break;
            }
            o += snprintf(line + o, sizeof line - (size_t)o, " :%u", m->pooled[i]);
        }
        fprintf(out, "%s\n", line);
    }
    fputc('\n', out);
    char line[WIDTH + 1];
    memset(line, ' ', WIDTH);
    line[WIDTH] = '\0';
    memcpy(line + 3, "time ms", 7);
    for (size_t i = 0; i < m->nsides; i++) {
        size_t n = strlen(m->side[i]);
        int start = l->col[i] - (int)n / 2;
        if (start < TIME_W - 1)
            start = TIME_W - 1;
        if (start + (int)n > WIDTH)
            n = (size_t)(WIDTH - start);
        memcpy(line + start, m->side[i], n);
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

static void print_row(FILE *out, const struct layout *l, const struct explain_row *row)
{
    char line[WIDTH + 1], label[48], t[32], tag[12];
    int from = l->col[row->from], to = l->col[row->to];
    explain_row_label(label, sizeof label, row);
    blank_line(l, line);
    int tl = snprintf(t, sizeof t, "%10.3f", (double)row->t_us / 1000.0);
    memcpy(line, t, (size_t)(tl < TIME_W - 1 ? tl : TIME_W - 1));
    arrow(line, from, to, label);
    snprintf(tag, sizeof tag, ":%u", row->port);
    memcpy(line + l->tag_col, tag, strlen(tag));
    trim_right(line);
    fprintf(out, "%s\n", line);
    const char *notes[EXPLAIN_MAX_NOTES];
    size_t nn = explain_note_texts(row->notes, row->from_client, notes);
    for (size_t j = 0; j < nn; j++)
        print_note(out, l, (from < to ? from : to) + 3, notes[j]);
}

void explain_sent_name(char *buf, size_t len, const struct explain_model *m,
                       const struct explain_sent *s)
{
    const struct analysis_hop *h = &m->r.hops[s->hop];
    snprintf(buf, len, "%s->%s", s->from_client ? h->client : h->server,
             s->from_client ? h->server : h->client);
}

static void print_summary(FILE *out, const struct explain_model *m)
{
    fprintf(out, "\nsent per direction (A->B: packets sent by A%s):\n",
            m->npooled ? ", as drawn" : "");
    for (size_t k = 0; k < m->nsent; k++) {
        const struct analysis_dir *t = &m->sent[k].d;
        char name[80];
        explain_sent_name(name, sizeof name, m, &m->sent[k]);
        fprintf(out, "  %-24s SYN %" PRIu64 "  FIN %" PRIu64 "  RST %" PRIu64, name, t->syn, t->fin,
                t->rst);
        if (t->rst_after_data || t->rst_abort)
            fprintf(out, " (%" PRIu64 " after late data, %" PRIu64 " abortive)", t->rst_after_data,
                    t->rst_abort);
        fprintf(out, "  data %" PRIu64 " pkts %" PRIu64 " B", t->data_packets, t->data_bytes);
        if (t->data_after_fin)
            fprintf(out, " (%" PRIu64 " after peer FIN)", t->data_after_fin);
        fprintf(out, "\n");
    }
}

void explain_model_print(FILE *out, const char *pcap_path, const struct explain_model *m)
{
    struct layout l;
    layout(&l, m);
    print_header(out, pcap_path, m, &l);
    for (size_t i = 0; i < m->nrows; i++)
        print_row(out, &l, &m->rows[i]);
    print_summary(out, m);
}
