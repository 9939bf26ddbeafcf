/* scenario — scenario files: load, validate, and resolve one cell (scenario × mitigation).
 *
 * A scenario is data (docs/scenario-format.md): topology, the settings of each program as
 * flag → value maps, wire faults, trials, what counts as success, and named mitigations that
 * override any of those and carry their expectations. Everything is checked before anything
 * starts: keys, types, hop names, metric names, and every program setting with that program's
 * own flag table and cross-flag check (programs.h). Errors read "FILE:LINE: key: problem". */
#ifndef RACELAB_SCENARIO_H
#define RACELAB_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "yml.h"

enum scenario_topo {
    SCENARIO_DIRECT, /* downstream → upstream */
    SCENARIO_PROXY,  /* downstream → proxy → upstream */
    SCENARIO_CHAIN,  /* downstream → proxy1 → proxy2 → upstream */
};
#define SCENARIO_NTOPO 3

/* Settings sections of a scenario or a mitigation. `proxy` applies to every proxy of the
 * topology; `proxy1` / `proxy2` to one proxy of a chain (and win over `proxy`). */
enum scenario_sec {
    SCENARIO_SEC_UPSTREAM,
    SCENARIO_SEC_DOWNSTREAM,
    SCENARIO_SEC_PROXY,
    SCENARIO_SEC_PROXY1,
    SCENARIO_SEC_PROXY2,
};
#define SCENARIO_NSEC 5

/* One program flag: `close-after: 1` → --close-after 1; `announce-close: true` → the bare
 * flag; a list gives the flag once per item; `false` or `null` removes a flag that the
 * scenario's base settings gave (only meaningful in a mitigation). */
struct scenario_setting {
    const char *name;  /* without "--" */
    const char **vals; /* NULL for a bare flag */
    size_t nvals;
    bool off;
    int line;
};

struct scenario_settings {
    struct scenario_setting *v;
    size_t n;
    int line; /* of the section (0 when absent) */
    /* `kind: KIND` of a downstream or upstream section (NULL when absent): the client or server
     * program run in racelab-downstream's or racelab-upstream's place (scenario_peer_kind_known) */
    const char *kind;
    int kind_line;
};

/* A wire fault on one hop direction, e.g. hop upstream->proxy, what fin, hold 100 ms. */
struct scenario_wire {
    const char *from, *to; /* program names of the topology */
    unsigned what;         /* enum wire_what bits */
    unsigned nth;          /* 0 = every matching packet */
    bool drop;
    long hold_ms;
    int line;
};

enum scenario_check_kind {
    SCENARIO_CHECK_CMP,            /* metric compared with min / max / eq */
    SCENARIO_CHECK_RST_ON_FAILING, /* each failing trial shows an RST on hop direction `metric` */
};

struct scenario_bound {
    bool set;
    bool pct; /* percent of the cell's trials (or, for a rate, a percentage) */
    double v;
};

struct scenario_check {
    enum scenario_check_kind kind;
    const char *metric; /* results.json path ("rst.upstream->proxy") or the hop direction */
    struct scenario_bound min, max, eq;
    int line;
    /* The proxy kind whose cells the check is for: NULL for `expect:` (racelab-proxy's), else
     * the KIND of `expect_kind: {KIND: ...}` ("nginx", or "racelab"). */
    const char *proxy_kind;
};

/* `expect_kind: {KIND: {...}}`: the checks of the cells run with --proxy KIND (KIND a folder of
 * proxies/, or racelab). */
struct scenario_kind_expect {
    const char *kind;
    struct scenario_check *expect; /* each with proxy_kind = kind */
    size_t nexpect;
    int line;
};

/* Native settings of one proxy kind (`native: {nginx: [LINE, ...]}`): lines its adapter places
 * as they are into its config (docs/proxies.md); other kinds ignore them. */
struct scenario_native {
    const char *kind;
    const char **lines;
    size_t nlines;
    int line;
};

struct scenario_mit {
    const char *name;
    const char *about;
    int line;
    struct scenario_settings set[SCENARIO_NSEC];
    bool has_wire; /* `wire:` given: replaces the scenario's wire faults */
    struct scenario_wire *wire;
    size_t nwire;
    struct scenario_native *native; /* `native:`, added to the scenario's */
    size_t nnative;
    long trials;     /* 0 = the scenario's */
    long timeout_ms; /* 0 = the scenario's */
    const char **success;
    size_t nsuccess; /* 0 = the scenario's */
    struct scenario_check *expect;
    size_t nexpect;
    struct scenario_kind_expect *kexpect; /* `expect_kind:` */
    size_t nkexpect;
};

struct scenario {
    char *path;
    struct yml_node *doc; /* owns every string below */
    const char *name;
    const char *intent;
    const char **seed;
    size_t nseed;
    enum scenario_topo topo;
    long trials;
    long timeout_ms;
    const char **success;
    size_t nsuccess;
    struct scenario_settings set[SCENARIO_NSEC];
    struct scenario_wire *wire;
    size_t nwire;
    struct scenario_native *native; /* `native:` for every mitigation */
    size_t nnative;
    struct scenario_check *expect; /* checks that apply to every mitigation */
    size_t nexpect;
    struct scenario_kind_expect *kexpect; /* `expect_kind:` for every mitigation */
    size_t nkexpect;
    const char **fix;
    size_t nfix;
    int sweep; /* 1 / 0, or -1: report a sweep when the downstream sweeps gaps */
    struct scenario_mit *mit;
    size_t nmit;
};

/* One program of a resolved cell: its merged settings (pointers into the scenario). */
struct scenario_prog {
    const char *name;      /* "upstream", "downstream", "proxy", "proxy1", "proxy2" */
    enum scenario_sec sec; /* SCENARIO_SEC_UPSTREAM, _DOWNSTREAM, or the proxy's own section */
    const struct scenario_setting **set;
    size_t nset;
};

/* A cell: scenario × mitigation with the mitigation's overrides applied. */
struct scenario_cell {
    const struct scenario *s;
    const struct scenario_mit *m;
    long trials;
    long timeout_ms;
    const char **success;
    size_t nsuccess;
    struct scenario_prog progs[4]; /* in topology order: downstream, proxies..., upstream */
    size_t nprogs;
    const struct scenario_wire *wire;
    size_t nwire;
    /* The checks of every kind: racelab-proxy's (proxy_kind NULL or "racelab": the scenario's
     * `expect:` and `expect_kind.racelab`, then the mitigation's, each layer replacing the
     * checks of the same metric), then for each kind K the cell names, K's (the scenario's
     * `expect_kind.K`, replaced metric by metric by the mitigation's). expect_eval_kind picks
     * the run's. */
    struct scenario_check *checks;
    size_t nchecks;
    bool sweep;
    /* The client and server kinds: the mitigation's `kind:`, else the scenario's, else
     * "racelab" (racelab-downstream, racelab-upstream); the run's --client / --server replace
     * them (suite_add). */
    const char *client_kind;
    const char *server_kind;
};

/* Loads and validates path (including every cell's program settings). Returns the scenario,
 * or NULL with "PATH:LINE: key: problem" in err. */
struct scenario *scenario_load(const char *path, char *err, size_t errlen);
void scenario_free(struct scenario *s);

const struct scenario_mit *scenario_find_mit(const struct scenario *s, const char *name);

/* Writes s as canonical YAML (every key, defaults filled in, values quoted): what racelab
 * understood of the file. Loading the output gives the same scenario. */
void scenario_write(FILE *out, const struct scenario *s);

/* Resolves cell (s, m) into c. trials_override > 0 replaces the trial count. Returns 0, or -1
 * with a message (out of memory). Free with scenario_cell_free. */
int scenario_cell_build(const struct scenario *s, const struct scenario_mit *m,
                        long trials_override, struct scenario_cell *c, char *err, size_t errlen);
void scenario_cell_free(struct scenario_cell *c);

/* The program names of a topology in order, downstream first, upstream last. */
size_t scenario_topo_nodes(enum scenario_topo t, const char *names[4]);
const char *scenario_topo_name(enum scenario_topo t);
/* True when from->to is a hop direction of the topology (adjacent programs). */
bool scenario_topo_has_dir(enum scenario_topo t, const char *from, const char *to);
/* True when hop is a hop direction of the topology written "SENDER->RECEIVER"
 * ("upstream->proxy"); then *from and *to (when not NULL) are the topology's own names. */
bool scenario_topo_hop(enum scenario_topo t, const char *hop, const char **from, const char **to);

const char *scenario_sec_name(enum scenario_sec sec);

/* The value of a merged setting of a program (NULL when absent; "" for a bare flag). */
const struct scenario_setting *scenario_prog_get(const struct scenario_prog *p, const char *name);
const struct scenario_prog *scenario_cell_prog(const struct scenario_cell *c, const char *name);

/* The cell's native lines for proxy kind `kind`: the scenario's, then the mitigation's. Returns
 * a malloc'd array (free it; NULL with *n == 0 when there are none, or when out of memory: then
 * returns -1). */
int scenario_cell_native(const struct scenario_cell *c, const char *kind, const char ***out,
                         size_t *n);

/* Whether the cell has checks for proxy kind `kind` (NULL or "racelab": racelab-proxy's). */
bool scenario_cell_has_kind(const struct scenario_cell *c, const char *kind);

/* Whether name is a proxy kind expect_kind may name: racelab, or a folder of proxies/ (of the
 * current folder when it has one, else of the source tree). On false, known lists the kinds
 * ("racelab, apache, envoy, haproxy, nginx"). */
bool scenario_kind_known(const char *name, char *known, size_t knownlen);

/* Client kinds (a downstream's `kind:`, --client) and server kinds (an upstream's `kind:`,
 * --server): "racelab" (racelab-downstream / racelab-upstream) or a driver of clients/ and
 * servers/ (racelab-client-KIND, racelab-server-KIND; docs/clients.md, docs/servers.md). */
bool scenario_peer_kind_known(bool client, const char *kind);
/* The kinds as a list for a message: "racelab, curl, go, node, python-requests". */
const char *scenario_peer_kinds(bool client);
/* The program of a kind: "racelab-downstream" / "racelab-upstream" for racelab, else
 * "racelab-client-KIND" / "racelab-server-KIND", written into buf. */
const char *scenario_peer_program(bool client, const char *kind, char *buf, size_t len);
/* Whether kind is racelab's own peer (NULL counts as racelab). */
bool scenario_peer_is_racelab(const char *kind);

/* Whether outcome ("200", "reset", ...) counts as success in the cell. */
bool scenario_cell_success(const struct scenario_cell *c, const char *outcome);

#endif
