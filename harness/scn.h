/* scn — scenario files: load, validate, and resolve one cell (scenario × mitigation).
 *
 * A scenario is data (docs/scenario-format.md): topology, the settings of each program as
 * flag → value maps, wire faults, trials, what counts as success, and named mitigations that
 * override any of those and carry their expectations. Everything is checked before anything
 * starts: keys, types, hop names, metric names, and every program setting with that program's
 * own flag table and cross-flag check (prog.h). Errors read "FILE:LINE: key: problem". */
#ifndef RACELAB_SCN_H
#define RACELAB_SCN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "yml.h"

enum scn_topo {
    SCN_DIRECT, /* downstream → upstream */
    SCN_PROXY,  /* downstream → proxy → upstream */
    SCN_CHAIN,  /* downstream → proxy1 → proxy2 → upstream */
};

/* Settings sections of a scenario or a mitigation. `proxy` applies to every proxy of the
 * topology; `proxy1` / `proxy2` to one proxy of a chain (and win over `proxy`). */
enum scn_sec {
    SCN_SEC_UPSTREAM,
    SCN_SEC_DOWNSTREAM,
    SCN_SEC_PROXY,
    SCN_SEC_PROXY1,
    SCN_SEC_PROXY2,
};
#define SCN_NSEC 5

/* One program flag: `close-after: 1` → --close-after 1; `announce-close: true` → the bare
 * flag; a list gives the flag once per item; `false` or `null` removes a flag that the
 * scenario's base settings gave (only meaningful in a mitigation). */
struct scn_setting {
    const char *name;  /* without "--" */
    const char **vals; /* NULL for a bare flag */
    size_t nvals;
    bool off;
    int line;
};

struct scn_settings {
    struct scn_setting *v;
    size_t n;
    int line; /* of the section (0 when absent) */
};

/* A wire fault on one hop direction, e.g. hop upstream->proxy, what fin, hold 100 ms. */
struct scn_wire {
    const char *from, *to; /* program names of the topology */
    unsigned what;         /* enum wire_what bits */
    unsigned nth;          /* 0 = every matching packet */
    bool drop;
    long hold_ms;
    int line;
};

enum scn_check_kind {
    SCN_CHECK_CMP,            /* metric compared with min / max / eq */
    SCN_CHECK_RST_ON_FAILING, /* each failing trial shows an RST on hop direction `metric` */
};

struct scn_bound {
    bool set;
    bool pct; /* percent of the cell's trials (or, for a rate, a percentage) */
    double v;
};

struct scn_check {
    enum scn_check_kind kind;
    const char *metric; /* results.json path ("rst.upstream->proxy") or the hop direction */
    struct scn_bound min, max, eq;
    int line;
};

struct scn_mit {
    const char *name;
    const char *about;
    int line;
    struct scn_settings set[SCN_NSEC];
    bool has_wire; /* `wire:` given: replaces the scenario's wire faults */
    struct scn_wire *wire;
    size_t nwire;
    bool has_args; /* `proxy_cmd_args:` given */
    const char **args;
    size_t nargs;
    long trials;     /* 0 = the scenario's */
    long timeout_ms; /* 0 = the scenario's */
    const char **success;
    size_t nsuccess; /* 0 = the scenario's */
    struct scn_check *expect;
    size_t nexpect;
};

struct scn {
    char *path;
    struct yml_node *doc; /* owns every string below */
    const char *name;
    const char *intent;
    const char **seed;
    size_t nseed;
    enum scn_topo topo;
    long trials;
    long timeout_ms;
    const char **success;
    size_t nsuccess;
    struct scn_settings set[SCN_NSEC];
    struct scn_wire *wire;
    size_t nwire;
    const char **args;
    size_t nargs;
    struct scn_check *expect; /* checks that apply to every mitigation */
    size_t nexpect;
    const char **fix;
    size_t nfix;
    int sweep; /* 1 / 0, or -1: report a sweep when the downstream sweeps gaps */
    struct scn_mit *mit;
    size_t nmit;
};

/* One program of a resolved cell: its merged settings (pointers into the scenario). */
struct scn_prog {
    const char *name; /* "upstream", "downstream", "proxy", "proxy1", "proxy2" */
    enum scn_sec sec; /* SCN_SEC_UPSTREAM, _DOWNSTREAM, or the proxy's own section */
    const struct scn_setting **set;
    size_t nset;
};

/* A cell: scenario × mitigation with the mitigation's overrides applied. */
struct scn_cell {
    const struct scn *s;
    const struct scn_mit *m;
    long trials;
    long timeout_ms;
    const char **success;
    size_t nsuccess;
    struct scn_prog progs[4]; /* in topology order: downstream, proxies..., upstream */
    size_t nprogs;
    const struct scn_wire *wire;
    size_t nwire;
    const char **args; /* proxy_cmd_args: the scenario's, then the mitigation's */
    size_t nargs;
    struct scn_check *checks; /* the scenario's, replaced metric by metric by the mitigation's */
    size_t nchecks;
    bool sweep;
    bool proxy_overridden; /* the mitigation changes proxy settings */
};

/* Loads and validates path (including every cell's program settings). Returns the scenario,
 * or NULL with "PATH:LINE: key: problem" in err. */
struct scn *scn_load(const char *path, char *err, size_t errlen);
void scn_free(struct scn *s);

const struct scn_mit *scn_find_mit(const struct scn *s, const char *name);

/* Writes s as canonical YAML (every key, defaults filled in, values quoted): what racelab
 * understood of the file. Loading the output gives the same scenario. */
void scn_write(FILE *out, const struct scn *s);

/* Resolves cell (s, m) into c. trials_override > 0 replaces the trial count. Returns 0, or -1
 * with a message (out of memory). Free with scn_cell_free. */
int scn_cell_build(const struct scn *s, const struct scn_mit *m, long trials_override,
                   struct scn_cell *c, char *err, size_t errlen);
void scn_cell_free(struct scn_cell *c);

/* The program names of a topology in order, downstream first, upstream last. */
size_t scn_topo_nodes(enum scn_topo t, const char *names[4]);
const char *scn_topo_name(enum scn_topo t);
/* True when from->to is a hop direction of the topology (adjacent programs). */
bool scn_topo_has_dir(enum scn_topo t, const char *from, const char *to);

const char *scn_sec_name(enum scn_sec sec);

/* The value of a merged setting of a program (NULL when absent; "" for a bare flag). */
const struct scn_setting *scn_prog_get(const struct scn_prog *p, const char *name);
const struct scn_prog *scn_cell_prog(const struct scn_cell *c, const char *name);

/* Whether outcome ("200", "reset", ...) counts as success in the cell. */
bool scn_cell_success(const struct scn_cell *c, const char *outcome);

#endif
