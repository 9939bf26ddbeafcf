/* analysis — capture analysis (libpcap offline): per hop and direction, what each side sent, and
 * the per-flow timeline that lets the harness attribute packets to trials by port.
 *
 * A hop is a TCP listener: server_port with a name for each side, e.g. {8000, "downstream",
 * "proxy"} and {9000, "proxy", "upstream"}. Every flow whose server side is server_port
 * belongs to that hop; "A->B" counts packets sent by A. Packets of flows that match no hop are
 * counted in analysis_result.unmatched. */
#ifndef RACELAB_ANALYSIS_H
#define RACELAB_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct analysis_hop {
    uint16_t server_port;
    const char *client; /* e.g. "downstream" */
    const char *server; /* e.g. "proxy" */
};

/* The packet counters of one direction (A->B: what A sent), the one list of them. The analyser
 * counts them per flow (struct analysis_dir) and adds them up per direction (struct
 * analysis_dir_total); explain sums the ones it draws. The ANALYSIS_RESULT_COUNTERS are also a
 * cell's per-direction metrics, in this order: results.json has {"rst": {"upstream->proxy": 5,
 * ...}, "fin": ...} and expectations check rst.upstream->proxy. X(field, help); help is the
 * short text of the metric. Definitions (exact, in capture order; docs/capture.md) — a side
 * has "closed" once the capture shows its FIN or RST:
 *   syn, fin, rst   packets with that flag set (retransmissions included)
 *   data_after_fin  packets with payload sent after this side had received the peer's FIN (the
 *                   "reuse a half-closed connection" signature); only new data counts, not
 *                   retransmissions of older bytes
 *   rst_after_data  RSTs sent in answer to payload that arrived after this side had sent its
 *                   FIN ("data sent after close() → RST"): a RST right after the peer's payload
 *                   that the kernel sent to reject it (no ACK flag: the FIN may still be held
 *                   on the wire), or any RST after payload that followed this side's FIN or
 *                   RST in the capture
 *   rst_abort       RSTs with the ACK flag from a side that had an open connection and had not
 *                   closed: an abortive close (close() with unread input, SO_LINGER 0)
 *   data_packets, data_bytes  packets with payload, payload bytes (retransmissions included) */
#define ANALYSIS_RESULT_COUNTERS(X)                                                                \
    X(rst, "RST packets")                                                                          \
    X(fin, "FIN packets")                                                                          \
    X(syn, "SYN packets")                                                                          \
    X(data_after_fin, "payload sent after the peer's FIN")                                         \
    X(rst_after_data, "RSTs answering data sent to a closed socket")                               \
    X(data_packets, "packets with payload")                                                        \
    X(rst_abort, "RSTs of an abortive close (unread input, SO_LINGER 0)")
#define ANALYSIS_OTHER_COUNTERS(X)                                                                 \
    X(packets, "TCP packets")                                                                      \
    X(data_bytes, "payload bytes")
#define ANALYSIS_COUNTERS(X) ANALYSIS_RESULT_COUNTERS(X) ANALYSIS_OTHER_COUNTERS(X)

#define ANALYSIS_COUNTER_FIELD(field, help) uint64_t field;
#define ANALYSIS_COUNTER_ONE(field, help)   +1

enum {
    ANALYSIS_NCOUNTERS = 0 ANALYSIS_COUNTERS(ANALYSIS_COUNTER_ONE),
    ANALYSIS_NRESULT = 0 ANALYSIS_RESULT_COUNTERS(ANALYSIS_COUNTER_ONE), /* the first ones */
};

/* What one side of a connection sent. */
struct analysis_dir {
    ANALYSIS_COUNTERS(ANALYSIS_COUNTER_FIELD)
    uint64_t first_fin_us; /* 0 when none; pcap timestamps in µs since the epoch */
    uint64_t first_rst_us;
};

/* The list as data, in its order: analysis_counters[k] is a field of struct analysis_dir. */
struct analysis_counter {
    const char *name; /* the field's name, and the metric's: "rst" */
    const char *help;
    size_t offset; /* in struct analysis_dir */
};
extern const struct analysis_counter analysis_counters[ANALYSIS_NCOUNTERS];

/* The value of counter k (an index into analysis_counters) in d. */
uint64_t analysis_dir_count(const struct analysis_dir *d, size_t k);

/* Adds every counter of d to sum (first_fin_us, first_rst_us are left alone). */
void analysis_dir_add(struct analysis_dir *sum, const struct analysis_dir *d);

enum analysis_ev_kind {
    ANALYSIS_EV_SYN,
    ANALYSIS_EV_FIN,
    ANALYSIS_EV_RST,
    ANALYSIS_EV_DATA,
};

/* What the analyser recognised in one event (bits of analysis_event.notes). */
enum analysis_note {
    ANALYSIS_NOTE_DATA_AFTER_FIN = 1 << 0,     /* payload sent after receiving the peer's FIN */
    ANALYSIS_NOTE_RST_AFTER_DATA = 1 << 1,     /* RST answering payload that arrived after close */
    ANALYSIS_NOTE_RST_ABORT = 1 << 2,          /* RST instead of a FIN (unread data, SO_LINGER 0) */
    ANALYSIS_NOTE_FIN_AFTER_RST = 1 << 3,      /* FIN sent before this side's RST but seen after it:
                                             the RST overtook a held FIN */
    ANALYSIS_NOTE_DATA_FIN_IN_FLIGHT = 1 << 4, /* payload sent while the peer's FIN was already sent
                                             but not yet delivered (held): answered by RST */
    ANALYSIS_NOTE_FIN_WITH_DATA = 1 << 5,      /* FIN in the same segment as the last payload */
};

/* One packet worth telling (SYN, FIN, RST, or payload), in capture order. */
struct analysis_event {
    uint64_t ts_us;
    enum analysis_ev_kind kind;
    bool from_client;
    uint32_t len;  /* payload length */
    uint8_t flags; /* raw TCP flags */
    uint32_t seq, ack;
    unsigned notes; /* enum analysis_note bits */
};

struct analysis_flow {
    const struct analysis_hop *hop;
    uint16_t client_port; /* the ephemeral side */
    uint64_t first_us, last_us;
    struct analysis_dir c2s; /* sent by hop->client */
    struct analysis_dir s2c; /* sent by hop->server */
    struct analysis_event *events;
    size_t nevents;
};

struct analysis_dir_total {
    char name[64]; /* "downstream->proxy" */
    ANALYSIS_COUNTERS(ANALYSIS_COUNTER_FIELD)
};

struct analysis_result {
    struct analysis_flow *flows; /* ordered by first packet */
    size_t nflows;
    struct analysis_dir_total *dirs; /* two per hop, in hop order: client->server, server->client */
    size_t ndirs;
    uint64_t packets, unmatched;
    uint64_t skipped;          /* not TCP over IPv4/IPv6 (ARP, UDP, fragments, cut headers) */
    struct analysis_hop *hops; /* the hops used (copied, or inferred), owned by the result;
                             analysis_flow.hop points here */
    size_t nhops;
    uint64_t first_us, last_us; /* of the TCP packets */
};

/* Reads path. hops may be NULL: every port that received a SYN becomes a hop, named
 * "client:PORT" / "server:PORT". Link types: Ethernet (what Linux lo gives), BSD loopback
 * (DLT_NULL/LOOP), raw IP, Linux cooked (SLL, SLL2). Returns 0, or -1 with a message naming
 * the file (not a pcap, truncated, unsupported link type); *out is then empty. */
int analysis_read(const char *path, const struct analysis_hop *hops, size_t nhops,
                  struct analysis_result *out, char *err, size_t errlen);

/* The flow of hop (matched by its server_port) with that client port (the most recent one
 * if the port was reused), or NULL. */
const struct analysis_flow *analysis_find(const struct analysis_result *r,
                                          const struct analysis_hop *hop, uint16_t client_port);

void analysis_free(struct analysis_result *r);

#endif
