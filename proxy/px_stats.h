/* px_stats — the proxy's counters, written as one JSON object (docs/records.md) at exit and on
 * SIGUSR1. The names follow Envoy's stats where Envoy has one. */
#ifndef RACELAB_PX_STATS_H
#define RACELAB_PX_STATS_H

#include <stdint.h>

/* Why an upstream attempt ended without a response; names follow Envoy's reset reasons and
 * are the keys of rq_503_by_reason. */
enum px_reason {
    PX_REASON_CONNECTION_TERMINATION, /* the upstream closed or reset the connection (UC) */
    PX_REASON_CONNECTION_FAILURE,     /* connect failed or timed out (UF) */
    PX_REASON_OVERFLOW,               /* pending queue full (UO) */
    PX_REASON_PROTOCOL_ERROR,         /* malformed response (UPE, 502) */
    PX_REASON_COUNT
};

const char *px_reason_name(enum px_reason r);       /* "connection_termination" */
const char *px_reason_envoy_text(enum px_reason r); /* "connection termination" */

struct px_stats {
    uint64_t downstream_cx_total;
    uint64_t downstream_cx_protocol_error;
    uint64_t downstream_cx_idle_timeout;
    uint64_t downstream_cx_max_duration_reached;
    uint64_t downstream_cx_max_requests_reached;
    uint64_t downstream_cx_destroy_remote_active_rq;
    uint64_t downstream_cx_fd_exhausted;    /* accepted and closed at once: out of descriptors */
    uint64_t listener_accept_paused;        /* the listener stopped for PX_ACCEPT_PAUSE_MS */
    uint64_t downstream_global_cx_overflow; /* accepted and closed at once: --max-connections */
    uint64_t downstream_rq_header_timeout;  /* 408: --request-headers-timeout */
    uint64_t downstream_rq_total;
    uint64_t downstream_rq_1xx, downstream_rq_2xx, downstream_rq_3xx, downstream_rq_4xx,
        downstream_rq_5xx;
    uint64_t upstream_cx_total;
    uint64_t upstream_cx_connect_fail;
    uint64_t upstream_cx_connect_timeout;
    uint64_t upstream_cx_idle_timeout;
    uint64_t upstream_cx_destroy_remote_with_active_rq;
    uint64_t upstream_cx_destroy_local_with_active_rq;
    uint64_t upstream_cx_protocol_error;
    uint64_t upstream_rq_total;
    uint64_t upstream_rq_retry;
    uint64_t upstream_rq_retry_limit_exceeded;
    uint64_t upstream_rq_pending_total;
    uint64_t upstream_rq_pending_overflow;
    uint64_t upstream_rq_timeout;
    uint64_t reuse_check_rejected;
    uint64_t delayed_closes;
    uint64_t delayed_close_timeouts;
    uint64_t lingering_closes;
    uint64_t lingering_close_timeouts;
    uint64_t early_responses;
    uint64_t rq_503_by_reason[PX_REASON_COUNT];
};

void px_stats_count_status(struct px_stats *s, int status);

/* Rewrites path atomically (temp file + rename) with the stats as one JSON object. 0 or -1. */
int px_stats_write(const struct px_stats *s, const char *name, const char *path);

#endif
