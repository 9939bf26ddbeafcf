#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"
#include "netns.h"

static int open_out(const char *path)
{
    return open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static bool runnable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int child_resolve(const char *file, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!file || !*file) {
        snprintf(err, errlen, "empty command");
        return -1;
    }
    if (strchr(file, '/')) {
        if (snprintf(out, outlen, "%s", file) >= (int)outlen) {
            snprintf(err, errlen, "'%s': path too long", file);
            return -1;
        }
        if (!runnable(out)) {
            snprintf(err, errlen, "'%s' is not an executable file", file);
            return -1;
        }
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin"; /* what execvp searches without $PATH */
    for (const char *s = path;;) {
        const char *e = strchr(s, ':');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        int n = l ? snprintf(out, outlen, "%.*s/%s", (int)l, s, file)
                  : snprintf(out, outlen, "%s", file); /* an empty entry: the current folder */
        if (n > 0 && (size_t)n < outlen && runnable(out))
            return 0;
        if (!e)
            break;
        s = e + 1;
    }
    snprintf(err, errlen, "'%s' is not an executable file in PATH (%s)", file, path);
    return -1;
}

/* The child's side of child_spawn: never returns. exec_fd (close-on-exec) gets errno when
 * exec fails; its closing at exec tells the parent the program runs. */
static void child_exec(const char *exe, char *const argv[], int in, int out, int er, int exec_fd,
                       pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGPIPE, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    int e = 0;
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(er, 2) < 0 || dup2(exec_fd, 3) < 0 ||
        fcntl(3, F_SETFD, FD_CLOEXEC) < 0) {
        e = errno;
        (void)!write(exec_fd, &e, sizeof(e));
        _exit(127);
    }
    /* Nothing else of racelab's (or of whoever started it) reaches the program: a pipe
     * held open by a program would keep its reader waiting after the cell ended. */
    close_range(4, ~0U, 0);
    execv(exe, argv);
    e = errno;
    (void)!write(3, &e, sizeof(e));
    static const char msg[] = "racelab: exec failed for ";
    (void)!write(2, msg, sizeof(msg) - 1);
    (void)!write(2, exe, strlen(exe));
    (void)!write(2, "\n", 1);
    _exit(127);
}

int child_spawn(struct child *c, const char *name, char *const argv[], const char *out_path,
                const char *err_path, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->name = name;
    snprintf(c->prog, sizeof(c->prog), "%s", argv[0]);
    char exe[PATH_MAX], why[PATH_MAX + 128];
    if (child_resolve(argv[0], exe, sizeof(exe), why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: cannot start %s", name, why);
        return -1;
    }
    /* Everything that may allocate happens before fork. */
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open_out(out_path);
    int er = open_out(err_path);
    int ep[2] = {-1, -1};
    if (in < 0 || out < 0 || er < 0) {
        snprintf(err, errlen, "%s: cannot open its log files: %s", name, strerror(errno));
        goto fail;
    }
    if (pipe2(ep, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "%s: pipe: %s", name, strerror(errno));
        goto fail;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "%s: fork: %s", name, strerror(errno));
        goto fail;
    }
    if (pid == 0)
        child_exec(exe, argv, in, out, er, ep[1], parent);
    close(in);
    close(out);
    close(er);
    close(ep[1]);
    c->pid = pid;
    /* Until exec: an errno from the child, or the pipe closed by a successful exec. */
    int e = 0;
    ssize_t n;
    while ((n = read(ep[0], &e, sizeof(e))) < 0 && errno == EINTR)
        ;
    close(ep[0]);
    if (n == (ssize_t)sizeof(e)) {
        child_wait(c, -1, NULL);
        snprintf(err, errlen, "%s: cannot execute %s: %s", name, exe, strerror(e));
        return -1;
    }
    return 0;
fail:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (er >= 0)
        close(er);
    if (ep[0] >= 0) {
        close(ep[0]);
        close(ep[1]);
    }
    return -1;
}

static bool reap(struct child *c, int flags)
{
    if (!c->pid || c->reaped)
        return true;
    for (;;) {
        int st;
        pid_t r = waitpid(c->pid, &st, flags);
        if (r == c->pid) {
            c->status = st;
            c->reaped = true;
            return true;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == ECHILD) {
            c->reaped = true;
            c->status = 0;
            return true;
        }
        return false;
    }
}

bool child_alive(struct child *c)
{
    return c->pid && !reap(c, WNOHANG);
}

int child_wait(struct child *c, long timeout_ms, volatile sig_atomic_t *stop)
{
    uint64_t deadline = timeout_ms < 0 ? 0 : clk_mono_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        if (reap(c, WNOHANG))
            return 0;
        if (stop && *stop)
            return -1;
        if (deadline && clk_mono_us() >= deadline)
            return -1;
        clk_sleep_us(2000);
    }
}

int child_stop(struct child *c, int sig, long grace_ms)
{
    if (!c->pid || c->reaped)
        return 0;
    kill(c->pid, sig);
    if (child_wait(c, grace_ms, NULL) == 0)
        return 0;
    kill(c->pid, SIGKILL);
    reap(c, 0);
    return -1;
}

int child_code(const struct child *c)
{
    if (!c->reaped)
        return -1;
    if (WIFEXITED(c->status))
        return WEXITSTATUS(c->status);
    if (WIFSIGNALED(c->status))
        return 128 + WTERMSIG(c->status);
    return -1;
}

void child_describe(const struct child *c, char *buf, size_t len)
{
    if (!c->pid)
        snprintf(buf, len, "not started");
    else if (!c->reaped)
        snprintf(buf, len, "running");
    else if (WIFEXITED(c->status))
        snprintf(buf, len, "exit %d", WEXITSTATUS(c->status));
    else if (WIFSIGNALED(c->status))
        snprintf(buf, len, "signal %d (%s)", WTERMSIG(c->status), strsignal(WTERMSIG(c->status)));
    else
        snprintf(buf, len, "status %d", c->status);
}

/* The port file holds a port (the program bound its socket). */
static bool port_written(const char *port_file)
{
    FILE *f = fopen(port_file, "r");
    int port = 0;
    if (f) {
        if (fscanf(f, "%d", &port) != 1)
            port = 0;
        fclose(f);
    }
    return port > 0;
}

int child_wait_listening(struct child *c, const char *port_file, uint16_t port,
                         volatile sig_atomic_t *stop, long timeout_ms, long poll_us, char *err,
                         size_t errlen)
{
    uint64_t deadline = clk_mono_us() + (uint64_t)timeout_ms * 1000u;
    bool written = !port_file;
    for (;;) {
        if (!written)
            written = port_written(port_file);
        if (written) {
            int rc = netns_listening(port, err, errlen);
            if (rc < 0)
                return CHILD_NOT_READY_ERROR;
            if (rc == 1)
                return 0;
        }
        if (*stop)
            return CHILD_NOT_READY_STOPPED;
        if (!child_alive(c))
            return CHILD_NOT_READY_EXITED;
        if (clk_mono_us() > deadline)
            return CHILD_NOT_READY_TIMEOUT;
        clk_sleep_us((uint64_t)poll_us);
    }
}
