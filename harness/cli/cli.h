/* cli — what the racelab commands share: exit statuses, the flags of a command line, and the
 * parsing of them (options.c). */
#ifndef RACELAB_CLI_H
#define RACELAB_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "opt.h"

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

/* Every command's flags (each command parses only its own). */
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

/* Each command's flags (options.c). */
extern const struct opt_spec cli_run_opts[];
extern const struct opt_spec cli_compare_opts[];
extern const struct opt_spec cli_repro_opts[];
extern const struct opt_spec cli_explain_opts[];
extern const struct opt_spec cli_plain_opts[];
extern const struct opt_spec cli_check_opts[];

/* Parses `racelab argv[1] ...` against specs into c, the positional arguments into pos (at most
 * cap). Returns EXIT_PASS after printing --help, EXIT_BAD after printing the error, -1 when the
 * command is to run. */
int cli_parse(const struct opt_spec *specs, struct cli *c, int argc, char **argv, char **pos,
              int *npos, int cap, const char *synopsis, const char *about);

#endif
