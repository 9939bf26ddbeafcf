/* racelab end to end, in network namespaces: results.json values that come from the capture
 * (RSTs per direction, RSTs of each failing trial) and from the clients (outcome counts);
 * --json/--junit; exit codes 0/1/2; --proxy-cmd (a program on PATH, one that never starts);
 * --no-netns; two runs at once; SIGINT in the middle of a cell leaves nothing running and a
 * pcap that tshark reads; repro, compare, list, explain. Behaviour is read from results.json, the
 * cells' records and the capture, never from the wording of what racelab prints; stdout is read
 * only where a check is about the printed format itself (run's table, compare's table, list, the
 * sequence diagrams), each saying so. */
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
    json_t *r = tsup_results(dir);
    if (!r)
        fail_msg("%s: no racelab results.json", dir);
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

/* A JSON-lines file of a cell's folder (docs/records.md). */
static json_t *cell_jsonl(json_t *c, const char *name)
{
    char *path = tsup_fmt("%s/%s", json_string_value(json_object_get(c, "dir")), name);
    json_t *arr = tsup_read_jsonl(path);
    if (!arr)
        fail_msg("cannot read %s", path);
    free(path);
    return arr;
}

/* A set of TCP ports. */
struct ports {
    long v[256];
    size_t n;
};

static bool ports_has(const struct ports *s, long port)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == port)
            return true;
    return false;
}

static void ports_add(struct ports *s, long port)
{
    if (ports_has(s, port))
        return;
    if (s->n == sizeof(s->v) / sizeof(s->v[0]))
        fail_msg("more than %zu ports", s->n);
    s->v[s->n++] = port;
}

/* The downstream ports of trial from the client's records (other trials' into others) and,
 * from the proxy's access log when acc is not NULL, the upstream ports its requests used
 * (other requests' into up_others). */
static void trial_ports(json_t *recs, json_t *acc, long trial, struct ports *mine,
                        struct ports *others, struct ports *up_mine, struct ports *up_others)
{
    size_t i, k;
    json_t *o, *u;
    json_array_foreach(recs, i, o)
    {
        long port = (long)json_integer_value(json_object_get(o, "lport"));
        ports_add(json_integer_value(json_object_get(o, "trial")) == trial ? mine : others, port);
    }
    json_array_foreach(acc, i, o)
    {
        bool is_mine = ports_has(mine, (long)json_integer_value(json_object_get(o, "dport")));
        json_array_foreach(json_object_get(o, "upstream_ports"), k, u)
            ports_add(is_mine ? up_mine : up_others, (long)json_integer_value(u));
    }
}

/* One packet line of a sequence diagram. */
struct drawn {
    long port; /* the client port of the packet's flow */
    bool fin;  /* its flags carry a FIN */
};

/* The packet lines of a sequence diagram in text, in the format of racelab explain (which repro
 * prints too): a packet line starts with its time in ms, gives the packet's flags in brackets,
 * FIN first ("[F.]", "[FP.]"), and ends with the client port of its flow (" :PORT"); header
 * and note lines do not. The diagram has no machine-readable form, so this reads the printed
 * format itself. Stores up to cap lines; returns how many there are. */
static size_t drawn_packets(const char *text, struct drawn *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        const char *end = p + len;
        const char *time = p + strspn(p, " ");
        size_t tlen = strspn(time, "0123456789.");
        const char *colon = len ? memrchr(p, ':', len) : NULL;
        const char *flags = memchr(p, '[', len);
        if (time < end && isdigit((unsigned char)*time) && time[tlen] == ' ' && colon &&
            colon > p && colon[-1] == ' ' && colon + 1 < end &&
            strspn(colon + 1, "0123456789") == (size_t)(end - colon - 1) && flags) {
            if (n < cap)
                out[n] = (struct drawn){strtol(colon + 1, NULL, 10), flags[1] == 'F'};
            n++;
        }
        p = *end ? end + 1 : end;
    }
    return n;
}

/* The trial whose connections the diagram in text draws: the trial of its first packet line
 * on a downstream port of the cell's records (-1 when none is). */
static long drawn_trial(const char *text, json_t *c)
{
    struct drawn d[512];
    size_t n = drawn_packets(text, d, 512);
    json_t *recs = cell_jsonl(c, "downstream.jsonl");
    long trial = -1;
    for (size_t i = 0; i < n && i < 512 && trial < 0; i++) {
        size_t k;
        json_t *o;
        json_array_foreach(recs, k, o)
        {
            if (json_integer_value(json_object_get(o, "lport")) == d[i].port) {
                trial = (long)json_integer_value(json_object_get(o, "trial"));
                break;
            }
        }
    }
    json_decref(recs);
    return trial;
}

static bool is_failing_trial(json_t *c, long trial)
{
    size_t i;
    json_t *ft;
    json_array_foreach(json_object_get(c, "failing_trials"), i, ft)
    {
        if (json_integer_value(json_object_get(ft, "trial")) == trial)
            return true;
    }
    return false;
}

/* The diagram in text (repro's stdout) draws exactly trial's connections of cell c, however
 * many trials ran alongside: each packet line is on one of the trial's downstream connections
 * (the client's records) or, when the cell has an access log, on an upstream connection its
 * requests used; it draws both kinds, and at most max_lines packet lines. */
static void expect_diagram_of_trial(const char *text, json_t *c, long trial, size_t max_lines)
{
    bool logs = json_is_true(json_object_get(c, "access_log"));
    json_t *recs = cell_jsonl(c, "downstream.jsonl");
    json_t *acc = logs ? cell_jsonl(c, "proxy.access.jsonl") : NULL;
    struct ports mine = {0}, others = {0}, up_mine = {0}, up_others = {0};
    trial_ports(recs, acc, trial, &mine, &others, &up_mine, &up_others);
    if (mine.n == 0)
        fail_msg("the client recorded no connection of trial %ld", trial);
    struct drawn d[512];
    size_t n = drawn_packets(text, d, 512);
    if (n == 0 || n > max_lines || n > 512)
        fail_msg("the diagram of trial %ld has %zu packet lines (expected 1 to %zu):\n%s", trial, n,
                 max_lines, text);
    bool drew_down = false, drew_up = false;
    for (size_t i = 0; i < n; i++) {
        long port = d[i].port;
        if (ports_has(&mine, port))
            drew_down = true;
        else if (ports_has(&up_mine, port))
            drew_up = true;
        else if (ports_has(&others, port))
            fail_msg("the diagram of trial %ld shows another trial's downstream port %ld:\n%s",
                     trial, port, text);
        else if (ports_has(&up_others, port))
            fail_msg("the diagram of trial %ld shows upstream port %ld, which only other trials "
                     "used:\n%s",
                     trial, port, text);
        else
            fail_msg("the diagram of trial %ld shows port %ld, not one of the trial's:\n%s", trial,
                     port, text);
    }
    if (!drew_down)
        fail_msg("the diagram of trial %ld lacks its downstream connection:\n%s", trial, text);
    if (logs && !drew_up)
        fail_msg("the diagram of trial %ld lacks the upstream connections its requests used:\n%s",
                 trial, text);
    json_decref(recs);
    json_decref(acc);
}

/* The slowest trial of the client's records: the longest from its first request's start to
 * its last request's end, the first of equals (the trial repro draws when none failed). */
static long slowest_trial(json_t *recs)
{
    enum { MAX_TRIALS = 1024 };
    static uint64_t first[MAX_TRIALS], last[MAX_TRIALS];
    memset(first, 0, sizeof(first));
    memset(last, 0, sizeof(last));
    size_t i;
    json_t *o;
    json_array_foreach(recs, i, o)
    {
        const char *type = json_string_value(json_object_get(o, "type"));
        json_int_t t = json_integer_value(json_object_get(o, "trial"));
        uint64_t s = (uint64_t)json_integer_value(json_object_get(o, "start_us"));
        uint64_t e = (uint64_t)json_integer_value(json_object_get(o, "end_us"));
        if ((type && strcmp(type, "request") != 0) || !s || e < s)
            continue;
        if (t < 0 || t >= MAX_TRIALS)
            fail_msg("trial %lld out of range", (long long)t);
        if (!first[t] || s < first[t])
            first[t] = s;
        if (e > last[t])
            last[t] = e;
    }
    long best = -1;
    for (long t = 0; t < MAX_TRIALS; t++)
        if (first[t] && (best < 0 || last[t] - first[t] > last[best] - first[best]))
            best = t;
    return best;
}

/* The TCP packets of a capture, as tshark reads them. */
struct pkt {
    uint64_t ts_us;
    long sport, dport;
    unsigned flags; /* FIN 0x01, SYN 0x02, RST 0x04 */
};

static struct pkt *capture_packets(const char *pcap, size_t *n)
{
    char *argv[] = {"/usr/bin/tshark",
                    "-n",
                    "-r",
                    (char *)pcap,
                    "-Y",
                    "tcp",
                    "-T",
                    "fields",
                    "-e",
                    "frame.time_epoch",
                    "-e",
                    "tcp.srcport",
                    "-e",
                    "tcp.dstport",
                    "-e",
                    "tcp.flags",
                    NULL};
    char *out = tsup_fmt("%s/packets.out", tmp), *err = tsup_fmt("%s/packets.err", tmp);
    int rc = tsup_run(argv, out, err, 60000);
    char *text = tsup_slurp(out);
    if (rc != 0 || !text) {
        char *e = tsup_slurp(err);
        fail_msg("tshark -r %s: exit %d: %s", pcap, rc, e ? e : "");
    }
    size_t cap = 64;
    struct pkt *v = malloc(cap * sizeof(*v));
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long long sec;
        char frac[16] = "";
        struct pkt k;
        if (sscanf(line, "%llu.%9[0-9] %ld %ld %x", &sec, frac, &k.sport, &k.dport, &k.flags) != 5)
            fail_msg("tshark -r %s: cannot read '%s'", pcap, line);
        strcat(frac, "000000");
        frac[6] = '\0';
        k.ts_us = (uint64_t)sec * 1000000u + strtoull(frac, NULL, 10);
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        v[(*n)++] = k;
    }
    free(text);
    free(out);
    free(err);
    return v;
}

static bool on_flow(const struct pkt *k, long client_port, long server_port)
{
    return (k->sport == client_port && k->dport == server_port) ||
           (k->sport == server_port && k->dport == client_port);
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
        /* the proxy's RST to each held FIN, which the wire delivers after the last trials
         * (before the programs are stopped), is its trial's, not the teardown's */
        assert_int_equal(num(none, "trials_with_rst", "proxy->upstream"),
                         num(none, "rst", "proxy->upstream"));
    }
    assert_int_equal(num(none, "teardown_rst", "proxy->upstream"), 0);
    assert_int_equal(num(none, "teardown_rst", "proxy->downstream"), 0);
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
    /* every cell's files: pcap, hop map, logs (gzip'd once read), command lines; nothing left
     * plain or half-written beside them */
    const char *files[] = {"capture.pcap.gz", "capture.pcap.hops", "downstream.jsonl.gz",
                           "upstream.log.gz", "downstream.cmd",    "cell.json"};
    const char *gone[] = {"capture.pcap", "downstream.jsonl", "upstream.log",
                          "capture.pcap.gz.tmp"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        char *p = tsup_fmt("%s/direct-reuse-after-close/none/%s", out, gone[i]);
        if (access(p, F_OK) == 0)
            fail_msg("%s is still there", p);
        free(p);
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *p = tsup_fmt("%s/direct-reuse-after-close/none/%s", out, files[i]);
        struct stat st;
        if (stat(p, &st) != 0)
            fail_msg("missing %s", p);
        free(p);
    }
    /* the table on stdout: this test is about run's outputs, and this check is about the
     * table's printed format (the RSTs per hop as u->d=N, the result column) */
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

/* Every connection of a cell's capture is a trial's: readiness is read from the namespace's
 * socket table, so no probe connects to a program. The downstream hop has exactly one SYN per
 * connection the client's records name (trials × conns), the proxy counted as many downstream
 * connections and logged no request of its own (no 400 of a probe), and every upstream
 * connection in the capture is one the upstream accepted for the proxy. */
static void check_only_trial_connections(json_t *c)
{
    json_t *recs = cell_jsonl(c, "downstream.jsonl");
    json_t *acc = cell_jsonl(c, "proxy.access.jsonl");
    struct ports lports = {.n = 0};
    size_t i;
    json_t *o;
    json_array_foreach(recs, i, o)
        ports_add(&lports, (long)json_integer_value(json_object_get(o, "lport")));
    long trials = num(c, "trials", NULL);
    assert_int_equal(lports.n, trials); /* one connection per trial in this scenario */
    assert_int_equal(num(c, "syn", "downstream->proxy"), (long)lports.n);
    assert_int_equal(num(c, "rst", "downstream->proxy"), 0);
    assert_int_equal(num(c, "stats", "downstream_cx_total"), (long)lports.n);
    json_array_foreach(acc, i, o)
    {
        long dport = (long)json_integer_value(json_object_get(o, "dport"));
        if (!ports_has(&lports, dport) || json_integer_value(json_object_get(o, "status")) == 400)
            fail_msg("an access-log line that is no trial's: dport %ld, status %lld", dport,
                     (long long)json_integer_value(json_object_get(o, "status")));
    }
    assert_int_equal(num(c, "syn", "proxy->upstream"), num(c, "upstream", "accept"));
    json_decref(recs);
    json_decref(acc);
}

static void test_proxy_held_fin(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/held", tmp);
    int rc = racelab("held", "run", SCN "/proxy-held-fin.yaml", "--out", out, NULL);
    expect_exit("held", rc, 0);
    json_t *res = results(out);
    check_held_fin(res, 20, true);
    check_only_trial_connections(cell(res, "proxy-held-fin", "none"));
    /* racelab's own proxy is stopped at once */
    assert_int_equal(
        num(json_object_get(cell(res, "proxy-held-fin", "none"), "stop"), "proxy", "settle_ms"), 0);
    check_only_trial_connections(cell(res, "proxy-held-fin", "retry-reset"));
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
    json_t *res = results(out);
    assert_true(json_is_false(json_object_get(res, "passed")));
    json_t *c = cell(res, "wrong-expectation", "none");
    assert_false(expect_passed(c));
    /* the one check, its line in the scenario and the value it got */
    json_t *checks = json_object_get(json_object_get(c, "expect"), "checks");
    assert_int_equal(json_array_size(checks), 1);
    json_t *ck = json_array_get(checks, 0);
    assert_true(json_is_false(json_object_get(ck, "passed")));
    assert_int_equal(num(ck, "line", NULL), 12);
    assert_int_equal(num(ck, "value", NULL), 5);
    json_decref(res);
    /* --junit counts the failed cell */
    char *x = tsup_slurp(ju);
    assert_non_null(x);
    assert_non_null(strstr(x, "tests=\"1\" failures=\"1\" errors=\"0\""));
    free(x);

    /* missing capability: wire faults without a namespace */
    char *out2 = tsup_fmt("%s/nonetns-wire", tmp);
    rc = racelab("nowire", "run", SCN "/proxy-held-fin.yaml", "--no-netns", "--out", out2, NULL);
    expect_exit("nowire", rc, 2);
    /* the message names what it refuses as FILE:LINE: key: (docs/harness.md): a line of the
     * scenario's wire section */
    char *e = text_of("nowire", "err");
    const char *at = strstr(e, "proxy-held-fin.yaml:");
    if (!at)
        fail_msg("racelab run --no-netns does not name the scenario file:\n%s", e);
    int line = 0, key = 0;
    assert_int_equal(sscanf(at, "proxy-held-fin.yaml:%d: wire:%n", &line, &key), 1);
    assert_true(key > 0);
    char *yaml = tsup_slurp(SCN "/proxy-held-fin.yaml");
    assert_non_null(yaml);
    int wire = 0, next = 0, ln = 1;
    for (const char *p = yaml; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0), ln++) {
        if (strncmp(p, "wire:", 5) == 0)
            wire = ln;
        else if (wire && !next && isalpha((unsigned char)*p))
            next = ln;
    }
    if (!(wire > 0 && line >= wire && line < next))
        fail_msg("the message points at line %d, not into the wire section (lines %d-%d):\n%s",
                 line, wire, next - 1, e);
    free(yaml);
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
    res = results(out3);
    c = cell(res, "proxy-held-fin", "none");
    assert_true(json_is_true(json_object_get(c, "setup_error")));
    /* the proxy exited (with /bin/false's status) and the client never started */
    json_t *procs = json_object_get(c, "processes");
    assert_string_equal(json_string_value(json_object_get(procs, "proxy")), "exit 1");
    assert_string_equal(json_string_value(json_object_get(procs, "downstream")), "not started");
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

/* A foreign proxy binary: it gets each cell's proxy settings as racelab-proxy flags (none's
 * --no-mitigations is what makes it fail, retry-reset's --retry-on reset what saves it); checks
 * that need the access log are skipped, the capture and the clients still decide, and the
 * upstream hop is attributed through the client's trial tag in the upstream's log
 * (rst_on_failing upstream->proxy holds). */
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
    assert_int_equal(skipped, 1); /* proxy_flags.UC */
    size_t natt = 0;
    json_t *d;
    json_array_foreach(json_object_get(none, "attributed"), i, d) natt +=
        strcmp(json_string_value(d), "upstream->proxy") == 0;
    assert_int_equal(natt, 1);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(none, "failing_rst"), "upstream->proxy")),
                     json_integer_value(json_object_get(none, "failures")));
    json_decref(res);
    free(out);
    free(cmd);
}

/* A --proxy-cmd program found on PATH, as wrappers of nginx or HAProxy usually are: the
 * pre-flight check and the exec find it the same way (execvp's rules), and the cell runs. */
static void test_proxy_cmd_on_path(void **state)
{
    (void)state;
    char *bindir = tsup_fmt("%s/path-bin", tmp);
    assert_int_equal(mkdir(bindir, 0755), 0);
    char *wrapper = tsup_fmt("%s/rl-proxy-wrapper", bindir);
    char *proxy = tsup_bin("racelab-proxy");
    FILE *f = fopen(wrapper, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\nexec '%s' \"$@\"\n", proxy);
    fclose(f);
    assert_int_equal(chmod(wrapper, 0755), 0);
    const char *old = getenv("PATH");
    char *saved = strdup(old ? old : "/usr/bin:/bin");
    char *path = tsup_fmt("%s:%s", bindir, saved);
    setenv("PATH", path, 1);
    char *out = tsup_fmt("%s/on-path", tmp);
    int rc = racelab("onpath", "run", SCN "/proxy-held-fin.yaml", "--proxy-cmd",
                     "rl-proxy-wrapper --listen {listen} --upstream {upstream} --name {name}",
                     "--out", out, NULL);
    setenv("PATH", saved, 1);
    expect_exit("onpath", rc, 0);
    json_t *res = results(out);
    check_held_fin(res, 20, false);
    /* the default stop of a --proxy-cmd proxy: SIGTERM 200 ms after the last trial */
    json_t *stop =
        json_object_get(json_object_get(cell(res, "proxy-held-fin", "none"), "stop"), "proxy");
    assert_string_equal(json_string_value(json_object_get(stop, "signal")), "SIGTERM");
    assert_int_equal(num(stop, "settle_ms", NULL), 200);
    json_decref(res);
    free(out);
    free(path);
    free(saved);
    free(proxy);
    free(wrapper);
    free(bindir);
}

/* A --proxy-cmd program that never starts. The cell is an error (exit 1, junit <error>), never a
 * result with failed trials ("failures" is null: no trial ran), and its message names the
 * program and how it ended (this reads the wording of the cell's "error" and, for a command
 * not found, of stderr: the check is that they name it). Not found at all: refused before
 * anything starts (exit 2). */
static void test_proxy_never_starts(void **state)
{
    (void)state;
    struct {
        const char *tag, *cmd, *prog, *how;
    } cases[] = {
        {"exit3", "sh -c 'exit 3'", "'sh'", "exit 3"},
        /* found and executable, but exec refuses it (no #! line): exit 127 */
        {"noexec", NULL, "not-a-program", "Exec format error"},
    };
    char *bad = tsup_fmt("%s/not-a-program", tmp);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fprintf(f, "this is no program\n");
    fclose(f);
    assert_int_equal(chmod(bad, 0755), 0);
    char *badcmd = tsup_fmt("%s --listen {listen}", bad);
    cases[1].cmd = badcmd;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = tsup_fmt("%s/never-%s", tmp, cases[i].tag);
        char *ju = tsup_fmt("%s/never-%s.xml", tmp, cases[i].tag);
        int rc = racelab(cases[i].tag, "run", SCN "/proxy-held-fin.yaml", "--mitigation", "none",
                         "--proxy-cmd", cases[i].cmd, "--out", out, "--junit", ju, NULL);
        expect_exit(cases[i].tag, rc, 1);
        json_t *res = results(out);
        json_t *c = cell(res, "proxy-held-fin", "none");
        assert_true(json_is_null(json_object_get(c, "failures")));
        assert_true(json_is_true(json_object_get(c, "setup_error")));
        const char *err = json_string_value(json_object_get(c, "error"));
        assert_non_null(err);
        if (!strstr(err, cases[i].prog) || !strstr(err, cases[i].how))
            fail_msg("%s: the error does not name %s and %s: %s", cases[i].tag, cases[i].prog,
                     cases[i].how, err);
        json_t *procs = json_object_get(c, "processes");
        assert_string_equal(json_string_value(json_object_get(procs, "downstream")), "not started");
        if (i == 0)
            assert_string_equal(json_string_value(json_object_get(procs, "proxy")), "exit 3");
        char *x = tsup_slurp(ju);
        assert_non_null(x);
        assert_non_null(strstr(x, "tests=\"1\" failures=\"0\" errors=\"1\""));
        free(x);
        json_decref(res);
        free(out);
        free(ju);
    }
    /* not found: exit 2, nothing run, the message names the command */
    char *out = tsup_fmt("%s/never-missing", tmp);
    int rc = racelab("missing", "run", SCN "/proxy-held-fin.yaml", "--proxy-cmd",
                     "rl-no-such-proxy {listen}", "--out", out, NULL);
    expect_exit("missing", rc, 2);
    char *e = text_of("missing", "err");
    assert_non_null(strstr(e, "rl-no-such-proxy"));
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);
    free(e);
    free(out);
    free(badcmd);
    free(bad);
}

/* A --proxy-cmd proxy is stopped --proxy-stop-settle ms after the client's last trial, not at
 * once (nginx still discarding an upload's tail would close with an RST): a shell around
 * racelab-proxy notes when its SIGTERM came; racelab's own proxy is stopped at once. */
static void test_proxy_cmd_stop_settle(void **state)
{
    (void)state;
    char *wrapper = tsup_fmt("%s/noting-wrapper", tmp);
    char *proxy = tsup_bin("racelab-proxy");
    FILE *f = fopen(wrapper, "w");
    assert_non_null(f);
    fprintf(f,
            "#!/bin/sh\n"
            "dir=$1; shift\n"
            "trap 'date +%%s%%N > \"$dir/term.ns\"; kill -TERM $pid; wait $pid; exit 0' TERM\n"
            "'%s' \"$@\" &\n"
            "pid=$!\n"
            "wait $pid\n",
            proxy);
    fclose(f);
    assert_int_equal(chmod(wrapper, 0755), 0);
    char *cmd = tsup_fmt("%s {dir} --listen {listen} --upstream {upstream} --name {name}", wrapper);
    char *out = tsup_fmt("%s/settle", tmp);
    int rc =
        racelab("settle", "run", SCN "/proxy-held-fin.yaml", "--mitigation", "none", "--trials",
                "5", "--proxy-cmd", cmd, "--proxy-stop-settle", "300", "--out", out, NULL);
    expect_exit("settle", rc, 0);
    json_t *res = results(out);
    json_t *c = cell(res, "proxy-held-fin", "none");
    json_t *stop = json_object_get(json_object_get(c, "stop"), "proxy");
    assert_string_equal(json_string_value(json_object_get(stop, "signal")), "SIGTERM");
    assert_int_equal(num(stop, "settle_ms", NULL), 300);
    assert_int_equal(num(json_object_get(c, "stop"), "upstream", "settle_ms"), 0);
    /* stopped after it settled: nothing of the stop reset a downstream connection */
    assert_int_equal(num(c, "teardown_rst", "proxy->downstream"), 0);
    assert_int_equal(num(c, "teardown_rst", "downstream->proxy"), 0);
    json_t *recs = cell_jsonl(c, "downstream.jsonl");
    uint64_t last_end = 0;
    size_t i;
    json_t *o;
    json_array_foreach(recs, i, o)
    {
        uint64_t e = (uint64_t)json_integer_value(json_object_get(o, "end_us"));
        if (e > last_end)
            last_end = e;
    }
    char *p = tsup_fmt("%s/term.ns", json_string_value(json_object_get(c, "dir")));
    char *t = tsup_slurp(p);
    if (!t)
        fail_msg("the proxy got no SIGTERM (no %s)", p);
    uint64_t term_us = strtoull(t, NULL, 10) / 1000u;
    /* 300 ms at least after the last trial's end (a little less for the clocks' rounding) */
    if (!(term_us + 2000 >= last_end + 300000 && term_us < last_end + 5000000))
        fail_msg("SIGTERM came %.1f ms after the last trial ended, expected 300 ms or more",
                 ((double)term_us - (double)last_end) / 1000.0);
    free(t);
    free(p);
    json_decref(recs);
    json_decref(res);
    free(out);
    free(cmd);
    free(proxy);
    free(wrapper);
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
    char *pcap = tsup_fmt("%s/slow-reuse/none/capture.pcap.gz", out);
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

/* repro: the none cell once, exit 0 as its expectations hold, and the diagram of one failing
 * trial alone. */
static void test_repro(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/repro", tmp);
    int rc = racelab("repro", "repro", SCN "/proxy-held-fin.yaml", "--out", out, NULL);
    expect_exit("repro", rc, 0);
    json_t *res = results(out);
    assert_int_equal(json_array_size(json_object_get(res, "cells")), 1);
    json_t *c = cell(res, "proxy-held-fin", "none");
    assert_int_equal(num(c, "failures", NULL), 20);
    assert_int_equal(num(c, "outcomes", "503"), 20);
    assert_int_equal(num(c, "proxy_flags", "UC"), 20);
    assert_int_equal(num(c, "failing_rst", "upstream->proxy"), 20);
    assert_true(expect_passed(c));
    char *t = text_of("repro", "out");
    long trial = drawn_trial(t, c);
    if (!is_failing_trial(c, trial))
        fail_msg("racelab repro draws trial %ld, not a failing one:\n%s", trial, t);
    expect_diagram_of_trial(t, c, trial, 50);
    /* the capture's path, and the scenario's fix (fix: retry-reset) with its proxy flags */
    const char *want[] = {json_string_value(json_object_get(c, "capture")), "retry-reset",
                          "--retry-on reset"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!want[i] || !strstr(t, want[i]))
            fail_msg("racelab repro output lacks '%s':\n%s", want[i] ? want[i] : "(capture)", t);
    free(t);
    json_decref(res);
    free(out);
}

/* compare runs every mitigation on the same work; list and explain print, and print only. The
 * checks on stdout here are about the printed formats themselves: compare's table (a row per
 * mitigation, the throughput column), list's lines, explain's sides and packet lines. */
static void test_compare_list_explain(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/compare", tmp);
    int rc = racelab("compare", "compare", SCN "/proxy-held-fin.yaml", "--out", out, NULL);
    expect_exit("compare", rc, 0);
    json_t *res = results(out);
    const char *mits[] = {"none", "retry-reset"};
    const double rate[] = {1.0, 0.0};
    for (size_t i = 0; i < 2; i++) {
        json_t *c = cell(res, "proxy-held-fin", mits[i]);
        assert_true(expect_passed(c));
        assert_true(json_number_value(json_object_get(c, "failure_rate")) == rate[i]);
        assert_true(json_number_value(json_object_get(c, "throughput_rps")) > 0);
    }
    json_decref(res);
    char *t = text_of("compare", "out");
    assert_non_null(strstr(t, "req/s"));
    for (size_t i = 0; i < 2; i++) {
        char *row = tsup_fmt("\n%s ", mits[i]);
        if (!strstr(t, row))
            fail_msg("racelab compare prints no row for %s:\n%s", mits[i], t);
        free(row);
    }
    free(t);

    rc = racelab("list", "list", SCN, NULL);
    expect_exit("list", rc, 0);
    t = text_of("list", "out");
    assert_non_null(strstr(t, "proxy-held-fin"));
    assert_non_null(strstr(t, "mitigations: none retry-reset"));
    free(t);

    char *pcap = tsup_fmt("%s/proxy-held-fin/none/capture.pcap", out);
    rc = racelab("explain", "explain", pcap, NULL);
    expect_exit("explain", rc, 0);
    t = text_of("explain", "out");
    /* the sides as the capture's hops file names them ("PORT CLIENT SERVER") */
    char *hp = tsup_fmt("%s.hops", pcap);
    char *hops = tsup_slurp(hp);
    assert_non_null(hops);
    size_t nhops = 0;
    for (char *line = strtok(hops, "\n"); line; line = strtok(NULL, "\n")) {
        char client[64], server[64];
        if (line[0] == '#' || sscanf(line, "%*d %63s %63s", client, server) != 2)
            continue;
        nhops++;
        if (!strstr(t, client) || !strstr(t, server))
            fail_msg("racelab explain does not name %s and %s:\n%s", client, server, t);
    }
    assert_int_equal(nhops, 2);
    struct drawn d[1];
    assert_true(drawn_packets(t, d, 1) > 0);
    free(hops);
    free(hp);
    free(t);
    free(pcap);
    free(out);
}

/* A case whose cost is latency, not failures, run four trials at a time: repro calls it
 * reproduced (exit 0: the none cell's expectations hold) although no trial failed, and draws
 * the slowest trial - only that trial's connections (its downstream port and the upstream
 * connections its requests used, from the access log), in a short diagram, although three
 * other trials ran alongside on the same hops. */
static void test_repro_no_failure_draws_slowest_trial_alone(void **state)
{
    (void)state;
    char *out = tsup_fmt("%s/slowest", tmp);
    int rc = racelab("slowest", "repro", SCN "/repro/slow-parallel.yaml", "--out", out, NULL);
    expect_exit("slowest", rc, 0);
    json_t *res = results(out);
    json_t *c = cell(res, "slow-parallel", "none");
    assert_int_equal(num(c, "failures", NULL), 0);
    assert_int_equal(json_array_size(json_object_get(c, "failing_trials")), 0);
    assert_true(expect_passed(c));
    json_t *recs = cell_jsonl(c, "downstream.jsonl");
    long trial = slowest_trial(recs);
    assert_true(trial >= 0);
    char *t = text_of("slowest", "out");
    expect_diagram_of_trial(t, c, trial, 50);
    free(t);

    /* explain --flow of the first trial's port: an upstream connection its request used that a
     * later request used again (one that began after the last packet of that downstream
     * connection) is pooled, so it is clipped to the downstream connection's life: its FIN,
     * after the later request, is not drawn */
    long first_port = -1;
    size_t i, k, j, m;
    json_t *o, *u, *o2, *u2;
    json_array_foreach(recs, i, o)
    {
        if (json_integer_value(json_object_get(o, "trial")) == 0)
            first_port = (long)json_integer_value(json_object_get(o, "lport"));
    }
    assert_true(first_port > 0);
    char *pcap = tsup_fmt("%s/slow-parallel/none/capture.pcap.gz", out);
    long proxy_port = num(c, "ports", "proxy"), up_port = num(c, "ports", "upstream");
    size_t npk;
    struct pkt *pk = capture_packets(pcap, &npk);
    uint64_t last = 0;
    for (i = 0; i < npk; i++)
        if (on_flow(&pk[i], first_port, proxy_port) && pk[i].ts_us > last)
            last = pk[i].ts_us;
    assert_true(last > 0);
    json_t *acc = cell_jsonl(c, "proxy.access.jsonl");
    struct ports pooled = {0};
    json_array_foreach(acc, i, o)
    {
        if (json_integer_value(json_object_get(o, "dport")) != first_port)
            continue;
        json_array_foreach(json_object_get(o, "upstream_ports"), k, u)
        {
            json_array_foreach(acc, j, o2)
            {
                if ((uint64_t)json_integer_value(json_object_get(o2, "start_us")) <= last)
                    continue;
                json_array_foreach(json_object_get(o2, "upstream_ports"), m, u2)
                {
                    if (json_integer_value(u2) == json_integer_value(u))
                        ports_add(&pooled, (long)json_integer_value(u));
                }
            }
        }
    }
    if (pooled.n == 0)
        fail_msg("no later request reused an upstream connection of trial 0 (downstream port "
                 "%ld)",
                 first_port);
    bool fin_captured = false;
    for (i = 0; i < npk; i++)
        for (k = 0; k < pooled.n; k++)
            fin_captured =
                fin_captured || ((pk[i].flags & 0x01) && on_flow(&pk[i], pooled.v[k], up_port));
    assert_true(fin_captured);
    char *port = tsup_fmt("%ld", first_port);
    rc = racelab("flow", "explain", pcap, "--flow", port, NULL);
    expect_exit("flow", rc, 0);
    char *x = text_of("flow", "out");
    struct drawn d[512];
    size_t nd = drawn_packets(x, d, 512);
    assert_true(nd <= 512);
    bool drew_pooled = false;
    for (i = 0; i < nd; i++) {
        if (!ports_has(&pooled, d[i].port))
            continue;
        drew_pooled = true;
        if (d[i].fin)
            fail_msg("explain --flow %ld draws pooled connection %ld's FIN:\n%s", first_port,
                     d[i].port, x);
    }
    if (!drew_pooled)
        fail_msg("explain --flow %ld draws no upstream connection of that trial:\n%s", first_port,
                 x);
    free(x);
    free(port);
    free(pk);
    free(pcap);
    json_decref(acc);
    json_decref(recs);
    json_decref(res);

    /* a case that does not reproduce as its scenario says: exit 1, and the diagram of a
     * failing trial */
    char *out2 = tsup_fmt("%s/repro-wrong", tmp);
    rc =
        racelab("repro-wrong", "repro", SCN "/failing/wrong-expectation.yaml", "--out", out2, NULL);
    expect_exit("repro-wrong", rc, 1);
    res = results(out2);
    c = cell(res, "wrong-expectation", "none");
    assert_false(expect_passed(c));
    assert_int_equal(num(c, "failures", NULL), 5);
    t = text_of("repro-wrong", "out");
    trial = drawn_trial(t, c);
    if (!is_failing_trial(c, trial))
        fail_msg("racelab repro draws trial %ld, not a failing one:\n%s", trial, t);
    expect_diagram_of_trial(t, c, trial, 50);
    free(t);
    json_decref(res);
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
    json_t *res = results(out);
    assert_int_equal(json_array_size(json_object_get(res, "cells")), 1);
    json_t *c = cell(res, "upstream-reuse-after-fin", "none");
    assert_int_equal(num(c, "proxy_flags", "UC"), 20);
    assert_true(expect_passed(c));
    json_decref(res);
    /* and it prints the scenario's fix, with its proxy flags */
    char *t = text_of("503uc", "out");
    assert_non_null(strstr(t, "--retry-on reset"));
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
        cmocka_unit_test(test_proxy_cmd_on_path),
        cmocka_unit_test(test_proxy_never_starts),
        cmocka_unit_test(test_proxy_cmd_stop_settle),
        cmocka_unit_test(test_two_runs_at_once),
        cmocka_unit_test(test_sigint_cleans_up),
        cmocka_unit_test(test_repro),
        cmocka_unit_test(test_compare_list_explain),
        cmocka_unit_test(test_repro_no_failure_draws_slowest_trial_alone),
        cmocka_unit_test(test_503_uc_alias),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
