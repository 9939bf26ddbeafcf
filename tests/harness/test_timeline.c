/* scripts/timeline (scapy) and the C analyser read the same real capture independently and
 * must agree on every direction's SYN, FIN and RST counts, of the capture plain and gzip'd —
 * with hops from the sidecar, from --hop, and inferred. The capture holds the races: a RST
 * overtaking a held FIN, an abortive close with unread data, FIN-terminated connections. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "analysis.h"
#include "test_netlab_util.h"
#include "tsup.h"

#define TIMEOUT_MS 30000

static char *dir, *pcap;
static struct analysis_hop hops[2];

static int body_race(void *arg, void *outp, char *msg, size_t msglen)
{
    return tinfra_race_capture(arg, outp, msg, msglen);
}

/* Runs scripts/timeline with extra arguments; returns its stdout (or NULL) and exit code. */
static char *timeline(const char *const *extra, int *rc)
{
    char *script = tsup_fmt("%s/scripts/timeline", RACELAB_SOURCE_DIR);
    char *out = tsup_fmt("%s/timeline.out", dir), *err = tsup_fmt("%s/timeline.err", dir);
    char *argv[16] = {"/usr/bin/python3", script, pcap};
    size_t n = 3;
    for (size_t i = 0; extra[i] && n < 15; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    *rc = tsup_run(argv, out, err, 120000);
    char *text = tsup_slurp(out);
    if (*rc != 0) {
        char *e = tsup_slurp(err);
        fprintf(stderr, "scripts/timeline: exit %d: %s\n", *rc, e ? e : "");
        free(e);
    }
    free(script);
    free(out);
    free(err);
    return text;
}

static void compare(const struct analysis_hop *h, size_t nh, const char *const *extra)
{
    struct analysis_result r;
    char err[512] = "";
    if (analysis_read(pcap, h, nh, &r, err, sizeof err) != 0)
        fail_msg("analysis_read: %s", err);
    int rc;
    char *text = timeline(extra, &rc);
    assert_int_equal(rc, 0);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("timeline --counts is not JSON (%s): %s", je.text, text);
    json_t *dirs = json_object_get(j, "directions");
    assert_non_null(dirs);
    assert_int_equal(json_object_size(dirs), r.ndirs);
    assert_int_equal(json_integer_value(json_object_get(j, "flows")), r.nflows);
    for (size_t i = 0; i < r.ndirs; i++) {
        const struct analysis_dir_total *d = &r.dirs[i];
        json_t *o = json_object_get(dirs, d->name);
        if (!o)
            fail_msg("timeline has no direction %s", d->name);
        const struct {
            const char *key;
            uint64_t ours;
        } fields[] = {{"syn", d->syn},
                      {"fin", d->fin},
                      {"rst", d->rst},
                      {"packets", d->packets},
                      {"data_packets", d->data_packets}};
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
            json_int_t theirs = json_integer_value(json_object_get(o, fields[k].key));
            if ((uint64_t)theirs != fields[k].ours)
                fail_msg("%s %s: ana %llu, scripts/timeline %lld", d->name, fields[k].key,
                         (unsigned long long)fields[k].ours, (long long)theirs);
        }
    }
    json_decref(j);
    free(text);
    analysis_free(&r);
}

static const struct analysis_dir_total *dir_named(const struct analysis_result *r, const char *name)
{
    for (size_t i = 0; i < r->ndirs; i++)
        if (strcmp(r->dirs[i].name, name) == 0)
            return &r->dirs[i];
    fail_msg("no direction %s", name);
    return NULL;
}

/* The counts are the ones the capture was built to have (test_netlab_util.h). */
static void test_expected_counts(void **state)
{
    (void)state;
    struct analysis_result r;
    char err[512] = "";
    assert_int_equal(analysis_read(pcap, hops, 2, &r, err, sizeof err), 0);
    const struct analysis_dir_total *dp = dir_named(&r, "downstream->proxy"),
                                    *pd = dir_named(&r, "proxy->downstream"),
                                    *pu = dir_named(&r, "proxy->upstream"),
                                    *up = dir_named(&r, "upstream->proxy");
    assert_int_equal(dp->syn, 2);
    assert_int_equal(dp->fin, 1);
    assert_int_equal(dp->rst, 0);
    assert_int_equal(pd->syn, 2);
    assert_int_equal(pd->fin, 1);
    assert_int_equal(pd->rst, 1);
    assert_int_equal(pd->rst_abort, 1);
    assert_int_equal(pu->syn, 1);
    assert_int_equal(pu->fin, 0);
    assert_int_equal(pu->rst, 1);
    assert_int_equal(up->syn, 1);
    assert_int_equal(up->fin, 1);
    assert_int_equal(up->rst, 1);
    assert_int_equal(up->rst_after_data, 1);
    analysis_free(&r);
}

static void test_agree_with_sidecar_hops(void **state)
{
    (void)state;
    const char *extra[] = {"--counts", NULL};
    compare(hops, 2, extra);
}

static void test_agree_with_hop_flags(void **state)
{
    (void)state;
    char *h0 = tsup_fmt("%u:downstream:proxy", hops[0].server_port);
    char *h1 = tsup_fmt("%u:proxy:upstream", hops[1].server_port);
    const char *extra[] = {"--counts", "--hop", h0, "--hop", h1, NULL};
    compare(hops, 2, extra);
    free(h0);
    free(h1);
}

static void test_agree_with_inferred_hops(void **state)
{
    (void)state;
    char *side = tsup_fmt("%s.hops", pcap), *away = tsup_fmt("%s.away", pcap);
    assert_int_equal(rename(side, away), 0);
    const char *extra[] = {"--counts", NULL};
    compare(NULL, 0, extra);
    assert_int_equal(rename(away, side), 0);
    free(side);
    free(away);
}

static void test_timeline_text(void **state)
{
    (void)state;
    const char *extra[] = {NULL};
    int rc;
    char *text = timeline(extra, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "upstream -> proxy"));
    assert_non_null(strstr(text, "RST overtook held FIN"));
    assert_non_null(strstr(text, "abortive close"));
    assert_non_null(strstr(text, "RST rejecting data sent after close()"));
    free(text);
    /* not a capture: exit 2 with the file named */
    char *junk = tsup_fmt("%s/junk.pcap", dir);
    FILE *f = fopen(junk, "w");
    fputs("junk\n", f);
    fclose(f);
    char *keep = pcap;
    pcap = junk;
    const char *counts[] = {"--counts", NULL};
    text = timeline(counts, &rc);
    pcap = keep;
    assert_int_equal(rc, 2);
    free(text);
    free(junk);
}

static int setup(void **state)
{
    (void)state;
    dir = tsup_tmpdir("timeline");
    if (!dir)
        return -1;
    pcap = tsup_fmt("%s/race.pcap", dir);
    char msg[1024];
    if (tinfra_in_netns(body_race, pcap, hops, sizeof hops, TIMEOUT_MS, msg, sizeof msg)) {
        fprintf(stderr, "making the capture: %s\n", msg);
        return -1;
    }
    /* the names were the child's static strings: the same text here */
    hops[0].client = "downstream";
    hops[0].server = "proxy";
    hops[1].client = "proxy";
    hops[1].server = "upstream";
    return 0;
}

/* The capture gzip'd as racelab keeps it (X.pcap.gz, its hops still in X.pcap.hops): the same
 * counts, read by both; cut short, an error (exit 2). */
static void test_agree_gzipped(void **state)
{
    (void)state;
    char *plain = pcap, *cmd = tsup_fmt("gzip -kf '%s'", plain);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    pcap = tsup_fmt("%s.gz", plain);
    const char *extra[] = {"--counts", NULL};
    compare(hops, 2, extra);
    char *cut = tsup_fmt("%s/cut.pcap.gz", dir);
    cmd = tsup_fmt("head -c 200 '%s' > '%s'", pcap, cut);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(pcap);
    pcap = cut;
    int rc;
    free(timeline(extra, &rc));
    assert_int_equal(rc, 2);
    free(pcap);
    pcap = plain;
}

static int teardown(void **state)
{
    (void)state;
    tsup_rmtree(dir);
    free(pcap);
    free(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expected_counts),
        cmocka_unit_test(test_agree_with_sidecar_hops),
        cmocka_unit_test(test_agree_with_hop_flags),
        cmocka_unit_test(test_agree_with_inferred_hops),
        cmocka_unit_test(test_agree_gzipped),
        cmocka_unit_test(test_timeline_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
