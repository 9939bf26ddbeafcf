/* report.html of a real small run (a failing direct cell, a proxy cell whose race always
 * happens and its fix, and a sweep with three mitigations): every cell of results.json is in the
 * matrix with its numbers and status and has its detail section; every href to a file resolves
 * to an existing file and every #anchor exists; nothing is loaded from anywhere (no script, no
 * src=); the failing trial is drawn with its race notes; `racelab report` writes the same bytes
 * again, and with -o elsewhere its links still resolve; bad input is refused with exit 2; and
 * text from the files is escaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "interval.h"
#include "report.h"
#include "tsup.h"

#define SCN RACELAB_SOURCE_DIR "/tests/harness/scenarios"

static char *run_dir; /* one run for every test: made by the group setup */
static char *tmp_dir;

static int group_setup(void **state)
{
    (void)state;
    tmp_dir = tsup_tmpdir("report");
    run_dir = tsup_fmt("%s/run", tmp_dir);
    char *bin = tsup_bin("racelab");
    char *errp = tsup_fmt("%s/run.err", tmp_dir);
    char *argv[] = {bin,
                    "run",
                    SCN "/failing/wrong-expectation.yaml",
                    SCN "/proxy-held-fin.yaml",
                    RACELAB_SOURCE_DIR "/scenarios/upstream-reuse-after-fin-sweep.yaml",
                    "--trials",
                    "11",
                    "--out",
                    run_dir,
                    "--quiet",
                    NULL};
    int rc = tsup_run(argv, NULL, errp, 300000);
    if (rc != 1) { /* wrong-expectation fails on purpose */
        char *err = tsup_slurp(errp);
        fprintf(stderr, "racelab run exited %d: %s\n", rc, err ? err : "");
        free(err);
        return -1;
    }
    free(errp);
    free(bin);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tsup_rmtree(tmp_dir);
    free(run_dir);
    free(tmp_dir);
    return 0;
}

static json_t *results(void)
{
    char *p = tsup_fmt("%s/results.json", run_dir);
    json_t *r = json_load_file(p, 0, NULL);
    assert_non_null(r);
    free(p);
    return r;
}

/* The HTML-escaped form of s (what the page must contain for it). */
static char *esc(const char *s)
{
    size_t n = 0;
    char *o = malloc(strlen(s) * 6 + 1);
    for (; *s; s++) {
        const char *r = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;" : NULL;
        r = r ? r : *s == '"' ? "&quot;" : *s == '\'' ? "&#39;" : NULL;
        if (r) {
            memcpy(o + n, r, strlen(r));
            n += strlen(r);
        } else {
            o[n++] = *s;
        }
    }
    o[n] = '\0';
    return o;
}

/* The text from the first occurrence of start to the next end after it (malloc'd), or NULL. */
static char *between(const char *text, const char *start, const char *end)
{
    const char *a = strstr(text, start);
    const char *b = a ? strstr(a, end) : NULL;
    return b ? strndup(a, (size_t)(b - a)) : NULL;
}

static void must_contain(const char *hay, const char *needle, const char *what)
{
    if (!strstr(hay, needle))
        fail_msg("%s: '%s' missing", what, needle);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Every href of html: #ID names an id="ID" of the page; anything else is a relative path that
 * resolves, from base, to an existing file. Returns the number of file links checked. */
static size_t check_links(const char *html, const char *base)
{
    size_t files = 0;
    for (const char *p = strstr(html, "href=\""); p; p = strstr(p + 1, "href=\"")) {
        const char *v = p + 6, *e = strchr(v, '"');
        assert_non_null(e);
        char *val = strndup(v, (size_t)(e - v));
        if (val[0] == '#') {
            char *id = tsup_fmt("id=\"%s\"", val + 1);
            if (!strstr(html, id))
                fail_msg("href %s: no element with that id", val);
            free(id);
        } else {
            if (strstr(val, "://") || val[0] == '/')
                fail_msg("href %s is not a relative link", val);
            char *dec = malloc(strlen(val) + 1);
            size_t n = 0;
            for (const char *s = val; *s; s++) {
                if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
                    dec[n++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
                    s += 2;
                } else {
                    dec[n++] = *s;
                }
            }
            dec[n] = '\0';
            char *path = tsup_fmt("%s/%s", base, dec);
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                fail_msg("href %s: %s is not a file", val, path);
            files++;
            free(path);
            free(dec);
        }
        free(val);
    }
    return files;
}

/* Every cell of results.json: its box in the matrix (link to its detail, trials, failures, the
 * rate with its interval, outcomes, status word) and its detail section. */
static void test_cells_and_numbers(void **state)
{
    (void)state;
    json_t *r = results();
    char *path = tsup_fmt("%s/report.html", run_dir);
    char *html = tsup_slurp(path);
    assert_non_null(html);
    const json_t *cells = json_object_get(r, "cells"), *c;
    size_t i;
    assert_int_equal(json_array_size(cells), 1 + 2 + 3);
    json_array_foreach(cells, i, c)
    {
        const char *scn = json_string_value(json_object_get(c, "scenario"));
        const char *mit = json_string_value(json_object_get(c, "mitigation"));
        char *anchor = tsup_fmt("c%zu-%s-%s", i, scn, mit);
        char *open = tsup_fmt("<a class=\"box\" href=\"#%s\">", anchor);
        char *box = between(html, open, "</a>");
        if (!box)
            fail_msg("cell %s x %s: no box linking to #%s", scn, mit, anchor);
        char buf[512];
        long k = (long)json_integer_value(json_object_get(c, "failures"));
        long n = (long)json_integer_value(json_object_get(c, "trials"));
        snprintf(buf, sizeof buf, "%ld/%ld failed", k, n);
        must_contain(box, buf, anchor);
        interval_format(buf, sizeof buf, k, n);
        char *e = esc(buf);
        must_contain(box, e, anchor);
        free(e);
        report_counts(buf, sizeof buf, json_object_get(c, "outcomes"), false);
        must_contain(box, buf, anchor);
        report_counts(buf, sizeof buf, json_object_get(c, "rst"), true);
        e = esc(buf);
        must_contain(box, e, anchor);
        free(e);
        bool passed = json_is_true(json_object_get(json_object_get(c, "expect"), "passed"));
        must_contain(box, passed ? ">PASS<" : ">FAIL<", anchor);
        must_contain(box, mit, anchor);
        /* the detail: its section, the latency histogram, every check with file:line */
        char *id = tsup_fmt("<section class=\"detail\" id=\"%s\">", anchor);
        char *detail = between(html, id, "</section>");
        if (!detail)
            fail_msg("cell %s: no detail section", anchor);
        must_contain(detail, "<rect class=\"bar\"", anchor);
        const json_t *ck;
        size_t j;
        json_array_foreach(json_object_get(json_object_get(c, "expect"), "checks"), j, ck)
        {
            snprintf(buf, sizeof buf, "%s:%lld",
                     json_string_value(json_object_get(c, "scenario_file")),
                     json_integer_value(json_object_get(ck, "line")));
            must_contain(detail, buf, anchor);
            e = esc(json_string_value(json_object_get(ck, "check")));
            must_contain(detail, e, anchor);
            free(e);
        }
        snprintf(buf, sizeof buf, "%s/%s/capture.pcap.gz\"", scn, mit);
        must_contain(detail, buf, anchor);
        free(detail);
        free(id);
        free(box);
        free(open);
        free(anchor);
    }
    free(html);
    free(path);
    json_decref(r);
}

/* The failing trials are drawn with the race's notes; the sweep has its chart with bands. */
static void test_diagrams_and_sweeps(void **state)
{
    (void)state;
    char *path = tsup_fmt("%s/report.html", run_dir);
    char *html = tsup_slurp(path);
    char *held = between(html, "id=\"c1-proxy-held-fin-none\"", "</section>");
    assert_non_null(held);
    must_contain(held, "<svg class=\"seq\"", "proxy-held-fin none");
    must_contain(held, "data sent after close() → RST", "proxy-held-fin none");
    must_contain(held, ">upstream</text>", "proxy-held-fin none");
    char *fix = between(html, "id=\"c2-proxy-held-fin-retry-reset\"", "</section>");
    assert_non_null(fix);
    assert_null(strstr(fix, "<svg class=\"seq\"")); /* no failing trial to draw */
    char *sweeps = between(html, "<section id=\"sweeps\">", "</section>");
    assert_non_null(sweeps);
    must_contain(sweeps, "upstream-reuse-after-fin-sweep: failure rate against the gap", "sweeps");
    for (int m = 0; m < 3; m++) { /* one band and one line per mitigation */
        const char *p = sweeps;
        for (int k = 0; k <= m; k++)
            p = p ? strstr(p + 1, "<polygon fill-opacity") : NULL;
        assert_non_null(p);
    }
    must_contain(html,
                 "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                 "'none'; style-src 'unsafe-inline'; img-src data:\">",
                 "CSP");
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, " src="));
    must_contain(html, "libevent", "facts");
    must_contain(html, "--trials 11", "facts: command line");
    free(sweeps);
    free(fix);
    free(held);
    free(html);
    free(path);
}

/* Links resolve from the run folder; racelab report writes the same bytes; -o elsewhere makes
 * them relative to that file's folder. */
static void test_links_and_rewrite(void **state)
{
    (void)state;
    char *path = tsup_fmt("%s/report.html", run_dir);
    char *first = tsup_slurp(path);
    assert_true(check_links(first, run_dir) >= 6 * 10);
    assert_int_equal(unlink(path), 0);
    char *bin = tsup_bin("racelab");
    char *outp = tsup_fmt("%s/report.out", tmp_dir);
    char *argv[] = {bin, "report", run_dir, NULL};
    assert_int_equal(tsup_run(argv, outp, NULL, 60000), 0);
    char *again = tsup_slurp(path);
    assert_non_null(again);
    assert_string_equal(first, again);

    char *other = tsup_fmt("%s/elsewhere", tmp_dir);
    assert_int_equal(mkdir(other, 0755), 0);
    char *file = tsup_fmt("%s/r.html", other);
    char *argv2[] = {bin, "report", run_dir, "-o", file, NULL};
    assert_int_equal(tsup_run(argv2, outp, NULL, 60000), 0);
    char *moved = tsup_slurp(file);
    assert_non_null(moved);
    must_contain(moved, "href=\"../run/proxy-held-fin/none/capture.pcap.gz\"", "-o elsewhere");
    assert_true(check_links(moved, other) >= 6 * 10);
    free(moved);
    free(file);
    free(other);
    free(again);
    free(first);
    free(outp);
    free(bin);
    free(path);
}

/* No results.json: exit 2 naming it, nothing written; a hand-made results.json whose texts
 * carry markup: escaped, never markup of the page. */
static void test_bad_input_and_escaping(void **state)
{
    (void)state;
    char *dir = tsup_fmt("%s/hand", tmp_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *bin = tsup_bin("racelab");
    char *errp = tsup_fmt("%s/hand.err", tmp_dir);
    char *argv[] = {bin, "report", dir, NULL};
    assert_int_equal(tsup_run(argv, NULL, errp, 60000), 2);
    char *err = tsup_slurp(errp);
    char *rj = tsup_fmt("%s/results.json", dir);
    must_contain(err, rj, "missing results.json");
    char *page = tsup_fmt("%s/report.html", dir);
    assert_int_equal(access(page, F_OK), -1);
    free(err);

    FILE *f = fopen(rj, "w");
    assert_non_null(f);
    fputs("{\"cells\": [{\"scenario\": \"x<script>alert(1)</script>\", \"mitigation\": "
          "\"m&\\\"q'\", \"trials\": 3, \"failures\": null, \"error\": \"<b>boom</b> & "
          "more\"}]}\n",
          f);
    fclose(f);
    assert_int_equal(tsup_run(argv, NULL, errp, 60000), 0);
    char *html = tsup_slurp(page);
    assert_non_null(html);
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<b>boom"));
    must_contain(html, "x&lt;script&gt;alert(1)&lt;/script&gt;", "escaped scenario");
    must_contain(html, "m&amp;&quot;q&#39;", "escaped mitigation");
    must_contain(html, "&lt;b&gt;boom&lt;/b&gt; &amp; more", "escaped error");
    must_contain(html, "href=\"#c0-x_script_alert_1___script_-m__q_\"", "anchor");
    must_contain(html, "id=\"c0-x_script_alert_1___script_-m__q_\"", "anchor");

    f = fopen(rj, "w");
    fputs("{\"run_id\": 1}\n", f);
    fclose(f);
    assert_int_equal(tsup_run(argv, NULL, errp, 60000), 2);
    err = tsup_slurp(errp);
    must_contain(err, "not a racelab results.json", "no cells");
    free(err);
    free(html);
    free(page);
    free(rj);
    free(errp);
    free(bin);
    free(dir);
}

/* Cells of several proxy kinds (a cell's "proxy_kind" over the run's): one row per scenario
 * and kind, with the kind named; a run of one kind has no such column. */
static void test_kinds_rows(void **state)
{
    (void)state;
    char *run = tsup_fmt("%s/report.html", run_dir);
    char *single = tsup_slurp(run);
    assert_null(strstr(single, "<th>proxy</th>"));
    char *dir = tsup_fmt("%s/kinds", tmp_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *rj = tsup_fmt("%s/results.json", dir);
    FILE *f = fopen(rj, "w");
    assert_non_null(f);
    fputs("{\"run_id\": \"k\", \"proxy_kind\": {\"kind\": \"nginx\"}, \"cells\": ["
          "{\"scenario\": \"s\", \"mitigation\": \"none\", \"trials\": 10, \"failures\": 0, "
          "\"failure_rate\": 0, \"expect\": {\"passed\": true, \"checks\": []}},"
          "{\"scenario\": \"s\", \"mitigation\": \"none\", \"trials\": 10, \"failures\": 5, "
          "\"proxy_kind\": \"haproxy\", "
          "\"expect\": {\"passed\": false, \"checks\": []}},"
          "{\"scenario\": \"s\", \"mitigation\": \"fix\", \"trials\": 10, \"failures\": 0, "
          "\"failure_rate\": 0, \"expect\": {\"passed\": true, \"checks\": []}},"
          "{\"scenario\": \"s\", \"mitigation\": \"backoff\", \"trials\": 10, \"failures\": 0, "
          "\"proxy_kind\": \"haproxy\", \"unsupported\": \"--retry-backoff-base 10 has no "
          "haproxy equivalent\", \"expect\": {\"passed\": true, \"checks\": []}}]}\n",
          f);
    fclose(f);
    char *bin = tsup_bin("racelab");
    char *argv[] = {bin, "report", dir, NULL};
    assert_int_equal(tsup_run(argv, NULL, NULL, 60000), 0);
    char *page = tsup_fmt("%s/report.html", dir);
    char *html = tsup_slurp(page);
    assert_non_null(html);
    must_contain(html, "<th>proxy</th>", "kind column");
    /* nginx: cells 0 and 2 in one row; haproxy: cell 1 in its own */
    char *nginx = between(html, "<th class=\"scn\">nginx</th>", "</tr>");
    char *haproxy = between(html, "<th class=\"scn\">haproxy</th>", "</tr>");
    assert_non_null(nginx);
    assert_non_null(haproxy);
    must_contain(nginx, "href=\"#c0-s-none\"", "nginx row");
    must_contain(nginx, "href=\"#c2-s-fix\"", "nginx row");
    assert_null(strstr(nginx, "#c1-"));
    must_contain(haproxy, "href=\"#c1-s-none\"", "haproxy row");
    must_contain(haproxy, "5/10 failed", "haproxy row");
    must_contain(haproxy, ">FAIL<", "haproxy row");
    /* coloured by its failures (no failure_rate given): not the green of none */
    must_contain(haproxy, "style=\"background:hsl(", "haproxy colour");
    /* an unsupported cell ran no trial: grey, not run, the reason, no rate of "0/10" */
    char *unsup = between(haproxy, "href=\"#c3-s-backoff\"", "</td>");
    assert_non_null(unsup);
    must_contain(unsup, "not run", "unsupported box");
    must_contain(unsup, "has no haproxy equivalent", "unsupported box");
    assert_null(strstr(unsup, "0/10 failed"));
    free(unsup);
    must_contain(html, "style=\"background:#e4e4e4\"><a class=\"box\" href=\"#c3-s-backoff\"",
                 "unsupported colour");
    must_contain(nginx, "style=\"background:#d4efd4\"", "nginx colour");
    free(haproxy);
    free(nginx);
    free(html);
    free(page);
    free(bin);
    free(rj);
    free(dir);
    free(single);
    free(run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells_and_numbers), cmocka_unit_test(test_diagrams_and_sweeps),
        cmocka_unit_test(test_links_and_rewrite), cmocka_unit_test(test_bad_input_and_escaping),
        cmocka_unit_test(test_kinds_rows),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
