/* wire — wire faults inside the cell's namespace: hold chosen packets for D ms, or drop them,
 * with iptables NFQUEUE rules and libnetfilter_queue.
 *
 * This is how racelab opens a race window on purpose: holding the upstream's FIN 100 ms makes
 * "the proxy's kernel has not yet seen the FIN" true on every trial (tc netem is not
 * available on these machines). Held packets are released by timers in the wire thread, so
 * other traffic (including other packets of the same flow) keeps flowing — which is exactly
 * how a later RST can overtake a held FIN or held data.
 *
 * A rule selects packets by direction (source and/or destination port: a hop direction such
 * as upstream->proxy is "source port = the upstream's listening port"), by TCP flags or
 * payload, and optionally by occurrence within each flow. */
#ifndef RACELAB_WIRE_H
#define RACELAB_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum wire_what {
    WIRE_ANY = 0,
    WIRE_SYN = 1 << 0,  /* SYN set (SYN or SYN-ACK) */
    WIRE_FIN = 1 << 1,  /* FIN set */
    WIRE_RST = 1 << 2,  /* RST set */
    WIRE_DATA = 1 << 3, /* TCP payload length > 0 */
};

enum wire_action {
    WIRE_HOLD, /* release after hold_ms */
    WIRE_DROP,
};

struct wire_rule {
    uint16_t sport; /* 0 = any source port */
    uint16_t dport; /* 0 = any destination port */
    unsigned what;  /* bitmask of wire_what: a packet matches when it has any of them;
                       WIRE_ANY matches every packet */
    unsigned nth;   /* 0 = every matching packet; k = only the k-th matching packet of each
                       connection (counted per rule and 4-tuple, restarted by the
                       connection's SYN, so a reused client port counts afresh) */
    enum wire_action action;
    long hold_ms; /* WIRE_HOLD */
};

struct wire_stats {
    uint64_t seen; /* packets that reached the queue */
    uint64_t held; /* held then released */
    uint64_t dropped;
    uint64_t errors; /* verdicts that failed, packets the kernel could not queue to us */
    char error[160]; /* empty, or why the queue thread gave up early (traffic then bypassed
                        the queue: --queue-bypass) */
};

struct wire;

/* The most rules one wire_start takes: each becomes up to three iptables rules, and every
 * queued packet is matched against every rule in the queue thread. Scenario files are held to
 * it when they load. */
#define WIRE_MAX_RULES 64

/* Installs the iptables rules (OUTPUT chain, the namespace's own tables) and starts the queue
 * thread. queue_num: the NFQUEUE number to use. Returns NULL with a message naming the
 * missing piece (iptables binary, NFQUEUE support, permission) in err. */
struct wire *wire_start(const struct wire_rule *rules, size_t nrules, uint16_t queue_num, char *err,
                        size_t errlen); /* nrules <= WIRE_MAX_RULES */

/* Releases everything still held (verdict ACCEPT), removes the rules, stops the thread and
 * frees w. Safe with w == NULL. */
void wire_stop(struct wire *w, struct wire_stats *stats);

/* Parses a rule selector word as scenario files write it: "fin", "rst", "syn", "data",
 * "any", or several joined with '|' ("fin|rst"). Returns 0, or -1. */
int wire_parse_what(const char *s, unsigned *what);
/* Writes what as wire_parse_what reads it: the words of its bits joined with '|' ("fin|rst"),
 * or "any". */
void wire_format_what(unsigned what, char *buf, size_t len);

#endif
