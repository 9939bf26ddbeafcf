/* Archives cheap to keep, on real runs of a small scenario (direct-reuse-after-close: every
 * trial of `none` fails by design, `careful-client` passes with none failing):
 * - the default run: captures headers-only and gzip'd, logs gzip'd, nothing plain left;
 * - --capture full keeps whole packets, and a headers-only copy of that very capture
 *   (capture_keep_len, as the capture process cuts them) analyses to the same counters and
 *   events; the two runs report the same verdicts and RST counts;
 * - --keep failing keeps the capture of the cell with failing trials only, and says so;
 * - racelab archive: index.json first, `tar xzf` gives the folder back byte for byte, a bad
 *   RUN_DIR is refused with exit 2;
 * - bad --capture / --keep values: exit 2 naming the flag. */
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
#include "gzf.h"
#include "pack.h"
#include "test_netlab_util.h"
#include "tsup.h"

#define SCN       RACELAB_SOURCE_DIR "/tests/harness/scenarios/direct-reuse-after-close.yaml"
#define CELL_NONE "direct-reuse-after-close/none"
#define CELL_OK   "direct-reuse-after-close/careful-client"

static char *tmp;
static char *run_default, *run_full, *run_keep;

static int racelab(const char *tag, char *const args[], char **err_text)
{
    return tsup_racelab(tmp, tag, args, err_text, 180000);
}

static void run(const char *tag, char **out, const char *extra1, const char *extra2)
{
    *out = tsup_fmt("%s/%s", tmp, tag);
    char *args[] = {"run", SCN, "--out", *out, "--quiet", (char *)extra1, (char *)extra2, NULL};
    char *err = NULL;
    int rc = racelab(tag, args, &err);
    if (rc != 0)
        fail_msg("racelab run %s %s: exit %d: %s", extra1 ? extra1 : "", extra2 ? extra2 : "", rc,
                 err ? err : "");
    free(err);
}

static json_t *results(const char *dir)
{
    json_t *r = tsup_results(dir);
    if (!r)
        fail_msg("%s: no racelab results.json", dir);
    return r;
}

static json_t *cell(json_t *res, const char *mitigation)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(res, "cells"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "mitigation")), mitigation) == 0)
            return c;
    }
    fail_msg("no cell %s", mitigation);
    return NULL;
}

static bool exists(const char *dir, const char *rel)
{
    char *p = tsup_fmt("%s/%s", dir, rel);
    bool e = access(p, F_OK) == 0;
    free(p);
    return e;
}

static int setup(void **state)
{
    (void)state;
    run("default", &run_default, NULL, NULL);
    run("full", &run_full, "--capture", "full");
    run("keep", &run_keep, "--keep", "failing");
    return 0;
}

static void test_default_files(void **state)
{
    (void)state;
    const char *cells[] = {CELL_NONE, CELL_OK};
    for (size_t i = 0; i < 2; i++) {
        char *gz = tsup_fmt("%s/capture.pcap.gz", cells[i]);
        char *pl = tsup_fmt("%s/capture.pcap", cells[i]);
        char *lg = tsup_fmt("%s/downstream.jsonl.gz", cells[i]);
        assert_true(exists(run_default, gz));
        assert_false(exists(run_default, pl));
        assert_true(exists(run_default, lg));
        free(gz);
        free(pl);
        free(lg);
    }
    /* results.json points at the .gz */
    json_t *r = results(run_default);
    const char *cap = json_string_value(json_object_get(cell(r, "none"), "capture"));
    assert_non_null(cap);
    assert_non_null(strstr(cap, "/" CELL_NONE "/capture.pcap.gz"));
    json_decref(r);
}

/* the capture at path, every frame cut as CAPTURE_HEADERS cuts it, into out */
static void headers_copy(const char *path, const char *out)
{
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *in = gzf_pcap_open(path, ebuf);
    assert_non_null(in);
    pcap_dumper_t *d = pcap_dump_open(in, out);
    assert_non_null(d);
    struct pcap_pkthdr *h;
    const u_char *b;
    int cut = 0;
    while (pcap_next_ex(in, &h, &b) == 1) {
        struct pcap_pkthdr k = *h;
        k.caplen = capture_keep_len(pcap_datalink(in), b, h->caplen);
        cut += k.caplen < h->caplen;
        pcap_dump((u_char *)d, &k, b);
    }
    pcap_dump_close(d);
    pcap_close(in);       /* closes f */
    assert_true(cut > 0); /* the responses' bodies */
}

static void test_full_and_headers_agree(void **state)
{
    (void)state;
    char *full = tsup_fmt("%s/%s/capture.pcap.gz", run_full, CELL_NONE);
    char *heads = tsup_fmt("%s/heads.pcap", tmp);
    headers_copy(full, heads);
    struct analysis_hop hop = {0, "downstream", "upstream"};
    json_t *r = results(run_full);
    hop.server_port = (uint16_t)json_integer_value(
        json_object_get(json_object_get(cell(r, "none"), "ports"), "upstream"));
    struct analysis_result a, b;
    char err[512];
    assert_int_equal(analysis_read(full, &hop, 1, &a, err, sizeof err), 0);
    assert_int_equal(analysis_read(heads, &hop, 1, &b, err, sizeof err), 0);
    tinfra_same_analysis(&a, &b);
    assert_true(a.dirs[1].rst > 0);
    analysis_free(&a);
    analysis_free(&b);
    /* the default run and the full one: same verdicts, same RSTs, same failures */
    json_t *d = results(run_default);
    const char *mits[] = {"none", "careful-client"};
    for (size_t i = 0; i < 2; i++) {
        json_t *x = cell(r, mits[i]), *y = cell(d, mits[i]);
        assert_true(json_equal(json_object_get(json_object_get(x, "expect"), "passed"),
                               json_object_get(json_object_get(y, "expect"), "passed")));
        assert_true(json_equal(json_object_get(x, "rst"), json_object_get(y, "rst")));
        assert_true(json_equal(json_object_get(x, "failures"), json_object_get(y, "failures")));
    }
    /* the default run's capture is headers-only: every frame already as CAPTURE_HEADERS cuts
     * it, the bodies (of the responses) cut off */
    char *dh = tsup_fmt("%s/%s/capture.pcap.gz", run_default, CELL_NONE), ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = gzf_pcap_open(dh, ebuf);
    assert_non_null(p);
    struct pcap_pkthdr *h;
    const u_char *bytes;
    int cut = 0;
    while (pcap_next_ex(p, &h, &bytes) == 1) {
        assert_int_equal(capture_keep_len(pcap_datalink(p), bytes, h->caplen), h->caplen);
        cut += h->caplen < h->len;
    }
    pcap_close(p);
    assert_true(cut > 0);
    json_decref(r);
    json_decref(d);
    free(dh);
    free(full);
    free(heads);
}

static void test_keep_failing(void **state)
{
    (void)state;
    json_t *r = results(run_keep);
    json_t *none = cell(r, "none"), *ok = cell(r, "careful-client");
    /* none: every trial failed (as expected): kept */
    assert_true(json_is_string(json_object_get(none, "capture")));
    assert_true(exists(run_keep, CELL_NONE "/capture.pcap.gz"));
    assert_null(json_object_get(none, "capture_removed"));
    /* careful-client: passed, no failing trial: removed, and said so */
    assert_true(json_is_null(json_object_get(ok, "capture")));
    assert_true(json_is_string(json_object_get(ok, "capture_removed")));
    assert_false(exists(run_keep, CELL_OK "/capture.pcap.gz"));
    assert_false(exists(run_keep, CELL_OK "/capture.pcap.hops"));
    assert_true(exists(run_keep, CELL_OK "/downstream.jsonl.gz")); /* the logs stay */
    json_decref(r);
    /* the table still has the RSTs the removed capture counted */
    char *op = tsup_fmt("%s/keep.out", tmp), *table = tsup_slurp(op);
    assert_non_null(table);
    assert_null(strstr(table, "(no capture)"));
    free(table);
    free(op);
    /* the rule itself: an expectation failed, a failing trial, an error keep it */
    json_t *c = json_pack("{s:i}", "failures", 0);
    assert_false(pack_failing(c, true));
    assert_true(pack_failing(c, false));
    json_object_set_new(c, "failures", json_integer(1));
    assert_true(pack_failing(c, true));
    json_object_set_new(c, "failures", json_null());
    json_object_set_new(c, "error", json_string("the upstream did not start"));
    assert_true(pack_failing(c, true));
    json_decref(c);
}

static void test_bad_flags(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/bad", tmp), *err = NULL;
    char *a1[] = {"run", SCN, "--out", out, "--capture", "bodies", NULL};
    assert_int_equal(racelab("bad1", a1, &err), 2);
    assert_non_null(strstr(err, "--capture"));
    free(err);
    char *a2[] = {"run", SCN, "--out", out, "--keep", "some", NULL};
    assert_int_equal(racelab("bad2", a2, &err), 2);
    assert_non_null(strstr(err, "--keep"));
    free(err);
    assert_false(exists(out, "results.json"));
    free(out);
}

static void test_archive(void **state)
{
    (void)state;
    char *ar = tsup_fmt("%s/a.tar.gz", tmp), *err = NULL;
    char *args[] = {"archive", run_default, "-o", ar, NULL};
    assert_int_equal(racelab("archive", args, &err), 0);
    free(err);
    char *x = tsup_fmt("%s/x", tmp);
    char *cmd = tsup_fmt("mkdir -p '%s' && tar xzf '%s' -C '%s'", x, ar, x);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    /* the same files, byte for byte (the run's lock aside), plus index.json */
    cmd = tsup_fmt("diff -r -x .racelab.lock -x index.json '%s' '%s/default' > '%s/diff.out'",
                   run_default, x, tmp);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    /* index.json is the first entry */
    cmd = tsup_fmt("tar tzf '%s' | head -1 > '%s/first'", ar, tmp);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *fp = tsup_fmt("%s/first", tmp), *first = tsup_slurp(fp);
    assert_string_equal(first, "default/index.json\n");
    /* the index: every cell with its verdict, every file with its size */
    char *ip = tsup_fmt("%s/default/index.json", x);
    json_error_t je;
    json_t *idx = json_load_file(ip, 0, &je);
    assert_non_null(idx);
    assert_int_equal(json_array_size(json_object_get(idx, "cells")), 2);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(idx, "cells"), i, c)
    {
        assert_string_equal(json_string_value(json_object_get(c, "verdict")), "pass");
        const char *cap = json_string_value(json_object_get(c, "capture"));
        assert_non_null(cap);
        assert_true(exists(run_default, cap));
    }
    size_t nfiles = 0;
    json_array_foreach(json_object_get(idx, "files"), i, c)
    {
        char *p = tsup_fmt("%s/%s", run_default, json_string_value(json_object_get(c, "path")));
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_size, json_integer_value(json_object_get(c, "size")));
        free(p);
        nfiles++;
    }
    assert_true(nfiles >= 20);
    json_decref(idx);
    /* bad RUN_DIR: exit 2, the folder named; no archive written */
    char *bad = tsup_fmt("%s/no-such-run", tmp), *ar2 = tsup_fmt("%s/b.tar.gz", tmp);
    char *a2[] = {"archive", bad, "-o", ar2, NULL};
    assert_int_equal(racelab("archive-bad", a2, &err), 2);
    assert_non_null(strstr(err, bad));
    free(err);
    char *a3[] = {"archive", tmp, "-o", ar2, NULL}; /* a folder, but not a run's */
    assert_int_equal(racelab("archive-bad2", a3, &err), 2);
    assert_non_null(strstr(err, "no results.json"));
    free(err);
    assert_int_not_equal(access(ar2, F_OK), 0);
    free(bad);
    free(ar2);
    free(ip);
    free(fp);
    free(first);
    free(x);
    free(ar);
}

int main(void)
{
    tmp = tsup_tmpdir("archive");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_default_files),
        cmocka_unit_test(test_full_and_headers_agree),
        cmocka_unit_test(test_keep_failing),
        cmocka_unit_test(test_archive),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    if (!getenv("RACELAB_KEEP_TMP"))
        tsup_rmtree(tmp);
    free(tmp);
    free(run_default);
    free(run_full);
    free(run_keep);
    return rc;
}
