/* kind — an adapter file (proxies/<kind>/adapter.yaml) read and checked: every key, every
 * racelab-proxy flag either mapped or named unsupported, every placeholder of the templates
 * and rule texts known, every slot placed. Errors read "FILE:LINE: key: problem". */
#include "kind_internal.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "programs.h"
#include "yml_read.h"

const char *const kind_var_names[] = {
    "dir", "name", "listen_port", "upstream_port", "listen", "upstream", "user", "config", NULL};

static const char *const value_names[] = {"value", "ms", "s", "seconds", "bytes", NULL};

/* One kind_load under way: the adapter file and where errors go, the kind being filled in. */
struct loader {
    struct yml_reader r;
    struct kind *k;
};

size_t kind_placeholder(const char *p, char *name, size_t namelen)
{
    if (p[0] != '{' || !(islower((unsigned char)p[1])))
        return 0;
    size_t i = 1;
    while (islower((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || p[i] == '_')
        i++;
    /* {value+N} */
    if (p[i] == '+' && i == 6 && strncmp(p + 1, "value", 5) == 0) {
        size_t j = i + 1;
        while (isdigit((unsigned char)p[j]))
            j++;
        if (j == i + 1 || p[j] != '}')
            return 0;
        i = j;
    }
    if (p[i] != '}' || i - 1 >= namelen)
        return 0;
    memcpy(name, p + 1, i - 1);
    name[i - 1] = '\0';
    return i + 1;
}

bool kind_is_value_placeholder(const char *name)
{
    return yml_listed(name, value_names) || strncmp(name, "value+", 6) == 0;
}

int kind_slot_index(const struct kind *k, const char *name)
{
    for (size_t i = 0; i < k->nslots; i++)
        if (strcmp(k->slots[i].name, name) == 0)
            return (int)i;
    return -1;
}

const struct kind_flag *kind_flag_find(const struct kind *k, const char *name)
{
    for (size_t i = 0; i < k->nflags; i++)
        if (strcmp(k->flags[i].name, name) == 0)
            return &k->flags[i];
    return NULL;
}

/* The placeholders of text (the value of node n, named key in errors) are known: cell
 * variables; slots, marked in placed (NULL: no slot may appear); and with spec (a rule's text)
 * the value placeholders that fit its flag. */
static int check_placeholders(struct loader *L, const struct yml_node *n, const char *key,
                              const char *text, const struct opt_spec *spec, bool *placed)
{
    for (const char *p = text; *p; p++) {
        char name[64];
        if (p[0] == '{' && p[1] == '{') { /* {{ is a literal { */
            p++;
            continue;
        }
        size_t len = kind_placeholder(p, name, sizeof(name));
        if (!len)
            continue;
        int slot = kind_slot_index(L->k, name);
        if (slot >= 0 && placed) {
            placed[slot] = true;
            continue;
        }
        if (slot >= 0)
            return yml_bad(&L->r, n, key, "{%s}: a slot belongs in a template or a rule text",
                           name);
        if (yml_listed(name, kind_var_names))
            continue;
        if (spec && kind_is_value_placeholder(name)) {
            bool ok = spec->type != OPT_FLAG;
            if (strcmp(name, "ms") == 0 || strcmp(name, "s") == 0 || strcmp(name, "seconds") == 0)
                ok = spec->type == OPT_MS;
            else if (strcmp(name, "bytes") == 0)
                ok = spec->type == OPT_SIZE;
            else if (strncmp(name, "value+", 6) == 0)
                ok = spec->type == OPT_INT;
            if (!ok)
                return yml_bad(&L->r, n, key, "{%s} does not fit --%s (%s)", name, spec->name,
                               spec->type == OPT_FLAG ? "a flag without a value"
                                                      : "see docs/proxies.md, Rule texts");
            continue;
        }
        return yml_bad(&L->r, n, key,
                       "{%s} is neither a slot of this adapter nor a placeholder (dir, name, "
                       "listen_port, upstream_port, listen, upstream, user, config%s)",
                       name, spec ? "; value, ms, s, seconds, bytes, value+N in a rule" : "");
    }
    return 0;
}

/* A template's placeholders, with the error at the template's own file:line. */
static int check_template(struct loader *L, const struct kind_file *f, bool *placed)
{
    int line = 1;
    const char *ls = f->text;
    for (const char *p = f->text; *p; p++) {
        if (*p == '\n') {
            line++;
            ls = p + 1;
            continue;
        }
        char name[64];
        if (p[0] == '{' && p[1] == '{') { /* {{ is a literal { */
            p++;
            continue;
        }
        size_t len = kind_placeholder(p, name, sizeof(name));
        if (!len)
            continue;
        int slot = kind_slot_index(L->k, name);
        if (slot >= 0) {
            placed[slot] = true;
            continue;
        }
        if (yml_listed(name, kind_var_names))
            continue;
        snprintf(L->r.err, L->r.errlen,
                 "%s:%d: {%s}: neither a slot of %s nor a placeholder (dir, name, listen_port, "
                 "upstream_port, listen, upstream, user, config) (column %d)",
                 f->template_path, line, name, L->r.path, (int)(p - ls) + 1);
        return -1;
    }
    return 0;
}

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + len, 1, 4096, f);
        len += r;
        if (r < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        snprintf(err, errlen, "%s: NUL byte in a template", path);
        return NULL;
    }
    return buf;
}

static int read_files(struct loader *L, const struct yml_node *n)
{
    struct kind *k = L->k;
    static const char *const keys[] = {"template", "to", NULL};
    if (n->kind != YML_SEQ || n->n == 0)
        return yml_bad(&L->r, n, "files", "expected a list of {template: FILE, to: NAME}");
    k->files = calloc(n->n, sizeof(*k->files));
    if (!k->files)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *f = n->items[i];
        char key[64];
        snprintf(key, sizeof(key), "files[%zu]", i);
        if (yml_want_map(&L->r, f, key) != 0 || yml_known_keys(&L->r, f, key, keys) != 0)
            return -1;
        const struct yml_node *t = yml_get(f, "template"), *to = yml_get(f, "to");
        if (!t || !to)
            return yml_bad(&L->r, f, key,
                           "give template (a file beside the adapter) and to (its name "
                           "in the cell's folder)");
        const char *tp;
        struct kind_file *kf = &k->files[k->nfiles++];
        if (yml_want_text(&L->r, t, key, &tp) != 0 || yml_want_text(&L->r, to, key, &kf->to) != 0)
            return -1;
        if (strchr(tp, '/') || strchr(kf->to, '/'))
            return yml_bad(&L->r, strchr(tp, '/') ? t : to, key,
                           "a plain file name: templates sit beside the adapter, configs in the "
                           "cell's folder");
        if (asprintf(&kf->template_path, "%s/%s", k->dir, tp) < 0) {
            kf->template_path = NULL;
            return yml_oom(&L->r);
        }
        char e[600];
        kf->text = slurp(kf->template_path, e, sizeof(e));
        if (!kf->text)
            return yml_bad(&L->r, t, key, "%s", e);
    }
    return 0;
}

static int read_stop(struct loader *L, const struct yml_node *n)
{
    static const char *const keys[] = {"signal", "settle", NULL};
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {{"TERM", SIGTERM}, {"QUIT", SIGQUIT}, {"INT", SIGINT},    {"HUP", SIGHUP},
                {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}};
    if (yml_want_map(&L->r, n, "stop") != 0 || yml_known_keys(&L->r, n, "stop", keys) != 0)
        return -1;
    const struct yml_node *s = yml_get(n, "signal"), *t = yml_get(n, "settle");
    if (!s || !t)
        return yml_bad(&L->r, n, "stop",
                       "give signal (TERM, QUIT, USR1, WINCH...) and settle (ms after the "
                       "downstream's end before the signal)");
    const char *name, *ms;
    if (yml_want_text(&L->r, s, "stop.signal", &name) != 0 ||
        yml_want_text(&L->r, t, "stop.settle", &ms) != 0)
        return -1;
    const char *bare = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
    L->k->stop_signal = 0;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (strcmp(bare, sigs[i].name) == 0)
            L->k->stop_signal = sigs[i].sig;
    if (!L->k->stop_signal)
        return yml_bad(&L->r, s, "stop.signal",
                       "'%s' is not one of TERM, QUIT, INT, HUP, USR1, USR2, "
                       "WINCH",
                       name);
    L->k->stop_signal_name = bare;
    if (opt_parse_ms(ms, &L->k->settle_ms) != 0 || L->k->settle_ms < 0 || L->k->settle_ms > 60000)
        return yml_bad(&L->r, t, "stop.settle", "expected milliseconds in [0, 60000], got '%s'",
                       ms);
    return 0;
}

static int read_logs(struct loader *L, const struct yml_node *n)
{
    static const char *const keys[] = {"error", "error_resets", NULL};
    if (yml_want_map(&L->r, n, "logs") != 0 || yml_known_keys(&L->r, n, "logs", keys) != 0)
        return -1;
    const struct yml_node *e = yml_get(n, "error"), *r = yml_get(n, "error_resets");
    if (e && yml_want_text(&L->r, e, "logs.error", &L->k->error_log) != 0)
        return -1;
    if (r && yml_want_texts(&L->r, r, "logs.error_resets", &L->k->error_resets,
                            &L->k->nerror_resets) != 0)
        return -1;
    return 0;
}

static int read_access(struct loader *L, const struct yml_node *n)
{
    static const char *const keys[] = {"file", "format", "fields", "reset", NULL};
    static const char *const fkeys[] = {"status",          "attempts",        "retries",
                                        "upstream_status", "downstream_port", NULL};
    static const char *const rkeys[] = {"field", "words", NULL};
    struct kind_access *a = &L->k->access;
    if (yml_want_map(&L->r, n, "access_log") != 0 ||
        yml_known_keys(&L->r, n, "access_log", keys) != 0)
        return -1;
    const struct yml_node *f = yml_get(n, "file"), *fmt = yml_get(n, "format"),
                          *fields = yml_get(n, "fields"), *r = yml_get(n, "reset");
    const char *format;
    if (!f || !fmt || !fields)
        return yml_bad(&L->r, n, "access_log", "give file, format (json) and fields");
    if (yml_want_text(&L->r, f, "access_log.file", &a->file) != 0 ||
        yml_want_text(&L->r, fmt, "access_log.format", &format) != 0)
        return -1;
    if (strcmp(format, "json") != 0)
        return yml_bad(&L->r, fmt, "access_log.format",
                       "only json is read (one JSON object per line, written by the template's log "
                       "format), got '%s'",
                       format);
    if (yml_want_map(&L->r, fields, "access_log.fields") != 0 ||
        yml_known_keys(&L->r, fields, "access_log.fields", fkeys) != 0)
        return -1;
    const char **dst[] = {&a->status, &a->attempts, &a->retries, &a->upstream_status,
                          &a->downstream_port};
    for (size_t i = 0; fkeys[i]; i++) {
        const struct yml_node *v = yml_get(fields, fkeys[i]);
        char key[80];
        snprintf(key, sizeof(key), "access_log.fields.%s", fkeys[i]);
        if (v && yml_want_text(&L->r, v, key, dst[i]) != 0)
            return -1;
    }
    if (!a->status)
        return yml_bad(&L->r, fields, "access_log.fields", "missing status (the client's status)");
    if (r) {
        if (yml_want_map(&L->r, r, "access_log.reset") != 0 ||
            yml_known_keys(&L->r, r, "access_log.reset", rkeys) != 0)
            return -1;
        const struct yml_node *rf = yml_get(r, "field"), *rw = yml_get(r, "words");
        if (!rf || !rw)
            return yml_bad(&L->r, r, "access_log.reset", "give field and words");
        if (yml_want_text(&L->r, rf, "access_log.reset.field", &a->reset_field) != 0 ||
            yml_want_texts(&L->r, rw, "access_log.reset.words", &a->reset_words,
                           &a->nreset_words) != 0)
            return -1;
    }
    return 0;
}

static int read_slots(struct loader *L, const struct yml_node *n)
{
    static const char *const keys[] = {"join", NULL};
    struct kind *k = L->k;
    if (yml_want_map(&L->r, n, "slots") != 0)
        return -1;
    k->slots = calloc(n->n ? n->n : 1, sizeof(*k->slots));
    if (!k->slots)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *key = n->keys[i], *v = n->items[i];
        char where[200];
        snprintf(where, sizeof(where), "slots.%s", key->str);
        char name[64];
        char probe[80];
        snprintf(probe, sizeof(probe), "{%s}", key->str);
        if (kind_placeholder(probe, name, sizeof(name)) != strlen(probe) ||
            kind_is_value_placeholder(name) || yml_listed(name, kind_var_names))
            return yml_bad(&L->r, key, where,
                           "a slot name is lower-case letters, digits and '_', and not a "
                           "placeholder's name");
        struct kind_slot *s = &k->slots[k->nslots++];
        s->name = key->str;
        s->join = " ";
        if (yml_is_null(v))
            continue;
        if (yml_want_map(&L->r, v, where) != 0 || yml_known_keys(&L->r, v, where, keys) != 0)
            return -1;
        const struct yml_node *j = yml_get(v, "join");
        if (j) {
            if (j->kind != YML_SCALAR)
                return yml_bad(&L->r, j, where, "join: expected a text");
            s->join = j->str;
        }
    }
    return 0;
}

static int check_value(struct loader *L, const struct yml_node *n, const char *key,
                       const struct opt_spec *spec, const char *val);

/* The conditions of a rule's with/without: racelab-proxy flags a scenario can set, "flag" or
 * "flag=value" (a value the flag takes). */
static int read_flag_list(struct loader *L, const struct yml_node *n, const char *key,
                          const char ***out, size_t *nout)
{
    if (yml_want_texts(&L->r, n, key, out, nout) != 0)
        return -1;
    const struct program_def *px = program_get(PROGRAM_PROXY);
    for (size_t i = 0; i < *nout; i++) {
        const struct yml_node *it = n->kind == YML_SEQ ? n->items[i] : n;
        const char *c = (*out)[i], *eq = strchr(c, '=');
        char name[128];
        snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - c) : (int)strlen(c), c);
        const struct opt_spec *spec = opt_find(px->opts, name);
        if (!spec || program_reserved(px, name))
            return yml_bad(&L->r, it, key, "'%s' is not a racelab-proxy flag a scenario can set",
                           name);
        if (eq && (spec->type == OPT_FLAG || check_value(L, it, key, spec, eq + 1) != 0))
            return spec->type == OPT_FLAG ? yml_bad(&L->r, it, key, "--%s takes no value", name)
                                          : -1;
    }
    return 0;
}

/* A value key must be a value the flag takes: checked with racelab-proxy's own rules. */
static int check_value(struct loader *L, const struct yml_node *n, const char *key,
                       const struct opt_spec *spec, const char *val)
{
    const char *vals[1] = {val};
    struct scenario_setting s = {.name = spec->name, .vals = vals, .nvals = 1, .line = n->line};
    const struct scenario_setting *set[1] = {&s};
    char why[400];
    int line = 0;
    if (program_validate(PROGRAM_PROXY, set, 1, &line, why, sizeof(why)) != 0 && line)
        return yml_bad(&L->r, n, key, "not a value of --%s: %s", spec->name, why);
    return 0;
}

static int read_values(struct loader *L, const struct yml_node *n, const char *where,
                       const struct kind_flag *f, struct kind_rule *r, bool *placed)
{
    if (yml_want_map(&L->r, n, where) != 0)
        return -1;
    r->values = calloc(n->n ? n->n : 1, sizeof(*r->values));
    if (!r->values)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *key = n->keys[i], *v = n->items[i];
        char kk[300];
        snprintf(kk, sizeof(kk), "%.200s.%.90s", where, key->str);
        struct kind_value *x = &r->values[r->nvalues++];
        x->from = key->str;
        if (check_value(L, key, kk, f->spec, key->str) != 0)
            return -1;
        if (v->kind == YML_MAP) {
            static const char *const ukeys[] = {"unsupported", NULL};
            if (yml_known_keys(&L->r, v, kk, ukeys) != 0)
                return -1;
            const struct yml_node *u = yml_get(v, "unsupported");
            if (!u)
                return yml_bad(&L->r, v, kk, "expected a text or {unsupported: REASON}");
            x->unsupported = true;
            if (yml_want_text(&L->r, u, kk, &x->to) != 0)
                return -1;
            continue;
        }
        if (v->kind != YML_SCALAR)
            return yml_bad(&L->r, v, kk, "expected a text or {unsupported: REASON}");
        x->to = v->str; /* may be empty: the value writes nothing */
        if (check_placeholders(L, v, kk, x->to, NULL, placed) != 0)
            return -1;
    }
    return 0;
}

static int read_rule(struct loader *L, const struct yml_node *n, const char *where,
                     struct kind_flag *f, struct kind_rule *r, bool *placed)
{
    static const char *const keys[] = {"with",  "without", "slot",        "text", "values",
                                       "other", "list",    "unsupported", "note", NULL};
    if (yml_want_map(&L->r, n, where) != 0 || yml_known_keys(&L->r, n, where, keys) != 0)
        return -1;
    r->line = n->line;
    r->slot = -1;
    const struct yml_node *v;
    char kk[300];
    if ((v = yml_get(n, "with"))) {
        snprintf(kk, sizeof(kk), "%s.with", where);
        if (read_flag_list(L, v, kk, &r->with, &r->nwith) != 0)
            return -1;
    }
    if ((v = yml_get(n, "without"))) {
        snprintf(kk, sizeof(kk), "%s.without", where);
        if (read_flag_list(L, v, kk, &r->without, &r->nwithout) != 0)
            return -1;
    }
    if ((v = yml_get(n, "unsupported"))) {
        snprintf(kk, sizeof(kk), "%s.unsupported", where);
        if (yml_want_text(&L->r, v, kk, &r->unsupported) != 0)
            return -1;
        for (size_t i = 0; keys[i]; i++)
            if (strcmp(keys[i], "with") && strcmp(keys[i], "without") &&
                strcmp(keys[i], "unsupported") && strcmp(keys[i], "note") && yml_get(n, keys[i]))
                return yml_bad(&L->r, yml_get(n, keys[i]), where,
                               "an unsupported rule writes nothing: %s does not belong here",
                               keys[i]);
        return 0;
    }
    if ((v = yml_get(n, "note"))) {
        snprintf(kk, sizeof(kk), "%s.note", where);
        if (yml_want_text(&L->r, v, kk, &r->note) != 0)
            return -1;
    }
    if ((v = yml_get(n, "slot"))) {
        const char *s;
        snprintf(kk, sizeof(kk), "%s.slot", where);
        if (yml_want_text(&L->r, v, kk, &s) != 0)
            return -1;
        r->slot = kind_slot_index(L->k, s);
        if (r->slot < 0)
            return yml_bad(&L->r, v, kk, "no slot named '%s' (slots: declare it under slots:)", s);
    }
    if ((v = yml_get(n, "text"))) {
        snprintf(kk, sizeof(kk), "%s.text", where);
        if (v->kind != YML_SCALAR)
            return yml_bad(&L->r, v, kk, "expected a text");
        r->text = v->str;
        if (check_placeholders(L, v, kk, r->text, f->spec, placed) != 0)
            return -1;
    }
    if ((v = yml_get(n, "values"))) {
        snprintf(kk, sizeof(kk), "%s.values", where);
        if (f->spec->type == OPT_FLAG)
            return yml_bad(&L->r, v, kk, "--%s takes no value", f->name);
        if (read_values(L, v, kk, f, r, placed) != 0)
            return -1;
    }
    if ((v = yml_get(n, "other"))) {
        snprintf(kk, sizeof(kk), "%s.other", where);
        if (yml_want_text(&L->r, v, kk, &r->other) != 0)
            return -1;
        if (!r->nvalues)
            return yml_bad(&L->r, v, kk,
                           "other says why a value not in values cannot be expressed: "
                           "give values");
    }
    if ((v = yml_get(n, "list"))) {
        snprintf(kk, sizeof(kk), "%s.list", where);
        int b = yml_bool(v);
        if (b < 0)
            return yml_bad(&L->r, v, kk, "expected true or false");
        r->list = b == 1;
        if (r->list && !r->nvalues)
            return yml_bad(&L->r, v, kk, "a list value is translated item by item: give values");
    }
    bool writes = r->slot >= 0;
    if (r->other && r->text && !r->list)
        return yml_bad(&L->r, yml_get(n, "other"), where,
                       "other and text: a value not in values goes through text (other is for a "
                       "rule without text, or a list)");
    if (writes && !r->text && !r->nvalues)
        return yml_bad(&L->r, n, where, "give text (or values) for slot %s",
                       L->k->slots[r->slot].name);
    if (!writes && r->text)
        return yml_bad(&L->r, yml_get(n, "text"), where,
                       "text without a slot: say where it goes (slot:)");
    for (size_t i = 0; !writes && i < r->nvalues; i++)
        if (!r->values[i].unsupported && r->values[i].to[0])
            return yml_bad(&L->r, n, where,
                           "values.%s writes text without a slot: say where it goes "
                           "(slot:)",
                           r->values[i].from);
    if (!writes && !r->note && !r->nvalues)
        return yml_bad(&L->r, n, where,
                       "a rule that writes nothing says why the setting needs nothing (note:)");
    return 0;
}

static int read_settings(struct loader *L, const struct yml_node *n, bool *placed)
{
    struct kind *k = L->k;
    const struct program_def *px = program_get(PROGRAM_PROXY);
    if (yml_want_map(&L->r, n, "settings") != 0)
        return -1;
    /* each flag once, under settings or unsupported */
    k->flags = calloc(opt_count(px->opts) + 1, sizeof(*k->flags));
    if (!k->flags)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *key = n->keys[i], *v = n->items[i];
        char where[200];
        snprintf(where, sizeof(where), "settings.%s", key->str);
        const struct opt_spec *spec = opt_find(px->opts, key->str);
        if (!spec || program_reserved(px, key->str))
            return yml_bad(&L->r, key, where,
                           "not a racelab-proxy flag a scenario can set (racelab-proxy --help)");
        struct kind_flag *f = &k->flags[k->nflags++];
        f->name = key->str;
        f->spec = spec;
        f->line = key->line;
        size_t nr = v->kind == YML_SEQ ? v->n : 1;
        if (nr == 0)
            return yml_bad(&L->r, v, where, "expected a rule or a list of rules");
        f->rules = calloc(nr, sizeof(*f->rules));
        if (!f->rules)
            return yml_oom(&L->r);
        for (size_t j = 0; j < nr; j++) {
            const struct yml_node *rn = v->kind == YML_SEQ ? v->items[j] : v;
            char rw[240];
            if (v->kind == YML_SEQ)
                snprintf(rw, sizeof(rw), "%s[%zu]", where, j);
            else
                snprintf(rw, sizeof(rw), "%s", where);
            if (read_rule(L, rn, rw, f, &f->rules[f->nrules++], placed) != 0)
                return -1;
        }
    }
    return 0;
}

static int read_unsupported(struct loader *L, const struct yml_node *n)
{
    struct kind *k = L->k;
    const struct program_def *px = program_get(PROGRAM_PROXY);
    if (yml_want_map(&L->r, n, "unsupported") != 0)
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *key = n->keys[i];
        char where[200];
        snprintf(where, sizeof(where), "unsupported.%s", key->str);
        const struct opt_spec *spec = opt_find(px->opts, key->str);
        if (!spec || program_reserved(px, key->str))
            return yml_bad(&L->r, key, where,
                           "not a racelab-proxy flag a scenario can set (racelab-proxy --help)");
        const struct kind_flag *prev = kind_flag_find(k, key->str);
        if (prev)
            return yml_bad(&L->r, key, where, "--%s is mapped under settings (line %d) too",
                           key->str, prev->line);
        struct kind_flag *f = &k->flags[k->nflags++];
        f->name = key->str;
        f->spec = spec;
        f->line = key->line;
        if (yml_want_text(&L->r, n->items[i], where, &f->unsupported) != 0)
            return -1;
    }
    return 0;
}

/* Every flag a scenario can give racelab-proxy is mapped or said unsupported: a new flag of
 * racelab-proxy fails here until each adapter says what it becomes. */
static int check_coverage(struct loader *L, const struct yml_node *root)
{
    const struct program_def *px = program_get(PROGRAM_PROXY);
    for (const struct opt_spec *o = px->opts; o->name; o++) {
        if (program_reserved(px, o->name) || kind_flag_find(L->k, o->name))
            continue;
        return yml_bad(&L->r, yml_get(root, "settings"), "settings",
                       "--%s is neither mapped under settings nor listed under unsupported (with "
                       "the reason)",
                       o->name);
    }
    return 0;
}

static int read_words(struct loader *L, const struct yml_node *root, const char *key, bool required,
                      const char ***out, size_t *nout)
{
    const struct yml_node *n = yml_get(root, key);
    if (!n) {
        if (required)
            return yml_bad(&L->r, root, key, "missing required key");
        return 0;
    }
    if (n->kind != YML_SEQ)
        return yml_bad(&L->r, n, key, "expected a list of words (the argv after the binary)");
    if (yml_want_texts(&L->r, n, key, out, nout) != 0)
        return -1;
    for (size_t i = 0; i < *nout; i++)
        if (check_placeholders(L, n->items[i], key, (*out)[i], NULL, NULL) != 0)
            return -1;
    return 0;
}

static const char *const top_keys[] = {
    "kind", "about",      "binary", "version", "files",  "start",    "check",       "ready",
    "stop", "access_log", "logs",   "slots",   "native", "settings", "unsupported", NULL};
static const char *const top_required[] = {"kind",  "about", "binary", "files",    "start",
                                           "ready", "stop",  "slots",  "settings", NULL};

static int read_adapter(struct loader *L, const struct yml_node *root)
{
    struct kind *k = L->k;
    const struct yml_node *n;
    if (!root || root->kind != YML_MAP)
        return yml_bad(&L->r, root, "(file)",
                       "an adapter is a map of keys (kind:, binary:, ...; see "
                       "docs/proxies.md)");
    if (yml_known_keys(&L->r, root, "", top_keys) != 0)
        return -1;
    for (size_t i = 0; top_required[i]; i++)
        if (!yml_get(root, top_required[i]))
            return yml_bad(&L->r, root, top_required[i], "missing required key");
    if (yml_want_text(&L->r, yml_get(root, "kind"), "kind", &k->name) != 0 ||
        yml_want_text(&L->r, yml_get(root, "about"), "about", &k->about) != 0)
        return -1;
    char dircopy[PATH_MAX];
    snprintf(dircopy, sizeof(dircopy), "%s", k->dir);
    if (strcmp(k->name, basename(dircopy)) != 0)
        return yml_bad(
            &L->r, yml_get(root, "kind"), "kind",
            "'%s' is not the name of the adapter's folder ('%s'): --proxy finds a kind by "
            "its folder",
            k->name, basename(dircopy));
    n = yml_get(root, "binary");
    if (yml_want_texts(&L->r, n, "binary", &k->binary, &k->nbinary) != 0)
        return -1;
    if (k->nbinary == 0)
        return yml_bad(&L->r, n, "binary", "name at least one program to look for");
    if (read_slots(L, yml_get(root, "slots")) != 0 || read_files(L, yml_get(root, "files")) != 0)
        return -1;
    if (read_words(L, root, "start", true, &k->start, &k->nstart) != 0 ||
        read_words(L, root, "check", false, &k->check, &k->ncheck) != 0 ||
        read_words(L, root, "version", false, &k->version, &k->nversion) != 0)
        return -1;
    const char *ready;
    n = yml_get(root, "ready");
    if (yml_want_text(&L->r, n, "ready", &ready) != 0)
        return -1;
    if (strcmp(ready, "listener") != 0)
        return yml_bad(&L->r, n, "ready",
                       "expected listener (ready once its listening socket accepts), got '%s'",
                       ready);
    if (read_stop(L, yml_get(root, "stop")) != 0)
        return -1;
    if ((n = yml_get(root, "logs")) && read_logs(L, n) != 0)
        return -1;
    if ((n = yml_get(root, "access_log")) && read_access(L, n) != 0)
        return -1;
    k->native_slot = -1;
    if ((n = yml_get(root, "native"))) {
        const char *s;
        if (yml_want_text(&L->r, n, "native", &s) != 0)
            return -1;
        k->native_slot = kind_slot_index(k, s);
        if (k->native_slot < 0)
            return yml_bad(&L->r, n, "native", "no slot named '%s'", s);
    }

    bool *placed = calloc(k->nslots + 1, sizeof(*placed));
    if (!placed)
        return yml_oom(&L->r);
    int rc = -1;
    for (size_t i = 0; i < k->nfiles; i++)
        if (check_template(L, &k->files[i], placed) != 0)
            goto out;
    for (size_t i = 0; i < k->nfiles; i++)
        if (check_placeholders(L, yml_get(root, "files"), "files", k->files[i].to, NULL, NULL) != 0)
            goto out;
    if (read_settings(L, yml_get(root, "settings"), placed) != 0)
        goto out;
    if ((n = yml_get(root, "unsupported")) && read_unsupported(L, n) != 0)
        goto out;
    if (check_coverage(L, root) != 0)
        goto out;
    for (size_t i = 0; i < k->nslots; i++) {
        if (placed[i])
            continue;
        yml_bad(&L->r, yml_get(root, "slots"), "slots",
                "slot %s is placed in no template and no rule text ({%s}): its settings would be "
                "lost",
                k->slots[i].name, k->slots[i].name);
        goto out;
    }
    rc = 0;
out:
    free(placed);
    return rc;
}

struct kind *kind_load(const char *dir, char *err, size_t errlen)
{
    struct kind *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    k->dir = strdup(dir);
    if (!k->dir || asprintf(&k->path, "%s/adapter.yaml", dir) < 0) {
        k->path = NULL;
        kind_free(k);
        snprintf(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    struct loader L = {.r = {.path = k->path, .err = err, .errlen = errlen}, .k = k};
    if (yml_load(k->path, &k->doc, err, errlen) != 0 || read_adapter(&L, k->doc) != 0) {
        kind_free(k);
        return NULL;
    }
    return k;
}

void kind_free(struct kind *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->nfiles; i++) {
        free(k->files[i].template_path);
        free(k->files[i].text);
    }
    free(k->files);
    for (size_t i = 0; i < k->nflags; i++) {
        for (size_t j = 0; j < k->flags[i].nrules; j++) {
            free(k->flags[i].rules[j].with);
            free(k->flags[i].rules[j].without);
            free(k->flags[i].rules[j].values);
        }
        free(k->flags[i].rules);
    }
    free(k->flags);
    free(k->slots);
    free(k->binary);
    free(k->version);
    free(k->start);
    free(k->check);
    free(k->error_resets);
    free(k->access.reset_words);
    yml_free(k->doc);
    free(k->dir);
    free(k->path);
    free(k);
}

const char *kind_name(const struct kind *k)
{
    return k->name;
}

const char *kind_about(const struct kind *k)
{
    return k->about;
}

const char *kind_path(const struct kind *k)
{
    return k->path;
}

int kind_stop_signal(const struct kind *k)
{
    return k->stop_signal;
}

const char *kind_stop_signal_name(const struct kind *k)
{
    return k->stop_signal_name;
}

long kind_settle_ms(const struct kind *k)
{
    return k->settle_ms;
}

size_t kind_nfiles(const struct kind *k)
{
    return k->nfiles;
}

static bool executable(const char *path)
{
    return access(path, X_OK) == 0;
}

int kind_find_binary(const struct kind *k, char *out, size_t outlen, char *err, size_t errlen)
{
    const char *path = getenv("PATH");
    for (size_t i = 0; i < k->nbinary; i++) {
        const char *b = k->binary[i];
        if (strchr(b, '/')) {
            if (executable(b)) {
                snprintf(out, outlen, "%s", b);
                return 0;
            }
            continue;
        }
        for (const char *s = path ? path : "/bin:/usr/bin"; *s;) {
            const char *e = strchr(s, ':');
            size_t l = e ? (size_t)(e - s) : strlen(s);
            char buf[PATH_MAX];
            snprintf(buf, sizeof(buf), "%.*s%s%s", (int)l, s, l ? "/" : "", b);
            if (executable(buf)) {
                snprintf(out, outlen, "%s", buf);
                return 0;
            }
            s += l + (e ? 1 : 0);
        }
    }
    size_t o = (size_t)snprintf(err, errlen, "%s not installed (looked for ", k->name);
    for (size_t i = 0; i < k->nbinary && o < errlen; i++)
        o += (size_t)snprintf(err + o, errlen - o, "%s%s%s", i ? ", " : "", k->binary[i],
                              strchr(k->binary[i], '/') ? "" : " in PATH");
    if (o < errlen)
        snprintf(err + o, errlen - o, ")");
    return -1;
}
