#include "scenario.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "jl.h"
#include "opt.h"
#include "programs.h"
#include "wire.h"

#define DEFAULT_TRIALS     100
#define DEFAULT_TIMEOUT_MS 120000L

struct ld {
    const char *path;
    struct scn *s;
    char *err;
    size_t errlen;
};

static const char *const sec_names[SCENARIO_NSEC] = {
    [SCENARIO_SEC_UPSTREAM] = "upstream", [SCENARIO_SEC_DOWNSTREAM] = "downstream",
    [SCENARIO_SEC_PROXY] = "proxy",       [SCENARIO_SEC_PROXY1] = "proxy1",
    [SCENARIO_SEC_PROXY2] = "proxy2",
};

const char *scenario_sec_name(enum scenario_sec sec)
{
    return sec_names[sec];
}

const char *scenario_topo_name(enum scenario_topo t)
{
    switch (t) {
    case SCENARIO_DIRECT:
        return "direct";
    case SCENARIO_PROXY:
        return "proxy";
    case SCENARIO_CHAIN:
        return "chain";
    }
    return "?";
}

size_t scenario_topo_nodes(enum scenario_topo t, const char *names[4])
{
    switch (t) {
    case SCENARIO_DIRECT:
        names[0] = "downstream";
        names[1] = "upstream";
        return 2;
    case SCENARIO_PROXY:
        names[0] = "downstream";
        names[1] = "proxy";
        names[2] = "upstream";
        return 3;
    case SCENARIO_CHAIN:
        names[0] = "downstream";
        names[1] = "proxy1";
        names[2] = "proxy2";
        names[3] = "upstream";
        return 4;
    }
    return 0;
}

bool scenario_topo_has_dir(enum scenario_topo t, const char *from, const char *to)
{
    const char *names[4];
    size_t n = scenario_topo_nodes(t, names);
    for (size_t i = 0; i + 1 < n; i++) {
        if (strcmp(from, names[i]) == 0 && strcmp(to, names[i + 1]) == 0)
            return true;
        if (strcmp(from, names[i + 1]) == 0 && strcmp(to, names[i]) == 0)
            return true;
    }
    return false;
}

/* "FILE:LINE: KEY: message" — the one place scenario errors are written. */
static int bad(struct ld *L, const struct yml_node *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(struct ld *L, const struct yml_node *n, const char *key, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(L->err, L->errlen, "%s:%d: %s: %s", L->path, n ? n->line : 1, key, msg);
    return -1;
}

static int oom(struct ld *L)
{
    snprintf(L->err, L->errlen, "%s: out of memory", L->path);
    return -1;
}

/* Every key of map must be in allowed (NULL-terminated); the error lists them. */
static int known_keys(struct ld *L, const struct yml_node *m, const char *where,
                      const char *const *allowed)
{
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->keys[i]->str;
        bool ok = false;
        for (size_t j = 0; allowed[j]; j++)
            if (strcmp(k, allowed[j]) == 0)
                ok = true;
        if (!ok) {
            char list[512] = "";
            for (size_t j = 0; allowed[j]; j++) {
                if (j)
                    strncat(list, ", ", sizeof(list) - strlen(list) - 1);
                strncat(list, allowed[j], sizeof(list) - strlen(list) - 1);
            }
            char key[256];
            snprintf(key, sizeof(key), "%s%s%s", where, *where ? "." : "", k);
            return bad(L, m->keys[i], key, "unknown key (allowed here: %s)", list);
        }
    }
    return 0;
}

/* A folded block (`intent: >`) ends with a newline: keep the text only. */
static void trim_end(struct yml_node *n)
{
    size_t l = strlen(n->str);
    while (l > 0 && isspace((unsigned char)n->str[l - 1]))
        n->str[--l] = '\0';
}

static int want_map(struct ld *L, const struct yml_node *n, const char *key)
{
    if (n->kind != YML_MAP)
        return bad(L, n, key, "expected a map (key: value lines), got a %s", yml_kind_name(n));
    return 0;
}

static int want_text(struct ld *L, const struct yml_node *n, const char *key, const char **out)
{
    if (n->kind != YML_SCALAR)
        return bad(L, n, key, "expected a value, got a %s", yml_kind_name(n));
    if (yml_is_null(n))
        return bad(L, n, key, "expected a value, got nothing");
    *out = n->str;
    return 0;
}

/* A single value or a list of values. */
static int want_texts(struct ld *L, const struct yml_node *n, const char *key, const char ***out,
                      size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n->kind == YML_MAP)
        return bad(L, n, key, "expected a value or a list of values, got a map");
    size_t cnt = n->kind == YML_SEQ ? n->n : 1;
    const char **v = calloc(cnt ? cnt : 1, sizeof(*v));
    if (!v)
        return oom(L);
    for (size_t i = 0; i < cnt; i++) {
        const struct yml_node *it = n->kind == YML_SEQ ? n->items[i] : n;
        if (want_text(L, it, key, &v[i]) != 0) {
            free(v);
            return -1;
        }
    }
    *out = v;
    *nout = cnt;
    return 0;
}

static int want_long(struct ld *L, const struct yml_node *n, const char *key, long min, long max,
                     long *out)
{
    const char *t = NULL;
    if (want_text(L, n, key, &t) != 0)
        return -1;
    long v = 0;
    if (opt_parse_long(t, &v) != 0 || v < min || v > max)
        return bad(L, n, key, "expected a whole number in [%ld, %ld], got '%s'", min, max, t);
    *out = v;
    return 0;
}

static int want_ms(struct ld *L, const struct yml_node *n, const char *key, long min, long max,
                   long *out)
{
    const char *t = NULL;
    if (want_text(L, n, key, &t) != 0)
        return -1;
    long v = 0;
    if (opt_parse_ms(t, &v) != 0 || v < min || v > max)
        return bad(L, n, key, "expected milliseconds in [%ld, %ld] (e.g. 100, 250ms, 2s), got '%s'",
                   min, max, t);
    *out = v;
    return 0;
}

static int want_bool(struct ld *L, const struct yml_node *n, const char *key, bool *out)
{
    int b = yml_bool(n);
    if (b < 0)
        return bad(
            L, n, key, "expected true or false, got %s%s%s", n->kind == YML_SCALAR ? "'" : "a ",
            n->kind == YML_SCALAR ? n->str : yml_kind_name(n), n->kind == YML_SCALAR ? "'" : "");
    *out = b;
    return 0;
}

static bool is_outcome_word(const char *s)
{
    static const char *const words[] = {"reset",   "empty",         "partial",
                                        "timeout", "connect-error", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return strlen(s) == 3 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
           isdigit((unsigned char)s[2]) && s[0] >= '1' && s[0] <= '5';
}

static int parse_success(struct ld *L, const struct yml_node *n, const char *key, const char ***out,
                         size_t *nout)
{
    if (want_texts(L, n, key, out, nout) != 0)
        return -1;
    if (*nout == 0)
        return bad(L, n, key, "expected at least one outcome");
    for (size_t i = 0; i < *nout; i++) {
        if (!is_outcome_word((*out)[i])) {
            const struct yml_node *it = n->kind == YML_SEQ ? n->items[i] : n;
            int rc = bad(L, it, key,
                         "'%s' is not a client outcome (a status code such as 200 or 413, or "
                         "reset, empty, partial, timeout, connect-error)",
                         (*out)[i]);
            free(*out);
            *out = NULL;
            return rc;
        }
    }
    return 0;
}

static bool sec_allowed(enum scenario_topo t, enum scenario_sec sec)
{
    switch (sec) {
    case SCENARIO_SEC_UPSTREAM:
    case SCENARIO_SEC_DOWNSTREAM:
        return true;
    case SCENARIO_SEC_PROXY:
        return t != SCENARIO_DIRECT;
    case SCENARIO_SEC_PROXY1:
    case SCENARIO_SEC_PROXY2:
        return t == SCENARIO_CHAIN;
    }
    return false;
}

static int parse_settings(struct ld *L, const struct yml_node *n, const char *where,
                          enum scenario_sec sec, struct scenario_settings *out)
{
    char key[256];
    snprintf(key, sizeof(key), "%s%s%s", where, *where ? "." : "", sec_names[sec]);
    if (!sec_allowed(L->s->topo, sec))
        return bad(L, n, key, "topology %s has no %s (its programs: %s)",
                   scenario_topo_name(L->s->topo), sec_names[sec],
                   L->s->topo == SCENARIO_DIRECT ? "downstream, upstream"
                   : L->s->topo == SCENARIO_PROXY
                       ? "downstream, proxy, upstream"
                       : "downstream, proxy1, proxy2, upstream (and proxy "
                         "for settings common to both proxies)");
    out->line = n->line;
    if (yml_is_null(n))
        return 0;
    if (want_map(L, n, key) != 0)
        return -1;
    out->v = calloc(n->n ? n->n : 1, sizeof(*out->v));
    if (!out->v)
        return oom(L);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *k = n->keys[i], *v = n->items[i];
        struct scenario_setting *s = &out->v[out->n++];
        char fkey[320];
        snprintf(fkey, sizeof(fkey), "%s.%s", key, k->str);
        s->name = k->str;
        s->line = k->line;
        if (strncmp(s->name, "--", 2) == 0)
            return bad(L, k, fkey, "write flag names without the leading \"--\"");
        int b = yml_bool(v);
        if (b == 1) {
            s->vals = NULL;
        } else if (b == 0 || yml_is_null(v)) {
            s->off = true;
        } else if (want_texts(L, v, fkey, &s->vals, &s->nvals) != 0) {
            return -1;
        } else if (s->nvals == 0) {
            return bad(L, v, fkey, "an empty list gives the flag no value");
        }
        char why[400];
        if (program_check_setting(program_kind_of(sec), s, why, sizeof(why)) != 0)
            return bad(L, k, fkey, "%s", why);
    }
    return 0;
}

static int parse_wire(struct ld *L, const struct yml_node *n, const char *key,
                      struct scenario_wire **out, size_t *nout)
{
    static const char *const keys[] = {"hop", "what", "nth", "hold", "drop", NULL};
    *out = NULL;
    *nout = 0;
    if (yml_is_null(n))
        return 0;
    if (n->kind != YML_SEQ)
        return bad(L, n, key, "expected a list of faults (- hop: ..., what: ..., hold: ...)");
    *out = calloc(n->n ? n->n : 1, sizeof(**out));
    if (!*out)
        return oom(L);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *f = n->items[i];
        struct scenario_wire *w = &(*out)[(*nout)++];
        char k[256];
        snprintf(k, sizeof(k), "%s[%zu]", key, i);
        w->line = f->line;
        if (want_map(L, f, k) != 0 || known_keys(L, f, k, keys) != 0)
            return -1;
        const struct yml_node *hop = yml_get(f, "hop");
        if (!hop)
            return bad(L, f, k, "missing key 'hop' (a hop direction such as upstream->proxy)");
        char kk[300];
        snprintf(kk, sizeof(kk), "%s.hop", k);
        const char *h = NULL;
        if (want_text(L, hop, kk, &h) != 0)
            return -1;
        const char *arrow = strstr(h, "->");
        char from[32] = "";
        if (arrow && (size_t)(arrow - h) < sizeof(from)) {
            memcpy(from, h, (size_t)(arrow - h));
            from[arrow - h] = '\0';
        }
        const char *names[4];
        size_t nn = scenario_topo_nodes(L->s->topo, names);
        w->from = NULL;
        w->to = NULL;
        for (size_t j = 0; arrow && j < nn; j++) {
            if (strcmp(names[j], from) == 0)
                w->from = names[j];
            if (strcmp(names[j], arrow + 2) == 0)
                w->to = names[j];
        }
        if (!w->from || !w->to || !scenario_topo_has_dir(L->s->topo, w->from, w->to))
            return bad(L, hop, kk,
                       "'%s' is not a hop direction of topology %s (write SENDER->RECEIVER "
                       "between adjacent programs, e.g. %s->%s)",
                       h, scenario_topo_name(L->s->topo), names[nn - 1], names[nn - 2]);
        const struct yml_node *what = yml_get(f, "what");
        w->what = WIRE_ANY;
        if (what) {
            snprintf(kk, sizeof(kk), "%s.what", k);
            const char *t = NULL;
            if (want_text(L, what, kk, &t) != 0)
                return -1;
            if (wire_parse_what(t, &w->what) != 0)
                return bad(L, what, kk,
                           "expected fin, rst, syn, data or any, or several joined "
                           "with | (fin|rst), got '%s'",
                           t);
        }
        const struct yml_node *nth = yml_get(f, "nth");
        if (nth) {
            long v = 0;
            snprintf(kk, sizeof(kk), "%s.nth", k);
            if (want_long(L, nth, kk, 0, 1000000, &v) != 0)
                return -1;
            w->nth = (unsigned)v;
        }
        const struct yml_node *hold = yml_get(f, "hold"), *drop = yml_get(f, "drop");
        if (hold && drop)
            return bad(L, drop, k, "give either hold or drop, not both");
        if (!hold && !drop)
            return bad(L, f, k, "missing key 'hold' (milliseconds) or 'drop: true'");
        if (hold) {
            snprintf(kk, sizeof(kk), "%s.hold", k);
            if (want_ms(L, hold, kk, 1, 600000, &w->hold_ms) != 0)
                return -1;
        } else {
            snprintf(kk, sizeof(kk), "%s.drop", k);
            if (want_bool(L, drop, kk, &w->drop) != 0)
                return -1;
            if (!w->drop)
                return bad(L, drop, kk, "drop: false holds nothing; remove the fault instead");
        }
    }
    return 0;
}

static int parse_bound(struct ld *L, const struct yml_node *n, const char *key, bool countable,
                       bool rate, bool bounded, struct scenario_bound *b)
{
    const char *t = NULL;
    if (want_text(L, n, key, &t) != 0)
        return -1;
    char buf[64];
    size_t len = strlen(t);
    if (len == 0 || len >= sizeof(buf))
        return bad(L, n, key, "expected a number or a percentage, got '%s'", t);
    memcpy(buf, t, len + 1);
    b->pct = buf[len - 1] == '%';
    if (b->pct) {
        buf[len - 1] = '\0';
        if (!countable && !rate)
            return bad(L, n, key, "a percentage only applies to counts of trials or to rates");
    }
    char *end;
    double v = strtod(buf, &end);
    if (end == buf || *end || v != v)
        return bad(L, n, key, "expected a number or a percentage (99%%), got '%s'", t);
    if (v < 0)
        return bad(L, n, key, "must not be negative, got '%s'", t);
    /* Only for metrics bounded by the trials: two requests per trial are 200% of them. */
    if (b->pct && v > 100 && bounded)
        return bad(L, n, key, "a percentage above 100%% can never hold: '%s'", t);
    b->set = true;
    b->v = v;
    return 0;
}

static int parse_expect(struct ld *L, const struct yml_node *n, const char *key,
                        struct scenario_check **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (yml_is_null(n))
        return 0;
    if (want_map(L, n, key) != 0)
        return -1;
    size_t cap = 0;
    for (size_t i = 0; i < n->n; i++)
        cap += n->items[i]->kind == YML_SEQ ? n->items[i]->n : 1;
    *out = calloc(cap ? cap : 1, sizeof(**out));
    if (!*out)
        return oom(L);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *k = n->keys[i], *v = n->items[i];
        char kk[320];
        snprintf(kk, sizeof(kk), "%s.%s", key, k->str);
        if (strcmp(k->str, "rst_on_failing") == 0) {
            const char **hops;
            size_t nh;
            if (want_texts(L, v, kk, &hops, &nh) != 0)
                return -1;
            for (size_t j = 0; j < nh; j++) {
                const char *arrow = strstr(hops[j], "->");
                char from[32] = "";
                if (arrow && (size_t)(arrow - hops[j]) < sizeof(from)) {
                    memcpy(from, hops[j], (size_t)(arrow - hops[j]));
                    from[arrow - hops[j]] = '\0';
                }
                if (!arrow || !scenario_topo_has_dir(L->s->topo, from, arrow + 2)) {
                    bad(L, v, kk, "'%s' is not a hop direction of topology %s", hops[j],
                        scenario_topo_name(L->s->topo));
                    free(hops);
                    return -1;
                }
                struct scenario_check *c = &(*out)[(*nout)++];
                c->kind = SCENARIO_CHECK_RST_ON_FAILING;
                c->metric = hops[j];
                c->line = k->line;
            }
            free(hops);
            continue;
        }
        bool countable = false, rate = false;
        char why[600];
        if (expect_metric_check(L->s->topo, k->str, &countable, &rate, why, sizeof(why)) != 0)
            return bad(L, k, kk, "%s", why);
        bool bounded = expect_metric_bounded(k->str);
        struct scenario_check *c = &(*out)[(*nout)++];
        c->kind = SCENARIO_CHECK_CMP;
        c->metric = k->str;
        c->line = k->line;
        if (v->kind == YML_SCALAR) {
            if (parse_bound(L, v, kk, countable, rate, bounded, &c->eq) != 0)
                return -1;
            continue;
        }
        static const char *const ckeys[] = {"min", "max", "eq", NULL};
        if (v->kind != YML_MAP)
            return bad(L, v, kk, "expected a number, a percentage, or a map of min/max/eq");
        if (known_keys(L, v, kk, ckeys) != 0)
            return -1;
        if (v->n == 0)
            return bad(L, v, kk, "give min, max or eq");
        struct {
            const char *name;
            struct scenario_bound *b;
        } bs[] = {{"min", &c->min}, {"max", &c->max}, {"eq", &c->eq}};
        for (size_t j = 0; j < 3; j++) {
            const struct yml_node *bn = yml_get(v, bs[j].name);
            char bk[360];
            snprintf(bk, sizeof(bk), "%s.%s", kk, bs[j].name);
            if (bn && parse_bound(L, bn, bk, countable, rate, bounded, bs[j].b) != 0)
                return -1;
        }
        if (c->eq.set && (c->min.set || c->max.set))
            return bad(L, v, kk, "eq with min or max: give one or the other");
        if (c->min.set && c->max.set && c->min.pct == c->max.pct && c->min.v > c->max.v)
            return bad(L, v, kk, "min is above max: the check can never hold");
    }
    return 0;
}

static const char *const mit_keys[] = {
    "about",          "upstream", "downstream", "proxy",   "proxy1", "proxy2", "wire",
    "proxy_cmd_args", "trials",   "timeout",    "success", "expect", NULL};

static int parse_common_sections(struct ld *L, const struct yml_node *m, const char *where,
                                 struct scenario_settings set[SCENARIO_NSEC])
{
    for (int sec = 0; sec < SCENARIO_NSEC; sec++) {
        const struct yml_node *n = yml_get(m, sec_names[sec]);
        if (n && parse_settings(L, n, where, (enum scenario_sec)sec, &set[sec]) != 0)
            return -1;
    }
    return 0;
}

static int parse_mit(struct ld *L, const struct yml_node *k, const struct yml_node *v,
                     struct scenario_mit *m)
{
    char where[256];
    snprintf(where, sizeof(where), "mitigations.%s", k->str);
    m->name = k->str;
    m->line = k->line;
    for (const char *p = m->name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return bad(L, k, where, "a mitigation name uses letters, digits, '-', '_' and '.'");
    if (yml_is_null(v))
        return 0;
    if (want_map(L, v, where) != 0 || known_keys(L, v, where, mit_keys) != 0)
        return -1;
    const struct yml_node *n;
    char kk[320];
    if ((n = yml_get(v, "about"))) {
        snprintf(kk, sizeof(kk), "%s.about", where);
        if (want_text(L, n, kk, &m->about) != 0)
            return -1;
        trim_end(yml_get(v, "about"));
    }
    if (parse_common_sections(L, v, where, m->set) != 0)
        return -1;
    if ((n = yml_get(v, "wire"))) {
        snprintf(kk, sizeof(kk), "%s.wire", where);
        m->has_wire = true;
        if (parse_wire(L, n, kk, &m->wire, &m->nwire) != 0)
            return -1;
    }
    if ((n = yml_get(v, "proxy_cmd_args"))) {
        snprintf(kk, sizeof(kk), "%s.proxy_cmd_args", where);
        m->has_args = true;
        if (!yml_is_null(n) && !(n->kind == YML_SEQ && n->n == 0) &&
            want_texts(L, n, kk, &m->args, &m->nargs) != 0)
            return -1;
    }
    if ((n = yml_get(v, "trials"))) {
        snprintf(kk, sizeof(kk), "%s.trials", where);
        if (want_long(L, n, kk, 1, 1000000, &m->trials) != 0)
            return -1;
    }
    if ((n = yml_get(v, "timeout"))) {
        snprintf(kk, sizeof(kk), "%s.timeout", where);
        if (want_ms(L, n, kk, 100, 3600000, &m->timeout_ms) != 0)
            return -1;
    }
    if ((n = yml_get(v, "success"))) {
        snprintf(kk, sizeof(kk), "%s.success", where);
        if (parse_success(L, n, kk, &m->success, &m->nsuccess) != 0)
            return -1;
    }
    if ((n = yml_get(v, "expect"))) {
        snprintf(kk, sizeof(kk), "%s.expect", where);
        if (parse_expect(L, n, kk, &m->expect, &m->nexpect) != 0)
            return -1;
    }
    return 0;
}

static const char *const top_keys[] = {
    "name",     "intent",     "seed",  "topology",    "trials", "timeout", "success",
    "upstream", "downstream", "proxy", "proxy1",      "proxy2", "wire",    "proxy_cmd_args",
    "expect",   "fix",        "sweep", "mitigations", NULL,
};

static int parse_top(struct ld *L, const struct yml_node *root)
{
    struct scn *s = L->s;
    const struct yml_node *n;

    if (!root)
        return bad(L, NULL, "(file)",
                   "empty scenario (expected name, intent, topology, "
                   "mitigations; see docs/scenario-format.md)");
    if (root->kind != YML_MAP)
        return bad(L, root, "(file)", "a scenario is a map of keys (name:, intent:, ...), got a %s",
                   yml_kind_name(root));
    if (known_keys(L, root, "", top_keys) != 0)
        return -1;
    static const char *const required[] = {"name", "intent", "topology", "mitigations", NULL};
    for (size_t i = 0; required[i]; i++)
        if (!yml_get(root, required[i]))
            return bad(L, root, required[i], "missing required key");

    n = yml_get(root, "name");
    if (want_text(L, n, "name", &s->name) != 0)
        return -1;
    for (const char *p = s->name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return bad(L, n, "name",
                       "a scenario name uses letters, digits, '-', '_' and '.' "
                       "(it names folders), got '%s'",
                       s->name);
    if (want_text(L, yml_get(root, "intent"), "intent", &s->intent) != 0)
        return -1;
    trim_end(yml_get(root, "intent"));
    if ((n = yml_get(root, "seed")) && want_texts(L, n, "seed", &s->seed, &s->nseed) != 0)
        return -1;

    const char *t = NULL;
    n = yml_get(root, "topology");
    if (want_text(L, n, "topology", &t) != 0)
        return -1;
    if (strcmp(t, "direct") == 0)
        s->topo = SCENARIO_DIRECT;
    else if (strcmp(t, "proxy") == 0)
        s->topo = SCENARIO_PROXY;
    else if (strcmp(t, "chain") == 0)
        s->topo = SCENARIO_CHAIN;
    else
        return bad(L, n, "topology", "expected direct, proxy or chain, got '%s'", t);

    s->trials = DEFAULT_TRIALS;
    if ((n = yml_get(root, "trials")) && want_long(L, n, "trials", 1, 1000000, &s->trials) != 0)
        return -1;
    s->timeout_ms = DEFAULT_TIMEOUT_MS;
    if ((n = yml_get(root, "timeout")) &&
        want_ms(L, n, "timeout", 100, 3600000, &s->timeout_ms) != 0)
        return -1;
    if ((n = yml_get(root, "success"))) {
        if (parse_success(L, n, "success", &s->success, &s->nsuccess) != 0)
            return -1;
    } else {
        static const char *ok200[] = {"200"};
        s->success = malloc(sizeof(*s->success));
        if (!s->success)
            return oom(L);
        s->success[0] = ok200[0];
        s->nsuccess = 1;
    }
    if (parse_common_sections(L, root, "", s->set) != 0)
        return -1;
    if ((n = yml_get(root, "wire")) && parse_wire(L, n, "wire", &s->wire, &s->nwire) != 0)
        return -1;
    if ((n = yml_get(root, "proxy_cmd_args")) && !yml_is_null(n) &&
        !(n->kind == YML_SEQ && n->n == 0) &&
        want_texts(L, n, "proxy_cmd_args", &s->args, &s->nargs) != 0)
        return -1;
    if ((n = yml_get(root, "expect")) && parse_expect(L, n, "expect", &s->expect, &s->nexpect) != 0)
        return -1;
    s->sweep = -1;
    if ((n = yml_get(root, "sweep"))) {
        bool b = false;
        if (want_bool(L, n, "sweep", &b) != 0)
            return -1;
        s->sweep = b;
    }

    n = yml_get(root, "mitigations");
    if (n->kind != YML_MAP || n->n == 0)
        return bad(L, n, "mitigations",
                   "expected a map of at least one named mitigation (none: {...})");
    s->mit = calloc(n->n, sizeof(*s->mit));
    if (!s->mit)
        return oom(L);
    for (size_t i = 0; i < n->n; i++) {
        if (parse_mit(L, n->keys[i], n->items[i], &s->mit[s->nmit++]) != 0)
            return -1;
    }

    if ((n = yml_get(root, "fix"))) {
        if (want_texts(L, n, "fix", &s->fix, &s->nfix) != 0)
            return -1;
        for (size_t i = 0; i < s->nfix; i++) {
            if (!scenario_find_mit(s, s->fix[i])) {
                const struct yml_node *it = n->kind == YML_SEQ ? n->items[i] : n;
                return bad(L, it, "fix", "no mitigation named '%s' in this scenario", s->fix[i]);
            }
        }
    }
    return 0;
}

static void wq(FILE *out, const char *str)
{
    char buf[4096];
    jl_escape(buf, sizeof(buf), str, strlen(str));
    fputs(buf, out);
}

static void write_list(FILE *out, const char *const *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", out);
        wq(out, v[i]);
    }
    fputc(']', out);
}

static void write_settings(FILE *out, const char *ind, const struct scenario_settings *set)
{
    for (int sec = 0; sec < SCENARIO_NSEC; sec++) {
        if (!set[sec].line)
            continue;
        fprintf(out, "%s%s:%s\n", ind, sec_names[sec], set[sec].n ? "" : " {}");
        for (size_t i = 0; i < set[sec].n; i++) {
            const struct scenario_setting *st = &set[sec].v[i];
            fprintf(out, "%s  %s: ", ind, st->name);
            if (st->off)
                fputs("false", out);
            else if (!st->vals)
                fputs("true", out);
            else if (st->nvals == 1)
                wq(out, st->vals[0]);
            else
                write_list(out, st->vals, st->nvals);
            fputc('\n', out);
        }
    }
}

static void write_wire(FILE *out, const char *ind, const struct scenario_wire *w, size_t n)
{
    static const struct {
        unsigned bit;
        const char *name;
    } bits[] = {{WIRE_SYN, "syn"}, {WIRE_FIN, "fin"}, {WIRE_RST, "rst"}, {WIRE_DATA, "data"}};
    fprintf(out, "%swire:%s\n", ind, n ? "" : " []");
    for (size_t i = 0; i < n; i++) {
        char what[64] = "";
        for (size_t b = 0; b < 4; b++) {
            if (!(w[i].what & bits[b].bit))
                continue;
            if (what[0])
                strncat(what, "|", sizeof(what) - strlen(what) - 1);
            strncat(what, bits[b].name, sizeof(what) - strlen(what) - 1);
        }
        fprintf(out, "%s  - hop: \"%s->%s\"\n%s    what: \"%s\"\n%s    nth: %u\n", ind, w[i].from,
                w[i].to, ind, what[0] ? what : "any", ind, w[i].nth);
        if (w[i].drop)
            fprintf(out, "%s    drop: true\n", ind);
        else
            fprintf(out, "%s    hold: %ld\n", ind, w[i].hold_ms);
    }
}

static void write_bound(FILE *out, const char *name, const struct scenario_bound *b, bool *first)
{
    if (!b->set)
        return;
    fprintf(out, "%s%s: \"%.17g%s\"", *first ? "" : ", ", name, b->v, b->pct ? "%" : "");
    *first = false;
}

static void write_expect(FILE *out, const char *ind, const struct scenario_check *c, size_t n)
{
    fprintf(out, "%sexpect:%s\n", ind, n ? "" : " {}");
    bool rst_done = false;
    for (size_t i = 0; i < n; i++) {
        if (c[i].kind == SCENARIO_CHECK_RST_ON_FAILING) {
            if (rst_done)
                continue;
            rst_done = true;
            fprintf(out, "%s  rst_on_failing: [", ind);
            bool first = true;
            for (size_t j = i; j < n; j++) {
                if (c[j].kind != SCENARIO_CHECK_RST_ON_FAILING)
                    continue;
                fputs(first ? "" : ", ", out);
                wq(out, c[j].metric);
                first = false;
            }
            fputs("]\n", out);
            continue;
        }
        bool first = true;
        fprintf(out, "%s  %s: {", ind, c[i].metric);
        write_bound(out, "min", &c[i].min, &first);
        write_bound(out, "max", &c[i].max, &first);
        write_bound(out, "eq", &c[i].eq, &first);
        fputs("}\n", out);
    }
}

void scenario_write(FILE *out, const struct scn *s)
{
    fputs("name: ", out);
    wq(out, s->name);
    fputs("\nintent: ", out);
    wq(out, s->intent);
    fputs("\nseed: ", out);
    write_list(out, s->seed, s->nseed);
    fprintf(out,
            "\ntopology: %s\ntrials: %ld\ntimeout: %ld\nsuccess: ", scenario_topo_name(s->topo),
            s->trials, s->timeout_ms);
    write_list(out, s->success, s->nsuccess);
    fputc('\n', out);
    if (s->sweep >= 0)
        fprintf(out, "sweep: %s\n", s->sweep ? "true" : "false");
    write_settings(out, "", s->set);
    write_wire(out, "", s->wire, s->nwire);
    fputs("proxy_cmd_args: ", out);
    write_list(out, s->args, s->nargs);
    fputc('\n', out);
    write_expect(out, "", s->expect, s->nexpect);
    fputs("fix: ", out);
    write_list(out, s->fix, s->nfix);
    fputs("\nmitigations:\n", out);
    for (size_t i = 0; i < s->nmit; i++) {
        const struct scenario_mit *m = &s->mit[i];
        fprintf(out, "  %s:\n", m->name);
        if (m->about) {
            fputs("    about: ", out);
            wq(out, m->about);
            fputc('\n', out);
        }
        write_settings(out, "    ", m->set);
        if (m->has_wire)
            write_wire(out, "    ", m->wire, m->nwire);
        if (m->has_args) {
            fputs("    proxy_cmd_args: ", out);
            write_list(out, m->args, m->nargs);
            fputc('\n', out);
        }
        if (m->trials)
            fprintf(out, "    trials: %ld\n", m->trials);
        if (m->timeout_ms)
            fprintf(out, "    timeout: %ld\n", m->timeout_ms);
        if (m->nsuccess) {
            fputs("    success: ", out);
            write_list(out, m->success, m->nsuccess);
            fputc('\n', out);
        }
        write_expect(out, "    ", m->expect, m->nexpect);
    }
}

const struct scenario_mit *scenario_find_mit(const struct scn *s, const char *name)
{
    for (size_t i = 0; i < s->nmit; i++)
        if (strcmp(s->mit[i].name, name) == 0)
            return &s->mit[i];
    return NULL;
}

/* Merge: later layers replace a flag of the same name; `off` removes it. */
static int merge(struct scenario_prog *p, const struct scenario_settings *layers[], size_t nlayers)
{
    size_t cap = 0;
    for (size_t i = 0; i < nlayers; i++)
        cap += layers[i] ? layers[i]->n : 0;
    p->set = calloc(cap ? cap : 1, sizeof(*p->set));
    if (!p->set)
        return -1;
    p->nset = 0;
    for (size_t i = 0; i < nlayers; i++) {
        if (!layers[i])
            continue;
        for (size_t j = 0; j < layers[i]->n; j++) {
            const struct scenario_setting *s = &layers[i]->v[j];
            size_t k;
            for (k = 0; k < p->nset; k++)
                if (strcmp(p->set[k]->name, s->name) == 0)
                    break;
            if (k < p->nset) {
                if (s->off) {
                    memmove(&p->set[k], &p->set[k + 1], (p->nset - k - 1) * sizeof(*p->set));
                    p->nset--;
                } else {
                    p->set[k] = s;
                }
            } else if (!s->off) {
                p->set[p->nset++] = s;
            }
        }
    }
    return 0;
}

static bool checks_same(const struct scenario_check *a, const struct scenario_check *b)
{
    return a->kind == b->kind && strcmp(a->metric, b->metric) == 0;
}

int scenario_cell_build(const struct scn *s, const struct scenario_mit *m, long trials_override,
                        struct scenario_cell *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->s = s;
    c->m = m;
    c->trials = trials_override > 0 ? trials_override : m->trials ? m->trials : s->trials;
    c->timeout_ms = m->timeout_ms ? m->timeout_ms : s->timeout_ms;
    c->success = m->nsuccess ? m->success : s->success;
    c->nsuccess = m->nsuccess ? m->nsuccess : s->nsuccess;
    c->wire = m->has_wire ? m->wire : s->wire;
    c->nwire = m->has_wire ? m->nwire : s->nwire;

    const char *names[4];
    c->nprogs = scenario_topo_nodes(s->topo, names);
    for (size_t i = 0; i < c->nprogs; i++) {
        struct scenario_prog *p = &c->progs[i];
        p->name = names[i];
        const struct scenario_settings *layers[4] = {NULL, NULL, NULL, NULL};
        size_t nl = 0;
        if (strcmp(names[i], "downstream") == 0) {
            p->sec = SCENARIO_SEC_DOWNSTREAM;
            layers[nl++] = &s->set[SCENARIO_SEC_DOWNSTREAM];
            layers[nl++] = &m->set[SCENARIO_SEC_DOWNSTREAM];
        } else if (strcmp(names[i], "upstream") == 0) {
            p->sec = SCENARIO_SEC_UPSTREAM;
            layers[nl++] = &s->set[SCENARIO_SEC_UPSTREAM];
            layers[nl++] = &m->set[SCENARIO_SEC_UPSTREAM];
        } else {
            enum scenario_sec own = strcmp(names[i], "proxy1") == 0   ? SCENARIO_SEC_PROXY1
                                    : strcmp(names[i], "proxy2") == 0 ? SCENARIO_SEC_PROXY2
                                                                      : SCENARIO_SEC_PROXY;
            p->sec = own;
            layers[nl++] = &s->set[SCENARIO_SEC_PROXY];
            if (own != SCENARIO_SEC_PROXY)
                layers[nl++] = &s->set[own];
            layers[nl++] = &m->set[SCENARIO_SEC_PROXY];
            if (own != SCENARIO_SEC_PROXY)
                layers[nl++] = &m->set[own];
            if (m->set[SCENARIO_SEC_PROXY].n || m->set[own].n)
                c->proxy_overridden = true;
        }
        if (merge(p, layers, nl) != 0)
            goto oom;
    }

    c->nargs = s->nargs + m->nargs;
    c->args = calloc(c->nargs ? c->nargs : 1, sizeof(*c->args));
    if (!c->args)
        goto oom;
    for (size_t i = 0; i < s->nargs; i++)
        c->args[i] = s->args[i];
    for (size_t i = 0; i < m->nargs; i++)
        c->args[s->nargs + i] = m->args[i];

    c->checks = calloc(s->nexpect + m->nexpect + 1, sizeof(*c->checks));
    if (!c->checks)
        goto oom;
    for (size_t i = 0; i < s->nexpect; i++) {
        bool replaced = false;
        for (size_t j = 0; j < m->nexpect; j++)
            if (checks_same(&s->expect[i], &m->expect[j]))
                replaced = true;
        if (!replaced)
            c->checks[c->nchecks++] = s->expect[i];
    }
    for (size_t j = 0; j < m->nexpect; j++)
        c->checks[c->nchecks++] = m->expect[j];

    const struct scenario_prog *dn = scenario_cell_prog(c, "downstream");
    c->sweep = s->sweep >= 0 ? s->sweep == 1 : (dn && scenario_prog_get(dn, "gap-sweep") != NULL);
    return 0;
oom:
    scenario_cell_free(c);
    snprintf(err, errlen, "out of memory");
    return -1;
}

void scenario_cell_free(struct scenario_cell *c)
{
    for (size_t i = 0; i < 4; i++) {
        free(c->progs[i].set);
        c->progs[i].set = NULL;
    }
    free(c->args);
    free(c->checks);
    c->args = NULL;
    c->checks = NULL;
}

const struct scenario_setting *scenario_prog_get(const struct scenario_prog *p, const char *name)
{
    for (size_t i = 0; i < p->nset; i++)
        if (strcmp(p->set[i]->name, name) == 0)
            return p->set[i];
    return NULL;
}

const struct scenario_prog *scenario_cell_prog(const struct scenario_cell *c, const char *name)
{
    for (size_t i = 0; i < c->nprogs; i++)
        if (strcmp(c->progs[i].name, name) == 0)
            return &c->progs[i];
    return NULL;
}

bool scenario_cell_success(const struct scenario_cell *c, const char *outcome)
{
    for (size_t i = 0; i < c->nsuccess; i++)
        if (strcmp(c->success[i], outcome) == 0)
            return true;
    return false;
}

/* The key path of the setting at line (scenario or mitigation section), or of the section
 * where a cross-flag contradiction of program pr is reported. */
static void setting_key(const struct scn *s, const struct scenario_mit *m,
                        const struct scenario_prog *pr, int line, char *buf, size_t len)
{
    for (int sec = 0; sec < SCENARIO_NSEC; sec++) {
        for (size_t i = 0; i < s->set[sec].n; i++)
            if (s->set[sec].v[i].line == line) {
                snprintf(buf, len, "%s.%s", sec_names[sec], s->set[sec].v[i].name);
                return;
            }
        for (size_t i = 0; i < m->set[sec].n; i++)
            if (m->set[sec].v[i].line == line) {
                snprintf(buf, len, "mitigations.%s.%s.%s", m->name, sec_names[sec],
                         m->set[sec].v[i].name);
                return;
            }
        if (m->set[sec].line == line) {
            snprintf(buf, len, "mitigations.%s.%s", m->name, sec_names[sec]);
            return;
        }
        if (s->set[sec].line == line) {
            snprintf(buf, len, "%s", sec_names[sec]);
            return;
        }
    }
    snprintf(buf, len, "mitigations.%s (%s)", m->name, pr->name);
}

/* Every cell's program settings through the program's own flag table and cross-flag rules. */
static int validate_cells(struct ld *L)
{
    const struct scn *s = L->s;
    for (size_t i = 0; i < s->nmit; i++) {
        const struct scenario_mit *m = &s->mit[i];
        struct scenario_cell c;
        if (scenario_cell_build(s, m, 0, &c, L->err, L->errlen) != 0)
            return -1;
        for (size_t p = 0; p < c.nprogs; p++) {
            const struct scenario_prog *pr = &c.progs[p];
            int line = 0;
            char why[512];
            enum program_kind k = program_kind_of(pr->sec);
            if (program_validate(k, pr->set, pr->nset, &line, why, sizeof(why)) == 0)
                continue;
            /* A contradiction belongs to the mitigation's section when it has one, else to
             * the scenario's section of that program. */
            if (!line) {
                enum scenario_sec common =
                    pr->sec == SCENARIO_SEC_PROXY1 || pr->sec == SCENARIO_SEC_PROXY2
                        ? SCENARIO_SEC_PROXY
                        : pr->sec;
                line = m->set[pr->sec].line   ? m->set[pr->sec].line
                       : m->set[common].line  ? m->set[common].line
                       : s->set[pr->sec].line ? s->set[pr->sec].line
                       : s->set[common].line  ? s->set[common].line
                                              : m->line;
            }
            char where[320];
            setting_key(s, m, pr, line, where, sizeof(where));
            snprintf(L->err, L->errlen, "%s:%d: %s: %s (%s, cell %s × %s)", L->path, line, where,
                     why, program_get(k)->bin, s->name, m->name);
            scenario_cell_free(&c);
            return -1;
        }
        scenario_cell_free(&c);
    }
    return 0;
}

static void settings_free(struct scenario_settings *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i].vals);
    free(set->v);
}

void scenario_free(struct scn *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nmit; i++) {
        struct scenario_mit *m = &s->mit[i];
        for (int k = 0; k < SCENARIO_NSEC; k++)
            settings_free(&m->set[k]);
        free(m->wire);
        free(m->args);
        free(m->success);
        free(m->expect);
    }
    for (int k = 0; k < SCENARIO_NSEC; k++)
        settings_free(&s->set[k]);
    free(s->mit);
    free(s->seed);
    free(s->success);
    free(s->wire);
    free(s->args);
    free(s->expect);
    free(s->fix);
    yml_free(s->doc);
    free(s->path);
    free(s);
}

struct scn *scenario_load(const char *path, char *err, size_t errlen)
{
    struct scn *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    struct ld L = {.path = s->path, .s = s, .err = err, .errlen = errlen};
    if (yml_load(path, &s->doc, err, errlen) != 0)
        goto fail;
    if (parse_top(&L, s->doc) != 0)
        goto fail;
    if (validate_cells(&L) != 0)
        goto fail;
    return s;
fail:
    scenario_free(s);
    return NULL;
}
