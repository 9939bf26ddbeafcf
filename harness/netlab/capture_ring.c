/* capture_ring — the packets of an interface in a ring in memory, written to a pcap only for the
 * failing requests the harness names (capture_ring.h). The process model is capture.c's. */
#include "capture_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "capproc.h"
#include "clk.h"

#define KERNEL_BUFFER    (32 << 20)
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS  10000
#define BLOCK_TIMEOUT_MS 20
/* a request is served once no packet of its window can still be on its way: in the kernel's
 * block (BLOCK_TIMEOUT_MS), or not yet read */
#define WINDOW_SETTLE_US 60000
#define MAX_PENDING      256
#define DRAIN_QUIET_MS   50

struct shared {
    _Atomic uint64_t written;
};

struct ring_cap {
    struct capproc p; /* its process; p.sh is a struct shared */
};

/* one request, as it crosses the control pipe (well under PIPE_BUF: written atomically) */
struct ring_req {
    uint64_t from_us, to_us;
    uint32_t nports;
    uint16_t ports[RING_MAX_PORTS];
};

/* ---------------------------------------------------------------- the ring process */

struct slot {
    uint64_t ts_us;
    uint32_t caplen, len;
    uint16_t sport, dport; /* 0 when not TCP over IPv4/IPv6 */
    uint64_t kept;         /* the request that wrote it (0: none yet) */
    unsigned char data[RING_SNAPLEN];
};

struct ring {
    pcap_t *p;
    pcap_dumper_t *d;
    int fd;
    int linktype;
    struct slot *slots;
    size_t nslots;
    uint64_t head; /* packets ever stored; slot of packet i is i % nslots */
    struct ring_req pending[MAX_PENDING];
    size_t npending;
    uint64_t next_id;
    struct ring_stats st;
    bool write_failed;
    struct shared *sh;
};

/* The link header's length for the capture's link type, or -1 when unknown. */
static int link_len(int linktype)
{
    switch (linktype) {
    case DLT_EN10MB:
        return 14;
    case DLT_LINUX_SLL:
        return 16;
    case DLT_NULL:
        return 4;
    case DLT_RAW:
        return 0;
    default:
        return -1;
    }
}

static void parse_ports(const struct ring *r, struct slot *s)
{
    s->sport = s->dport = 0;
    int off = link_len(r->linktype);
    if (off < 0 || s->caplen < (uint32_t)off + 1)
        return;
    const unsigned char *ip = s->data + off;
    size_t left = s->caplen - (size_t)off;
    size_t l4;
    if ((ip[0] >> 4) == 4) {
        if (left < 20 || ip[9] != 6)
            return;
        l4 = (size_t)(ip[0] & 0x0f) * 4;
    } else if ((ip[0] >> 4) == 6) {
        if (left < 40 || ip[6] != 6)
            return;
        l4 = 40;
    } else {
        return;
    }
    if (left < l4 + 4)
        return;
    s->sport = (uint16_t)(ip[l4] << 8 | ip[l4 + 1]);
    s->dport = (uint16_t)(ip[l4 + 2] << 8 | ip[l4 + 3]);
}

static void on_packet(u_char *arg, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct ring *r = (struct ring *)arg;
    struct slot *s = &r->slots[r->head % r->nslots];
    s->ts_us = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
    s->caplen = h->caplen < RING_SNAPLEN ? h->caplen : RING_SNAPLEN;
    s->len = h->len;
    s->kept = 0;
    memcpy(s->data, bytes, s->caplen);
    parse_ports(r, s);
    r->head++;
    r->st.seen++;
}

static int read_available(struct ring *r)
{
    int total = 0;
    for (;;) {
        int n = pcap_dispatch(r->p, -1, on_packet, (u_char *)r);
        if (n < 0)
            return -1;
        if (n == 0)
            return total;
        total += n;
    }
}

static bool wanted(const struct slot *s, const struct ring_req *q)
{
    if (!s->sport || s->ts_us < q->from_us || s->ts_us > q->to_us)
        return false;
    for (uint32_t i = 0; i < q->nports; i++)
        if (s->sport == q->ports[i] || s->dport == q->ports[i])
            return true;
    return false;
}

/* Writes the packets of q still in the ring, oldest first, each packet at most once. */
static void serve(struct ring *r, const struct ring_req *q)
{
    uint64_t id = ++r->next_id;
    uint64_t oldest = r->head > r->nslots ? r->head - r->nslots : 0;
    if (r->head > oldest && r->slots[oldest % r->nslots].ts_us > q->from_us && oldest > 0)
        r->st.late++;
    /* the ring is in capture order, which is time order on one interface */
    for (uint64_t i = oldest; i < r->head; i++) {
        struct slot *s = &r->slots[i % r->nslots];
        if (s->kept || !wanted(s, q))
            continue;
        struct pcap_pkthdr h = {.caplen = s->caplen, .len = s->len};
        h.ts.tv_sec = (time_t)(s->ts_us / 1000000u);
        h.ts.tv_usec = (suseconds_t)(s->ts_us % 1000000u);
        pcap_dump((u_char *)r->d, &h, s->data);
        s->kept = id;
        r->st.written++;
    }
    if (pcap_dump_flush(r->d) < 0)
        r->write_failed = true;
    r->st.requests++;
    atomic_store(&r->sh->written, r->st.written);
}

/* Serves the pending requests whose window has passed (all of them with force). */
static void serve_due(struct ring *r, bool force)
{
    uint64_t now = clk_real_us();
    size_t k = 0;
    for (size_t i = 0; i < r->npending; i++) {
        if (force || r->pending[i].to_us + WINDOW_SETTLE_US <= now)
            serve(r, &r->pending[i]);
        else
            r->pending[k++] = r->pending[i];
    }
    r->npending = k;
}

/* Reads the requests waiting on the control pipe; false at EOF (stop). */
static bool read_requests(struct ring *r)
{
    struct ring_req q;
    for (;;) {
        ssize_t n = read(CAPPROC_CTL_FD, &q, sizeof q);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return true; /* EAGAIN */
        if (n == 0)
            return false;
        if ((size_t)n != sizeof q || q.nports > RING_MAX_PORTS)
            continue;
        if (r->npending == MAX_PENDING) {
            read_available(r);
            serve_due(r, true);
        }
        r->pending[r->npending++] = q;
    }
}

/* On a loopback interface every packet passes the capture twice, going out and coming back in,
 * and libpcap throws the outgoing copy away after the kernel has copied it into the ring: the
 * kernel is told not to hand the socket outgoing packets at all (PACKET_IGNORE_OUTGOING, Linux
 * 4.20), which halves what capturing costs each packet sent. The packets kept are the same. */
static void ignore_outgoing_on_lo(pcap_t *p, const char *iface)
{
    struct ifreq ifr = {0};
    int one = 1, fd = pcap_fileno(p);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0 || !(ifr.ifr_flags & IFF_LOOPBACK))
        return;
    /* an older kernel without it: libpcap drops the outgoing copies, as before */
    (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
}

static int open_ring(struct ring *r, const char *iface, const char *filter, const char *path,
                     char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    r->p = pcap_create(iface, ebuf);
    if (!r->p) {
        snprintf(err, errlen, "capture on %s: %s", iface, ebuf);
        return -1;
    }
    pcap_set_snaplen(r->p, RING_SNAPLEN);
    pcap_set_buffer_size(r->p, KERNEL_BUFFER);
    /* Packets in blocks (TPACKET_V3), handed over when a block fills or BLOCK_TIMEOUT_MS
     * passes: one wakeup for hundreds of packets, where immediate mode wakes for each. A
     * request waits for its window to be that old (WINDOW_SETTLE_US). */
    pcap_set_immediate_mode(r->p, 0);
    pcap_set_timeout(r->p, BLOCK_TIMEOUT_MS);
    if (pcap_activate(r->p) < 0) {
        snprintf(err, errlen, "capture on %s: %s", iface, pcap_geterr(r->p));
        return -1;
    }
    struct bpf_program prog;
    if (filter && (pcap_compile(r->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
                   pcap_setfilter(r->p, &prog) < 0)) {
        snprintf(err, errlen, "capture filter '%s': %s", filter, pcap_geterr(r->p));
        return -1;
    }
    if (filter)
        pcap_freecode(&prog);
    ignore_outgoing_on_lo(r->p, iface);
    r->linktype = pcap_datalink(r->p);
    if (pcap_setnonblock(r->p, 1, ebuf) < 0 || (r->fd = pcap_get_selectable_fd(r->p)) < 0) {
        snprintf(err, errlen, "capture on %s: no selectable descriptor", iface);
        return -1;
    }
    r->d = pcap_dump_open(r->p, path);
    if (!r->d || pcap_dump_flush(r->d) < 0) {
        snprintf(err, errlen, "capture file %s: %s", path,
                 r->d ? strerror(errno) : pcap_geterr(r->p));
        return -1;
    }
    return 0;
}

__attribute__((noreturn)) static void ring_main(const char *iface, const char *filter,
                                                const char *path, size_t slots, struct shared *sh)
{
    struct ring r = {.sh = sh, .nslots = slots};
    char err[512] = "";
    r.slots = calloc(slots, sizeof(*r.slots));
    if (!r.slots) {
        snprintf(err, sizeof err, "capture ring of %zu packets: out of memory", slots);
        capproc_send('E', err, strlen(err));
        _exit(1);
    }
    if (open_ring(&r, iface, filter, path, err, sizeof err) < 0) {
        capproc_send('E', err, strlen(err));
        _exit(1);
    }
    fcntl(CAPPROC_CTL_FD, F_SETFL, fcntl(CAPPROC_CTL_FD, F_GETFL) | O_NONBLOCK);
    capproc_send('R', NULL, 0);
    bool running = true;
    while (running) {
        struct pollfd p[2] = {{.fd = r.fd, .events = POLLIN},
                              {.fd = CAPPROC_CTL_FD, .events = POLLIN}};
        int n = poll(p, 2, r.npending ? 1 : 100);
        if (n < 0 && errno != EINTR)
            break;
        if (read_available(&r) < 0) {
            fprintf(stderr, "racelab: capture ring on %s: %s\n", iface, pcap_geterr(r.p));
            break;
        }
        if (n > 0 && p[1].revents)
            running = read_requests(&r);
        serve_due(&r, false);
    }
    /* what the kernel still holds, then every request still waiting */
    uint64_t end = clk_mono_us() + 1000000u;
    while (clk_mono_us() < end) {
        struct pollfd p = {.fd = r.fd, .events = POLLIN};
        if (read_available(&r) < 0 || (poll(&p, 1, DRAIN_QUIET_MS) == 0 && read_available(&r) <= 0))
            break;
    }
    serve_due(&r, true);
    struct pcap_stat ps;
    memset(&ps, 0, sizeof ps);
    pcap_stats(r.p, &ps);
    r.st.dropped = ps.ps_drop;
    if (pcap_dump_flush(r.d) < 0)
        r.write_failed = true;
    pcap_dump_close(r.d);
    pcap_close(r.p);
    capproc_send(r.write_failed ? 'F' : 'S', &r.st, sizeof r.st);
    _exit(0);
}

/* ---------------------------------------------------------------- the starting process */

/* What the ring process is started with (capproc_start's body). */
struct ring_args {
    const char *iface, *filter, *path;
    size_t slots;
};

static void ring_body(void *arg, void *sh)
{
    const struct ring_args *a = arg;
    ring_main(a->iface, a->filter, a->path, a->slots, sh);
}

struct ring_cap *ring_start(const char *iface, const char *filter, const char *path, size_t slots,
                            char *err, size_t errlen)
{
    struct ring_cap *c = calloc(1, sizeof *c);
    if (!c || slots == 0) {
        snprintf(err, errlen, slots ? "out of memory" : "capture ring of 0 packets");
        free(c);
        return NULL;
    }
    struct ring_args a = {iface, filter, path, slots};
    if (capproc_start(&c->p, sizeof(struct shared), "racelab-ring", ring_body, &a, START_TIMEOUT_MS,
                      "the capture ring", err, errlen) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

int ring_keep(struct ring_cap *c, uint64_t from_us, uint64_t to_us, const uint16_t *ports,
              size_t nports)
{
    struct ring_req q = {.from_us = from_us, .to_us = to_us};
    for (size_t i = 0; i < nports && q.nports < RING_MAX_PORTS; i++)
        if (ports[i])
            q.ports[q.nports++] = ports[i];
    ssize_t w;
    while ((w = write(c->p.ctl, &q, sizeof q)) < 0 && errno == EINTR)
        ;
    return w == (ssize_t)sizeof q ? 0 : -1;
}

uint64_t ring_written(const struct ring_cap *c)
{
    return c ? atomic_load(&((struct shared *)c->p.sh)->written) : 0;
}

int ring_pid(const struct ring_cap *c)
{
    return c ? (int)c->p.pid : -1;
}

int ring_stop(struct ring_cap *c, struct ring_stats *stats)
{
    if (!c)
        return 0;
    struct ring_stats st;
    char kind = capproc_finish(&c->p, &st, sizeof st, STOP_TIMEOUT_MS);
    if (!kind) { /* no word in time: it was killed; what it had written is in the file */
        memset(&st, 0, sizeof st);
        st.written = ring_written(c);
    }
    if (stats)
        *stats = st;
    capproc_free(&c->p);
    free(c);
    return kind == 'S' ? 0 : -1;
}
