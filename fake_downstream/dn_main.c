/* racelab-downstream: the scriptable client of racelab (see dn_cfg.c for every behaviour). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clk.h"
#include "dn_cfg.h"
#include "evl.h"
#include "dn_run.h"

static const char *signame;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    signame = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    struct dn_cfg cfg;
    struct dn_run run;
    char err[512];
    int rc = 1;
    int rec_fd = STDOUT_FILENO;
    struct event_base *base = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    bool run_ready = false;

    dn_cfg_defaults(&cfg);
    int prc = dn_cfg_parse(&cfg, argc, argv, err, sizeof(err));
    if (prc == OPT_HELP) {
        dn_cfg_usage(stdout);
        return 0;
    }
    if (prc != OPT_OK) {
        fprintf(stderr, "racelab-downstream: %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (cfg.records && strcmp(cfg.records, "-") != 0) {
        rec_fd = open(cfg.records, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (rec_fd < 0) {
            fprintf(stderr, "racelab-downstream: --records %s: %s\n", cfg.records, strerror(errno));
            return 2;
        }
    }

    uint64_t t0 = clk_mono_us();
    base = evl_new_precise();
    if (!base) {
        fprintf(stderr, "racelab-downstream: event_base_new failed\n");
        goto out;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    if (!sigterm || !sigint || event_add(sigterm, NULL) != 0 || event_add(sigint, NULL) != 0) {
        fprintf(stderr, "racelab-downstream: cannot set up the event loop\n");
        goto out;
    }
    if (dn_run_init(&run, base, &cfg, rec_fd, err, sizeof(err)) != 0) {
        fprintf(stderr, "racelab-downstream: %s\n", err);
        goto out;
    }
    run_ready = true;
    dn_run_start(&run);
    if (event_base_dispatch(base) < 0) {
        fprintf(stderr, "racelab-downstream: event loop failed\n");
        goto out;
    }
    rc = run.failed ? 1 : 0;

out:
    if (run_ready) {
        char sum[1024];
        if (cfg.counters)
            dn_run_counters(&run, true);
        dn_run_summary(&run, sum, sizeof(sum));
        fprintf(stderr, "racelab-downstream: %ld trials, %lu requests: %s (%.2f s)%s%s\n",
                run.completed, run.requests, sum, (double)(clk_mono_us() - t0) / 1e6,
                signame ? " interrupted by " : "", signame ? signame : "");
        dn_run_free(&run);
    }
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (base)
        event_base_free(base);
    if (rec_fd > STDOUT_FILENO && close(rec_fd) != 0) {
        fprintf(stderr, "racelab-downstream: --records %s: %s\n", cfg.records, strerror(errno));
        rc = 1;
    }
    return rc;
}
