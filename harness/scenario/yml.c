#include "yml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "grow.h"

struct builder {
    yaml_parser_t parser;
    const char *name;
    char *err;
    size_t errlen;
    int depth; /* maps and lists open around the node being built */
};

/* The keys of the map being built, hashed, so that a duplicate is found in O(1) per key (a
 * scan of the keys before was quadratic: 50,000 keys took a minute). Slots hold index + 1. */
struct keyset {
    size_t *slot;
    size_t cap; /* a power of two, or 0 */
};

static size_t key_hash(const char *s)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The index of the key equal to key among m's keys, or -1 after adding index i for it. */
static long keyset_add(struct keyset *ks, const struct yml_node *m, const char *key, size_t i,
                       bool *oom)
{
    if ((i + 1) * 2 > ks->cap) {
        size_t ncap = ks->cap ? ks->cap * 2 : 16;
        size_t *n = calloc(ncap, sizeof(*n));
        if (!n) {
            *oom = true;
            return -1;
        }
        for (size_t k = 0; k < ks->cap; k++)
            if (ks->slot[k]) {
                size_t j = key_hash(m->keys[ks->slot[k] - 1]->str) & (ncap - 1);
                while (n[j])
                    j = (j + 1) & (ncap - 1);
                n[j] = ks->slot[k];
            }
        free(ks->slot);
        ks->slot = n;
        ks->cap = ncap;
    }
    size_t j = key_hash(key) & (ks->cap - 1);
    for (; ks->slot[j]; j = (j + 1) & (ks->cap - 1))
        if (strcmp(m->keys[ks->slot[j] - 1]->str, key) == 0)
            return (long)(ks->slot[j] - 1);
    ks->slot[j] = i + 1;
    return -1;
}

static struct yml_node *node_new(enum yml_kind kind, const yaml_mark_t *mark)
{
    struct yml_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    return n;
}

void yml_free(struct yml_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            yml_free(n->keys[i]);
        yml_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->str);
    free(n);
}

static int append(struct yml_node *parent, struct yml_node *key, struct yml_node *val)
{
    struct yml_node **items =
        grow_array(parent->items, &parent->cap_items, parent->n + 1, sizeof(*items));
    if (!items)
        return -1;
    parent->items = items;
    if (parent->kind == YML_MAP) {
        struct yml_node **keys =
            grow_array(parent->keys, &parent->cap_keys, parent->n + 1, sizeof(*keys));
        if (!keys)
            return -1;
        parent->keys = keys;
        parent->keys[parent->n] = key;
    }
    parent->items[parent->n++] = val;
    return 0;
}

static int parse_error(struct builder *b)
{
    const yaml_parser_t *p = &b->parser;
    if (p->error == YAML_MEMORY_ERROR) {
        snprintf(b->err, b->errlen, "%s: out of memory", b->name);
    } else if (p->problem) {
        const yaml_mark_t *m = &p->problem_mark;
        snprintf(b->err, b->errlen, "%s:%zu:%zu: YAML syntax error: %s%s%s", b->name, m->line + 1,
                 m->column + 1, p->problem, p->context ? " " : "", p->context ? p->context : "");
    } else {
        snprintf(b->err, b->errlen, "%s: YAML syntax error", b->name);
    }
    return -1;
}

static int next(struct builder *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev))
        return parse_error(b);
    return 0;
}

static int refuse(struct builder *b, const yaml_mark_t *m, const char *what)
{
    snprintf(b->err, b->errlen, "%s:%zu:%zu: %s are not supported in scenario files", b->name,
             m->line + 1, m->column + 1, what);
    return -1;
}

static int build(struct builder *b, yaml_event_t *ev, struct yml_node **out);

/* The items of a map or list whose start event was at mark, up to its end event. Returns 0
 * with *out, or -1 with the message in b->err. */
static int build_children(struct builder *b, bool is_map, const yaml_mark_t *mark,
                          struct yml_node **out)
{
    struct keyset ks = {0};
    yaml_event_t sub;
    struct yml_node *n = node_new(is_map ? YML_MAP : YML_SEQ, mark);
    if (!n)
        goto oom;
    for (;;) {
        if (next(b, &sub) != 0)
            goto fail;
        if (sub.type == YAML_SEQUENCE_END_EVENT || sub.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&sub);
            break;
        }
        struct yml_node *key = NULL, *val = NULL;
        if (is_map) {
            if (build(b, &sub, &key) != 0)
                goto fail;
            if (key->kind != YML_SCALAR) {
                snprintf(b->err, b->errlen, "%s:%d:%d: a key must be a plain name, not a %s",
                         b->name, key->line, key->col, yml_kind_name(key));
                yml_free(key);
                goto fail;
            }
            bool oom = false;
            long first = keyset_add(&ks, n, key->str, n->n, &oom);
            if (oom) {
                yml_free(key);
                goto oom;
            }
            if (first >= 0) {
                snprintf(b->err, b->errlen, "%s:%d:%d: duplicate key '%s' (first at line %d)",
                         b->name, key->line, key->col, key->str, n->keys[first]->line);
                yml_free(key);
                goto fail;
            }
            if (next(b, &sub) != 0) {
                yml_free(key);
                goto fail;
            }
        }
        if (build(b, &sub, &val) != 0) {
            yml_free(key);
            goto fail;
        }
        if (append(n, key, val) != 0) {
            yml_free(key);
            yml_free(val);
            goto oom;
        }
    }
    free(ks.slot);
    *out = n;
    return 0;
oom:
    snprintf(b->err, b->errlen, "%s: out of memory", b->name);
fail:
    free(ks.slot);
    yml_free(n);
    return -1;
}

/* Builds the node that starts with ev (already parsed; ownership of ev passes here). */
static int build(struct builder *b, yaml_event_t *ev, struct yml_node **out)
{
    struct yml_node *n = NULL;
    int rc = -1;

    *out = NULL;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        rc = refuse(b, &ev->start_mark, "aliases (*name)");
        goto out;
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor) {
            rc = refuse(b, &ev->start_mark, "anchors (&name)");
            goto out;
        }
        if (ev->data.scalar.tag) {
            rc = refuse(b, &ev->start_mark, "tags (!tag)");
            goto out;
        }
        n = node_new(YML_SCALAR, &ev->start_mark);
        if (!n)
            goto oom;
        n->str = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n->str)
            goto oom;
        if (strlen(n->str) != ev->data.scalar.length) {
            snprintf(b->err, b->errlen, "%s:%d:%d: NUL byte inside a value", b->name, n->line,
                     n->col);
            goto out;
        }
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        rc = 0;
        goto out;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool is_map = ev->type == YAML_MAPPING_START_EVENT;
        const void *anchor = is_map ? (const void *)ev->data.mapping_start.anchor
                                    : (const void *)ev->data.sequence_start.anchor;
        const void *tag = is_map ? (const void *)ev->data.mapping_start.tag
                                 : (const void *)ev->data.sequence_start.tag;
        if (anchor) {
            rc = refuse(b, &ev->start_mark, "anchors (&name)");
            goto out;
        }
        if (tag) {
            rc = refuse(b, &ev->start_mark, "tags (!tag)");
            goto out;
        }
        /* build() recurses once per level: bound it before the stack does (a file of 40,000
         * '[' crashed racelab) */
        if (b->depth >= YML_MAX_DEPTH) {
            snprintf(b->err, b->errlen,
                     "%s:%zu:%zu: maps and lists nested deeper than %d levels (a scenario needs "
                     "a handful)",
                     b->name, ev->start_mark.line + 1, ev->start_mark.column + 1, YML_MAX_DEPTH);
            goto out;
        }
        b->depth++;
        rc = build_children(b, is_map, &ev->start_mark, &n);
        b->depth--;
        goto out;
    }
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        snprintf(b->err, b->errlen, "%s:%zu: unexpected YAML structure", b->name,
                 ev->start_mark.line + 1);
        goto out;
    }
oom:
    snprintf(b->err, b->errlen, "%s: out of memory", b->name);
out:
    yaml_event_delete(ev);
    if (rc == 0)
        *out = n;
    else
        yml_free(n);
    return rc;
}

static int load(struct builder *b, struct yml_node **root)
{
    yaml_event_t ev;
    struct yml_node *doc = NULL;

    *root = NULL;
    for (;;) {
        if (next(b, &ev) != 0)
            goto fail;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            yaml_event_delete(&ev);
            *root = doc;
            return 0;
        case YAML_DOCUMENT_START_EVENT:
            if (ev.data.document_start.tag_directives.start !=
                ev.data.document_start.tag_directives.end) {
                refuse(b, &ev.start_mark, "tag directives (%TAG)");
                yaml_event_delete(&ev);
                goto fail;
            }
            if (doc) {
                snprintf(b->err, b->errlen,
                         "%s:%zu: a second YAML document ('---'): one scenario per file", b->name,
                         ev.start_mark.line + 1);
                yaml_event_delete(&ev);
                goto fail;
            }
            yaml_event_delete(&ev);
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            yaml_event_delete(&ev);
            break;
        case YAML_NO_EVENT:
        case YAML_ALIAS_EVENT:
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (build(b, &ev, &doc) != 0)
                goto fail;
            break;
        }
    }
fail:
    yml_free(doc);
    return -1;
}

int yml_load(const char *path, struct yml_node **root, char *err, size_t errlen)
{
    struct builder b = {.name = path, .err = err, .errlen = errlen};
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!yaml_parser_initialize(&b.parser)) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_file(&b.parser, f);
    int rc = load(&b, root);
    yaml_parser_delete(&b.parser);
    fclose(f);
    return rc;
}

int yml_load_string(const char *name, const char *text, size_t len, struct yml_node **root,
                    char *err, size_t errlen)
{
    struct builder b = {.name = name, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&b.parser)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
    int rc = load(&b, root);
    yaml_parser_delete(&b.parser);
    return rc;
}

struct yml_node *yml_get(const struct yml_node *m, const char *key)
{
    if (!m || m->kind != YML_MAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i]->str, key) == 0)
            return m->items[i];
    return NULL;
}

bool yml_is_null(const struct yml_node *n)
{
    return n && n->kind == YML_SCALAR && n->plain &&
           (n->str[0] == '\0' || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0);
}

int yml_bool(const struct yml_node *n)
{
    if (!n || n->kind != YML_SCALAR || !n->plain)
        return -1;
    if (strcmp(n->str, "true") == 0)
        return 1;
    if (strcmp(n->str, "false") == 0)
        return 0;
    return -1;
}

const char *yml_kind_name(const struct yml_node *n)
{
    if (!n)
        return "nothing";
    switch (n->kind) {
    case YML_SCALAR:
        return "text";
    case YML_MAP:
        return "map";
    case YML_SEQ:
        return "list";
    }
    return "?";
}
