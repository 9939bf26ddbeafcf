/* capproc — the plumbing both capture processes share (capture.c, which writes every packet,
 * and capture_ring.c, the soak's ring): a child of its own that keeps only its two pipe ends,
 * at CAPPROC_CTL_FD (read: requests; EOF means stop) and CAPPROC_RES_FD (write: one result
 * message, a kind byte then data), and the starting process's side of those messages. */
#ifndef RACELAB_CAPPROC_H
#define RACELAB_CAPPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CAPPROC_CTL_FD 3
#define CAPPROC_RES_FD 4

/* In the new child: its own process group, SIGINT/SIGTERM/SIGHUP/SIGPIPE ignored (a Ctrl-C meant
 * for the run, or a kill of the starting process's group once it died, must not cut the capture
 * short: it finishes as soon as its control pipe closes), ctl and res moved to the two fds,
 * stdin and stdout on /dev/null, every other fd closed; name is its process name. _exit(1)
 * when the fds cannot be set up. */
void capproc_child_setup(int ctl, int res, const char *name);

/* From the child: one result message, kind then n bytes of data (at most 512). */
void capproc_send(char kind, const void *data, size_t n);

/* In the starting process: one result message from fd within timeout_ms; its kind, its data in
 * data (*n bytes, at most cap), or 0 on timeout or EOF. */
char capproc_read(int fd, char *data, size_t cap, size_t *n, int timeout_ms);

/* waitpid for pid, through EINTR (ECHILD: someone reaped it already). */
void capproc_reap(pid_t pid);

/* A capture process, from the starting process's side. */
struct capproc {
    pid_t pid;
    int ctl;  /* write end of its control pipe: closing it stops the process */
    int res;  /* read end of its result pipe */
    void *sh; /* shlen bytes of memory it shares (what it has written so far) */
    size_t shlen;
};

/* Starts body(arg, sh) in a child set up by capproc_child_setup (name), the shared memory
 * zeroed; body ends with _exit and first sends 'R' (ready) or 'E' + message. Waits up to
 * timeout_ms for it. 0; or -1 with everything undone and err set: the 'E' message, or "WHAT:
 * the process did not start". */
int capproc_start(struct capproc *p, size_t shlen, const char *name,
                  void (*body)(void *arg, void *sh), void *arg, int timeout_ms, const char *what,
                  char *err, size_t errlen);

/* Closes the control pipe (the process finishes and reports) and reads its final message, stlen
 * bytes of stats, into st: returns its kind ('S' done, 'F' done but a write failed), or 0 when
 * none came in timeout_ms (then the process is killed). The process is reaped; p->sh stays
 * readable until capproc_free. */
char capproc_finish(struct capproc *p, void *st, size_t stlen, int timeout_ms);

/* Closes what capproc_finish left open and unmaps the shared memory. */
void capproc_free(struct capproc *p);

#endif
