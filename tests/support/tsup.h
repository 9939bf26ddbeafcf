/* tsup — test support: run the racelab programs as child processes in a private temp folder,
 * wait for the port they publish, read the JSON lines they write.
 *
 * Every child is in its own process group and dies with the test (PR_SET_PDEATHSIG), so a
 * failing test leaves nothing running. */
#ifndef RACELAB_TSUP_H
#define RACELAB_TSUP_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

struct tsup_proc {
    pid_t pid;
    int status; /* wait status once reaped */
    bool reaped;
};

/* A fresh temp folder for one test (remove it with tsup_rmtree); returns a malloc'd path. */
char *tsup_tmpdir(const char *tag);
void tsup_rmtree(const char *dir);

/* cmocka fixtures: *state becomes a struct tsup_ctx holding a fresh temp folder (named after
 * the test program), removed again by the teardown. */
struct tsup_ctx {
    char *dir;
};
int tsup_ctx_setup(void **state);
int tsup_ctx_teardown(void **state);

/* Path of a built program, e.g. tsup_bin("racelab-upstream"). Returns a malloc'd string. */
char *tsup_bin(const char *name);

/* Starts argv[0] (a path) with argv; stdout/stderr go to out_path/err_path when not NULL.
 * Returns 0 or -1. */
int tsup_spawn(struct tsup_proc *p, char *const argv[], const char *out_path, const char *err_path);

/* Waits up to timeout_ms for path to hold a port number; returns the port or -1. */
int tsup_wait_port(const char *path, int timeout_ms);

/* Waits up to timeout_ms for the process to exit; returns its exit code, 128+signal when
 * killed, or -1 on timeout (the process is then still running). */
int tsup_wait(struct tsup_proc *p, int timeout_ms);

/* SIGTERM, wait up to 2 s, then SIGKILL; returns what tsup_wait returned for the SIGTERM
 * (so a test can assert a clean exit on SIGTERM), or -1 when SIGKILL was needed. */
int tsup_stop(struct tsup_proc *p);

/* Runs a program to completion (timeout_ms), returning its exit code (see tsup_wait). */
int tsup_run(char *const argv[], const char *out_path, const char *err_path, int timeout_ms);

/* Reads a JSON-lines file (or path + ".gz", see tsup_slurp_gz) into an array of objects (lines that
 * do not parse fail the call: NULL). The caller json_decref()s it. */
json_t *tsup_read_jsonl(const char *path);

/* The same as tsup_slurp for a file or its gzip'd form: path, else path + ".gz" (as racelab
 * leaves a cell's records), decompressed. */
char *tsup_slurp_gz(const char *path);
/* Reads a whole file into a malloc'd NUL-terminated string (NULL on error). */
char *tsup_slurp(const char *path);

/* Counts the objects of arr whose field key is the string val (or, when val is NULL, that
 * have the field at all). */
size_t tsup_count(json_t *arr, const char *key, const char *val);

/* build/bin/racelab with args (NULL-terminated, at most 30) to completion (timeout_ms): its
 * stdout into dir/TAG.out, its stderr into dir/TAG.err, and, when err is not NULL, the stderr
 * text into *err (malloc'd). Returns its exit status (see tsup_wait). */
int tsup_racelab(const char *dir, const char *tag, char *const *args, char **err, int timeout_ms);

/* A run folder's results.json, loaded; NULL (and why, on stderr) when it cannot be read. */
json_t *tsup_results(const char *dir);

/* printf into a malloc'd string */
char *tsup_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
