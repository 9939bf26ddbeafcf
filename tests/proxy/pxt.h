/* pxt — helpers of the proxy's integration tests: start racelab-proxy between the fake peers
 * (tests/peers/peers.h starts those), stop it, read its access log and stats; count outcomes. */
#ifndef RACELAB_TESTS_PXT_H
#define RACELAB_TESTS_PXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "peers.h"
#include "tsup.h"

struct pxp {
    struct tsup_proc proc;
    int port;
    char *access;
    char *stats;
    char *err;
};

/* Starts racelab-proxy --upstream 127.0.0.1:upstream_port on port 0 with the extra flags
 * (NULL-terminated), its access log and stats in dir; waits for its port. */
void pxp_start(struct pxp *p, const char *dir, const char *tag, int upstream_port, ...);
/* The same with the extra flags in an array that ends with NULL. */
void pxp_startv(struct pxp *p, const char *dir, const char *tag, int upstream_port,
                const char *const *flags);
/* SIGTERM; asserts a clean exit (0). */
void pxp_stop(struct pxp *p);
json_t *pxp_access(struct pxp *p);
/* The stats file as one object (after pxp_stop, or after SIGUSR1 and a wait). */
json_t *pxp_stats(struct pxp *p);
long long pxp_stat(json_t *stats, const char *key);
void pxp_free(struct pxp *p);

/* Access-log records whose flags contain flag ("UC" in "UC,URX"). */
size_t acc_count_flag(json_t *acc, const char *flag);
/* Access-log records with this status. */
size_t acc_count_status(json_t *acc, long long status);

/* Reads one response (head and Content-Length body) from a blocking socket into buf; returns
 * its status, 0 when the connection ended first. *closes: it said "Connection: close". */
int pxt_read_response(int fd, char *buf, size_t cap, bool *closes);

/* Runs racelab-proxy with argv (NULL-terminated, without the program) to completion; returns
 * its exit code and its stderr (malloc'd) in *err. */
int pxp_run(const char *dir, char **err, ...);

#endif
