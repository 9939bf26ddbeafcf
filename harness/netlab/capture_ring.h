/* capture_ring — a capture that grows with the failures, not with the traffic (racelab soak).
 *
 * A capture process (as capture.h's: its own process group, signals ignored, finishing its file
 * when the control pipe closes, even after its parent's death) reads every packet of the
 * interface into a ring in memory — the last `slots` packets, each cut to RING_SNAPLEN bytes —
 * and writes nothing until asked: ring_keep() names a time window and the ports of the flows
 * involved in one failing request (the client's connection, the proxy's upstream
 * connections it used), and the process appends to the pcap the packets of those flows within
 * the window that are still in the ring, each packet once, in time order within the request.
 * A request is served once the window has passed (packets up to its end have been read), so
 * a window may end a little after the failure was reported.
 *
 * The pcap is valid at every moment (whole records, flushed after each request), so an
 * interrupted soak leaves a pcap that tshark and racelab explain open. */
#ifndef RACELAB_CAPTURE_RING_H
#define RACELAB_CAPTURE_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring_cap;

/* Bytes kept of each packet in the ring and the file: the headers and the start of an HTTP
 * head (request line, status line); lengths stay exact (from the IP header). */
#define RING_SNAPLEN 256
/* At most this many ports per request (a client connection and a few upstream attempts). */
#define RING_MAX_PORTS 12

struct ring_stats {
    uint64_t seen;     /* packets read from the interface */
    uint64_t written;  /* packets written to the file */
    uint64_t requests; /* ring_keep() requests served */
    uint64_t late;     /* requests whose window began before the oldest packet in the ring */
    uint64_t dropped;  /* dropped by the kernel (pcap_stats ps_drop) */
};

/* Starts the ring on iface ("lo") with a BPF filter (NULL: every packet), slots packets deep,
 * the file at path (created with its header). Returns once packets sent from now on are read,
 * or NULL with a message. */
struct ring_cap *ring_start(const char *iface, const char *filter, const char *path, size_t slots,
                            char *err, size_t errlen);

/* Asks for the packets of the flows with one of ports (as source or destination port; never
 * pass a listening port, which every flow of its hop has) between from_us and to_us (wall
 * clock µs, the clock of pcap timestamps). Returns 0, or -1 when the process is gone. */
int ring_keep(struct ring_cap *c, uint64_t from_us, uint64_t to_us, const uint16_t *ports,
              size_t nports);

/* Packets written to the file so far (flushed: readable now). */
uint64_t ring_written(const struct ring_cap *c);

/* The ring process's id (its CPU time can be read from /proc), -1 with c == NULL. */
int ring_pid(const struct ring_cap *c);

/* Serves the requests already made, closes the file, stops. Safe with c == NULL. 0, or -1
 * when the file could not be completed. */
int ring_stop(struct ring_cap *c, struct ring_stats *stats);

#endif
