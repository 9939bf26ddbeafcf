/* up_conn — one accepted connection of racelab-upstream: reads a request, answers it as the
 * flags say, and closes when and how the flags say.
 *
 * The socket is driven directly (no bufferevent) because what matters here is exactly which
 * bytes the server has read from the kernel when it closes: the request head is peeked and then
 * consumed to its last byte, never beyond, so a body (or a pipelined request) the server chose
 * not to read is still in the receive queue and turns close() into an RST. */
#ifndef RACELAB_UP_CONN_H
#define RACELAB_UP_CONN_H

#include <event2/event.h>
#include <stdint.h>

#include "jl.h"
#include "keep.h"
#include "up_cfg.h"

struct up_conn;

struct up_srv {
    struct event_base *base;
    const struct up_cfg *cfg;
    int log_fd; /* -1: no log */
    int lport;
    unsigned long next_id;
    struct up_conn *conns; /* every open connection, for the close at exit */
    uint64_t rng;          /* --close-random's draws (xorshift64*, seeded by --seed) */
    struct keep keep;      /* --log-keep */
    /* counters, in the exit event with --log-keep failures */
    unsigned long requests, responses, random_closes, abnormal_closes;
};

/* The exit event's counters (with --log-keep failures) added to j. */
void up_log_counters(const struct up_srv *s, struct jl *j);

/* Starts a log record with ts_us and event. */
void up_log_begin(struct jl *j, const char *event);
void up_log_write(struct up_srv *s, struct jl *j);

/* Takes ownership of fd (an accepted, non-blocking socket). */
int up_conn_start(struct up_srv *s, int fd);

/* Closes every connection (why=exit), as on SIGTERM. */
void up_conn_close_all(struct up_srv *s);

#endif
