/* px_cfg — racelab-proxy's settings: defaults (Envoy's, each with its source), the flag table,
 * --no-mitigations, and the cross-flag rules.
 *
 * Built as its own library (pxcfg, depends only on rlcore) so that the harness validates a
 * scenario's proxy settings with exactly the rules the proxy applies to its argv:
 *
 *   struct px_cfg c; bool seen[PX_CFG_MAX_OPTS] = {0};
 *   px_cfg_defaults(&c);
 *   opt_set(px_cfg_opts, &c, "attach-pending", "immediate", seen, err, sizeof(err));  ...
 *   px_cfg_finish(&c, seen, err, sizeof(err));
 */
#ifndef RACELAB_PX_CFG_H
#define RACELAB_PX_CFG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "keep.h"
#include "opt.h"

/* Room for a seen[] array indexed like px_cfg_opts. */
#define PX_CFG_MAX_OPTS 64

/* When a request waiting in the upstream pool's pending queue is attached to a connection that
 * has just finished a response (pending-attach, envoy#2715). */
enum px_attach {
    PX_ATTACH_IMMEDIATE, /* in the call that completed the response, before Envoy PR #2871 */
    PX_ATTACH_DEFERRED,  /* after the current loop's events: Envoy since PR #2871 */
    PX_ATTACH_DELAY,     /* after a re-use delay timer (the idea of Envoy PR #7159) */
};

/* Liveness check of a pooled connection before it carries a request. */
enum px_reuse_check {
    PX_REUSE_NONE,     /* rely on the event loop having noticed the FIN (Envoy, nginx, HAProxy) */
    PX_REUSE_PEEK,     /* recv(MSG_PEEK|MSG_DONTWAIT) == 0 means the peer closed */
    PX_REUSE_TCP_INFO, /* TCP_INFO state CLOSE_WAIT (or CLOSE) means the peer closed */
};

/* --retry-on bits (Envoy's x-envoy-retry-on names) */
enum {
    PX_RETRY_RESET = 1u << 0,                /* any reset/disconnect, e.g. a reused conn's RST */
    PX_RETRY_CONNECT_FAILURE = 1u << 1,      /* connect() failed or timed out */
    PX_RETRY_RESET_BEFORE_REQUEST = 1u << 2, /* only resets before the request went out */
    PX_RETRY_5XX = 1u << 3,                  /* 5xx responses, resets and connect failures */
};

/* Envoy's retry back-off cap is 10x its base; the attempts array of a request is sized by the
 * largest --num-retries. */
#define PX_MAX_RETRIES 10

struct px_cfg {
    const char *listen;
    const char *upstream;
    const char *name;
    const char *port_file;
    const char *access_log;
    struct keep access_log_keep; /* --access-log-keep */
    const char *stats;

    /* downstream close policy */
    long delayed_close_timeout_ms;
    bool lingering_close;
    long lingering_timeout_ms;
    long lingering_time_ms;
    bool skip_delay_close;

    /* downstream connection lifetime and limits */
    long downstream_idle_timeout_ms;
    long max_connection_duration_ms;
    long drain_timeout_ms;
    long max_requests_per_connection;
    long max_request_bytes;
    long max_request_headers_kb;
    long request_headers_timeout_ms;
    long max_connections;

    /* upstream pool */
    long upstream_idle_timeout_ms;
    long upstream_max_connections;
    long upstream_max_pending;
    long upstream_connect_timeout_ms;
    long upstream_timeout_ms;
    int attach;           /* enum px_attach */
    long attach_delay_ms; /* PX_ATTACH_DELAY */
    int reuse_check;      /* enum px_reuse_check */

    /* retries */
    unsigned retry_on;
    long num_retries;
    long retry_backoff_base_ms;
    bool retry_idempotent_only;

    bool no_mitigations;

    /* filled by px_cfg_finish */
    struct sockaddr_in listen_addr;
    struct sockaddr_in upstream_addr;
};

extern const struct opt_spec px_cfg_opts[];

void px_cfg_defaults(struct px_cfg *c);

/* After the flags are set (opt_parse, or opt_set one by one with the same seen[]): applies
 * --no-mitigations to every mitigation whose own flag was not given, then checks the cross-flag
 * rules (a contradiction names both flags) and parses the addresses. 0, or -1 with err. */
int px_cfg_finish(struct px_cfg *c, const bool *seen, char *err, size_t errlen);

/* px_cfg_defaults + opt_parse + px_cfg_finish: OPT_OK, OPT_BAD (err set) or OPT_HELP. */
int px_cfg_parse(struct px_cfg *c, int argc, char **argv, char *err, size_t errlen);

void px_cfg_usage(FILE *out);

const char *px_attach_name(enum px_attach a);
const char *px_reuse_check_name(enum px_reuse_check r);

#endif
