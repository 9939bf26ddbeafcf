#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"

static int open_out(const char *path)
{
    return open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

int child_spawn(struct child *c, const char *name, char *const argv[], const char *out_path,
                const char *err_path, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->name = name;
    /* Everything that may allocate happens before fork. */
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open_out(out_path);
    int er = open_out(err_path);
    if (in < 0 || out < 0 || er < 0) {
        snprintf(err, errlen, "%s: cannot open its log files: %s", name, strerror(errno));
        goto fail;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "%s: fork: %s", name, strerror(errno));
        goto fail;
    }
    if (pid == 0) {
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
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(er, 2) < 0)
            _exit(127);
        /* Nothing else of racelab's (or of whoever started it) reaches the program: a pipe
         * held open by a program would keep its reader waiting after the cell ended. */
        close_range(3, ~0U, 0);
        execv(argv[0], argv);
        static const char msg[] = "racelab: exec failed for ";
        (void)!write(2, msg, sizeof(msg) - 1);
        (void)!write(2, argv[0], strlen(argv[0]));
        (void)!write(2, "\n", 1);
        _exit(127);
    }
    close(in);
    close(out);
    close(er);
    c->pid = pid;
    return 0;
fail:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (er >= 0)
        close(er);
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
