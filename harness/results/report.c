#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "grow.h"
#include "interval.h"
#include "kind.h"

static const char *short_name(const char *n)
{
    if (strcmp(n, "downstream") == 0)
        return "d";
    if (strcmp(n, "upstream") == 0)
        return "u";
    if (strcmp(n, "proxy") == 0)
        return "p";
    if (strcmp(n, "proxy1") == 0)
        return "p1";
    if (strcmp(n, "proxy2") == 0)
        return "p2";
    return n;
}

/* "upstream->proxy" → "u->p" */
static void short_dir(char *buf, size_t len, const char *dir)
{
    const char *arrow = strstr(dir, "->");
    if (!arrow) {
        snprintf(buf, len, "%s", dir);
        return;
    }
    char from[32];
    size_t n = (size_t)(arrow - dir) < sizeof(from) - 1 ? (size_t)(arrow - dir) : sizeof(from) - 1;
    memcpy(from, dir, n);
    from[n] = '\0';
    snprintf(buf, len, "%s->%s", short_name(from), short_name(arrow + 2));
}

void report_counts(char *buf, size_t len, const json_t *obj, bool short_hops)
{
    size_t o = 0;
    const char *k;
    const json_t *v;
    buf[0] = '\0';
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!json_is_number(v) || json_number_value(v) == 0)
            continue;
        char name[64];
        if (short_hops)
            short_dir(name, sizeof(name), k);
        else
            snprintf(name, sizeof(name), "%s", k);
        int w = snprintf(buf + o, len - o, "%s%s=%g", o ? " " : "", name, json_number_value(v));
        if (w < 0 || (size_t)w >= len - o)
            break;
        o += (size_t)w;
    }
    if (!buf[0])
        snprintf(buf, len, "-");
}

enum report_status report_status(const struct suite_cell *sc)
{
    if (sc->unsupported)
        return REPORT_UNSUPPORTED;
    if (sc->skipped)
        return REPORT_SKIPPED;
    if (json_object_get(sc->result, "error"))
        return REPORT_ERROR;
    bool passed = sc->reps > 1 ? sc->verdict_passed : sc->passed; /* --repeat: the verdict */
    if (passed && expect_measured(sc->result))
        return REPORT_MEASURED;
    return passed ? REPORT_PASSED : REPORT_FAILED;
}

const char *report_status_word(enum report_status st)
{
    switch (st) {
    case REPORT_PASSED:
        return "PASS";
    case REPORT_FAILED:
        return "FAIL";
    case REPORT_ERROR:
        return "ERROR";
    case REPORT_SKIPPED:
        return "SKIP";
    case REPORT_UNSUPPORTED:
        return "UNSUPPORTED";
    case REPORT_MEASURED:
        return "MEASURED";
    }
    return "?";
}

size_t report_checks(const json_t *cell, enum expect_state st)
{
    size_t n = 0, i;
    const json_t *ck;
    json_array_foreach(json_object_get(json_object_get(cell, "expect"), "checks"), i, ck) n +=
        expect_check_state(ck) == st;
    return n;
}

void report_result(char *buf, size_t len, const struct suite_cell *sc)
{
    const char *word = report_status_word(report_status(sc));
    size_t skipped = report_checks(sc->result, EXPECT_SKIPPED);
    char rep[96] = "";
    if (sc->reps > 1) /* --repeat */
        snprintf(rep, sizeof(rep), "%s%zu of %ld repetitions disagree", skipped ? ", " : "",
                 sc->disagree, sc->reps);
    if (skipped)
        snprintf(buf, len, "%s (%zu check%s skipped%s)", word, skipped, skipped == 1 ? "" : "s",
                 rep);
    else if (*rep)
        snprintf(buf, len, "%s (%s)", word, rep);
    else
        snprintf(buf, len, "%s", word);
}

void report_check_line(char *buf, size_t len, const char *path, const json_t *check)
{
    const json_t *v = json_object_get(check, "value");
    const json_t *why = json_object_get(check, "why");
    char got[64] = "";
    if (json_is_number(v))
        snprintf(got, sizeof(got), " (got %g)", json_number_value(v));
    snprintf(buf, len, "%s:%lld: %s%s%s%s", path,
             (long long)json_integer_value(json_object_get(check, "line")),
             json_string_value(json_object_get(check, "check")), got,
             json_is_string(why) ? " - " : "", json_is_string(why) ? json_string_value(why) : "");
}

void report_each_check(const json_t *cell, const char *path, enum expect_state st,
                       void (*fn)(void *ctx, const char *line), void *ctx)
{
    size_t k;
    const json_t *ck;
    json_array_foreach(json_object_get(json_object_get(cell, "expect"), "checks"), k, ck)
    {
        if (expect_check_state(ck) != st)
            continue;
        char line[1024];
        report_check_line(line, sizeof(line), path, ck);
        fn(ctx, line);
    }
}

void report_print_indented(void *out, const char *line)
{
    fprintf(out, "  %s\n", line);
}

/* The kind a measured cell ran with ("nginx"). */
static const char *measured_kind(const json_t *cell)
{
    const char *k = json_string_value(json_object_get(json_object_get(cell, "expect"), "kind"));
    return k ? k : "?";
}

void report_progress(FILE *out, const struct suite_cell *sc, size_t done, size_t total,
                     double elapsed_s)
{
    const json_t *r = sc->result;
    char oc[256], res[64], mit[400];
    char rep[32] = "";
    if (sc->rep > 0)
        snprintf(rep, sizeof(rep), " rep-%ld", sc->rep);
    report_counts(oc, sizeof(oc), json_object_get(r, "outcomes"), false);
    report_result(res, sizeof(res), sc);
    snprintf(mit, sizeof(mit), "%s%s%s", sc->cell.m->name, sc->px_label ? " @ " : "",
             sc->px_label ? sc->px_label : "");
    if (json_is_integer(json_object_get(r, "failures")))
        fprintf(out, "[%zu/%zu] %s × %s%s: %lld/%lld trials failed (%s) %s  %.1f s\n", done, total,
                sc->cell.s->name, mit, rep,
                (long long)json_integer_value(json_object_get(r, "failures")),
                (long long)json_integer_value(json_object_get(r, "trials")), oc, res, elapsed_s);
    else /* no trial ran */
        fprintf(out, "[%zu/%zu] %s × %s%s: no trial ran %s  %.1f s\n", done, total,
                sc->cell.s->name, mit, rep, res, elapsed_s);
    const json_t *err = json_object_get(r, "error");
    if (json_is_string(err))
        fprintf(out, "        %s\n", json_string_value(err));
    else if (report_status(sc) == REPORT_MEASURED)
        fprintf(out, "        measured with %s: %s\n", measured_kind(r),
                json_string_value(json_object_get(r, "verdict")));
    fflush(out);
}

/* A small text table: rows of strings, columns padded to their widest cell. */
#define TCOLS 12
struct table {
    char *(*cell)[TCOLS]; /* rows × TCOLS strings, NULL where empty */
    size_t rows, cap, cols;
    bool right[TCOLS];
};

/* Starts a row: the cells tadd writes next. False when out of memory (the row is left out). */
static bool trow(struct table *t)
{
    void *v = grow_array(t->cell, &t->cap, t->rows + 1, sizeof(*t->cell));
    if (!v)
        return false;
    t->cell = v;
    memset(t->cell[t->rows], 0, sizeof(*t->cell));
    t->rows++;
    return true;
}

/* Column col of the current row. */
static void tadd(struct table *t, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tadd(struct table *t, size_t col, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (t->rows > 0 && col < TCOLS)
        t->cell[t->rows - 1][col] = strdup(buf);
}

/* The next column of the header row, aligned right or left. */
static void thead(struct table *t, const char *name, bool right)
{
    if (t->cols >= TCOLS)
        return;
    t->right[t->cols] = right;
    tadd(t, t->cols++, "%s", name);
}

/* Prints the table and empties it (its columns too). */
static void tprint(FILE *out, struct table *t)
{
    size_t w[TCOLS] = {0};
    for (size_t r = 0; r < t->rows; r++)
        for (size_t c = 0; c < t->cols; c++)
            if (t->cell[r][c] && strlen(t->cell[r][c]) > w[c])
                w[c] = strlen(t->cell[r][c]);
    for (size_t r = 0; r < t->rows; r++) {
        char line[4096];
        size_t o = 0;
        for (size_t c = 0; c < t->cols; c++) {
            const char *s = t->cell[r][c] ? t->cell[r][c] : "";
            bool last = c + 1 == t->cols;
            int n;
            if (t->right[c])
                n = snprintf(line + o, sizeof(line) - o, "%*s", (int)w[c], s);
            else
                n = snprintf(line + o, sizeof(line) - o, "%-*s", last ? 0 : (int)w[c], s);
            if (n > 0)
                o = o + (size_t)n < sizeof(line) ? o + (size_t)n : sizeof(line) - 1;
            if (!last && o + 2 < sizeof(line)) {
                memcpy(line + o, "  ", 3);
                o += 2;
            }
        }
        while (o > 0 && line[o - 1] == ' ')
            o--;
        line[o] = '\0';
        fprintf(out, "%s\n", line);
    }
    for (size_t r = 0; r < t->rows; r++)
        for (size_t c = 0; c < TCOLS; c++)
            free(t->cell[r][c]);
    t->rows = 0;
    t->cols = 0;
}

static void fmt_num(char *buf, size_t len, const json_t *v, const char *fmt)
{
    if (json_is_number(v))
        snprintf(buf, len, fmt, json_number_value(v));
    else
        snprintf(buf, len, "-");
}

/* The optional columns: the proxy under test when the cells are of several; the client and
 * server kinds when a cell has one that is not racelab's own; the upstream's duplicate
 * executions when a cell has some. */
struct table_opt {
    bool cmp, px, peers, dup;
};

static struct table_opt table_opts(const struct suite *su, bool cmp)
{
    struct table_opt o = {.cmp = cmp};
    for (size_t i = 0; i < su->n; i++) {
        const json_t *r = su->cells[i].result;
        o.peers |= json_object_get(r, "client") || json_object_get(r, "server");
        o.dup |= json_integer_value(json_object_get(r, "duplicates")) > 0;
        o.px |= su->cells[i].px_label != NULL;
    }
    return o;
}

static void table_header(struct table *t, struct table_opt o)
{
    bool cmp = o.cmp;
    if (!trow(t))
        return;
    if (!cmp)
        thead(t, "scenario", false);
    thead(t, "mitigation", false);
    if (o.px)
        thead(t, "proxy", false);
    if (o.peers)
        thead(t, "client/server", false);
    thead(t, "trials", true);
    thead(t, "fail", true);
    if (cmp)
        thead(t, "rate", true);
    thead(t, "outcomes", false);
    if (o.dup)
        thead(t, "dup", true);
    thead(t, "RST per hop", false);
    thead(t, "proxy flags", false);
    thead(t, "p50 ms", true);
    thead(t, "p99 ms", true);
    if (cmp)
        thead(t, "req/s", true);
    thead(t, "result", false);
}

/* One cell's row, in the columns of table_header. */
static void table_row(struct table *t, const struct suite_cell *sc, struct table_opt o)
{
    const json_t *r = sc->result;
    bool cmp = o.cmp;
    char buf[512];
    size_t c = 0;
    if (!trow(t))
        return;
    if (!cmp)
        tadd(t, c++, "%s", sc->cell.s->name);
    tadd(t, c++, "%s", sc->cell.m->name);
    if (o.px)
        tadd(t, c++, "%s", sc->px_label ? sc->px_label : "racelab");
    if (o.peers)
        tadd(t, c++, "%s/%s", sc->cell.client_kind, sc->cell.server_kind);
    tadd(t, c++, "%lld", (long long)json_integer_value(json_object_get(r, "trials")));
    fmt_num(buf, sizeof(buf), json_object_get(r, "failures"), "%.0f"); /* "-": no trial ran */
    tadd(t, c++, "%s", buf);
    if (cmp) {
        /* the rate with its 95% interval: "< 3.7%", "50.0% (40.4-59.6)" (interval.h) */
        if (json_is_number(json_object_get(r, "failure_rate")))
            interval_format(buf, sizeof(buf),
                            (long)json_integer_value(json_object_get(r, "failures")),
                            (long)json_integer_value(json_object_get(r, "trials")));
        else
            snprintf(buf, sizeof(buf), "-");
        tadd(t, c++, "%s", buf);
    }
    report_counts(buf, sizeof(buf), json_object_get(r, "outcomes"), false);
    tadd(t, c++, "%s", buf);
    if (o.dup) {
        fmt_num(buf, sizeof(buf), json_object_get(r, "duplicates"), "%.0f");
        tadd(t, c++, "%s", buf);
    }
    /* a capture --keep failing removed after the cell was measured still counted its RSTs */
    if (json_is_string(json_object_get(r, "capture")) || json_object_get(r, "capture_removed"))
        report_counts(buf, sizeof(buf), json_object_get(r, "rst"), true);
    else
        snprintf(buf, sizeof(buf), "%s", sc->skipped ? "-" : "(no capture)");
    tadd(t, c++, "%s", buf);
    if (json_is_true(json_object_get(r, "access_log")))
        report_counts(buf, sizeof(buf), json_object_get(r, "proxy_flags"), false);
    else
        snprintf(buf, sizeof(buf), "-");
    tadd(t, c++, "%s", buf);
    const json_t *lat = json_object_get(r, "latency_ms");
    fmt_num(buf, sizeof(buf), json_object_get(lat, "p50"), "%.2f");
    tadd(t, c++, "%s", buf);
    fmt_num(buf, sizeof(buf), json_object_get(lat, "p99"), "%.2f");
    tadd(t, c++, "%s", buf);
    if (cmp) {
        fmt_num(buf, sizeof(buf), json_object_get(r, "throughput_rps"), "%.0f");
        tadd(t, c++, "%s", buf);
    }
    report_result(buf, sizeof(buf), sc);
    tadd(t, c++, "%s", buf);
}

/* Under the table: why a cell did not run or complete, or its failed checks. */
static void table_notes(FILE *out, const struct suite_cell *sc, const char *px)
{
    const json_t *r = sc->result;
    enum report_status st = report_status(sc);
    char mit[400];
    /* with several proxies under test, a cell is named with its proxy */
    snprintf(mit, sizeof(mit), "%s%s%s", sc->cell.m->name, px ? " @ " : "", px ? px : "");
    if (st == REPORT_ERROR || st == REPORT_SKIPPED || st == REPORT_UNSUPPORTED) {
        const char *key = st == REPORT_ERROR         ? "error"
                          : st == REPORT_UNSUPPORTED ? "unsupported"
                                                     : "skipped";
        fprintf(out, "\n%s × %s: %s%s\n", sc->cell.s->name, mit,
                st == REPORT_UNSUPPORTED ? "unsupported: " : "",
                json_string_value(json_object_get(r, key)));
        return;
    }
    if (st == REPORT_MEASURED) {
        fprintf(out, "\n%s × %s: measured with %s (no %s expectations in the scenario): %s\n",
                sc->cell.s->name, mit, measured_kind(r), measured_kind(r),
                json_string_value(json_object_get(r, "verdict")));
        return;
    }
    if (st != REPORT_FAILED)
        return;
    fprintf(out, "\n%s × %s failed:\n", sc->cell.s->name, mit);
    report_each_check(r, sc->cell.s->path, EXPECT_FAILED, report_print_indented, out);
}

/* The race window of a sweep: the failure rate per gap, with a bar. */
static void table_sweep(FILE *out, struct table *t, const struct suite_cell *sc)
{
    const json_t *sw = json_object_get(sc->result, "sweep");
    if (json_array_size(sw) == 0)
        return;
    fprintf(out, "\nsweep %s × %s%s%s: failure rate per gap\n", sc->cell.s->name, sc->cell.m->name,
            sc->px_label ? " @ " : "", sc->px_label ? sc->px_label : "");
    if (trow(t)) {
        thead(t, "gap ms", true);
        thead(t, "trials", true);
        thead(t, "failures", true);
        thead(t, "rate", true);
        thead(t, "", false);
    }
    size_t k;
    const json_t *g;
    json_array_foreach(sw, k, g)
    {
        if (!trow(t))
            break;
        double rate = json_number_value(json_object_get(g, "failure_rate"));
        char bar[41], buf[64];
        int nb = (int)lround(rate * 40);
        memset(bar, '#', (size_t)nb);
        bar[nb] = '\0';
        size_t c = 0;
        tadd(t, c++, "%g", json_number_value(json_object_get(g, "gap_ms")));
        tadd(t, c++, "%lld", (long long)json_integer_value(json_object_get(g, "trials")));
        tadd(t, c++, "%lld", (long long)json_integer_value(json_object_get(g, "failures")));
        interval_format(buf, sizeof(buf), (long)json_integer_value(json_object_get(g, "failures")),
                        (long)json_integer_value(json_object_get(g, "trials")));
        tadd(t, c++, "%s", buf);
        tadd(t, c++, "%s", bar);
    }
    tprint(out, t);
}

/* compare: the mitigations whose failure rates the trials cannot tell apart (cells that ran to
 * completion only). */
static void table_distinguish(FILE *out, const struct suite *su)
{
    struct interval_arm *arms = calloc(su->n + 1, sizeof(*arms));
    char(*names)[300] = calloc(su->n + 1, sizeof(*names));
    size_t n = 0;
    for (size_t i = 0; arms && names && i < su->n; i++) {
        const struct suite_cell *sc = &su->cells[i];
        enum report_status st = report_status(sc);
        if (st != REPORT_PASSED && st != REPORT_FAILED && st != REPORT_MEASURED)
            continue;
        snprintf(names[n], sizeof(names[n]), "%s%s%s", sc->cell.m->name, sc->px_label ? " @ " : "",
                 sc->px_label ? sc->px_label : "");
        arms[n].name = names[n];
        arms[n].k = (long)json_integer_value(json_object_get(sc->result, "failures"));
        arms[n++].n = (long)json_integer_value(json_object_get(sc->result, "trials"));
    }
    if (arms && names)
        interval_note(out, arms, n);
    free(arms);
    free(names);
}

void report_table(FILE *out, const struct suite *su, enum report_table kind)
{
    struct table t = {0};
    bool cmp = kind == REPORT_TABLE_COMPARE;
    struct table_opt o = table_opts(su, cmp);
    table_header(&t, o);
    for (size_t i = 0; i < su->n; i++)
        table_row(&t, &su->cells[i], o);
    tprint(out, &t);
    if (cmp)
        table_distinguish(out, su);
    /* What failed, and the race window of every sweep. */
    for (size_t i = 0; i < su->n; i++) {
        table_notes(out, &su->cells[i], o.px ? su->cells[i].px_label : NULL);
        table_sweep(out, &t, &su->cells[i]);
    }
    free(t.cell);
}

json_t *report_ordered(const json_t *cell)
{
    static const char *const first[] = {
        "scenario",    "mitigation",   "trials",
        "failures",    "failure_rate", "failure_rate_ci",
        "outcomes",    "duplicates",   "requests",
        "rst",         "fin",          "failing_rst",
        "proxy_flags", "latency_ms",   "throughput_rps",
        "sweep",       "expect",       "verdict",
        "capture",     "error",        NULL,
    };
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; first[i]; i++) {
        json_t *v = json_object_get(cell, first[i]);
        if (v)
            json_object_set(o, first[i], v);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cell, k, v)
    {
        if (!json_object_get(o, k))
            json_object_set(o, k, v);
    }
    return o;
}

/* {"label", "kinds": [{"proxy", "kind_info": {kind, adapter, binary, version}}], "missing"}:
 * what ran as each proxy of a proxy under test (racelab-proxy has no kind_info). */
static json_t *proxy_under_test(const struct suite_proxy *p)
{
    json_t *o = json_pack("{s:s}", "label", p->label), *kinds = json_array();
    for (size_t i = 0; i < (p->env.chain ? 2u : 1u); i++) {
        const char *bin;
        const struct kind *k = run_env_kind(&p->env, i + 1, &bin, NULL);
        json_t *one =
            json_pack("{s:s}", "proxy", p->env.chain ? (i ? "proxy2" : "proxy1") : "proxy");
        if (k)
            json_object_set_new(one, "kind_info",
                                json_pack("{s:s, s:s, s:o, s:s}", "kind", kind_name(k), "adapter",
                                          kind_path(k), "binary",
                                          bin ? json_string(bin) : json_null(), "version",
                                          bin ? p->version[i] : ""));
        json_array_append_new(kinds, one);
    }
    json_object_set_new(o, "kinds", kinds);
    if (p->missing[0])
        json_object_set_new(o, "missing", json_string(p->missing));
    return o;
}

json_t *report_results(const struct suite *su, const char *run_id)
{
    json_t *o = json_object(), *cells = json_array();
    size_t passed = 0;
    json_object_set_new(o, "run_id", json_string(run_id));
    json_object_set_new(o, "racelab_version", json_string(RACELAB_RESULTS_VERSION));
    if (su->shard.index > 0)
        json_object_set_new(o, "shard",
                            json_pack("{s:I, s:I, s:I, s:I}", "index", (json_int_t)su->shard.index,
                                      "count", (json_int_t)su->shard.count, "cells",
                                      (json_int_t)su->n, "cells_total",
                                      (json_int_t)su->cells_total));
    if (su->repeat > 1)
        json_object_set_new(o, "repeat", json_integer(su->repeat));
    json_object_set_new(o, "wall_s", json_real(round(su->wall_s * 1000) / 1000));
    for (size_t i = 0; i < su->n; i++) {
        /* the file its expectations' lines are in (the report's file:line) */
        if (su->cells[i].cell.s && su->cells[i].cell.s->path)
            json_object_set_new(su->cells[i].result, "scenario_file",
                                json_string(su->cells[i].cell.s->path));
        json_array_append(cells, su->cells[i].result);
        passed += su->cells[i].passed;
    }
    json_object_set_new(o, "passed", json_boolean(passed == su->n));
    json_object_set_new(o, "interrupted", json_boolean(su->interrupted));
    json_object_set_new(o, "netns", json_boolean(su->env.netns));
    if (su->npx && su->px[0].env.proxy_cmd)
        json_object_set_new(o, "proxy_cmd", json_string(su->px[0].env.proxy_cmd));
    json_t *pxs = json_array();
    for (size_t i = 0; i < su->npx; i++)
        json_array_append_new(pxs, proxy_under_test(&su->px[i]));
    /* the one kind of a run with one (its adapter, binary and version) */
    if (su->npx == 1 && su->px[0].env.kind && !su->px[0].env.chain)
        json_object_set(
            o, "proxy_kind",
            json_object_get(json_array_get(json_object_get(json_array_get(pxs, 0), "kinds"), 0),
                            "kind_info"));
    json_object_set_new(o, "proxies_under_test", pxs);
    json_object_set_new(o, "cells", cells);
    return o;
}

void report_words(FILE *out, const struct scenario *s, const json_t *cell)
{
    long long trials = json_integer_value(json_object_get(cell, "trials"));
    long long failures = json_integer_value(json_object_get(cell, "failures"));
    char buf[512];

    fprintf(out, "%s — %s\n\n", s->name, s->intent);
    if (s->nseed) {
        fprintf(out, "Seen in:");
        for (size_t i = 0; i < s->nseed; i++)
            fprintf(out, "%s %s", i ? "," : "", s->seed[i]);
        fprintf(out, "\n\n");
    }
    fprintf(out, "What happened (mitigation %s, %lld trials):\n",
            json_string_value(json_object_get(cell, "mitigation")), trials);
    if (!json_is_integer(json_object_get(cell, "failures"))) {
        fprintf(out, "  No trial ran.\n");
        const json_t *err = json_object_get(cell, "error");
        if (json_is_string(err))
            fprintf(out, "  The cell did not complete: %s\n", json_string_value(err));
        return;
    }
    fprintf(out, "  %lld of %lld trials failed", failures, trials);
    report_counts(buf, sizeof(buf), json_object_get(cell, "outcomes"), false);
    fprintf(out, "; the client saw %s (success is", buf);
    for (size_t i = 0; i < s->nsuccess; i++)
        fprintf(out, " %s", s->success[i]);
    fprintf(out, ").\n");
    if (json_is_true(json_object_get(cell, "access_log"))) {
        const json_t *proxies = json_object_get(cell, "proxies");
        const char *name;
        const json_t *p;
        json_object_foreach((json_t *)proxies, name, p)
        {
            report_counts(buf, sizeof(buf), json_object_get(p, "statuses"), false);
            fprintf(out, "  %s answered %s", name, buf);
            report_counts(buf, sizeof(buf), json_object_get(p, "flags"), false);
            if (strcmp(buf, "-") != 0)
                fprintf(out, " with response flags %s", buf);
            long long retried = json_integer_value(json_object_get(p, "retried"));
            if (retried)
                fprintf(out, " (%lld requests retried)", retried);
            fprintf(out, ".\n");
        }
    }
    if (json_is_string(json_object_get(cell, "capture"))) {
        report_counts(buf, sizeof(buf), json_object_get(cell, "rst"), false);
        fprintf(out, "  The capture shows RSTs: %s.\n", buf);
        const json_t *fr = json_object_get(cell, "failing_rst");
        const char *dir;
        const json_t *v;
        json_object_foreach((json_t *)fr, dir, v)
        {
            long long n = json_integer_value(v);
            if (n > 0)
                fprintf(out, "  %lld of the %lld failing trials show an RST %s.\n", n, failures,
                        dir);
        }
        report_counts(buf, sizeof(buf), json_object_get(cell, "data_after_fin"), false);
        if (strcmp(buf, "-") != 0)
            fprintf(out, "  Data sent after the peer's FIN: %s.\n", buf);
    }
    const json_t *err = json_object_get(cell, "error");
    if (json_is_string(err))
        fprintf(out, "  The cell did not complete: %s\n", json_string_value(err));
}

void report_verdict(FILE *out, const struct scenario *s, const json_t *cell)
{
    const char *mit = json_string_value(json_object_get(cell, "mitigation"));
    const char *kind = json_string_value(json_object_get(json_object_get(cell, "expect"), "kind"));
    if (expect_measured(cell)) {
        fprintf(out,
                "\nMeasured with %s (the scenario states no expectations for %s, and "
                "racelab-proxy's do not apply): %s.\n",
                kind, kind, json_string_value(json_object_get(cell, "verdict")));
        return;
    }
    char forkind[80] = "";
    if (kind)
        snprintf(forkind, sizeof(forkind), " for %s", kind);
    const json_t *checks = json_object_get(json_object_get(cell, "expect"), "checks");
    size_t n = json_array_size(checks), failed = report_checks(cell, EXPECT_FAILED),
           skipped = report_checks(cell, EXPECT_SKIPPED);
    if (n == skipped) {
        fprintf(out, "\nMitigation %s has no expectation%s this run could check.\n", mit, forkind);
        return;
    }
    if (failed == 0) {
        fprintf(out, "\nThe %zu expectation%s of mitigation %s%s hold%s", n - skipped,
                n - skipped == 1 ? "" : "s", mit, forkind, n - skipped == 1 ? "s" : "");
        if (skipped)
            fprintf(out, " (%zu skipped: not observable in this run)", skipped);
        fprintf(out, ": the case reproduced as the scenario says.\n");
        return;
    }
    fprintf(out,
            "\n%zu of the %zu expectations of mitigation %s%s failed: the case did not "
            "reproduce as the scenario says.\n",
            failed, n - skipped, mit, forkind);
    report_each_check(cell, s->path, EXPECT_FAILED, report_print_indented, out);
}
