#include "px_cfg.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

static const char *const reuse_check_names[] = {"none", "peek", "tcp-info", NULL};

/* Defaults mirror Envoy's current defaults (v1.2x); each says where it comes from. */
void px_cfg_defaults(struct px_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = "127.0.0.1:8000";
    c->upstream = NULL; /* required */
    c->name = "proxy";
    /* HCM delayed_close_timeout: 1 s */
    c->delayed_close_timeout_ms = 1000;
    /* nginx's lingering_close is not Envoy's; off. nginx defaults when on: lingering_timeout 5 s,
     * lingering_time 30 s. */
    c->lingering_close = false;
    c->lingering_timeout_ms = 5000;
    c->lingering_time_ms = 30000;
    /* runtime guard envoy.reloadable_features.skip_delay_close: true since 1.22 (PR #19863) */
    c->skip_delay_close = true;
    /* HCM common_http_protocol_options.idle_timeout: 1 h */
    c->downstream_idle_timeout_ms = 3600 * 1000L;
    /* max_connection_duration: unset */
    c->max_connection_duration_ms = 0;
    /* HCM drain_timeout: 5 s */
    c->drain_timeout_ms = 5000;
    /* max_requests_per_connection: unset */
    c->max_requests_per_connection = 0;
    /* buffer filter max_request_bytes: no filter, no limit */
    c->max_request_bytes = 0;
    /* HCM max_request_headers_kb: 60 */
    c->max_request_headers_kb = 60;
    /* HCM request_headers_timeout: Envoy's default is off, nginx's client_header_timeout 60 s.
     * Not Envoy's here: 10 s is far above the head of any honest client (and of any scenario),
     * and without it a client sending its head a byte at a time holds a connection for the
     * 1 h idle timeout (slowloris). */
    c->request_headers_timeout_ms = 10000;
    /* overload manager's global downstream connection limit: unset, as in Envoy */
    c->max_connections = 0;
    /* cluster common_http_protocol_options.idle_timeout: 1 h */
    c->upstream_idle_timeout_ms = 3600 * 1000L;
    /* cluster circuit breakers: max_connections 1024, max_pending_requests 1024 */
    c->upstream_max_connections = 1024;
    c->upstream_max_pending = 1024;
    /* cluster connect_timeout: 5 s */
    c->upstream_connect_timeout_ms = 5000;
    /* route timeout: 15 s */
    c->upstream_timeout_ms = 15000;
    /* HTTP/1 pool: pending requests attached after the current loop's events (PR #2871) */
    c->attach = PX_ATTACH_DEFERRED;
    c->attach_delay_ms = 0;
    /* Envoy does not check a pooled connection before reuse */
    c->reuse_check = PX_REUSE_NONE;
    /* no retry policy; a policy retries once (num_retries 1) with a 25 ms base interval */
    c->retry_on = 0;
    c->num_retries = 1;
    c->retry_backoff_base_ms = 25;
    /* Envoy retries any method; nginx does not retry non-idempotent requests already sent */
    c->retry_idempotent_only = false;
}

static int parse_attach(void *cfg, const char *val, char *err, size_t errlen)
{
    struct px_cfg *c = cfg;
    if (strcmp(val, "immediate") == 0) {
        c->attach = PX_ATTACH_IMMEDIATE;
        return 0;
    }
    if (strcmp(val, "deferred") == 0) {
        c->attach = PX_ATTACH_DEFERRED;
        return 0;
    }
    if (strncmp(val, "delay:", 6) == 0) {
        long ms;
        if (opt_parse_ms(val + 6, &ms) == 0 && ms >= 1 && ms <= 3600 * 1000L) {
            c->attach = PX_ATTACH_DELAY;
            c->attach_delay_ms = ms;
            return 0;
        }
        snprintf(err, errlen, "expected delay:MS with MS in [1, 3600000] (e.g. delay:5), got '%s'",
                 val);
        return -1;
    }
    snprintf(err, errlen, "expected immediate|deferred|delay:MS, got '%s'", val);
    return -1;
}

static int parse_retry_on(void *cfg, const char *val, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"reset", PX_RETRY_RESET},
        {"connect-failure", PX_RETRY_CONNECT_FAILURE},
        {"reset-before-request", PX_RETRY_RESET_BEFORE_REQUEST},
        {"5xx", PX_RETRY_5XX},
    };
    struct px_cfg *c = cfg;
    unsigned bits = 0;
    const char *p = val;
    if (!*p) {
        snprintf(err, errlen, "expected a list of reset,connect-failure,reset-before-request,5xx");
        return -1;
    }
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        bool found = false;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (strlen(names[i].name) == n && strncmp(names[i].name, p, n) == 0) {
                bits |= names[i].bit;
                found = true;
            }
        }
        if (!found) {
            snprintf(err, errlen,
                     "unknown condition '%.*s' (expected reset, connect-failure, "
                     "reset-before-request, 5xx)",
                     (int)n, p);
            return -1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    c->retry_on = bits;
    return 0;
}

#define F(field) offsetof(struct px_cfg, field)

/* clang-format off */
static int parse_access_keep(void *cfg, const char *val, char *err, size_t errlen)
{
    return keep_parse(&((struct px_cfg *)cfg)->access_log_keep, val, err, errlen);
}

const struct opt_spec px_cfg_opts[] = {
    {.name = "listen", .type = OPT_STR, .off = F(listen), .metavar = "ADDR",
     .help = "downstream listener, HOST:PORT (port 0: any free port; see --port-file). "
             "Default 127.0.0.1:8000"},
    {.name = "upstream", .type = OPT_STR, .off = F(upstream), .metavar = "ADDR",
     .help = "the one upstream cluster's endpoint, HOST:PORT (required)"},
    {.name = "name", .type = OPT_STR, .off = F(name), .metavar = "NAME",
     .help = "name of this proxy in its access log and stats (proxy, proxy1, proxy2 in chains)"},
    {.name = "port-file", .type = OPT_STR, .off = F(port_file), .metavar = "FILE",
     .help = "write the bound listener port to FILE (atomically) once listening"},
    {.name = "access-log", .type = OPT_STR, .off = F(access_log), .metavar = "FILE",
     .help = "one JSON line per downstream request with Envoy-style response flags "
             "(docs/records.md); \"-\" is stdout"},
    {.name = "access-log-keep", .type = OPT_CUSTOM, .metavar = "all|failures[:N[:MAX]]",
     .help = "which requests get an access-log line: all (default), or only the failing ones "
             "(no status sent, a 5xx, a response flag, or a retry; with :MAX only the first MAX) and "
             "one other in N; the "
             "counters of every request stay in --stats (a soak)",
     .parse = parse_access_keep},
    {.name = "stats", .type = OPT_STR, .off = F(stats), .metavar = "FILE",
     .help = "JSON stats, rewritten at exit and on SIGUSR1 (docs/records.md)"},

    {.name = "delayed-close-timeout", .type = OPT_MS, .off = F(delayed_close_timeout_ms),
     .metavar = "MS",
     .help = "Envoy HCM delayed_close_timeout (default 1000, 0 = off): when closing a downstream "
             "connection, flush the response, then keep the socket open without shutdown() and "
             "without reading until the client's FIN/RST or the timer (re-armed on write "
             "progress) fires; then close(), which still sends RST if request bytes are unread "
             "(premature-close, envoy#2929, PR #4382)",
     .min = 0, .max = LONG_MAX},
    {.name = "lingering-close", .type = OPT_FLAG, .off = F(lingering_close), .flag_value = true,
     .help = "nginx lingering_close on: after a response sent before the request was fully read, "
             "shutdown(SHUT_WR), then read and discard until the client's EOF (replaces delayed "
             "close)"},
    {.name = "lingering-timeout", .type = OPT_MS, .off = F(lingering_timeout_ms), .metavar = "MS",
     .help = "nginx lingering_timeout (default 5000): longest wait between two reads while "
             "lingering",
     .min = 1, .max = LONG_MAX},
    {.name = "lingering-time", .type = OPT_MS, .off = F(lingering_time_ms), .metavar = "MS",
     .help = "nginx lingering_time (default 30000): longest lingering in total", .min = 1,
     .max = LONG_MAX},
    {.name = "skip-delay-close", .type = OPT_FLAG, .off = F(skip_delay_close), .flag_value = true,
     .help = "Envoy runtime guard envoy.reloadable_features.skip_delay_close (default on, 1.22, "
             "PR #19863): no delayed close when the connection closes after a response and the "
             "request was fully read, or the response is HTTP/1.0 without Content-Length; "
             "protocol errors always delay (delay-close-cost, envoy#19821)"},
    {.name = "no-skip-delay-close", .type = OPT_FLAG, .off = F(skip_delay_close),
     .flag_value = false, .help = "skip_delay_close off: every close is delayed (Envoy < 1.22)"},
    {.name = "downstream-idle-timeout", .type = OPT_MS, .off = F(downstream_idle_timeout_ms),
     .metavar = "MS",
     .help = "Envoy HCM common_http_protocol_options.idle_timeout (default 1 h, 0 = off): a "
             "connection that never sent a request is closed; otherwise it drains for "
             "--drain-timeout, then closes with delayed close, as Envoy does "
             "(downstream-reuse-closing, envoy#13388)",
     .min = 0, .max = LONG_MAX},
    {.name = "max-connection-duration", .type = OPT_MS, .off = F(max_connection_duration_ms),
     .metavar = "MS",
     .help = "Envoy HCM common_http_protocol_options.max_connection_duration (default unset = 0): "
             "then drain: responses say \"Connection: close\", close after --drain-timeout",
     .min = 0, .max = LONG_MAX},
    {.name = "drain-timeout", .type = OPT_MS, .off = F(drain_timeout_ms), .metavar = "MS",
     .help = "Envoy HCM drain_timeout (default 5000)", .min = 0, .max = LONG_MAX},
    {.name = "max-requests-per-connection", .type = OPT_INT,
     .off = F(max_requests_per_connection), .metavar = "N",
     .help = "Envoy max_requests_per_connection (default unset = 0): the Nth response says "
             "\"Connection: close\" and the connection closes after it",
     .min = 0, .max = LONG_MAX},
    {.name = "max-request-bytes", .type = OPT_SIZE, .off = F(max_request_bytes), .metavar = "SIZE",
     .help = "Envoy buffer filter max_request_bytes (default none = 0): a larger body gets an "
             "early 413 (at once when Content-Length says so) and the connection closes with the "
             "body unread (premature-close)",
     .min = 0, .max = LONG_MAX},
    {.name = "max-request-headers-kb", .type = OPT_INT, .off = F(max_request_headers_kb),
     .metavar = "KB",
     .help = "Envoy HCM max_request_headers_kb (default 60): a larger request head gets 431",
     .min = 1, .max = 8192},
    {.name = "request-headers-timeout", .type = OPT_MS, .off = F(request_headers_timeout_ms),
     .metavar = "MS",
     .help = "Envoy HCM request_headers_timeout, nginx client_header_timeout (default 10000, "
             "0 = off): runs from the first byte of a request head until the head is complete; "
             "then 408 and a close (access log: details request_header_timeout; stats "
             "downstream_rq_header_timeout). Envoy's default is off and nginx's 60 s; 10 s is "
             "far above any honest client's head and keeps a client that drips its head "
             "(slowloris) from holding a connection for the 1 h idle timeout",
     .min = 0, .max = LONG_MAX},
    {.name = "max-connections", .type = OPT_INT, .off = F(max_connections), .metavar = "N",
     .help = "Envoy overload manager global downstream connection limit "
             "(max_active_downstream_connections), nginx worker_connections (default unset = 0, "
             "as Envoy): with N client connections open (those still in a delayed or lingering "
             "close included) a new one is accepted and closed at once (stats "
             "downstream_global_cx_overflow)",
     .min = 0, .max = 100000000},

    {.name = "upstream-idle-timeout", .type = OPT_MS, .off = F(upstream_idle_timeout_ms),
     .metavar = "MS",
     .help = "Envoy cluster common_http_protocol_options.idle_timeout, Istio DestinationRule "
             "connectionPool.http.idleTimeout (default 1 h, 0 = off): close pooled connections "
             "idle that long; below the server's keep-alive timeout it removes "
             "idle-timeout-mismatch",
     .min = 0, .max = LONG_MAX},
    {.name = "upstream-max-connections", .type = OPT_INT, .off = F(upstream_max_connections),
     .metavar = "N",
     .help = "Envoy circuit breaker max_connections (default 1024): more requests wait in the "
             "pending queue",
     .min = 1, .max = 1000000},
    {.name = "upstream-max-pending", .type = OPT_INT, .off = F(upstream_max_pending),
     .metavar = "N",
     .help = "Envoy circuit breaker max_pending_requests (default 1024): beyond it 503 UO",
     .min = 0, .max = 1000000},
    {.name = "upstream-connect-timeout", .type = OPT_MS, .off = F(upstream_connect_timeout_ms),
     .metavar = "MS", .help = "Envoy cluster connect_timeout (default 5000): then UF",
     .min = 1, .max = LONG_MAX},
    {.name = "upstream-timeout", .type = OPT_MS, .off = F(upstream_timeout_ms), .metavar = "MS",
     .help = "Envoy route timeout (default 15000, 0 = off), from the end of the request: "
             "504 UT",
     .min = 0, .max = LONG_MAX},
    {.name = "attach-pending", .type = OPT_CUSTOM, .metavar = "immediate|deferred|delay:MS",
     .help = "when a pending request takes a connection that just finished a response: "
             "immediate = in the same call, before the already-received FIN is processed (Envoy "
             "before PR #2871: envoy#2715's 503 UC); deferred = after the current loop's events "
             "(Envoy today, default); delay:MS = a re-use delay timer (Envoy PR #7159's idea; "
             "poll-cycle-delay)",
     .parse = parse_attach},
    {.name = "reuse-check", .type = OPT_ENUM, .off = F(reuse_check),
     .metavar = "none|peek|tcp-info",
     .help = "before reusing a pooled connection, ask the kernel whether the upstream already "
             "closed it: peek = recv(MSG_PEEK|MSG_DONTWAIT) returns 0, tcp-info = TCP_INFO state "
             "CLOSE_WAIT. Envoy, nginx and HAProxy have none (default; they wait for their event "
             "loop to notice the FIN); urllib3-style clients check",
     .choices = reuse_check_names},
    {.name = "retry-on", .type = OPT_CUSTOM, .metavar = "LIST",
     .help = "Envoy route retry_policy.retry_on, comma-separated: reset, connect-failure, "
             "reset-before-request, 5xx (default none). Istio's fix for istio#13848 is reset "
             "with --num-retries 2 --retry-backoff-base 10",
     .parse = parse_retry_on},
    {.name = "num-retries", .type = OPT_INT, .off = F(num_retries), .metavar = "N",
     .help = "Envoy retry_policy.num_retries (default 1); needs --retry-on", .min = 0,
     .max = PX_MAX_RETRIES},
    {.name = "retry-backoff-base", .type = OPT_MS, .off = F(retry_backoff_base_ms),
     .metavar = "MS",
     .help = "Envoy retry_back_off.base_interval (default 25): the nth retry waits a random time "
             "in [0, (2^n - 1) * base), at most 10 * base; 0 retries at once, without back-off "
             "(nginx's and HAProxy's retries); needs --retry-on",
     .min = 0, .max = 60000},
    {.name = "retry-idempotent-only", .type = OPT_FLAG, .off = F(retry_idempotent_only),
     .flag_value = true,
     .help = "nginx proxy_next_upstream default: a POST, PATCH or LOCK already sent is not "
             "retried (Envoy retries any method); needs --retry-on"},
    {.name = "no-mitigations", .type = OPT_FLAG, .off = F(no_mitigations), .flag_value = true,
     .help = "the naive, pre-2018 proxy: delayed close 0, no lingering close, skip-delay-close "
             "off, --attach-pending immediate, --reuse-check none, no retries. Mitigation flags "
             "given with it (before or after) switch single mitigations back on"},
    OPT_END,
};
/* clang-format on */

const char *px_attach_name(enum px_attach a)
{
    switch (a) {
    case PX_ATTACH_IMMEDIATE:
        return "immediate";
    case PX_ATTACH_DEFERRED:
        return "deferred";
    case PX_ATTACH_DELAY:
        return "delay";
    }
    return "?";
}

const char *px_reuse_check_name(enum px_reuse_check r)
{
    switch (r) {
    case PX_REUSE_NONE:
        return "none";
    case PX_REUSE_PEEK:
        return "peek";
    case PX_REUSE_TCP_INFO:
        return "tcp-info";
    }
    return "?";
}

static bool given(const bool *seen, const char *name)
{
    const struct opt_spec *s = opt_find(px_cfg_opts, name);
    return seen && s && seen[s - px_cfg_opts];
}

int px_cfg_finish(struct px_cfg *c, const bool *seen, char *err, size_t errlen)
{
    char why[200];

    if (c->no_mitigations) {
        if (!given(seen, "delayed-close-timeout"))
            c->delayed_close_timeout_ms = 0;
        if (!given(seen, "lingering-close"))
            c->lingering_close = false;
        if (!given(seen, "skip-delay-close") && !given(seen, "no-skip-delay-close"))
            c->skip_delay_close = false;
        if (!given(seen, "attach-pending"))
            c->attach = PX_ATTACH_IMMEDIATE;
        if (!given(seen, "reuse-check"))
            c->reuse_check = PX_REUSE_NONE;
        if (!given(seen, "retry-on"))
            c->retry_on = 0;
    }

    if (given(seen, "skip-delay-close") && given(seen, "no-skip-delay-close")) {
        snprintf(err, errlen, "--skip-delay-close and --no-skip-delay-close contradict each other");
        return -1;
    }
    if (c->lingering_close) {
        if (given(seen, "delayed-close-timeout") && c->delayed_close_timeout_ms > 0) {
            snprintf(err, errlen,
                     "--lingering-close and --delayed-close-timeout %ld contradict each other: "
                     "nginx's lingering close replaces Envoy's delayed close (drop one, or give "
                     "--delayed-close-timeout 0)",
                     c->delayed_close_timeout_ms);
            return -1;
        }
        c->delayed_close_timeout_ms = 0;
    } else {
        if (given(seen, "lingering-timeout")) {
            snprintf(err, errlen, "--lingering-timeout has no effect without --lingering-close");
            return -1;
        }
        if (given(seen, "lingering-time")) {
            snprintf(err, errlen, "--lingering-time has no effect without --lingering-close");
            return -1;
        }
    }
    if (c->retry_on == 0) {
        static const char *const needs[] = {"num-retries", "retry-backoff-base",
                                            "retry-idempotent-only"};
        for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
            if (given(seen, needs[i])) {
                snprintf(err, errlen, "--%s needs --retry-on (no retry policy: nothing to retry)",
                         needs[i]);
                return -1;
            }
        }
    }
    if (!c->upstream) {
        snprintf(err, errlen, "--upstream is required (HOST:PORT of the upstream server)");
        return -1;
    }
    if (net_parse_addr(c->listen, &c->listen_addr, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--listen: %s", why);
        return -1;
    }
    if (net_parse_addr(c->upstream, &c->upstream_addr, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--upstream: %s", why);
        return -1;
    }
    if (c->upstream_addr.sin_port == 0) {
        snprintf(err, errlen, "--upstream: port 0 cannot be connected to");
        return -1;
    }
    return 0;
}

int px_cfg_parse(struct px_cfg *c, int argc, char **argv, char *err, size_t errlen)
{
    bool seen[PX_CFG_MAX_OPTS] = {0};
    px_cfg_defaults(c);
    int rc = opt_parse(px_cfg_opts, c, argc, argv, 1, NULL, NULL, 0, seen, err, errlen);
    if (rc != OPT_OK)
        return rc;
    return px_cfg_finish(c, seen, err, errlen) == 0 ? OPT_OK : OPT_BAD;
}

void px_cfg_usage(FILE *out)
{
    opt_usage(out, "racelab-proxy", "--upstream HOST:PORT [flags]",
              "The reference HTTP/1.1 (and 1.0) proxy of racelab: one upstream cluster, "
              "keep-alive on both sides, an upstream pool with a pending queue, and every "
              "mitigation of the connection-close races as a flag. Defaults mirror Envoy's.",
              px_cfg_opts);
}
