/* kind_plan — one proxy's settings through its kind's adapter: each racelab-proxy flag through
 * its rules (with, without, values, list, other) into slot texts, or the reason the proxy
 * cannot express it; a cell's native lines into the native slot. */
#include "kind_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kind_plan_free(struct kind_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->nslots; i++) {
        for (size_t j = 0; j < plan->slots[i].n; j++)
            free(plan->slots[i].v[j]);
        free(plan->slots[i].v);
    }
    free(plan->slots);
    free(plan);
}

/* Adds text to a slot, once: two rules writing the same line write it once. */
static int slot_add(struct plan_slot *s, const char *text)
{
    if (!*text)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], text) == 0)
            return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        char **v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n] = strdup(text);
    if (!s->v[s->n])
        return -1;
    s->n++;
    return 0;
}

/* Appends "; " and a reason to why. */
static void add_reason(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_reason(char *why, size_t whylen, const char *fmt, ...)
{
    size_t o = strlen(why);
    if (o && o + 2 < whylen) {
        memcpy(why + o, "; ", 3);
        o += 2;
    }
    if (o + 1 >= whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why + o, whylen - o, fmt, ap);
    va_end(ap);
}

/* "--attach-pending deferred has no nginx equivalent (REASON)" */
static void unsupported(char *why, size_t whylen, const struct kind *k,
                        const struct scenario_setting *s, const char *reason)
{
    add_reason(why, whylen, "--%s%s%s has no %s equivalent (%s)", s->name, s->vals ? " " : "",
               s->vals ? s->vals[0] : "", k->name, reason);
}

static bool same_value(const struct opt_spec *spec, const char *a, const char *b);

/* A condition of with/without: "flag" (given) or "flag=value" (given with that value). */
static bool holds(const struct kind *k, const struct scenario_prog *p, const char *cond)
{
    const char *eq = strchr(cond, '=');
    char name[128];
    snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - cond) : (int)strlen(cond), cond);
    const struct scenario_setting *s = scenario_prog_get(p, name);
    if (!s || !eq)
        return s != NULL;
    const struct kind_flag *f = kind_flag_find(k, name);
    return f && s->vals && same_value(f->spec, s->vals[0], eq + 1);
}

static bool applies(const struct kind *k, const struct kind_rule *r, const struct scenario_prog *p)
{
    for (size_t i = 0; i < r->nwith; i++)
        if (!holds(k, p, r->with[i]))
            return false;
    for (size_t i = 0; i < r->nwithout; i++)
        if (holds(k, p, r->without[i]))
            return false;
    return true;
}

/* Two spellings of one value: "0" and "0ms", "2s" and "2000", "64k" and "65536". */
static bool same_value(const struct opt_spec *spec, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return true;
    long x, y;
    switch (spec->type) {
    case OPT_MS:
        return opt_parse_ms(a, &x) == 0 && opt_parse_ms(b, &y) == 0 && x == y;
    case OPT_SIZE:
        return opt_parse_size(a, &x) == 0 && opt_parse_size(b, &y) == 0 && x == y;
    case OPT_INT:
        return opt_parse_long(a, &x) == 0 && opt_parse_long(b, &y) == 0 && x == y;
    case OPT_FLAG:
    case OPT_STR:
    case OPT_ENUM:
    case OPT_CUSTOM:
        break;
    }
    return false;
}

static const struct kind_value *find_value(const struct kind_rule *r, const struct opt_spec *spec,
                                           const char *v)
{
    for (size_t i = 0; i < r->nvalues; i++)
        if (same_value(spec, r->values[i].from, v))
            return &r->values[i];
    return NULL;
}

/* Appends each word of text to out unless out has it already. */
static void add_words(struct sbuf *out, const char *text)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (!n)
            break;
        bool have = false;
        for (const char *q = out->s; q && *q;) {
            size_t m = strcspn(q, " ");
            if (m == n && strncmp(q, p, n) == 0)
                have = true;
            q += m;
            while (*q == ' ')
                q++;
        }
        if (!have) {
            if (out->len)
                kind_sb_add(out, " ");
            kind_sb_addn(out, p, n);
        }
        p += n;
    }
}

/* A list value ("reset,5xx") item by item through r's values: the words of each item's text,
 * each once (the whole value is looked up first). Returns 0, or 1 with the reason. */
static int translate_list(const struct kind_flag *f, const struct kind_rule *r, const char *raw,
                          struct sbuf *out, const char **reason)
{
    const struct kind_value *x = find_value(r, f->spec, raw);
    if (x) {
        if (x->unsupported) {
            *reason = x->to;
            return 1;
        }
        add_words(out, x->to);
        return 0;
    }
    for (const char *p = raw; *p;) {
        size_t n = strcspn(p, ",");
        char item[128];
        snprintf(item, sizeof(item), "%.*s", (int)n, p);
        x = find_value(r, f->spec, item);
        if (!x || x->unsupported) {
            *reason = x ? x->to : r->other ? r->other : "the adapter maps other values only";
            return 1;
        }
        add_words(out, x->to);
        p += n + (p[n] == ',');
    }
    return 0;
}

/* Fills the value placeholders of text ({value} is the translated value); others are left for
 * the rendering. Returns 0, or 1 with the reason. */
static int fill_value(const char *text, const char *raw, const char *value, struct sbuf *out,
                      char *reason, size_t reasonlen)
{
    for (const char *p = text; *p;) {
        char name[64];
        if (p[0] == '{' && p[1] == '{') { /* a literal {, for the rendering to unescape */
            kind_sb_add(out, "{{");
            p += 2;
            continue;
        }
        size_t len = kind_placeholder(p, name, sizeof(name));
        if (!len || !kind_is_value_placeholder(name)) {
            kind_sb_addn(out, p, len ? len : 1);
            p += len ? len : 1;
            continue;
        }
        long x = 0;
        if (strcmp(name, "value") == 0) {
            kind_sb_add(out, value);
        } else if (strcmp(name, "ms") == 0 && opt_parse_ms(raw, &x) == 0) {
            kind_sb_addf(out, "%ld", x);
        } else if (strcmp(name, "s") == 0 && opt_parse_ms(raw, &x) == 0) {
            if (x % 1000) {
                snprintf(reason, reasonlen,
                         "it takes whole seconds here, and %ld ms is not a whole number of "
                         "them: %s",
                         x, text);
                return 1;
            }
            kind_sb_addf(out, "%ld", x / 1000);
        } else if (strcmp(name, "seconds") == 0 && opt_parse_ms(raw, &x) == 0) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%ld.%03ld", x / 1000, x % 1000);
            char *e = buf + strlen(buf) - 1;
            while (*e == '0')
                *e-- = '\0';
            if (*e == '.')
                *e = '\0';
            kind_sb_add(out, buf);
        } else if (strcmp(name, "bytes") == 0 && opt_parse_size(raw, &x) == 0) {
            kind_sb_addf(out, "%ld", x);
        } else if (strncmp(name, "value+", 6) == 0 && opt_parse_long(raw, &x) == 0) {
            kind_sb_addf(out, "%ld", x + strtol(name + 6, NULL, 10));
        } else {
            snprintf(reason, reasonlen, "'%s' does not read as {%s}", raw, name);
            return 1;
        }
        p += len;
    }
    return 0;
}

/* One setting through the rules of its flag. Returns 0 (applied, or the reason added to why),
 * -1 when out of memory. */
static int plan_setting(const struct kind *k, const struct scenario_prog *p,
                        const struct scenario_setting *s, struct kind_plan *plan, char *why,
                        size_t whylen)
{
    const struct kind_flag *f = kind_flag_find(k, s->name);
    if (!f) {
        unsupported(why, whylen, k, s, "not a racelab-proxy flag the adapter knows");
        return 0;
    }
    if (f->unsupported) {
        unsupported(why, whylen, k, s, f->unsupported);
        return 0;
    }
    if (s->nvals > 1) {
        unsupported(why, whylen, k, s, "given several times");
        return 0;
    }
    bool matched = false;
    for (size_t i = 0; i < f->nrules; i++) {
        const struct kind_rule *r = &f->rules[i];
        if (!applies(k, r, p))
            continue;
        matched = true;
        if (r->unsupported) {
            unsupported(why, whylen, k, s, r->unsupported);
            return 0;
        }
        struct sbuf val = {0}, text = {0};
        const char *reason = NULL, *tmpl = r->text;
        char rbuf[512] = "";
        int rc = 0;
        const char *raw = s->vals ? s->vals[0] : "";
        /* the line: a listed value's own text; otherwise text: with the value (a list value
         * translated item by item into {value}) */
        if (s->vals && r->list) {
            kind_sb_add(&val, ""); /* the translation, even when every item writes nothing */
            if (translate_list(f, r, raw, &val, &reason) != 0)
                tmpl = NULL;
            else if (!tmpl)
                tmpl = "{value}";
        } else if (s->vals && r->nvalues) {
            const struct kind_value *x = find_value(r, f->spec, raw);
            if (x && x->unsupported)
                reason = x->to;
            else if (x)
                tmpl = x->to;
            else if (!tmpl)
                reason = r->other ? r->other : "the adapter maps other values only";
        }
        if (!val.s)
            kind_sb_add(&val, raw);
        if (reason) {
            unsupported(why, whylen, k, s, reason);
        } else if (tmpl &&
                   fill_value(tmpl, raw, val.s ? val.s : "", &text, rbuf, sizeof(rbuf)) != 0) {
            unsupported(why, whylen, k, s, rbuf);
        } else if (val.oom || text.oom) {
            rc = -1;
        } else if (r->slot >= 0 && text.s && slot_add(&plan->slots[r->slot], text.s) != 0) {
            rc = -1;
        }
        free(val.s);
        free(text.s);
        if (rc != 0)
            return rc;
    }
    if (!matched)
        unsupported(why, whylen, k, s, "no rule of the adapter applies with these settings");
    return 0;
}

int kind_plan(const struct kind *k, const struct scenario_prog *p, const char *const *native,
              size_t nnative, struct kind_plan **out, char *why, size_t whylen)
{
    *out = NULL;
    why[0] = '\0';
    struct kind_plan *plan = calloc(1, sizeof(*plan));
    if (!plan || !(plan->slots = calloc(k->nslots + 1, sizeof(*plan->slots)))) {
        free(plan);
        return -1;
    }
    plan->nslots = k->nslots;
    for (size_t i = 0; i < p->nset; i++) {
        if (plan_setting(k, p, p->set[i], plan, why, whylen) != 0) {
            kind_plan_free(plan);
            return -1;
        }
    }
    if (nnative && k->native_slot < 0)
        add_reason(why, whylen,
                   "native %s settings given, and the %s adapter takes none (it has "
                   "no native: slot)",
                   k->name, k->name);
    for (size_t i = 0; i < nnative && k->native_slot >= 0; i++) {
        if (slot_add(&plan->slots[k->native_slot], native[i]) != 0) {
            kind_plan_free(plan);
            return -1;
        }
    }
    if (why[0]) {
        kind_plan_free(plan);
        return 1;
    }
    *out = plan;
    return 0;
}
