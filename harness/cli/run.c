/* run, compare — run scenarios, every mitigation (or those of --mitigation), and print the
 * table: run takes files and folders, compare one case. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_run(int argc, char **argv)
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

int cmd_compare(int argc, char **argv)
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
