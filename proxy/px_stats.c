#include "px_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jl.h"

const char *px_reason_name(enum px_reason r)
{
    switch (r) {
    case PX_REASON_CONNECTION_TERMINATION:
        return "connection_termination";
    case PX_REASON_CONNECTION_FAILURE:
        return "connection_failure";
    case PX_REASON_OVERFLOW:
        return "overflow";
    case PX_REASON_PROTOCOL_ERROR:
        return "protocol_error";
    case PX_REASON_COUNT:
        break;
    }
    return "?";
}

const char *px_reason_envoy_text(enum px_reason r)
{
    switch (r) {
    case PX_REASON_CONNECTION_TERMINATION:
        return "connection termination";
    case PX_REASON_CONNECTION_FAILURE:
        return "connection failure";
    case PX_REASON_OVERFLOW:
        return "overflow";
    case PX_REASON_PROTOCOL_ERROR:
        return "protocol error";
    case PX_REASON_COUNT:
        break;
    }
    return "?";
}

void px_stats_count_status(struct px_stats *s, int status)
{
    if (status >= 500)
        s->downstream_rq_5xx++;
    else if (status >= 400)
        s->downstream_rq_4xx++;
    else if (status >= 300)
        s->downstream_rq_3xx++;
    else if (status >= 200)
        s->downstream_rq_2xx++;
    else if (status >= 100)
        s->downstream_rq_1xx++;
}

int px_stats_write(const struct px_stats *s, const char *name, const char *path)
{
    struct jl j;
    char reasons[512];
    size_t off = 0;

    reasons[off++] = '{';
    for (int r = 0; r < PX_REASON_COUNT; r++) {
        if (!s->rq_503_by_reason[r])
            continue;
        off += (size_t)snprintf(reasons + off, sizeof(reasons) - off, "%s\"%s\":%llu",
                                off > 1 ? "," : "", px_reason_name((enum px_reason)r),
                                (unsigned long long)s->rq_503_by_reason[r]);
    }
    snprintf(reasons + off, sizeof(reasons) - off, "}");

    jl_begin(&j);
    jl_str(&j, "proxy", name);
#define C(field) jl_uint(&j, #field, s->field)
    C(downstream_cx_total);
    C(downstream_cx_protocol_error);
    C(downstream_cx_idle_timeout);
    C(downstream_cx_max_duration_reached);
    C(downstream_cx_max_requests_reached);
    C(downstream_cx_destroy_remote_active_rq);
    C(downstream_cx_fd_exhausted);
    C(listener_accept_paused);
    C(downstream_global_cx_overflow);
    C(downstream_rq_header_timeout);
    C(downstream_rq_total);
    C(downstream_rq_1xx);
    C(downstream_rq_2xx);
    C(downstream_rq_3xx);
    C(downstream_rq_4xx);
    C(downstream_rq_5xx);
    C(upstream_cx_total);
    C(upstream_cx_connect_fail);
    C(upstream_cx_connect_timeout);
    C(upstream_cx_idle_timeout);
    C(upstream_cx_destroy_remote_with_active_rq);
    C(upstream_cx_destroy_local_with_active_rq);
    C(upstream_cx_protocol_error);
    C(upstream_rq_total);
    C(upstream_rq_retry);
    C(upstream_rq_retry_limit_exceeded);
    C(upstream_rq_pending_total);
    C(upstream_rq_pending_overflow);
    C(upstream_rq_timeout);
    C(reuse_check_rejected);
    C(delayed_closes);
    C(delayed_close_timeouts);
    C(lingering_closes);
    C(lingering_close_timeouts);
    C(early_responses);
#undef C
    jl_raw(&j, "rq_503_by_reason", reasons);
    jl_end(&j);

    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < j.len) {
        ssize_t n = write(fd, j.buf + done, j.len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return -1;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}
