/* scenario_peers — the client and server kinds a scenario's downstream and upstream may name:
 * racelab's own peers, or the drivers of real HTTP libraries and servers in clients/ and
 * servers/ (docs/clients.md, docs/servers.md). */
#include <stdio.h>
#include <string.h>

#include "scenario_internal.h"

/* The drivers the build makes; the first of each list is racelab's own peer. */
static const char *const client_kinds[] = {"racelab",         "curl", "go", "node",
                                           "python-requests", NULL};
static const char *const server_kinds[] = {"racelab", "go", "gunicorn", "nginx", "node", NULL};

bool scenario_peer_is_racelab(const char *kind)
{
    return !kind || strcmp(kind, "racelab") == 0;
}

bool scenario_peer_kind_known(bool client, const char *kind)
{
    for (const char *const *k = client ? client_kinds : server_kinds; *k; k++)
        if (strcmp(*k, kind) == 0)
            return true;
    return false;
}

const char *scenario_peer_kinds(bool client)
{
    return client ? "racelab, curl, go, node, python-requests"
                  : "racelab, go, gunicorn, nginx, node";
}

const char *scenario_peer_program(bool client, const char *kind, char *buf, size_t len)
{
    if (scenario_peer_is_racelab(kind))
        snprintf(buf, len, "%s", client ? "racelab-downstream" : "racelab-upstream");
    else
        snprintf(buf, len, "racelab-%s-%s", client ? "client" : "server", kind);
    return buf;
}

int scenario_read_peer_kind(struct scenario_loader *L, const struct yml_node *v, const char *key,
                            bool client, struct scenario_settings *out)
{
    if (yml_want_text(&L->r, v, key, &out->kind) != 0)
        return -1;
    out->kind_line = v->line;
    if (!scenario_peer_kind_known(client, out->kind))
        return yml_bad(&L->r, v, key, "'%s' is not a %s kind (known: %s)", out->kind,
                       client ? "client" : "server", scenario_peer_kinds(client));
    return 0;
}
