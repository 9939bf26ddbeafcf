#include "px_retry.h"

enum px_retry_verdict px_retry_decide(const struct px_cfg *cfg, const struct px_retry_facts *f)
{
    unsigned on = cfg->retry_on;
    bool covered = false;

    switch (f->fail) {
    case PX_FAIL_RESET:
        /* reset-before-request stops covering a reset once the request went to the codec:
         * exactly the reused-connection RST of upstream-reuse-after-fin. */
        covered = (on & (PX_RETRY_RESET | PX_RETRY_5XX)) ||
                  ((on & PX_RETRY_RESET_BEFORE_REQUEST) && !f->request_sent);
        break;
    case PX_FAIL_CONNECT:
        covered = (on & (PX_RETRY_CONNECT_FAILURE | PX_RETRY_5XX | PX_RETRY_RESET |
                         PX_RETRY_RESET_BEFORE_REQUEST)) != 0;
        break;
    case PX_FAIL_5XX:
        covered = (on & PX_RETRY_5XX) != 0;
        break;
    }
    if (!covered)
        return PX_RETRY_NO;
    /* Nothing can be replayed once the response went downstream or the body was not kept. */
    if (f->response_started || !f->replayable)
        return PX_RETRY_NO;
    /* nginx: a non-idempotent request that reached the upstream is not sent twice. */
    if (cfg->retry_idempotent_only && !f->idempotent && f->request_sent)
        return PX_RETRY_NO;
    if (f->retries_done >= cfg->num_retries)
        return PX_RETRY_EXHAUSTED;
    return PX_RETRY_YES;
}

uint64_t px_retry_backoff_ms(long base_ms, int n, uint64_t rnd)
{
    /* Envoy's documented range [0, (2^n - 1) * base), capped at max_interval = 10 * base
     * (docs/behaviour.md, Envoy). Newer Envoy sources double from base instead; both stay under the
     * cap. */
    if (base_ms <= 0) /* no back-off: the next try at once (nginx, HAProxy) */
        return 0;
    uint64_t base = (uint64_t)base_ms;
    uint64_t cap = 10 * base;
    uint64_t interval = cap;
    if (n < 1)
        n = 1;
    if (n < 8) {
        interval = (((uint64_t)1 << n) - 1) * base;
        if (interval > cap)
            interval = cap;
    }
    return rnd % interval;
}
