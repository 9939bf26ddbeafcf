/* scenario_read — a scenario file's YAML tree into the model (struct scenario): the top-level keys,
 * each program's settings (flag by flag against its flag table), wire faults, expectations and
 * the mitigations. Cross-flag rules need a whole cell: scenario_validate.c checks those. */
#include "scenario_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "expect.h"
#include "programs.h"
#include "wire.h"

#define DEFAULT_TRIALS     100
#define DEFAULT_TIMEOUT_MS 120000L

/* A folded block (`intent: >`) ends with a newline: keep the text only. */
static void trim_end(struct yml_node *n)
{
    size_t l = strlen(n->str);
    while (l > 0 && isspace((unsigned char)n->str[l - 1]))
        n->str[--l] = '\0';
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

/* A scenario or mitigation name: letters, digits, '-', '_' and '.' (it names folders). */
/* A scenario or mitigation name names a folder of the run (OUT/SCENARIO/MITIGATION): "..",
 * "." or a hidden name must not pass, or the cell writes outside --out. */
static bool is_name(const char *s)
{
    if (!isalnum((unsigned char)s[0]))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return false;
    return true;
}

/* `trials:` and `timeout:`, of the scenario or of a mitigation. */
static int parse_trials(struct scenario_loader *L, const struct yml_node *n, const char *key,
                        long *out)
{
    return yml_want_long(&L->r, n, key, 1, 1000000, out);
}

static int parse_timeout(struct scenario_loader *L, const struct yml_node *n, const char *key,
                         long *out)
{
    return yml_want_ms(&L->r, n, key, 100, 3600000, out);
}

/* `proxy_cmd_args:` is gone: a mitigation said its proxy settings twice, once for
 * racelab-proxy and once for --proxy-cmd, and the two drifted apart. The settings under
 * `proxy:` are now what every kind gets, `cmd:` as racelab-proxy flags. */
static int refuse_args(struct scenario_loader *L, const struct yml_node *n, const char *key)
{
    return yml_bad(&L->r, n, key,
                   "proxy_cmd_args is no longer read: say each setting once under proxy: (in "
                   "racelab-proxy's flag names); --proxy cmd:'CMD' gets them appended as "
                   "racelab-proxy flags (docs/scenario-format.md)");
}

/* `native:`: a map of proxy kind to a line or a list of lines. */
static int parse_native(struct scenario_loader *L, const struct yml_node *n, const char *key,
                        struct scenario_native **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (yml_is_null(n))
        return 0;
    if (n->kind != YML_MAP)
        return yml_bad(&L->r, n, key,
                       "expected a map of proxy kind to its lines ({haproxy: [\"http-reuse "
                       "always\"]})");
    *out = calloc(n->n ? n->n : 1, sizeof(**out));
    if (!*out)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *k = n->keys[i];
        char kk[300];
        snprintf(kk, sizeof(kk), "%s.%s", key, k->str);
        if (!is_name(k->str))
            return yml_bad(&L->r, k, kk, "a proxy kind is a name (nginx, haproxy, apache, envoy)");
        if (strcmp(k->str, "racelab") == 0)
            return yml_bad(&L->r, k, kk,
                           "racelab-proxy's settings are flags: give them under proxy:");
        struct scenario_native *x = &(*out)[(*nout)++];
        x->kind = k->str;
        x->line = k->line;
        if (yml_want_texts(&L->r, n->items[i], kk, &x->lines, &x->nlines) != 0)
            return -1;
    }
    return 0;
}

static int parse_success(struct scenario_loader *L, const struct yml_node *n, const char *key,
                         const char ***out, size_t *nout)
{
    if (yml_want_texts(&L->r, n, key, out, nout) != 0)
        return -1;
    if (*nout == 0)
        return yml_bad(&L->r, n, key, "expected at least one outcome");
    for (size_t i = 0; i < *nout; i++) {
        if (!is_outcome_word((*out)[i])) {
            const struct yml_node *it = n->kind == YML_SEQ ? n->items[i] : n;
            int rc = yml_bad(&L->r, it, key,
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

/* Appends text to buf (len bytes, NUL-terminated), cutting what does not fit. */
static void cat(char *buf, size_t len, const char *text)
{
    strncat(buf, text, len - strlen(buf) - 1);
}

/* The sections topology t reads, for messages: "downstream, proxy1, proxy2, upstream (and
 * proxy for settings common to both proxies)". */
static void topo_sections(enum scenario_topo t, char *buf, size_t len)
{
    enum scenario_sec secs[4];
    size_t n = scenario_topo_secs(t, secs);
    bool common = scenario_sec_allowed(t, SCENARIO_SEC_PROXY);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        cat(buf, len, i ? ", " : "");
        cat(buf, len, scenario_sec_names[secs[i]]);
        if (secs[i] == SCENARIO_SEC_PROXY)
            common = false;
    }
    if (common)
        cat(buf, len, " (and proxy for settings common to both proxies)");
}

static int parse_settings(struct scenario_loader *L, const struct yml_node *n, const char *where,
                          enum scenario_sec sec, struct scenario_settings *out)
{
    char key[256];
    snprintf(key, sizeof(key), "%s%s%s", where, *where ? "." : "", scenario_sec_names[sec]);
    if (!scenario_sec_allowed(L->s->topo, sec)) {
        char progs[160];
        topo_sections(L->s->topo, progs, sizeof(progs));
        return yml_bad(&L->r, n, key, "topology %s has no %s (its programs: %s)",
                       scenario_topo_name(L->s->topo), scenario_sec_names[sec], progs);
    }
    out->line = n->line;
    if (yml_is_null(n))
        return 0;
    if (!(out->v = yml_want_map_array(&L->r, n, key, sizeof(*out->v))))
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *k = n->keys[i], *v = n->items[i];
        char fkey[320];
        snprintf(fkey, sizeof(fkey), "%s.%s", key, k->str);
        if (strcmp(k->str, "kind") == 0 &&
            (sec == SCENARIO_SEC_DOWNSTREAM || sec == SCENARIO_SEC_UPSTREAM)) {
            if (scenario_read_peer_kind(L, v, fkey, sec == SCENARIO_SEC_DOWNSTREAM, out) != 0)
                return -1;
            continue;
        }
        struct scenario_setting *s = &out->v[out->n++];
        s->name = k->str;
        s->line = k->line;
        if (strncmp(s->name, "--", 2) == 0)
            return yml_bad(&L->r, k, fkey, "write flag names without the leading \"--\"");
        int b = yml_bool(v);
        if (b == 1) {
            s->vals = NULL;
        } else if (b == 0 || yml_is_null(v)) {
            s->off = true;
        } else if (yml_want_texts(&L->r, v, fkey, &s->vals, &s->nvals) != 0) {
            return -1;
        } else if (s->nvals == 0) {
            return yml_bad(&L->r, v, fkey, "an empty list gives the flag no value");
        }
        char why[400];
        if (program_check_setting(program_kind_of(sec), s, why, sizeof(why)) != 0)
            return yml_bad(&L->r, k, fkey, "%s", why);
    }
    return 0;
}

static int parse_wire(struct scenario_loader *L, const struct yml_node *n, const char *key,
                      struct scenario_wire **out, size_t *nout)
{
    static const char *const keys[] = {"hop", "what", "nth", "hold", "drop", NULL};
    *out = NULL;
    *nout = 0;
    if (yml_is_null(n))
        return 0;
    if (n->kind != YML_SEQ)
        return yml_bad(&L->r, n, key,
                       "expected a list of faults (- hop: ..., what: ..., hold: ...)");
    if (n->n > WIRE_MAX_RULES) {
        char k[256];
        snprintf(k, sizeof(k), "%s[%d]", key, WIRE_MAX_RULES);
        return yml_bad(&L->r, n->items[WIRE_MAX_RULES], k,
                       "at most %d wire faults per scenario or mitigation (each becomes iptables "
                       "rules and is matched against every queued packet); this list has %zu",
                       WIRE_MAX_RULES, n->n);
    }
    *out = calloc(n->n ? n->n : 1, sizeof(**out));
    if (!*out)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *f = n->items[i];
        struct scenario_wire *w = &(*out)[(*nout)++];
        char k[256];
        snprintf(k, sizeof(k), "%s[%zu]", key, i);
        w->line = f->line;
        if (yml_want_map(&L->r, f, k) != 0 || yml_known_keys(&L->r, f, k, keys) != 0)
            return -1;
        char kk[300];
        const struct yml_node *hop = yml_get_at(f, k, "hop", kk, sizeof(kk));
        if (!hop)
            return yml_bad(&L->r, f, k,
                           "missing key 'hop' (a hop direction such as upstream->proxy)");
        const char *h = NULL;
        if (yml_want_text(&L->r, hop, kk, &h) != 0)
            return -1;
        const char *names[4];
        size_t nn = scenario_topo_nodes(L->s->topo, names);
        if (!scenario_topo_hop(L->s->topo, h, &w->from, &w->to))
            return yml_bad(&L->r, hop, kk,
                           "'%s' is not a hop direction of topology %s (write SENDER->RECEIVER "
                           "between adjacent programs, e.g. %s->%s)",
                           h, scenario_topo_name(L->s->topo), names[nn - 1], names[nn - 2]);
        const struct yml_node *what = yml_get_at(f, k, "what", kk, sizeof(kk));
        w->what = WIRE_ANY;
        if (what) {
            const char *t = NULL;
            if (yml_want_text(&L->r, what, kk, &t) != 0)
                return -1;
            if (wire_parse_what(t, &w->what) != 0)
                return yml_bad(&L->r, what, kk,
                               "expected fin, rst, syn, data or any, or several joined "
                               "with | (fin|rst), got '%s'",
                               t);
        }
        const struct yml_node *nth = yml_get_at(f, k, "nth", kk, sizeof(kk));
        if (nth) {
            long v = 0;
            if (yml_want_long(&L->r, nth, kk, 0, 1000000, &v) != 0)
                return -1;
            w->nth = (unsigned)v;
        }
        const struct yml_node *hold = yml_get(f, "hold"), *drop = yml_get(f, "drop");
        if (hold && drop)
            return yml_bad(&L->r, drop, k, "give either hold or drop, not both");
        if (!hold && !drop)
            return yml_bad(&L->r, f, k, "missing key 'hold' (milliseconds) or 'drop: true'");
        if (hold) {
            snprintf(kk, sizeof(kk), "%s.hold", k);
            if (yml_want_ms(&L->r, hold, kk, 1, 600000, &w->hold_ms) != 0)
                return -1;
        } else {
            snprintf(kk, sizeof(kk), "%s.drop", k);
            if (yml_want_bool(&L->r, drop, kk, &w->drop) != 0)
                return -1;
            if (!w->drop)
                return yml_bad(&L->r, drop, kk,
                               "drop: false holds nothing; remove the fault instead");
        }
    }
    return 0;
}

static int parse_bound(struct scenario_loader *L, const struct yml_node *n, const char *key,
                       bool countable, bool rate, bool bounded, struct scenario_bound *b)
{
    const char *t = NULL;
    if (yml_want_text(&L->r, n, key, &t) != 0)
        return -1;
    char buf[64];
    size_t len = strlen(t);
    if (len == 0 || len >= sizeof(buf))
        return yml_bad(&L->r, n, key, "expected a number or a percentage, got '%s'", t);
    memcpy(buf, t, len + 1);
    b->pct = buf[len - 1] == '%';
    if (b->pct) {
        buf[len - 1] = '\0';
        if (!countable && !rate)
            return yml_bad(&L->r, n, key,
                           "a percentage only applies to counts of trials or to rates");
    }
    char *end;
    double v = strtod(buf, &end);
    if (end == buf || *end || v != v)
        return yml_bad(&L->r, n, key, "expected a number or a percentage (99%%), got '%s'", t);
    if (v < 0)
        return yml_bad(&L->r, n, key, "must not be negative, got '%s'", t);
    /* Only for metrics bounded by the trials: two requests per trial are 200% of them. */
    if (b->pct && v > 100 && bounded)
        return yml_bad(&L->r, n, key, "a percentage above 100%% can never hold: '%s'", t);
    b->set = true;
    b->v = v;
    return 0;
}

static int parse_expect(struct scenario_loader *L, const struct yml_node *n, const char *key,
                        const char *proxy_kind, struct scenario_check **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (yml_is_null(n))
        return 0;
    if (yml_want_map(&L->r, n, key) != 0)
        return -1;
    /* a check per key, or per hop of an rst_on_failing list; an empty list still takes the
     * slot its key's check is written into before the value is refused */
    size_t cap = 0;
    for (size_t i = 0; i < n->n; i++)
        cap += n->items[i]->kind == YML_SEQ && n->items[i]->n > 1 ? n->items[i]->n : 1;
    *out = calloc(cap ? cap : 1, sizeof(**out));
    if (!*out)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *k = n->keys[i], *v = n->items[i];
        char kk[320];
        snprintf(kk, sizeof(kk), "%s.%s", key, k->str);
        if (strcmp(k->str, "rst_on_failing") == 0) {
            const char **hops;
            size_t nh;
            if (yml_want_texts(&L->r, v, kk, &hops, &nh) != 0)
                return -1;
            for (size_t j = 0; j < nh; j++) {
                if (!scenario_topo_hop(L->s->topo, hops[j], NULL, NULL)) {
                    yml_bad(&L->r, v, kk, "'%s' is not a hop direction of topology %s", hops[j],
                            scenario_topo_name(L->s->topo));
                    free(hops);
                    return -1;
                }
                struct scenario_check *c = &(*out)[(*nout)++];
                c->kind = SCENARIO_CHECK_RST_ON_FAILING;
                c->metric = hops[j];
                c->line = k->line;
                c->proxy_kind = proxy_kind;
            }
            free(hops);
            continue;
        }
        bool countable = false, rate = false;
        char why[600];
        if (expect_metric_check(L->s->topo, k->str, &countable, &rate, why, sizeof(why)) != 0)
            return yml_bad(&L->r, k, kk, "%s", why);
        bool bounded = expect_metric_bounded(k->str);
        struct scenario_check *c = &(*out)[(*nout)++];
        c->kind = SCENARIO_CHECK_CMP;
        c->metric = k->str;
        c->line = k->line;
        c->proxy_kind = proxy_kind;
        if (v->kind == YML_SCALAR) {
            if (parse_bound(L, v, kk, countable, rate, bounded, &c->eq) != 0)
                return -1;
            continue;
        }
        static const char *const ckeys[] = {"min", "max", "eq", NULL};
        if (v->kind != YML_MAP)
            return yml_bad(&L->r, v, kk, "expected a number, a percentage, or a map of min/max/eq");
        if (yml_known_keys(&L->r, v, kk, ckeys) != 0)
            return -1;
        if (v->n == 0)
            return yml_bad(&L->r, v, kk, "give min, max or eq");
        struct {
            const char *name;
            struct scenario_bound *b;
        } bs[] = {{"min", &c->min}, {"max", &c->max}, {"eq", &c->eq}};
        for (size_t j = 0; j < 3; j++) {
            char bk[360];
            const struct yml_node *bn = yml_get_at(v, kk, bs[j].name, bk, sizeof(bk));
            if (bn && parse_bound(L, bn, bk, countable, rate, bounded, bs[j].b) != 0)
                return -1;
        }
        if (c->eq.set && (c->min.set || c->max.set))
            return yml_bad(&L->r, v, kk, "eq with min or max: give one or the other");
        if (c->min.set && c->max.set && c->min.pct == c->max.pct && c->min.v > c->max.v)
            return yml_bad(&L->r, v, kk, "min is above max: the check can never hold");
    }
    return 0;
}

/* proxies/ of the current folder, else of the source tree (where --proxy KIND looks). */
static const char *proxies_dir(void)
{
    struct stat st;
    if (stat("proxies", &st) == 0 && S_ISDIR(st.st_mode))
        return "proxies";
    return RACELAB_SOURCE_DIR "/proxies";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool scenario_kind_known(const char *name, char *known, size_t knownlen)
{
    if (known && knownlen)
        snprintf(known, knownlen, "racelab");
    if (strcmp(name, "racelab") == 0)
        return true;
    const char *dir = proxies_dir();
    DIR *d = opendir(dir);
    if (!d)
        return false;
    char *names[64];
    size_t n = 0;
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s/adapter.yaml", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (strcmp(e->d_name, name) == 0)
            found = true;
        if (n < sizeof(names) / sizeof(names[0]) && (names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (known && knownlen) {
            cat(known, knownlen, ", ");
            cat(known, knownlen, names[i]);
        }
        free(names[i]);
    }
    return found;
}

/* `expect_kind:`: a map of proxy kind to its checks (the shape of `expect:`). */
static int parse_expect_kind(struct scenario_loader *L, const struct yml_node *n, const char *key,
                             struct scenario_kind_expect **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (yml_is_null(n))
        return 0;
    if (n->kind != YML_MAP)
        return yml_bad(&L->r, n, key,
                       "expected a map of proxy kind to its checks ({nginx: {failures: 0}})");
    *out = calloc(n->n ? n->n : 1, sizeof(**out));
    if (!*out)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *k = n->keys[i];
        char kk[300], known[512];
        snprintf(kk, sizeof(kk), "%s.%s", key, k->str);
        if (!scenario_kind_known(k->str, known, sizeof(known)))
            return yml_bad(&L->r, k, kk, "'%s' is not a proxy kind (known: %s: proxies/KIND/)",
                           k->str, known);
        struct scenario_kind_expect *x = &(*out)[(*nout)++];
        x->kind = k->str;
        x->line = k->line;
        if (parse_expect(L, n->items[i], kk, x->kind, &x->expect, &x->nexpect) != 0)
            return -1;
    }
    return 0;
}

/* The keys of a mitigation: about, the settings sections, then these. */
static const char *const mit_about[] = {"about", NULL};
static const char *const mit_tail[] = {"wire",   "proxy_cmd_args", "native",
                                       "trials", "timeout",        "success",
                                       "expect", "expect_kind",    NULL};
static const char *const *const mit_keys[] = {mit_about, scenario_sec_names, mit_tail, NULL};

static int parse_common_sections(struct scenario_loader *L, const struct yml_node *m,
                                 const char *where, struct scenario_settings set[SCENARIO_NSEC])
{
    for (int sec = 0; sec < SCENARIO_NSEC; sec++) {
        const struct yml_node *n = yml_get(m, scenario_sec_names[sec]);
        if (n && parse_settings(L, n, where, (enum scenario_sec)sec, &set[sec]) != 0)
            return -1;
    }
    return 0;
}

static int parse_mit(struct scenario_loader *L, const struct yml_node *k, const struct yml_node *v,
                     struct scenario_mit *m)
{
    char where[256];
    snprintf(where, sizeof(where), "mitigations.%s", k->str);
    m->name = k->str;
    m->line = k->line;
    if (!is_name(m->name))
        return yml_bad(&L->r, k, where,
                       "a mitigation name starts with a letter or digit and uses "
                       "letters, digits, '-', '_' and '.' (it names a folder)");
    if (yml_is_null(v))
        return 0;
    if (yml_want_map(&L->r, v, where) != 0 || yml_known_keys_in(&L->r, v, where, mit_keys) != 0)
        return -1;
    const struct yml_node *n;
    char kk[320];
    if ((n = yml_get_at(v, where, "about", kk, sizeof(kk)))) {
        if (yml_want_text(&L->r, n, kk, &m->about) != 0)
            return -1;
        trim_end(yml_get(v, "about"));
    }
    if (parse_common_sections(L, v, where, m->set) != 0)
        return -1;
    if ((n = yml_get_at(v, where, "wire", kk, sizeof(kk)))) {
        m->has_wire = true;
        if (parse_wire(L, n, kk, &m->wire, &m->nwire) != 0)
            return -1;
    }
    if ((n = yml_get_at(v, where, "proxy_cmd_args", kk, sizeof(kk))))
        return refuse_args(L, n, kk);
    if ((n = yml_get_at(v, where, "native", kk, sizeof(kk))) &&
        parse_native(L, n, kk, &m->native, &m->nnative) != 0)
        return -1;
    if ((n = yml_get_at(v, where, "trials", kk, sizeof(kk))) &&
        parse_trials(L, n, kk, &m->trials) != 0)
        return -1;
    if ((n = yml_get_at(v, where, "timeout", kk, sizeof(kk))) &&
        parse_timeout(L, n, kk, &m->timeout_ms) != 0)
        return -1;
    if ((n = yml_get_at(v, where, "success", kk, sizeof(kk))) &&
        parse_success(L, n, kk, &m->success, &m->nsuccess) != 0)
        return -1;
    if ((n = yml_get_at(v, where, "expect", kk, sizeof(kk))) &&
        parse_expect(L, n, kk, NULL, &m->expect, &m->nexpect) != 0)
        return -1;
    if ((n = yml_get_at(v, where, "expect_kind", kk, sizeof(kk))) &&
        parse_expect_kind(L, n, kk, &m->kexpect, &m->nkexpect) != 0)
        return -1;
    return 0;
}

static int read_topology(struct scenario_loader *L, const struct yml_node *n)
{
    const char *t = NULL;
    if (yml_want_text(&L->r, n, "topology", &t) != 0)
        return -1;
    char names[64] = "";
    for (int i = 0; i < SCENARIO_NTOPO; i++) {
        if (strcmp(t, scenario_topo_name((enum scenario_topo)i)) == 0) {
            L->s->topo = (enum scenario_topo)i;
            return 0;
        }
        cat(names, sizeof(names), i == 0 ? "" : i + 1 < SCENARIO_NTOPO ? ", " : " or ");
        cat(names, sizeof(names), scenario_topo_name((enum scenario_topo)i));
    }
    return yml_bad(&L->r, n, "topology", "expected %s, got '%s'", names, t);
}

/* The top-level keys of a scenario: these, the settings sections, then these. */
static const char *const top_head[] = {"name",   "intent",  "seed",    "topology",
                                       "trials", "timeout", "success", NULL};
static const char *const top_tail[] = {"wire",   "proxy_cmd_args", "native",
                                       "expect", "expect_kind",    "fix",
                                       "sweep",  "mitigations",    NULL};
static const char *const *const top_keys[] = {top_head, scenario_sec_names, top_tail, NULL};
/* The keys a scenario cannot do without. */
static const char *const top_required[] = {"name", "intent", "topology", "mitigations", NULL};

int scenario_read(struct scenario_loader *L, const struct yml_node *root)
{
    struct scenario *s = L->s;
    const struct yml_node *n;

    if (!root) {
        char keys[128] = "";
        for (size_t i = 0; top_required[i]; i++) {
            cat(keys, sizeof(keys), i ? ", " : "");
            cat(keys, sizeof(keys), top_required[i]);
        }
        return yml_bad(&L->r, NULL, "(file)",
                       "empty scenario (expected %s; see docs/scenario-format.md)", keys);
    }
    if (root->kind != YML_MAP)
        return yml_bad(&L->r, root, "(file)",
                       "a scenario is a map of keys (name:, intent:, ...), got a %s",
                       yml_kind_name(root));
    if (yml_known_keys_in(&L->r, root, "", top_keys) != 0)
        return -1;
    for (size_t i = 0; top_required[i]; i++)
        if (!yml_get(root, top_required[i]))
            return yml_bad(&L->r, root, top_required[i], "missing required key");

    n = yml_get(root, "name");
    if (yml_want_text(&L->r, n, "name", &s->name) != 0)
        return -1;
    if (!is_name(s->name))
        return yml_bad(&L->r, n, "name",
                       "a scenario name starts with a letter or digit and uses letters, "
                       "digits, '-', '_' and '.' (it names folders), got '%s'",
                       s->name);
    if (yml_want_text(&L->r, yml_get(root, "intent"), "intent", &s->intent) != 0)
        return -1;
    trim_end(yml_get(root, "intent"));
    if ((n = yml_get(root, "seed")) && yml_want_texts(&L->r, n, "seed", &s->seed, &s->nseed) != 0)
        return -1;

    if (read_topology(L, yml_get(root, "topology")) != 0)
        return -1;

    s->trials = DEFAULT_TRIALS;
    if ((n = yml_get(root, "trials")) && parse_trials(L, n, "trials", &s->trials) != 0)
        return -1;
    s->timeout_ms = DEFAULT_TIMEOUT_MS;
    if ((n = yml_get(root, "timeout")) && parse_timeout(L, n, "timeout", &s->timeout_ms) != 0)
        return -1;
    if ((n = yml_get(root, "success"))) {
        if (parse_success(L, n, "success", &s->success, &s->nsuccess) != 0)
            return -1;
    } else {
        static const char *ok200[] = {"200"};
        s->success = malloc(sizeof(*s->success));
        if (!s->success)
            return yml_oom(&L->r);
        s->success[0] = ok200[0];
        s->nsuccess = 1;
    }
    if (parse_common_sections(L, root, "", s->set) != 0)
        return -1;
    if ((n = yml_get(root, "wire")) && parse_wire(L, n, "wire", &s->wire, &s->nwire) != 0)
        return -1;
    if ((n = yml_get(root, "proxy_cmd_args")))
        return refuse_args(L, n, "proxy_cmd_args");
    if ((n = yml_get(root, "native")) && parse_native(L, n, "native", &s->native, &s->nnative) != 0)
        return -1;
    if ((n = yml_get(root, "expect")) &&
        parse_expect(L, n, "expect", NULL, &s->expect, &s->nexpect) != 0)
        return -1;
    if ((n = yml_get(root, "expect_kind")) &&
        parse_expect_kind(L, n, "expect_kind", &s->kexpect, &s->nkexpect) != 0)
        return -1;
    s->sweep = -1;
    if ((n = yml_get(root, "sweep"))) {
        bool b = false;
        if (yml_want_bool(&L->r, n, "sweep", &b) != 0)
            return -1;
        s->sweep = b;
    }

    n = yml_get(root, "mitigations");
    if (n->kind != YML_MAP || n->n == 0)
        return yml_bad(&L->r, n, "mitigations",
                       "expected a map of at least one named mitigation (none: {...})");
    s->mit = calloc(n->n, sizeof(*s->mit));
    if (!s->mit)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        if (parse_mit(L, n->keys[i], n->items[i], &s->mit[s->nmit++]) != 0)
            return -1;
    }

    if ((n = yml_get(root, "fix"))) {
        if (yml_want_texts(&L->r, n, "fix", &s->fix, &s->nfix) != 0)
            return -1;
        for (size_t i = 0; i < s->nfix; i++) {
            if (!scenario_find_mit(s, s->fix[i])) {
                const struct yml_node *it = n->kind == YML_SEQ ? n->items[i] : n;
                return yml_bad(&L->r, it, "fix", "no mitigation named '%s' in this scenario",
                               s->fix[i]);
            }
        }
    }
    return 0;
}
