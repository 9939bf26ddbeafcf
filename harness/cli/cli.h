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
    const char *client;     /* --client KIND */
    const char *server;     /* --server KIND */
    long proxy_stop_settle; /* ms; with proxy_stop_settle_set */
    bool proxy_stop_settle_set;
    long jobs;
    struct shard shard; /* --shard I/N */
    long repeat;        /* --repeat N */
    bool no_netns;
    bool keep_going;
    enum capture_mode capture; /* --capture headers|full */
    bool keep_failing;         /* --keep failing */
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
extern const struct opt_spec cli_merge_opts[];

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
    /* the adapters --proxy names (proxy.c), each loaded once, with its binary when installed */
    struct kind *kinds[2 * SUITE_MAX_PROXIES];
    char kind_bins[2 * SUITE_MAX_PROXIES][PATH_MAX];
    size_t nkinds;
};

/* ---- proxy.c ---- */

/* --proxy into the session's proxies under test (su.px): a comma-separated list of racelab,
 * a kind (nginx, a folder with an adapter.yaml), A+B (the kinds of a chain's proxy1 and
 * proxy2), or alone cmd:'CMD' (--proxy-cmd). Each kind's adapter is loaded and checked, its
 * binary looked for (a missing one leaves its cells skipped, with why in the proxy's
 * `missing`) and its stop taken from it. 0, or -1 after saying why (a bad adapter: FILE:LINE). */
int cli_proxy(struct session *ss);

/* Load, check, run, report: shared by run, compare and repro. The table goes to stdout when
 * print_table. Returns the exit status. */
int cli_execute(struct session *ss, char **paths, size_t npaths, enum report_table table,
                bool print_table);
void cli_session_free(struct session *ss);

/* ---- facts.c ---- */

/* Keeps the command line (and the time) racelab was started with, for cli_facts. */
void cli_set_command(int argc, char **argv);

/* results.json's "facts": {racelab_version, kernel, libevent, started (UTC, ISO 8601), command,
 * cwd}; NULL when out of memory. */
json_t *cli_facts(void);

/* A run's id, YYYYMMDD-HHMMSS-PID; a run's default folder, captures/RUN_ID of the current
 * folder, or of the source tree when the current folder has none. */
void cli_run_id(char *buf, size_t len);
void cli_default_out(char *buf, size_t len, const char *run_id);

/* Holds an exclusive flock on ss->out/.racelab.lock for as long as ss lives: a second racelab
 * writing into the same folder is refused. 0, or -1 after saying why. */
int cli_lock_out(struct session *ss);

/* The run's closing word: "all passed", "passed (12 passed, 3 measured)", "FAILED (10 passed, 1
 * failed, 1 flaky)", "interrupted". */
void cli_summary(char *buf, size_t len, const struct suite *su, bool interrupted);

/* ---- the commands: each returns racelab's exit status ---- */

int cmd_run(int argc, char **argv);     /* run.c */
int cmd_compare(int argc, char **argv); /* run.c */
int cmd_check(int argc, char **argv);   /* check.c */
int cmd_list(int argc, char **argv);    /* list.c */
int cmd_explain(int argc, char **argv); /* explain.c */
int cmd_diff(int argc, char **argv);    /* diff.c */
int cmd_report(int argc, char **argv);  /* report.c */
int cmd_merge(int argc, char **argv);   /* merge.c */
int cmd_archive(int argc, char **argv); /* archive.c */
int cmd_soak(int argc, char **argv);    /* soak.c */
/* repro.c: repro CASE, or 503-uc with fixed_case */
int cmd_repro(int argc, char **argv, const char *fixed_case);

#endif
