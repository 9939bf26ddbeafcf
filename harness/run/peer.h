/* peer — a cell's client and server programs: racelab's own (racelab-downstream,
 * racelab-upstream) or a driver of a real HTTP library or server (racelab-client-KIND,
 * racelab-server-KIND: docs/clients.md, docs/servers.md) run with the same settings.
 *
 * A driver is there when its program is next to racelab's and answers `--version` (exit 0; a
 * script whose runtime is missing exits 2 saying which package to install): otherwise its
 * cells are skipped with the reason. A driver that refuses the cell's settings exits 2 with one
 * line on stderr naming the flag, before it connects or listens: that cell is unsupported, with
 * that line as the reason. */
#ifndef RACELAB_PEER_H
#define RACELAB_PEER_H

#include <stdbool.h>
#include <stddef.h>

/* The path of kind's program in bin_dir (kind NULL or "racelab": racelab's own). */
const char *run_peer_path(const char *bin_dir, bool client, const char *kind, char *buf,
                          size_t len);

/* Whether kind's program can run: 0, or 1 with why ("racelab-client-go: not built ...", or what
 * its --version said on stderr). racelab's own peers are always there (preflight checks them). */
int run_peer_probe(const char *bin_dir, bool client, const char *kind, char *why, size_t len);

/* Whether a driver that exited with code refused its settings (code 2): then why is "KIND
 * cannot express this cell's SIDE settings: LINE" with the first line of its stderr (err_path). */
bool run_peer_refused(const char *err_path, int code, bool client, const char *kind, char *why,
                      size_t len);

#endif
