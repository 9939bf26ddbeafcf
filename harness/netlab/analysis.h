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

/* What one side of a connection sent. Definitions (exact, in capture order; docs/capture.md):
 * a side has "closed" once the capture shows its FIN or RST. */
struct analysis_dir {
    uint32_t packets;
    uint32_t syn, fin, rst; /* packets with that flag set (retransmissions included) */
    uint32_t data_packets;
    uint64_t data_bytes;     /* payload bytes (retransmissions included) */
    uint32_t data_after_fin; /* packets with payload sent after this side had received the
                                peer's FIN (the "reuse a half-closed connection" signature);
                                only new data counts, not retransmissions of older bytes */
    uint32_t rst_after_data; /* RSTs sent in answer to payload that arrived after this side
                                had sent its FIN ("data sent after close() → RST"): a RST
                                right after the peer's payload that the kernel sent to
                                reject it (no ACK flag: the FIN may still be held on the
                                wire), or any RST after payload that followed this side's
                                FIN or RST in the capture */
    uint32_t rst_abort;      /* RSTs with the ACK flag from a side that had an open
                                connection and had not closed: an abortive close (close()
                                with unread input, SO_LINGER 0) */
    uint64_t first_fin_us;   /* 0 when none; pcap timestamps in µs since the epoch */
    uint64_t first_rst_us;
};

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
    uint64_t syn, fin, rst, data_packets, data_after_fin, rst_after_data;
    uint64_t packets, rst_abort;
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
