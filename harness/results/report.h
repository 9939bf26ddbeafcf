/* report — what a run reports: one progress line per finished cell (stderr), the table (stdout),
 * results.json (the contract in docs/design.md), junit.xml (junit.h: one testcase per cell), and
 * the words of `racelab repro`. */
#ifndef RACELAB_REPORT_H
#define RACELAB_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "expect.h"
#include "junit.h" /* junit.xml: report_junit */
#include "suite.h"

/* The version results.json records ("racelab_version"); racelab merge joins only results of
 * the same version. Raise it with any change to what a cell measures or how it is checked. (The
 * build's commit is facts.racelab_version.) */
#define RACELAB_RESULTS_VERSION "0.1.0"

/* What became of a cell: skipped (not run: a --proxy kind that is not installed), unsupported (not
 * run: the --proxy kind cannot express its settings; like skipped, reported and not failing), error
 * (it could not complete: "error"), measured (run with a --proxy kind the scenario states no
 * expectations for: its verdict in words, not failing), failed (an expectation failed), or
 * passed. The table, the progress line and junit.xml all say it from this. */
enum report_status {
    REPORT_PASSED,
    REPORT_FAILED,
    REPORT_ERROR,
    REPORT_SKIPPED,
    REPORT_UNSUPPORTED,
    REPORT_MEASURED,
};

enum report_status report_status(const struct suite_cell *sc);

/* "PASS", "FAIL", "ERROR", "SKIP", "UNSUPPORTED", "MEASURED" */
const char *report_status_word(enum report_status st);

/* How many checks of the cell object's "expect" are in state st. */
size_t report_checks(const json_t *cell, enum expect_state st);

/* A cell's result for the table and the progress line: its status word, with the number of its
 * checks that were skipped (not observable in this run) when there are any: "PASS",
 * "PASS (2 checks skipped)". */
void report_result(char *buf, size_t len, const struct suite_cell *sc);

/* One check of the cell's "expect" in a line: "FILE:LINE: CHECK (got VALUE) - WHY", the value
 * and the reason only when the check has them. */
void report_check_line(char *buf, size_t len, const char *path, const json_t *check);

/* Calls fn(ctx, line) for each check of the cell object in state st, in order, with the line
 * report_check_line makes of it (path: the scenario file). */
void report_each_check(const json_t *cell, const char *path, enum expect_state st,
                       void (*fn)(void *ctx, const char *line), void *ctx);

/* A report_each_check fn: "  LINE\n" to the FILE * ctx. */
void report_print_indented(void *out, const char *line);

void report_progress(FILE *out, const struct suite_cell *sc, size_t done, size_t total,
                     double elapsed_s);

enum report_table {
    REPORT_TABLE_RUN, /* scenario, mitigation, trials, failures, outcomes, RSTs, flags, p50/p99 */
    REPORT_TABLE_COMPARE, /* one case: failure rate, outcomes, RSTs, flags, p50/p99, throughput */
};

void report_table(FILE *out, const struct suite *su, enum report_table kind);

/* The cell object with the contract's fields first (docs/design.md: scenario, mitigation, trials,
 * failures, outcomes, rst, proxy_flags, latency_ms, expect, capture), then the rest. */
json_t *report_ordered(const json_t *cell);

/* {"run_id", "racelab_version", "shard": {"index", "count", "cells", "cells_total"} (with
 * --shard), "repeat": N (with --repeat), "wall_s", "passed", ..., "cells": [...]} */
json_t *report_results(const struct suite *su, const char *run_id);

/* `racelab repro`: what happened in the cell, in words. */
void report_words(FILE *out, const struct scenario *s, const json_t *cell);

/* `racelab repro`: whether the cell's expectations held (the verdict of repro), and each
 * failed check with its file:line. */
void report_verdict(FILE *out, const struct scenario *s, const json_t *cell);

/* "200=98 503=2" from an object of counts, zero counts left out ("-" when all are zero). */
void report_counts(char *buf, size_t len, const json_t *obj, bool short_hops);

#endif
