#include "diff.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "interval.h"

/* ---- reading a results.json ---- */

enum verdict { V_PASS, V_FAIL, V_ERROR, V_SKIP, V_UNSUPPORTED, V_MEASURED, V_UNKNOWN };

static const char *const verdict_words[] = {"PASS",        "FAIL",     "ERROR", "SKIP",
                                            "UNSUPPORTED", "MEASURED", "?"};

static enum verdict verdict_of(const json_t *cell)
{
    if (json_object_get(cell, "skipped"))
        return V_SKIP;
    if (json_object_get(cell, "unsupported"))
        return V_UNSUPPORTED;
    if (json_object_get(cell, "error"))
        return V_ERROR;
    const json_t *e = json_object_get(cell, "expect");
    const json_t *p = json_object_get(e, "passed");
    if (!json_is_boolean(p))
        return V_UNKNOWN;
    /* a --proxy kind without expectations: measured, not checked (its rates still compare) */
    if (json_is_true(json_object_get(e, "measured")))
        return V_MEASURED;
    return json_is_true(p) ? V_PASS : V_FAIL;
}

/* The cell ran to completion: its counts and latency are measurements. */
static bool ran(enum verdict v)
{
    return v == V_PASS || v == V_FAIL || v == V_MEASURED;
}

static const char *sname(const json_t *cell)
{
    return json_string_value(json_object_get(cell, "scenario"));
}

/* The mitigation, named with its proxy when a run had another than racelab-proxy ("none @
 * nginx", diff_load's label): a cell is a scenario, a mitigation and a proxy under test. */
static const char *mname(const json_t *cell)
{
    const char *l = json_string_value(json_object_get(cell, "diff_label"));
    return l ? l : json_string_value(json_object_get(cell, "mitigation"));
}

static void label_cells(json_t *root)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "cells"), i, c)
    {
        const char *px = json_string_value(json_object_get(c, "proxy_kind"));
        const char *m = json_string_value(json_object_get(c, "mitigation"));
        if (!px || !m || strcmp(px, "racelab") == 0)
            continue;
        char buf[600];
        snprintf(buf, sizeof(buf), "%s @ %s", m, px);
        json_object_set_new(c, "diff_label", json_string(buf));
    }
}

static long count(const json_t *cell, const char *key)
{
    return (long)json_integer_value(json_object_get(cell, key));
}

static bool whole(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* Whether the results have the shape of racelab's results.json; err says where not. */
static bool valid(const json_t *root, const char *file, char *err, size_t errlen)
{
    const json_t *cells = json_object_get(root, "cells");
    if (!json_is_object(root) || !json_is_array(cells)) {
        snprintf(err, errlen, "%s: not a racelab results.json (no \"cells\" array)", file);
        return false;
    }
    size_t i;
    const json_t *c;
    json_array_foreach(cells, i, c)
    {
        if (!json_is_string(json_object_get(c, "scenario")) ||
            !json_is_string(json_object_get(c, "mitigation"))) {
            snprintf(err, errlen,
                     "%s: not a racelab results.json (cell %zu has no scenario and mitigation)",
                     file, i);
            return false;
        }
        const json_t *t = json_object_get(c, "trials"), *f = json_object_get(c, "failures");
        if (!whole(t) || !whole(f) || json_integer_value(f) > json_integer_value(t)) {
            snprintf(err, errlen,
                     "%s: not a racelab results.json (cell %s × %s: trials and failures are not "
                     "whole numbers with failures <= trials)",
                     file, sname(c), mname(c));
            return false;
        }
        if (verdict_of(c) == V_UNKNOWN) {
            snprintf(err, errlen,
                     "%s: not a racelab results.json (cell %s × %s has no expect.passed, error "
                     "or skipped)",
                     file, sname(c), mname(c));
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            const json_t *d = json_array_get(cells, j);
            if (strcmp(sname(c), sname(d)) == 0 && strcmp(mname(c), mname(d)) == 0) {
                snprintf(err, errlen, "%s: cell %s × %s appears twice", file, sname(c), mname(c));
                return false;
            }
        }
    }
    return true;
}

json_t *diff_load(const char *path, char **file, char *err, size_t errlen)
{
    struct stat st;
    *file = NULL;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = strlen(path) + sizeof("/results.json");
    char *f = malloc(len);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(f, len, "%s%sresults.json", path, path[strlen(path) - 1] == '/' ? "" : "/");
        if (stat(f, &st) != 0) {
            snprintf(err, errlen, "%s: not a racelab run folder (no results.json in it)", path);
            free(f);
            return NULL;
        }
    } else {
        snprintf(f, len, "%s", path);
    }
    FILE *in = fopen(f, "r");
    if (!in) {
        snprintf(err, errlen, "%s: %s", f, strerror(errno));
        free(f);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadf(in, 0, &je);
    fclose(in);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: not a racelab results.json (not JSON: %s)", f, je.line,
                 je.column, je.text);
        free(f);
        return NULL;
    }
    if (json_is_object(root))
        label_cells(root);
    if (!valid(root, f, err, errlen)) {
        json_decref(root);
        free(f);
        return NULL;
    }
    *file = f;
    return root;
}

/* ---- comparing ---- */

/* The kinds of change, in the order the table lists them (regressions before all). */
enum kind {
    K_REGRESSION,
    K_RATE_UP,
    K_IMPROVEMENT,
    K_RATE_DOWN,
    K_LATENCY,
    K_VERDICT,
    K_NEW,
    K_REMOVED
};

static const char *const kind_names[] = {"regression", "rate_up", "improvement", "rate_down",
                                         "latency",    "verdict", "new",         "removed"};

static json_t *find(const json_t *cells, const json_t *like)
{
    size_t i;
    json_t *c;
    json_array_foreach(cells, i, c)
    {
        if (strcmp(sname(c), sname(like)) == 0 && strcmp(mname(c), mname(like)) == 0)
            return c;
    }
    return NULL;
}

static json_t *change(enum kind k, const json_t *cell, bool regression)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "kind", kind_names[k], "scenario", sname(cell),
                     "mitigation", mname(cell), "regression", regression);
}

/* {"trials", "failures", "failure_rate", "failure_rate_ci"} of a cell */
static json_t *rate_of(const json_t *cell)
{
    long k = count(cell, "failures"), n = count(cell, "trials");
    return json_pack("{s:I, s:I, s:f, s:o}", "trials", (json_int_t)n, "failures", (json_int_t)k,
                     "failure_rate", n ? round((double)k / (double)n * 1000) / 1000 : 0.0,
                     "failure_rate_ci", interval_json(k, n));
}

/* The failed checks of a cell, as results.json has them. */
static json_t *failed_checks(const json_t *cell)
{
    json_t *out = json_array();
    size_t i;
    const json_t *ck;
    json_array_foreach(json_object_get(json_object_get(cell, "expect"), "checks"), i, ck)
    {
        const json_t *state = json_object_get(ck, "state");
        bool failed = json_is_string(state) ? strcmp(json_string_value(state), "failed") == 0
                                            : json_is_false(json_object_get(ck, "passed")) &&
                                                  !json_is_true(json_object_get(ck, "skipped"));
        if (failed)
            json_array_append(out, (json_t *)ck);
    }
    return out;
}

static void verdicts(json_t *out, const json_t *o, const json_t *n)
{
    enum verdict vo = verdict_of(o), vn = verdict_of(n);
    if (vo == vn)
        return;
    enum kind k = K_VERDICT;
    if (vo == V_PASS && (vn == V_FAIL || vn == V_ERROR))
        k = K_REGRESSION;
    else if ((vo == V_FAIL || vo == V_ERROR) && vn == V_PASS)
        k = K_IMPROVEMENT;
    json_t *c = change(k, n, k == K_REGRESSION);
    json_object_set_new(c, "old", json_string(verdict_words[vo]));
    json_object_set_new(c, "new", json_string(verdict_words[vn]));
    if (vn == V_FAIL)
        json_object_set_new(c, "failed_checks", failed_checks(n));
    if (vn == V_ERROR)
        json_object_set(c, "error", json_object_get(n, "error"));
    json_array_append_new(out, c);
}

static void rates(json_t *out, const json_t *o, const json_t *n)
{
    int moved = interval_moved(count(o, "failures"), count(o, "trials"), count(n, "failures"),
                               count(n, "trials"));
    if (!moved)
        return;
    json_t *c = change(moved > 0 ? K_RATE_UP : K_RATE_DOWN, n, moved > 0);
    json_object_set_new(c, "old", rate_of(o));
    json_object_set_new(c, "new", rate_of(n));
    json_array_append_new(out, c);
}

static void latencies(json_t *out, const json_t *o, const json_t *n, const struct diff_opts *opt)
{
    static const char *const metrics[] = {"p50", "p99"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *a = json_object_get(json_object_get(o, "latency_ms"), metrics[i]);
        const json_t *b = json_object_get(json_object_get(n, "latency_ms"), metrics[i]);
        if (!json_is_number(a) || !json_is_number(b))
            continue;
        double va = json_number_value(a), vb = json_number_value(b), d = vb - va;
        if (fabs(d) < opt->latency_floor_ms || fabs(d) <= opt->latency_pct / 100 * va)
            continue;
        json_t *c = change(K_LATENCY, n, opt->fail_on_latency && d > 0);
        json_object_set_new(c, "metric", json_string(metrics[i]));
        json_object_set_new(c, "old_ms", json_real(va));
        json_object_set_new(c, "new_ms", json_real(vb));
        json_object_set_new(c, "change_pct",
                            va > 0 ? json_real(round(d / va * 1000) / 10) : json_null());
        json_array_append_new(out, c);
    }
}

static enum kind kind_of(const json_t *c)
{
    const char *k = json_string_value(json_object_get(c, "kind"));
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
        if (strcmp(k, kind_names[i]) == 0)
            return (enum kind)i;
    return K_VERDICT;
}

/* Regressions first, then by kind; in a kind, NEW's order (stable: the index breaks ties). */
struct ranked {
    json_t *c;
    size_t i;
};

static int rank_cmp(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;
    int ra = json_is_true(json_object_get(a->c, "regression")) ? 0 : 1;
    int rb = json_is_true(json_object_get(b->c, "regression")) ? 0 : 1;
    if (ra != rb)
        return ra - rb;
    if (kind_of(a->c) != kind_of(b->c))
        return (int)kind_of(a->c) - (int)kind_of(b->c);
    return a->i < b->i ? -1 : a->i > b->i;
}

static json_t *sorted(json_t *changes)
{
    size_t n = json_array_size(changes);
    struct ranked *r = calloc(n + 1, sizeof(*r));
    json_t *out = json_array();
    if (!r || !out) {
        free(r);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        r[i] = (struct ranked){json_array_get(changes, i), i};
    qsort(r, n, sizeof(*r), rank_cmp);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, r[i].c);
    free(r);
    return out;
}

static json_t *side(const json_t *res, const char *path)
{
    const json_t *id = json_object_get(res, "run_id");
    return json_pack("{s:s, s:O, s:I}", "path", path, "run_id", id ? id : json_null(), "cells",
                     (json_int_t)json_array_size(json_object_get(res, "cells")));
}

json_t *diff_results(const json_t *old, const char *old_path, const json_t *new,
                     const char *new_path, const struct diff_opts *o)
{
    const json_t *oc = json_object_get(old, "cells"), *nc = json_object_get(new, "cells");
    json_t *all = json_array(), *regressed = json_array();
    size_t counts[sizeof(kind_names) / sizeof(kind_names[0])] = {0}, both = 0;
    size_t i;
    json_t *c;
    json_array_foreach(nc, i, c)
    {
        const json_t *was = find(oc, c);
        if (!was) {
            json_t *ch = change(K_NEW, c, false);
            json_object_set_new(ch, "new", json_string(verdict_words[verdict_of(c)]));
            json_array_append_new(all, ch);
            continue;
        }
        both++;
        size_t before = json_array_size(all);
        verdicts(all, was, c);
        if (ran(verdict_of(was)) && ran(verdict_of(c))) {
            rates(all, was, c);
            latencies(all, was, c, o);
        }
        bool reg = false;
        for (size_t k = before; k < json_array_size(all); k++)
            reg |= json_is_true(json_object_get(json_array_get(all, k), "regression"));
        if (reg)
            json_array_append_new(
                regressed, json_pack("{s:s, s:s}", "scenario", sname(c), "mitigation", mname(c)));
    }
    json_array_foreach(oc, i, c)
    {
        if (find(nc, c))
            continue;
        json_t *ch = change(K_REMOVED, c, false);
        json_object_set_new(ch, "old", json_string(verdict_words[verdict_of(c)]));
        json_array_append_new(all, ch);
    }
    json_array_foreach(all, i, c) counts[kind_of(c)]++;
    json_t *cnt = json_object();
    json_object_set_new(cnt, "cells_in_both", json_integer((json_int_t)both));
    json_object_set_new(cnt, "regressed_cells",
                        json_integer((json_int_t)json_array_size(regressed)));
    for (size_t k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
        json_object_set_new(cnt, kind_names[k], json_integer((json_int_t)counts[k]));

    json_t *d = json_object();
    json_object_set_new(d, "old", side(old, old_path));
    json_object_set_new(d, "new", side(new, new_path));
    json_object_set_new(d, "latency_threshold_pct", json_real(o->latency_pct));
    json_object_set_new(d, "latency_floor_ms", json_real(o->latency_floor_ms));
    json_object_set_new(d, "fail_on_latency", json_boolean(o->fail_on_latency));
    json_object_set_new(d, "regression", json_boolean(json_array_size(regressed) > 0));
    json_object_set_new(d, "regressions", regressed);
    json_object_set_new(d, "counts", cnt);
    json_object_set_new(d, "changes", sorted(all));
    json_decref(all);
    if (!json_is_array(json_object_get(d, "changes")) || !json_is_array(regressed)) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* ---- printing ---- */

#define COLS 5

/* "PASS"; for a rate "0/100 < 3.7%"; for a latency "12.30 ms". */
static void side_text(char *buf, size_t len, const json_t *c, const char *which)
{
    const json_t *v = json_object_get(c, which);
    enum kind k = kind_of(c);
    if (k == K_LATENCY) {
        double ms =
            json_number_value(json_object_get(c, strcmp(which, "old") == 0 ? "old_ms" : "new_ms"));
        const json_t *pct = json_object_get(c, "change_pct");
        if (strcmp(which, "new") == 0 && json_is_number(pct))
            snprintf(buf, len, "%.2f ms (%+.0f%%)", ms, json_number_value(pct));
        else
            snprintf(buf, len, "%.2f ms", ms);
    } else if (json_is_object(v)) {
        char iv[64];
        long f = count(v, "failures"), n = count(v, "trials");
        interval_format(iv, sizeof(iv), f, n);
        snprintf(buf, len, "%ld/%ld %s", f, n, iv);
    } else if (json_is_string(v)) {
        snprintf(buf, len, "%s", json_string_value(v));
    } else {
        snprintf(buf, len, "-");
    }
}

static void change_word(char *buf, size_t len, const json_t *c)
{
    switch (kind_of(c)) {
    case K_RATE_UP:
        snprintf(buf, len, "rate up");
        break;
    case K_RATE_DOWN:
        snprintf(buf, len, "rate down");
        break;
    case K_LATENCY:
        snprintf(buf, len, "latency %s", json_string_value(json_object_get(c, "metric")));
        break;
    default:
        snprintf(buf, len, "%s", json_string_value(json_object_get(c, "kind")));
    }
}

static void print_rows(FILE *out, char (*rows)[COLS][160], size_t n)
{
    size_t w[COLS] = {0};
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < COLS; k++)
            if (strlen(rows[r][k]) > w[k])
                w[k] = strlen(rows[r][k]);
    for (size_t r = 0; r < n; r++) {
        for (size_t k = 0; k + 1 < COLS; k++)
            fprintf(out, "%-*s  ", (int)w[k], rows[r][k]);
        fprintf(out, "%s\n", rows[r][COLS - 1]);
    }
}

/* Under the table: why each cell that now fails or errs does. */
static void print_why(FILE *out, const json_t *c)
{
    const json_t *checks = json_object_get(c, "failed_checks");
    const json_t *err = json_object_get(c, "error");
    if (!json_array_size(checks) && !json_is_string(err))
        return;
    fprintf(out, "\n%s × %s %s:\n", sname(c), mname(c),
            json_is_string(err) ? "could not complete" : "fails");
    if (json_is_string(err))
        fprintf(out, "  %s\n", json_string_value(err));
    size_t i;
    const json_t *ck;
    json_array_foreach(checks, i, ck)
    {
        const json_t *v = json_object_get(ck, "value"), *why = json_object_get(ck, "why");
        fprintf(out, "  line %lld: %s", (long long)json_integer_value(json_object_get(ck, "line")),
                json_string_value(json_object_get(ck, "check")));
        if (json_is_number(v))
            fprintf(out, " (got %g)", json_number_value(v));
        if (json_is_string(why))
            fprintf(out, " - %s", json_string_value(why));
        fputc('\n', out);
    }
}

static void print_side(FILE *out, const char *label, const json_t *s)
{
    const json_t *id = json_object_get(s, "run_id");
    fprintf(out, "%s %s (%s%s%s%lld cells)\n", label, json_string_value(json_object_get(s, "path")),
            json_is_string(id) ? "run " : "", json_is_string(id) ? json_string_value(id) : "",
            json_is_string(id) ? ", " : "",
            (long long)json_integer_value(json_object_get(s, "cells")));
}

void diff_print(FILE *out, const json_t *d)
{
    const json_t *changes = json_object_get(d, "changes"), *cnt = json_object_get(d, "counts");
    print_side(out, "OLD", json_object_get(d, "old"));
    print_side(out, "NEW", json_object_get(d, "new"));
    size_t n = json_array_size(changes);
    long long both = json_integer_value(json_object_get(cnt, "cells_in_both"));
    if (n == 0) {
        fprintf(out,
                "\nNo change in %lld cells: the same verdicts, failure rates whose 95%% intervals "
                "overlap,\np50/p99 within %g%% or %g ms.\n",
                both, json_number_value(json_object_get(d, "latency_threshold_pct")),
                json_number_value(json_object_get(d, "latency_floor_ms")));
        return;
    }
    char(*rows)[COLS][160] = calloc(n + 1, sizeof(*rows));
    if (!rows)
        return;
    const char *head[COLS] = {"change", "scenario", "mitigation", "old", "new"};
    for (size_t k = 0; k < COLS; k++)
        snprintf(rows[0][k], sizeof(rows[0][k]), "%s", head[k]);
    size_t i;
    const json_t *c;
    json_array_foreach(changes, i, c)
    {
        change_word(rows[i + 1][0], sizeof(rows[0][0]), c);
        snprintf(rows[i + 1][1], sizeof(rows[0][1]), "%s", sname(c));
        snprintf(rows[i + 1][2], sizeof(rows[0][2]), "%s", mname(c));
        side_text(rows[i + 1][3], sizeof(rows[0][3]), c, "old");
        side_text(rows[i + 1][4], sizeof(rows[0][4]), c, "new");
    }
    fputc('\n', out);
    print_rows(out, rows, n + 1);
    free(rows);
    json_array_foreach(changes, i, c) print_why(out, c);

    /* "57 cells in both runs; changes: 1 regression, 1 rate up, 2 latency moves." */
    static const char *const words[][2] = {
        {"regression", "regressions"},     {"rate up", "rates up"},
        {"improvement", "improvements"},   {"rate down", "rates down"},
        {"latency move", "latency moves"}, {"other verdict change", "other verdict changes"},
        {"new cell", "new cells"},         {"cell removed", "cells removed"},
    };
    fprintf(out, "\n%lld cells in both runs; changes:", both);
    for (size_t k = 0, said = 0; k < sizeof(words) / sizeof(words[0]); k++) {
        long long v = json_integer_value(json_object_get(cnt, kind_names[k]));
        if (v)
            fprintf(out, "%s %lld %s", said++ ? "," : "", v, words[k][v != 1]);
    }
    fprintf(out, ".\n");
    const json_t *reg = json_object_get(d, "regressions");
    if (json_array_size(reg) == 0) {
        fprintf(out, "No regression.\n");
        return;
    }
    fprintf(out, "Regressions (%zu cell%s):", json_array_size(reg),
            json_array_size(reg) == 1 ? "" : "s");
    json_array_foreach(reg, i, c) fprintf(out, "%s %s × %s", i ? "," : "", sname(c), mname(c));
    fprintf(out, ".\n");
}
