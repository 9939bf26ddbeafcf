/* racelab soak: bad flags exit 2; a soak with a forced failure pattern (every reuse of a
 * connection the upstream closed fails) finds the failures, keeps the first K with their RST in
 * a pcap far smaller than the full capture; SIGINT in the middle leaves a valid results.json
 * and pcap and no process. No timing is asserted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "clk.h"
#include "tsup.h"

#define FORCED RACELAB_SOURCE_DIR "/tests/harness/scenarios/direct-reuse-after-close.yaml"

static int soak(const char *dir, const char *out, const char *const *extra, int timeout_ms)
{
    char *argv[32];
    int n = 0;
    argv[n++] = tsup_bin("racelab");
    argv[n++] = "soak";
    for (; extra && *extra && n < 28; extra++)
        argv[n++] = (char *)*extra;
    if (out) {
        argv[n++] = "--out";
        argv[n++] = (char *)out;
    }
    argv[n] = NULL;
    char *err = tsup_fmt("%s/soak.err", dir), *so = tsup_fmt("%s/soak.out", dir);
    int rc = tsup_run(argv, so, err, timeout_ms);
    if (rc == 2) {
        char *e = tsup_slurp(err);
        fprintf(stderr, "racelab soak said: %s", e ? e : "");
        free(e);
    }
    free(argv[0]);
    free(err);
    free(so);
    return rc;
}

static void test_bad_flags_exit_2(void **state)
{
    const char *dir = ((struct tsup_ctx *)*state)->dir;
    const char *const bad[][6] = {
        {NULL},
        {FORCED, "--duration", "5s", "--requests", "10", NULL},
        {FORCED, "--capture", "some", NULL},
        {FORCED, "--records", "most", NULL},
        {FORCED, "--records", "failures:0", NULL},
        {FORCED, "--keep-failures", "-1", NULL},
        {FORCED, "--conns", "0", NULL},
        {FORCED, "--duration", "soon", NULL},
        {FORCED, "--mitigation", "no-such-mitigation", NULL},
        {"no-such-case-anywhere", NULL},
        {FORCED, FORCED, NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = tsup_fmt("%s/bad%zu", dir, i);
        assert_int_equal(soak(dir, out, bad[i], 30000), 2);
        free(out);
    }
}

static long long get_int(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* 1,500 trials of two requests: the second of each fails (empty: the upstream's FIN came with
 * the response), and its request is answered by the upstream's RST. */
static void test_forced_failures_kept_with_rst(void **state)
{
    const char *dir = ((struct tsup_ctx *)*state)->dir;
    char *out = tsup_fmt("%s/ring", dir), *full = tsup_fmt("%s/full", dir);
    const char *const args[] = {FORCED, "--requests",      "3000", "--conns",
                                "16",   "--keep-failures", "5",    NULL};
    assert_int_equal(soak(dir, out, args, 120000), 0);
    char *res = tsup_fmt("%s/results.json", out);
    json_t *r = json_load_file(res, 0, NULL);
    assert_non_null(r);
    assert_int_equal(get_int(r, "requests"), 3000);
    assert_int_equal(get_int(r, "failures"), 1500);
    assert_int_equal(get_int(r, "kept_count"), 5);
    json_t *ci = json_object_get(r, "failure_rate_ci");
    assert_true(json_real_value(json_array_get(ci, 0)) < 0.5 &&
                json_real_value(json_array_get(ci, 1)) > 0.5);
    json_t *kept = json_object_get(r, "kept");
    assert_int_equal(json_array_size(kept), 5);

    /* the CPU a request costs, program by program: each program that served was seen using
     * some, and together they are the programs' share of the total */
    json_t *by = json_object_get(r, "cpu_us_per_request_by_program");
    const char *const progs[] = {"downstream", "upstream", "capture", "racelab"};
    double sum = 0;
    for (size_t p = 0; p < 4; p++) {
        json_t *v = json_object_get(by, progs[p]);
        assert_true(json_is_real(v));
        sum += json_real_value(v);
    }
    assert_true(json_real_value(json_object_get(by, "downstream")) > 0 &&
                json_real_value(json_object_get(by, "upstream")) > 0);
    assert_true(sum <= json_real_value(json_object_get(r, "cpu_us_per_request")) + 0.1);

    /* each kept failure's connection is in the pcap with the upstream's RST */
    char *pcap = tsup_fmt("%s/capture.pcap", out), err[512];
    struct analysis_hop hop = {9000, "downstream", "upstream"};
    struct analysis_result ar;
    assert_int_equal(analysis_read(pcap, &hop, 1, &ar, err, sizeof(err)), 0);
    size_t i;
    json_t *k;
    json_array_foreach(kept, i, k)
    {
        json_t *rst = json_object_get(k, "rst");
        assert_string_equal(json_string_value(json_array_get(rst, 0)), "upstream->downstream");
        const struct analysis_flow *f =
            analysis_find(&ar, &ar.hops[0], (uint16_t)get_int(k, "lport"));
        assert_non_null(f);
        assert_true(f->s2c.rst >= 1);
    }
    analysis_free(&ar);

    /* racelab explain draws a kept failure, its RST included */
    char *port = tsup_fmt("%lld", get_int(json_array_get(kept, 0), "lport"));
    char *ex = tsup_fmt("%s/explain.out", dir);
    char *eargv[] = {tsup_bin("racelab"), "explain", pcap, "--flow", port, NULL};
    assert_int_equal(tsup_run(eargv, ex, NULL, 30000), 0);
    char *drawn = tsup_slurp(ex);
    assert_non_null(drawn);
    assert_non_null(strstr(drawn, "[R"));
    free(drawn);
    free(eargv[0]);
    free(ex);
    free(port);

    /* the same soak with every packet written: the kept pcap is a small part of it */
    const char *const all[] = {FORCED, "--requests", "3000", "--conns",
                               "16",   "--capture",  "all",  NULL};
    assert_int_equal(soak(dir, full, all, 120000), 0);
    char *fpcap = tsup_fmt("%s/capture.pcap", full);
    off_t small = file_size(pcap), big = file_size(fpcap);
    fprintf(stderr, "kept pcap %lld bytes, full pcap %lld bytes\n", (long long)small,
            (long long)big);
    assert_true(small > 24 && big > 0 && small * 10 < big);
    json_decref(r);
    free(res);
    free(pcap);
    free(fpcap);
    free(out);
    free(full);
}

static bool file_has(const char *path, const char *s)
{
    char *t = tsup_slurp(path);
    bool has = t && strstr(t, s);
    free(t);
    return has;
}

/* --capture off --records off: no pcap, no upstream log; --records all: a record per request,
 * --rate and --ring-packets reach the client and the ring. */
static void test_capture_and_records_modes(void **state)
{
    const char *dir = ((struct tsup_ctx *)*state)->dir;
    char *off = tsup_fmt("%s/off", dir), *all = tsup_fmt("%s/all", dir);
    const char *const a1[] = {FORCED, "--requests", "400", "--capture",
                              "off",  "--records",  "off", NULL};
    assert_int_equal(soak(dir, off, a1, 120000), 0);
    char *p = tsup_fmt("%s/capture.pcap", off), *log = tsup_fmt("%s/upstream.log", off);
    char *res = tsup_fmt("%s/results.json", off);
    assert_int_equal(file_size(p), -1);
    assert_int_equal(file_size(log), -1);
    json_t *r = json_load_file(res, 0, NULL);
    assert_non_null(r);
    assert_int_equal(get_int(r, "failures"), 200);
    json_decref(r);
    free(p);
    free(log);
    free(res);

    const char *const a2[] = {FORCED,           "--requests", "400",    "--records", "all",
                              "--ring-packets", "4096",       "--rate", "4000",      NULL};
    assert_int_equal(soak(dir, all, a2, 120000), 0);
    char *rec = tsup_fmt("%s/downstream.jsonl", all), *cmd = tsup_fmt("%s/downstream.cmd", all);
    res = tsup_fmt("%s/results.json", all);
    json_t *recs = tsup_read_jsonl(rec);
    assert_int_equal(tsup_count(recs, "type", "request"), 400);
    assert_true(file_has(cmd, "--rate=4000"));
    r = json_load_file(res, 0, NULL);
    assert_int_equal(get_int(json_object_get(r, "capture"), "ring_packets"), 4096);
    assert_int_equal(get_int(r, "failures"), 200);
    json_decref(r);
    json_decref(recs);
    free(rec);
    free(cmd);
    free(res);
    free(off);
    free(all);
}

/* Whether a process's command line mentions s (the soak's programs name their folder). */
static bool process_mentions(const char *s)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d)) && !found) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char p[300], buf[4096];
        snprintf(p, sizeof(p), "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n] = '\0';
        found = strstr(buf, s) != NULL;
    }
    if (d)
        closedir(d);
    return found;
}

static void test_sigint_leaves_valid_results(void **state)
{
    const char *dir = ((struct tsup_ctx *)*state)->dir;
    char *out = tsup_fmt("%s/intr", dir);
    char *argv[] = {tsup_bin("racelab"),
                    "soak",
                    FORCED,
                    "--duration",
                    "120s",
                    "--rate",
                    "2000",
                    "--out",
                    out,
                    NULL};
    char *err = tsup_fmt("%s/intr.err", dir);
    struct tsup_proc p;
    assert_int_equal(tsup_spawn(&p, argv, NULL, err), 0);
    /* wait for the client's first counters line: the soak is under way */
    char *rec = tsup_fmt("%s/downstream.jsonl", out);
    uint64_t deadline = clk_mono_us() + 60000000u;
    for (;;) {
        char *t = tsup_slurp(rec);
        bool going = t && strstr(t, "\"type\":\"counters\"");
        free(t);
        if (going)
            break;
        assert_true(clk_mono_us() < deadline);
        clk_sleep_us(20000);
    }
    kill(p.pid, SIGINT);
    assert_int_equal(tsup_wait(&p, 60000), 130);
    char *res = tsup_fmt("%s/results.json", out), *pcap = tsup_fmt("%s/capture.pcap", out);
    json_t *r = json_load_file(res, 0, NULL);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "interrupted")));
    assert_true(get_int(r, "requests") > 0);
    struct analysis_result ar;
    char e[512];
    assert_int_equal(analysis_read(pcap, NULL, 0, &ar, e, sizeof(e)), 0);
    analysis_free(&ar);
    char *tmp = tsup_fmt("%s/.results.json.tmp", out);
    assert_int_equal(file_size(tmp), -1);
    assert_false(process_mentions(out));
    json_decref(r);
    free(tmp);
    free(res);
    free(pcap);
    free(rec);
    free(err);
    free(argv[0]);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_flags_exit_2, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_forced_failures_kept_with_rst, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_capture_and_records_modes, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_leaves_valid_results, tsup_ctx_setup,
                                        tsup_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
