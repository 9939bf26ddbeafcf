/* yml_read — one value of a loaded YAML tree read with its type checked (yml_read.h), for the
 * scenario loader and the adapter loader alike; and the one place their errors are worded
 * ("FILE:LINE: key: problem"). */
#include "yml_read.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"

int yml_bad(struct yml_reader *R, const struct yml_node *n, const char *key, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(R->err, R->errlen, "%s:%d: %s: %s", R->path, n ? n->line : 1, key, msg);
    return -1;
}

int yml_oom(struct yml_reader *R)
{
    snprintf(R->err, R->errlen, "%s: out of memory", R->path);
    return -1;
}

bool yml_listed(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

int yml_known_keys_in(struct yml_reader *R, const struct yml_node *m, const char *where,
                      const char *const *const *lists)
{
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->keys[i]->str;
        bool known = false;
        for (size_t l = 0; lists[l] && !known; l++)
            known = yml_listed(k, lists[l]);
        if (known)
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
        return yml_bad(R, m->keys[i], key, "unknown key (allowed here: %s)", list);
    }
    return 0;
}

int yml_known_keys(struct yml_reader *R, const struct yml_node *m, const char *where,
                   const char *const *allowed)
{
    const char *const *const lists[] = {allowed, NULL};
    return yml_known_keys_in(R, m, where, lists);
}

struct yml_node *yml_get_at(const struct yml_node *m, const char *where, const char *name,
                            char *buf, size_t len)
{
    struct yml_node *v = yml_get(m, name);
    if (v)
        snprintf(buf, len, "%s%s%s", where, *where ? "." : "", name);
    return v;
}

int yml_want_map(struct yml_reader *R, const struct yml_node *n, const char *key)
{
    if (n->kind != YML_MAP)
        return yml_bad(R, n, key, "expected a map (key: value lines), got a %s", yml_kind_name(n));
    return 0;
}

void *yml_want_map_array(struct yml_reader *R, const struct yml_node *n, const char *key,
                         size_t size)
{
    if (yml_want_map(R, n, key) != 0)
        return NULL;
    void *v = calloc(n->n ? n->n : 1, size);
    if (!v)
        yml_oom(R);
    return v;
}

int yml_want_text(struct yml_reader *R, const struct yml_node *n, const char *key, const char **out)
{
    if (n->kind != YML_SCALAR)
        return yml_bad(R, n, key, "expected a value, got a %s", yml_kind_name(n));
    if (yml_is_null(n))
        return yml_bad(R, n, key, "expected a value, got nothing");
    *out = n->str;
    return 0;
}

int yml_want_texts(struct yml_reader *R, const struct yml_node *n, const char *key,
                   const char ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n->kind == YML_MAP)
        return yml_bad(R, n, key, "expected a value or a list of values, got a map");
    size_t cnt = n->kind == YML_SEQ ? n->n : 1;
    const char **v = calloc(cnt ? cnt : 1, sizeof(*v));
    if (!v)
        return yml_oom(R);
    for (size_t i = 0; i < cnt; i++) {
        const struct yml_node *it = n->kind == YML_SEQ ? n->items[i] : n;
        if (yml_want_text(R, it, key, &v[i]) != 0) {
            free(v);
            return -1;
        }
    }
    *out = v;
    *nout = cnt;
    return 0;
}

int yml_want_long(struct yml_reader *R, const struct yml_node *n, const char *key, long min,
                  long max, long *out)
{
    const char *t = NULL;
    if (yml_want_text(R, n, key, &t) != 0)
        return -1;
    long v = 0;
    if (opt_parse_long(t, &v) != 0 || v < min || v > max)
        return yml_bad(R, n, key, "expected a whole number in [%ld, %ld], got '%s'", min, max, t);
    *out = v;
    return 0;
}

int yml_want_ms(struct yml_reader *R, const struct yml_node *n, const char *key, long min, long max,
                long *out)
{
    const char *t = NULL;
    if (yml_want_text(R, n, key, &t) != 0)
        return -1;
    long v = 0;
    if (opt_parse_ms(t, &v) != 0 || v < min || v > max)
        return yml_bad(R, n, key,
                       "expected milliseconds in [%ld, %ld] (e.g. 100, 250ms, 2s), got '%s'", min,
                       max, t);
    *out = v;
    return 0;
}

int yml_want_bool(struct yml_reader *R, const struct yml_node *n, const char *key, bool *out)
{
    int b = yml_bool(n);
    if (b < 0)
        return yml_bad(
            R, n, key, "expected true or false, got %s%s%s", n->kind == YML_SCALAR ? "'" : "a ",
            n->kind == YML_SCALAR ? n->str : yml_kind_name(n), n->kind == YML_SCALAR ? "'" : "");
    *out = b;
    return 0;
}
