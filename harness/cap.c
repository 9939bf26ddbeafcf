/* cap — libpcap live capture of the cell's loopback into a pcap file that is valid at every
 * moment: records are only ever flushed whole, so a run killed at any point (Ctrl-C, SIGKILL)
 * leaves a capture that tshark opens, holding every packet up to the last flush. */
#include "cap.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "clk.h"

#define SNAPLEN 262144
#define KERNEL_BUFFER (16 << 20)
/* The stdio buffer of the dump file: records are written into it whole and the buffer is
 * flushed before it could split one, so the file never ends inside a record. */
#define FILE_BUFFER (1 << 20)
/* A packet already sent is in the ring within microseconds; this much quiet ends the drain. */
#define DRAIN_QUIET_MS 30
#define DRAIN_MAX_MS 1000

struct cap {
    pcap_t *p;
    pcap_dumper_t *d;
    FILE *f;
    char *fbuf;
    int fd;
    int stopfd;
    pthread_t thread;
    bool thread_started;
    size_t pending; /* bytes in the stdio buffer since the last flush */
    uint64_t packets;
    _Atomic uint64_t flushed;
    bool write_failed;
    char path[512];
};

static void flush(struct cap *c)
{
    if (pcap_dump_flush(c->d) < 0)
        c->write_failed = true;
    c->pending = 0;
    atomic_store(&c->flushed, c->packets);
}

static void on_packet(u_char *arg, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct cap *c = (struct cap *)arg;
    size_t rec = 16 + h->caplen;
    if (c->pending + rec > FILE_BUFFER)
        flush(c);
    pcap_dump((u_char *)c->d, h, bytes);
    c->pending += rec;
    c->packets++;
}

/* Everything the ring holds now; returns the number of packets read, or -1. */
static int read_available(struct cap *c)
{
    int total = 0;
    for (;;) {
        int n = pcap_dispatch(c->p, -1, on_packet, (u_char *)c);
        if (n < 0)
            return n == PCAP_ERROR_BREAK ? total : -1;
        if (n == 0)
            break;
        total += n;
    }
    if (total > 0)
        flush(c);
    return total;
}

static void drain(struct cap *c)
{
    uint64_t end = clk_mono_us() + DRAIN_MAX_MS * 1000u;
    while (clk_mono_us() < end) {
        if (read_available(c) < 0)
            return;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, DRAIN_QUIET_MS) == 0 && read_available(c) <= 0)
            return;
    }
}

static void *cap_thread(void *arg)
{
    struct cap *c = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = c->stopfd, .events = POLLIN}};
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || read_available(c) < 0) {
            fprintf(stderr, "racelab: capture into %s: %s\n", c->path,
                    n < 0 ? strerror(errno) : pcap_geterr(c->p));
            break;
        }
        if (p[1].revents & POLLIN)
            break;
    }
    drain(c);
    return NULL;
}

static void cap_free(struct cap *c)
{
    if (!c)
        return;
    if (c->d)
        pcap_dump_close(c->d); /* closes c->f */
    else if (c->f)
        fclose(c->f);
    if (c->p)
        pcap_close(c->p);
    if (c->stopfd >= 0)
        close(c->stopfd);
    free(c->fbuf);
    free(c);
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

struct cap *cap_start(const char *iface, const char *filter, const char *path, char *err,
                      size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct cap *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->stopfd = -1;
    snprintf(c->path, sizeof c->path, "%s", path);
    c->p = pcap_create(iface, ebuf);
    if (!c->p) {
        snprintf(err, errlen, "capture on %s: %s", iface, ebuf);
        goto fail;
    }
    pcap_set_snaplen(c->p, SNAPLEN);
    pcap_set_buffer_size(c->p, KERNEL_BUFFER);
    /* Deliver each packet at once (TPACKET_V2 frames, not V3 blocks with a timeout), so the
     * file follows the run closely and the stop drain is short. */
    pcap_set_immediate_mode(c->p, 1);
    int rc = pcap_activate(c->p);
    if (rc < 0) {
        snprintf(err, errlen, "capture on %s: %s%s", iface, pcap_geterr(c->p),
                 activate_hint(rc));
        goto fail;
    }
    if (filter) {
        struct bpf_program prog;
        if (pcap_compile(c->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
            snprintf(err, errlen, "capture filter '%s': %s", filter, pcap_geterr(c->p));
            goto fail;
        }
        rc = pcap_setfilter(c->p, &prog);
        pcap_freecode(&prog);
        if (rc < 0) {
            snprintf(err, errlen, "capture filter '%s': %s", filter, pcap_geterr(c->p));
            goto fail;
        }
    }
    if (pcap_setnonblock(c->p, 1, ebuf) < 0) {
        snprintf(err, errlen, "capture on %s: %s", iface, ebuf);
        goto fail;
    }
    c->fd = pcap_get_selectable_fd(c->p);
    if (c->fd < 0) {
        snprintf(err, errlen, "capture on %s: no selectable descriptor", iface);
        goto fail;
    }
    c->f = fopen(path, "wb");
    if (!c->f) {
        snprintf(err, errlen, "capture file %s: %s", path, strerror(errno));
        goto fail;
    }
    c->fbuf = malloc(FILE_BUFFER);
    if (!c->fbuf || setvbuf(c->f, c->fbuf, _IOFBF, FILE_BUFFER) != 0) {
        snprintf(err, errlen, "capture file %s: out of memory", path);
        goto fail;
    }
    c->d = pcap_dump_fopen(c->p, c->f);
    if (!c->d) {
        snprintf(err, errlen, "capture file %s: %s", path, pcap_geterr(c->p));
        goto fail;
    }
    /* the file header goes out now: an interrupted run with no packets is still a pcap */
    if (pcap_dump_flush(c->d) < 0) {
        snprintf(err, errlen, "capture file %s: %s", path, strerror(errno));
        goto fail;
    }
    c->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->stopfd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    /* The packet socket is bound and filtered by now: anything sent from here on lands in
     * its ring, whenever the thread gets to read it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&c->thread, NULL, cap_thread, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "starting the capture thread: %s", strerror(rc));
        goto fail;
    }
    c->thread_started = true;
    return c;
fail:
    cap_free(c);
    return NULL;
}

uint64_t cap_written(const struct cap *c)
{
    return c ? atomic_load(&((struct cap *)c)->flushed) : 0;
}

int cap_stop(struct cap *c, struct cap_stats *stats)
{
    if (!c)
        return 0;
    if (c->thread_started) {
        uint64_t one = 1;
        ssize_t r = write(c->stopfd, &one, sizeof one);
        (void)r;
        pthread_join(c->thread, NULL);
    }
    struct pcap_stat ps;
    memset(&ps, 0, sizeof ps);
    pcap_stats(c->p, &ps);
    flush(c);
    int rc = c->write_failed || ferror(c->f) ? -1 : 0;
    if (stats) {
        stats->packets = c->packets;
        stats->dropped = ps.ps_drop;
    }
    cap_free(c);
    return rc;
}
