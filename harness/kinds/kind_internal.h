/* kind_internal — what the files of the kind module share (kind.h is its API):
 *   kind.c         an adapter loaded (kind_load: the top-level keys in order) and freed; what
 *                  a loaded kind answers (name, stop, slots and flags by name, its binary)
 *   kind_read.c    the adapter's sections besides settings: files, stop, logs, access_log, slots
 *   kind_rules.c   the adapter's settings: each flag's rules, unsupported, every flag covered
 *   kind_text.c    placeholders: their names, one read in a text, a text's checked at load,
 *                  the cell variables filled in; the growing string (struct sbuf)
 *   kind_plan.c    a proxy's settings into slot texts (kind_plan)
 *   kind_render.c  the templates rendered (kind_render), the command lines (kind_argv), the
 *                  names of the logs
 *   kind_cell.c    a cell's proxies through the kind: checked, rendered, started; the version
 *   kind_log.c     the proxy's access-log lines read (kind_read_entry)
 * One value of the adapter file is read, and its error worded, by yml_read.h. */
#ifndef RACELAB_KIND_INTERNAL_H
#define RACELAB_KIND_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "kind.h"
#include "opt.h"
#include "yml.h"
#include "yml_read.h"

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

/* ---- loading an adapter (kind.c, kind_read.c, kind_rules.c, kind_text.c): every int function
 * returns 0, or -1 with "FILE:LINE: key: problem" in L->r.err */

/* One kind_load under way: the adapter file and where errors go, the kind being filled in. */
struct kind_loader {
    struct yml_reader r;
    struct kind *k;
};

/* kind_read.c: the section of that name (n its value) into L->k. files reads each template. */
int kind_read_files(struct kind_loader *L, const struct yml_node *n);
int kind_read_stop(struct kind_loader *L, const struct yml_node *n);
int kind_read_logs(struct kind_loader *L, const struct yml_node *n);
int kind_read_access(struct kind_loader *L, const struct yml_node *n);
int kind_read_slots(struct kind_loader *L, const struct yml_node *n);

/* kind_rules.c: settings: each flag's rules, the slots their texts place marked in placed;
 * unsupported: flags the kind cannot express, with the reason; coverage: every flag a scenario
 * can set is in one of them (root: the adapter's map, for the error's line). */
int kind_read_settings(struct kind_loader *L, const struct yml_node *n, bool *placed);
int kind_read_unsupported(struct kind_loader *L, const struct yml_node *n);
int kind_check_coverage(struct kind_loader *L, const struct yml_node *root);

/* kind_text.c: the placeholders of text (the value of node n, named key in errors) are known:
 * cell variables; slots, marked in placed (NULL: no slot may appear); and with spec (a rule's
 * text) the value placeholders that fit its flag. */
int kind_check_placeholders(struct kind_loader *L, const struct yml_node *n, const char *key,
                            const char *text, const struct opt_spec *spec, bool *placed);
/* A template's placeholders (slots marked in placed), the error at the template's own
 * file:line. */
int kind_check_template(struct kind_loader *L, const struct kind_file *f, bool *placed);

/* ---- a proxy's plan (kind_plan.c), rendered (kind_render.c) ---- */

/* The texts of one slot, each once, in the order the rules wrote them. */
struct plan_slot {
    char **v;
    size_t n, cap;
};

struct kind_plan {
    size_t nslots;
    struct plan_slot *slots; /* indexed as kind.slots */
};

/* A growing string; after out of memory every append is ignored and oom stays set. */
struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

void kind_sb_addn(struct sbuf *b, const char *s, size_t n);
void kind_sb_add(struct sbuf *b, const char *s);
void kind_sb_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends the value of cell variable name to out; false when name is not one. */
bool kind_var_value(const struct kind *k, const struct kind_vars *v, const char *name,
                    struct sbuf *out);
/* Appends text with the cell variables filled in (no slots: file names, argv words); {{ is a
 * literal {. */
void kind_fill_vars(const struct kind *k, const struct kind_vars *v, const char *text,
                    struct sbuf *out);

#endif
