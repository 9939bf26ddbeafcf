/* racelab-upstream: the scriptable server of racelab (see up_cfg.c for every behaviour). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evl.h"
#include "jl.h"
#include "net.h"
#include "up_cfg.h"
#include "up_conn.h"

struct up_main {
    struct up_srv srv;
    int lfd;
    struct event *accept_ev;
    const char *signame;
};

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct up_main *m = arg;
    (void)what;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "racelab-upstream: accept: %s\n", strerror(errno));
            return;
        }
        if (up_conn_start(&m->srv, fd) != 0)
            fprintf(stderr, "racelab-upstream: out of memory for a connection\n");
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct up_main *m = arg;
    (void)what;
    m->signame = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    event_base_loopbreak(m->srv.base);
}

static int open_log(const char *path)
{
    if (!path)
        return -1;
    if (strcmp(path, "-") == 0)
        return STDOUT_FILENO;
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

int main(int argc, char **argv)
{
    struct up_cfg cfg;
    struct up_main m;
    char err[512];
    int rc = 1;
    struct event *sigterm = NULL, *sigint = NULL;
    struct jl j;

    memset(&m, 0, sizeof(m));
    m.lfd = -1;
    m.srv.log_fd = -1;
    up_cfg_defaults(&cfg);
    int prc = up_cfg_parse(&cfg, argc, argv, err, sizeof(err));
    if (prc == OPT_HELP) {
        up_cfg_usage(stdout);
        return 0;
    }
    if (prc != OPT_OK) {
        fprintf(stderr, "racelab-upstream: %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    if (cfg.log) {
        m.srv.log_fd = open_log(cfg.log);
        if (m.srv.log_fd < 0) {
            fprintf(stderr, "racelab-upstream: --log %s: %s\n", cfg.log, strerror(errno));
            return 2;
        }
    }
    m.srv.cfg = &cfg;
    m.srv.keep = cfg.log_keep;
    m.srv.rng = (uint64_t)cfg.seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!m.srv.rng)
        m.srv.rng = 1;
    m.srv.base = evl_new_precise();
    if (!m.srv.base) {
        fprintf(stderr, "racelab-upstream: event_base_new failed\n");
        goto out;
    }
    m.lfd = net_listen(&cfg.listen_addr, 1024);
    if (m.lfd < 0) {
        fprintf(stderr, "racelab-upstream: --listen %s: %s\n", cfg.listen, strerror(errno));
        goto out;
    }
    m.srv.lport = net_local_port(m.lfd);
    m.accept_ev = event_new(m.srv.base, m.lfd, EV_READ | EV_PERSIST, on_accept, &m);
    sigterm = evsignal_new(m.srv.base, SIGTERM, on_signal, &m);
    sigint = evsignal_new(m.srv.base, SIGINT, on_signal, &m);
    if (!m.accept_ev || !sigterm || !sigint || event_add(m.accept_ev, NULL) != 0 ||
        event_add(sigterm, NULL) != 0 || event_add(sigint, NULL) != 0) {
        fprintf(stderr, "racelab-upstream: cannot set up the event loop\n");
        goto out;
    }

    up_log_begin(&j, "listen");
    jl_int(&j, "lport", m.srv.lport);
    up_log_write(&m.srv, &j);
    if (cfg.port_file && net_write_port_file(cfg.port_file, m.srv.lport) != 0) {
        fprintf(stderr, "racelab-upstream: --port-file %s: %s\n", cfg.port_file, strerror(errno));
        goto out;
    }

    if (event_base_dispatch(m.srv.base) < 0) {
        fprintf(stderr, "racelab-upstream: event loop failed\n");
        goto out;
    }
    rc = 0;

out:
    if (m.accept_ev)
        event_free(m.accept_ev);
    if (m.lfd >= 0)
        close(m.lfd);
    if (m.srv.base)
        up_conn_close_all(&m.srv);
    if (rc == 0) {
        up_log_begin(&j, "exit");
        jl_str(&j, "signal", m.signame ? m.signame : "none");
        jl_uint(&j, "connections", m.srv.next_id);
        if (cfg.log_keep.failures_only)
            up_log_counters(&m.srv, &j);
        up_log_write(&m.srv, &j);
    }
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (m.srv.base)
        event_base_free(m.srv.base);
    if (m.srv.log_fd > STDOUT_FILENO)
        close(m.srv.log_fd);
    return rc;
}
