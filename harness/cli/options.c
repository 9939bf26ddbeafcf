/* options — every command's flags, one table each (the flags run, compare and repro share are
 * written once), and the parsing of a command line against its table. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

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

static int set_shard(void *cfg, const char *val, char *err, size_t errlen)
{
    return shard_parse(val, &((struct cli *)cfg)->shard, err, errlen);
}

static int set_capture(void *cfg, const char *val, char *err, size_t errlen)
{
    struct cli *c = cfg;
    if (capture_mode_parse(val, &c->capture) != 0) {
        snprintf(err, errlen, "expected headers or full, got '%s'", val);
        return -1;
    }
    return 0;
}

static int set_keep(void *cfg, const char *val, char *err, size_t errlen)
{
    struct cli *c = cfg;
    if (strcmp(val, "all") == 0 || strcmp(val, "failing") == 0) {
        c->keep_failing = val[0] == 'f';
        return 0;
    }
    snprintf(err, errlen, "expected all or failing, got '%s'", val);
    return -1;
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
                "cell SCENARIO/MITIGATION/ with capture.pcap.gz (+ capture.pcap.hops), every "     \
                "process's logs (the records and access logs gzip'd) and command line"             \
    }
#define OPT_CAPTURE                                                                                \
    {                                                                                              \
        .name = "capture", .type = OPT_CUSTOM, .metavar = "headers|full",                          \
        .help = "what each cell's capture.pcap.gz keeps of a packet: headers (default) keeps "     \
                "the link, IP and TCP headers and the HTTP message heads, not the bodies (every "  \
                "count and verdict is the same: lengths come from the IP header); full keeps "     \
                "every byte (docs/capture.md)",                                                    \
        .parse = set_capture                                                                       \
    }
#define OPT_KEEP                                                                                   \
    {                                                                                              \
        .name = "keep", .type = OPT_CUSTOM, .metavar = "all|failing",                              \
        .help = "whose captures stay in the run's folder: all (default), or failing: only cells "  \
                "that failed an expectation, had a failing trial or an error; the others' "        \
                "capture is removed and results.json says so (\"capture\": null, "                 \
                "\"capture_removed\")",                                                            \
        .parse = set_keep                                                                          \
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
        .name = "proxy", .type = OPT_STR, .off = F(proxy), .metavar = "KIND[,KIND...]",            \
        .help = "the proxy under test: racelab (racelab-proxy, the default), nginx, haproxy, "     \
                "apache, envoy (proxies/KIND/: a config rendered from each cell's settings; a "    \
                "cell the kind cannot express is reported unsupported, a kind not installed "      \
                "skipped), a folder with an adapter.yaml, A+B for a chain's proxy1 and proxy2 "    \
                "(nginx+haproxy), or alone cmd:'CMD' (= --proxy-cmd CMD); several, "               \
                "comma-separated, run every cell with each, the proxy a column of the table and "  \
                "OUT/KIND/ each one's folder (docs/proxies.md)"                                    \
    }
#define OPT_PROXY_CMD                                                                              \
    {                                                                                              \
        .name = "proxy-cmd", .type = OPT_STR, .off = F(proxy_cmd), .metavar = "CMD",               \
        .help = "run CMD in place of racelab-proxy (= --proxy cmd:'CMD'), e.g. 'nginx-wrapper "    \
                "{listen_port} "                                                                   \
                "{upstream_port}'; placeholders {listen_port} {upstream_port} {listen} "           \
                "{upstream} (127.0.0.1:PORT) {name} {dir}; the proxy's settings of the cell are "  \
                "appended as racelab-proxy flags (--retry-on reset ...), for CMD to translate; "   \
                "racelab-proxy's access log and stats are not read"                                \
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
#define OPT_SHARD                                                                                  \
    {                                                                                              \
        .name = "shard", .type = OPT_CUSTOM, .metavar = "I/N",                                     \
        .help = "run only shard I of N (counted from 1: JOB_COMPLETION_INDEX or another 0-based "  \
                "index is I-1): the cells whose FNV-1a hash of SCENARIO/MITIGATION mod N is I-1, " \
                "so a cell stays in its shard whatever other cells exist; a shard may have no "    \
                "cell (exit 0); join the shards' folders with racelab merge",                      \
        .parse = set_shard                                                                         \
    }
#define OPT_REPEAT                                                                                 \
    {                                                                                              \
        .name = "repeat", .type = OPT_INT, .off = F(repeat), .metavar = "N",                       \
        .help = "run each cell N times (folders SCENARIO/MITIGATION/rep-1..rep-N), to hunt "       \
                "flakes: a cell's verdict is the status most repetitions have (a tie: the "        \
                "earliest's), the table, results.json and junit.xml say how many repetitions "     \
                "disagree with it, and the run fails when any repetition failed",                  \
        .min = 1, .max = 1000                                                                      \
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
    OPT_SHARD,
    OPT_REPEAT,
    OPT_NO_NETNS,
    OPT_CAPTURE,
    OPT_KEEP,
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
    OPT_TRIALS, OPT_OUT,    OPT_JSON, OPT_JUNIT, OPT_PROXY,  OPT_PROXY_CMD, OPT_PROXY_STOP_SETTLE,
    OPT_CLIENT, OPT_SERVER, OPT_JOBS, OPT_SHARD, OPT_REPEAT, OPT_NO_NETNS,  OPT_CAPTURE,
    OPT_KEEP,   OPT_QUIET,  OPT_END,
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
    OPT_CAPTURE,
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

const struct opt_spec cli_merge_opts[] = {
    {.name = "out",
     .type = OPT_STR,
     .off = F(out),
     .metavar = "DIR",
     .help = "the merged run's folder (default captures/<run-id>): results.json and junit.xml; "
             "the cells' folders stay where the inputs are and are referenced by absolute path"},
    OPT_JSON,
    OPT_JUNIT,
    OPT_QUIET,
    OPT_END,
};

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
