/* px — the proxy's shared context: the event base, the configuration, the upstream pool, the
 * stats and the access log, and the few types every module speaks (response flags, reset
 * reasons, deferred frees).
 *
 * One request travels: px_down (downstream connection parses the request) -> px_pool (picks a
 * pooled connection, opens one, or queues the request; the attach policy and the reuse check
 * live there) -> px_pool parses the upstream response -> px_down writes it downstream ->
 * px_close (immediate, delayed or lingering close: the one place that decision is made).
 * Retries (px_retry) and the access log (px_log) hang off the request's end. */
#ifndef RACELAB_PX_H
#define RACELAB_PX_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "px_cfg.h"
#include "px_stats.h"

struct event_base;
struct event;
struct px_pool;
struct px_dconn;
struct px_closing;

/* Envoy's response flags (StreamInfo::ResponseFlag) that this proxy can set. */
enum {
    PX_F_UF = 1u << 0,  /* upstream connection failure */
    PX_F_UC = 1u << 1,  /* upstream connection termination */
    PX_F_UO = 1u << 2,  /* upstream overflow (pending queue full) */
    PX_F_UT = 1u << 3,  /* upstream request timeout */
    PX_F_LR = 1u << 4,  /* local reset */
    PX_F_URX = 1u << 5, /* upstream retry limit exceeded */
    PX_F_DC = 1u << 6,  /* downstream connection termination */
    PX_F_DPE = 1u << 7, /* downstream protocol error */
    PX_F_UPE = 1u << 8, /* upstream protocol error */
};

/* Joins the flags as Envoy prints them ("UC,URX"), "-" when none; returns buf. */
const char *px_flags_str(unsigned flags, char *buf, size_t cap);

/* Objects closed inside a callback are freed after the callbacks of this loop iteration have
 * returned (Envoy's deferredDelete), so a pointer still on the stack never dangles. */
struct px_deferred {
    struct px_deferred *next;
    void (*free_fn)(struct px_deferred *);
};

struct px {
    const struct px_cfg *cfg;
    struct event_base *base;
    struct px_pool *pool;
    struct px_stats stats;
    int access_fd;           /* -1: no access log */
    struct keep access_keep; /* --access-log-keep: which requests get a line */
    int lport;               /* the listener's port */
    long down_open; /* client sockets open: connections and those px_close is still closing */
    LIST_HEAD(, px_dconn) dconns;
    LIST_HEAD(, px_closing) closings;
    struct px_deferred *graveyard;
    struct event *reaper;
    uint64_t rng; /* xorshift state for retry jitter */
    /* libevent common timeouts: O(1) re-arming of the per-request and per-connection timers */
    const struct timeval *down_idle_tv;
    const struct timeval *rq_timeout_tv;
    const struct timeval *head_timeout_tv;
};

void px_defer_free(struct px *px, struct px_deferred *d);
/* Frees everything deferred so far (the reaper's callback, and at exit). */
void px_reap(struct px *px);

uint64_t px_random(struct px *px);

/* Arms (or re-arms) a timer for ms milliseconds. */
void px_arm_ms(struct event *ev, long ms);

/* A libevent common timeout of ms (NULL when ms is 0). */
const struct timeval *px_common_timeout(struct px *px, long ms);

#endif
