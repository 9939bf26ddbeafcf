/* px_retry — the retry policy (Envoy's retry_on conditions, nginx's idempotent-only rule) and
 * Envoy's fully jittered exponential back-off.
 *
 * A retry is what closes the races no loop delay can (upstream-reuse-after-fin with the FIN
 * still in flight, istio#13848): the request goes out again on another connection. */
#ifndef RACELAB_PX_RETRY_H
#define RACELAB_PX_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "px_cfg.h"

enum px_fail {
    PX_FAIL_RESET,   /* the connection was closed/reset under the request (ConnectionTermination) */
    PX_FAIL_CONNECT, /* the connection could not be established */
    PX_FAIL_5XX,     /* the upstream answered with a 5xx status */
};

struct px_retry_facts {
    enum px_fail fail;
    bool request_sent;     /* the request was handed to an upstream connection (the codec) */
    bool idempotent;       /* not POST, PATCH or LOCK */
    bool replayable;       /* the whole request is still buffered */
    bool response_started; /* response bytes already went downstream */
    int retries_done;
};

enum px_retry_verdict {
    PX_RETRY_NO, /* the policy does not cover this failure */
    PX_RETRY_YES,
    PX_RETRY_EXHAUSTED, /* covered, but --num-retries are used up: URX */
};

enum px_retry_verdict px_retry_decide(const struct px_cfg *cfg, const struct px_retry_facts *f);

/* Envoy's JitteredExponentialBackOffStrategy: the nth retry (n >= 1) waits rnd mod
 * ((2^n - 1) * base) ms, at most 10 * base. */
uint64_t px_retry_backoff_ms(long base_ms, int n, uint64_t rnd);

#endif
