/* proxy — which proxy a run tests (--proxy KIND): racelab-proxy by default, a command
 * (cmd:'CMD', today's --proxy-cmd), or a kind whose adapter is data in proxies/KIND/
 * (docs/proxies.md): loaded and checked here, before anything starts, its binary looked for,
 * its stop taken from it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kind.h"

/* proxies/ of the current folder, else of the source tree. */
static const char *proxies_dir(void)
{
    return cli_is_dir("proxies") ? "proxies" : RACELAB_SOURCE_DIR "/proxies";
}

int cli_proxy(struct session *ss)
{
    struct cli *c = &ss->cli;
    struct suite *su = &ss->su;
    if (!c->proxy || strcmp(c->proxy, "racelab") == 0)
        return 0;
    if (c->proxy_cmd) {
        fprintf(stderr, "racelab: --proxy %s and --proxy-cmd: give one of them\n", c->proxy);
        return -1;
    }
    if (strncmp(c->proxy, "cmd:", 4) == 0) {
        c->proxy_cmd = c->proxy + 4;
        su->env.proxy_cmd = c->proxy_cmd;
        return 0;
    }
    char dir[PATH_MAX], err[2048];
    if (strchr(c->proxy, '/'))
        snprintf(dir, sizeof(dir), "%s", c->proxy);
    else
        snprintf(dir, sizeof(dir), "%s/%s", proxies_dir(), c->proxy);
    if (!cli_is_dir(dir)) {
        fprintf(stderr,
                "racelab: --proxy %s: no such kind (%s has none): racelab, nginx, haproxy, "
                "apache, envoy, a folder with an adapter.yaml, or cmd:'CMD'\n",
                c->proxy, dir);
        return -1;
    }
    ss->kind = kind_load(dir, err, sizeof(err));
    if (!ss->kind) {
        fprintf(stderr, "racelab: --proxy %s: %s\n", c->proxy, err);
        return -1;
    }
    su->env.kind = ss->kind;
    if (kind_find_binary(ss->kind, ss->kind_binary, sizeof(ss->kind_binary), err, sizeof(err)) ==
        0) {
        su->env.kind_binary = ss->kind_binary;
        kind_version(ss->kind, ss->kind_binary, su->kind_version, sizeof(su->kind_version));
    } else {
        snprintf(su->kind_missing, sizeof(su->kind_missing), "%.500s", err);
    }
    su->env.proxy_stop = (struct run_stop){kind_stop_signal(ss->kind),
                                           c->proxy_stop_settle_set ? c->proxy_stop_settle
                                                                    : kind_settle_ms(ss->kind)};
    return 0;
}
