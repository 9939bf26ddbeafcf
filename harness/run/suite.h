/* suite — the matrix of a run: every selected scenario × mitigation is a cell, run in a
 * process of its own (its own network namespace, its own process group), up to `jobs` at a
 * time. SIGINT/SIGTERM stop the run: running cells are asked to stop (SIGTERM: they stop their
 * programs and close their captures), then killed after a grace period; nothing is left
 * running, and the results of the finished cells are still written. */
#ifndef RACELAB_SUITE_H
#define RACELAB_SUITE_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cell.h"
#include "scenario.h"
#include "shard.h"

#define SUITE_MAX_PROXIES 8

/* A proxy under test: `--proxy racelab,nginx,nginx+haproxy` gives a run three, and every cell
 * runs once with each. */
struct suite_proxy {
    char label[128]; /* racelab, nginx, nginx+haproxy, cmd: the name in tables and folders */
    struct run_env env;
    char missing[512];    /* a kind that is not installed: "envoy not installed (...)" */
    char version[2][256]; /* what the binary of each kind says of its version (proxy or
                           * proxy1, proxy2): "nginx version: nginx/1.22.1" */
};

struct suite_cell {
    struct scenario_cell cell;
    size_t px;            /* its proxy under test, in suite.px */
    const char *px_label; /* its label when the run has several (tables name it), else NULL */
    char dir[1024];       /* the cell's folder (logs, pcap, cell.json) */
    pid_t pid;
    double t0;
    bool done;
    bool skipped;        /* not run (why in the result) */
    bool unsupported;    /* not run either: the --proxy kind, or a client or server driver,
                          * cannot express the cell's settings (the latter known once it ran) */
    json_t *result;      /* the cell object of results.json, with "expect" */
    bool passed;         /* with --repeat: every repetition passed */
    size_t index;        /* its place in the whole matrix of the run, before --shard */
    long rep;            /* with --repeat N: this repetition, 1..N (its folder rep-K); else 0 */
    long reps;           /* folded (suite_fold_repeats): N, and... */
    size_t disagree;     /* ...how many repetitions' status differs from the verdict, ... */
    bool verdict_passed; /* ...which passed (the status most repetitions have) */
};

struct suite {
    struct suite_cell *cells;
    size_t n, cap;
    const char *out_dir;
    struct run_env env; /* what every proxy under test shares (bin_dir, netns) */
    struct suite_proxy px[SUITE_MAX_PROXIES];
    size_t npx; /* at least 1 once the run's proxies are known */
    /* client and server kinds probed so far (run_peer_probe): NULL why when it can run */
    struct suite_peer {
        bool client;
        const char *kind;
        char *why;
    } * peers;
    size_t npeers;
    long jobs;
    struct shard shard; /* --shard I/N (index 0: not sharded) */
    size_t cells_total; /* cells of the whole matrix, before --shard */
    long repeat;        /* --repeat N: each cell N times (0 or 1: once) */
    bool keep_going;    /* go on after a cell that could not start (default: stop launching) */
    bool keep_failing;  /* --keep failing: captures only of cells pack_failing() keeps */
    bool quiet;         /* no progress lines */
    bool interrupted;   /* set when SIGINT/SIGTERM stopped the run */
    double wall_s;
};

/* Adds cell (s, m) with proxy under test px to the suite with trials_override (> 0)
 * applied; with a --proxy KIND, a cell with a proxy is added as unsupported when the kind
 * cannot express its settings, as skipped when the kind is not installed (or when A+B, a
 * chain's kinds, meets a scenario with one proxy). The run's --client / --server replace the
 * cell's client and server kinds; a cell whose client or server driver cannot run here (peer.h)
 * is added as skipped. Its folder is OUT/SCENARIO/MITIGATION, or OUT/LABEL/SCENARIO/MITIGATION
 * when the run has several proxies under test. Returns 0 or -1 (out of memory). */
int suite_add(struct suite *su, const struct scenario *s, const struct scenario_mit *m, size_t px,
              long trials_override, char *err, size_t errlen);

/* The kind whose expectations apply to cell sc (expect.h): NULL for racelab-proxy or a
 * --proxy-cmd, the kind's name, or the label of a chain of kinds ("nginx+haproxy", which no
 * scenario states checks for: measured). */
const char *suite_cell_kind(const struct suite *su, const struct suite_cell *sc);

/* suite_add for repetition rep (1..su->repeat; its folder SCENARIO/MITIGATION/rep-REP) of the
 * cell at index of the whole matrix. */
int suite_add_rep(struct suite *su, const struct scenario *s, const struct scenario_mit *m,
                  size_t px, long trials_override, size_t index, long rep, char *err,
                  size_t errlen);

/* Runs every cell; fills result/passed of each. Returns 0, or -1 when the run was interrupted. */
int suite_run(struct suite *su);

void suite_free(struct suite *su);

/* suite_repeat.c — after suite_run with --repeat N: the N repetitions of each cell (added one
 * after another) become one cell. Its verdict is the status most repetitions have (a tie goes
 * to the one of the earliest repetition); its result is the first repetition of that status's,
 * with "repeat": {"count", "verdict", "disagree", "passed", "repetitions": [{"rep", "status",
 * "failures", "trials", "dir"}...]}; it passes (the run's exit status) only when every
 * repetition passed. 0, or -1 when out of memory. */
int suite_fold_repeats(struct suite *su);

/* True when every cell ran and passed. */
bool suite_passed(const struct suite *su);

/* Default --jobs: one cell per core (each cell is mostly waiting on timers and the wire). */
long suite_default_jobs(void);

/* mkdir -p; 0 or -1 with errno. */
int suite_mkdirs(const char *path);

#endif
