/* wire — NFQUEUE wire faults. The kernel queues only the packets that the iptables rules
 * select (narrowed by port and TCP flag, so ordinary traffic never leaves the kernel); this
 * module's thread gives each queued packet its verdict: ACCEPT at once, DROP, or ACCEPT later
 * when its hold timer expires. Verdicts may be issued out of order, which is what lets other
 * packets of the same flow (a later RST, say) overtake a held one. */
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#include "clk.h"
#include "grow.h"

extern char **environ;

/* Enough of each packet to read an IPv4 header with options and a TCP header with options. */
#define COPY_BYTES 128
/* Packets the kernel may keep queued for us before fail-open accepts the rest. */
#define QUEUE_MAXLEN 8192
#define RCVBUF_BYTES (4 << 20)

static const char *const iptables_paths[] = {"/usr/sbin/iptables", "/sbin/iptables", NULL};

/* One iptables rule: what the kernel sends to the queue. */
struct ipt {
    uint16_t sport, dport;
    const char *flag; /* "FIN", "SYN", "RST", or NULL for every TCP packet of the ports */
};

struct held {
    uint32_t id;
    uint64_t deadline_us; /* monotonic */
};

/* Occurrence counter of one rule in one flow (for nth). */
struct occ {
    uint32_t saddr, daddr;
    uint16_t sport, dport;
    uint32_t rule; /* index + 1; 0 = empty slot */
    uint32_t count;
};

struct wire {
    struct wire_rule *rules;
    size_t nrules;
    uint16_t qnum;
    const char *iptables;
    struct ipt *ipts;
    size_t nipts, installed;

    struct nfq_handle *h;
    struct nfq_q_handle *qh;
    int fd;
    int stopfd;
    pthread_t thread;
    bool thread_started;

    struct held *held; /* in arrival order */
    size_t nheld, capheld;
    struct occ *occ; /* open addressing, capocc a power of two */
    size_t nocc, capocc;

    struct wire_stats st;
    char buf[128 * 1024] __attribute__((aligned(8)));
};

/* ---------------------------------------------------------------- iptables */

static const char *find_iptables(void)
{
    for (size_t i = 0; iptables_paths[i]; i++)
        if (access(iptables_paths[i], X_OK) == 0)
            return iptables_paths[i];
    return NULL;
}

/* Runs iptables with argv (argv[0] is replaced by the binary's path); on failure err gets the
 * command and the first line iptables printed. */
static int run_iptables(const char *bin, char **argv, char *err, size_t errlen)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    argv[0] = (char *)bin;
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    char cmd[256];
    size_t cl = 0;
    for (size_t i = 0; argv[i] && cl < sizeof cmd; i++)
        cl += (size_t)snprintf(cmd + cl, sizeof cmd - cl, "%s%s", i ? " " : "", argv[i]);
    if (rc != 0) {
        close(pfd[0]);
        snprintf(err, errlen, "%s: %s", cmd, strerror(rc));
        return -1;
    }
    char out[512];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(pfd[0], out + got, sizeof out - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (got += (size_t)r) == sizeof out - 1)
            break;
    }
    out[got] = '\0';
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            snprintf(err, errlen, "%s: waitpid: %s", cmd, strerror(errno));
            return -1;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
    const char *hint = "";
    if (strstr(out, "NFQUEUE") || strstr(out, "No such file"))
        hint = " — the kernel lacks NFQUEUE support (modprobe nfnetlink_queue nft_queue)";
    else if (strstr(out, "ermission"))
        hint = " — wire faults need root or racelab's own user namespace";
    snprintf(err, errlen, "%s failed: %s%s", cmd, got ? out : "(no output)", hint);
    return -1;
}

static int ipt_apply(struct wire *w, const struct ipt *r, const char *op, char *err, size_t errlen)
{
    char sport[8], dport[8], q[8];
    char *argv[24];
    size_t n = 0;
    argv[n++] = NULL; /* the binary */
    argv[n++] = "-w";
    argv[n++] = (char *)op;
    argv[n++] = "OUTPUT";
    argv[n++] = "-p";
    argv[n++] = "tcp";
    if (r->sport) {
        snprintf(sport, sizeof sport, "%u", r->sport);
        argv[n++] = "--sport";
        argv[n++] = sport;
    }
    if (r->dport) {
        snprintf(dport, sizeof dport, "%u", r->dport);
        argv[n++] = "--dport";
        argv[n++] = dport;
    }
    if (r->flag) {
        argv[n++] = "--tcp-flags";
        argv[n++] = (char *)r->flag;
        argv[n++] = (char *)r->flag;
    }
    snprintf(q, sizeof q, "%u", w->qnum);
    argv[n++] = "-j";
    argv[n++] = "NFQUEUE";
    argv[n++] = "--queue-num";
    argv[n++] = q;
    /* With no listener bound to the queue (the harness died), the kernel accepts instead of
     * dropping: a crashed run must not blackhole the namespace's traffic. */
    argv[n++] = "--queue-bypass";
    argv[n] = NULL;
    return run_iptables(w->iptables, argv, err, errlen);
}

static void ipt_add_unique(struct wire *w, uint16_t sport, uint16_t dport, const char *flag)
{
    for (size_t i = 0; i < w->nipts; i++) {
        const struct ipt *r = &w->ipts[i];
        if (r->sport == sport && r->dport == dport &&
            (r->flag == flag || (r->flag && flag && strcmp(r->flag, flag) == 0)))
            return;
    }
    w->ipts[w->nipts++] = (struct ipt){sport, dport, flag};
}

/* Narrows each rule as far as iptables can: by port always, by TCP flag when the rule selects
 * only flags ("fin|rst" becomes two rules). Payload selection is done in the thread. */
static void ipt_plan(struct wire *w)
{
    for (size_t i = 0; i < w->nrules; i++) {
        const struct wire_rule *r = &w->rules[i];
        if (r->what == WIRE_ANY || (r->what & WIRE_DATA)) {
            ipt_add_unique(w, r->sport, r->dport, NULL);
            continue;
        }
        /* nth counts within one connection: the SYN (or SYN-ACK) of the direction starts the
         * count again, so a client port reused later in the cell is a new connection */
        if ((r->what & WIRE_SYN) || r->nth > 0)
            ipt_add_unique(w, r->sport, r->dport, "SYN");
        if (r->what & WIRE_FIN)
            ipt_add_unique(w, r->sport, r->dport, "FIN");
        if (r->what & WIRE_RST)
            ipt_add_unique(w, r->sport, r->dport, "RST");
    }
}

static void ipt_remove_all(struct wire *w)
{
    char err[256];
    while (w->installed > 0) {
        w->installed--;
        if (ipt_apply(w, &w->ipts[w->installed], "-D", err, sizeof err) < 0)
            fprintf(stderr, "racelab: removing a wire rule: %s\n", err);
    }
}

/* ---------------------------------------------------------------- matching */

struct pkt {
    uint32_t saddr, daddr;
    uint16_t sport, dport;
    uint8_t flags;
    uint32_t payload;
};

static int parse_pkt(const unsigned char *p, int len, struct pkt *k)
{
    if (len < 20 || (p[0] >> 4) != 4 || p[9] != 6)
        return -1;
    unsigned ihl = (p[0] & 0x0fu) * 4u;
    if (ihl < 20 || (unsigned)len < ihl + 20)
        return -1;
    const unsigned char *t = p + ihl;
    unsigned doff = (t[12] >> 4) * 4u;
    unsigned tot = (unsigned)p[2] << 8 | p[3];
    memcpy(&k->saddr, p + 12, 4);
    memcpy(&k->daddr, p + 16, 4);
    k->sport = (uint16_t)(t[0] << 8 | t[1]);
    k->dport = (uint16_t)(t[2] << 8 | t[3]);
    k->flags = t[13];
    k->payload = tot > ihl + doff ? tot - ihl - doff : 0;
    return 0;
}

static bool rule_matches(const struct wire_rule *r, const struct pkt *k)
{
    if (r->sport && r->sport != k->sport)
        return false;
    if (r->dport && r->dport != k->dport)
        return false;
    if (r->what == WIRE_ANY)
        return true;
    return ((r->what & WIRE_SYN) && (k->flags & 0x02)) ||
           ((r->what & WIRE_FIN) && (k->flags & 0x01)) ||
           ((r->what & WIRE_RST) && (k->flags & 0x04)) || ((r->what & WIRE_DATA) && k->payload > 0);
}

static size_t occ_hash(const struct pkt *k, uint32_t rule)
{
    uint64_t h = ((uint64_t)k->saddr * 0x9e3779b97f4a7c15ull) ^ k->daddr;
    h = (h ^ ((uint64_t)k->sport << 16 | k->dport)) * 0xff51afd7ed558ccdull;
    h ^= rule * 0xc4ceb9fe1a85ec53ull;
    return (size_t)(h ^ (h >> 29));
}

static int occ_grow(struct wire *w);

/* Occurrences of rule in the packet's connection so far, this one included; 0 when out of
 * memory (the packet then matches no nth rule). Counters are kept per 4-tuple and restarted by
 * the connection's SYN (occ_restart), so a client port reused within a cell counts afresh. */
static uint32_t occ_bump(struct wire *w, const struct pkt *k, uint32_t rule)
{
    if ((w->nocc + 1) * 2 > w->capocc && occ_grow(w) < 0)
        return 0;
    size_t mask = w->capocc - 1;
    for (size_t i = occ_hash(k, rule) & mask;; i = (i + 1) & mask) {
        struct occ *o = &w->occ[i];
        if (o->rule == 0) {
            *o = (struct occ){k->saddr, k->daddr, k->sport, k->dport, rule, 1};
            w->nocc++;
            return 1;
        }
        if (o->rule == rule && o->saddr == k->saddr && o->daddr == k->daddr &&
            o->sport == k->sport && o->dport == k->dport)
            return ++o->count;
    }
}

/* A SYN opens a new connection on this 4-tuple: every rule counts from zero again. */
static void occ_restart(struct wire *w, const struct pkt *k)
{
    if (w->capocc == 0)
        return;
    size_t mask = w->capocc - 1;
    for (uint32_t rule = 1; rule <= w->nrules; rule++) {
        for (size_t i = occ_hash(k, rule) & mask; w->occ[i].rule != 0; i = (i + 1) & mask) {
            struct occ *o = &w->occ[i];
            if (o->rule == rule && o->saddr == k->saddr && o->daddr == k->daddr &&
                o->sport == k->sport && o->dport == k->dport) {
                o->count = 0;
                break;
            }
        }
    }
}

static int occ_grow(struct wire *w)
{
    size_t ncap = w->capocc ? w->capocc * 2 : 256;
    struct occ *n = calloc(ncap, sizeof *n);
    if (!n)
        return -1;
    struct occ *old = w->occ;
    size_t oldcap = w->capocc;
    w->occ = n;
    w->capocc = ncap;
    w->nocc = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].rule == 0)
            continue;
        size_t mask = ncap - 1;
        struct pkt k = {old[i].saddr, old[i].daddr, old[i].sport, old[i].dport, 0, 0};
        size_t j = occ_hash(&k, old[i].rule) & mask;
        while (n[j].rule != 0)
            j = (j + 1) & mask;
        n[j] = old[i];
        w->nocc++;
    }
    free(old);
    return 0;
}

/* ---------------------------------------------------------------- queue thread */

static void verdict(struct wire *w, uint32_t id, uint32_t v)
{
    if (nfq_set_verdict(w->qh, id, v, 0, NULL) < 0)
        w->st.errors++;
}

static int hold(struct wire *w, uint32_t id, long hold_ms)
{
    struct held *n = grow_array(w->held, &w->capheld, w->nheld + 1, sizeof *n);
    if (!n)
        return -1;
    w->held = n;
    w->held[w->nheld++] = (struct held){id, clk_mono_us() + (uint64_t)hold_ms * 1000u};
    return 0;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *arg)
{
    (void)qh;
    (void)msg;
    struct wire *w = arg;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    w->st.seen++;
    unsigned char *data;
    int len = nfq_get_payload(nfa, &data);
    struct pkt k;
    if (len < 0 || parse_pkt(data, len, &k) < 0) {
        verdict(w, id, NF_ACCEPT);
        return 0;
    }
    if (k.flags & 0x02)
        occ_restart(w, &k);
    /* Every rule whose selector matches counts the packet (so nth means the same whatever the
     * other rules are); the first rule whose nth also matches decides. */
    const struct wire_rule *decide = NULL;
    for (size_t i = 0; i < w->nrules; i++) {
        const struct wire_rule *r = &w->rules[i];
        if (!rule_matches(r, &k))
            continue;
        uint32_t n = occ_bump(w, &k, (uint32_t)i + 1);
        if (!decide && (r->nth == 0 || n == r->nth))
            decide = r;
    }
    if (!decide) {
        verdict(w, id, NF_ACCEPT);
        return 0;
    }
    switch (decide->action) {
    case WIRE_DROP:
        verdict(w, id, NF_DROP);
        w->st.dropped++;
        break;
    case WIRE_HOLD:
        if (hold(w, id, decide->hold_ms) < 0) {
            w->st.errors++;
            verdict(w, id, NF_ACCEPT);
        }
        break;
    }
    return 0;
}

static void release_expired(struct wire *w, uint64_t now)
{
    size_t keep = 0;
    for (size_t i = 0; i < w->nheld; i++) {
        if (w->held[i].deadline_us <= now) {
            verdict(w, w->held[i].id, NF_ACCEPT);
            w->st.held++;
        } else {
            w->held[keep++] = w->held[i];
        }
    }
    w->nheld = keep;
}

/* At stop, in arrival order, so held packets leave in the order they were sent. */
static void release_all(struct wire *w)
{
    for (size_t i = 0; i < w->nheld; i++) {
        verdict(w, w->held[i].id, NF_ACCEPT);
        w->st.held++;
    }
    w->nheld = 0;
}

static int next_timeout_ms(const struct wire *w)
{
    if (w->nheld == 0)
        return -1;
    uint64_t first = w->held[0].deadline_us;
    for (size_t i = 1; i < w->nheld; i++)
        if (w->held[i].deadline_us < first)
            first = w->held[i].deadline_us;
    uint64_t now = clk_mono_us();
    if (first <= now)
        return 0;
    uint64_t ms = (first - now + 999) / 1000;
    return ms > 60000 ? 60000 : (int)ms;
}

/* Reads every queued message available now; -1 on an error the thread cannot go on from. */
static int drain_socket(struct wire *w)
{
    for (;;) {
        ssize_t r = recv(w->fd, w->buf, sizeof w->buf, MSG_DONTWAIT);
        if (r > 0) {
            nfq_handle_packet(w->h, w->buf, (int)r);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r < 0 && errno == ENOBUFS) {
            /* the kernel could not hand us some packets: they were dropped (TCP resends) */
            w->st.errors++;
            continue;
        }
        snprintf(w->st.error, sizeof w->st.error, "reading the queue: %s",
                 r < 0 ? strerror(errno) : "socket closed");
        return -1;
    }
}

static void *wire_thread(void *arg)
{
    struct wire *w = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = w->fd, .events = POLLIN}, {.fd = w->stopfd, .events = POLLIN}};
        int n = poll(p, 2, next_timeout_ms(w));
        if (n < 0 && errno != EINTR) {
            snprintf(w->st.error, sizeof w->st.error, "poll: %s", strerror(errno));
            break;
        }
        release_expired(w, clk_mono_us());
        if (n > 0 && (p[0].revents & (POLLIN | POLLERR)) && drain_socket(w) < 0)
            break;
        if (n > 0 && (p[1].revents & POLLIN)) {
            /* The rules are gone by now: whatever the kernel queued before is in the socket. */
            release_all(w);
            if (drain_socket(w) == 0)
                release_all(w);
            return NULL;
        }
    }
    /* Giving up: let everything through and unbind, so --queue-bypass passes later packets
     * instead of queueing them for nobody. */
    release_all(w);
    nfq_destroy_queue(w->qh);
    w->qh = NULL;
    return NULL;
}

/* ---------------------------------------------------------------- start / stop */

static void wire_free(struct wire *w)
{
    if (!w)
        return;
    if (w->qh)
        nfq_destroy_queue(w->qh);
    if (w->h)
        nfq_close(w->h);
    if (w->stopfd >= 0)
        close(w->stopfd);
    free(w->rules);
    free(w->ipts);
    free(w->held);
    free(w->occ);
    free(w);
}

static int validate(const struct wire_rule *rules, size_t nrules, char *err, size_t errlen)
{
    if (nrules > WIRE_MAX_RULES) {
        snprintf(err, errlen, "%zu wire rules: at most %d", nrules, WIRE_MAX_RULES);
        return -1;
    }
    for (size_t i = 0; i < nrules; i++) {
        const struct wire_rule *r = &rules[i];
        if (r->what & ~(unsigned)(WIRE_SYN | WIRE_FIN | WIRE_RST | WIRE_DATA)) {
            snprintf(err, errlen, "wire rule %zu: unknown packet selector bits 0x%x", i + 1,
                     r->what);
            return -1;
        }
        if (r->action != WIRE_HOLD && r->action != WIRE_DROP) {
            snprintf(err, errlen, "wire rule %zu: unknown action %d", i + 1, (int)r->action);
            return -1;
        }
        if (r->action == WIRE_HOLD && (r->hold_ms < 0 || r->hold_ms > 600000)) {
            snprintf(err, errlen, "wire rule %zu: hold_ms %ld out of range 0..600000", i + 1,
                     r->hold_ms);
            return -1;
        }
    }
    return 0;
}

struct wire *wire_start(const struct wire_rule *rules, size_t nrules, uint16_t queue_num, char *err,
                        size_t errlen)
{
    if (validate(rules, nrules, err, errlen) < 0)
        return NULL;
    struct wire *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->stopfd = -1;
    w->qnum = queue_num;
    w->iptables = find_iptables();
    if (!w->iptables) {
        snprintf(err, errlen,
                 "wire faults need iptables (not found in /usr/sbin or /sbin): "
                 "apt-get install iptables, or run without wire faults");
        goto fail;
    }
    w->nrules = nrules;
    w->rules = calloc(nrules ? nrules : 1, sizeof *w->rules);
    w->ipts = calloc(nrules * 3 + 1, sizeof *w->ipts);
    if (!w->rules || !w->ipts) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (nrules)
        memcpy(w->rules, rules, nrules * sizeof *rules);

    w->h = nfq_open();
    if (!w->h) {
        snprintf(err, errlen,
                 "opening the netfilter queue socket: %s — needs root or "
                 "racelab's own user namespace, and the nfnetlink_queue module",
                 strerror(errno));
        goto fail;
    }
    w->qh = nfq_create_queue(w->h, queue_num, on_packet, w);
    if (!w->qh) {
        snprintf(err, errlen,
                 "binding NFQUEUE %u: %s — another process of this namespace "
                 "holds that queue number, or nfnetlink_queue is missing (modprobe "
                 "nfnetlink_queue)",
                 queue_num, strerror(errno));
        goto fail;
    }
    if (nfq_set_mode(w->qh, NFQNL_COPY_PACKET, COPY_BYTES) < 0) {
        snprintf(err, errlen, "NFQUEUE %u: setting copy mode: %s", queue_num, strerror(errno));
        goto fail;
    }
    /* FAIL_OPEN: a full queue accepts rather than drops. GSO: the kernel queues large
     * segments whole instead of splitting them, so a held packet stays the very skb TCP
     * sent — TCP then sees it "still in the host queue" and does not retransmit it while it
     * is held (measured; docs/capture.md). */
    nfq_set_queue_maxlen(w->qh, QUEUE_MAXLEN);
    if (nfq_set_queue_flags(w->qh, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO,
                            NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO) < 0) {
        snprintf(err, errlen, "NFQUEUE %u: setting fail-open and GSO flags: %s", queue_num,
                 strerror(errno));
        goto fail;
    }
    w->fd = nfq_fd(w->h);
    /* A program started later must not inherit the queue socket: if it outlived us, the
     * queue would stay bound to a socket nobody reads, and --queue-bypass would not apply. */
    fcntl(w->fd, F_SETFD, FD_CLOEXEC);
    nfnl_rcvbufsiz(nfq_nfnlh(w->h), RCVBUF_BYTES);
    w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->stopfd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }

    /* The queue is bound before the rules exist, so no selected packet finds nobody. */
    ipt_plan(w);
    for (size_t i = 0; i < w->nipts; i++) {
        if (ipt_apply(w, &w->ipts[i], "-A", err, errlen) < 0)
            goto fail;
        w->installed++;
    }

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, wire_thread, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "starting the wire thread: %s", strerror(rc));
        goto fail;
    }
    w->thread_started = true;
    return w;
fail:
    ipt_remove_all(w);
    wire_free(w);
    return NULL;
}

void wire_stop(struct wire *w, struct wire_stats *stats)
{
    if (!w)
        return;
    /* Rules first: from then on nothing new is queued, and what was queued already sits in
     * the thread's socket, where the stop drains and accepts it. */
    ipt_remove_all(w);
    if (w->thread_started) {
        uint64_t one = 1;
        ssize_t r = write(w->stopfd, &one, sizeof one);
        (void)r;
        pthread_join(w->thread, NULL);
    }
    if (stats)
        *stats = w->st;
    wire_free(w);
}
