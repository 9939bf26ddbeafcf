#include "px_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clk.h"
#include "jl.h"
#include "px_down.h"

int px_log_open(const char *path)
{
    if (strcmp(path, "-") == 0)
        return dup(1);
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void px_log_request(struct px *px, const struct px_req *req, const struct px_dconn *dc)
{
    if (px->access_fd < 0)
        return;
    int st = req->resp_started ? req->status : 0;
    bool failing = st == 0 || st >= 500 || req->flags || req->attempts > 1;
    if (!keep_want(&px->access_keep, failing))
        return;
    char flags[64], ports[16 * (PX_MAX_RETRIES + 1) + 2], reused[8 * (PX_MAX_RETRIES + 1) + 2];
    size_t po = 0, ro = 0;
    int n = req->attempts < PX_MAX_RETRIES + 1 ? req->attempts : PX_MAX_RETRIES + 1;
    ports[po++] = '[';
    reused[ro++] = '[';
    for (int i = 0; i < n; i++) {
        /* an attempt that never got a connection (pending, connect failure) has no port */
        if (req->ports[i] <= 0)
            continue;
        po += (size_t)snprintf(ports + po, sizeof(ports) - po, "%s%d", po > 1 ? "," : "",
                               req->ports[i]);
        ro += (size_t)snprintf(reused + ro, sizeof(reused) - ro, "%s%s", ro > 1 ? "," : "",
                               req->reused[i] ? "true" : "false");
    }
    snprintf(ports + po, sizeof(ports) - po, "]");
    snprintf(reused + ro, sizeof(reused) - ro, "]");

    uint64_t end = clk_real_us();
    uint64_t dur = clk_mono_us() - req->start_mono;
    struct jl j;
    jl_begin(&j);
    jl_uint(&j, "ts_us", end);
    jl_uint(&j, "start_us", req->start_us);
    jl_uint(&j, "end_us", end);
    jl_int(&j, "dport", dc->dport);
    jl_int(&j, "lport", dc->lport);
    jl_str(&j, "method", req->method[0] ? req->method : "-");
    jl_str(&j, "path", req->path[0] ? req->path : "-");
    jl_str(&j, "protocol", req->minor ? "HTTP/1.1" : "HTTP/1.0");
    jl_int(&j, "status", req->resp_started ? req->status : 0);
    jl_str(&j, "flags", px_flags_str(req->flags, flags, sizeof(flags)));
    jl_str(&j, "details", req->details[0] ? req->details : "-");
    jl_int(&j, "attempts", req->attempts);
    jl_raw(&j, "upstream_ports", ports);
    jl_raw(&j, "upstream_reused", reused);
    jl_uint(&j, "bytes_received", req->rx_bytes);
    jl_uint(&j, "bytes_sent", req->tx_bytes);
    jl_uint(&j, "duration_us", dur);
    jl_bool(&j, "close", req->close_after);
    jl_str(&j, "proxy", px->cfg->name);
    jl_write(&j, px->access_fd);
}
