/* explain — `racelab explain`: an ASCII sequence diagram of flows in a capture, one column per
 * hop side (downstream | proxy | upstream), one line per packet with the time since the first
 * packet shown, an arrow, flags and payload length — annotated where the race happens:
 *   "data sent after close() → RST", "request on a half-closed connection (peer FIN seen)",
 *   "RST overtook held FIN", "FIN with the response's last bytes".
 *
 * With flow_port != 0 only the flows that carry that port (on any hop) are shown, plus, for a
 * downstream port, the flows of the other hops that carry packets while it lives (the trial's
 * other hop) — a pooled one (with payload outside that time, i.e. other requests') clipped to
 * it as explain_print_flows clips; with 0, every flow. */
#ifndef RACELAB_EXPLAIN_H
#define RACELAB_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis.h"

int explain_print(FILE *out, const char *pcap_path, const struct analysis_hop *hops, size_t nhops,
                  uint16_t flow_port, char *err, size_t errlen);

/* How long after its window a clipped flow's FIN or RST is still drawn (the late close of the
 * selection's connections), never past the flow's next payload. */
#define EXPLAIN_LATE_MS 50

/* One flow to draw: the connection of hop `hop` (an index into the hops given, or into the hops
 * inferred from the capture) whose client side has port client_port, between from_us and to_us
 * (both 0: the window given to explain_print_flows). client_port 0 selects every flow of the hop
 * with packets in the window (what is left when no access log names the connections). A flow
 * may be selected several times (a pooled connection a trial used twice): the union of its
 * windows is drawn. whole: the connection is the selection's alone (a client's connection
 * belongs to one trial): the window only tells which connection of that port it is, and the
 * flow is drawn whole. */
struct explain_flow_sel {
    size_t hop;
    uint16_t client_port;
    uint64_t from_us, to_us;
    bool whole;
};

/* Draws exactly the selected flows (racelab repro: one trial's connections on every hop) with
 * times relative to the first packet drawn. A flow whose every payload lies within its windows
 * carried nothing but the selection's requests: it is drawn whole, so a FIN held on the wire
 * and released after the window, and the RST answering it, stay in the picture. A flow with
 * payload outside them is pooled (it also carried other requests): only its packets within its
 * windows are drawn, plus its FINs and RSTs after a window and before its next payload, when
 * they come at most EXPLAIN_LATE_MS later or before a later window of the flow (what the
 * connection went through before its reuse); the header names these clipped flows. Returns 0, or -1
 * with err (unreadable capture, no selected flow with a packet in its window). */
int explain_print_flows(FILE *out, const char *pcap_path, const struct analysis_hop *hops,
                        size_t nhops, const struct explain_flow_sel *sel, size_t nsel,
                        uint64_t from_us, uint64_t to_us, char *err, size_t errlen);

/* explain_hops.c: the hop map racelab writes next to each capture ("<pcap>.hops", lines
 * "PORT CLIENT SERVER"), so that `racelab explain PCAP` names the sides. Returns the number of
 * hops read into hops (names are malloc'd; free with explain_hops_free), 0 when there is no
 * such file, -1 on a malformed file (message in err). */
int explain_read_hops(const char *pcap_path, struct analysis_hop *hops, size_t cap, char *err,
                      size_t errlen);
int explain_write_hops(const char *pcap_path, const struct analysis_hop *hops, size_t nhops);
void explain_hops_free(struct analysis_hop *hops, size_t n);

/* ---- the model: what a diagram shows, for the text above and the report's SVG ---- */

#define EXPLAIN_MAX_SIDES 16
#define EXPLAIN_MAX_NOTES 8

/* One line of the diagram: a packet, or a run of payload packets of one direction told the same
 * way (one line for an upload that goes on after the peer's FIN). */
struct explain_row {
    uint64_t t_us;   /* since the first packet drawn */
    size_t from, to; /* indices into explain_model.side: sender, receiver */
    uint8_t flags;   /* raw TCP flags, ORed over the run */
    uint64_t bytes;  /* payload bytes */
    size_t packets;  /* 1, or the packets of a payload run */
    uint16_t port;   /* the client port of its connection */
    unsigned notes;  /* enum analysis_note bits: the race annotations (explain_note_texts) */
    bool from_client;
};

/* What one direction of a hop sent, as drawn (a pooled flow: only its drawn packets). */
struct explain_sent {
    size_t hop; /* index into explain_model.r.hops */
    bool from_client;
    struct analysis_dir d;
};

struct explain_model {
    struct analysis_result r; /* the capture's analysis; side names point into its hops (or
                                 into the hops given, which must outlive the model) */
    const char *side[EXPLAIN_MAX_SIDES]; /* columns, in the order a request travels */
    size_t nsides;
    struct explain_row *rows;
    size_t nrows;
    size_t nflows, npackets; /* flows and packets drawn */
    uint16_t *pooled;        /* client ports of the flows clipped to the selection */
    size_t npooled;
    struct explain_sent *sent; /* per hop and direction that has a drawn flow, in hop order */
    size_t nsent;
};

/* The model explain_print (flow_port) or explain_print_flows (sel) draws. 0, or -1 with err
 * (nothing is left to free then). */
int explain_model_port(struct explain_model *m, const char *pcap_path,
                       const struct analysis_hop *hops, size_t nhops, uint16_t flow_port, char *err,
                       size_t errlen);
int explain_model_flows(struct explain_model *m, const char *pcap_path,
                        const struct analysis_hop *hops, size_t nhops,
                        const struct explain_flow_sel *sel, size_t nsel, uint64_t from_us,
                        uint64_t to_us, char *err, size_t errlen);
void explain_model_free(struct explain_model *m);

/* explain_text.c: the model as text (what explain_print prints). */
void explain_model_print(FILE *out, const char *pcap_path, const struct explain_model *m);

/* The words of a row's notes into out (at most EXPLAIN_MAX_NOTES); returns how many. */
size_t explain_note_texts(unsigned notes, bool from_client, const char **out);

/* "[S.]", "[FP.]": flags in the order F S R P U . */
void explain_flags(char *out, size_t n, uint8_t flags);

/* A row's arrow label: "[P.] 78", "[.] 65536 x12" (a run), "[F.]". */
void explain_row_label(char *buf, size_t len, const struct explain_row *row);

/* "proxy->upstream": the direction of s. */
void explain_sent_name(char *buf, size_t len, const struct explain_model *m,
                       const struct explain_sent *s);

#endif
