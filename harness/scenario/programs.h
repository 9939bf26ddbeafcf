/* programs — the programs a cell runs, as the harness sees them: binary name, flag table, the
 * flags the harness sets itself, and validation of scenario settings with the program's own
 * rules (its <prefix>_cfg library: defaults, opt table, cross-flag check), so that a bad value
 * or a contradiction is reported with the scenario's file:line before anything starts. */
#ifndef RACELAB_PROGRAMS_H
#define RACELAB_PROGRAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "opt.h"
#include "scenario.h"

enum program_kind {
    PROGRAM_UPSTREAM,
    PROGRAM_DOWNSTREAM,
    PROGRAM_PROXY,
};

/* A flag the harness always passes itself (listen address, log files, trial count...), with
 * the value used when validating a scenario. */
struct program_reserved {
    const char *flag;
    const char *sample;
    const char *why; /* "set by racelab: ..." */
};

struct program_def {
    enum program_kind kind;
    const char *bin; /* "racelab-upstream" */
    const struct opt_spec *opts;
    const struct program_reserved *reserved; /* ends with {NULL} */
};

const struct program_def *program_get(enum program_kind k);
enum program_kind program_kind_of(enum scenario_sec sec);

/* The reserved entry for flag, or NULL. */
const struct program_reserved *program_reserved(const struct program_def *d, const char *flag);

/* Checks one setting on its own: known flag, not reserved, value shape (bare flag vs value).
 * Returns 0, or -1 with "--flag: problem" in err. */
int program_check_setting(enum program_kind k, const struct scenario_setting *s, char *err,
                          size_t errlen);

/* Applies merged settings to a scratch config with the program's opt table, then its
 * cross-flag check. On error returns -1, *line = the line of the offending setting (0 when
 * the error comes from the cross-flag check) and the program's message in err. */
int program_validate(enum program_kind k, const struct scenario_setting *const *set, size_t n,
                     int *line, char *err, size_t errlen);

#endif
