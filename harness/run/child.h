/* child — the processes of a cell: started with fork/exec, tied to their parent's life
 * (PR_SET_PDEATHSIG), stopped with SIGTERM then SIGKILL, always reaped. */
#ifndef RACELAB_CHILD_H
#define RACELAB_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

struct child {
    pid_t pid; /* 0 when not started */
    const char *name;
    char prog[256]; /* argv[0] as given, for messages */
    int status;     /* wait status once reaped */
    bool reaped;
};

/* The file that exec runs for argv[0] = file, with execvp's rules: a name with a '/' is used
 * as it is; another is looked up in each folder of $PATH in turn (an empty entry is the
 * current folder; without $PATH, /bin:/usr/bin), the first regular file there with execute
 * permission. Preflight and child_spawn both use it, so a command that passed the pre-flight
 * check is the one that runs. Returns 0 with the path in out, or -1 with a message. */
int child_resolve(const char *file, char *out, size_t outlen, char *err, size_t errlen);

/* Starts argv[0] (resolved by child_resolve) with argv, stdin from /dev/null, stdout and
 * stderr to the files (created, truncated). The child gets SIGKILL when the caller dies.
 * Returns 0 once the program runs (exec succeeded), or -1 with a message naming the program:
 * not found, or exec failed (the child is then reaped, with exit status 127). Safe to call
 * from a process with threads: the child only calls async-signal-safe functions before exec. */
int child_spawn(struct child *c, const char *name, char *const argv[], const char *out_path,
                const char *err_path, char *err, size_t errlen);

/* Reaps the child if it exited; true while it runs. */
bool child_alive(struct child *c);

/* Waits up to timeout_ms (< 0: forever) for the child to exit, returning early when *stop
 * becomes non-zero (stop may be NULL). Returns 0 once reaped, -1 otherwise. */
int child_wait(struct child *c, long timeout_ms, volatile sig_atomic_t *stop);

/* Sends sig (usually SIGTERM), waits up to grace_ms, then SIGKILL; always reaps. Returns 0 when
 * it exited on its own after sig, -1 when SIGKILL was needed. */
int child_stop(struct child *c, int sig, long grace_ms);

/* "exit 0", "exit 2", "signal 9 (Killed)" */
void child_describe(const struct child *c, char *buf, size_t len);

/* The exit code, 128+signal when killed, -1 when not reaped. */
int child_code(const struct child *c);

/* Readiness of a server program: its port file (when port_file is not NULL) holds a port, then
 * a socket listens on port in the current network namespace's socket table (netns_listening):
 * nothing connects to the program. Polls every poll_us for up to timeout_ms. 0 when ready;
 * otherwise why it is not: CHILD_NOT_READY_STOPPED (*stop became non-zero),
 * CHILD_NOT_READY_EXITED (the program exited), CHILD_NOT_READY_TIMEOUT, or
 * CHILD_NOT_READY_ERROR with the reason in err (the socket table could not be read). */
enum {
    CHILD_NOT_READY_STOPPED = 1,
    CHILD_NOT_READY_EXITED,
    CHILD_NOT_READY_TIMEOUT,
    CHILD_NOT_READY_ERROR
};
int child_wait_listening(struct child *c, const char *port_file, uint16_t port,
                         volatile sig_atomic_t *stop, long timeout_ms, long poll_us, char *err,
                         size_t errlen);

#endif
