/* ana — capture analysis (libpcap offline): per hop and direction, what each side sent, and
 * the per-flow timeline that lets the harness attribute packets to trials by port.
 *
 * A hop is a TCP listener: server_port with a name for each side, e.g. {8000, "downstream",
 * "proxy"} and {9000, "proxy", "upstream"}. Every flow whose server side is server_port
 * belongs to that hop; "A->B" counts packets sent by A. Packets of flows that match no hop are
 * counted in ana_result.unmatched. */
#ifndef RACELAB_ANA_H
#define RACELAB_ANA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ana_hop {
    uint16_t server_port;
    const char *client; /* e.g. "downstream" */
    const char *server; /* e.g. "proxy" */
};

/* What one side of a connection sent. */
struct ana_dir {
    uint32_t packets;
    uint32_t syn, fin, rst;
    uint32_t data_packets;
    uint64_t data_bytes;       /* payload bytes (retransmissions included) */
    uint32_t data_after_fin;   /* packets with payload sent after this side had received the
                                  peer's FIN (the "reuse a half-closed connection" signature) */
    uint32_t rst_after_data;   /* RSTs sent in answer to payload that arrived after this side
                                  had sent its FIN ("data sent after close() → RST") */
    uint64_t first_fin_us;     /* 0 when none; pcap timestamps in µs since the epoch */
    uint64_t first_rst_us;
};

enum ana_ev_kind {
    ANA_EV_SYN,
    ANA_EV_FIN,
    ANA_EV_RST,
    ANA_EV_DATA,
};

/* One packet worth telling (SYN, FIN, RST, or payload), in capture order. */
struct ana_event {
    uint64_t ts_us;
    enum ana_ev_kind kind;
    bool from_client;
    uint32_t len;   /* payload length */
    uint8_t flags;  /* raw TCP flags */
};

struct ana_flow {
    const struct ana_hop *hop;
    uint16_t client_port; /* the ephemeral side */
    uint64_t first_us, last_us;
    struct ana_dir c2s;   /* sent by hop->client */
    struct ana_dir s2c;   /* sent by hop->server */
    struct ana_event *events;
    size_t nevents;
};

struct ana_dir_total {
    char name[64]; /* "downstream->proxy" */
    uint64_t syn, fin, rst, data_packets, data_after_fin, rst_after_data;
};

struct ana_result {
    struct ana_flow *flows; /* ordered by first packet */
    size_t nflows;
    struct ana_dir_total *dirs; /* two per hop, in hop order: client->server, server->client */
    size_t ndirs;
    uint64_t packets, unmatched;
};

/* Reads path. hops may be NULL: every port that received a SYN becomes a hop, named
 * "client:PORT" / "server:PORT". Returns 0, or -1 with a message naming the file. */
int ana_read(const char *path, const struct ana_hop *hops, size_t nhops, struct ana_result *out,
             char *err, size_t errlen);

/* The flow of hop with that client port (the most recent one if the port was reused), or
 * NULL. */
const struct ana_flow *ana_find(const struct ana_result *r, const struct ana_hop *hop,
                                uint16_t client_port);

void ana_free(struct ana_result *r);

#endif
