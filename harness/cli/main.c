/* racelab — reproduce HTTP/1.1 connection-close races on demand, prove each with a capture,
 * and compare the mitigations side by side (DESIGN.md). Sub-commands: run, compare, repro
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
#include "report.h"
#include "cell.h"
#include "cli.h"
#include "scenario.h"
#include "suite.h"

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

static int cmd_run(int argc, char **argv)
{
    struct session *ss = calloc(1, sizeof(*ss));
    char *pos[MAX_SCENARIOS], *paths[MAX_SCENARIOS];
    int npos = 0;
    size_t npaths = 0;
    int rc = cli_parse(cli_run_opts, &ss->cli, argc, argv, pos, &npos, MAX_SCENARIOS,
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
        pos[npos++] = (char *)cli_default_scenarios();
    rc = EXIT_BAD;
    if (cli_collect(pos, npos, paths, &npaths) != 0)
        goto out;
    rc = cli_execute(ss, paths, npaths, REPORT_TABLE_RUN, true);
out:
    for (size_t i = 0; i < npaths; i++)
        free(paths[i]);
    cli_session_free(ss);
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
    int rc = cli_parse(cli_check_opts, &cli, argc, argv, pos, &npos, MAX_SCENARIOS,
                       "[SCENARIO|DIR]... [--print]",
                       "Validates scenario files (keys, types, hops, metrics, and every "
                       "program setting with that program's own flag rules) without running "
                       "anything; prints each scenario's cells. Exit 0 when all are valid, 2 "
                       "with FILE:LINE: key: problem otherwise.");
    if (rc >= 0)
        return rc;
    if (npos == 0)
        pos[npos++] = (char *)cli_default_scenarios();
    if (cli_collect(pos, npos, paths, &npaths) != 0)
        return EXIT_BAD;
    rc = cli_load_all(paths, npaths, scns) == 0 ? EXIT_PASS : EXIT_BAD;
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
    int rc =
        cli_parse(cli_plain_opts, &cli, argc, argv, pos, &npos, MAX_SCENARIOS, "[DIR|SCENARIO]...",
                  "Lists scenarios (default: scenarios/) with their intent, seed "
                  "references, mitigations and the fix.");
    if (rc >= 0)
        return rc;
    if (npos == 0)
        pos[npos++] = (char *)cli_default_scenarios();
    if (cli_collect(pos, npos, paths, &npaths) != 0)
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
    int rc = cli_parse(cli_compare_opts, &ss->cli, argc, argv, pos, &npos, 2, "CASE [flags]",
                       "Runs every mitigation of one case on the same work and prints one "
                       "table: failure rate, client outcomes, RSTs per hop, proxy flags, p50/p99 "
                       "latency and throughput. CASE is a scenario file or a name in "
                       "scenarios/.");
    if (rc < 0) {
        rc = EXIT_BAD;
        if (npos != 1)
            fprintf(stderr, "racelab compare: expected one CASE (see --help)\n");
        else if (cli_resolve_case(pos[0], path, sizeof(path)) == 0)
            rc = cli_execute(ss, paths, 1, REPORT_TABLE_COMPARE, true);
    }
    cli_session_free(ss);
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
    if (cli_resolve_case(name, path, sizeof(path)) != 0)
        return EXIT_BAD;
    if (ss->cli.mit.n == 0)
        ss->cli.mit.v[ss->cli.mit.n++] = "none";
    ss->cli.quiet = true;
    fprintf(stderr, "racelab: running %s with mitigation %s...\n", name, ss->cli.mit.v[0]);
    int rc = cli_execute(ss, paths, 1, REPORT_TABLE_RUN, false);
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
    int rc =
        cli_parse(cli_repro_opts, &ss->cli, argc, argv, pos, &npos, 2,
                  fixed_case ? "[flags]" : "CASE [flags]",
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
    cli_session_free(ss);
    free(ss);
    return rc;
}

static int cmd_explain(int argc, char **argv)
{
    struct cli cli = {0};
    char *pos[2];
    int npos = 0;
    int rc = cli_parse(cli_explain_opts, &cli, argc, argv, pos, &npos, 2, "PCAP [--flow PORT]",
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
