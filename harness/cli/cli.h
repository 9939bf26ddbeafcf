/* cli — what the racelab commands share: exit statuses, the flags of a command line and their
 * parsing (options.c), the scenario files the arguments name (files.c), and the session that
 * runs them for run, compare and repro (session.c); the commands, one file each. */
#ifndef RACELAB_CLI_H
#define RACELAB_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "opt.h"
#include "report.h"
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

/* ---- options.c ---- */

/* The flags of a command line: one struct for every command, each command's table fills its
 * own. */
struct cli {
    long trials;
    struct names mit;
    const char *out;
    const char *json;
    const char *junit;
    const char *proxy; /* --proxy KIND */
    const char *proxy_cmd;
    long proxy_stop_settle; /* ms; with proxy_stop_settle_set */
    bool proxy_stop_settle_set;
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

/* ---- files.c ---- */

bool cli_is_dir(const char *p);

/* scenarios/ of the current folder, else of the source tree. */
const char *cli_default_scenarios(void);

/* Files from arguments (strdup'd into paths, at most MAX_SCENARIOS): a file as given, a folder's
 * *.yaml sorted by name; no argument is cli_default_scenarios(). 0, or -1 after saying why. */
int cli_collect(char **args, int nargs, char **paths, size_t *npaths);

/* Loads every file into out[i] (NULL when it does not load); reports every bad one
 * (file:line: key: problem) and names given twice. 0 when all loaded, else -1. */
int cli_load_all(char **paths, size_t n, struct scenario **out);

/* CASE: a file, or NAME → scenarios/NAME.yaml (current folder, then the source tree). 0, or
 * -1 after saying where it looked. */
int cli_resolve_case(const char *name, char *path, size_t len);

/* ---- session.c ---- */

/* A run of cells: its flags, where it writes, its scenarios and its cells. */
struct session {
    struct cli cli;
    char bin[PATH_MAX];
    char run_id[64];
    char out[PATH_MAX];
    bool locked; /* lock_fd holds the flock on out/.racelab.lock while the run lives */
    int lock_fd;
    struct scenario *scns[MAX_SCENARIOS];
    size_t nscn;
    struct suite su;
    struct kind *kind;          /* --proxy KIND's adapter (proxy.c) */
    char kind_binary[PATH_MAX]; /* its binary, when installed */
};

/* ---- proxy.c ---- */

/* --proxy KIND into the session's run_env: racelab (nothing to do), cmd:'CMD' (--proxy-cmd),
 * or a kind's adapter loaded and checked, its binary looked for (a missing one leaves the
 * cells skipped, with why in su.kind_missing) and its stop. 0, or -1 after saying why (a bad
 * adapter: FILE:LINE). */
int cli_proxy(struct session *ss);

/* Load, check, run, report: shared by run, compare and repro. The table goes to stdout when
 * print_table. Returns the exit status. */
int cli_execute(struct session *ss, char **paths, size_t npaths, enum report_table table,
                bool print_table);
void cli_session_free(struct session *ss);

/* ---- the commands: each returns racelab's exit status ---- */

int cmd_run(int argc, char **argv);     /* run.c */
int cmd_compare(int argc, char **argv); /* run.c */
int cmd_check(int argc, char **argv);   /* check.c */
int cmd_list(int argc, char **argv);    /* list.c */
int cmd_explain(int argc, char **argv); /* explain.c */
int cmd_diff(int argc, char **argv);    /* diff.c */
int cmd_soak(int argc, char **argv);    /* soak.c */
/* repro.c: repro CASE, or 503-uc with fixed_case */
int cmd_repro(int argc, char **argv, const char *fixed_case);

#endif
