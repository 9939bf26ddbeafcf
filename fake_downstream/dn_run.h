/* dn_run — racelab-downstream's trials: starts them (--parallel at once, --trial-gap apart),
 * each with --conns connections opened together, writes one record per request and keeps the
 * counts for the summary line. */
#ifndef RACELAB_DN_RUN_H
#define RACELAB_DN_RUN_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dn_cfg.h"
#include "keep.h"

struct dn_conn;

struct dn_trial {
    struct dn_run *run;
    struct dn_trial *next, *prev;
    long index;
    long conns_left;
    struct dn_conn **conns;
};

#define DN_MAX_OUTCOMES 32
/* latency histogram of the counters line: bucket i holds [2^i, 2^(i+1)) µs (0: under 2 µs) */
#define DN_LAT_BUCKETS 32

struct dn_outcome_count {
    char name[16];
    unsigned long n;
};

struct dn_run {
    struct event_base *base;
    const struct dn_cfg *cfg;
    int rec_fd;
    /* the request head, the same for every request: head_len bytes, the first head_base of
     * which are sent as they are; with the tag, each request's DN_TAG_HEADER line and the blank
     * line that ends the head follow them (dn_conn.c), else head_base == head_len */
    char *head;
    size_t head_len;
    size_t head_base;
    long next_trial;
    long running;
    long completed;
    struct dn_trial *trials; /* running trials, for the cleanup on SIGTERM */
    unsigned long requests;
    struct dn_outcome_count outcomes[DN_MAX_OUTCOMES];
    size_t noutcomes;
    bool failed; /* an internal error (not an outcome) */
    /* --records-keep failures: which records are written, and the counters kept instead */
    struct keep keep;
    unsigned long failures; /* requests whose outcome is not a 2xx status */
    unsigned long lat_hist[DN_LAT_BUCKETS];
    struct event *tick; /* the counters line, every second */
    /* --rate: when the next trial may start (monotonic µs) */
    uint64_t next_start_us;
    struct event *pace;
    bool pace_armed;
};

/* Builds the request head; 0 or -1 with err. */
int dn_run_init(struct dn_run *r, struct event_base *base, const struct dn_cfg *cfg, int rec_fd,
                char *err, size_t errlen);
/* Starts the first trials; the loop ends (event_base_loopexit) after the last one. */
void dn_run_start(struct dn_run *r);
/* Called by a connection when it has made all its requests (or given up). */
void dn_run_conn_done(struct dn_trial *t);
void dn_run_count(struct dn_run *r, const char *outcome);
/* Counts a finished request (failing: not a 2xx status; its latency) and says whether its
 * record is written (--records-keep). */
bool dn_run_keep(struct dn_run *r, bool failing, uint64_t latency_us);
/* Writes the counters line (`"type":"counters"`, `final` at exit) to the records: requests,
 * failures, outcomes, latency histogram. */
void dn_run_counters(struct dn_run *r, bool final);
/* Frees what is still running (after SIGTERM: their requests get no record). */
void dn_run_free(struct dn_run *r);
/* "200=100 reset=100" */
void dn_run_summary(const struct dn_run *r, char *buf, size_t cap);

#endif
