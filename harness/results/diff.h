/* diff — what changed from one run to another (racelab diff OLD NEW): cells whose verdict
 * changed, failure rates that moved beyond their 95% intervals (interval.h), p50/p99 latency
 * that moved beyond a relative threshold and an absolute floor, cells new or removed.
 *
 * A cell is its (scenario, mitigation). Its verdict, from its object in results.json: SKIP
 * ("skipped"), UNSUPPORTED ("unsupported"), ERROR ("error"), else PASS or FAIL
 * (expect.passed). Rates and latency are compared only between cells that ran (PASS or FAIL).
 *
 * A regression, what makes racelab diff exit 1: a verdict PASS → FAIL or PASS → ERROR, or a
 * failure rate up beyond the intervals (NEW's 95% Wilson interval wholly above OLD's), or, with
 * fail_on_latency, a p50/p99 up beyond the threshold. docs/harness.md, "racelab diff". */
#ifndef RACELAB_DIFF_H
#define RACELAB_DIFF_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define DIFF_LATENCY_PCT      50.0
#define DIFF_LATENCY_FLOOR_MS 1.0

struct diff_opts {
    double latency_pct;      /* a latency moved when |new - old| > latency_pct% of old ... */
    double latency_floor_ms; /* ... and |new - old| >= latency_floor_ms */
    bool fail_on_latency;    /* a latency up counts as a regression */
};

/* Reads OLD or NEW: a results.json, or a run folder holding one. *file receives the path read
 * (malloc'd). Returns the results; NULL with err, which names the path, when the file cannot be
 * read or is not a racelab results.json (no "cells" array, a cell without scenario, mitigation,
 * trials, failures or verdict, a cell twice). */
json_t *diff_load(const char *path, char **file, char *err, size_t errlen);

/* The changes from old to new (both from diff_load):
 * {"old": {"path", "run_id", "cells"}, "new": {...}, "latency_threshold_pct",
 *  "latency_floor_ms", "fail_on_latency", "regression": BOOL, "regressions": [CELL...],
 *  "counts": {...}, "changes": [...]} — regressions first; docs/harness.md has each field.
 * NULL when out of memory. */
json_t *diff_results(const json_t *old, const char *old_path, const json_t *new,
                     const char *new_path, const struct diff_opts *o);

/* The changes as a table, the failed checks of the cells that regressed, and a summary. */
void diff_print(FILE *out, const json_t *d);

#endif
