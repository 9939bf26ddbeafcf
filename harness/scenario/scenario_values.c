/* scenario_values — reading one value of a scenario file: text, list, whole number,
 * milliseconds, true/false, map, the keys a map may have; and the one place a scenario error is
 * worded ("FILE:LINE: key: problem"). */
#include "scenario_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"

int scenario_bad(struct scenario_loader *L, const struct yml_node *n, const char *key,
                 const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(L->err, L->errlen, "%s:%d: %s: %s", L->path, n ? n->line : 1, key, msg);
    return -1;
}

int scenario_oom(struct scenario_loader *L)
{
    snprintf(L->err, L->errlen, "%s: out of memory", L->path);
    return -1;
}

static bool listed(const char *k, const char *const *const *lists)
{
    for (size_t l = 0; lists[l]; l++)
        for (size_t j = 0; lists[l][j]; j++)
            if (strcmp(k, lists[l][j]) == 0)
                return true;
    return false;
}

int scenario_known_keys_in(struct scenario_loader *L, const struct yml_node *m, const char *where,
                           const char *const *const *lists)
{
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->keys[i]->str;
        if (listed(k, lists))
            continue;
        char list[512] = "";
        for (size_t l = 0; lists[l]; l++) {
            for (size_t j = 0; lists[l][j]; j++) {
                if (list[0])
                    strncat(list, ", ", sizeof(list) - strlen(list) - 1);
                strncat(list, lists[l][j], sizeof(list) - strlen(list) - 1);
            }
        }
        char key[256];
        snprintf(key, sizeof(key), "%s%s%s", where, *where ? "." : "", k);
        return scenario_bad(L, m->keys[i], key, "unknown key (allowed here: %s)", list);
    }
    return 0;
}

int scenario_known_keys(struct scenario_loader *L, const struct yml_node *m, const char *where,
                        const char *const *allowed)
{
    const char *const *const lists[] = {allowed, NULL};
    return scenario_known_keys_in(L, m, where, lists);
}

int scenario_want_map(struct scenario_loader *L, const struct yml_node *n, const char *key)
{
    if (n->kind != YML_MAP)
        return scenario_bad(L, n, key, "expected a map (key: value lines), got a %s",
                            yml_kind_name(n));
    return 0;
}

int scenario_want_text(struct scenario_loader *L, const struct yml_node *n, const char *key,
                       const char **out)
{
    if (n->kind != YML_SCALAR)
        return scenario_bad(L, n, key, "expected a value, got a %s", yml_kind_name(n));
    if (yml_is_null(n))
        return scenario_bad(L, n, key, "expected a value, got nothing");
    *out = n->str;
    return 0;
}

/* A single value or a list of values. */
int scenario_want_texts(struct scenario_loader *L, const struct yml_node *n, const char *key,
                        const char ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n->kind == YML_MAP)
        return scenario_bad(L, n, key, "expected a value or a list of values, got a map");
    size_t cnt = n->kind == YML_SEQ ? n->n : 1;
    const char **v = calloc(cnt ? cnt : 1, sizeof(*v));
    if (!v)
        return scenario_oom(L);
    for (size_t i = 0; i < cnt; i++) {
        const struct yml_node *it = n->kind == YML_SEQ ? n->items[i] : n;
        if (scenario_want_text(L, it, key, &v[i]) != 0) {
            free(v);
            return -1;
        }
    }
    *out = v;
    *nout = cnt;
    return 0;
}

int scenario_want_long(struct scenario_loader *L, const struct yml_node *n, const char *key,
                       long min, long max, long *out)
{
    const char *t = NULL;
    if (scenario_want_text(L, n, key, &t) != 0)
        return -1;
    long v = 0;
    if (opt_parse_long(t, &v) != 0 || v < min || v > max)
        return scenario_bad(L, n, key, "expected a whole number in [%ld, %ld], got '%s'", min, max,
                            t);
    *out = v;
    return 0;
}

int scenario_want_ms(struct scenario_loader *L, const struct yml_node *n, const char *key, long min,
                     long max, long *out)
{
    const char *t = NULL;
    if (scenario_want_text(L, n, key, &t) != 0)
        return -1;
    long v = 0;
    if (opt_parse_ms(t, &v) != 0 || v < min || v > max)
        return scenario_bad(L, n, key,
                            "expected milliseconds in [%ld, %ld] (e.g. 100, 250ms, 2s), got '%s'",
                            min, max, t);
    *out = v;
    return 0;
}

int scenario_want_bool(struct scenario_loader *L, const struct yml_node *n, const char *key,
                       bool *out)
{
    int b = yml_bool(n);
    if (b < 0)
        return scenario_bad(
            L, n, key, "expected true or false, got %s%s%s", n->kind == YML_SCALAR ? "'" : "a ",
            n->kind == YML_SCALAR ? n->str : yml_kind_name(n), n->kind == YML_SCALAR ? "'" : "");
    *out = b;
    return 0;
}
