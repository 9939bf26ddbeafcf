/* pack — a finished cell's folder made cheap to keep: its capture and its bulky logs gzip'd,
 * and, with --keep failing, the capture of a cell that passed cleanly removed.
 *
 * Readers do not change: analysis_read() and `racelab explain` open capture.pcap and
 * capture.pcap.gz alike, and run_read_jsonl() (like every reader built on gzf_fopen()) reads
 * "downstream.jsonl" from downstream.jsonl.gz when only that exists. */
#ifndef RACELAB_PACK_H
#define RACELAB_PACK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* In the cell's folder dir, once the cell's results are built: its "capture" (when a plain
 * file) gzip'd into CAPTURE.gz, the cell's "capture" pointed at it; downstream.jsonl,
 * upstream.log and — unless the cell reports "proxy_logs" of a proxy kind, whose paths name the
 * plain files — every *.access.jsonl gzip'd next to themselves. A file that cannot be
 * compressed stays as it was (never half-written); the first such problem is set as the cell's
 * "pack_error". */
void pack_cell(json_t *cell, const char *dir);

/* Whether --keep failing keeps the cell's capture: the cell did not pass its expectations
 * (passed false), or had a failing trial ("failures" > 0), or an error ("error" set). */
bool pack_failing(const json_t *cell, bool passed);

/* Removes the cell's capture and its hop sidecar, sets "capture" null and "capture_removed"
 * to why. */
void pack_drop_capture(json_t *cell, const char *why);

#endif
