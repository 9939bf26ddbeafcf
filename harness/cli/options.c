/* options — every command's flags, one table each (the flags run, compare and repro share are
 * written once), and the parsing of a command line against its table. */
#include <stddef.h>
#include <stdio.h>

#include "cli.h"

static int add_mitigation(void *cfg, const char *val, char *err, size_t errlen)
{
    struct cli *c = cfg;
    if (c->mit.n >= MAX_NAMES) {
        snprintf(err, errlen, "too many");
        return -1;
    }
    c->mit.v[c->mit.n++] = val;
    return 0;
}

static int set_stop_settle(void *cfg, const char *val, char *err, size_t errlen)
{
    struct cli *c = cfg;
    long ms;
    if (opt_parse_ms(val, &ms) != 0 || ms < 0 || ms > 60000) {
        snprintf(err, errlen, "expected milliseconds from 0 to 60000 (or with s), got '%s'", val);
        return -1;
    }
    c->proxy_stop_settle = ms;
    c->proxy_stop_settle_set = true;
    return 0;
}

/* --client KIND, --server KIND: a kind scenario_peer_kind_known knows. */
static int set_peer(void *cfg, const char *val, bool client, char *err, size_t errlen)
{
    struct cli *c = cfg;
    if (!scenario_peer_kind_known(client, val)) {
        snprintf(err, errlen, "'%s' is not a %s kind (known: %s)", val,
                 client ? "client" : "server", scenario_peer_kinds(client));
        return -1;
    }
    if (client)
        c->client = val;
    else
        c->server = val;
    return 0;
}

static int set_client(void *cfg, const char *val, char *err, size_t errlen)
{
    return set_peer(cfg, val, true, err, errlen);
}

static int set_server(void *cfg, const char *val, char *err, size_t errlen)
{
    return set_peer(cfg, val, false, err, errlen);
}

#define F(field) offsetof(struct cli, field)

#define OPT_TRIALS                                                                                 \
    {                                                                                              \
        .name = "trials", .type = OPT_INT, .off = F(trials), .metavar = "N",                       \
        .help = "trials per cell, instead of each scenario's `trials:`", .min = 1, .max = 1000000  \
    }
#define OPT_OUT                                                                                    \
    {                                                                                              \
        .name = "out", .type = OPT_STR, .off = F(out), .metavar = "DIR",                           \
        .help = "the run's folder (default captures/<run-id>): results.json, junit.xml, and per "  \
                "cell SCENARIO/MITIGATION/ with capture.pcap (+ .hops), every process's logs "     \
                "and command line"                                                                 \
    }
#define OPT_JSON                                                                                   \
    {                                                                                              \
        .name = "json", .type = OPT_STR, .off = F(json), .metavar = "FILE",                        \
        .help = "also write results.json to FILE"                                                  \
    }
#define OPT_JUNIT                                                                                  \
    {                                                                                              \
        .name = "junit", .type = OPT_STR, .off = F(junit), .metavar = "FILE",                      \
        .help = "also write junit.xml to FILE (one testcase per cell)"                             \
    }
#define OPT_PROXY                                                                                  \
    {                                                                                              \
        .name = "proxy", .type = OPT_STR, .off = F(proxy), .metavar = "KIND",                      \
        .help = "the proxy under test: racelab (racelab-proxy, the default), nginx, haproxy, "     \
                "apache, envoy (proxies/KIND/: a config rendered from each cell's settings; a "    \
                "cell the kind cannot express is reported unsupported, a kind not installed "      \
                "skipped), a folder with an adapter.yaml, or cmd:'CMD' (= --proxy-cmd CMD); "      \
                "every proxy of a cell is of that kind (docs/proxies.md)"                          \
    }
#define OPT_PROXY_CMD                                                                              \
    {                                                                                              \
        .name = "proxy-cmd", .type = OPT_STR, .off = F(proxy_cmd), .metavar = "CMD",               \
        .help = "run CMD in place of racelab-proxy (= --proxy cmd:'CMD'), e.g. 'nginx-wrapper "    \
                "{listen_port} "                                                                   \
                "{upstream_port}'; placeholders {listen_port} {upstream_port} {listen} "           \
                "{upstream} (127.0.0.1:PORT) {name} {dir}; each mitigation's proxy_cmd_args are "  \
                "appended; mitigations that change proxy flags without proxy_cmd_args are "        \
                "skipped; without an access log only the downstream hop is attributed"             \
    }
#define OPT_PROXY_STOP_SETTLE                                                                      \
    {                                                                                              \
        .name = "proxy-stop-settle", .type = OPT_CUSTOM, .metavar = "MS",                          \
        .help = "with --proxy-cmd or --proxy KIND: how long after the client's last trial the "    \
                "proxy is left before its stop signal (SIGTERM; a kind's adapter says which), to " \
                "finish what the trials left it (default 200, or the adapter's; racelab's own "    \
                "programs are stopped at once)",                                                   \
        .parse = set_stop_settle                                                                   \
    }
#define OPT_CLIENT                                                                                 \
    {                                                                                              \
        .name = "client", .type = OPT_CUSTOM, .metavar = "KIND",                                   \
        .help = "the client of every cell: racelab (racelab-downstream, the default), curl, go, "  \
                "node, python-requests (racelab-client-KIND with the cell's downstream "           \
                "settings, instead of each scenario's downstream kind:); a cell whose settings "   \
                "the driver refuses is reported unsupported, a driver not built or without its "   \
                "runtime skipped (docs/clients.md)",                                               \
        .parse = set_client                                                                        \
    }
#define OPT_SERVER                                                                                 \
    {                                                                                              \
        .name = "server", .type = OPT_CUSTOM, .metavar = "KIND",                                   \
        .help = "the upstream of every cell: racelab (racelab-upstream, the default), go, "        \
                "gunicorn, nginx, node (racelab-server-KIND with the cell's upstream settings, "   \
                "instead of each scenario's upstream kind:); unsupported and skipped as "          \
                "with --client (docs/servers.md)",                                                 \
        .parse = set_server                                                                        \
    }
#define OPT_JOBS                                                                                   \
    {                                                                                              \
        .name = "jobs", .type = OPT_INT, .off = F(jobs), .metavar = "N",                           \
        .help = "cells run in parallel, each in its own network namespace (default: one per "      \
                "core)",                                                                           \
        .min = 1, .max = 64                                                                        \
    }
#define OPT_NO_NETNS                                                                               \
    {                                                                                              \
        .name = "no-netns", .type = OPT_FLAG, .off = F(no_netns), .flag_value = true,              \
        .help = "run on the host's loopback with free ports instead of a namespace per cell: "     \
                "no wire faults (scenarios that need them are refused), capture filtered to the "  \
                "cell's ports when permitted"                                                      \
    }
#define OPT_MITIGATION                                                                             \
    {                                                                                              \
        .name = "mitigation", .type = OPT_CUSTOM, .metavar = "NAME",                               \
        .help = "run only this mitigation (repeatable)", .parse = add_mitigation                   \
    }
#define OPT_QUIET                                                                                  \
    {                                                                                              \
        .name = "quiet", .type = OPT_FLAG, .off = F(quiet), .flag_value = true,                    \
        .help = "no progress lines on stderr"                                                      \
    }

const struct opt_spec cli_run_opts[] = {
    OPT_TRIALS,
    OPT_MITIGATION,
    OPT_OUT,
    OPT_JSON,
    OPT_JUNIT,
    OPT_PROXY,
    OPT_PROXY_CMD,
    OPT_PROXY_STOP_SETTLE,
    OPT_CLIENT,
    OPT_SERVER,
    OPT_JOBS,
    OPT_NO_NETNS,
    {.name = "keep-going",
     .type = OPT_FLAG,
     .off = F(keep_going),
     .flag_value = true,
     .help = "go on after a cell that could not start (a program that does not come up, no "
             "capture, no wire rules); by default no new cell starts after one, since every "
             "later cell would fail the same way (failed expectations, timeouts and programs "
             "dying mid-cell never stop a run)"},
    OPT_QUIET,
    OPT_END,
};

const struct opt_spec cli_compare_opts[] = {
    OPT_TRIALS, OPT_OUT,    OPT_JSON, OPT_JUNIT,    OPT_PROXY, OPT_PROXY_CMD, OPT_PROXY_STOP_SETTLE,
    OPT_CLIENT, OPT_SERVER, OPT_JOBS, OPT_NO_NETNS, OPT_QUIET, OPT_END,
};

const struct opt_spec cli_repro_opts[] = {
    OPT_TRIALS,
    OPT_OUT,
    OPT_PROXY,
    OPT_PROXY_CMD,
    OPT_PROXY_STOP_SETTLE,
    OPT_CLIENT,
    OPT_SERVER,
    OPT_NO_NETNS,
    {.name = "mitigation",
     .type = OPT_CUSTOM,
     .metavar = "NAME",
     .help = "the mitigation to run (default: none)",
     .parse = add_mitigation},
    OPT_END,
};

const struct opt_spec cli_explain_opts[] = {
    {.name = "flow",
     .type = OPT_INT,
     .off = F(flow),
     .metavar = "PORT",
     .help = "only the flows of this port (a downstream port also shows the upstream flows "
             "that overlap it in time; a pooled one, which carried other requests too, only "
             "within that time)",
     .min = 1,
     .max = 65535},
    OPT_END,
};

const struct opt_spec cli_plain_opts[] = {OPT_END};

const struct opt_spec cli_check_opts[] = {
    {.name = "print",
     .type = OPT_FLAG,
     .off = F(print),
     .flag_value = true,
     .help = "print each scenario as racelab understood it: canonical YAML with every default "
             "filled in (loading it gives the same scenario)"},
    OPT_END,
};

int cli_parse(const struct opt_spec *specs, struct cli *c, int argc, char **argv, char **pos,
              int *npos, int cap, const char *synopsis, const char *about)
{
    char err[512];
    char name[64];
    snprintf(name, sizeof(name), "racelab %s", argv[1]);
    int rc = opt_parse(specs, c, argc, argv, 2, pos, npos, cap, NULL, err, sizeof(err));
    if (rc == OPT_HELP) {
        opt_usage(stdout, name, synopsis, about, specs);
        return EXIT_PASS;
    }
    if (rc != OPT_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        return EXIT_BAD;
    }
    return -1;
}
