/* scenario_internal — what the files of the scenario module share, not part of its API
 * (scenario.h). The module, file by file:
 *   scenario.c           the vocabulary (topologies, their programs, settings sections);
 *                        scenario_load, scenario_free
 *   scenario_read.c      the YAML tree into the model, key by key
 *   scenario_validate.c  every cell's settings through the programs' flag tables
 *   scenario_cell.c      one cell: scenario × mitigation merged
 *   scenario_write.c     the model written back as canonical YAML
 *   scenario_peers.c     the client and server kinds (`kind:` of downstream and upstream)
 * One value of the file is read with its type checked, and its error worded, by yml_read.h. */
#ifndef RACELAB_SCENARIO_INTERNAL_H
#define RACELAB_SCENARIO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "scenario.h"
#include "yml.h"
#include "yml_read.h"

/* The section names, indexed by enum scenario_sec, then NULL (a list of keys). */
extern const char *const scenario_sec_names[SCENARIO_NSEC + 1];

/* The programs of topology t as their own settings sections, in topology order (the order of
 * scenario_topo_nodes). */
size_t scenario_topo_secs(enum scenario_topo t, enum scenario_sec secs[4]);
/* The section a program of section sec shares with the other proxies of a chain: proxy for
 * proxy1 and proxy2; sec itself for the others. */
enum scenario_sec scenario_sec_common(enum scenario_sec sec);
/* Whether topology t reads section sec: its programs' own sections and their common one. */
bool scenario_sec_allowed(enum scenario_topo t, enum scenario_sec sec);

/* One scenario_load under way: the file and where errors go, the scenario being filled in. */
struct scenario_loader {
    struct yml_reader r;
    struct scenario *s;
};

/* Reads the document root into L->s (scenario_read.c). Returns 0, or -1 with the error. */
int scenario_read(struct scenario_loader *L, const struct yml_node *root);
/* Checks every cell's program settings (scenario_validate.c). Returns 0, or -1 with the error. */
int scenario_validate_cells(struct scenario_loader *L);
/* `kind:` of a downstream (client) or upstream (server) section v into out->kind, checked
 * against the known kinds (scenario_peers.c). Returns 0, or -1 with the error at key. */
int scenario_read_peer_kind(struct scenario_loader *L, const struct yml_node *v, const char *key,
                            bool client, struct scenario_settings *out);

#endif
