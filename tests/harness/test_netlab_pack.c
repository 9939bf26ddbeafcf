/* What a headers-only capture keeps of a packet (capture_keep_len), and gzip'd captures:
 * compressed whole or not at all (gzf_compress), read by the analysis exactly as the plain
 * file (and under the plain name when only the .gz exists), refused with the file named when
 * cut short; and a headers-only copy of a capture with bodies gives the very same analysis. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "analysis.h"
#include "capture.h"
#include "explain.h"
#include "gzf.h"
#include "test_netlab_util.h"
#include "tsup.h"

static char *dir;

#define F_FIN 0x01
#define F_SYN 0x02
#define F_PSH 0x08
#define F_ACK 0x10

/* An Ethernet frame (as Linux lo gives) carrying IPv4 or IPv6 and TCP with payload pl of n
 * bytes; returns the frame's length. */
static size_t tcp_frame(uint8_t *b, bool v6, uint16_t sp, uint16_t dp, uint32_t seq, uint8_t flags,
                        const void *pl, size_t n)
{
    memset(b, 0, 14 + 40 + 20);
    b[12] = v6 ? 0x86 : 0x08;
    b[13] = v6 ? 0xdd : 0x00;
    uint8_t *ip = b + 14;
    size_t iph = v6 ? 40 : 20;
    if (v6) {
        ip[0] = 0x60;
        ip[4] = (uint8_t)((20 + n) >> 8);
        ip[5] = (uint8_t)(20 + n);
        ip[6] = 6;
        ip[23] = ip[39] = 1;
    } else {
        size_t tot = 20 + 20 + n;
        ip[0] = 0x45;
        ip[2] = (uint8_t)(tot >> 8);
        ip[3] = (uint8_t)tot;
        ip[9] = 6;
        ip[12] = ip[16] = 127;
        ip[15] = ip[19] = 1;
    }
    uint8_t *t = ip + iph;
    t[0] = (uint8_t)(sp >> 8);
    t[1] = (uint8_t)sp;
    t[2] = (uint8_t)(dp >> 8);
    t[3] = (uint8_t)dp;
    for (int i = 0; i < 4; i++)
        t[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
    t[12] = 5 << 4;
    t[13] = flags;
    memcpy(t + 20, pl, n);
    return 14 + iph + 20 + n;
}

static void test_keep_len(void **state)
{
    (void)state;
    static uint8_t b[70000];
    const char *get = "GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    const size_t gethead = strlen(get) - 5;
    for (int v6 = 0; v6 < 2; v6++) {
        size_t hdr = 14 + (v6 ? 40 : 20) + 20;
        /* a request head with the start of its body: the head only */
        size_t n = tcp_frame(b, v6, 40000, 8000, 1, F_PSH | F_ACK, get, strlen(get));
        assert_int_equal(capture_keep_len(DLT_EN10MB, b, (uint32_t)n), hdr + gethead);
        /* a response head */
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        n = tcp_frame(b, v6, 8000, 40000, 1, F_PSH | F_ACK, ok, strlen(ok));
        assert_int_equal(capture_keep_len(DLT_EN10MB, b, (uint32_t)n), n - 3);
        /* a body segment: the headers only */
        static uint8_t body[65000];
        memset(body, 'x', sizeof body);
        n = tcp_frame(b, v6, 40000, 8000, 1, F_ACK, body, sizeof body);
        assert_int_equal(capture_keep_len(DLT_EN10MB, b, (uint32_t)n), hdr);
        /* a body that starts with capitals but no request line ("ABC\r\n") */
        n = tcp_frame(b, v6, 40000, 8000, 1, F_ACK, "ABC\r\nDEF", 8);
        assert_int_equal(capture_keep_len(DLT_EN10MB, b, (uint32_t)n), hdr);
        /* a head that does not end within what was captured: all of it */
        const char *cut = "POST /up HTTP/1.1\r\nHost: a\r\nX-Long: ";
        n = tcp_frame(b, v6, 40000, 8000, 1, F_ACK, cut, strlen(cut));
        assert_int_equal(capture_keep_len(DLT_EN10MB, b, (uint32_t)n), n);
        /* no payload: the headers, i.e. everything */
        n = tcp_frame(b, v6, 40000, 8000, 1, F_SYN, "", 0);
        assert_int_equal(capture_keep_len(DLT_EN10MB, b, (uint32_t)n), n);
        /* the frame cut inside the TCP header: kept as captured */
        assert_int_equal(capture_keep_len(DLT_EN10MB, b, (uint32_t)hdr - 4), hdr - 4);
    }
    /* not TCP (UDP), not IP (ARP), unknown link: as captured */
    size_t n = tcp_frame(b, false, 1, 2, 1, 0, "xxxxxxxx", 8);
    b[14 + 9] = 17;
    assert_int_equal(capture_keep_len(DLT_EN10MB, b, (uint32_t)n), n);
    b[12] = 0x08;
    b[13] = 0x06;
    assert_int_equal(capture_keep_len(DLT_EN10MB, b, (uint32_t)n), n);
    assert_int_equal(capture_keep_len(DLT_IEEE802_11, b, (uint32_t)n), n);
    /* raw IP: the same rules without a link header */
    n = tcp_frame(b, false, 40000, 8000, 1, F_ACK, "xxxxxxxx", 8);
    assert_int_equal(capture_keep_len(DLT_RAW, b + 14, (uint32_t)n - 14), 40);
    assert_int_equal(capture_keep_len(DLT_EN10MB, b, 3), 3);
}

/* One flow: handshake, a request head + a 100 000-byte body in two segments, the response, FIN
 * from both sides, then a request on the half-closed connection; every frame written whole
 * (full) or as CAPTURE_HEADERS keeps it (heads) into path. */
static void write_flow(const char *path, bool heads)
{
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 262144);
    pcap_dumper_t *d = pcap_dump_open(p, path);
    assert_non_null(d);
    static uint8_t body[60000], b[70000];
    memset(body, 'x', sizeof body);
    const char *req = "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n";
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    size_t rl = strlen(req);
    struct {
        bool c;
        uint32_t seq;
        uint8_t fl;
        const void *pl;
        size_t n;
    } s[] = {
        {true, 100, F_SYN, "", 0},
        {false, 900, F_SYN | F_ACK, "", 0},
        {true, 101, F_ACK, "", 0},
        {true, 101, F_PSH | F_ACK, NULL, 0}, /* head + 40 000 body bytes, below */
        {true, (uint32_t)(101 + rl + 40000), F_ACK, body, 60000},
        {false, 901, F_PSH | F_ACK, resp, strlen(resp)},
        {false, (uint32_t)(901 + strlen(resp)), F_FIN | F_ACK, "", 0},
        {true, (uint32_t)(101 + rl + 100000), F_PSH | F_ACK, "GET / HTTP/1.1\r\n\r\n", 18},
    };
    static uint8_t first[70000];
    memcpy(first, req, rl);
    memset(first + rl, 'y', 40000);
    s[3].pl = first;
    s[3].n = rl + 40000;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        size_t n = tcp_frame(b, false, s[i].c ? 40000 : 8000, s[i].c ? 8000 : 40000, s[i].seq,
                             s[i].fl, s[i].pl, s[i].n);
        struct pcap_pkthdr h = {.ts = {1700000000, (suseconds_t)(i * 1000)}};
        h.len = (bpf_u_int32)n;
        h.caplen = heads ? capture_keep_len(DLT_EN10MB, b, (uint32_t)n) : (bpf_u_int32)n;
        pcap_dump((u_char *)d, &h, b);
    }
    pcap_dump_close(d);
    pcap_close(p);
}

static const struct analysis_hop hop = {8000, "downstream", "proxy"};

static char *explain_text(const char *pcap)
{
    char *out = tsup_fmt("%s/explain.txt", dir), err[512];
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    assert_int_equal(explain_print(f, pcap, &hop, 1, 0, err, sizeof err), 0);
    fclose(f);
    char *t = tsup_slurp(out);
    free(out);
    assert_non_null(t);
    char *nl = strchr(t, '\n'); /* the first line names the file */
    return nl ? memmove(t, nl, strlen(nl) + 1) : t;
}

static void test_headers_analyse_as_full(void **state)
{
    (void)state;
    char *full = tsup_fmt("%s/full.pcap", dir), *heads = tsup_fmt("%s/heads.pcap", dir);
    write_flow(full, false);
    write_flow(heads, true);
    struct stat sf, sh;
    assert_int_equal(stat(full, &sf), 0);
    assert_int_equal(stat(heads, &sh), 0);
    assert_true(sh.st_size * 50 < sf.st_size); /* the bodies are gone */
    struct analysis_result a, b;
    char err[512];
    assert_int_equal(analysis_read(full, &hop, 1, &a, err, sizeof err), 0);
    assert_int_equal(analysis_read(heads, &hop, 1, &b, err, sizeof err), 0);
    tinfra_same_analysis(&a, &b);
    /* the numbers themselves: 100 000 body bytes and the head, the late request noted */
    assert_int_equal(a.dirs[0].data_bytes, strlen("POST /up HTTP/1.1\r\nHost: a\r\n"
                                                  "Content-Length: 100000\r\n\r\n") +
                                               100000 + 18);
    assert_int_equal(a.dirs[0].data_after_fin, 1);
    char *ea = explain_text(full), *eb = explain_text(heads);
    assert_string_equal(ea, eb);
    analysis_free(&a);
    analysis_free(&b);
    free(ea);
    free(eb);
    free(full);
    free(heads);
}

static void test_gzip_read_and_refused(void **state)
{
    (void)state;
    char *plain = tsup_fmt("%s/c.pcap", dir), *copy = tsup_fmt("%s/copy.pcap", dir);
    char *gz = tsup_fmt("%s/c.pcap.gz", dir), *tmp = tsup_fmt("%s/c.pcap.gz.tmp", dir);
    write_flow(plain, false);
    write_flow(copy, false);
    char err[512];
    assert_int_equal(gzf_compress(plain, gz, err, sizeof err), 0);
    assert_int_not_equal(access(plain, F_OK), 0); /* the plain file is gone */
    assert_int_not_equal(access(tmp, F_OK), 0);   /* no temporary left */
    struct analysis_result a, b, c;
    assert_int_equal(analysis_read(copy, &hop, 1, &a, err, sizeof err), 0);
    assert_int_equal(analysis_read(gz, &hop, 1, &b, err, sizeof err), 0);
    tinfra_same_analysis(&a, &b);
    /* the plain name finds the .gz */
    assert_int_equal(analysis_read(plain, &hop, 1, &c, err, sizeof err), 0);
    tinfra_same_analysis(&a, &c);
    analysis_free(&a);
    analysis_free(&b);
    analysis_free(&c);
    /* a .gz cut short, and garbage after a gzip magic: errors naming the file */
    char *whole = tsup_slurp(gz);
    struct stat st;
    assert_int_equal(stat(gz, &st), 0);
    char *cut = tsup_fmt("%s/cut.pcap.gz", dir);
    FILE *f = fopen(cut, "wb");
    fwrite(whole, 1, (size_t)st.st_size / 2, f);
    fclose(f);
    assert_int_equal(analysis_read(cut, &hop, 1, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, cut));
    f = fopen(cut, "wb");
    fwrite("\x1f\x8b\x08\x00garbage garbage garbage", 1, 27, f);
    fclose(f);
    assert_int_equal(analysis_read(cut, &hop, 1, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, cut));
    /* missing: named */
    char *none = tsup_fmt("%s/none.pcap", dir);
    assert_int_equal(analysis_read(none, &hop, 1, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, none));
    assert_null(gzf_fopen(none));
    assert_int_equal(errno, ENOENT);
    /* compressing a missing file: an error, and nothing written */
    char *dst = tsup_fmt("%s/none.pcap.gz", dir);
    assert_int_equal(gzf_compress(none, dst, err, sizeof err), -1);
    assert_non_null(strstr(err, none));
    assert_int_not_equal(access(dst, F_OK), 0);
    free(whole);
    free(cut);
    free(none);
    free(dst);
    free(plain);
    free(copy);
    free(gz);
    free(tmp);
}

/* a jsonl file is read the same through gzf_fopen plain and gzip'd */
static void test_gzf_lines(void **state)
{
    (void)state;
    char *p = tsup_fmt("%s/r.jsonl", dir), *gz = tsup_fmt("%s/r.jsonl.gz", dir), err[256];
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 5000; i++)
        fprintf(f, "{\"trial\": %d}\n", i);
    fclose(f);
    assert_int_equal(gzf_compress(p, gz, err, sizeof err), 0);
    f = gzf_fopen(p); /* the plain name, only the .gz exists */
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        char want[32];
        snprintf(want, sizeof want, "{\"trial\": %d}\n", n++);
        assert_string_equal(line, want);
    }
    assert_int_equal(n, 5000);
    free(line);
    fclose(f);
    free(p);
    free(gz);
}

int main(void)
{
    dir = tsup_tmpdir("pack");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_len),
        cmocka_unit_test(test_headers_analyse_as_full),
        cmocka_unit_test(test_gzip_read_and_refused),
        cmocka_unit_test(test_gzf_lines),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (!getenv("RACELAB_KEEP_TMP"))
        tsup_rmtree(dir);
    free(dir);
    return rc;
}
