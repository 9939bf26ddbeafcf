/* netns — a fresh network namespace per cell, so runs never collide and captures hold only
 * their own traffic (docs/design.md, "Isolation and deterministic timing"). */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "wire.h"

static const char fix_hint[] =
    "run as root, or enable unprivileged user namespaces "
    "(sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0), "
    "or use --no-netns (host loopback, no wire faults)";

static int write_file(const char *path, const char *text, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int saved = errno;
    close(fd);
    if (w != (ssize_t)n) {
        snprintf(err, errlen, "write %s: %s", path, w < 0 ? strerror(saved) : "short write");
        return -1;
    }
    return 0;
}

/* Without privileges outside, the caller becomes root of a new user namespace that owns the
 * new network namespace: that is what lets iptables and packet sockets work inside. */
static int enter_as_user(char *err, size_t errlen)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
        int e = errno;
        snprintf(err, errlen, "unshare(CLONE_NEWUSER|CLONE_NEWNET): %s%s — %s", strerror(e),
                 e == EINVAL ? " (the process has several threads: call it in a fresh child)" : "",
                 fix_hint);
        return -1;
    }
    char map[64];
    /* setgroups must be denied before an unprivileged process may write gid_map. */
    if (write_file("/proc/self/setgroups", "deny", err, errlen) < 0)
        return -1;
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    if (write_file("/proc/self/uid_map", map, err, errlen) < 0)
        return -1;
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    if (write_file("/proc/self/gid_map", map, err, errlen) < 0)
        return -1;
    return 0;
}

/* A new namespace's lo is down; bring it up with an ioctl so that nothing depends on the ip
 * binary being installed. */
static int lo_up(char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for lo: %s", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = -1;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        snprintf(err, errlen, "SIOCGIFFLAGS lo: %s", strerror(errno));
        goto out;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
        snprintf(err, errlen, "bringing lo up (SIOCSIFFLAGS): %s — %s", strerror(errno), fix_hint);
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

int netns_enter(char *err, size_t errlen)
{
    if (geteuid() == 0) {
        if (unshare(CLONE_NEWNET) < 0) {
            snprintf(err, errlen,
                     "unshare(CLONE_NEWNET): %s — %s (a container needs "
                     "CAP_SYS_ADMIN for this)",
                     strerror(errno), fix_hint);
            return -1;
        }
    } else if (enter_as_user(err, errlen) < 0) {
        return -1;
    }
    return lo_up(err, errlen);
}

/* The child of netns_probe: every capability a run needs, in the order a run uses them. */
static int probe_child(char *err, size_t errlen)
{
    if (netns_enter(err, errlen) < 0)
        return -1;
    struct wire_rule rule = {
        .sport = 9,
        .what = WIRE_FIN,
        .action = WIRE_HOLD,
        .hold_ms = 1,
    };
    struct wire *w = wire_start(&rule, 1, 0, err, errlen);
    if (!w)
        return -1;
    wire_stop(w, NULL);
    struct cap *c = capture_start("lo", "tcp", "/dev/null", err, errlen);
    if (!c)
        return -1;
    if (capture_stop(c, NULL) < 0) {
        snprintf(err, errlen, "capture on lo could not be completed");
        return -1;
    }
    return 0;
}

int netns_probe(char *err, size_t errlen)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        char msg[512] = "";
        int rc = probe_child(msg, sizeof msg);
        if (rc < 0) {
            ssize_t w = write(pfd[1], msg, strlen(msg));
            (void)w;
        }
        _exit(rc < 0 ? 1 : 0);
    }
    close(pfd[1]);
    char msg[512];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(pfd[0], msg + got, sizeof msg - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof msg - 1)
            break;
    }
    msg[got] = '\0';
    close(pfd[0]);
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        snprintf(err, errlen, "waitpid for the namespace probe: %s", strerror(errno));
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (got > 0)
        snprintf(err, errlen, "%s", msg);
    else if (WIFSIGNALED(status))
        snprintf(err, errlen, "namespace probe killed by signal %d", WTERMSIG(status));
    else
        snprintf(err, errlen, "namespace probe failed (exit %d)", WEXITSTATUS(status));
    return -1;
}

bool netns_table_listens(FILE *f, uint16_t port)
{
    char line[512];
    /* "  sl  local_address rem_address   st ..." then one socket a line:
     * "   0: 0100007F:1F40 00000000:0000 0A ..." (tcp6: 32 hex digits of address) */
    while (fgets(line, sizeof(line), f)) {
        unsigned lport, st;
        if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport, &st) == 2 &&
            lport == port && st == 0x0A)
            return true;
        /* a line longer than the buffer: skip its rest */
        while (!strchr(line, '\n') && fgets(line, sizeof(line), f))
            ;
    }
    return false;
}

int netns_listening(uint16_t port, char *err, size_t errlen)
{
    static const char *const tables[] = {"/proc/self/net/tcp", "/proc/self/net/tcp6"};
    bool read_one = false;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        FILE *f = fopen(tables[i], "re");
        if (!f)
            continue; /* no tcp6 without IPv6 */
        read_one = true;
        bool yes = netns_table_listens(f, port);
        fclose(f);
        if (yes)
            return 1;
    }
    if (!read_one) {
        snprintf(err, errlen, "cannot read the socket table %s: %s", tables[0], strerror(errno));
        return -1;
    }
    return 0;
}
