/* soak — racelab soak: one natural-timing cell (no wire faults) run for a time or a number of
 * requests at the highest rate the machine sustains, its failure rate measured with its 95%
 * interval, and only the failing requests captured and recorded (capture_ring.h, the programs'
 * --records-keep / --log-keep / --access-log-keep). soak.c: the command, its flags, the
 * result; soak_lab.c: the namespace, the programs, following the client's failures. */
#ifndef RACELAB_SOAK_H
#define RACELAB_SOAK_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"
#include "capture.h"
#include "capture_ring.h"
#include "child.h"
#include "scenario.h"

enum soak_capture { SOAK_CAP_FAILURES, SOAK_CAP_ALL, SOAK_CAP_OFF };
enum soak_records { SOAK_REC_FAILURES, SOAK_REC_ALL, SOAK_REC_OFF };

struct soak_flags {
    const char *mitigation;
    const char *out;
    long duration_ms; /* 0 with --requests */
    long requests;    /* 0 with --duration */
    long rate;        /* 0: as fast as it goes */
    long conns;
    long keep;   /* --keep-failures K */
    int capture; /* enum soak_capture */
    int records; /* enum soak_records */
    long sample; /* good records kept: one in N (0: none) */
    long ring_slots;
    bool duration_set, requests_set;
};

/* One failing request whose packets are kept. */
struct soak_fail {
    uint16_t lport;
    char outcome[16];
    uint64_t start_us, end_us;
    uint64_t from_us, to_us; /* the window asked of the ring */
    bool reused;
    int status;
    char flags[32]; /* the proxy's flags for it, "" when no proxy record was found */
    uint16_t ports[RING_MAX_PORTS]; /* [0] the client's port, then the proxies' upstream ports */
    size_t nports;
    bool proxy_matched;
    uint64_t seen_mono; /* when its record was read */
    bool sent;          /* asked of the ring */
    char rst[4][48];    /* the hop directions with an RST in its window (after the analysis) */
    size_t nrst;
};

/* A proxy's access-log line, as much as matching needs. */
struct soak_pxrec {
    uint16_t dport;
    uint64_t start_us, end_us;
    int status;
    char flags[32];
    uint16_t up[4];
    size_t nup;
};

#define SOAK_PXRECS 4096

/* A file another process appends JSON lines to, read as it grows. */
struct soak_tail {
    int fd;
    char buf[65536];
    size_t len;
};

struct soak {
    struct soak_flags f;
    char bin[PATH_MAX];
    char dir[PATH_MAX];
    struct scenario *s;
    struct scenario_cell cell;
    bool cell_built;
    const char *names[4];
    size_t nnodes;
    uint16_t ports[4];
    struct analysis_hop hops[3];
    size_t nhops;
    struct child procs[4];
    struct ring_cap *ring;
    struct cap *full;
    struct ring_stats rstats;
    struct capture_stats cstats;
    char pcap[PATH_MAX + 32];
    volatile sig_atomic_t *stop;
    bool interrupted;
    char error[1024];
    size_t wire_dropped;
    long trials; /* given to the client */
    /* what the client said */
    struct soak_tail dn;
    unsigned long requests, failures; /* from its latest counters line */
    char *outcomes_json;              /* its latest "outcomes", as JSON text */
    char *latency_json;               /* its latest "latency_log2_us" */
    bool final_seen;
    unsigned long failures_read; /* failing records read */
    /* the proxies' failing requests, most recent first-come */
    struct soak_tail px[2];
    struct soak_pxrec *pxrec[2];
    size_t npxrec[2];
    /* the failures kept: captured (at most f.keep) */
    struct soak_fail *kept;
    size_t nkept;
    uint64_t t0_mono, t0_real, end_mono;
    /* CPU time (clock ticks, user + system) of each program, from /proc as last seen alive:
     * the client at each poll while it runs, the servers and the ring just before they stop */
    uint64_t cpu_ticks[4];
    uint64_t ring_ticks;
    uint64_t last_progress_mono;
    unsigned long last_progress_requests;
    double rate_rps;
};

/* soak_lab.c */
int soak_lab_start(struct soak *k);            /* namespace, capture, upstream, proxies, client */
void soak_lab_follow(struct soak *k);          /* until the client ends (time, count, signal) */
void soak_lab_stop(struct soak *k);            /* every program stopped, the capture completed */
void soak_progress(struct soak *k, bool last); /* soak.c: the progress line on stderr */

#endif
