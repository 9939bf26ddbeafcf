/* expl — `racelab explain`: an ASCII sequence diagram of flows in a capture, one column per
 * hop side (downstream | proxy | upstream), one line per packet with the time since the first
 * packet shown, an arrow, flags and payload length — annotated where the race happens:
 *   "data sent after close() → RST", "request on a half-closed connection (peer FIN seen)",
 *   "RST overtook held FIN", "FIN with the response's last bytes".
 *
 * With flow_port != 0 only the flows that carry that port (on any hop) are shown, plus, for a
 * downstream port, the flows of the other hops that carry packets while it lives (the trial's
 * other hop); with 0, every flow. */
#ifndef RACELAB_EXPL_H
#define RACELAB_EXPL_H

#include <stdint.h>
#include <stdio.h>

#include "ana.h"

int expl_print(FILE *out, const char *pcap_path, const struct ana_hop *hops, size_t nhops,
               uint16_t flow_port, char *err, size_t errlen);

/* The hop map racelab writes next to each capture ("<pcap>.hops", lines "PORT CLIENT SERVER"),
 * so that `racelab explain PCAP` names the sides. Returns the number of hops read into hops
 * (names are malloc'd; free with expl_hops_free), 0 when there is no such file, -1 on a
 * malformed file (message in err). */
int expl_read_hops(const char *pcap_path, struct ana_hop *hops, size_t cap, char *err,
                   size_t errlen);
int expl_write_hops(const char *pcap_path, const struct ana_hop *hops, size_t nhops);
void expl_hops_free(struct ana_hop *hops, size_t n);

#endif
