/* capproc — the plumbing of a capture process (capproc.h). */
#include "capproc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clk.h"

#define MSG_MAX 512

void capproc_child_setup(int ctl, int res, const char *name)
{
    setpgid(0, 0);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_NAME, name);
    int c = fcntl(ctl, F_DUPFD, 16), r = fcntl(res, F_DUPFD, 16);
    if (c < 0 || r < 0 || dup2(c, CAPPROC_CTL_FD) < 0 || dup2(r, CAPPROC_RES_FD) < 0)
        _exit(1);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
    }
    close_range(CAPPROC_RES_FD + 1, ~0U, 0);
}

void capproc_send(char kind, const void *data, size_t n)
{
    char buf[1 + MSG_MAX];
    buf[0] = kind;
    if (n > sizeof buf - 1)
        n = sizeof buf - 1;
    if (n > 0)
        memcpy(buf + 1, data, n);
    ssize_t r = write(CAPPROC_RES_FD, buf, 1 + n);
    (void)r;
}

char capproc_read(int fd, char *data, size_t cap, size_t *n, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    uint64_t end = clk_mono_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        uint64_t now = clk_mono_us();
        if (now >= end)
            return 0;
        int k = poll(&p, 1, (int)((end - now) / 1000 + 1));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return 0;
        break;
    }
    char buf[1 + MSG_MAX];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return 0;
    *n = (size_t)r - 1 < cap ? (size_t)r - 1 : cap;
    memcpy(data, buf + 1, *n);
    return buf[0];
}

void capproc_reap(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

int capproc_start(struct capproc *p, size_t shlen, const char *name,
                  void (*body)(void *arg, void *sh), void *arg, int timeout_ms, const char *what,
                  char *err, size_t errlen)
{
    int ctl[2] = {-1, -1}, res[2] = {-1, -1};
    *p = (struct capproc){.pid = -1, .ctl = -1, .res = -1, .shlen = shlen};
    p->sh = mmap(NULL, shlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p->sh == MAP_FAILED) {
        p->sh = NULL;
        snprintf(err, errlen, "mmap: %s", strerror(errno));
        return -1;
    }
    /* CLOEXEC: the programs the harness starts must not keep the capture alive */
    if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    fflush(NULL);
    p->pid = fork();
    if (p->pid < 0) {
        snprintf(err, errlen, "fork for %s: %s", what, strerror(errno));
        goto fail;
    }
    if (p->pid == 0) {
        capproc_child_setup(ctl[0], res[1], name);
        body(arg, p->sh);
        _exit(1);
    }
    close(ctl[0]);
    close(res[1]);
    p->ctl = ctl[1];
    p->res = res[0];
    char data[MSG_MAX + 1];
    size_t n = 0;
    char kind = capproc_read(p->res, data, sizeof data - 1, &n, timeout_ms);
    if (kind == 'R')
        return 0;
    data[n] = '\0';
    if (kind == 'E')
        snprintf(err, errlen, "%s", data);
    else
        snprintf(err, errlen, "%s: the process did not start", what);
    kill(p->pid, SIGKILL);
    capproc_reap(p->pid);
    close(p->ctl);
    p->ctl = -1;
    capproc_free(p);
    return -1;
fail:
    for (int i = 0; i < 2; i++) {
        if (ctl[i] >= 0)
            close(ctl[i]);
        if (res[i] >= 0)
            close(res[i]);
    }
    capproc_free(p);
    return -1;
}

char capproc_finish(struct capproc *p, void *st, size_t stlen, int timeout_ms)
{
    close(p->ctl); /* EOF on its control pipe: drain and finish the file */
    p->ctl = -1;
    size_t n = 0;
    char kind = capproc_read(p->res, st, stlen, &n, timeout_ms);
    if ((kind != 'S' && kind != 'F') || n != stlen) {
        kill(p->pid, SIGKILL);
        kind = 0;
    }
    capproc_reap(p->pid);
    return kind;
}

void capproc_free(struct capproc *p)
{
    if (p->ctl >= 0)
        close(p->ctl);
    if (p->res >= 0)
        close(p->res);
    if (p->sh)
        munmap(p->sh, p->shlen);
    p->ctl = p->res = -1;
    p->sh = NULL;
}
