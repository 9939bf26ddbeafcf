/* expect — expectations: which metric names a scenario may check, and evaluating checks against
 * a cell's results (the cell object of results.json).
 *
 * A metric is a dotted path into the cell object: `failures`, `outcomes.503`,
 * `rst.upstream->proxy`, `proxy_flags.UC`, `latency_ms.p99`, `stats.upstream_rq_retry`...
 * Counts under a known family that did not occur (no 503 at all) read as 0. A check passes or
 * fails, or is skipped when the run could not observe the metric (no capture; a foreign proxy
 * via --proxy-cmd has no access log) — skipped checks are reported, never silently passed as
 * evidence. */
#ifndef RACELAB_EXPECT_H
#define RACELAB_EXPECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "scenario.h"

/* Whether metric names a number of a cell of topology t. *countable tells whether it counts
 * (so "99%" means 99% of the cell's trials), *rate whether it is a fraction (so "5%" means
 * 0.05). Returns 0, or -1 with the reason. */
int expect_metric_check(enum scenario_topo t, const char *metric, bool *countable, bool *rate,
                        char *why, size_t whylen);

/* The metric families expect_metric_check knows, in order (0, 1, ... until NULL): the name of
 * family i ("failures", "latency_ms.p99", "outcomes", "rst") and in *tail how a metric of it
 * goes on: "" (the name alone), ".X" (any key: outcomes.503), ".A->B" (a hop direction of the
 * topology: rst.upstream->proxy), ".NAME.X" (a proxy of the topology, then any key). The
 * per-direction packet counters among them are analysis.h's ANALYSIS_RESULT_COUNTERS. */
const char *expect_metric_family(size_t i, const char **tail);

/* The families as a short list for a message, "trials, failures, ..., latency_ms.p50|p90|...,
 * rst|fin|...|trials_with_rst.A->B, ...": what an unknown metric's error names. */
void expect_metric_list(char *buf, size_t len);

/* Whether metric can never exceed the cell's trial count (trials, failures, outcomes.X,
 * failing_rst.D, trials_with_rst.D) or 1 (the rates): a percentage above 100% of it can never
 * hold. Per-request counts, packets and the proxies' counters can (two requests per trial
 * make requests.total 200%). */
bool expect_metric_bounded(const char *metric);

/* A human-readable form of a check: "failures >= 99% of trials". */
void expect_describe(const struct scenario_check *c, char *buf, size_t len);

/* What became of one check: it held, it did not, or the run could not observe its metric. */
enum expect_state {
    EXPECT_PASSED,
    EXPECT_FAILED,
    EXPECT_SKIPPED,
};

/* Evaluates checks against cell and returns {"passed": bool, "checks": [{"check", "line"?,
 * "value"?, "passed", "state", "skipped"?, "why"?}]}. A check's "state" is "passed", "failed"
 * or "skipped"; its "passed" is true only in state "passed" (a skipped check is not evidence),
 * and a skipped check also has "skipped": true. The cell's "passed" (and *passed) is false when
 * a check failed; skipped checks do not fail it. A cell with "error" has one check, "the cell
 * ran to completion", failed. NULL on out of memory. */
json_t *expect_eval(const struct scenario_check *checks, size_t n, const json_t *cell,
                    bool *passed);

/* expect_eval for scenario cell c run with proxy kind `kind` (--proxy KIND; NULL for
 * racelab-proxy or a --proxy-cmd): of c's checks, the kind's (struct scenario_check's
 * proxy_kind: NULL or "racelab" are racelab-proxy's). A foreign kind without checks of its own
 * is measured, not checked: {"passed": true, "kind", "measured": true, "verdict"
 * (expect_verdict), "checks": []} when the cell ran (its "failures" a count, no "error");
 * otherwise as expect_eval with no checks (a cell in error fails). A foreign kind's result
 * always has "kind". */
json_t *expect_eval_cell(const struct scenario_cell *c, const char *kind, const json_t *cell,
                         bool *passed);

/* expect_eval_cell's result set as the cell object's "expect", and a measured cell's verdict
 * as its "verdict". Returns whether the cell passed (a measured cell does: it does not fail a
 * run); false when out of memory. */
bool expect_apply(json_t *cell, const struct scenario_cell *c, const char *kind);

/* What a cell measured, in one line: "race reproduced: 20/40 trials 502, RST upstream->proxy in
 * 20" or "no failure in 40 trials" (then the RSTs, if any: "; RST upstream->proxy x40 (hop
 * total)"). The failing outcomes (those not in success[0..nsuccess), "200" when nsuccess is 0);
 * on each direction whose packets were attributed to trials the failing trials with an RST
 * (failing_rst; trials_with_rst when none failed), on the others the hop total (rst less
 * teardown_rst); "(no capture)" without one. */
void expect_verdict(const json_t *cell, const char *const *success, size_t nsuccess, char *buf,
                    size_t len);

/* Whether the cell object's "expect" is a measured verdict (expect_eval_kind). */
bool expect_measured(const json_t *cell);

/* "passed", "failed", "skipped": the "state" of a check in results.json. */
const char *expect_state_name(enum expect_state st);

/* The state of a check object of expect_eval's "checks": its "state"; without one, "skipped":
 * true, else "passed": true, else failed. */
enum expect_state expect_check_state(const json_t *check);

/* The value of metric in cell (0 for an absent count of a known family). Returns 0, 1 when the
 * metric is not observable in this cell (why says so), or -1 when absent. */
int expect_metric_value(const json_t *cell, const char *metric, double *v, char *why,
                        size_t whylen);

#endif
