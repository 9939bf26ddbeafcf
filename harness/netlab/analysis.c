/* analysis — reads a capture offline and says, per hop and direction, who sent which SYN, FIN and
 * RST, and which of them are the races' signatures (data after a FIN, RST answering data sent
 * to a closed socket, a RST overtaking a held FIN). docs/capture.md has the exact definitions.
 *
 * On loopback the capture sees each packet once, when it is sent, and delivery follows at
 * once; so "X had received the peer's FIN" is read as "the peer's FIN comes earlier in the
 * capture". A packet held by a wire fault appears when it is released, i.e. when it really
 * reaches the peer. */
#include "analysis.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "grow.h"
#include "gzf.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

/* One TCP segment as read from the capture. */
struct seg {
    uint64_t ts_us;
    uint8_t saddr[16], daddr[16]; /* IPv4 as ::ffff:a.b.c.d */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint32_t len;
};

/* The analyser's memory of one side of a flow. */
struct side {
    bool isn_known;
    uint32_t isn;
    bool seq_known;
    uint32_t snd_max; /* sequence after everything this side sent (SYN, data, FIN) */
    bool fin_seen, rst_seen, sent_open; /* sent_open: a non-RST packet (it had a connection) */
    uint32_t last_rst_seq;
    bool peer_fin_seen;
    bool peer_snd_known; /* snd_max_at_peer_fin is meaningful */
    uint32_t snd_max_at_peer_fin;
    bool late_data;            /* peer payload arrived after this side closed, not yet answered */
    bool peer_data_since_mine; /* peer payload since this side's last packet */
    size_t peer_data_ev;       /* index of that payload's event */
    size_t rst_trigger_ev;     /* the payload event this side's last RST answered, or SIZE_MAX */
};

struct fstate {
    uint8_t caddr[16], saddr[16];
    struct side c, s;
    size_t capev;
};

struct builder {
    const char *path;
    struct analysis_result *r;
    size_t caphops, capflows;
    struct fstate *fs;
    size_t capfs;
    size_t *table; /* flow index + 1; open addressing over (caddr, cport, saddr, sport) */
    size_t captable;
    char *err;
    size_t errlen;
};

static int32_t sdiff(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b);
}

/* ---------------------------------------------------------------- link and IP layers */

/* n: bytes captured from p; wire: bytes the packet had from p on the wire (n < wire when the
 * capture kept only the headers). Lengths come from the IP header (or the wire), never n. */
static int parse_ip(const uint8_t *p, size_t n, size_t wire, struct seg *s)
{
    if (n < 1)
        return -1;
    const uint8_t *t;
    size_t tavail;
    size_t iplen;
    if ((p[0] >> 4) == 4) {
        if (n < 20)
            return -1;
        size_t ihl = (size_t)(p[0] & 0x0f) * 4;
        if (ihl < 20 || n < ihl || p[9] != 6)
            return -1;
        if ((((size_t)p[6] << 8 | p[7]) & 0x3fff) != 0) /* a fragment: not ours */
            return -1;
        memset(s->saddr, 0, 10);
        memset(s->daddr, 0, 10);
        s->saddr[10] = s->saddr[11] = s->daddr[10] = s->daddr[11] = 0xff;
        memcpy(s->saddr + 12, p + 12, 4);
        memcpy(s->daddr + 12, p + 16, 4);
        size_t tot = (size_t)p[2] << 8 | p[3];
        iplen = tot >= ihl ? tot - ihl : 0;
        if (tot == 0) /* large segments captured before segmentation may carry 0 */
            iplen = wire > ihl ? wire - ihl : 0;
        t = p + ihl;
        tavail = n - ihl;
    } else if ((p[0] >> 4) == 6) {
        if (n < 40 || p[6] != 6) /* TCP right after the fixed header only */
            return -1;
        memcpy(s->saddr, p + 8, 16);
        memcpy(s->daddr, p + 24, 16);
        iplen = (size_t)p[4] << 8 | p[5];
        t = p + 40;
        tavail = n - 40;
    } else {
        return -1;
    }
    if (tavail < 20)
        return -1;
    size_t doff = (size_t)(t[12] >> 4) * 4;
    if (doff < 20 || tavail < doff)
        return -1;
    s->sport = (uint16_t)(t[0] << 8 | t[1]);
    s->dport = (uint16_t)(t[2] << 8 | t[3]);
    s->seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
    s->ack = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 | (uint32_t)t[10] << 8 | t[11];
    s->flags = t[13];
    s->len = iplen > doff ? (uint32_t)(iplen - doff) : 0;
    return 0;
}

/* Returns 0 with s filled, 1 for a packet that is not TCP over IP, -1 for an unsupported link
 * type. */
/* A Linux cooked-capture header of hdr bytes whose protocol (big-endian) at proto says IPv4 or
 * IPv6. */
static bool cooked_ip(const uint8_t *p, size_t n, size_t proto, size_t hdr)
{
    if (n < hdr)
        return false;
    unsigned et = (unsigned)p[proto] << 8 | p[proto + 1];
    return et == 0x0800 || et == 0x86dd;
}

static int parse_frame(int dlt, const uint8_t *p, size_t n, size_t wire, struct seg *s)
{
    size_t off;
    switch (dlt) {
    case DLT_EN10MB: {
        if (n < 14)
            return 1;
        off = 12;
        unsigned et = (unsigned)p[off] << 8 | p[off + 1];
        while ((et == 0x8100 || et == 0x88a8) && n >= off + 6) {
            off += 4;
            et = (unsigned)p[off] << 8 | p[off + 1];
        }
        if (et != 0x0800 && et != 0x86dd)
            return 1;
        off += 2;
        break;
    }
    case DLT_NULL:
    case DLT_LOOP:
        off = 4; /* the address family, in either byte order: the IP version decides */
        break;
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
        off = 0;
        break;
    case DLT_LINUX_SLL: /* cooked header of 16 bytes, the protocol at 14 */
        if (!cooked_ip(p, n, 14, 16))
            return 1;
        off = 16;
        break;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2: /* 20 bytes, the protocol first */
        if (!cooked_ip(p, n, 0, 20))
            return 1;
        off = 20;
        break;
#endif
    default:
        return -1;
    }
    if (n < off)
        return 1;
    return parse_ip(p + off, n - off, wire > off ? wire - off : 0, s) < 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- reading */

typedef int (*seg_fn)(struct builder *b, const struct seg *s);

static int each_segment(struct builder *b, seg_fn fn, uint64_t *skipped)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = gzf_pcap_open(b->path, ebuf);
    if (!p) {
        if (strstr(ebuf, b->path))
            snprintf(b->err, b->errlen, "%s", ebuf);
        else if (strstr(ebuf, "unknown file format"))
            snprintf(b->err, b->errlen, "%s: not a pcap or pcapng capture", b->path);
        else
            snprintf(b->err, b->errlen, "%s: %s", b->path, ebuf);
        return -1;
    }
    int rc = -1;
    int dlt = pcap_datalink(p);
    unsigned long long npkts = 0;
    struct pcap_pkthdr *h;
    const u_char *bytes;
    for (;;) {
        int n = pcap_next_ex(p, &h, &bytes);
        if (n == PCAP_ERROR_BREAK)
            break;
        if (n < 0) {
            snprintf(b->err, b->errlen, "%s: cut short after %llu packets (%s)", b->path,
                     (unsigned long long)npkts, pcap_geterr(p));
            goto out;
        }
        npkts++;
        struct seg s;
        memset(&s, 0, sizeof s);
        int k = parse_frame(dlt, bytes, h->caplen, h->len > h->caplen ? h->len : h->caplen, &s);
        if (k < 0) {
            const char *name = pcap_datalink_val_to_name(dlt);
            snprintf(b->err, b->errlen, "%s: unsupported link type %d (%s)", b->path, dlt,
                     name ? name : "unknown");
            goto out;
        }
        if (k > 0) {
            if (skipped)
                (*skipped)++;
            continue;
        }
        s.ts_us = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
        if (fn(b, &s) < 0)
            goto out;
    }
    rc = 0;
out:
    pcap_close(p);
    return rc;
}

static int oom(struct builder *b)
{
    snprintf(b->err, b->errlen, "%s: out of memory", b->path);
    return -1;
}

static char *dupname(const char *prefix, uint16_t port)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%s:%u", prefix, port);
    return strdup(buf);
}

static int add_hop(struct builder *b, uint16_t port, char *client, char *server)
{
    struct analysis_result *r = b->r;
    if (!client || !server) {
        free(client);
        free(server);
        return oom(b);
    }
    struct analysis_hop *n = grow_array(r->hops, &b->caphops, r->nhops + 1, sizeof *n);
    if (!n) {
        free(client);
        free(server);
        return oom(b);
    }
    r->hops = n;
    r->hops[r->nhops++] = (struct analysis_hop){port, client, server};
    return 0;
}

/* First pass when no hops are given: every port that received a connection attempt. */
static int infer_hop(struct builder *b, const struct seg *s)
{
    if ((s->flags & (TH_SYN | TH_ACK)) != TH_SYN)
        return 0;
    for (size_t i = 0; i < b->r->nhops; i++)
        if (b->r->hops[i].server_port == s->dport)
            return 0;
    return add_hop(b, s->dport, dupname("client", s->dport), dupname("server", s->dport));
}

static const struct analysis_hop *hop_of(const struct analysis_result *r, uint16_t port)
{
    for (size_t i = 0; i < r->nhops; i++)
        if (r->hops[i].server_port == port)
            return &r->hops[i];
    return NULL;
}

/* ---------------------------------------------------------------- flows */

static size_t key_hash(const uint8_t *ca, uint16_t cp, const uint8_t *sa, uint16_t sp)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ ca[i]) * 1099511628211ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ sa[i]) * 1099511628211ull;
    h = (h ^ cp) * 1099511628211ull;
    h = (h ^ sp) * 1099511628211ull;
    return (size_t)(h ^ (h >> 32));
}

static bool key_eq(const struct builder *b, size_t fi, const uint8_t *ca, uint16_t cp,
                   const uint8_t *sa, uint16_t sp)
{
    const struct analysis_flow *f = &b->r->flows[fi];
    const struct fstate *st = &b->fs[fi];
    return f->client_port == cp && f->hop->server_port == sp && memcmp(st->caddr, ca, 16) == 0 &&
           memcmp(st->saddr, sa, 16) == 0;
}

/* The table slot of the key: either holding its flow, or empty. */
static size_t *slot(struct builder *b, const uint8_t *ca, uint16_t cp, const uint8_t *sa,
                    uint16_t sp)
{
    size_t mask = b->captable - 1;
    for (size_t i = key_hash(ca, cp, sa, sp) & mask;; i = (i + 1) & mask) {
        size_t v = b->table[i];
        if (v == 0 || key_eq(b, v - 1, ca, cp, sa, sp))
            return &b->table[i];
    }
}

static int grow_table(struct builder *b)
{
    size_t ncap = b->captable ? b->captable * 2 : 1024;
    size_t *old = b->table;
    size_t oldcap = b->captable;
    b->table = calloc(ncap, sizeof *b->table);
    if (!b->table) {
        b->table = old;
        return oom(b);
    }
    b->captable = ncap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i] == 0)
            continue;
        size_t fi = old[i] - 1;
        const struct analysis_flow *f = &b->r->flows[fi];
        *slot(b, b->fs[fi].caddr, f->client_port, b->fs[fi].saddr, f->hop->server_port) = old[i];
    }
    free(old);
    return 0;
}

static struct analysis_flow *new_flow(struct builder *b, const struct analysis_hop *hop,
                                      const uint8_t *ca, uint16_t cp, const uint8_t *sa,
                                      size_t *slotp_out)
{
    struct analysis_result *r = b->r;
    struct analysis_flow *nf = grow_array(r->flows, &b->capflows, r->nflows + 1, sizeof *nf);
    if (!nf)
        return NULL;
    r->flows = nf;
    struct fstate *ns = grow_array(b->fs, &b->capfs, r->nflows + 1, sizeof *ns);
    if (!ns)
        return NULL;
    b->fs = ns;
    size_t fi = r->nflows++;
    struct analysis_flow *f = &r->flows[fi];
    memset(f, 0, sizeof *f);
    f->hop = hop;
    f->client_port = cp;
    struct fstate *st = &b->fs[fi];
    memset(st, 0, sizeof *st);
    memcpy(st->caddr, ca, 16);
    memcpy(st->saddr, sa, 16);
    *slotp_out = fi + 1;
    return f;
}

static int add_event(struct builder *b, size_t fi, const struct seg *s, enum analysis_ev_kind kind,
                     bool from_client)
{
    struct analysis_flow *f = &b->r->flows[fi];
    struct fstate *st = &b->fs[fi];
    struct analysis_event *n = grow_array(f->events, &st->capev, f->nevents + 1, sizeof *n);
    if (!n)
        return oom(b);
    f->events = n;
    f->events[f->nevents++] = (struct analysis_event){
        .ts_us = s->ts_us,
        .kind = kind,
        .from_client = from_client,
        .len = s->len,
        .flags = s->flags,
        .seq = s->seq,
        .ack = s->ack,
        .notes = 0,
    };
    return 0;
}

/* The flow a segment belongs to (created when new), and its direction; -1 on error, 1 when
 * it belongs to no hop. */
static int locate(struct builder *b, const struct seg *s, size_t *fi, bool *from_client)
{
    if ((b->r->nflows + 1) * 2 > b->captable && grow_table(b) < 0)
        return -1;
    size_t *fwd = slot(b, s->saddr, s->sport, s->daddr, s->dport); /* sender is the client */
    size_t *rev = slot(b, s->daddr, s->dport, s->saddr, s->sport); /* sender is the server */
    bool pure_syn = (s->flags & (TH_SYN | TH_ACK)) == TH_SYN;
    if (*fwd) {
        size_t i = *fwd - 1;
        const struct side *c = &b->fs[i].c;
        /* A SYN with another initial sequence number on a known 4-tuple is a new connection
         * (the port was reused); with the same one it is a retransmission. */
        if (!pure_syn || (c->isn_known && c->isn == s->seq)) {
            *fi = i;
            *from_client = true;
            return 0;
        }
    } else if (*rev && !pure_syn) {
        *fi = *rev - 1;
        *from_client = false;
        return 0;
    }
    const struct analysis_hop *hd = hop_of(b->r, s->dport), *hs = hop_of(b->r, s->sport);
    const struct analysis_hop *hop;
    bool client_sends;
    if (pure_syn || hd) { /* a SYN always comes from the client; else prefer the listener */
        hop = hd;
        client_sends = true;
    } else {
        hop = hs;
        client_sends = false;
    }
    if (!hop)
        return 1;
    size_t v;
    struct analysis_flow *f = client_sends ? new_flow(b, hop, s->saddr, s->sport, s->daddr, &v)
                                           : new_flow(b, hop, s->daddr, s->dport, s->saddr, &v);
    if (!f)
        return oom(b);
    /* the table may not have moved (flows are indexed, not pointed to) */
    *(client_sends ? fwd : rev) = v;
    *fi = v - 1;
    *from_client = client_sends;
    return 0;
}

/* How a RST is classified. Linux sends two kinds (net/ipv4/tcp_ipv4.c, tcp_output.c):
 *   [R.] (with ACK) from tcp_send_active_reset(): the application aborted a live connection
 *        — close() with unread input, SO_LINGER {1,0};
 *   [R]  (no ACK) from tcp_v4_send_reset(): the stack rejects a segment that carried an ACK,
 *        e.g. data arriving after close() (FIN_WAIT with the read side shut, or no socket).
 * The second kind, answering the peer's payload, is "data sent after close() → RST" — even
 * when the closing side's FIN is not in the capture yet because a wire fault holds it. */
static void count_rst(struct analysis_dir *d, struct side *x, const struct side *y,
                      struct analysis_flow *f, size_t ev, const struct seg *s)
{
    bool closed = x->fin_seen || x->rst_seen;
    bool has_ack = s->flags & TH_ACK;
    if ((closed && x->late_data) || (!has_ack && x->peer_data_since_mine)) {
        d->rst_after_data++;
        f->events[ev].notes |= ANALYSIS_NOTE_RST_AFTER_DATA;
        x->late_data = false;
        x->rst_trigger_ev = x->peer_data_since_mine ? x->peer_data_ev : SIZE_MAX;
    } else if (has_ack && !closed && x->sent_open && !y->rst_seen) {
        d->rst_abort++;
        f->events[ev].notes |= ANALYSIS_NOTE_RST_ABORT;
        x->rst_trigger_ev = SIZE_MAX;
    } else {
        x->rst_trigger_ev = SIZE_MAX;
    }
    if (!d->first_rst_us)
        d->first_rst_us = s->ts_us;
    x->rst_seen = true;
    x->last_rst_seq = s->seq;
}

static int add_segment(struct builder *b, const struct seg *s)
{
    struct analysis_result *r = b->r;
    r->packets++;
    if (!r->first_us)
        r->first_us = s->ts_us;
    r->last_us = s->ts_us;
    size_t fi;
    bool fc;
    int k = locate(b, s, &fi, &fc);
    if (k < 0)
        return -1;
    if (k > 0) {
        r->unmatched++;
        return 0;
    }
    struct analysis_flow *f = &r->flows[fi];
    struct fstate *st = &b->fs[fi];
    struct analysis_dir *d = fc ? &f->c2s : &f->s2c;
    struct side *x = fc ? &st->c : &st->s;
    struct side *y = fc ? &st->s : &st->c;
    if (!f->first_us)
        f->first_us = s->ts_us;
    f->last_us = s->ts_us;

    bool syn = s->flags & TH_SYN, fin = s->flags & TH_FIN, rst = s->flags & TH_RST;
    enum analysis_ev_kind kind = rst   ? ANALYSIS_EV_RST
                                 : fin ? ANALYSIS_EV_FIN
                                 : syn ? ANALYSIS_EV_SYN
                                       : ANALYSIS_EV_DATA;
    size_t ev = f->nevents;
    if ((rst || fin || syn || s->len > 0) && add_event(b, fi, s, kind, fc) < 0)
        return -1;

    d->packets++;
    if (syn) {
        d->syn++;
        if (!x->isn_known) {
            x->isn_known = true;
            x->isn = s->seq;
        }
    }
    if (s->len > 0) {
        d->data_packets++;
        d->data_bytes += s->len;
        uint32_t end = s->seq + s->len;
        if (x->peer_fin_seen && (!x->peer_snd_known || sdiff(end, x->snd_max_at_peer_fin) > 0)) {
            d->data_after_fin++;
            f->events[ev].notes |= ANALYSIS_NOTE_DATA_AFTER_FIN;
        }
        if (y->fin_seen || y->rst_seen)
            y->late_data = true;
        y->peer_data_since_mine = true;
        y->peer_data_ev = ev;
    }
    if (rst) {
        d->rst++;
        count_rst(d, x, y, f, ev, s);
    }
    if (fin) {
        d->fin++;
        if (!d->first_fin_us)
            d->first_fin_us = s->ts_us;
        /* sent before the RST (its sequence number is not past the RST's) yet seen after it:
         * it was held, and the RST overtook it */
        if (x->rst_seen && sdiff(x->last_rst_seq, s->seq) >= 0) {
            f->events[ev].notes |= ANALYSIS_NOTE_FIN_AFTER_RST;
            if (x->rst_trigger_ev != SIZE_MAX)
                f->events[x->rst_trigger_ev].notes |= ANALYSIS_NOTE_DATA_FIN_IN_FLIGHT;
        }
        if (s->len > 0)
            f->events[ev].notes |= ANALYSIS_NOTE_FIN_WITH_DATA;
        if (!x->fin_seen) {
            x->fin_seen = true;
            y->peer_fin_seen = true;
            y->peer_snd_known = y->seq_known;
            y->snd_max_at_peer_fin = y->snd_max;
        }
    }
    if (!rst) {
        uint32_t end = s->seq + s->len + (syn ? 1u : 0u) + (fin ? 1u : 0u);
        if (!x->seq_known || sdiff(end, x->snd_max) > 0)
            x->snd_max = end;
        x->seq_known = true;
        x->sent_open = true;
    }
    x->peer_data_since_mine = false;
    return 0;
}

/* ---------------------------------------------------------------- totals and API */

#define COUNTER_ENTRY(field, help) {#field, help, offsetof(struct analysis_dir, field)},
const struct analysis_counter analysis_counters[ANALYSIS_NCOUNTERS] = {
    ANALYSIS_COUNTERS(COUNTER_ENTRY)};

uint64_t analysis_dir_count(const struct analysis_dir *d, size_t k)
{
    uint64_t v;
    memcpy(&v, (const char *)d + analysis_counters[k].offset, sizeof v);
    return v;
}

void analysis_dir_add(struct analysis_dir *sum, const struct analysis_dir *d)
{
#define ADD(field, help) sum->field += d->field;
    ANALYSIS_COUNTERS(ADD)
#undef ADD
}

static void add_total(struct analysis_dir_total *t, const struct analysis_dir *d)
{
#define ADD(field, help) t->field += d->field;
    ANALYSIS_COUNTERS(ADD)
#undef ADD
}

static int totals(struct builder *b)
{
    struct analysis_result *r = b->r;
    r->ndirs = r->nhops * 2;
    r->dirs = calloc(r->ndirs ? r->ndirs : 1, sizeof *r->dirs);
    if (!r->dirs)
        return oom(b);
    for (size_t i = 0; i < r->nhops; i++) {
        snprintf(r->dirs[2 * i].name, sizeof r->dirs[0].name, "%s->%s", r->hops[i].client,
                 r->hops[i].server);
        snprintf(r->dirs[2 * i + 1].name, sizeof r->dirs[0].name, "%s->%s", r->hops[i].server,
                 r->hops[i].client);
    }
    for (size_t i = 0; i < r->nflows; i++) {
        const struct analysis_flow *f = &r->flows[i];
        size_t h = (size_t)(f->hop - r->hops);
        add_total(&r->dirs[2 * h], &f->c2s);
        add_total(&r->dirs[2 * h + 1], &f->s2c);
    }
    return 0;
}

int analysis_read(const char *path, const struct analysis_hop *hops, size_t nhops,
                  struct analysis_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct builder b = {.path = path, .r = out, .err = err, .errlen = errlen};
    int rc = -1;
    if (hops) {
        for (size_t i = 0; i < nhops; i++)
            if (add_hop(&b, hops[i].server_port, strdup(hops[i].client ? hops[i].client : "?"),
                        strdup(hops[i].server ? hops[i].server : "?")) < 0)
                goto out;
    } else if (each_segment(&b, infer_hop, NULL) < 0) {
        goto out;
    }
    if (each_segment(&b, add_segment, &out->skipped) < 0 || totals(&b) < 0)
        goto out;
    rc = 0;
out:
    free(b.fs);
    free(b.table);
    if (rc < 0)
        analysis_free(out);
    return rc;
}

const struct analysis_flow *analysis_find(const struct analysis_result *r,
                                          const struct analysis_hop *hop, uint16_t client_port)
{
    for (size_t i = r->nflows; i-- > 0;)
        if (r->flows[i].client_port == client_port &&
            r->flows[i].hop->server_port == hop->server_port)
            return &r->flows[i];
    return NULL;
}

void analysis_free(struct analysis_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nflows; i++)
        free(r->flows[i].events);
    free(r->flows);
    free(r->dirs);
    for (size_t i = 0; i < r->nhops; i++) {
        free((char *)r->hops[i].client);
        free((char *)r->hops[i].server);
    }
    free(r->hops);
    memset(r, 0, sizeof *r);
}
