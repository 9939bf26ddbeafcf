/* kind_rules — an adapter's settings: each racelab-proxy flag's rules read and checked (with,
 * without, slot, text, values, other, list, unsupported, note), its values checked with the
 * flag's own rules, the flags listed under unsupported, and every flag a scenario can set
 * either mapped or said unsupported. */
#include "kind_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "programs.h"

static int check_value(struct kind_loader *L, const struct yml_node *n, const char *key,
                       const struct opt_spec *spec, const char *val);

/* The conditions of a rule's with/without: racelab-proxy flags a scenario can set, "flag" or
 * "flag=value" (a value the flag takes). */
static int read_flag_list(struct kind_loader *L, const struct yml_node *n, const char *key,
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
static int check_value(struct kind_loader *L, const struct yml_node *n, const char *key,
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

static int read_values(struct kind_loader *L, const struct yml_node *n, const char *where,
                       const struct kind_flag *f, struct kind_rule *r, bool *placed)
{
    if (!(r->values = yml_want_map_array(&L->r, n, where, sizeof(*r->values))))
        return -1;
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
        if (kind_check_placeholders(L, v, kk, x->to, NULL, placed) != 0)
            return -1;
    }
    return 0;
}

static int read_rule(struct kind_loader *L, const struct yml_node *n, const char *where,
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
    if ((v = yml_get_at(n, where, "with", kk, sizeof(kk))) &&
        read_flag_list(L, v, kk, &r->with, &r->nwith) != 0)
        return -1;
    if ((v = yml_get_at(n, where, "without", kk, sizeof(kk))) &&
        read_flag_list(L, v, kk, &r->without, &r->nwithout) != 0)
        return -1;
    if ((v = yml_get_at(n, where, "unsupported", kk, sizeof(kk)))) {
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
    if ((v = yml_get_at(n, where, "note", kk, sizeof(kk))) &&
        yml_want_text(&L->r, v, kk, &r->note) != 0)
        return -1;
    if ((v = yml_get_at(n, where, "slot", kk, sizeof(kk)))) {
        const char *s;
        if (yml_want_text(&L->r, v, kk, &s) != 0)
            return -1;
        r->slot = kind_slot_index(L->k, s);
        if (r->slot < 0)
            return yml_bad(&L->r, v, kk, "no slot named '%s' (slots: declare it under slots:)", s);
    }
    if ((v = yml_get_at(n, where, "text", kk, sizeof(kk)))) {
        if (v->kind != YML_SCALAR)
            return yml_bad(&L->r, v, kk, "expected a text");
        r->text = v->str;
        if (kind_check_placeholders(L, v, kk, r->text, f->spec, placed) != 0)
            return -1;
    }
    if ((v = yml_get_at(n, where, "values", kk, sizeof(kk)))) {
        if (f->spec->type == OPT_FLAG)
            return yml_bad(&L->r, v, kk, "--%s takes no value", f->name);
        if (read_values(L, v, kk, f, r, placed) != 0)
            return -1;
    }
    if ((v = yml_get_at(n, where, "other", kk, sizeof(kk)))) {
        if (yml_want_text(&L->r, v, kk, &r->other) != 0)
            return -1;
        if (!r->nvalues)
            return yml_bad(&L->r, v, kk,
                           "other says why a value not in values cannot be expressed: "
                           "give values");
    }
    if ((v = yml_get_at(n, where, "list", kk, sizeof(kk)))) {
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

/* Key key of section (settings or unsupported) as the next of L->k->flags, its key path
 * "SECTION.FLAG" in where: a racelab-proxy flag a scenario can set, not given under settings
 * already. NULL with the error otherwise. */
static struct kind_flag *add_flag(struct kind_loader *L, const struct yml_node *key,
                                  const char *section, char *where, size_t wlen)
{
    const struct program_def *px = program_get(PROGRAM_PROXY);
    snprintf(where, wlen, "%s.%s", section, key->str);
    const struct opt_spec *spec = opt_find(px->opts, key->str);
    if (!spec || program_reserved(px, key->str)) {
        yml_bad(&L->r, key, where,
                "not a racelab-proxy flag a scenario can set (racelab-proxy --help)");
        return NULL;
    }
    const struct kind_flag *prev = kind_flag_find(L->k, key->str);
    if (prev) {
        yml_bad(&L->r, key, where, "--%s is mapped under settings (line %d) too", key->str,
                prev->line);
        return NULL;
    }
    struct kind_flag *f = &L->k->flags[L->k->nflags++];
    f->name = key->str;
    f->spec = spec;
    f->line = key->line;
    return f;
}

int kind_read_settings(struct kind_loader *L, const struct yml_node *n, bool *placed)
{
    struct kind *k = L->k;
    if (yml_want_map(&L->r, n, "settings") != 0)
        return -1;
    /* each flag once, under settings or unsupported */
    k->flags = calloc(opt_count(program_get(PROGRAM_PROXY)->opts) + 1, sizeof(*k->flags));
    if (!k->flags)
        return yml_oom(&L->r);
    for (size_t i = 0; i < n->n; i++) {
        const struct yml_node *v = n->items[i];
        char where[200];
        struct kind_flag *f = add_flag(L, n->keys[i], "settings", where, sizeof(where));
        if (!f)
            return -1;
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

int kind_read_unsupported(struct kind_loader *L, const struct yml_node *n)
{
    if (yml_want_map(&L->r, n, "unsupported") != 0)
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        char where[200];
        struct kind_flag *f = add_flag(L, n->keys[i], "unsupported", where, sizeof(where));
        if (!f || yml_want_text(&L->r, n->items[i], where, &f->unsupported) != 0)
            return -1;
    }
    return 0;
}

/* Every flag a scenario can give racelab-proxy is mapped or said unsupported: a new flag of
 * racelab-proxy fails here until each adapter says what it becomes. */
int kind_check_coverage(struct kind_loader *L, const struct yml_node *root)
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
