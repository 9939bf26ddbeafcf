/* check — validate scenario files without running anything; --print writes each back as
 * canonical YAML. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_check(int argc, char **argv)
{
    struct cli cli = {0};
    char *pos[MAX_SCENARIOS], *paths[MAX_SCENARIOS];
    struct scenario *scns[MAX_SCENARIOS];
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
