/* racelab — reproduce HTTP/1.1 connection-close races on demand, prove each with a capture,
 * and compare the mitigations side by side (docs/design.md). Sub-commands: run, compare, repro
 * (and its alias 503-uc), list, check, explain, diff, report, merge. Exit status: 0 every
 * expectation held, 1 one failed, 2 bad input or a missing capability, 130 interrupted. Here: the
 * top-level --help and the dispatch; each command has a file of its own in cli/ (what they
 * share: cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

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
            "  diff OLD NEW            what changed between two runs (folders or results.json):\n"
            "                          verdicts, failure rates beyond their 95%% intervals,\n"
            "                          latency; exit 1 when a cell got worse\n"
            "  report RUN_DIR [-o FILE]\n"
            "                          write the run folder's report.html again (matrix, race\n"
            "                          windows, cells, sequence diagrams; one file, no script)\n"
            "  merge RUN_DIR...        join the folders of shards (run --shard I/N) into one\n"
            "                          results.json, junit.xml and table\n"
            "  archive RUN_DIR [-o FILE]\n"
            "                          pack a run's folder into one .tar.gz, index.json first\n"
            "  soak CASE               one cell at its natural rate for a time or a number of\n"
            "                          requests: failure rate with its 95%% interval, only the\n"
            "                          failing requests captured and recorded\n"
            "\n"
            "CASE is a scenario file, or NAME for scenarios/NAME.yaml.\n"
            "`racelab COMMAND --help` describes each command's flags.\n"
            "Exit status: 0 every expectation held, 1 one failed, 2 bad input or a missing\n"
            "capability (the message says how to fix it), 130 interrupted.\n"
            "Scenario format: docs/scenario-format.md; the harness: docs/harness.md.\n");
}

int main(int argc, char **argv)
{
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage_main(stderr);
        return EXIT_BAD;
    }
    cli_set_command(argc, argv);
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
    if (strcmp(cmd, "diff") == 0)
        return cmd_diff(argc, argv);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc, argv);
    if (strcmp(cmd, "merge") == 0)
        return cmd_merge(argc, argv);
    if (strcmp(cmd, "archive") == 0)
        return cmd_archive(argc, argv);
    if (strcmp(cmd, "soak") == 0)
        return cmd_soak(argc, argv);
    fprintf(stderr, "%s: unknown command '%s' (see racelab --help)\n", prog, cmd);
    return EXIT_BAD;
}
