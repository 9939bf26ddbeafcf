#include "expect.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"

/* How a metric family is observed: from the client's records, from the capture, or from the
 * proxy's access log and stats (absent with --proxy-cmd). */
enum src {
    SRC_CLIENT,
    SRC_CAPTURE,
    SRC_ATTRIBUTED, /* capture joined with records: only the hops that could be attributed */
    SRC_ACCESS_LOG,
    SRC_TAGS, /* the upstream's log joined with the client's tags */
};

enum shape {
    SHAPE_EXACT,      /* the whole metric is the name */
    SHAPE_ANY_TAIL,   /* name.ANYTHING[.MORE] */
    SHAPE_DIR_TAIL,   /* name.A->B with A->B a hop direction of the topology */
    SHAPE_PROXY_TAIL, /* name.NAME.ANYTHING with NAME a proxy of the topology */
};

struct family {
    const char *name;
    enum shape shape;
    enum src src;
    bool countable; /* a count (so N% = N% of the cell's trials) */
    bool rate;      /* a fraction in [0, 1] (so N% = N/100) */
    bool bounded;   /* never above the trial count (or 1 for a rate): > 100% can never hold */
    const char *help;
};

/* The packet counters of a hop direction are the analyser's list (the same fields results.json
 * has, written by metrics_build from that list). */
#define COUNTER_FAMILY(field, help) {#field, SHAPE_DIR_TAIL, SRC_CAPTURE, true, false, false, help},

static const struct family families[] = {
    {"trials", SHAPE_EXACT, SRC_CLIENT, true, false, true, "trials run"},
    {"failures", SHAPE_EXACT, SRC_CLIENT, true, false, true, "trials whose outcome is not success"},
    {"failure_rate", SHAPE_EXACT, SRC_CLIENT, false, true, true, "failures / trials"},
    {"outcomes", SHAPE_ANY_TAIL, SRC_CLIENT, true, false, true,
     "trials per outcome (outcomes.503)"},
    {"requests.total", SHAPE_EXACT, SRC_CLIENT, true, false, false, "requests recorded"},
    {"requests.failures", SHAPE_EXACT, SRC_CLIENT, true, false, false, "requests not a success"},
    {"requests.outcomes", SHAPE_ANY_TAIL, SRC_CLIENT, true, false, false, "requests per outcome"},
    {"latency_ms.p50", SHAPE_EXACT, SRC_CLIENT, false, false, false, "median request latency"},
    {"latency_ms.p90", SHAPE_EXACT, SRC_CLIENT, false, false, false, "90th percentile latency"},
    {"latency_ms.p99", SHAPE_EXACT, SRC_CLIENT, false, false, false, "99th percentile latency"},
    {"latency_ms.mean", SHAPE_EXACT, SRC_CLIENT, false, false, false, "mean latency"},
    {"latency_ms.max", SHAPE_EXACT, SRC_CLIENT, false, false, false, "slowest request"},
    {"throughput_rps", SHAPE_EXACT, SRC_CLIENT, false, false, false, "requests per second"},
    {"downstream_wall_s", SHAPE_EXACT, SRC_CLIENT, false, false, false, "first request to last"},
    {"sweep_stats.gaps", SHAPE_EXACT, SRC_CLIENT, true, false, false, "distinct gaps swept"},
    {"sweep_stats.gaps_failing", SHAPE_EXACT, SRC_CLIENT, true, false, false,
     "gaps with a failure"},
    {"sweep_stats.gaps_clean", SHAPE_EXACT, SRC_CLIENT, true, false, false,
     "gaps without failures"},
    {"sweep_stats.max_failure_rate", SHAPE_EXACT, SRC_CLIENT, false, true, true,
     "worst gap's rate"},
    {"sweep_stats.min_failure_rate", SHAPE_EXACT, SRC_CLIENT, false, true, true, "best gap's rate"},
    {"upstream", SHAPE_ANY_TAIL, SRC_CLIENT, true, false, false,
     "upstream events (upstream.close_how.rst, upstream.close_unread)"},
    {"duplicates", SHAPE_EXACT, SRC_TAGS, true, false, false,
     "requests the upstream executed beyond one per client request (by tag)"},
    {"trials_with_duplicates", SHAPE_EXACT, SRC_TAGS, true, false, true,
     "trials with a request the upstream executed more than once"},
    /* clang-format off */
    ANALYSIS_RESULT_COUNTERS(COUNTER_FAMILY) /* rst, fin, syn, data_after_fin, ... */
    /* clang-format on */
    {"failing_rst", SHAPE_DIR_TAIL, SRC_ATTRIBUTED, true, false, true,
     "failing trials with an RST on that direction"},
    {"trials_with_rst", SHAPE_DIR_TAIL, SRC_ATTRIBUTED, true, false, true,
     "trials with an RST on that direction"},
    {"unattributed_rst", SHAPE_EXACT, SRC_CAPTURE, true, false, false, "RSTs no trial could claim"},
    {"teardown_rst", SHAPE_DIR_TAIL, SRC_CAPTURE, true, false, false,
     "RSTs of stopping the programs after the last trial (in rst, given to no trial)"},
    {"proxy_flags", SHAPE_ANY_TAIL, SRC_ACCESS_LOG, true, false, false,
     "front proxy's response flags (proxy_flags.UC)"},
    {"stats", SHAPE_ANY_TAIL, SRC_ACCESS_LOG, true, false, false, "front proxy's stats at exit"},
    {"proxies", SHAPE_PROXY_TAIL, SRC_ACCESS_LOG, true, false, false,
     "per proxy: proxies.proxy2.flags.X, .statuses.X, .stats.X, .requests"},
    {"wire", SHAPE_ANY_TAIL, SRC_CAPTURE, true, false, false, "wire.seen, wire.held, wire.dropped"},
    {NULL, SHAPE_EXACT, SRC_CLIENT, false, false, false, NULL},
};

static const struct family *find_family(const char *metric, const char **tail)
{
    for (const struct family *f = families; f->name; f++) {
        size_t n = strlen(f->name);
        if (strncmp(metric, f->name, n) != 0)
            continue;
        if (f->shape == SHAPE_EXACT && metric[n] == '\0') {
            *tail = "";
            return f;
        }
        if (f->shape != SHAPE_EXACT && metric[n] == '.' && metric[n + 1]) {
            *tail = metric + n + 1;
            return f;
        }
    }
    return NULL;
}

static const char *family_tail(const struct family *f)
{
    switch (f->shape) {
    case SHAPE_EXACT:
        return "";
    case SHAPE_ANY_TAIL:
        return ".X";
    case SHAPE_DIR_TAIL:
        return ".A->B";
    case SHAPE_PROXY_TAIL:
        return ".NAME.X";
    }
    return "";
}

const char *expect_metric_family(size_t i, const char **tail)
{
    if (i >= sizeof families / sizeof families[0] - 1)
        return NULL;
    *tail = family_tail(&families[i]);
    return families[i].name;
}

static void put(char *buf, size_t len, size_t *o, const char *s, size_t n)
{
    if (*o + 1 >= len)
        return;
    if (n > len - 1 - *o)
        n = len - 1 - *o;
    memcpy(buf + *o, s, n);
    *o += n;
    buf[*o] = '\0';
}

/* The part of a family's name up to its last dot ("latency_ms."), 0 when it has none. */
static size_t prefix_len(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? (size_t)(dot - name) + 1 : 0;
}

void expect_metric_list(char *buf, size_t len)
{
    size_t o = 0;
    const struct family *prev = NULL;
    buf[0] = '\0';
    for (const struct family *f = families; f->name; prev = f++) {
        const char *tail = family_tail(f);
        bool dir = f->shape == SHAPE_DIR_TAIL;
        size_t pre = prefix_len(f->name);
        bool joins =
            prev && (dir ? prev->shape == SHAPE_DIR_TAIL
                         : prev->shape != SHAPE_DIR_TAIL && pre && prefix_len(prev->name) == pre &&
                               strncmp(prev->name, f->name, pre) == 0);
        if (prev && !joins) {
            if (prev->shape == SHAPE_DIR_TAIL)
                put(buf, len, &o, ".A->B", 5);
            put(buf, len, &o, ", ", 2);
        }
        if (joins)
            put(buf, len, &o, "|", 1);
        const char *shown = joins ? f->name + pre : f->name;
        put(buf, len, &o, shown, strlen(shown));
        if (!dir)
            put(buf, len, &o, tail, strlen(tail));
    }
    if (prev && prev->shape == SHAPE_DIR_TAIL)
        put(buf, len, &o, ".A->B", 5);
}

bool expect_metric_bounded(const char *metric)
{
    const char *tail;
    const struct family *f = find_family(metric, &tail);
    return f && f->bounded;
}

static bool is_dir(enum scenario_topo t, const char *dir)
{
    const char *arrow = strstr(dir, "->");
    char from[32];
    if (!arrow || (size_t)(arrow - dir) >= sizeof(from))
        return false;
    memcpy(from, dir, (size_t)(arrow - dir));
    from[arrow - dir] = '\0';
    return scenario_topo_has_dir(t, from, arrow + 2);
}

int expect_metric_check(enum scenario_topo t, const char *metric, bool *countable, bool *rate,
                        char *why, size_t whylen)
{
    const char *tail;
    const struct family *f = find_family(metric, &tail);
    if (!f) {
        char known[1024];
        expect_metric_list(known, sizeof known);
        snprintf(why, whylen, "unknown metric (known: %s; see docs/scenario-format.md)", known);
        return -1;
    }
    if (f->shape == SHAPE_DIR_TAIL && !is_dir(t, tail)) {
        const char *names[4];
        size_t n = scenario_topo_nodes(t, names);
        snprintf(why, whylen, "'%s' is not a hop direction of topology %s (e.g. %s.%s->%s)", tail,
                 scenario_topo_name(t), f->name, names[n - 1], names[n - 2]);
        return -1;
    }
    if (f->src == SRC_ACCESS_LOG && t == SCENARIO_DIRECT) {
        snprintf(why, whylen, "topology direct has no proxy, so no %s", f->name);
        return -1;
    }
    if (f->shape == SHAPE_PROXY_TAIL) {
        const char *names[4];
        size_t n = scenario_topo_nodes(t, names);
        bool ok = false;
        for (size_t i = 1; i + 1 < n; i++) {
            size_t l = strlen(names[i]);
            if (strncmp(tail, names[i], l) == 0 && tail[l] == '.' && tail[l + 1])
                ok = true;
        }
        if (!ok) {
            snprintf(why, whylen, "expected proxies.NAME.X with NAME a proxy of topology %s (%s)",
                     scenario_topo_name(t), t == SCENARIO_CHAIN ? "proxy1, proxy2" : "proxy");
            return -1;
        }
    }
    *countable = f->countable;
    *rate = f->rate;
    return 0;
}

static double threshold(const struct scenario_bound *b, bool countable, double trials)
{
    if (!b->pct)
        return b->v;
    return countable ? b->v / 100.0 * trials : b->v / 100.0;
}

static void bound_text(char *buf, size_t len, const char *op, const struct scenario_bound *b,
                       bool countable)
{
    if (b->pct)
        snprintf(buf, len, " %s %g%%%s", op, b->v, countable ? " of trials" : "");
    else
        snprintf(buf, len, " %s %g", op, b->v);
}

void expect_describe(const struct scenario_check *c, char *buf, size_t len)
{
    if (c->kind == SCENARIO_CHECK_RST_ON_FAILING) {
        snprintf(buf, len, "every failing trial shows an RST %s", c->metric);
        return;
    }
    const char *tail;
    const struct family *f = find_family(c->metric, &tail);
    bool countable = f && f->countable;
    char a[64] = "", b[64] = "", e[64] = "";
    if (c->min.set)
        bound_text(a, sizeof(a), ">=", &c->min, countable);
    if (c->max.set)
        bound_text(b, sizeof(b), "<=", &c->max, countable);
    if (c->eq.set)
        bound_text(e, sizeof(e), "==", &c->eq, countable);
    snprintf(buf, len, "%s%s%s%s", c->metric, a, c->min.set && c->max.set ? " and" : "", b);
    if (c->eq.set)
        snprintf(buf, len, "%s%s", c->metric, e);
}

static bool observable(const json_t *cell, const struct family *f, const char *tail, char *why,
                       size_t whylen)
{
    switch (f->src) {
    case SRC_CLIENT:
        /* what racelab-upstream alone logs: the receive queue at close */
        if (strcmp(f->name, "upstream") == 0 && strcmp(tail, "close_unread") == 0 &&
            json_is_string(json_object_get(cell, "server"))) {
            snprintf(why, whylen, "the server kind %s does not log unread input at close",
                     json_string_value(json_object_get(cell, "server")));
            return false;
        }
        return true;
    case SRC_TAGS:
        if (!json_is_number(json_object_get(cell, "duplicates"))) {
            const char *w = json_string_value(json_object_get(cell, "duplicates_why"));
            snprintf(why, whylen, "%s", w ? w : "no upstream log in this run");
            return false;
        }
        return true;
    case SRC_CAPTURE:
        if (!json_is_string(json_object_get(cell, "capture"))) {
            snprintf(why, whylen, "no capture in this run");
            return false;
        }
        return true;
    case SRC_ATTRIBUTED: {
        if (!json_is_string(json_object_get(cell, "capture"))) {
            snprintf(why, whylen, "no capture in this run");
            return false;
        }
        const json_t *att = json_object_get(cell, "attributed");
        size_t i;
        const json_t *v;
        json_array_foreach(att, i, v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), tail) == 0)
                return true;
        }
        snprintf(why, whylen,
                 "packets on %s cannot be attributed to trials in this run (no "
                 "proxy access log)",
                 tail);
        return false;
    }
    case SRC_ACCESS_LOG:
        if (!json_is_true(json_object_get(cell, "access_log"))) {
            snprintf(why, whylen,
                     "no racelab-proxy access log in this run (--proxy-cmd or --proxy KIND)");
            return false;
        }
        return true;
    }
    return true;
}

int expect_metric_value(const json_t *cell, const char *metric, double *v, char *why, size_t whylen)
{
    const char *tail;
    const struct family *f = find_family(metric, &tail);
    *v = 0;
    if (!f) {
        snprintf(why, whylen, "unknown metric");
        return -1;
    }
    if (!observable(cell, f, tail, why, whylen))
        return 1;
    /* Walk the dotted path; hop directions contain no dots, so splitting on '.' is exact. */
    char path[256];
    snprintf(path, sizeof(path), "%s", metric);
    const json_t *cur = cell;
    char *save = NULL;
    for (char *part = strtok_r(path, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
        if (!json_is_object(cur)) {
            snprintf(why, whylen, "%s is not a number in the results", metric);
            return -1;
        }
        cur = json_object_get(cur, part);
        if (!cur) {
            /* An outcome or flag that never occurred is a zero count. */
            if (f->shape != SHAPE_EXACT)
                return 0;
            snprintf(why, whylen, "%s is absent from the results", metric);
            return -1;
        }
    }
    if (json_is_null(cur)) {
        snprintf(why, whylen, "%s was not measured in this run", metric);
        return 1;
    }
    if (json_is_true(cur) || json_is_false(cur)) {
        *v = json_is_true(cur);
        return 0;
    }
    if (!json_is_number(cur)) {
        snprintf(why, whylen, "%s is not a number in the results", metric);
        return -1;
    }
    *v = json_number_value(cur);
    return 0;
}

static bool holds(const struct scenario_check *c, bool countable, double trials, double v)
{
    const double eps = 1e-9;
    if (c->eq.set && fabs(v - threshold(&c->eq, countable, trials)) > eps)
        return false;
    if (c->min.set && v < threshold(&c->min, countable, trials) - eps)
        return false;
    if (c->max.set && v > threshold(&c->max, countable, trials) + eps)
        return false;
    return true;
}

/* "passed" (true only when the check held), "state", and "skipped": true for a skipped one. */
static void set_state(json_t *r, enum expect_state st)
{
    json_object_set_new(r, "passed", json_boolean(st == EXPECT_PASSED));
    json_object_set_new(r, "state", json_string(expect_state_name(st)));
    if (st == EXPECT_SKIPPED)
        json_object_set_new(r, "skipped", json_true());
}

static json_t *one(const struct scenario_check *c, const json_t *cell, double trials, bool *failed)
{
    char desc[256], why[256] = "";
    expect_describe(c, desc, sizeof(desc));
    json_t *r = json_object();
    if (!r)
        return NULL;
    json_object_set_new(r, "check", json_string(desc));
    if (c->line)
        json_object_set_new(r, "line", json_integer(c->line));

    double v = 0;
    int rc;
    bool ok;
    if (c->kind == SCENARIO_CHECK_RST_ON_FAILING) {
        char metric[128];
        snprintf(metric, sizeof(metric), "failing_rst.%s", c->metric);
        double failures = 0;
        char w2[64];
        rc = expect_metric_value(cell, metric, &v, why, sizeof(why));
        if (rc == 0 && expect_metric_value(cell, "failures", &failures, w2, sizeof(w2)) != 0)
            rc = -1;
        ok = rc == 0 && fabs(v - failures) < 1e-9;
        if (rc == 0) {
            snprintf(why, sizeof(why), "%g of %g failing trials show it", v, failures);
            json_object_set_new(r, "value", json_real(v));
        }
    } else {
        const char *tail;
        const struct family *f = find_family(c->metric, &tail);
        rc = expect_metric_value(cell, c->metric, &v, why, sizeof(why));
        ok = rc == 0 && holds(c, f && f->countable, trials, v);
        if (rc == 0)
            json_object_set_new(r, "value", json_real(v));
    }
    enum expect_state st = rc == 1 ? EXPECT_SKIPPED : ok ? EXPECT_PASSED : EXPECT_FAILED;
    set_state(r, st);
    if (st == EXPECT_FAILED)
        *failed = true;
    if (why[0])
        json_object_set_new(r, "why", json_string(why));
    return r;
}

static json_t *eval(const struct scenario_check *checks, size_t n, const char *kind,
                    const json_t *cell, bool *passed);

static bool is_racelab(const char *kind)
{
    return !kind || strcmp(kind, "racelab") == 0;
}

static bool for_kind(const struct scenario_check *c, const char *kind)
{
    return is_racelab(kind) ? is_racelab(c->proxy_kind)
                            : c->proxy_kind && strcmp(c->proxy_kind, kind) == 0;
}

json_t *expect_eval(const struct scenario_check *checks, size_t n, const json_t *cell, bool *passed)
{
    return eval(checks, n, NULL, cell, passed);
}

/* Appends "SEP" then the formatted text to buf at *o. */
static void add(char *buf, size_t len, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t len, size_t *o, const char *fmt, ...)
{
    if (*o + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *o, len - *o, fmt, ap);
    va_end(ap);
    if (w > 0)
        *o = *o + (size_t)w < len ? *o + (size_t)w : len - 1;
}

static bool attributed(const json_t *cell, const char *dir)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(cell, "attributed"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), dir) == 0)
            return true;
    }
    return false;
}

/* The RSTs of the cell, "RST D in N" (failing trials with one, attributed directions) or "RST D
 * xN (hop total)", joined by ", " after sep; nothing when there are none. With failing false,
 * only hop totals and trials_with_rst (no trial failed). */
static void verdict_rsts(const json_t *cell, bool failing, char *buf, size_t len, size_t *o,
                         const char *sep)
{
    const json_t *rst = json_object_get(cell, "rst");
    const char *dir;
    const json_t *v;
    bool first = true;
    json_object_foreach((json_t *)rst, dir, v)
    {
        long long n;
        const char *what;
        if (attributed(cell, dir)) {
            n = json_integer_value(json_object_get(
                json_object_get(cell, failing ? "failing_rst" : "trials_with_rst"), dir));
            what = "in";
        } else {
            n = json_integer_value(v) -
                json_integer_value(json_object_get(json_object_get(cell, "teardown_rst"), dir));
            what = "x";
        }
        if (n <= 0)
            continue;
        add(buf, len, o, "%sRST %s %s%s%lld%s", first ? sep : ", ", dir, what,
            what[0] == 'i' ? " " : "", n, what[0] == 'x' ? " (hop total)" : "");
        first = false;
    }
}

static bool in(const char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

void expect_verdict(const json_t *cell, const char *const *success, size_t nsuccess, char *buf,
                    size_t len)
{
    static const char *const ok200[] = {"200"};
    size_t o = 0;
    buf[0] = '\0';
    long long trials = json_integer_value(json_object_get(cell, "trials"));
    long long failures = json_integer_value(json_object_get(cell, "failures"));
    bool capture = json_is_string(json_object_get(cell, "capture"));
    if (failures == 0) {
        add(buf, len, &o, "no failure in %lld trials", trials);
        if (capture)
            verdict_rsts(cell, false, buf, len, &o, "; ");
        return;
    }
    add(buf, len, &o, "race reproduced: %lld/%lld trials", failures, trials);
    /* the failing outcomes: the outcomes the cell does not count as success */
    if (!nsuccess) {
        success = ok200;
        nsuccess = 1;
    }
    const char *k;
    const json_t *v;
    bool first = true;
    json_object_foreach((json_t *)json_object_get(cell, "outcomes"), k, v)
    {
        if (in(success, nsuccess, k) || json_integer_value(v) <= 0)
            continue;
        if (json_integer_value(v) == failures && first)
            add(buf, len, &o, " %s", k);
        else
            add(buf, len, &o, " %s=%lld", k, json_integer_value(v));
        first = false;
    }
    if (capture)
        verdict_rsts(cell, true, buf, len, &o, ", ");
    else
        add(buf, len, &o, " (no capture)");
}

bool expect_measured(const json_t *cell)
{
    return json_is_true(json_object_get(json_object_get(cell, "expect"), "measured"));
}

bool expect_apply(json_t *cell, const struct scenario_cell *c, const char *kind)
{
    bool passed = false;
    json_t *ex = expect_eval_cell(c, kind, cell, &passed);
    if (!ex)
        return false;
    json_t *verdict = json_object_get(ex, "verdict");
    if (verdict)
        json_object_set(cell, "verdict", verdict);
    json_object_set_new(cell, "expect", ex);
    return passed;
}

json_t *expect_eval_cell(const struct scenario_cell *c, const char *kind, const json_t *cell,
                         bool *passed)
{
    size_t n = c ? c->nchecks : 0;
    struct scenario_check *sel = calloc(n + 1, sizeof(*sel));
    size_t ns = 0;
    if (!sel)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (for_kind(&c->checks[i], kind))
            sel[ns++] = c->checks[i];
    json_t *res = eval(sel, ns, kind, cell, passed);
    free(sel);
    if (!res || is_racelab(kind))
        return res;
    json_object_set_new(res, "kind", json_string(kind));
    if (ns == 0 && json_is_integer(json_object_get(cell, "failures")) &&
        !json_object_get(cell, "error")) {
        char v[512];
        expect_verdict(cell, c ? c->success : NULL, c ? c->nsuccess : 0, v, sizeof(v));
        json_object_set_new(res, "measured", json_true());
        json_object_set_new(res, "verdict", json_string(v));
    }
    return res;
}

static json_t *eval(const struct scenario_check *checks, size_t n, const char *kind,
                    const json_t *cell, bool *passed)
{
    (void)kind;
    json_t *res = json_object(), *arr = json_array();
    bool failed = false;
    if (!res || !arr) {
        json_decref(res);
        json_decref(arr);
        return NULL;
    }
    const json_t *error = json_object_get(cell, "error");
    bool broken = json_is_string(error);
    if (broken) {
        json_t *r = json_object();
        json_object_set_new(r, "check", json_string("the cell ran to completion"));
        set_state(r, EXPECT_FAILED);
        json_object_set_new(r, "why", json_string(json_string_value(error)));
        json_array_append_new(arr, r);
        failed = true;
    }
    double trials = json_number_value(json_object_get(cell, "trials"));
    for (size_t i = 0; i < n && !broken; i++) {
        json_t *r = one(&checks[i], cell, trials, &failed);
        if (r)
            json_array_append_new(arr, r);
    }
    json_object_set_new(res, "passed", json_boolean(!failed));
    json_object_set_new(res, "checks", arr);
    *passed = !failed;
    return res;
}

const char *expect_state_name(enum expect_state st)
{
    switch (st) {
    case EXPECT_PASSED:
        return "passed";
    case EXPECT_FAILED:
        return "failed";
    case EXPECT_SKIPPED:
        return "skipped";
    }
    return "failed";
}

enum expect_state expect_check_state(const json_t *check)
{
    const char *state = json_string_value(json_object_get(check, "state"));
    if (state) {
        if (strcmp(state, "passed") == 0)
            return EXPECT_PASSED;
        if (strcmp(state, "skipped") == 0)
            return EXPECT_SKIPPED;
        return EXPECT_FAILED;
    }
    if (json_is_true(json_object_get(check, "skipped")))
        return EXPECT_SKIPPED;
    return json_is_true(json_object_get(check, "passed")) ? EXPECT_PASSED : EXPECT_FAILED;
}
