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

struct suite_cell {
    struct scenario_cell cell;
    char dir[1024]; /* the cell's folder (logs, pcap, cell.json) */
    pid_t pid;
    double t0;
    bool done;
    bool skipped;     /* not run (why in the result) */
    bool unsupported; /* not run either: the --proxy kind, or a client or server driver,
                       * cannot express the cell's settings (the latter known once it ran) */
    json_t *result;   /* the cell object of results.json, with "expect" */
    bool passed;
};

struct suite {
    struct suite_cell *cells;
    size_t n, cap;
    const char *out_dir;
    struct run_env env;
    char kind_missing[512]; /* with --proxy KIND not installed: "envoy not installed (...)" */
    char kind_version[256]; /* what its binary says of its version ("nginx version: ...") */
    /* client and server kinds probed so far (run_peer_probe): NULL why when it can run */
    struct suite_peer {
        bool client;
        const char *kind;
        char *why;
    } * peers;
    size_t npeers;
    long jobs;
    bool keep_going;  /* go on after a cell that could not start (default: stop launching) */
    bool quiet;       /* no progress lines */
    bool interrupted; /* set when SIGINT/SIGTERM stopped the run */
    double wall_s;
};

/* Adds cell (s, m) to the suite with trials_override (> 0) applied; with --proxy-cmd, a
 * mitigation that changes proxy settings without proxy_cmd_args is added as skipped; with
 * --proxy KIND, a cell with a proxy is added as unsupported when the kind cannot express its
 * settings, as skipped when the kind is not installed. The run's --client / --server replace
 * the cell's client and server kinds; a cell whose client or server driver cannot run here
 * (peer.h) is added as skipped. Returns 0 or -1 (out of memory). */
int suite_add(struct suite *su, const struct scenario *s, const struct scenario_mit *m,
              long trials_override, char *err, size_t errlen);

/* Runs every cell; fills result/passed of each. Returns 0, or -1 when the run was interrupted. */
int suite_run(struct suite *su);

void suite_free(struct suite *su);

/* True when every cell ran and passed. */
bool suite_passed(const struct suite *su);

/* Default --jobs: one cell per core (each cell is mostly waiting on timers and the wire). */
long suite_default_jobs(void);

/* mkdir -p; 0 or -1 with errno. */
int suite_mkdirs(const char *path);

#endif
