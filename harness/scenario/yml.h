/* yml — a scenario file as a tree of YAML nodes that remember their line and column.
 *
 * libyaml's event stream is turned into maps, sequences and scalars; every node keeps the
 * mark where it starts, so that whoever rejects a value can name file:line and the key. Keys
 * must be scalars and unique within their map (a duplicate key is an error, not "the last one
 * wins", so a scenario never silently loses a setting). Anchors, aliases, tags (on any node, and
 * %TAG directives) and nesting deeper than YML_MAX_DEPTH are refused: scenario files are plain
 * data. */
#ifndef RACELAB_YML_H
#define RACELAB_YML_H

#include <stdbool.h>
#include <stddef.h>

/* Maps and lists nest at most this deep (the loader recurses once per level). */
#define YML_MAX_DEPTH 64

enum yml_kind {
    YML_SCALAR,
    YML_MAP,
    YML_SEQ,
};

struct yml_node {
    enum yml_kind kind;
    int line, col;          /* 1-based */
    char *str;              /* YML_SCALAR: the value, NUL-terminated */
    bool plain;             /* YML_SCALAR: written without quotes (so `true`/`null` are keywords) */
    size_t n;               /* YML_MAP: pairs; YML_SEQ: items */
    struct yml_node **keys; /* YML_MAP: scalar keys */
    struct yml_node **items;    /* YML_MAP: values; YML_SEQ: items */
    size_t cap_keys, cap_items; /* room allocated in keys / items (grow_array) */
};

/* Loads path. *root is NULL for a file without any document (empty, or only comments).
 * Returns 0, or -1 with "PATH:LINE:COL: problem" in err. */
int yml_load(const char *path, struct yml_node **root, char *err, size_t errlen);

/* Parses a document from memory (name is used in messages). */
int yml_load_string(const char *name, const char *text, size_t len, struct yml_node **root,
                    char *err, size_t errlen);

void yml_free(struct yml_node *n);

/* The value of key in a map, or NULL (also when m is not a map). */
struct yml_node *yml_get(const struct yml_node *m, const char *key);

/* Plain `null`, `~` or an empty plain scalar. */
bool yml_is_null(const struct yml_node *n);
/* Plain `true` / `false`: returns 1 / 0, or -1 when n is not a boolean keyword. */
int yml_bool(const struct yml_node *n);

/* "map", "list", "text" (for messages: "expected a map, got a list"). */
const char *yml_kind_name(const struct yml_node *n);

#endif
