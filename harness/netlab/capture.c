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
#include <unistd.h>

#include <pcap/pcap.h>

#include "capproc.h"
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

struct shared {
    _Atomic uint64_t flushed;
};

struct cap {
    struct capproc p; /* its process; p.sh is a struct shared */
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

__attribute__((noreturn)) static void capture_main(const char *iface, const char *filter,
                                                   const char *path, int snaplen, bool heads,
                                                   struct shared *sh)
{
    struct writer w = {.sh = sh, .heads = heads};
    char err[512] = "";
    if (open_capture(&w, iface, filter, path, snaplen, err, sizeof err) < 0) {
        capproc_send('E', err, strlen(err));
        _exit(1);
    }
    /* The packet socket is bound and filtered by now: anything sent from here on lands in
     * its ring, whenever this loop gets to read it. */
    capproc_send('R', NULL, 0);
    for (;;) {
        struct pollfd p[2] = {{.fd = w.fd, .events = POLLIN},
                              {.fd = CAPPROC_CTL_FD, .events = POLLIN}};
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
    capproc_send(failed ? 'F' : 'S', &st, sizeof st);
    _exit(0);
}

/* ---------------------------------------------------------------- the starting process */

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

/* What the capture process is started with (capproc_start's body). */
struct capture_args {
    const char *iface, *filter, *path;
    int snaplen;
    bool heads;
};

static void capture_body(void *arg, void *sh)
{
    const struct capture_args *a = arg;
    capture_main(a->iface, a->filter, a->path, a->snaplen, a->heads, sh);
}

static struct cap *start(const char *iface, const char *filter, const char *path, int snaplen,
                         bool heads, char *err, size_t errlen)
{
    struct cap *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct capture_args a = {iface, filter, path, snaplen, heads};
    char what[1200];
    snprintf(what, sizeof what, "capture on %s into %s", iface, path);
    if (capproc_start(&c->p, sizeof(struct shared), "racelab-cap", capture_body, &a,
                      START_TIMEOUT_MS, what, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

uint64_t capture_written(const struct cap *c)
{
    return c ? atomic_load(&((struct shared *)c->p.sh)->flushed) : 0;
}

int capture_pid(const struct cap *c)
{
    return c ? (int)c->p.pid : -1;
}

int capture_stop(struct cap *c, struct capture_stats *stats)
{
    if (!c)
        return 0;
    struct capture_stats st;
    char kind = capproc_finish(&c->p, &st, sizeof st, STOP_TIMEOUT_MS);
    if (!kind) { /* no word in time: it was killed; what it had flushed is in the file */
        memset(&st, 0, sizeof st);
        st.packets = capture_written(c);
    }
    if (stats)
        *stats = st;
    capproc_free(&c->p);
    free(c);
    return kind == 'S' ? 0 : -1;
}
