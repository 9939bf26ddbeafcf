/* cell — one cell (scenario × mitigation) from start to evidence.
 *
 * In a process of its own: network namespace → capture on lo → wire rules → upstream,
 * proxies (back to front, each ready when it listens: netns_listening) → downstream (all
 * trials) → wire rules off (what they held is delivered) → the proxies stopped (they write
 * their stats), then the upstream (struct run_stop) → capture closed → capture analysed and
 * joined with the records → the cell object of results.json.
 * Whatever happens (failure, timeout, SIGINT/SIGTERM), every process is stopped and reaped,
 * and the capture is closed, so its pcap is complete. */
#ifndef RACELAB_CELL_H
#define RACELAB_CELL_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "scenario.h"

/* Ports inside a cell's namespace: fixed, so that wire rules can name them before anything
 * starts. Proxies listen on 8000 (proxy, proxy1) and 8001 (proxy2); the upstream on 9000. */
#define RUN_PROXY_PORT    8000
#define RUN_UPSTREAM_PORT 9000

/* How a program of a cell is stopped once the downstream has finished its trials: settle_ms
 * after the downstream's end (not one after the other: one settle time for all), then sig;
 * SIGKILL RUN_STOP_GRACE_MS after sig, which makes the cell an error. The settle time lets a
 * proxy finish what the last trials left it (nginx discarding the tail of an upload closes
 * with an RST when stopped in the middle) before it is told to stop. Kept as data, so that a
 * proxy's adapter can say how that proxy stops (nginx's graceful stop is SIGQUIT). A cell that
 * is interrupted, or whose downstream did not finish, stops its programs without settling. */
struct run_stop {
    int sig;
    long settle_ms;
};

#define RUN_STOP_GRACE_MS 5000
/* racelab's own programs: SIGTERM at once (they write their stats and logs on it) */
#define RUN_STOP_OWN ((struct run_stop){SIGTERM, 0})
/* a --proxy-cmd proxy without --proxy-stop-settle */
#define RUN_PROXY_CMD_SETTLE_MS 200

struct kind;

struct run_env {
    const char *bin_dir;        /* racelab-upstream, racelab-downstream, racelab-proxy */
    const char *proxy_cmd;      /* --proxy-cmd template, or NULL */
    const struct kind *kind;    /* --proxy KIND (proxies/KIND/adapter.yaml), or NULL */
    const char *kind_binary;    /* the kind's binary, NULL when it is not installed */
    struct run_stop proxy_stop; /* how a --proxy-cmd or KIND proxy is stopped */
    /* --proxy A+B, the kinds of a chain's two proxies: kind (A) is proxy1's, kind2 (B)
     * proxy2's, either NULL for racelab-proxy */
    bool chain;
    const struct kind *kind2;
    const char *kind2_binary;
    struct run_stop proxy2_stop;
    bool netns; /* false with --no-netns: host loopback, free ports, no wire faults */
    enum capture_mode capture; /* --capture: headers (default) or full */
    /* --client KIND, --server KIND: every cell's client and server kind (NULL: each cell's
     * own, scenario_cell's client_kind and server_kind) */
    const char *client_kind;
    const char *server_kind;
};

/* The proxy at topology index idx (1, or 2 of a chain): its kind (NULL: racelab-proxy, or
 * the --proxy-cmd command when there is one), and when bin/stop are given its binary and how
 * it stops. */
const struct kind *run_env_kind(const struct run_env *env, size_t idx, const char **bin,
                                struct run_stop *stop);

/* True when every proxy of the run is racelab-proxy (its access log and stats are there). */
bool run_env_own_proxies(const struct run_env *env);

/* Runs cell c with every file in dir (which exists). Enters a network namespace when
 * env->netns: call it in a forked, single-threaded child. Returns the cell object (with
 * "error" set when the cell could not complete), NULL only when out of memory. *stop becomes
 * non-zero on SIGINT/SIGTERM: the cell then stops early and cleans up. */
json_t *run_cell(const struct scenario_cell *c, const struct run_env *env, const char *dir,
                 volatile sig_atomic_t *stop);

/* The listening port of each program of the topology (index as in scenario_topo_nodes; the
 * downstream's entry is 0). With netns the fixed ports; without, free ports of the host. */
int run_ports(enum scenario_topo t, bool netns, uint16_t ports[4], char *err, size_t errlen);

/* Reads a JSON-lines file of a cell (records, access logs, the upstream's log): NULL when it
 * does not exist; an array (possibly empty) otherwise. A line that does not parse is a broken
 * contract between programs: the first one is reported in err (when err is still empty). */
json_t *run_read_jsonl(const char *path, char *err, size_t errlen);

/* A cell object with only its identity and an error (for cells that never ran): "failures"
 * is null, since no trial ran. */
json_t *run_error_cell(const struct scenario_cell *c, const char *error);

#endif
