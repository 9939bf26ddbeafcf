/* racelab-proxy: the reference HTTP/1.1 proxy with every mitigation of the connection-close races
 * as a flag (see px.h for how a request travels through the modules). */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clk.h"
#include "net.h"
#include "px.h"
#include "px_cfg.h"
#include "px_close.h"
#include "px_down.h"
#include "px_listen.h"
#include "px_log.h"
#include "px_pool.h"

static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    px_reap(arg);
}

static void write_stats(struct px *px)
{
    if (px->cfg->stats && px_stats_write(&px->stats, px->cfg->name, px->cfg->stats) != 0)
        fprintf(stderr, "racelab-proxy: --stats %s: %s\n", px->cfg->stats, strerror(errno));
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct px *px = arg;
    (void)what;
    if (sig == SIGUSR1) {
        write_stats(px);
        return;
    }
    event_base_loopbreak(px->base);
}

int main(int argc, char **argv)
{
    struct px_cfg cfg;
    struct px px;
    char err[512];
    int rc = 1, lfd = -1;
    struct event_config *ecfg = NULL;
    struct px_listener *lst = NULL;
    struct event *sigs[3] = {NULL, NULL, NULL};
    static const int signums[3] = {SIGTERM, SIGINT, SIGUSR1};

    int prc = px_cfg_parse(&cfg, argc, argv, err, sizeof(err));
    if (prc == OPT_HELP) {
        px_cfg_usage(stdout);
        return 0;
    }
    if (prc != OPT_OK) {
        fprintf(stderr, "racelab-proxy: %s\n", err);
        return 2;
    }

    memset(&px, 0, sizeof(px));
    px.cfg = &cfg;
    px.access_fd = -1;
    px.access_keep = cfg.access_log_keep;
    px.rng = clk_real_us() ^ ((uint64_t)getpid() << 32);
    LIST_INIT(&px.dconns);
    LIST_INIT(&px.closings);
    signal(SIGPIPE, SIG_IGN);

    /* EV_CLOSED (EPOLLRDHUP) tells a delayed close that the client sent its FIN without reading
     * a byte of what it still sends */
    ecfg = event_config_new();
    if (!ecfg)
        goto out;
    event_config_require_features(ecfg, EV_FEATURE_EARLY_CLOSE | EV_FEATURE_ET);
    px.base = event_base_new_with_config(ecfg);
    if (!px.base) {
        fprintf(stderr, "racelab-proxy: libevent has no backend with EV_CLOSED and EV_ET\n");
        goto out;
    }
    px.down_idle_tv = px_common_timeout(&px, cfg.downstream_idle_timeout_ms);
    px.rq_timeout_tv = px_common_timeout(&px, cfg.upstream_timeout_ms);
    px.head_timeout_tv = px_common_timeout(&px, cfg.request_headers_timeout_ms);

    if (cfg.access_log) {
        px.access_fd = px_log_open(cfg.access_log);
        if (px.access_fd < 0) {
            fprintf(stderr, "racelab-proxy: --access-log %s: %s\n", cfg.access_log,
                    strerror(errno));
            rc = 2;
            goto out;
        }
    }
    lfd = net_listen(&cfg.listen_addr, 4096);
    if (lfd < 0) {
        fprintf(stderr, "racelab-proxy: --listen %s: %s\n", cfg.listen, strerror(errno));
        goto out;
    }
    px.lport = net_local_port(lfd);
    px.pool = px_pool_new(&px);
    px.reaper = event_new(px.base, -1, 0, reaper_cb, &px);
    if (!px.pool || !px.reaper)
        goto out;
    lst = px_listen_new(&px, lfd);
    if (!lst)
        goto out;
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(px.base, signums[i], signal_cb, &px);
        if (!sigs[i] || event_add(sigs[i], NULL) != 0)
            goto out;
    }
    if (cfg.port_file && net_write_port_file(cfg.port_file, px.lport) != 0) {
        fprintf(stderr, "racelab-proxy: --port-file %s: %s\n", cfg.port_file, strerror(errno));
        goto out;
    }
    fprintf(stderr,
            "racelab-proxy: %s listening on %s (port %d), upstream %s, delayed close %ld ms%s, "
            "attach %s, reuse check %s\n",
            cfg.name, cfg.listen, px.lport, cfg.upstream, cfg.delayed_close_timeout_ms,
            cfg.lingering_close ? ", lingering close" : "", px_attach_name(cfg.attach),
            px_reuse_check_name(cfg.reuse_check));

    if (event_base_dispatch(px.base) < 0)
        goto out;
    rc = 0;

out:
    if (px.base) {
        px_down_close_all(&px);
        px_pool_free(px.pool);
        px_close_all(&px);
        px_reap(&px);
        write_stats(&px);
    }
    for (int i = 0; i < 3; i++)
        if (sigs[i])
            event_free(sigs[i]);
    px_listen_free(lst);
    if (px.reaper)
        event_free(px.reaper);
    if (lfd >= 0)
        close(lfd);
    if (px.access_fd >= 0)
        close(px.access_fd);
    if (px.base)
        event_base_free(px.base);
    if (ecfg)
        event_config_free(ecfg);
    libevent_global_shutdown();
    return rc;
}
