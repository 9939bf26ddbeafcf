/* cap — packet capture of one cell with libpcap on the namespace's loopback.
 *
 * A thread reads packets and appends them to a pcap file, flushing after every batch, so the
 * file is complete and readable (tshark, Wireshark) up to the last packet even when the run is
 * interrupted. cap_stop() drains what the kernel still holds, then closes the file. */
#ifndef RACELAB_CAP_H
#define RACELAB_CAP_H

#include <stddef.h>
#include <stdint.h>

struct cap;

struct cap_stats {
    uint64_t packets;   /* written to the file */
    uint64_t dropped;   /* dropped by the kernel (pcap_stats ps_drop) */
};

/* Starts capturing on iface ("lo") with a BPF filter (e.g. "tcp"; NULL = everything) into
 * path. Returns once the capture is active (packets sent after the return are captured), or
 * NULL with a message in err (naming the interface or the missing permission). */
struct cap *cap_start(const char *iface, const char *filter, const char *path, char *err,
                      size_t errlen);

/* Packets written to the file and flushed so far (readable by another process now). */
uint64_t cap_written(const struct cap *c);

/* Waits until packets already sent have been written (a short drain), stops, closes the file.
 * Safe with c == NULL. Returns 0, or -1 when the file could not be completed. */
int cap_stop(struct cap *c, struct cap_stats *stats);

#endif
