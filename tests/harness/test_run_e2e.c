/* racelab end to end, in network namespaces: results.json values that come from the capture
 * (RSTs per direction, RSTs of each failing trial) and from the clients (outcome counts);
 * --json/--junit; exit codes 0/1/2; --proxy-cmd; --no-netns; two runs at once; SIGINT in the
 * middle of a cell leaves nothing running and a pcap that tshark reads; repro, compare, list,
 * explain. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clk.h"
#include "tsup.h"

#define SCN            RACELAB_SOURCE_DIR "/tests/harness/scenarios"
#define RUN_TIMEOUT_MS 120000

static char *tmp;

static int setup(void **state)
{
    (void)state;
    tmp = tsup_tmpdir("racelab-e2e");
    return tmp ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tsup_rmtree(tmp);
    free(tmp);
    return 0;
}

/* Runs racelab with args (NULL-terminated); stdout/stderr land in TMP/TAG.out/.err. */
static int racelab(const char *tag, ...)
{
    char *argv[32];
    size_t n = 0;
    va_list ap;
    argv[n++] = tsup_bin("racelab");
    va_start(ap, tag);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char *o = tsup_fmt("%s/%s.out", tmp, tag), *e = tsup_fmt("%s/%s.err", tmp, tag);
    int rc = tsup_run(argv, o, e, RUN_TIMEOUT_MS);
    free(argv[0]);
    free(o);
    free(e);
    return rc;
}

static char *text_of(const char *tag, const char *ext)
{
    char *p = tsup_fmt("%s/%s.%s", tmp, tag, ext);
    char *t = tsup_slurp(p);
    free(p);
    return t ? t : strdup("");
}

static void expect_exit(const char *tag, int rc, int want)
{
    if (rc == want)
        return;
    char *o = text_of(tag, "out"), *e = text_of(tag, "err");
    fail_msg("%s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", tag, rc, want, o, e);
}

static json_t *results(const char *dir)
{
    char *p = tsup_fmt("%s/results.json", dir);
    json_error_t e;
    json_t *r = json_load_file(p, 0, &e);
    if (!r)
        fail_msg("%s: %s", p, e.text);
    free(p);
    return r;
}

static json_t *cell(json_t *res, const char *scenario, const char *mitigation)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(res, "cells"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "scenario")), scenario) == 0 &&
            strcmp(json_string_value(json_object_get(c, "mitigation")), mitigation) == 0)
            return c;
    }
    fail_msg("no cell %s × %s in results", scenario, mitigation);
    return NULL;
}

static long num(json_t *c, const char *a, const char *b)
{
    json_t *v = json_object_get(c, a);
    if (b)
        v = json_object_get(v, b);
    if (!json_is_number(v))
        fail_msg("%s%s%s is not a number in %s × %s", a, b ? "." : "", b ? b : "",
                 json_string_value(json_object_get(c, "scenario")),
                 json_string_value(json_object_get(c, "mitigation")));
    return (long)json_number_value(v);
}

static bool expect_passed(json_t *c)
{
    return json_is_true(json_object_get(json_object_get(c, "expect"), "passed"));
}

/* direct: the client reuses a connection the upstream closed; the upstream's kernel answers
 * the second request with an RST — one per trial, on the upstream->downstream direction. */
static void check_direct(json_t *res, long trials)
{
    json_t *none = cell(res, "direct-reuse-after-close", "none");
    assert_int_equal(num(none, "trials", NULL), trials);
    assert_int_equal(num(none, "failures", NULL), trials);
    assert_int_equal(num(none, "outcomes", "reset") + num(none, "outcomes", "empty"), trials);
    assert_int_equal(num(none, "rst", "upstream->downstream"), trials);
    assert_int_equal(num(none, "rst", "downstream->upstream"), 0);
    assert_int_equal(num(none, "failing_rst", "upstream->downstream"), trials);
    assert_int_equal(num(none, "requests", "total"), 2 * trials);
    assert_true(expect_passed(none));
    json_t *careful = cell(res, "direct-reuse-after-close", "careful-client");
    assert_int_equal(num(careful, "failures", NULL), 0);
    assert_int_equal(num(careful, "outcomes", "200"), trials);
    assert_int_equal(num(careful, "rst", "upstream->downstream"), 0);
    assert_true(expect_passed(careful));
}

/* proxy: the wire holds the upstream's FIN; every reuse gets the upstream's RST → 503 UC
 * without mitigation, never with retry-on reset. */
static void check_held_fin(json_t *res, long trials, bool access_log)
{
    json_t *none = cell(res, "proxy-held-fin", "none");
    assert_int_equal(num(none, "failures", NULL), trials);
    assert_int_equal(num(none, "outcomes", "503"), trials);
    assert_int_equal(num(none, "rst", "upstream->proxy"), trials);
    assert_int_equal(num(none, "rst", "proxy->downstream"), 0);
    assert_true(num(none, "wire", "held") >= trials);
    if (access_log) {
        assert_int_equal(num(none, "failing_rst", "upstream->proxy"), trials);
        assert_int_equal(num(none, "proxy_flags", "UC"), trials);
    }
    assert_true(expect_passed(none));
    json_t *retry = cell(res, "proxy-held-fin", "retry-reset");
    assert_int_equal(num(retry, "failures", NULL), 0);
    assert_int_equal(num(retry, "outcomes", "200"), trials);
    assert_true(num(retry, "rst", "upstream->proxy") >= trials);
    if (access_log)
        assert_true(num(retry, "stats", "upstream_rq_retry") >= trials);
    assert_true(expect_passed(retry));
}

static void test_direct_and_outputs(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/direct", tmp), *js = tsup_fmt("%s/copy.json", tmp),
         *ju = tsup_fmt("%s/copy.xml", tmp);
    int rc = racelab("direct", "run", SCN "/direct-reuse-after-close.yaml", "--out", out, "--json",
                     js, "--junit", ju, NULL);
    expect_exit("direct", rc, 0);
    json_t *res = results(out);
    check_direct(res, 20);
    assert_true(json_is_true(json_object_get(res, "passed")));
    /* --json is the same document; --junit has one testcase per cell */
    json_error_t e;
    json_t *copy = json_load_file(js, 0, &e);
    assert_non_null(copy);
    assert_true(json_equal(copy, res));
    char *x = tsup_slurp(ju);
    assert_non_null(x);
    assert_non_null(strstr(x, "tests=\"2\" failures=\"0\" errors=\"0\""));
    assert_non_null(strstr(x, "<testcase classname=\"racelab.direct-reuse-after-close\" "
                              "name=\"none\""));
    assert_non_null(strstr(x, "name=\"careful-client\""));
    /* every cell's files: pcap, hop map, logs, command lines */
    const char *files[] = {"capture.pcap", "capture.pcap.hops", "downstream.jsonl",
                           "upstream.log", "downstream.cmd",    "cell.json"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *p = tsup_fmt("%s/direct-reuse-after-close/none/%s", out, files[i]);
        struct stat st;
        if (stat(p, &st) != 0)
            fail_msg("missing %s", p);
        free(p);
    }
    /* the table on stdout */
    char *o = text_of("direct", "out");
    assert_non_null(strstr(o, "u->d=20"));
    assert_non_null(strstr(o, "PASS"));
    free(o);
    free(x);
    json_decref(copy);
    json_decref(res);
    free(out);
    free(js);
    free(ju);
}

static void test_proxy_held_fin(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/held", tmp);
    int rc = racelab("held", "run", SCN "/proxy-held-fin.yaml", "--out", out, NULL);
    expect_exit("held", rc, 0);
    json_t *res = results(out);
    check_held_fin(res, 20, true);
    json_decref(res);
    /* the same --out again: the cell folders start empty, so the proxy's access log (which
     * appends) does not carry the first run's requests into the second run's counts */
    rc = racelab("held-again", "run", SCN "/proxy-held-fin.yaml", "--out", out, NULL);
    expect_exit("held-again", rc, 0);
    res = results(out);
    assert_int_equal(num(cell(res, "proxy-held-fin", "none"), "proxy_flags", "UC"), 20);
    json_decref(res);
    free(out);
}

static void test_exit_codes(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/wrong", tmp), *ju = tsup_fmt("%s/wrong.xml", tmp);
    int rc = racelab("wrong", "run", SCN "/failing/wrong-expectation.yaml", "--out", out, "--junit",
                     ju, NULL);
    expect_exit("wrong", rc, 1);
    char *x = tsup_slurp(ju);
    assert_non_null(x);
    assert_non_null(strstr(x, "failures=\"1\""));
    assert_non_null(strstr(x, "wrong-expectation.yaml:12: failures == 0 (got 5)"));
    char *o = text_of("wrong", "out");
    assert_non_null(strstr(o, "FAIL"));
    free(o);
    free(x);

    /* missing capability: wire faults without a namespace */
    char *out2 = tsup_fmt("%s/nonetns-wire", tmp);
    rc = racelab("nowire", "run", SCN "/proxy-held-fin.yaml", "--no-netns", "--out", out2, NULL);
    expect_exit("nowire", rc, 2);
    char *e = text_of("nowire", "err");
    assert_non_null(strstr(e, "proxy-held-fin.yaml:"));
    assert_non_null(strstr(e, "wire faults need a network namespace"));
    free(e);
    /* bad input on the command line */
    rc = racelab("nomit", "run", SCN "/proxy-held-fin.yaml", "--mitigation", "nope", "--out", out2,
                 NULL);
    expect_exit("nomit", rc, 2);
    rc = racelab("badtrials", "run", SCN "/proxy-held-fin.yaml", "--trials", "0", NULL);
    expect_exit("badtrials", rc, 2);
    struct stat st;
    assert_int_not_equal(stat(out2, &st), 0);

    /* a proxy that never comes up: the cell is an error (exit 1), the run stops launching */
    char *out3 = tsup_fmt("%s/false", tmp);
    rc = racelab("false", "run", SCN "/proxy-held-fin.yaml", "--proxy-cmd", "/bin/false", "--jobs",
                 "1", "--out", out3, NULL);
    expect_exit("false", rc, 1);
    json_t *res = results(out3);
    json_t *c = cell(res, "proxy-held-fin", "none");
    assert_true(json_is_true(json_object_get(c, "setup_error")));
    assert_non_null(
        strstr(json_string_value(json_object_get(c, "error")), "proxy exited before listening"));
    assert_true(
        json_is_true(json_object_get(cell(res, "proxy-held-fin", "retry-reset"), "not_run")));
    json_decref(res);
    free(out3);
    free(out);
    free(out2);
    free(ju);
}

static void test_no_netns(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/host", tmp);
    int rc = racelab("host", "run", SCN "/direct-reuse-after-close.yaml", "--no-netns", "--out",
                     out, NULL);
    expect_exit("host", rc, 0);
    json_t *res = results(out);
    assert_true(json_is_false(json_object_get(res, "netns")));
    check_direct(res, 20);
    json_decref(res);
    free(out);
}

/* A foreign proxy binary: the mitigations give its arguments; checks that need the access log
 * are skipped, the capture and the clients still decide. */
static void test_proxy_cmd(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/foreign", tmp);
    char *bin = tsup_bin("racelab-proxy");
    char *cmd = tsup_fmt("%s --listen {listen} --upstream {upstream} --name {name}", bin);
    free(bin);
    int rc = racelab("foreign", "run", SCN "/proxy-held-fin.yaml", "--proxy-cmd", cmd, "--out", out,
                     NULL);
    expect_exit("foreign", rc, 0);
    json_t *res = results(out);
    check_held_fin(res, 20, false);
    json_t *none = cell(res, "proxy-held-fin", "none");
    assert_true(json_is_false(json_object_get(none, "access_log")));
    size_t i, skipped = 0;
    json_t *ck;
    json_array_foreach(json_object_get(json_object_get(none, "expect"), "checks"), i, ck) skipped +=
        json_is_true(json_object_get(ck, "skipped"));
    assert_int_equal(skipped, 2); /* proxy_flags.UC and rst_on_failing upstream->proxy */
    json_decref(res);
    free(out);
    free(cmd);
}

/* Two runs at once: each cell in its own namespace, both results right. */
static void test_two_runs_at_once(void **state)
{
    (void)state;
    struct tsup_proc p[2];
    char *outs[2];
    for (int i = 0; i < 2; i++) {
        outs[i] = tsup_fmt("%s/twice-%d", tmp, i);
        char *o = tsup_fmt("%s/twice-%d.out", tmp, i), *e = tsup_fmt("%s/twice-%d.err", tmp, i);
        char *argv[] = {tsup_bin("racelab"), "run", SCN, "--out", outs[i], NULL};
        assert_int_equal(tsup_spawn(&p[i], argv, o, e), 0);
        free(argv[0]);
        free(o);
        free(e);
    }
    for (int i = 0; i < 2; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "twice-%d", i);
        expect_exit(tag, tsup_wait(&p[i], RUN_TIMEOUT_MS), 0);
        json_t *res = results(outs[i]);
        check_direct(res, 20);
        check_held_fin(res, 20, true);
        json_decref(res);
        free(outs[i]);
    }
}

/* Every descendant of pid (children, their children...), from /proc. */
static size_t descendants(pid_t root, pid_t *out, size_t cap)
{
    pid_t pids[8192], ppids[8192];
    size_t n = 0, k = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 8192) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char *p = tsup_fmt("/proc/%s/stat", e->d_name);
        char *t = tsup_slurp(p);
        free(p);
        char *rp = t ? strrchr(t, ')') : NULL;
        int ppid;
        char st;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && st != 'Z') {
            pids[n] = atoi(e->d_name);
            ppids[n++] = ppid;
        }
        free(t);
    }
    if (d)
        closedir(d);
    out[k++] = root;
    for (size_t i = 0; i < k && k < cap; i++)
        for (size_t j = 0; j < n && k < cap; j++)
            if (ppids[j] == out[i])
                out[k++] = pids[j];
    return k;
}

static bool alive(pid_t pid)
{
    char *p = tsup_fmt("/proc/%d/stat", (int)pid);
    char *t = tsup_slurp(p);
    free(p);
    if (!t)
        return false;
    char *rp = strrchr(t, ')');
    char st = 'Z';
    if (rp)
        sscanf(rp + 1, " %c", &st);
    free(t);
    return st != 'Z';
}

static void test_sigint_cleans_up(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/slow", tmp);
    char *o = tsup_fmt("%s/slow.out", tmp), *e = tsup_fmt("%s/slow.err", tmp);
    char *argv[] = {tsup_bin("racelab"), "run", SCN "/slow/slow-reuse.yaml", "--out", out, NULL};
    struct tsup_proc p;
    assert_int_equal(tsup_spawn(&p, argv, o, e), 0);
    /* Wait until the cell is in the middle of its trials. */
    char *rec = tsup_fmt("%s/slow-reuse/none/downstream.jsonl", out);
    uint64_t deadline = clk_mono_us() + 30000000u;
    struct stat st;
    while (clk_mono_us() < deadline && (stat(rec, &st) != 0 || st.st_size < 20000))
        clk_sleep_us(20000);
    assert_true(stat(rec, &st) == 0 && st.st_size >= 20000);
    pid_t family[256];
    size_t n = descendants(p.pid, family, 256);
    assert_true(n >= 4); /* racelab, the cell, upstream, downstream (and the capture) */
    kill(p.pid, SIGINT);
    expect_exit("slow", tsup_wait(&p, 30000), 130);
    for (size_t i = 1; i < n; i++)
        if (alive(family[i]))
            fail_msg("process %d of the interrupted run is still running", (int)family[i]);
    /* the pcap of the interrupted cell is complete */
    char *pcap = tsup_fmt("%s/slow-reuse/none/capture.pcap", out);
    char *targv[] = {"/usr/bin/tshark", "-n", "-r", pcap, NULL};
    char *tout = tsup_fmt("%s/tshark.out", tmp), *terr = tsup_fmt("%s/tshark.err", tmp);
    int trc = tsup_run(targv, tout, terr, 60000);
    if (trc != 0) {
        char *t = tsup_slurp(terr);
        fail_msg("tshark -r %s: exit %d: %s", pcap, trc, t ? t : "");
    }
    char *tt = tsup_slurp(tout);
    assert_true(tt && strlen(tt) > 1000);
    /* the results of the interrupted run are still written */
    json_t *res = results(out);
    assert_true(json_is_true(json_object_get(res, "interrupted")));
    json_t *c = cell(res, "slow-reuse", "none");
    assert_true(json_is_true(json_object_get(c, "interrupted")));
    assert_true(num(c, "rst", "upstream->downstream") > 10);
    json_decref(res);
    free(tt);
    free(tout);
    free(terr);
    free(pcap);
    free(rec);
    free(argv[0]);
    free(o);
    free(e);
    free(out);
}

static void test_repro_compare_list_explain(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/repro", tmp);
    int rc = racelab("repro", "repro", SCN "/proxy-held-fin.yaml", "--out", out, NULL);
    expect_exit("repro", rc, 0);
    char *t = text_of("repro", "out");
    const char *want[] = {"20 of 20 trials failed",
                          "503=20",
                          "UC=20",
                          "20 of the 20 failing trials show an RST upstream->proxy",
                          "One failing trial",
                          "upstream",
                          "Capture: ",
                          "What fixes it",
                          "retry-reset",
                          "--retry-on reset"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(t, want[i]))
            fail_msg("racelab repro output lacks '%s':\n%s", want[i], t);
    free(t);

    char *out2 = tsup_fmt("%s/compare", tmp);
    rc = racelab("compare", "compare", SCN "/proxy-held-fin.yaml", "--out", out2, NULL);
    expect_exit("compare", rc, 0);
    t = text_of("compare", "out");
    assert_non_null(strstr(t, "req/s"));
    assert_non_null(strstr(t, "retry-reset"));
    assert_non_null(strstr(t, "100.0%"));
    free(t);

    rc = racelab("list", "list", SCN, NULL);
    expect_exit("list", rc, 0);
    t = text_of("list", "out");
    assert_non_null(strstr(t, "proxy-held-fin"));
    assert_non_null(strstr(t, "mitigations: none retry-reset"));
    free(t);

    char *pcap = tsup_fmt("%s/proxy-held-fin/none/capture.pcap", out2);
    rc = racelab("explain", "explain", pcap, NULL);
    expect_exit("explain", rc, 0);
    t = text_of("explain", "out");
    assert_non_null(strstr(t, "upstream"));
    assert_non_null(strstr(t, "downstream"));
    free(t);
    free(pcap);
    free(out);
    free(out2);
}

/* A JSON-lines file of a cell's folder. */
static json_t *jsonl(const char *path)
{
    json_t *arr = json_array();
    char *text = tsup_slurp(path);
    if (!text)
        fail_msg("cannot read %s", path);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (!o)
            fail_msg("%s: %s", path, e.text);
        json_array_append_new(arr, o);
    }
    free(text);
    return arr;
}

static bool has_port(const long *v, size_t n, long port)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == port)
            return true;
    return false;
}

/* A case whose cost is latency, not failures, run four trials at a time: repro calls it
 * reproduced (exit 0: the none cell's expectations hold) although no trial failed, says so,
 * and draws the slowest trial - only that trial's connections (its downstream port and the
 * upstream connections its requests used, from the access log), in a short diagram, although
 * three other trials ran alongside on the same hops. */
static void test_repro_no_failure_draws_slowest_trial_alone(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/slowest", tmp);
    int rc = racelab("slowest", "repro", SCN "/repro/slow-parallel.yaml", "--out", out, NULL);
    expect_exit("slowest", rc, 0);
    char *t = text_of("slowest", "out");
    const char *said = strstr(t, "No trial failed; the slowest trial took ");
    if (!said)
        fail_msg("racelab repro does not name the slowest trial:\n%s", t);
    long trial = -1;
    const char *tp = strstr(said, "(trial ");
    assert_non_null(tp);
    assert_int_equal(sscanf(tp, "(trial %ld", &trial), 1);
    assert_null(strstr(t, "did not reproduce"));

    /* the trial's own ports, and every other trial's */
    char *recp = tsup_fmt("%s/slow-parallel/none/downstream.jsonl", out);
    char *accp = tsup_fmt("%s/slow-parallel/none/proxy.access.jsonl", out);
    json_t *recs = jsonl(recp), *acc = jsonl(accp);
    long mine[64], others[64], up_mine[64], up_others[64];
    size_t nm = 0, no = 0, num = 0, nuo = 0;
    size_t i;
    json_t *o;
    json_array_foreach(recs, i, o)
    {
        long port = (long)json_integer_value(json_object_get(o, "lport"));
        bool is_mine = json_integer_value(json_object_get(o, "trial")) == trial;
        if (is_mine && nm < 64)
            mine[nm++] = port;
        else if (!is_mine && no < 64)
            others[no++] = port;
    }
    assert_true(nm >= 1 && no >= 3);
    json_array_foreach(acc, i, o)
    {
        bool is_mine = has_port(mine, nm, (long)json_integer_value(json_object_get(o, "dport")));
        size_t k;
        json_t *u;
        json_array_foreach(json_object_get(o, "upstream_ports"), k, u)
        {
            long port = (long)json_integer_value(u);
            if (is_mine && num < 64)
                up_mine[num++] = port;
            else if (!is_mine && nuo < 64)
                up_others[nuo++] = port;
        }
    }
    assert_true(num >= 1);

    /* the diagram: from "racelab explain:" to the per-direction summary */
    const char *d = strstr(t, "racelab explain: ");
    assert_non_null(d);
    const char *end = strstr(d, "\nsent per direction");
    assert_non_null(end);
    size_t lines = 0;
    bool drew_up = false;
    for (const char *p = d; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lines++;
        /* a packet line ends with the flow's client port ":PORT" */
        const char *colon = n ? memrchr(p, ':', n) : NULL;
        long port = -1;
        if (colon && colon > p && colon[-1] == ' ' && sscanf(colon, ":%ld", &port) == 1 &&
            strspn(colon + 1, "0123456789") == (size_t)(p + n - colon - 1)) {
            if (has_port(others, no, port) && !has_port(mine, nm, port))
                fail_msg("the diagram of trial %ld shows another trial's downstream port %ld:\n%s",
                         trial, port, t);
            if (has_port(up_others, nuo, port) && !has_port(up_mine, num, port))
                fail_msg("the diagram of trial %ld shows upstream port %ld, which only other "
                         "trials used:\n%s",
                         trial, port, t);
            if (!has_port(mine, nm, port) && !has_port(up_mine, num, port))
                fail_msg("the diagram of trial %ld shows port %ld, not one of the trial's:\n%s",
                         trial, port, t);
            drew_up = drew_up || has_port(up_mine, num, port);
        }
        p += n + 1;
    }
    assert_true(drew_up);
    if (lines >= 60)
        fail_msg("the diagram of one trial is %zu lines long:\n%s", lines, t);

    /* explain --flow of the first trial's port: the upstream connections alive meanwhile that
     * later trials reused are pooled, so they are clipped to that connection's life: their
     * FINs, after the later trials' requests, are not drawn */
    long first_port = -1;
    json_array_foreach(recs, i, o)
    {
        if (json_integer_value(json_object_get(o, "trial")) == 0)
            first_port = (long)json_integer_value(json_object_get(o, "lport"));
    }
    assert_true(first_port > 0);
    char *pcap = tsup_fmt("%s/slow-parallel/none/capture.pcap", out);
    char *port = tsup_fmt("%ld", first_port);
    rc = racelab("flow", "explain", pcap, "--flow", port, NULL);
    expect_exit("flow", rc, 0);
    char *x = text_of("flow", "out");
    const char *pooled = strstr(x, "pooled (other requests used ");
    if (!pooled)
        fail_msg("explain --flow %ld clips no pooled upstream connection:\n%s", first_port, x);
    long pp[16];
    size_t npp = 0;
    const char *lend = pooled + strcspn(pooled, "\n");
    for (const char *q = strchr(strstr(pooled, "time:") + 5, ':'); q && q < lend && npp < 16;
         q = strchr(q + 1, ':'))
        if (sscanf(q, ":%ld", &pp[npp]) == 1)
            npp++;
    assert_true(npp >= 1);
    for (const char *p = x; *p;) {
        size_t n = strcspn(p, "\n");
        const char *colon = n ? memrchr(p, ':', n) : NULL;
        long tagp = -1;
        if (memmem(p, n, "[F.]", 4) && colon && sscanf(colon, ":%ld", &tagp) == 1 &&
            has_port(pp, npp, tagp))
            fail_msg("explain --flow %ld draws pooled connection %ld's FIN:\n%s", first_port, tagp,
                     x);
        p += n + (p[n] ? 1 : 0);
    }
    free(x);
    free(port);
    free(pcap);
    json_decref(recs);
    json_decref(acc);
    free(recp);
    free(accp);
    free(t);

    /* a case that does not reproduce as its scenario says: exit 1 */
    char *out2 = tsup_fmt("%s/repro-wrong", tmp);
    rc =
        racelab("repro-wrong", "repro", SCN "/failing/wrong-expectation.yaml", "--out", out2, NULL);
    expect_exit("repro-wrong", rc, 1);
    t = text_of("repro-wrong", "out");
    assert_non_null(strstr(t, "One failing trial"));
    free(t);
    free(out2);
    free(out);
}

/* `racelab 503-uc` is `racelab repro upstream-reuse-after-fin`, found in scenarios/ of the
 * current folder first. */
static void test_503_uc_alias(void **state)
{
    (void)state;
    char *dir = tsup_fmt("%s/cwd/scenarios", tmp);
    char *parent = tsup_fmt("%s/cwd", tmp);
    assert_int_equal(mkdir(parent, 0755), 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *text = tsup_slurp(SCN "/proxy-held-fin.yaml");
    assert_non_null(text);
    char *at = strstr(text, "name: proxy-held-fin");
    assert_non_null(at);
    char *path = tsup_fmt("%s/upstream-reuse-after-fin.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "%.*sname: upstream-reuse-after-fin%s", (int)(at - text), text,
            at + strlen("name: proxy-held-fin"));
    fclose(f);
    char old[4096];
    assert_non_null(getcwd(old, sizeof(old)));
    assert_int_equal(chdir(parent), 0);
    char *out = tsup_fmt("%s/uc", tmp);
    int rc = racelab("503uc", "503-uc", "--out", out, NULL);
    assert_int_equal(chdir(old), 0);
    expect_exit("503uc", rc, 0);
    char *t = text_of("503uc", "out");
    assert_non_null(strstr(t, "upstream-reuse-after-fin"));
    assert_non_null(strstr(t, "UC=20"));
    assert_non_null(strstr(t, "What fixes it"));
    free(t);
    free(out);
    free(path);
    free(text);
    free(dir);
    free(parent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direct_and_outputs),
        cmocka_unit_test(test_proxy_held_fin),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_no_netns),
        cmocka_unit_test(test_proxy_cmd),
        cmocka_unit_test(test_two_runs_at_once),
        cmocka_unit_test(test_sigint_cleans_up),
        cmocka_unit_test(test_repro_compare_list_explain),
        cmocka_unit_test(test_repro_no_failure_draws_slowest_trial_alone),
        cmocka_unit_test(test_503_uc_alias),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
