/* netns — isolation of one cell: a fresh network namespace with only loopback, up.
 *
 * As root: unshare(CLONE_NEWNET). Otherwise: unshare(CLONE_NEWUSER | CLONE_NEWNET) with the
 * caller mapped to root inside, so iptables and capture work without privileges outside.
 * Processes started afterwards (fork/exec) inherit the namespace; it disappears with the last
 * of them, so nothing needs cleaning up. */
#ifndef RACELAB_NETNS_H
#define RACELAB_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Moves the calling process (call it in a freshly forked, single-threaded child) into a new
 * network namespace and brings lo up. Returns 0, or -1 with a message in err that says what is
 * missing and how to fix it (e.g. "unshare(CLONE_NEWNET): Operation not permitted — run as
 * root, or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), or
 * use --no-netns"). The user-namespace path changes credentials, which clears the caller's
 * PR_SET_PDEATHSIG: set it again afterwards. */
int netns_enter(char *err, size_t errlen);

/* Quick capability probe without changing the caller: forks a child that tries netns_enter(),
 * installs and removes one NFQUEUE rule, and opens a capture on lo. Returns 0 when everything
 * works, or -1 with the first failure in err (with the fix). */
int netns_probe(char *err, size_t errlen);

/* Whether a socket listens on TCP port (IPv4 or IPv6, any address) in the caller's network
 * namespace: a LISTEN entry (state 0A) in /proc/self/net/tcp or /proc/self/net/tcp6, the
 * namespace's socket table (the host's with --no-netns). Nothing is sent to the listener, so
 * a program's readiness leaves no connection in its capture or its logs. Returns 1 when one
 * listens, 0 when none does, -1 with a message when neither table can be read. */
int netns_listening(uint16_t port, char *err, size_t errlen);

/* The same question for one table in the format of /proc/net/tcp(6), read from f. */
bool netns_table_listens(FILE *f, uint16_t port);

#endif
