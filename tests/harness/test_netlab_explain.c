/* explain: on a real capture of the races, the diagram names them where they happen, stays
 * within 100 columns, and --flow picks a trial's flows on both hops; explain_print_flows draws
 * exactly the flows selected, a pooled one clipped to its window; the hop sidecar reads back
 * what was written and rejects what is malformed with file:line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "analysis.h"
#include "explain.h"
#include "test_netlab_util.h"
#include "tsup.h"

#define TIMEOUT_MS 30000

static char *dir;

struct race_out {
    struct analysis_hop hops[2];
};

static int body_race(void *arg, void *outp, char *msg, size_t msglen)
{
    struct race_out *out = outp;
    return tinfra_race_capture(arg, out->hops, msg, msglen);
}

static size_t columns(const char *line, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)line[i] & 0xc0) != 0x80)
            w++;
    return w;
}

/* Where name starts in the column header line ("   time ms downstream   proxy ..."), or -1. */
/* noinline: gcc 12 -O3 mistakes the reused `text` of the caller for a dangling pointer */
__attribute__((noinline)) static long column_of(const char *text, const char *name)
{
    const char *head = strstr(text, "time ms");
    if (!head)
        return -1;
    size_t n = strcspn(head, "\n");
    const char *at = memmem(head, n, name, strlen(name));
    return at ? (long)(at - head) : -1;
}

/* explain_print into a string */
static char *explain(const char *pcap, const struct analysis_hop *hops, size_t n, uint16_t port,
                     int *rc, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    *rc = explain_print(f, pcap, hops, n, port, err, errlen);
    fclose(f);
    return text;
}

static void check_width(const char *text)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (columns(p, n) > 100)
            fail_msg("line wider than 100 columns: %.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

static void test_races_annotated(void **state)
{
    (void)state;
    char *pcap = tsup_fmt("%s/race.pcap", dir);
    struct race_out o;
    char msg[1024];
    if (tinfra_in_netns(body_race, pcap, &o, sizeof o, TIMEOUT_MS, msg, sizeof msg))
        fail_msg("%s", msg);
    /* the names come from the sidecar the capture left */
    struct analysis_hop hops[8];
    char err[512] = "";
    int n = explain_read_hops(pcap, hops, 8, err, sizeof err);
    assert_int_equal(n, 2);
    assert_int_equal(hops[0].server_port, o.hops[0].server_port);
    assert_string_equal(hops[1].server, "upstream");
    int rc;
    char *text = explain(pcap, hops, (size_t)n, 0, &rc, err, sizeof err);
    if (rc != 0)
        fail_msg("explain_print: %s", err);
    if (getenv("RACELAB_TEST_VERBOSE"))
        fputs(text, stderr);
    check_width(text);
    assert_non_null(strstr(text, "downstream"));
    assert_non_null(strstr(text, "upstream"));
    assert_non_null(strstr(text, "data sent after close() → RST"));
    assert_non_null(strstr(text, "RST overtook held FIN"));
    assert_non_null(strstr(text, "sent while the peer's FIN was still held in flight"));
    assert_non_null(strstr(text, "close() with unread data"));
    assert_non_null(strstr(text, "[S.]"));
    assert_non_null(strstr(text, "[R]"));
    assert_non_null(strstr(text, "[R.]"));
    assert_non_null(strstr(text, "upstream->proxy"));
    free(text);

    /* --flow with the port of the first downstream connection: its flow, and the upstream
     * flow it overlaps; not the second downstream connection (the early 413) */
    struct analysis_result r;
    assert_int_equal(analysis_read(pcap, hops, 2, &r, err, sizeof err), 0);
    assert_int_equal(r.nflows, 3);
    uint16_t first = r.flows[0].client_port, second = r.flows[2].client_port;
    assert_ptr_equal(r.flows[2].hop, &r.hops[0]);
    analysis_free(&r);
    text = explain(pcap, hops, 2, first, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "2 flows"));
    assert_non_null(strstr(text, "RST overtook held FIN"));
    assert_null(strstr(text, "close() with unread data"));
    free(text);
    text = explain(pcap, hops, 2, second, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "1 flow,"));
    assert_non_null(strstr(text, "close() with unread data"));
    assert_null(strstr(text, "RST overtook held FIN"));
    free(text);
    /* a port no flow carries */
    text = explain(pcap, hops, 2, 1, &rc, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "port 1"));
    free(text);
    /* hops given upstream first: the columns still go the way a request travels */
    struct analysis_hop rev[2] = {hops[1], hops[0]};
    text = explain(pcap, rev, 2, 0, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    long d = column_of(text, "downstream"), p = column_of(text, "proxy"),
         u = column_of(text, "upstream");
    assert_true(d >= 0 && d < p && p < u);
    free(text);
    /* no hops: inferred, still annotated */
    text = explain(pcap, NULL, 0, 0, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    check_width(text);
    assert_non_null(strstr(text, "data sent after close() → RST"));
    free(text);
    explain_hops_free(hops, (size_t)n);
    free(pcap);
}

/* explain_print_flows into a string */
static char *explain_flows(const char *pcap, const struct analysis_hop *hops,
                           const struct explain_flow_sel *sel, size_t nsel, uint64_t from,
                           uint64_t to, int *rc, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    *rc = explain_print_flows(f, pcap, hops, 2, sel, nsel, from, to, err, errlen);
    fclose(f);
    return text;
}

static bool shows_port(const char *text, uint16_t port)
{
    char tag[16];
    snprintf(tag, sizeof tag, ":%u\n", port);
    return strstr(text, tag) != NULL;
}

/* Exactly the selected flows: a downstream connection and the upstream connection its
 * requests used are drawn, the other downstream connection is not; an upstream connection
 * whose payload all lies in its window is drawn whole (the held FIN released long after and
 * the RST stay); one with payload outside its window is pooled: clipped to it, with a FIN/RST
 * right after the window still drawn. */
static void test_print_flows(void **state)
{
    (void)state;
    char *pcap = tsup_fmt("%s/flows.pcap", dir);
    struct race_out o;
    char msg[1024];
    if (tinfra_in_netns(body_race, pcap, &o, sizeof o, TIMEOUT_MS, msg, sizeof msg))
        fail_msg("%s", msg);
    char err[512] = "";
    struct analysis_result r;
    assert_int_equal(analysis_read(pcap, o.hops, 2, &r, err, sizeof err), 0);
    assert_int_equal(r.nflows, 3);
    const struct analysis_flow *a = &r.flows[0], *up = &r.flows[1], *b = &r.flows[2];
    assert_ptr_equal(up->hop, &r.hops[1]);
    uint16_t pa = a->client_port, pu = up->client_port, pb = b->client_port;
    /* the upstream flow's payloads: request 1, the 200, request 2 */
    uint64_t pay[3] = {0, 0, 0};
    size_t np = 0;
    for (size_t i = 0; i < up->nevents && np < 3; i++)
        if (up->events[i].len > 0)
            pay[np++] = up->events[i].ts_us;
    assert_int_equal(np, 3);

    int rc;
    struct explain_flow_sel sel[2] = {{0, pa, a->first_us, a->last_us, true},
                                      {1, pu, a->first_us, a->last_us, false}};
    char *text = explain_flows(pcap, o.hops, sel, 2, 0, 0, &rc, err, sizeof err);
    if (rc != 0)
        fail_msg("explain_print_flows: %s", err);
    check_width(text);
    assert_non_null(strstr(text, "2 flows"));
    assert_true(shows_port(text, pa) && shows_port(text, pu));
    assert_false(shows_port(text, pb));
    assert_null(strstr(text, "pooled"));
    assert_non_null(strstr(text, "RST overtook held FIN")); /* drawn whole */
    free(text);

    /* the other downstream connection alone, by the window given to the call */
    struct explain_flow_sel only_b = {0, pb, 0, 0, true};
    text = explain_flows(pcap, o.hops, &only_b, 1, b->first_us, b->last_us, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "1 flow,"));
    assert_non_null(strstr(text, "close() with unread data"));
    assert_false(shows_port(text, pa) || shows_port(text, pu));
    free(text);

    /* the upstream connection from the 200 to request 2: request 1 is outside, so it is
     * pooled and clipped - no SYN, and the RST right after request 2 is still drawn */
    struct explain_flow_sel clip = {1, pu, pay[1], pay[2], false};
    text = explain_flows(pcap, o.hops, &clip, 1, 0, 0, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "pooled (other requests used it too)"));
    assert_null(strstr(text, "[S]"));
    assert_non_null(strstr(text, "[R]"));
    assert_non_null(strstr(text, "data sent after close() → RST"));
    free(text);

    /* every flow of the upstream hop in a window (no access log): the one there */
    struct explain_flow_sel any = {1, 0, 0, 0, false};
    text = explain_flows(pcap, o.hops, &any, 1, a->first_us, a->last_us, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_true(shows_port(text, pu));
    assert_false(shows_port(text, pa));
    free(text);

    /* nothing selected in its window */
    struct explain_flow_sel none = {0, pa, 1, 2, true};
    text = explain_flows(pcap, o.hops, &none, 1, 0, 0, &rc, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "no selected flow"));
    free(text);

    /* --flow of a downstream port: the upstream flow it overlaps, clipped to the port's life
     * when it carried payload outside it */
    text = explain(pcap, o.hops, 2, pa, &rc, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_null(strstr(text, "pooled"));
    assert_true(shows_port(text, pu));
    free(text);
    analysis_free(&r);
    free(pcap);
}

static void test_not_a_capture(void **state)
{
    (void)state;
    char *path = tsup_fmt("%s/junk.pcap", dir);
    FILE *f = fopen(path, "w");
    fputs("not a capture\n", f);
    fclose(f);
    int rc;
    char err[512] = "";
    char *text = explain(path, NULL, 0, 0, &rc, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, path));
    free(text);
    free(path);
}

/* ---- the hop sidecar ---- */

static char *write_sidecar(const char *pcap, const char *content)
{
    char *side = tsup_fmt("%s.hops", pcap);
    FILE *f = fopen(side, "w");
    fputs(content, f);
    fclose(f);
    return side;
}

static void test_sidecar_roundtrip(void **state)
{
    (void)state;
    char *pcap = tsup_fmt("%s/rt.pcap", dir);
    struct analysis_hop in[3] = {
        {8000, "downstream", "proxy1"}, {8001, "proxy1", "proxy2"}, {9000, "proxy2", "upstream"}};
    assert_int_equal(explain_write_hops(pcap, in, 3), 0);
    struct analysis_hop out[3];
    char err[256] = "";
    assert_int_equal(explain_read_hops(pcap, out, 3, err, sizeof err), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].server_port, in[i].server_port);
        assert_string_equal(out[i].client, in[i].client);
        assert_string_equal(out[i].server, in[i].server);
    }
    explain_hops_free(out, 3);
    /* more hops than room */
    assert_int_equal(explain_read_hops(pcap, out, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, ".hops:4:")); /* line 1 is a comment */
    free(pcap);
}

static void test_sidecar_missing_and_malformed(void **state)
{
    (void)state;
    struct analysis_hop out[4];
    char err[256] = "";
    char *pcap = tsup_fmt("%s/none.pcap", dir);
    assert_int_equal(explain_read_hops(pcap, out, 4, err, sizeof err), 0);
    free(pcap);
    const char *bad[] = {
        "8000 downstream\n",              /* a name missing */
        "8000 a b c\n",                   /* one too many */
        "port a b\n",                     /* not a number */
        "0 a b\n",                        /* port 0 */
        "70000 a b\n",                    /* beyond 65535 */
        "# comment\n\n9000 a b\nx y z\n", /* the error is on line 4 */
    };
    const char *where[] = {":1:", ":1:", ":1:", ":1:", ":1:", ":4:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pcap = tsup_fmt("%s/bad%zu.pcap", dir, i);
        char *side = write_sidecar(pcap, bad[i]);
        assert_int_equal(explain_read_hops(pcap, out, 4, err, sizeof err), -1);
        if (!strstr(err, side) || !strstr(err, where[i]))
            fail_msg("case %zu: '%s' does not say %s%s", i, err, side, where[i]);
        free(side);
        free(pcap);
    }
    /* comments and blank lines are fine */
    pcap = tsup_fmt("%s/ok.pcap", dir);
    free(write_sidecar(pcap, "# PORT CLIENT SERVER\n\n  8000 downstream proxy\n"));
    assert_int_equal(explain_read_hops(pcap, out, 4, err, sizeof err), 1);
    assert_string_equal(out[0].server, "proxy");
    explain_hops_free(out, 1);
    free(pcap);
}

static int setup(void **state)
{
    (void)state;
    dir = tsup_tmpdir("expl");
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
        cmocka_unit_test(test_races_annotated),
        cmocka_unit_test(test_print_flows),
        cmocka_unit_test(test_not_a_capture),
        cmocka_unit_test(test_sidecar_roundtrip),
        cmocka_unit_test(test_sidecar_missing_and_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
