/* analysis, on captures built byte by byte: every link type a capture may come with, each counter
 * and note on a packet sequence whose answer is known, flows (reuse, retransmitted SYN,
 * unmatched), and files that are not (whole) pcaps — an error naming the file, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "analysis.h"
#include "tsup.h"

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

#define CPORT 40000
#define SPORT 8000

static char *dir;

struct pkt {
    bool from_client;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t len;
    uint16_t cport; /* 0 = CPORT */
};

static size_t put_ip_tcp(uint8_t *b, bool v6, const struct pkt *p)
{
    uint16_t cport = p->cport ? p->cport : CPORT;
    uint16_t sp = p->from_client ? cport : SPORT, dp = p->from_client ? SPORT : cport;
    size_t ip = v6 ? 40 : 20, tcp = 20;
    memset(b, 0, ip + tcp + p->len);
    if (v6) {
        b[0] = 0x60;
        b[4] = (uint8_t)((tcp + p->len) >> 8);
        b[5] = (uint8_t)(tcp + p->len);
        b[6] = 6;
        b[7] = 64;
        b[23] = 1; /* ::1 */
        b[39] = 1;
    } else {
        size_t tot = ip + tcp + p->len;
        b[0] = 0x45;
        b[2] = (uint8_t)(tot >> 8);
        b[3] = (uint8_t)tot;
        b[6] = 0x40; /* DF */
        b[8] = 64;
        b[9] = 6;
        b[12] = b[16] = 127;
        b[15] = b[19] = 1;
    }
    uint8_t *t = b + ip;
    t[0] = (uint8_t)(sp >> 8);
    t[1] = (uint8_t)sp;
    t[2] = (uint8_t)(dp >> 8);
    t[3] = (uint8_t)dp;
    for (int i = 0; i < 4; i++) {
        t[4 + i] = (uint8_t)(p->seq >> (24 - 8 * i));
        t[8 + i] = (uint8_t)(p->ack >> (24 - 8 * i));
    }
    t[12] = 5 << 4;
    t[13] = p->flags;
    return ip + tcp + p->len;
}

/* A frame for link type dlt around an IP packet; returns its length. */
static size_t frame(uint8_t *b, int dlt, bool v6, const struct pkt *p)
{
    size_t off = 0;
    uint16_t et = v6 ? 0x86dd : 0x0800;
    switch (dlt) {
    case DLT_EN10MB:
        memset(b, 0, 12);
        b[12] = (uint8_t)(et >> 8);
        b[13] = (uint8_t)et;
        off = 14;
        break;
    case -DLT_EN10MB: /* with a VLAN tag */
        memset(b, 0, 12);
        b[12] = 0x81;
        b[13] = 0x00;
        b[14] = 0;
        b[15] = 5;
        b[16] = (uint8_t)(et >> 8);
        b[17] = (uint8_t)et;
        off = 18;
        break;
    case DLT_NULL: {
        uint32_t fam = v6 ? 10 : 2;
        memcpy(b, &fam, 4);
        off = 4;
        break;
    }
    case DLT_LOOP:
        b[0] = b[1] = b[2] = 0;
        b[3] = v6 ? 24 : 2;
        off = 4;
        break;
    case DLT_RAW:
        off = 0;
        break;
    case DLT_LINUX_SLL:
        memset(b, 0, 14);
        b[14] = (uint8_t)(et >> 8);
        b[15] = (uint8_t)et;
        off = 16;
        break;
    case DLT_LINUX_SLL2:
        memset(b, 0, 20);
        b[0] = (uint8_t)(et >> 8);
        b[1] = (uint8_t)et;
        off = 20;
        break;
    }
    return off + put_ip_tcp(b + off, v6, p);
}

static char *write_pcap(const char *name, int dlt, bool v6, const struct pkt *pkts, size_t n)
{
    char *path = tsup_fmt("%s/%s", dir, name);
    pcap_t *p = pcap_open_dead(dlt < 0 ? -dlt : dlt, 65535);
    pcap_dumper_t *d = pcap_dump_open(p, path);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        uint8_t b[2048];
        struct pcap_pkthdr h;
        h.ts.tv_sec = 1700000000;
        h.ts.tv_usec = (suseconds_t)(i * 1000);
        h.caplen = h.len = (bpf_u_int32)frame(b, dlt, v6, &pkts[i]);
        pcap_dump((u_char *)d, &h, b);
    }
    pcap_dump_close(d);
    pcap_close(p);
    return path;
}

static const struct analysis_hop hop = {SPORT, "downstream", "proxy"};

/* The reuse race in one flow: the proxy closes, the client's next request arrives after the
 * FIN and is answered by RST. Client ISN 1000, server ISN 5000. */
static const struct pkt race[] = {
    {true, 1000, 0, F_SYN, 0, 0},
    {false, 5000, 1001, F_SYN | F_ACK, 0, 0},
    {true, 1001, 5001, F_ACK, 0, 0},
    {true, 1001, 5001, F_PSH | F_ACK, 10, 0},
    {false, 5001, 1011, F_PSH | F_ACK, 20, 0},
    {false, 5021, 1011, F_FIN | F_ACK, 0, 0},
    {true, 1011, 5022, F_PSH | F_ACK, 5, 0}, /* request on the half-closed connection */
    {false, 5022, 0, F_RST, 0, 0},           /* the kernel rejects it */
};

static void check_race(const struct analysis_result *r)
{
    assert_int_equal(r->nflows, 1);
    assert_int_equal(r->packets, 8);
    assert_int_equal(r->unmatched, 0);
    const struct analysis_flow *f = &r->flows[0];
    assert_int_equal(f->client_port, CPORT);
    assert_int_equal(f->c2s.syn, 1);
    assert_int_equal(f->s2c.syn, 1);
    assert_int_equal(f->c2s.data_packets, 2);
    assert_int_equal(f->c2s.data_bytes, 15);
    assert_int_equal(f->s2c.data_bytes, 20);
    assert_int_equal(f->s2c.fin, 1);
    assert_int_equal(f->c2s.fin, 0);
    assert_int_equal(f->c2s.data_after_fin, 1);
    assert_int_equal(f->s2c.rst, 1);
    assert_int_equal(f->s2c.rst_after_data, 1);
    assert_int_equal(f->s2c.rst_abort, 0);
    assert_int_equal(f->s2c.first_fin_us, 1700000000ull * 1000000 + 5000);
    assert_int_equal(f->s2c.first_rst_us, 1700000000ull * 1000000 + 7000);
    /* events: SYN, SYN-ACK, data, data, FIN, data, RST (the pure ACK is not one) */
    assert_int_equal(f->nevents, 7);
    assert_int_equal(f->events[5].kind, ANALYSIS_EV_DATA);
    assert_true(f->events[5].notes & ANALYSIS_NOTE_DATA_AFTER_FIN);
    assert_int_equal(f->events[6].kind, ANALYSIS_EV_RST);
    assert_true(f->events[6].notes & ANALYSIS_NOTE_RST_AFTER_DATA);
    assert_int_equal(r->ndirs, 2);
    assert_string_equal(r->dirs[0].name, "downstream->proxy");
    assert_string_equal(r->dirs[1].name, "proxy->downstream");
    assert_int_equal(r->dirs[1].rst, 1);
    assert_int_equal(r->dirs[0].data_after_fin, 1);
}

static void test_every_link_type(void **state)
{
    (void)state;
    const int dlts[] = {DLT_EN10MB, -DLT_EN10MB,   DLT_NULL,      DLT_LOOP,
                        DLT_RAW,    DLT_LINUX_SLL, DLT_LINUX_SLL2};
    for (size_t i = 0; i < sizeof dlts / sizeof dlts[0]; i++) {
        for (int v6 = 0; v6 < 2; v6++) {
            char name[32];
            snprintf(name, sizeof name, "link%d-%d.pcap", dlts[i], v6);
            char *path = write_pcap(name, dlts[i], v6, race, sizeof race / sizeof race[0]);
            struct analysis_result r;
            char err[512] = "";
            if (analysis_read(path, &hop, 1, &r, err, sizeof err) != 0)
                fail_msg("link type %d v6=%d: %s", dlts[i], v6, err);
            check_race(&r);
            analysis_free(&r);
            free(path);
        }
    }
}

static void test_inferred_hops(void **state)
{
    (void)state;
    char *path = write_pcap("infer.pcap", DLT_EN10MB, false, race, 8);
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(path, NULL, 0, &r, err, sizeof err), 0);
    assert_int_equal(r.nhops, 1);
    assert_int_equal(r.hops[0].server_port, SPORT);
    assert_string_equal(r.hops[0].client, "client:8000");
    assert_string_equal(r.hops[0].server, "server:8000");
    assert_string_equal(r.dirs[1].name, "server:8000->client:8000");
    assert_int_equal(r.dirs[1].rst_after_data, 1);
    analysis_free(&r);
    free(path);
}

/* The counter table is the list of struct analysis_dir's counters, the results.json ones first
 * and in their order; a direction's total adds up its flows counter by counter. */
static void test_counter_table(void **state)
{
    (void)state;
    char *path = write_pcap("table.pcap", DLT_EN10MB, false, race, 8);
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(path, &hop, 1, &r, err, sizeof err), 0);
    const struct analysis_flow *f = &r.flows[0];
    static const struct {
        const char *name;
        uint64_t c2s, s2c;
    } want[] = {{"rst", 0, 1},
                {"fin", 0, 1},
                {"syn", 1, 1},
                {"data_after_fin", 1, 0},
                {"rst_after_data", 0, 1},
                {"data_packets", 2, 1},
                {"rst_abort", 0, 0},
                {"packets", 4, 4},
                {"data_bytes", 15, 20}};
    assert_int_equal(ANALYSIS_NCOUNTERS, sizeof want / sizeof want[0]);
    assert_int_equal(ANALYSIS_NRESULT, 7);
    struct analysis_dir twice;
    memset(&twice, 0, sizeof twice);
    analysis_dir_add(&twice, &f->s2c);
    analysis_dir_add(&twice, &f->s2c);
    for (size_t k = 0; k < ANALYSIS_NCOUNTERS; k++) {
        assert_string_equal(analysis_counters[k].name, want[k].name);
        assert_true(analysis_counters[k].help && analysis_counters[k].help[0]);
        if (analysis_dir_count(&f->c2s, k) != want[k].c2s ||
            analysis_dir_count(&f->s2c, k) != want[k].s2c)
            fail_msg("%s: %llu/%llu", want[k].name,
                     (unsigned long long)analysis_dir_count(&f->c2s, k),
                     (unsigned long long)analysis_dir_count(&f->s2c, k));
        assert_int_equal(analysis_dir_count(&twice, k), 2 * want[k].s2c);
    }
#define SAME_AS_FLOW(field, help)                                                                  \
    assert_int_equal(r.dirs[0].field, f->c2s.field);                                               \
    assert_int_equal(r.dirs[1].field, f->s2c.field);
    ANALYSIS_COUNTERS(SAME_AS_FLOW)
#undef SAME_AS_FLOW
    analysis_free(&r);
    free(path);
}

/* close() with unread data: [R.] from a side with an open connection; a refused connect is
 * not an abortive close. */
static void test_abort_and_refused(void **state)
{
    (void)state;
    const struct pkt p[] = {
        {true, 1000, 0, F_SYN, 0, 0},
        {false, 5000, 1001, F_SYN | F_ACK, 0, 0},
        {true, 1001, 5001, F_ACK, 0, 0},
        {true, 1001, 5001, F_PSH | F_ACK, 100, 0},
        {false, 5001, 1101, F_PSH | F_ACK, 30, 0}, /* an early 413 */
        {false, 5031, 1101, F_RST | F_ACK, 0, 0},  /* close() with the body unread */
        {true, 7000, 0, F_SYN, 0, 41000},
        {false, 0, 7001, F_RST | F_ACK, 0, 41000}, /* connection refused */
    };
    char *path = write_pcap("abort.pcap", DLT_EN10MB, false, p, 8);
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(path, &hop, 1, &r, err, sizeof err), 0);
    assert_int_equal(r.nflows, 2);
    assert_int_equal(r.flows[0].s2c.rst, 1);
    assert_int_equal(r.flows[0].s2c.rst_abort, 1);
    assert_int_equal(r.flows[0].s2c.rst_after_data, 0);
    assert_true(r.flows[0].events[r.flows[0].nevents - 1].notes & ANALYSIS_NOTE_RST_ABORT);
    assert_int_equal(r.flows[1].client_port, 41000);
    assert_int_equal(r.flows[1].s2c.rst, 1);
    assert_int_equal(r.flows[1].s2c.rst_abort, 0);
    assert_int_equal(r.dirs[1].rst, 2);
    assert_int_equal(r.dirs[1].rst_abort, 1);
    analysis_free(&r);
    free(path);
}

/* The held FIN: the request goes out, the RST answers it, the FIN (sent first, same sequence
 * number as the RST) shows up last. */
static void test_rst_overtakes_held_fin(void **state)
{
    (void)state;
    const struct pkt p[] = {
        {true, 1000, 0, F_SYN, 0, 0},
        {false, 5000, 1001, F_SYN | F_ACK, 0, 0},
        {true, 1001, 5001, F_ACK, 0, 0},
        {false, 5001, 1001, F_PSH | F_ACK, 20, 0},
        {true, 1001, 5021, F_PSH | F_ACK, 10, 0}, /* reuse: the FIN is still held */
        {false, 5021, 0, F_RST, 0, 0},
        {false, 5021, 1001, F_FIN | F_ACK, 0, 0}, /* released */
        {true, 1011, 0, F_RST, 0, 0},             /* the client no longer knows it */
    };
    char *path = write_pcap("overtake.pcap", DLT_EN10MB, false, p, 8);
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(path, &hop, 1, &r, err, sizeof err), 0);
    const struct analysis_flow *f = &r.flows[0];
    assert_int_equal(f->s2c.rst_after_data, 1);
    assert_int_equal(f->s2c.rst_abort, 0);
    assert_int_equal(f->c2s.data_after_fin, 0); /* the client could not have known */
    assert_int_equal(f->c2s.rst, 1);
    assert_int_equal(f->c2s.rst_abort, 0);
    assert_int_equal(f->c2s.rst_after_data, 0);
    assert_true(f->events[3].notes & ANALYSIS_NOTE_DATA_FIN_IN_FLIGHT);
    assert_true(f->events[5].notes & ANALYSIS_NOTE_FIN_AFTER_RST);
    assert_true(f->s2c.first_rst_us < f->s2c.first_fin_us);
    analysis_free(&r);
    free(path);
}

/* A FIN in the segment with the last bytes; a retransmitted data packet after the peer's FIN
 * is not new data. */
static void test_fin_with_data_and_retransmission(void **state)
{
    (void)state;
    const struct pkt p[] = {
        {true, 1000, 0, F_SYN, 0, 0},
        {false, 5000, 1001, F_SYN | F_ACK, 0, 0},
        {true, 1001, 5001, F_PSH | F_ACK, 10, 0},
        {false, 5001, 1011, F_FIN | F_PSH | F_ACK, 20, 0},
        {true, 1001, 5022, F_PSH | F_ACK, 10, 0}, /* retransmission of the request */
    };
    char *path = write_pcap("finwdata.pcap", DLT_EN10MB, false, p, 5);
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(path, &hop, 1, &r, err, sizeof err), 0);
    const struct analysis_flow *f = &r.flows[0];
    assert_true(f->events[3].notes & ANALYSIS_NOTE_FIN_WITH_DATA);
    assert_int_equal(f->events[3].kind, ANALYSIS_EV_FIN);
    assert_int_equal(f->s2c.data_packets, 1);
    assert_int_equal(f->c2s.data_after_fin, 0);
    analysis_free(&r);
    free(path);
}

static void test_flows_reuse_retransmitted_syn_unmatched(void **state)
{
    (void)state;
    const struct pkt p[] = {
        {true, 1000, 0, F_SYN, 0, 0},
        {true, 1000, 0, F_SYN, 0, 0}, /* retransmitted: the same flow */
        {false, 5000, 1001, F_SYN | F_ACK, 0, 0},
        {true, 1001, 5001, F_FIN | F_ACK, 0, 0},
        {false, 5001, 1002, F_FIN | F_ACK, 0, 0},
        {true, 90000, 0, F_SYN, 0, 0}, /* the port again, a new connection */
        {false, 9000, 90001, F_SYN | F_ACK, 0, 0},
    };
    char *path = write_pcap("flows.pcap", DLT_EN10MB, false, p, 7);
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(path, &hop, 1, &r, err, sizeof err), 0);
    assert_int_equal(r.nflows, 2);
    assert_int_equal(r.flows[0].c2s.syn, 2);
    assert_int_equal(r.flows[0].c2s.fin, 1);
    assert_int_equal(r.flows[1].c2s.syn, 1);
    assert_ptr_equal(analysis_find(&r, &hop, CPORT), &r.flows[1]); /* the most recent */
    assert_null(analysis_find(&r, &hop, 1234));
    analysis_free(&r);
    /* the same packets seen with a hop on another port: nothing matches */
    struct analysis_hop other = {9999, "a", "b"};
    assert_int_equal(analysis_read(path, &other, 1, &r, err, sizeof err), 0);
    assert_int_equal(r.nflows, 0);
    assert_int_equal(r.unmatched, 7);
    assert_int_equal(r.dirs[0].packets, 0);
    analysis_free(&r);
    free(path);
}

/* Frames that are not TCP over IP, or cut short, are skipped — never read past their end. */
static void test_odd_frames_skipped(void **state)
{
    (void)state;
    char *path = tsup_fmt("%s/odd.pcap", dir);
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d = pcap_dump_open(p, path);
    assert_non_null(d);
    struct pcap_pkthdr h = {.ts = {1700000000, 0}};
    uint8_t b[256];
    /* ARP */
    memset(b, 0, sizeof b);
    b[12] = 0x08;
    b[13] = 0x06;
    h.caplen = h.len = 42;
    pcap_dump((u_char *)d, &h, b);
    /* every truncation of a good TCP frame */
    struct pkt good = {true, 1, 0, F_SYN, 0, 0};
    size_t n = frame(b, DLT_EN10MB, false, &good);
    for (size_t cut = 0; cut < n; cut++) {
        h.caplen = h.len = (bpf_u_int32)cut;
        pcap_dump((u_char *)d, &h, b);
    }
    /* a fragment, a UDP packet, a TCP header with a data offset below 5 */
    uint8_t frag[64];
    memcpy(frag, b, n);
    frag[14 + 6] = 0x20; /* more fragments */
    h.caplen = h.len = (bpf_u_int32)n;
    pcap_dump((u_char *)d, &h, frag);
    memcpy(frag, b, n);
    frag[14 + 9] = 17;
    pcap_dump((u_char *)d, &h, frag);
    memcpy(frag, b, n);
    frag[14 + 20 + 12] = 0x20;
    pcap_dump((u_char *)d, &h, frag);
    /* random bytes */
    srand(7);
    for (int i = 0; i < 2000; i++) {
        for (size_t k = 0; k < sizeof b; k++)
            b[k] = (uint8_t)rand();
        b[12] = 0x08;
        b[13] = 0x00;
        h.caplen = h.len = (bpf_u_int32)(rand() % (int)sizeof b);
        pcap_dump((u_char *)d, &h, b);
    }
    pcap_dump_close(d);
    pcap_close(p);
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(path, NULL, 0, &r, err, sizeof err), 0);
    assert_true(r.skipped >= 1 + 54 + 3);
    analysis_free(&r);
    free(path);
}

/* ---- files that are not (whole) pcaps ---- */

static void expect_error(const char *path, const char *what)
{
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(path, NULL, 0, &r, err, sizeof err), -1);
    if (!strstr(err, path))
        fail_msg("%s: the message does not name the file: %s", what, err);
    assert_int_equal(r.nflows, 0);
    assert_null(r.flows);
    analysis_free(&r); /* harmless on an empty result */
}

static char *write_bytes(const char *name, const void *data, size_t n)
{
    char *path = tsup_fmt("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

static void test_malformed_files(void **state)
{
    (void)state;
    char *good = write_pcap("good.pcap", DLT_EN10MB, false, race, 8);
    char *whole = tsup_slurp(good);
    assert_non_null(whole);
    FILE *f = fopen(good, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);

    char *paths[6];
    paths[0] = write_bytes("empty.pcap", "", 0);
    paths[1] = write_bytes("text.pcap", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    paths[2] = write_bytes("shorthdr.pcap", whole, 10);
    paths[3] = write_bytes("cutrecord.pcap", whole, (size_t)size - 5);
    paths[4] = write_bytes("cutheader.pcap", whole, 24 + 8);
    paths[5] = tsup_fmt("%s/does-not-exist.pcap", dir);
    const char *what[] = {"empty",  "text", "short header", "record cut", "record header cut",
                          "missing"};
    for (int i = 0; i < 6; i++) {
        expect_error(paths[i], what[i]);
        free(paths[i]);
    }
    /* a link type the analyser does not know */
    char *wifi = tsup_fmt("%s/wifi.pcap", dir);
    pcap_t *p = pcap_open_dead(DLT_IEEE802_11, 65535);
    pcap_dumper_t *d = pcap_dump_open(p, wifi);
    struct pcap_pkthdr h = {.ts = {1, 0}, .caplen = 10, .len = 10};
    pcap_dump((u_char *)d, &h, (const u_char *)"0123456789");
    pcap_dump_close(d);
    pcap_close(p);
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(wifi, NULL, 0, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, wifi));
    assert_non_null(strstr(err, "link type"));
    free(wifi);
    free(whole);
    free(good);
}

static int setup(void **state)
{
    (void)state;
    dir = tsup_tmpdir("ana");
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tsup_rmtree(dir);
    free(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_link_type),
        cmocka_unit_test(test_inferred_hops),
        cmocka_unit_test(test_counter_table),
        cmocka_unit_test(test_abort_and_refused),
        cmocka_unit_test(test_rst_overtakes_held_fin),
        cmocka_unit_test(test_fin_with_data_and_retransmission),
        cmocka_unit_test(test_flows_reuse_retransmitted_syn_unmatched),
        cmocka_unit_test(test_odd_frames_skipped),
        cmocka_unit_test(test_malformed_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
