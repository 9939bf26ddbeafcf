/* kind_internal — what the files of the kind module share (kind.h is its API):
 *   kind.c         the adapter file read and checked into struct kind
 *   kind_plan.c    a proxy's settings into slot texts (kind_plan), the templates rendered
 *                  (kind_render), the command lines (kind_argv)
 *   kind_cell.c    a cell's proxies through the kind: checked, rendered, started; the version
 *   kind_log.c     the proxy's access-log lines read (kind_read_entry) */
#ifndef RACELAB_KIND_INTERNAL_H
#define RACELAB_KIND_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "kind.h"
#include "opt.h"
#include "yml.h"

/* values: one value of a flag (or one item of a list value) and what it becomes. */
struct kind_value {
    const char *from;
    const char *to;   /* the text, or the reason when unsupported */
    bool unsupported; /* `{unsupported: REASON}` */
};

/* One rule of a flag: when it applies (with / without other flags), and what it writes. */
struct kind_rule {
    int line;
    const char **with, **without;
    size_t nwith, nwithout;
    int slot;         /* index into kind.slots, -1 when the rule writes nothing */
    const char *text; /* NULL: the (translated) value is the text */
    struct kind_value *values;
    size_t nvalues;
    const char *other;       /* why a value not in values cannot be expressed */
    bool list;               /* the value is a comma-separated list, items translated one by one */
    const char *unsupported; /* the rule applies: the setting cannot be expressed, this is why */
    const char *note;        /* documentation (a rule that writes nothing must say why) */
};

struct kind_flag {
    const char *name;
    const struct opt_spec *spec; /* racelab-proxy's flag */
    struct kind_rule *rules;
    size_t nrules;
    const char *unsupported; /* from `unsupported:`: no rule, this reason */
    int line;
};

struct kind_slot {
    const char *name;
    const char *join; /* between entries when the slot sits inside a line (default " ") */
};

struct kind_file {
    char *template_path;
    char *text; /* the template */
    const char *to;
};

/* access_log: which field of a JSON line says what */
struct kind_access {
    const char *file;
    const char *status, *attempts, *retries, *upstream_status, *downstream_port;
    const char *reset_field;
    const char **reset_words;
    size_t nreset_words;
};

struct kind {
    char *dir, *path;
    struct yml_node *doc; /* owns the strings below */
    const char *name, *about;
    const char **binary, **version, **start, **check;
    size_t nbinary, nversion, nstart, ncheck;
    struct kind_file *files;
    size_t nfiles;
    int stop_signal;
    const char *stop_signal_name;
    long settle_ms;
    const char *error_log;
    const char **error_resets;
    size_t nerror_resets;
    struct kind_access access;
    struct kind_slot *slots;
    size_t nslots;
    int native_slot; /* -1: the kind takes no native lines */
    struct kind_flag *flags;
    size_t nflags;
};

/* The placeholders a cell fills in, in templates, argv and rule texts. */
extern const char *const kind_var_names[];

/* The placeholder starting at p: `{name}` with name of lower-case letters, digits and '_'
 * (or `{value+N}`). Returns its length with the name in name, or 0 when p does not start one. */
size_t kind_placeholder(const char *p, char *name, size_t namelen);

int kind_slot_index(const struct kind *k, const char *name);
const struct kind_flag *kind_flag_find(const struct kind *k, const char *name);

/* Whether name is one of the value placeholders of a rule's text ({value}, {ms}, {s},
 * {seconds}, {bytes}, {value+N}). */
bool kind_is_value_placeholder(const char *name);

#endif
