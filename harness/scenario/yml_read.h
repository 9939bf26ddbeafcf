/* yml_read — one value of a loaded YAML tree (yml.h) read with its type checked, for the
 * loaders that turn a file into a model: scenario files (scenario_read.c) and proxy adapters
 * (kinds/). A text, a list of texts, a whole number, milliseconds, true/false, a map and the
 * keys it may have; and the one place their errors are worded: "FILE:LINE: key: problem". */
#ifndef RACELAB_YML_READ_H
#define RACELAB_YML_READ_H

#include <stdbool.h>
#include <stddef.h>

#include "yml.h"

/* A loader's context: the file its errors name, and where they are written. */
struct yml_reader {
    const char *path;
    char *err;
    size_t errlen;
};

/* Every function below that returns int returns 0, or -1 with the error in R->err. */

/* "FILE:LINE: KEY: message" (the line of n; 1 when n is NULL). Returns -1. */
int yml_bad(struct yml_reader *R, const struct yml_node *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "FILE: out of memory". Returns -1. */
int yml_oom(struct yml_reader *R);

/* Whether s is one of list (NULL-terminated). */
bool yml_listed(const char *s, const char *const *list);

/* Every key of map m must be in allowed (NULL-terminated); the error lists them. where is the
 * key path of m ("" at the top). */
int yml_known_keys(struct yml_reader *R, const struct yml_node *m, const char *where,
                   const char *const *allowed);
/* The same with the allowed keys in several lists (each NULL-terminated; lists ends with NULL),
 * named in order by the error. */
int yml_known_keys_in(struct yml_reader *R, const struct yml_node *m, const char *where,
                      const char *const *const *lists);

/* The value of key name in map m, or NULL; when there is one, its key path "WHERE.NAME" in buf
 * (for the messages about it). */
struct yml_node *yml_get_at(const struct yml_node *m, const char *where, const char *name,
                            char *buf, size_t len);

int yml_want_map(struct yml_reader *R, const struct yml_node *n, const char *key);
/* A map whose entries each become an element of an array: a new zeroed array of one size-byte
 * element per key (one at least), or NULL with the error (not a map, out of memory). */
void *yml_want_map_array(struct yml_reader *R, const struct yml_node *n, const char *key,
                         size_t size);
/* A scalar that is not null (a quoted '' is a value); *out points into the tree. */
int yml_want_text(struct yml_reader *R, const struct yml_node *n, const char *key,
                  const char **out);
/* A single value or a list of values: *out is a new array of pointers into the tree. */
int yml_want_texts(struct yml_reader *R, const struct yml_node *n, const char *key,
                   const char ***out, size_t *nout);
int yml_want_long(struct yml_reader *R, const struct yml_node *n, const char *key, long min,
                  long max, long *out);
/* Milliseconds as opt_parse_ms reads them (100, 250ms, 2s). */
int yml_want_ms(struct yml_reader *R, const struct yml_node *n, const char *key, long min, long max,
                long *out);
int yml_want_bool(struct yml_reader *R, const struct yml_node *n, const char *key, bool *out);

#endif
