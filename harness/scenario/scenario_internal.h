/* scenario_internal — what the files of the scenario module share, not part of its API
 * (scenario.h). The module, file by file:
 *   scenario.c           the vocabulary (topologies, their programs, settings sections);
 *                        scenario_load, scenario_free
 *   scenario_values.c    one value of the file read with its type checked; error wording
 *   scenario_read.c      the YAML tree into the model, key by key
 *   scenario_validate.c  every cell's settings through the programs' flag tables
 *   scenario_cell.c      one cell: scenario × mitigation merged
 *   scenario_write.c     the model written back as canonical YAML */
#ifndef RACELAB_SCENARIO_INTERNAL_H
#define RACELAB_SCENARIO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "scenario.h"
#include "yml.h"

/* The section names, indexed by enum scenario_sec, then NULL (a list of keys). */
extern const char *const scenario_sec_names[SCENARIO_NSEC + 1];

/* The programs of topology t as their own settings sections, in topology order (the order of
 * scenario_topo_nodes). */
size_t scenario_topo_secs(enum scenario_topo t, enum scenario_sec secs[4]);
/* The section a program of section sec shares with the other proxies of a chain: proxy for
 * proxy1 and proxy2; sec itself for the others. */
enum scenario_sec scenario_sec_common(enum scenario_sec sec);
/* Whether topology t reads section sec: its programs' own sections and their common one. */
bool scenario_sec_allowed(enum scenario_topo t, enum scenario_sec sec);

/* One scenario_load under way: the file, the scenario being filled in, where errors go. */
struct scenario_loader {
    const char *path;
    struct scenario *s;
    char *err;
    size_t errlen;
};

/* Reads the document root into L->s (scenario_read.c). Returns 0, or -1 with the error. */
int scenario_read(struct scenario_loader *L, const struct yml_node *root);
/* Checks every cell's program settings (scenario_validate.c). Returns 0, or -1 with the error. */
int scenario_validate_cells(struct scenario_loader *L);

/* ---- scenario_values.c: every one returns 0, or -1 with "FILE:LINE: key: problem" in L->err */

/* "FILE:LINE: KEY: message" (the line of n; 1 when n is NULL) — the one place scenario errors
 * are written. Returns -1. */
int scenario_bad(struct scenario_loader *L, const struct yml_node *n, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* "FILE: out of memory". Returns -1. */
int scenario_oom(struct scenario_loader *L);
/* Every key of map m must be in allowed (NULL-terminated); the error lists them. where is the
 * key path of m ("" at the top). */
int scenario_known_keys(struct scenario_loader *L, const struct yml_node *m, const char *where,
                        const char *const *allowed);
/* The same with the allowed keys in several lists (each NULL-terminated; lists ends with NULL),
 * named in order by the error. */
int scenario_known_keys_in(struct scenario_loader *L, const struct yml_node *m, const char *where,
                           const char *const *const *lists);
int scenario_want_map(struct scenario_loader *L, const struct yml_node *n, const char *key);
/* A scalar that is not null; *out points into the tree. */
int scenario_want_text(struct scenario_loader *L, const struct yml_node *n, const char *key,
                       const char **out);
/* A single value or a list of values: *out is a new array of pointers into the tree. */
int scenario_want_texts(struct scenario_loader *L, const struct yml_node *n, const char *key,
                        const char ***out, size_t *nout);
int scenario_want_long(struct scenario_loader *L, const struct yml_node *n, const char *key,
                       long min, long max, long *out);
/* Milliseconds as opt_parse_ms reads them (100, 250ms, 2s). */
int scenario_want_ms(struct scenario_loader *L, const struct yml_node *n, const char *key, long min,
                     long max, long *out);
int scenario_want_bool(struct scenario_loader *L, const struct yml_node *n, const char *key,
                       bool *out);

#endif
