/* capture — libpcap live capture of the cell's loopback into a pcap file that is valid at every
 * moment: records only ever reach the file whole, from a capture process that finishes the
 * file even when the process that started it is killed (capture.h says why not a thread). */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "clk.h"

#define WHOLE_PACKETS 262144
#define KERNEL_BUFFER (16 << 20)
/* CAPTURE_FULL: slots of the ring no larger than the largest frame lo carries (MTU 65536 plus
 * the Ethernet header, rounded up) and a ring four times the default, for ~1000 whole 64 KB
 * segments instead of 64 slots of 256 KB. Bulk uploads still outrun the capture at times
 * (capture_stats.dropped counts it; docs/capture.md). */
#define FULL_SNAPLEN       65600
#define FULL_KERNEL_BUFFER (64 << 20)
/* The stdio buffer of the dump file: records are written into it whole and the buffer is
 * flushed before it could split one, so the file never ends inside a record. */
#define FILE_BUFFER (1 << 20)
/* A packet already sent is in the ring within microseconds; this much quiet ends the drain. */
#define DRAIN_QUIET_MS   50
#define DRAIN_MAX_MS     1000
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS  10000

/* the capture process's two descriptors */
#define CTL_FD 3 /* read end of the control pipe: EOF means stop */
#define RES_FD 4 /* write end of the result pipe: 'R', 'E' + message, 'S' + stats */

struct shared {
    _Atomic uint64_t flushed;
};

struct cap {
    pid_t pid;
    int ctl; /* write end: closing it stops the capture */
    int res; /* read end */
    struct shared *sh;
};

/* ---------------------------------------------------------------- the capture process */

struct writer {
    pcap_t *p;
    pcap_dumper_t *d;
    FILE *f;
    int fd;
    size_t pending; /* bytes in the stdio buffer since the last flush */
    uint64_t packets;
    bool write_failed;
    bool heads; /* CAPTURE_HEADERS: bodies cut off when written */
    int dlt;
    struct shared *sh;
};

static void flush(struct writer *w)
{
    if (pcap_dump_flush(w->d) < 0)
        w->write_failed = true;
    w->pending = 0;
    atomic_store(&w->sh->flushed, w->packets);
}

static void on_packet(u_char *arg, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct writer *w = (struct writer *)arg;
    struct pcap_pkthdr kept = *h;
    if (w->heads)
        kept.caplen = capture_keep_len(w->dlt, bytes, h->caplen);
    size_t rec = 16 + kept.caplen;
    if (w->pending + rec > FILE_BUFFER)
        flush(w);
    pcap_dump((u_char *)w->d, &kept, bytes);
    w->pending += rec;
    w->packets++;
}

/* Everything the ring holds now; the number of packets read, or -1. */
static int read_available(struct writer *w)
{
    int total = 0;
    for (;;) {
        int n = pcap_dispatch(w->p, -1, on_packet, (u_char *)w);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        total += n;
    }
    if (total > 0)
        flush(w);
    return total;
}

static void drain(struct writer *w)
{
    uint64_t end = clk_mono_us() + DRAIN_MAX_MS * 1000u;
    while (clk_mono_us() < end) {
        if (read_available(w) < 0)
            return;
        struct pollfd p = {.fd = w->fd, .events = POLLIN};
        if (poll(&p, 1, DRAIN_QUIET_MS) == 0 && read_available(w) <= 0)
            return;
    }
}

static const char *activate_hint(int rc)
{
    switch (rc) {
    case PCAP_ERROR_PERM_DENIED:
        return " — capturing needs root (CAP_NET_RAW) or racelab's own network namespace";
    case PCAP_ERROR_NO_SUCH_DEVICE:
        return " — no such interface in this namespace";
    case PCAP_ERROR_IFACE_NOT_UP:
        return " — the interface is down";
    default:
        return "";
    }
}

static int open_capture(struct writer *w, const char *iface, const char *filter, const char *path,
                        int snaplen, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    w->p = pcap_create(iface, ebuf);
    if (!w->p) {
        snprintf(err, errlen, "capture on %s: %s", iface, ebuf);
        return -1;
    }
    pcap_set_snaplen(w->p, snaplen > 0 ? snaplen : WHOLE_PACKETS);
    pcap_set_buffer_size(w->p, snaplen == FULL_SNAPLEN ? FULL_KERNEL_BUFFER : KERNEL_BUFFER);
    /* Deliver each packet at once (TPACKET_V2 frames, not V3 blocks with a timeout), so the
     * file follows the run closely and the stop drain is short. */
    pcap_set_immediate_mode(w->p, 1);
    int rc = pcap_activate(w->p);
    if (rc < 0) {
        snprintf(err, errlen, "capture on %s: %s%s", iface, pcap_geterr(w->p), activate_hint(rc));
        return -1;
    }
    if (filter) {
        struct bpf_program prog;
        if (pcap_compile(w->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
            snprintf(err, errlen, "capture filter '%s': %s", filter, pcap_geterr(w->p));
            return -1;
        }
        rc = pcap_setfilter(w->p, &prog);
        pcap_freecode(&prog);
        if (rc < 0) {
            snprintf(err, errlen, "capture filter '%s': %s", filter, pcap_geterr(w->p));
            return -1;
        }
    }
    if (pcap_setnonblock(w->p, 1, ebuf) < 0) {
        snprintf(err, errlen, "capture on %s: %s", iface, ebuf);
        return -1;
    }
    w->dlt = pcap_datalink(w->p);
    w->fd = pcap_get_selectable_fd(w->p);
    if (w->fd < 0) {
        snprintf(err, errlen, "capture on %s: no selectable descriptor", iface);
        return -1;
    }
    w->f = fopen(path, "wb");
    if (!w->f) {
        snprintf(err, errlen, "capture file %s: %s", path, strerror(errno));
        return -1;
    }
    if (setvbuf(w->f, NULL, _IOFBF, FILE_BUFFER) != 0) {
        snprintf(err, errlen, "capture file %s: out of memory", path);
        return -1;
    }
    w->d = pcap_dump_fopen(w->p, w->f);
    if (!w->d) {
        snprintf(err, errlen, "capture file %s: %s", path, pcap_geterr(w->p));
        return -1;
    }
    /* the file header goes out now: an interrupted run with no packets is still a pcap */
    if (pcap_dump_flush(w->d) < 0) {
        snprintf(err, errlen, "capture file %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void send_result(char kind, const void *data, size_t n)
{
    char buf[1 + 512];
    buf[0] = kind;
    if (n > sizeof buf - 1)
        n = sizeof buf - 1;
    if (n > 0)
        memcpy(buf + 1, data, n);
    ssize_t r = write(RES_FD, buf, 1 + n);
    (void)r;
}

__attribute__((noreturn)) static void capture_main(const char *iface, const char *filter,
                                                   const char *path, int snaplen, bool heads,
                                                   struct shared *sh)
{
    struct writer w = {.sh = sh, .heads = heads};
    char err[512] = "";
    if (open_capture(&w, iface, filter, path, snaplen, err, sizeof err) < 0) {
        send_result('E', err, strlen(err));
        _exit(1);
    }
    /* The packet socket is bound and filtered by now: anything sent from here on lands in
     * its ring, whenever this loop gets to read it. */
    send_result('R', NULL, 0);
    for (;;) {
        struct pollfd p[2] = {{.fd = w.fd, .events = POLLIN}, {.fd = CTL_FD, .events = POLLIN}};
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || read_available(&w) < 0) {
            fprintf(stderr, "racelab: capture into %s: %s\n", path,
                    n < 0 ? strerror(errno) : pcap_geterr(w.p));
            break;
        }
        if (p[1].revents)
            break; /* capture_stop(), or the starting process is gone */
    }
    drain(&w);
    struct pcap_stat ps;
    memset(&ps, 0, sizeof ps);
    pcap_stats(w.p, &ps);
    flush(&w);
    bool failed = w.write_failed || ferror(w.f);
    pcap_dump_close(w.d);
    pcap_close(w.p);
    struct capture_stats st = {.packets = w.packets, .dropped = ps.ps_drop};
    send_result(failed ? 'F' : 'S', &st, sizeof st);
    _exit(0);
}

/* In the new child: only the two pipe ends survive, at CTL_FD and RES_FD; a Ctrl-C meant for
 * the run, or a kill of the starting process's group once it died, must not cut the capture
 * short — it finishes on its own as soon as its control pipe closes. */
static void child_setup(int ctl, int res)
{
    setpgid(0, 0);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_NAME, "racelab-cap");
    int c = fcntl(ctl, F_DUPFD, 16), r = fcntl(res, F_DUPFD, 16);
    if (c < 0 || r < 0 || dup2(c, CTL_FD) < 0 || dup2(r, RES_FD) < 0)
        _exit(1);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
    }
    close_range(RES_FD + 1, ~0U, 0);
}

/* ---------------------------------------------------------------- the starting process */

/* Reads one result message ('R', 'E', 'S', 'F'); returns its kind, or 0 on timeout/EOF. */
static char read_result(int fd, char *data, size_t cap, size_t *n, int timeout_ms)
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
    char buf[1 + 512];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return 0;
    *n = (size_t)r - 1 < cap ? (size_t)r - 1 : cap;
    memcpy(data, buf + 1, *n);
    return buf[0];
}

static void reap(pid_t pid)
{
    /* ECHILD: someone reaped it already (a waitpid(-1) elsewhere) */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

struct cap *capture_start(const char *iface, const char *filter, const char *path, char *err,
                          size_t errlen)
{
    return capture_start_snaplen(iface, filter, path, CAPTURE_SNAPLEN, err, errlen);
}

static struct cap *start(const char *iface, const char *filter, const char *path, int snaplen,
                         bool heads, char *err, size_t errlen);

struct cap *capture_start_snaplen(const char *iface, const char *filter, const char *path,
                                  int snaplen, char *err, size_t errlen)
{
    return start(iface, filter, path, snaplen, false, err, errlen);
}

struct cap *capture_start_mode(const char *iface, const char *filter, const char *path,
                               enum capture_mode mode, char *err, size_t errlen)
{
    if (mode == CAPTURE_FULL)
        return start(iface, filter, path, FULL_SNAPLEN, false, err, errlen);
    return start(iface, filter, path, CAPTURE_SNAPLEN, true, err, errlen);
}

int capture_mode_parse(const char *word, enum capture_mode *mode)
{
    if (strcmp(word, "headers") == 0)
        *mode = CAPTURE_HEADERS;
    else if (strcmp(word, "full") == 0)
        *mode = CAPTURE_FULL;
    else
        return -1;
    return 0;
}

static struct cap *start(const char *iface, const char *filter, const char *path, int snaplen,
                         bool heads, char *err, size_t errlen)
{
    struct cap *c = calloc(1, sizeof *c);
    int ctl[2] = {-1, -1}, res[2] = {-1, -1};
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->sh = mmap(NULL, sizeof *c->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (c->sh == MAP_FAILED) {
        c->sh = NULL;
        snprintf(err, errlen, "mmap: %s", strerror(errno));
        goto fail;
    }
    /* CLOEXEC: the programs the harness starts must not keep the capture alive */
    if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    fflush(NULL);
    c->pid = fork();
    if (c->pid < 0) {
        snprintf(err, errlen, "fork for the capture: %s", strerror(errno));
        goto fail;
    }
    if (c->pid == 0) {
        child_setup(ctl[0], res[1]);
        capture_main(iface, filter, path, snaplen, heads, c->sh);
    }
    close(ctl[0]);
    close(res[1]);
    c->ctl = ctl[1];
    c->res = res[0];
    char data[512];
    size_t n = 0;
    char kind = read_result(c->res, data, sizeof data - 1, &n, START_TIMEOUT_MS);
    if (kind == 'R')
        return c;
    data[n] = '\0';
    if (kind == 'E')
        snprintf(err, errlen, "%s", data);
    else
        snprintf(err, errlen, "capture on %s into %s: the capture process did not start", iface,
                 path);
    kill(c->pid, SIGKILL);
    reap(c->pid);
    close(c->ctl);
    close(c->res);
    munmap(c->sh, sizeof *c->sh);
    free(c);
    return NULL;
fail:
    for (int i = 0; i < 2; i++) {
        if (ctl[i] >= 0)
            close(ctl[i]);
        if (res[i] >= 0)
            close(res[i]);
    }
    if (c->sh)
        munmap(c->sh, sizeof *c->sh);
    free(c);
    return NULL;
}

uint64_t capture_written(const struct cap *c)
{
    return c ? atomic_load(&c->sh->flushed) : 0;
}

int capture_pid(const struct cap *c)
{
    return c ? (int)c->pid : -1;
}

int capture_stop(struct cap *c, struct capture_stats *stats)
{
    if (!c)
        return 0;
    close(c->ctl); /* EOF on its control pipe: drain and finish the file */
    struct capture_stats st;
    size_t n = 0;
    char kind = read_result(c->res, (char *)&st, sizeof st, &n, STOP_TIMEOUT_MS);
    int rc = 0;
    if ((kind != 'S' && kind != 'F') || n != sizeof st) {
        kill(c->pid, SIGKILL);
        memset(&st, 0, sizeof st);
        st.packets = atomic_load(&c->sh->flushed);
        rc = -1;
    } else if (kind == 'F') {
        rc = -1;
    }
    reap(c->pid);
    if (stats)
        *stats = st;
    close(c->res);
    munmap(c->sh, sizeof *c->sh);
    free(c);
    return rc;
}
