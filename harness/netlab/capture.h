/* capture — packet capture of one cell with libpcap on the namespace's loopback.
 *
 * A capture process (forked by capture_start, in the caller's namespace) reads packets and
 * appends them to a pcap file, flushing whole records after every batch, so the file is
 * complete and readable (tshark, Wireshark) up to the last packet even when the run is
 * interrupted. It is a process rather than a thread so that it outlives the process that
 * started it: when that one is killed (Ctrl-C, SIGKILL, a crash), the capture process sees
 * its control pipe close, drains what the kernel still holds and closes the file properly —
 * a thread killed in the middle of a multi-page write() would leave a record cut short, which
 * tshark refuses. It runs in its own process group (a kill of the starting process's group
 * does not reach it), ignores SIGINT, SIGTERM and SIGHUP, and holds no descriptor of its
 * parent's; after its parent's death it drains and exits by itself (within 50 ms of quiet,
 * 1 s at most). Do not reap it with waitpid(-1): capture_stop() does (capture_pid() tells which
 * child it is). capture_stop() drains, then closes the file. */
#ifndef RACELAB_CAPTURE_H
#define RACELAB_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

struct cap;

struct capture_stats {
    uint64_t packets; /* written to the file */
    uint64_t dropped; /* dropped by the kernel (pcap_stats ps_drop) */
};

/* Bytes kept of each packet by capture_start(): every header and the start of the payload (any
 * HTTP head racelab's programs send). Lengths come from the IP header, so the analysers'
 * byte counts stay exact; bulk uploads do not fill the disk, and the kernel ring holds
 * thousands of packets instead of a few hundred 64 KB loopback segments (fewer drops). */
#define CAPTURE_SNAPLEN 4096

/* Starts capturing on iface ("lo") with a BPF filter (e.g. "tcp"; NULL = everything) into
 * path. Returns once the capture is active (packets sent after the return are captured), or
 * NULL with a message in err (naming the interface or the missing permission). */
struct cap *capture_start(const char *iface, const char *filter, const char *path, char *err,
                          size_t errlen);

/* The same, keeping snaplen bytes of each packet (0 = whole packets). */
struct cap *capture_start_snaplen(const char *iface, const char *filter, const char *path,
                                  int snaplen, char *err, size_t errlen);

/* What a cell's capture keeps of each packet (racelab run/compare/repro --capture). */
enum capture_mode {
    /* Link, IP and TCP headers of every packet, and the whole payload of a segment that starts
     * an HTTP message head up to the head's end (blank line; the captured bytes when it does
     * not end within CAPTURE_SNAPLEN); of any other segment (a body) the headers only. The IP
     * header keeps the packet's real length, which is what the analysers count. */
    CAPTURE_HEADERS,
    /* Every byte of every packet (a snap length of 65600: the largest frame lo carries). */
    CAPTURE_FULL,
};

/* The same with a mode. */
struct cap *capture_start_mode(const char *iface, const char *filter, const char *path,
                               enum capture_mode mode, char *err, size_t errlen);

/* "headers" / "full" into *mode: 0, or -1 for another word. */
int capture_mode_parse(const char *word, enum capture_mode *mode);

/* How many bytes CAPTURE_HEADERS keeps of a captured frame of link type dlt (caplen bytes at
 * p): the headers, plus the HTTP head when the TCP payload starts one; caplen for anything it
 * cannot parse as TCP over IP (kept as captured). */
uint32_t capture_keep_len(int dlt, const uint8_t *p, uint32_t caplen);

/* Packets written to the file and flushed so far (readable by another process now). */
uint64_t capture_written(const struct cap *c);

/* The capture process, e.g. to tell it apart in a SIGCHLD handler; -1 with c == NULL. */
int capture_pid(const struct cap *c);

/* Waits until packets already sent have been written (a short drain), stops, closes the file.
 * Safe with c == NULL. Returns 0, or -1 when the file could not be completed. */
int capture_stop(struct cap *c, struct capture_stats *stats);

#endif
