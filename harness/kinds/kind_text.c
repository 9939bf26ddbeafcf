/* kind_text — the placeholders of an adapter's texts (templates, argv words, file names, rule
 * texts): their names, one read at a point of a text, a text's checked when the adapter loads
 * (every placeholder a cell variable, a slot where slots belong, a value placeholder that fits
 * its flag in a rule), and the cell variables filled in; the growing string texts are built in. */
#include "kind_internal.h"

#include <ctype.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const kind_var_names[] = {
    "dir", "name", "listen_port", "upstream_port", "listen", "upstream", "user", "config", NULL};

static const char *const value_names[] = {"value", "ms", "s", "seconds", "bytes", NULL};

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

/* What scan finds wrong with a placeholder. */
enum fault {
    FAULT_NONE,
    FAULT_SLOT,    /* a slot where none may appear */
    FAULT_UNFIT,   /* a value placeholder that does not fit the rule's flag */
    FAULT_UNKNOWN, /* neither a slot, a cell variable nor (in a rule) a value placeholder */
};

/* Walks the placeholders of text ({{ is a literal {): slots are marked in placed (NULL: no slot
 * may appear), cell variables pass, and with spec (a rule's text) the value placeholders that
 * fit its flag. Stops at the first other one: returns its fault, its name in name and where it
 * starts in *at; FAULT_NONE when there is none. */
static enum fault scan(const struct kind *k, const char *text, const struct opt_spec *spec,
                       bool *placed, char *name, size_t namelen, const char **at)
{
    for (const char *p = text; *p; p++) {
        if (p[0] == '{' && p[1] == '{') { /* {{ is a literal { */
            p++;
            continue;
        }
        if (!kind_placeholder(p, name, namelen))
            continue;
        *at = p;
        int slot = kind_slot_index(k, name);
        if (slot >= 0 && !placed)
            return FAULT_SLOT;
        if (slot >= 0) {
            placed[slot] = true;
            continue;
        }
        if (yml_listed(name, kind_var_names))
            continue;
        if (!spec || !kind_is_value_placeholder(name))
            return FAULT_UNKNOWN;
        bool ok = spec->type != OPT_FLAG;
        if (strcmp(name, "ms") == 0 || strcmp(name, "s") == 0 || strcmp(name, "seconds") == 0)
            ok = spec->type == OPT_MS;
        else if (strcmp(name, "bytes") == 0)
            ok = spec->type == OPT_SIZE;
        else if (strncmp(name, "value+", 6) == 0)
            ok = spec->type == OPT_INT;
        if (!ok)
            return FAULT_UNFIT;
    }
    return FAULT_NONE;
}

int kind_check_placeholders(struct kind_loader *L, const struct yml_node *n, const char *key,
                            const char *text, const struct opt_spec *spec, bool *placed)
{
    char name[64];
    const char *at;
    switch (scan(L->k, text, spec, placed, name, sizeof(name), &at)) {
    case FAULT_NONE:
        return 0;
    case FAULT_SLOT:
        return yml_bad(&L->r, n, key, "{%s}: a slot belongs in a template or a rule text", name);
    case FAULT_UNFIT:
        return yml_bad(&L->r, n, key, "{%s} does not fit --%s (%s)", name, spec->name,
                       spec->type == OPT_FLAG ? "a flag without a value"
                                              : "see docs/proxies.md, Rule texts");
    case FAULT_UNKNOWN:
        break;
    }
    return yml_bad(&L->r, n, key,
                   "{%s} is neither a slot of this adapter nor a placeholder (dir, name, "
                   "listen_port, upstream_port, listen, upstream, user, config%s)",
                   name, spec ? "; value, ms, s, seconds, bytes, value+N in a rule" : "");
}

int kind_check_template(struct kind_loader *L, const struct kind_file *f, bool *placed)
{
    char name[64];
    const char *at;
    if (scan(L->k, f->text, NULL, placed, name, sizeof(name), &at) == FAULT_NONE)
        return 0;
    int line = 1;
    const char *ls = f->text;
    for (const char *p = f->text; p < at; p++)
        if (*p == '\n') {
            line++;
            ls = p + 1;
        }
    snprintf(L->r.err, L->r.errlen,
             "%s:%d: {%s}: neither a slot of %s nor a placeholder (dir, name, listen_port, "
             "upstream_port, listen, upstream, user, config) (column %d)",
             f->template_path, line, name, L->r.path, (int)(at - ls) + 1);
    return -1;
}

/* ---- the growing string ---- */

void kind_sb_addn(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void kind_sb_add(struct sbuf *b, const char *s)
{
    kind_sb_addn(b, s, strlen(s));
}

void kind_sb_addf(struct sbuf *b, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    kind_sb_add(b, buf);
}

/* ---- the cell variables filled in ---- */

static const char *user_name(const struct kind_vars *v)
{
    if (v->user)
        return v->user;
    struct passwd *pw = getpwuid(geteuid());
    return pw ? pw->pw_name : "root";
}

void kind_fill_vars(const struct kind *k, const struct kind_vars *v, const char *text,
                    struct sbuf *out)
{
    for (const char *p = text; *p;) {
        char name[64];
        if (p[0] == '{' && p[1] == '{') {
            kind_sb_add(out, "{");
            p += 2;
            continue;
        }
        size_t len = kind_placeholder(p, name, sizeof(name));
        if (len && kind_var_value(k, v, name, out)) {
            p += len;
            continue;
        }
        kind_sb_addn(out, p, len ? len : 1);
        p += len ? len : 1;
    }
}

bool kind_var_value(const struct kind *k, const struct kind_vars *v, const char *name,
                    struct sbuf *out)
{
    if (strcmp(name, "dir") == 0)
        kind_sb_add(out, v->dir ? v->dir : ".");
    else if (strcmp(name, "name") == 0)
        kind_sb_add(out, v->name ? v->name : "proxy");
    else if (strcmp(name, "listen_port") == 0)
        kind_sb_addf(out, "%u", v->listen_port);
    else if (strcmp(name, "upstream_port") == 0)
        kind_sb_addf(out, "%u", v->upstream_port);
    else if (strcmp(name, "listen") == 0)
        kind_sb_addf(out, "127.0.0.1:%u", v->listen_port);
    else if (strcmp(name, "upstream") == 0)
        kind_sb_addf(out, "127.0.0.1:%u", v->upstream_port);
    else if (strcmp(name, "user") == 0)
        kind_sb_add(out, user_name(v));
    else if (strcmp(name, "config") == 0) {
        kind_sb_add(out, v->dir ? v->dir : ".");
        kind_sb_add(out, "/");
        kind_fill_vars(k, v, k->files[0].to, out);
    } else
        return false;
    return true;
}
