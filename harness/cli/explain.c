/* explain — a capture as an ASCII sequence diagram, the race annotated. */
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "explain.h"

int cmd_explain(int argc, char **argv)
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
