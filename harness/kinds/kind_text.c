/* kind_text — the placeholders of an adapter's texts (templates, argv words, file names, rule
 * texts): their names, one read at a point of a text, and a text's checked when the adapter
 * loads (every placeholder a cell variable, a slot where slots belong, a value placeholder
 * that fits its flag in a rule). */
#include "kind_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

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

/* The placeholders of text (the value of node n, named key in errors) are known: cell
 * variables; slots, marked in placed (NULL: no slot may appear); and with spec (a rule's text)
 * the value placeholders that fit its flag. */
int kind_check_placeholders(struct kind_loader *L, const struct yml_node *n, const char *key,
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
int kind_check_template(struct kind_loader *L, const struct kind_file *f, bool *placed)
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
