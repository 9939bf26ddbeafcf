/* netns — isolation of one cell: a fresh network namespace with only loopback, up.
 *
 * As root: unshare(CLONE_NEWNET). Otherwise: unshare(CLONE_NEWUSER | CLONE_NEWNET) with the
 * caller mapped to root inside, so iptables and capture work without privileges outside.
 * Processes started afterwards (fork/exec) inherit the namespace; it disappears with the last
 * of them, so nothing needs cleaning up. */
#ifndef RACELAB_NETNS_H
#define RACELAB_NETNS_H

#include <stddef.h>

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

#endif
