/* report — racelab report RUN_DIR: writes the run folder's report.html again from its
 * results.json and cell files (results/report_html.h); exit 0 written, 2 bad input. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report_html.h"

struct report_cli {
    const char *output;
};

static const struct opt_spec report_opts[] = {
    {.name = "output",
     .type = OPT_STR,
     .off = offsetof(struct report_cli, output),
     .metavar = "FILE",
     .help = "write the report to FILE (also -o FILE) instead of RUN_DIR/report.html; its links "
             "to the cells' captures and logs are made relative to FILE's folder"},
    OPT_END,
};

static const char about[] =
    "Writes RUN_DIR/report.html again (run, compare and repro write it at the end of every "
    "run): one self-contained page (inline CSS and SVG, no script, nothing fetched) made from "
    "RUN_DIR/results.json and the files of its cells only: the matrix of scenario x mitigation "
    "coloured by failure rate, every sweep's failure rate against the gap with its 95% band, "
    "per cell its latency histogram, outcomes, expectations with file:line, one failing trial's "
    "sequence diagram and links to its capture and logs, and the run's facts. The same folder "
    "gives the same file. docs/report.md is a tour of it.\n"
    "Exit status: 0 written; 2 bad input (no results.json in RUN_DIR, not a racelab "
    "results.json, an output that cannot be written), the message naming the file.";

int cmd_report(int argc, char **argv)
{
    struct report_cli c = {0};
    char *pos[2], err[1024];
    int npos = 0;
    /* -o FILE is --output FILE */
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    if (!args) {
        fprintf(stderr, "racelab report: out of memory\n");
        return EXIT_BAD;
    }
    for (int i = 0; i < argc; i++)
        args[i] = strcmp(argv[i], "-o") == 0 && i >= 2 ? "--output" : argv[i];
    int rc = opt_parse(report_opts, &c, argc, args, 2, pos, &npos, 2, NULL, err, sizeof(err));
    free(args);
    if (rc == OPT_HELP) {
        opt_usage(stdout, "racelab report", "RUN_DIR [-o FILE]", about, report_opts);
        return EXIT_PASS;
    }
    if (rc != OPT_OK) {
        fprintf(stderr, "racelab report: %s\n", err);
        return EXIT_BAD;
    }
    if (npos != 1) {
        fprintf(stderr, "racelab report: expected one RUN_DIR, a run folder holding results.json "
                        "(see --help)\n");
        return EXIT_BAD;
    }
    if (report_html_write(pos[0], c.output, err, sizeof(err)) != 0) {
        fprintf(stderr, "racelab report: %s\n", err);
        return EXIT_BAD;
    }
    char out[PATH_MAX + 16];
    snprintf(out, sizeof(out), "%s/report.html", pos[0]);
    printf("%s\n", c.output ? c.output : out);
    return EXIT_PASS;
}
