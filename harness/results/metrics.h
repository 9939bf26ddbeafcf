/* metrics — a cell's metrics: the downstream's records, the proxies' access logs and stats, the
 * upstream's events and the capture's flows joined into the cell object of results.json.
 *
 * Trials: a trial is one downstream trial (C connections × R requests); its outcome is the
 * first request outcome (by start time) that is not a success, else the first request's
 * (successful) outcome. `outcomes` and `failures` count trials; `requests` keeps the per-request
 * counts. A trial without any record (the client was stopped) counts as `missing`.
 *
 * Attribution by port: each downstream record names its connection (lport; a client driver's
 * record every connection its library sent the request on, lports) on the first hop;
 * each access-log record of a proxy names the downstream port it served (dport) and the local
 * port of every upstream attempt, i.e. the connections of the next hop (in a chain, proxy1's
 * upstream ports are proxy2's dports). A flow is used by the requests that name it; a packet on
 * a flow used by several trials belongs to the use whose time window contains it, or else the
 * last one that started before it.
 *
 * Without access logs (a foreign --proxy KIND, --proxy-cmd) the last hop, proxy↔upstream, is
 * attributed through the upstream's log instead: racelab-downstream tags every request
 * (X-Racelab-Trial: T.C.R), the proxy forwards the header, and racelab-upstream logs it as
 * `tag` on its request event next to rport, the proxy's local port of that connection: trial T
 * used that connection within request T.C.R's window (the client's record of it). A request
 * the upstream never read (written onto a connection it had closed: its kernel answers with an
 * RST) leaves no event; a proxy->upstream data packet that no tagged use covers is taken as a
 * use by the trial whose request was in flight then, when exactly one was. Packets are then
 * given to uses as above. With no tag in the upstream's log (--no-tag) only
 * the first hop is attributed; in a chain of two foreign proxies the middle hop stays
 * unattributed (no racelab program on either side of it).
 *
 * Teardown: once the downstream has finished every trial, the cell delivers what the wire
 * still holds and then stops its programs (run/cell.c). An RST after the first stop signal
 * (teardown_us) that also comes after the last request of the trial its connection served
 * ended — or on a connection no trial used — is the stopping's, not a trial's: it is given
 * to no trial (trials_with_rst, failing_rst, failing_trials[].rst, rst_on_failing) and is
 * not unattributed_rst either; it is counted in teardown_rst of its direction. The
 * per-direction counters (rst, ...) still count every packet. */
#ifndef RACELAB_METRICS_H
#define RACELAB_METRICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"
#include "explain.h"
#include "scenario.h"

struct metrics_input {
    const struct scenario_cell *cell;
    const json_t *records;   /* downstream request records (array), NULL when none */
    const json_t *access[2]; /* access log of each proxy, front first (arrays) */
    const json_t *stats[2];  /* stats object of each proxy */
    size_t nproxies;
    bool access_log;                   /* the proxies wrote access logs (not with --proxy-cmd) */
    const json_t *upstream_log;        /* upstream events (array), NULL when none */
    const struct analysis_result *ana; /* NULL when nothing was captured */
    const struct analysis_hop *hops;   /* hop i joins program i and i+1 of the topology */
    size_t nhops;
    /* when the cell sent the first stop signal to a program, after the downstream had
     * finished every trial (µs since the epoch, the capture's clock); 0 when the downstream
     * did not finish (timeout, interrupted): then no RST is taken as teardown */
    uint64_t teardown_us;
};

/* Builds the metrics part of the cell object (trials, failures, failure_rate, outcomes,
 * requests, the packet counters of ANALYSIS_RESULT_COUNTERS per hop direction — rst, fin, syn,
 * data_after_fin, rst_after_data, data_packets, rst_abort —, failing_rst, trials_with_rst,
 * attributed, unattributed_rst, teardown_rst, failing_trials, access_log, proxy_flags, stats,
 * proxies, upstream, latency_ms, downstream_wall_s, throughput_rps, sweep, sweep_stats). NULL with
 * err on out of memory. Each failure_rate has its failure_rate_ci next to it (interval.h). */
json_t *metrics_build(const struct metrics_input *in, char *err, size_t errlen);

/* The trial whose requests took longest, from its first request's start to its last
 * outcome (racelab repro draws it when no trial failed: a case whose race is a cost). Returns
 * its index and *ms its span, or -1 when there is no record. */
long metrics_slowest_trial(const json_t *records, double *ms);

/* One trial's connections on every hop, to draw it alone (racelab repro): its downstream
 * connections from the records (hop 0, drawn whole: a client's connection is its trial's
 * alone), and through each proxy's access log (front first) the next hop's connections its
 * requests used (hop p + 1, within each request's time at that proxy; in a chain proxy1's
 * upstream ports are proxy2's dports). Without access logs for it (a foreign proxy:
 * nproxies <= upstream_hop - 1), the upstream hop (upstream_hop, 0 for none) through the
 * upstream's log: the rport of each request event tagged with one of the trial's requests,
 * within that request's time at the client (metrics.h); a connection other trials' tags name
 * too is clipped. A request the upstream never read names no connection here. *first_us,
 * *last_us: the trial's first request start and last outcome. Returns a malloc'd array of *n
 * selections; NULL with *n = 0 when the trial has no record (or out of memory). */
struct explain_flow_sel *metrics_trial_flows(const json_t *records, const json_t *const *access,
                                             size_t nproxies, const json_t *upstream_log,
                                             size_t upstream_hop, long trial, size_t *n,
                                             uint64_t *first_us, uint64_t *last_us);

/* The failing trial to draw: the first of the cell's failing_trials with an RST on some hop,
 * else the first one; NULL when none failed. */
const json_t *metrics_failing_pick(const json_t *cell);

/* What metrics_trial_flows selects for trial, from a cell's folder dir: the access logs
 * NODE.access.jsonl of its proxies (access_log: they wrote racelab access logs), else the
 * upstream.log's tags; nodes: the topology's programs in order (downstream, proxies...,
 * upstream). A hop behind the proxy that neither joins to the trial (a chain's middle hop under
 * foreign proxies, every hop without tags) is selected whole within the trial's time. Returns
 * a malloc'd array of *nsel, or NULL (no record of the trial, out of memory). */
struct explain_flow_sel *metrics_trial_select(const char *dir, const char *const *nodes,
                                              size_t nnodes, bool access_log, const json_t *records,
                                              long trial, size_t *nsel, uint64_t *from,
                                              uint64_t *to);

/* Duplicate executions (metrics_dup.c): the upstream's request events grouped by their tag
 * (X-Racelab-Trial: T.C.R, one per client request, the same on every copy a client library or
 * a proxy resends); a request the upstream executed k > 1 times counts k - 1. Sets in out
 * "duplicates" (the cell's total), "trials_with_duplicates" and "duplicates_by_trial" (an
 * object of trial index to count, only trials with some), or "duplicates": null with
 * "duplicates_why" when the cell cannot count them: no upstream log, or a client that sends no
 * tag (`no-tag` in the downstream settings). 0, or -1 when out of memory. */
int metrics_duplicates(json_t *out, const json_t *upstream_log, long ntrials,
                       const struct scenario_cell *c);

/* Percentile (nearest rank) of n sorted values; 0 when n == 0. */
double metrics_percentile(const double *sorted, size_t n, double p);

#endif
