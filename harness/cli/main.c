/* racelab — reproduce HTTP/1.1 connection-close races on demand, prove each with a capture,
 * and compare the mitigations side by side (docs/design.md). Sub-commands: run, compare, repro
 * (and its alias 503-uc), list, check, explain. Exit status: 0 every expectation held, 1 one
 * failed, 2 bad input or a missing capability, 130 interrupted. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "explain.h"
#include "metrics.h"
#include "netns.h"
#include "opt.h"
#include "report.h"
#include "cell.h"
#include "scenario.h"
#include "suite.h"

#ifndef RACELAB_SOURCE_DIR
#define RACELAB_SOURCE_DIR "."
#endif

#define EXIT_PASS        0
#define EXIT_FAIL        1
#define EXIT_BAD         2
#define EXIT_INTERRUPTED 130
#define MAX_NAMES        64
#define MAX_SCENARIOS    256

struct names {
    const char *v[MAX_NAMES];
    size_t n;
};

struct cli {
    long trials;
    struct names mit;
    const char *out;
    const char *json;
    const char *junit;
    const char *proxy_cmd;
    long jobs;
    bool no_netns;
    bool keep_going;
    bool quiet;
    bool print;
    long flow;
};

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
#define OPT_PROXY_CMD                                                                              \
    {                                                                                              \
        .name = "proxy-cmd", .type = OPT_STR, .off = F(proxy_cmd), .metavar = "CMD",               \
        .help = "run CMD in place of racelab-proxy, e.g. 'nginx-wrapper {listen_port} "            \
                "{upstream_port}'; placeholders {listen_port} {upstream_port} {listen} "           \
                "{upstream} (127.0.0.1:PORT) {name} {dir}; each mitigation's proxy_cmd_args are "  \
                "appended; mitigations that change proxy flags without proxy_cmd_args are "        \
                "skipped; without an access log only the downstream hop is attributed"             \
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

static const struct opt_spec run_opts[] = {
    OPT_TRIALS,
    OPT_MITIGATION,
    OPT_OUT,
    OPT_JSON,
    OPT_JUNIT,
    OPT_PROXY_CMD,
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

static const struct opt_spec compare_opts[] = {
    OPT_TRIALS, OPT_OUT,      OPT_JSON,  OPT_JUNIT, OPT_PROXY_CMD,
    OPT_JOBS,   OPT_NO_NETNS, OPT_QUIET, OPT_END,
};

static const struct opt_spec repro_opts[] = {
    OPT_TRIALS,
    OPT_OUT,
    OPT_PROXY_CMD,
    OPT_NO_NETNS,
    {.name = "mitigation",
     .type = OPT_CUSTOM,
     .metavar = "NAME",
     .help = "the mitigation to run (default: none)",
     .parse = add_mitigation},
    OPT_END,
};

static const struct opt_spec explain_opts[] = {
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

static const struct opt_spec plain_opts[] = {OPT_END};

static const struct opt_spec check_opts[] = {
    {.name = "print",
     .type = OPT_FLAG,
     .off = F(print),
     .flag_value = true,
     .help = "print each scenario as racelab understood it: canonical YAML with every default "
             "filled in (loading it gives the same scenario)"},
    OPT_END,
};

static const char *prog = "racelab";

static void usage_main(FILE *out)
{
    fprintf(out,
            "usage: racelab COMMAND [ARGS]\n"
            "\n"
            "Reproduces HTTP/1.1 connection-close races (502/503 \"UC\", resets) on demand, each\n"
            "cell (scenario × mitigation) in its own network namespace with a packet capture,\n"
            "and shows which mitigation removes each race and at what cost.\n"
            "\n"
            "commands:\n"
            "  run [SCENARIO|DIR]...   run scenarios (default: scenarios/), every mitigation;\n"
            "                          table on stdout, results in captures/<run-id>/\n"
            "  compare CASE            one case, every mitigation, one table: failure rate,\n"
            "                          outcomes, RSTs per hop, proxy flags, p50/p99, throughput\n"
            "  repro CASE              run CASE without mitigation once; say what happened,\n"
            "                          draw one failing trial's packets, name the fix\n"
            "  503-uc                  repro upstream-reuse-after-fin (Envoy's \"503 UC\")\n"
            "  list [DIR|SCENARIO]...  scenarios with their intent and mitigations\n"
            "  check [SCENARIO|DIR]... validate scenario files only (exit 2 on the first error)\n"
            "  explain PCAP [--flow PORT]\n"
            "                          sequence diagram of a capture, race annotated\n"
            "\n"
            "CASE is a scenario file, or NAME for scenarios/NAME.yaml.\n"
            "`racelab COMMAND --help` describes each command's flags.\n"
            "Exit status: 0 every expectation held, 1 one failed, 2 bad input or a missing\n"
            "capability (the message says how to fix it), 130 interrupted.\n"
            "Scenario format: docs/scenario-format.md; the harness: docs/harness.md.\n");
}

static int parse_cmd(const struct opt_spec *specs, struct cli *c, int argc, char **argv, char **pos,
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

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* scenarios/ of the current folder, else of the source tree. */
static const char *default_scenarios(void)
{
    static char buf[PATH_MAX];
    if (is_dir("scenarios"))
        return "scenarios";
    snprintf(buf, sizeof(buf), "%s/scenarios", RACELAB_SOURCE_DIR);
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_yaml(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

/* Files from arguments: a file as given, a folder's *.yaml sorted by name. */
static int collect(char **args, int nargs, char **paths, size_t *npaths)
{
    *npaths = 0;
    for (int i = 0; i < nargs; i++) {
        if (is_file(args[i])) {
            if (*npaths < MAX_SCENARIOS)
                paths[(*npaths)++] = strdup(args[i]);
            continue;
        }
        DIR *d = opendir(args[i]);
        if (!d) {
            fprintf(stderr, "racelab: %s: %s (expected a scenario file or a folder of them)\n",
                    args[i], strerror(errno));
            return -1;
        }
        size_t first = *npaths;
        struct dirent *e;
        while ((e = readdir(d)) && *npaths < MAX_SCENARIOS) {
            if (!is_yaml(e->d_name))
                continue;
            char p[PATH_MAX];
            size_t l = strlen(args[i]);
            snprintf(p, sizeof(p), "%s%s%s", args[i], l && args[i][l - 1] == '/' ? "" : "/",
                     e->d_name);
            paths[(*npaths)++] = strdup(p);
        }
        closedir(d);
        qsort(paths + first, *npaths - first, sizeof(*paths), cmp_str);
        if (*npaths == first) {
            fprintf(stderr, "racelab: %s: no scenario files (*.yaml) in this folder\n", args[i]);
            return -1;
        }
    }
    return 0;
}

/* Loads every file; reports every bad one (file:line: key: problem). */
static int load_all(char **paths, size_t n, struct scn **out)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char err[1024];
        out[i] = scenario_load(paths[i], err, sizeof(err));
        if (!out[i]) {
            fprintf(stderr, "racelab: %s\n", err);
            bad = 1;
        }
    }
    for (size_t i = 0; i < n && !bad; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(out[i]->name, out[j]->name) == 0) {
                fprintf(stderr, "racelab: %s:1: name: '%s' is also the name of %s\n", out[i]->path,
                        out[i]->name, out[j]->path);
                bad = 1;
            }
    return bad ? -1 : 0;
}

/* CASE: a file, or NAME → scenarios/NAME.yaml (current folder, then the source tree). */
static int resolve_case(const char *name, char *path, size_t len)
{
    if (is_file(name)) {
        snprintf(path, len, "%s", name);
        return 0;
    }
    const char *dirs[] = {"scenarios", RACELAB_SOURCE_DIR "/scenarios"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, len, "%s/%s.yaml", dirs[i], name);
        if (is_file(path))
            return 0;
    }
    fprintf(stderr,
            "racelab: no scenario '%s' (looked for the file, scenarios/%s.yaml and %s/scenarios/"
            "%s.yaml; `racelab list` shows the cases)\n",
            name, name, RACELAB_SOURCE_DIR, name);
    return -1;
}

static void bin_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(buf, len, ".");
        return;
    }
    exe[n] = '\0';
    snprintf(buf, len, "%s", dirname(exe));
}

static bool executable_in_path(const char *cmd)
{
    char word[PATH_MAX];
    size_t i = 0;
    const char *p = cmd;
    while (*p == ' ' || *p == '\t')
        p++;
    bool quoted = *p == '\'' || *p == '"';
    if (quoted)
        p++;
    while (*p && i + 1 < sizeof(word) &&
           (quoted ? *p != '\'' && *p != '"' : *p != ' ' && *p != '\t'))
        word[i++] = *p++;
    word[i] = '\0';
    if (strchr(word, '/'))
        return access(word, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char buf[2 * PATH_MAX + 2];
    for (const char *s = path; *s;) {
        const char *e = strchr(s, ':');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)l, s, word);
        if (access(buf, X_OK) == 0)
            return true;
        s += l + (e ? 1 : 0);
    }
    return false;
}

/* Everything a run needs, checked before anything starts: programs, namespace, capture. */
static int preflight(struct suite *su, struct scn **scns, size_t nscn)
{
    bool need_proxy = false, need_netns = false;
    for (size_t i = 0; i < su->n; i++) {
        if (su->cells[i].skipped)
            continue;
        if (su->cells[i].cell.s->topo != SCENARIO_DIRECT)
            need_proxy = true;
        need_netns = true;
    }
    const char *progs[] = {"racelab-upstream", "racelab-downstream", "racelab-proxy"};
    for (size_t i = 0; i < 3; i++) {
        if (i == 2 && (!need_proxy || su->env.proxy_cmd))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", su->env.bin_dir, progs[i]);
        if (access(p, X_OK) != 0) {
            fprintf(stderr,
                    "racelab: %s: %s — racelab runs the programs next to its own binary; build "
                    "them (cmake --build BUILD_DIR --target %s)\n",
                    p, strerror(errno), progs[i]);
            return -1;
        }
    }
    if (su->env.proxy_cmd && need_proxy && !executable_in_path(su->env.proxy_cmd)) {
        fprintf(stderr,
                "racelab: --proxy-cmd: '%s': the command is not an executable file or "
                "in PATH\n",
                su->env.proxy_cmd);
        return -1;
    }
    if (!su->env.netns) {
        for (size_t i = 0; i < nscn; i++) {
            const struct scn *s = scns[i];
            int line = s->nwire ? s->wire[0].line : 0;
            for (size_t j = 0; j < s->nmit && !line; j++)
                if (s->mit[j].nwire)
                    line = s->mit[j].wire[0].line;
            if (line) {
                fprintf(stderr,
                        "racelab: %s:%d: wire: wire faults need a network namespace per cell; "
                        "--no-netns cannot run this scenario (run without --no-netns, as root "
                        "or with unprivileged user namespaces enabled)\n",
                        s->path, line);
                return -1;
            }
        }
        return 0;
    }
    if (need_netns) {
        char err[1024];
        if (netns_probe(err, sizeof(err)) != 0) {
            fprintf(stderr, "racelab: cannot isolate cells: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static void make_run_id(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, len, "%s-%ld", ts, (long)getpid());
}

static void default_out(char *buf, size_t len, const char *run_id)
{
    if (is_dir("captures") || !is_dir(RACELAB_SOURCE_DIR "/captures"))
        snprintf(buf, len, "captures/%s", run_id);
    else
        snprintf(buf, len, "%s/captures/%s", RACELAB_SOURCE_DIR, run_id);
}

struct session {
    struct cli cli;
    char bin[PATH_MAX];
    char run_id[64];
    char out[PATH_MAX];
    struct scn *scns[MAX_SCENARIOS];
    size_t nscn;
    struct suite su;
};

static void session_free(struct session *ss)
{
    suite_free(&ss->su);
    for (size_t i = 0; i < ss->nscn; i++)
        scenario_free(ss->scns[i]);
}

/* Builds the matrix; --mitigation names must exist in at least one scenario. */
static int build_cells(struct session *ss)
{
    struct cli *c = &ss->cli;
    char err[512];
    for (size_t k = 0; k < c->mit.n; k++) {
        bool found = false;
        for (size_t i = 0; i < ss->nscn; i++)
            if (scenario_find_mit(ss->scns[i], c->mit.v[k]))
                found = true;
        if (!found) {
            fprintf(stderr,
                    "racelab: --mitigation %s: no scenario given has it (`racelab list` "
                    "shows each scenario's mitigations)\n",
                    c->mit.v[k]);
            return -1;
        }
    }
    for (size_t i = 0; i < ss->nscn; i++) {
        const struct scn *s = ss->scns[i];
        for (size_t j = 0; j < s->nmit; j++) {
            bool wanted = c->mit.n == 0;
            for (size_t k = 0; k < c->mit.n; k++)
                if (strcmp(c->mit.v[k], s->mit[j].name) == 0)
                    wanted = true;
            if (wanted && suite_add(&ss->su, s, &s->mit[j], c->trials, err, sizeof(err)) != 0) {
                fprintf(stderr, "racelab: %s\n", err);
                return -1;
            }
        }
    }
    return 0;
}

static int write_outputs(struct session *ss)
{
    char path[PATH_MAX + 32];
    int rc = 0;
    json_t *res = report_results(&ss->su, ss->run_id);
    snprintf(path, sizeof(path), "%s/results.json", ss->out);
    if (!res || json_dump_file(res, path, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "racelab: cannot write %s\n", path);
        rc = -1;
    }
    if (res && ss->cli.json && json_dump_file(res, ss->cli.json, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "racelab: --json: cannot write %s\n", ss->cli.json);
        rc = -1;
    }
    json_decref(res);
    snprintf(path, sizeof(path), "%s/junit.xml", ss->out);
    if (report_junit(&ss->su, path) != 0) {
        fprintf(stderr, "racelab: cannot write %s\n", path);
        rc = -1;
    }
    if (ss->cli.junit && report_junit(&ss->su, ss->cli.junit) != 0) {
        fprintf(stderr, "racelab: --junit: cannot write %s\n", ss->cli.junit);
        rc = -1;
    }
    return rc;
}

/* Load, check, run, report: shared by run, compare and repro. */
static int execute(struct session *ss, char **paths, size_t npaths, enum report_table table,
                   bool print_table)
{
    struct cli *c = &ss->cli;
    int rc = EXIT_BAD;
    ss->nscn = npaths;
    if (load_all(paths, npaths, ss->scns) != 0)
        return EXIT_BAD;
    bin_dir(ss->bin, sizeof(ss->bin));
    make_run_id(ss->run_id, sizeof(ss->run_id));
    if (c->out)
        snprintf(ss->out, sizeof(ss->out), "%s", c->out);
    else
        default_out(ss->out, sizeof(ss->out), ss->run_id);
    ss->su.out_dir = ss->out;
    ss->su.env.bin_dir = ss->bin;
    ss->su.env.proxy_cmd = c->proxy_cmd;
    ss->su.env.netns = !c->no_netns;
    ss->su.jobs = c->jobs ? c->jobs : suite_default_jobs();
    ss->su.keep_going = c->keep_going;
    ss->su.quiet = c->quiet;
    if (build_cells(ss) != 0 || preflight(&ss->su, ss->scns, ss->nscn) != 0)
        return EXIT_BAD;
    if (suite_mkdirs(ss->out) != 0) {
        fprintf(stderr, "racelab: --out: cannot create %s: %s\n", ss->out, strerror(errno));
        return EXIT_BAD;
    }
    if (!c->quiet)
        fprintf(stderr, "racelab: %zu cells, %ld at a time, into %s\n", ss->su.n, ss->su.jobs,
                ss->out);
    int interrupted = suite_run(&ss->su) != 0;
    if (print_table) {
        report_table(stdout, &ss->su, table);
        fflush(stdout);
    }
    if (write_outputs(ss) != 0)
        return EXIT_BAD;
    if (!c->quiet)
        fprintf(stderr, "racelab: %s in %.1f s; results: %s/results.json\n",
                interrupted             ? "interrupted"
                : suite_passed(&ss->su) ? "all passed"
                                        : "FAILED",
                ss->su.wall_s, ss->out);
    rc = interrupted ? EXIT_INTERRUPTED : suite_passed(&ss->su) ? EXIT_PASS : EXIT_FAIL;
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    struct session *ss = calloc(1, sizeof(*ss));
    char *pos[MAX_SCENARIOS], *paths[MAX_SCENARIOS];
    int npos = 0;
    size_t npaths = 0;
    int rc = parse_cmd(run_opts, &ss->cli, argc, argv, pos, &npos, MAX_SCENARIOS,
                       "[SCENARIO|DIR]... [flags]",
                       "Runs every mitigation of each scenario (a file, or every *.yaml of a "
                       "folder; default: scenarios/) as one cell each, in a network namespace "
                       "of its own, with a packet capture. Prints a table (scenario, "
                       "mitigation, trials, failures, outcomes, RSTs per hop, proxy flags, "
                       "p50/p99, PASS/FAIL) and writes results.json and junit.xml. Exit: 0 "
                       "every expectation held, 1 one failed, 2 bad input or missing "
                       "capability, 130 interrupted.");
    if (rc >= 0)
        goto out;
    if (npos == 0)
        pos[npos++] = (char *)default_scenarios();
    rc = EXIT_BAD;
    if (collect(pos, npos, paths, &npaths) != 0)
        goto out;
    rc = execute(ss, paths, npaths, REPORT_TABLE_RUN, true);
out:
    for (size_t i = 0; i < npaths; i++)
        free(paths[i]);
    session_free(ss);
    free(ss);
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    struct cli cli = {0};
    char *pos[MAX_SCENARIOS], *paths[MAX_SCENARIOS];
    struct scn *scns[MAX_SCENARIOS];
    int npos = 0;
    size_t npaths = 0;
    int rc = parse_cmd(check_opts, &cli, argc, argv, pos, &npos, MAX_SCENARIOS,
                       "[SCENARIO|DIR]... [--print]",
                       "Validates scenario files (keys, types, hops, metrics, and every "
                       "program setting with that program's own flag rules) without running "
                       "anything; prints each scenario's cells. Exit 0 when all are valid, 2 "
                       "with FILE:LINE: key: problem otherwise.");
    if (rc >= 0)
        return rc;
    if (npos == 0)
        pos[npos++] = (char *)default_scenarios();
    if (collect(pos, npos, paths, &npaths) != 0)
        return EXIT_BAD;
    rc = load_all(paths, npaths, scns) == 0 ? EXIT_PASS : EXIT_BAD;
    for (size_t i = 0; i < npaths; i++) {
        if (rc == EXIT_PASS && cli.print) {
            scenario_write(stdout, scns[i]);
        } else if (rc == EXIT_PASS) {
            printf("%s: %s, %s, %ld trials, mitigations:", scns[i]->path, scns[i]->name,
                   scenario_topo_name(scns[i]->topo), scns[i]->trials);
            for (size_t j = 0; j < scns[i]->nmit; j++)
                printf(" %s", scns[i]->mit[j].name);
            printf("\n");
        }
        scenario_free(scns[i]);
        free(paths[i]);
    }
    return rc;
}

static void first_line(char *buf, size_t len, const char *text)
{
    size_t n = strcspn(text, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
}

static int cmd_list(int argc, char **argv)
{
    struct cli cli = {0};
    char *pos[MAX_SCENARIOS], *paths[MAX_SCENARIOS];
    int npos = 0;
    size_t npaths = 0;
    int rc = parse_cmd(plain_opts, &cli, argc, argv, pos, &npos, MAX_SCENARIOS, "[DIR|SCENARIO]...",
                       "Lists scenarios (default: scenarios/) with their intent, seed "
                       "references, mitigations and the fix.");
    if (rc >= 0)
        return rc;
    if (npos == 0)
        pos[npos++] = (char *)default_scenarios();
    if (collect(pos, npos, paths, &npaths) != 0)
        return EXIT_BAD;
    rc = EXIT_PASS;
    for (size_t i = 0; i < npaths; i++) {
        char err[1024];
        struct scn *s = scenario_load(paths[i], err, sizeof(err));
        if (!s) {
            fprintf(stderr, "racelab: %s\n", err);
            rc = EXIT_BAD;
            free(paths[i]);
            continue;
        }
        char intent[400];
        first_line(intent, sizeof(intent), s->intent);
        printf("%s  (%s, %ld trials)\n  %s\n", s->name, scenario_topo_name(s->topo), s->trials,
               intent);
        if (s->nseed) {
            printf("  seed:");
            for (size_t j = 0; j < s->nseed; j++)
                printf(" %s", s->seed[j]);
            printf("\n");
        }
        printf("  mitigations:");
        for (size_t j = 0; j < s->nmit; j++)
            printf(" %s", s->mit[j].name);
        printf("\n");
        if (s->nfix) {
            printf("  fixed by:");
            for (size_t j = 0; j < s->nfix; j++)
                printf(" %s", s->fix[j]);
            printf("\n");
        }
        printf("\n");
        scenario_free(s);
        free(paths[i]);
    }
    return rc;
}

static int cmd_compare(int argc, char **argv)
{
    struct session *ss = calloc(1, sizeof(*ss));
    char *pos[2], path[PATH_MAX], *paths[1] = {path};
    int npos = 0;
    int rc = parse_cmd(compare_opts, &ss->cli, argc, argv, pos, &npos, 2, "CASE [flags]",
                       "Runs every mitigation of one case on the same work and prints one "
                       "table: failure rate, client outcomes, RSTs per hop, proxy flags, p50/p99 "
                       "latency and throughput. CASE is a scenario file or a name in "
                       "scenarios/.");
    if (rc < 0) {
        rc = EXIT_BAD;
        if (npos != 1)
            fprintf(stderr, "racelab compare: expected one CASE (see --help)\n");
        else if (resolve_case(pos[0], path, sizeof(path)) == 0)
            rc = execute(ss, paths, 1, REPORT_TABLE_COMPARE, true);
    }
    session_free(ss);
    free(ss);
    return rc;
}

/* One mitigation's overrides, as the flags they give. */
static void print_overrides(FILE *out, const struct scenario_mit *m)
{
    for (int sec = 0; sec < SCENARIO_NSEC; sec++) {
        const struct scenario_settings *st = &m->set[sec];
        if (!st->n)
            continue;
        fprintf(out, "    %s:", scenario_sec_name((enum scenario_sec)sec));
        for (size_t i = 0; i < st->n; i++) {
            const struct scenario_setting *s = &st->v[i];
            if (s->off) {
                fprintf(out, " (no --%s)", s->name);
                continue;
            }
            if (!s->vals)
                fprintf(out, " --%s", s->name);
            for (size_t j = 0; s->vals && j < s->nvals; j++)
                fprintf(out, " --%s %s", s->name, s->vals[j]);
        }
        fprintf(out, "\n");
    }
    if (m->has_wire)
        fprintf(out, "    wire: %s\n", m->nwire ? "changed faults" : "no wire faults");
}

/* The trial repro draws: a failing one (one with an RST, when some have one), else the
 * slowest; told in words before its diagram. */
static void draw_trial(const struct scn *s, const json_t *cell, const char *pcap)
{
    const json_t *ft = json_object_get(cell, "failing_trials");
    const json_t *pick = NULL;
    size_t i;
    const json_t *t;
    json_array_foreach(ft, i, t)
    {
        if (!pick || (json_array_size(json_object_get(t, "rst")) > 0 &&
                      json_array_size(json_object_get(pick, "rst")) == 0))
            pick = t;
    }
    char err[512] = "", path[PATH_MAX + 32];
    const char *dir = json_string_value(json_object_get(cell, "dir"));
    snprintf(path, sizeof(path), "%s/downstream.jsonl", dir ? dir : ".");
    json_t *records = dir ? run_read_jsonl(path, err, sizeof(err)) : NULL;
    long trial = -1, port = 0;
    if (pick) {
        trial = (long)json_integer_value(json_object_get(pick, "trial"));
        port = (long)json_integer_value(json_object_get(pick, "lport"));
        printf("\nOne failing trial (trial %ld, outcome %s, downstream port %ld):\n\n", trial,
               json_string_value(json_object_get(pick, "outcome")), port);
    } else {
        double ms = 0;
        trial = records ? metrics_slowest_trial(records, &ms) : -1;
        size_t k;
        const json_t *r;
        json_array_foreach(records, k, r)
        {
            if (json_integer_value(json_object_get(r, "trial")) == trial && !port)
                port = (long)json_integer_value(json_object_get(r, "lport"));
        }
        if (trial < 0) {
            printf("\nNo trial failed, and the client recorded no request to draw.\n");
            json_decref(records);
            return;
        }
        printf("\nNo trial failed; the slowest trial took %.1f ms (trial %ld, downstream port "
               "%ld):\n\n",
               ms, trial, port);
    }
    if (!pcap) {
        printf("  (nothing was captured in this run)\n");
        json_decref(records);
        return;
    }
    /* Exactly the trial's connections: its downstream ports from the records and, through the
     * proxies' access logs, the upstream connections its requests used. */
    json_t *access[2] = {NULL, NULL};
    const char *names[4];
    size_t nnodes = scenario_topo_nodes(s->topo, names), np = 0;
    bool logs = json_is_true(json_object_get(cell, "access_log"));
    for (size_t p = 0; logs && p + 2 < nnodes && p < 2; p++, np++) {
        snprintf(path, sizeof(path), "%s/%s.access.jsonl", dir, names[p + 1]);
        access[p] = run_read_jsonl(path, err, sizeof(err));
    }
    size_t nsel = 0;
    uint64_t from = 0, to = 0;
    struct explain_flow_sel *sel =
        metrics_trial_flows(records, (const json_t *const *)access, np, trial, &nsel, &from, &to);
    /* Without an access log (--proxy-cmd) the hops behind the proxy cannot be told apart by
     * trial: every flow of theirs during the trial is drawn, pooled ones clipped to it. */
    for (size_t h = np + 1; sel && h + 1 < nnodes; h++) {
        struct explain_flow_sel *v = realloc(sel, (nsel + 1) * sizeof(*v));
        if (!v)
            break;
        sel = v;
        sel[nsel++] = (struct explain_flow_sel){h, 0, 0, 0, false};
    }
    struct analysis_hop hops[8];
    int nh = explain_read_hops(pcap, hops, 8, err, sizeof(err));
    if (!sel)
        printf("  (cannot draw it: the client recorded no connection for trial %ld)\n", trial);
    else if (nh < 0 ||
             explain_print_flows(stdout, pcap, nh > 0 ? hops : NULL, nh > 0 ? (size_t)nh : 0, sel,
                                 nsel, from, to, err, sizeof(err)) != 0)
        printf("  (cannot draw it: %s)\n", err);
    if (nh > 0)
        explain_hops_free(hops, (size_t)nh);
    free(sel);
    json_decref(access[0]);
    json_decref(access[1]);
    json_decref(records);
}

static int repro(struct session *ss, const char *name)
{
    char path[PATH_MAX], *paths[1] = {path};
    if (resolve_case(name, path, sizeof(path)) != 0)
        return EXIT_BAD;
    if (ss->cli.mit.n == 0)
        ss->cli.mit.v[ss->cli.mit.n++] = "none";
    ss->cli.quiet = true;
    fprintf(stderr, "racelab: running %s with mitigation %s...\n", name, ss->cli.mit.v[0]);
    int rc = execute(ss, paths, 1, REPORT_TABLE_RUN, false);
    if (rc == EXIT_BAD || ss->su.n == 0)
        return rc;
    const struct scn *s = ss->scns[0];
    const json_t *cell = ss->su.cells[0].result;
    report_words(stdout, s, cell);
    report_verdict(stdout, s, cell);
    const char *pcap = json_string_value(json_object_get(cell, "capture"));
    draw_trial(s, cell, pcap);
    if (pcap)
        printf("\nCapture: %s\n  (racelab explain %s --flow PORT; or tshark -r %s)\n", pcap, pcap,
               pcap);
    printf("Logs: %s\n", json_string_value(json_object_get(cell, "dir")));
    if (s->nfix) {
        printf("\nWhat fixes it:\n");
        for (size_t k = 0; k < s->nfix; k++) {
            const struct scenario_mit *m = scenario_find_mit(s, s->fix[k]);
            printf("  %s%s%s\n", m->name, m->about ? ": " : "", m->about ? m->about : "");
            print_overrides(stdout, m);
        }
        printf("  (compare them: racelab compare %s)\n", s->name);
    }
    /* The verdict is the cell's expectations: a case whose race is a cost (delay-close-cost)
     * reproduces without a single failing trial. */
    return rc;
}

static int cmd_repro(int argc, char **argv, const char *fixed_case)
{
    struct session *ss = calloc(1, sizeof(*ss));
    char *pos[2];
    int npos = 0;
    int rc = parse_cmd(
        repro_opts, &ss->cli, argc, argv, pos, &npos, 2, fixed_case ? "[flags]" : "CASE [flags]",
        fixed_case ? "Envoy's \"503 UC\": runs upstream-reuse-after-fin without "
                     "mitigation once (= racelab repro upstream-reuse-after-fin)."
                   : "Runs CASE with mitigation none once, says what happened in "
                     "words, draws the packets of one failing trial (or, when none "
                     "failed, of the slowest one): its downstream connections and the "
                     "upstream connections its requests used, gives the pcap path and "
                     "the mitigation that fixes it (the scenario's fix:). Exit 0 when "
                     "the cell's expectations hold (the case reproduced as the scenario "
                     "says), 1 when they do not.");
    if (rc < 0) {
        rc = EXIT_BAD;
        if (fixed_case && npos == 0)
            rc = repro(ss, fixed_case);
        else if (!fixed_case && npos == 1)
            rc = repro(ss, pos[0]);
        else
            fprintf(stderr, "racelab %s: expected %s (see --help)\n", argv[1],
                    fixed_case ? "no argument" : "one CASE");
    }
    session_free(ss);
    free(ss);
    return rc;
}

static int cmd_explain(int argc, char **argv)
{
    struct cli cli = {0};
    char *pos[2];
    int npos = 0;
    int rc = parse_cmd(explain_opts, &cli, argc, argv, pos, &npos, 2, "PCAP [--flow PORT]",
                       "Prints an ASCII sequence diagram of a capture: one column per program "
                       "(named from the PCAP.hops file racelab writes next to each capture), "
                       "one line per packet with time, flags and length, the race annotated.");
    if (rc >= 0)
        return rc;
    if (npos != 1) {
        fprintf(stderr, "racelab explain: expected one PCAP (see --help)\n");
        return EXIT_BAD;
    }
    struct analysis_hop hops[8];
    char err[512];
    int nh = explain_read_hops(pos[0], hops, 8, err, sizeof(err));
    if (nh < 0) {
        fprintf(stderr, "racelab explain: %s\n", err);
        return EXIT_BAD;
    }
    rc = explain_print(stdout, pos[0], nh > 0 ? hops : NULL, nh > 0 ? (size_t)nh : 0,
                       (uint16_t)cli.flow, err, sizeof(err));
    if (nh > 0)
        explain_hops_free(hops, (size_t)nh);
    if (rc != 0) {
        fprintf(stderr, "racelab explain: %s\n", err);
        return EXIT_BAD;
    }
    return EXIT_PASS;
}

int main(int argc, char **argv)
{
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage_main(stderr);
        return EXIT_BAD;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage_main(stdout);
        return EXIT_PASS;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc, argv);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc, argv);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc, argv);
    if (strcmp(cmd, "compare") == 0)
        return cmd_compare(argc, argv);
    if (strcmp(cmd, "repro") == 0)
        return cmd_repro(argc, argv, NULL);
    if (strcmp(cmd, "503-uc") == 0)
        return cmd_repro(argc, argv, "upstream-reuse-after-fin");
    if (strcmp(cmd, "explain") == 0)
        return cmd_explain(argc, argv);
    fprintf(stderr, "%s: unknown command '%s' (see racelab --help)\n", prog, cmd);
    return EXIT_BAD;
}
