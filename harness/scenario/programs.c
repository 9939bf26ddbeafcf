#include "programs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_cfg.h"
#include "px_cfg.h"
#include "up_cfg.h"

/* Ports and files are the harness's: it picks fixed ports inside the namespace (wire rules
 * name them) and collects every log into the cell's folder. */
static const struct program_reserved up_reserved[] = {
    {"listen", "127.0.0.1:9000", "the upstream's address is chosen by racelab (port 9000)"},
    {"port-file", "upstream.port", "racelab waits for it to know the upstream is listening"},
    {"log", "upstream.log", "racelab collects the upstream's events into the cell's folder"},
    {"log-keep", "all", "racelab joins every event with the capture (racelab soak sets it)"},
    {NULL, NULL, NULL},
};

static const struct program_reserved dn_reserved[] = {
    {"target", "127.0.0.1:8000", "the downstream's target is the first proxy (or the upstream)"},
    {"trials", "1", "set `trials:` at the top of the scenario or in a mitigation"},
    {"records", "downstream.jsonl", "racelab reads the records from the cell's folder"},
    {"records-keep", "all", "racelab needs every record (racelab soak sets it)"},
    {NULL, NULL, NULL},
};

static const struct program_reserved px_reserved[] = {
    {"listen", "127.0.0.1:8000", "the proxy's address is chosen by racelab (port 8000, 8001)"},
    {"upstream", "127.0.0.1:9000", "the next hop is chosen by the topology"},
    {"port-file", "proxy.port", "racelab waits for it to know the proxy is listening"},
    {"name", "proxy", "the name is the topology's (proxy, proxy1, proxy2)"},
    {"access-log", "proxy.access.jsonl", "racelab joins the access log with the capture"},
    {"access-log-keep", "all", "racelab joins every line with the capture (racelab soak sets it)"},
    {"stats", "proxy.stats.json", "racelab reads the stats the proxy writes at exit"},
    {NULL, NULL, NULL},
};

static const struct program_def defs[] = {
    [PROGRAM_UPSTREAM] = {PROGRAM_UPSTREAM, "racelab-upstream", up_opts, up_reserved},
    [PROGRAM_DOWNSTREAM] = {PROGRAM_DOWNSTREAM, "racelab-downstream", dn_opts, dn_reserved},
    [PROGRAM_PROXY] = {PROGRAM_PROXY, "racelab-proxy", px_cfg_opts, px_reserved},
};

const struct program_def *program_get(enum program_kind k)
{
    return &defs[k];
}

enum program_kind program_kind_of(enum scenario_sec sec)
{
    switch (sec) {
    case SCENARIO_SEC_UPSTREAM:
        return PROGRAM_UPSTREAM;
    case SCENARIO_SEC_DOWNSTREAM:
        return PROGRAM_DOWNSTREAM;
    case SCENARIO_SEC_PROXY:
    case SCENARIO_SEC_PROXY1:
    case SCENARIO_SEC_PROXY2:
        return PROGRAM_PROXY;
    }
    return PROGRAM_PROXY;
}

const struct program_reserved *program_reserved(const struct program_def *d, const char *flag)
{
    for (const struct program_reserved *r = d->reserved; r->flag; r++)
        if (strcmp(r->flag, flag) == 0)
            return r;
    return NULL;
}

int program_check_setting(enum program_kind k, const struct scenario_setting *s, char *err,
                          size_t errlen)
{
    const struct program_def *d = program_get(k);
    const struct opt_spec *o = opt_find(d->opts, s->name);
    if (!o) {
        snprintf(err, errlen, "--%s: not a flag of %s (see %s --help)", s->name, d->bin, d->bin);
        return -1;
    }
    const struct program_reserved *r = program_reserved(d, s->name);
    if (r) {
        snprintf(err, errlen, "--%s is set by racelab: %s", s->name, r->why);
        return -1;
    }
    if (s->off)
        return 0;
    if (o->type == OPT_FLAG && s->vals) {
        snprintf(err, errlen, "--%s takes no value: write `%s: true` (or false to remove it)",
                 s->name, s->name);
        return -1;
    }
    if (o->type != OPT_FLAG && !s->vals) {
        snprintf(err, errlen, "--%s needs a value (%s), not true", s->name,
                 o->metavar ? o->metavar : "VALUE");
        return -1;
    }
    if (o->type != OPT_CUSTOM && s->nvals > 1) {
        snprintf(err, errlen, "--%s takes one value, not a list", s->name);
        return -1;
    }
    return 0;
}

#define SEEN_MAX 128

/* The scratch config of each program, big enough for any of them. */
union scratch {
    struct up_cfg up;
    struct dn_cfg dn;
    struct px_cfg px;
};

static void defaults(enum program_kind k, union scratch *u)
{
    switch (k) {
    case PROGRAM_UPSTREAM:
        up_cfg_defaults(&u->up);
        return;
    case PROGRAM_DOWNSTREAM:
        dn_cfg_defaults(&u->dn);
        return;
    case PROGRAM_PROXY:
        px_cfg_defaults(&u->px);
        return;
    }
}

static int cross_check(enum program_kind k, union scratch *u, const bool *seen, char *err,
                       size_t errlen)
{
    switch (k) {
    case PROGRAM_UPSTREAM:
        return up_cfg_check(&u->up, err, errlen);
    case PROGRAM_DOWNSTREAM:
        return dn_cfg_check(&u->dn, err, errlen);
    case PROGRAM_PROXY:
        /* --no-mitigations applies only to mitigations whose own flag was not given: the
         * proxy needs to know which were given. */
        return px_cfg_finish(&u->px, seen, err, errlen);
    }
    return -1;
}

int program_validate(enum program_kind k, const struct scenario_setting *const *set, size_t n,
                     int *line, char *err, size_t errlen)
{
    const struct program_def *d = program_get(k);
    union scratch *u = calloc(1, sizeof(*u));
    bool seen[SEEN_MAX] = {false};
    int rc = -1;

    *line = 0;
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (opt_count(d->opts) > SEEN_MAX) {
        snprintf(err, errlen, "%s has more flags than racelab can track", d->bin);
        goto out;
    }
    defaults(k, u);
    for (const struct program_reserved *r = d->reserved; r->flag; r++) {
        if (opt_set(d->opts, u, r->flag, r->sample, seen, err, errlen) != OPT_OK)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct scenario_setting *s = set[i];
        if (s->off)
            continue;
        *line = s->line;
        if (program_check_setting(k, s, err, errlen) != 0)
            goto out;
        if (!s->vals) {
            if (opt_set(d->opts, u, s->name, NULL, seen, err, errlen) != OPT_OK)
                goto out;
            continue;
        }
        for (size_t j = 0; j < s->nvals; j++)
            if (opt_set(d->opts, u, s->name, s->vals[j], seen, err, errlen) != OPT_OK)
                goto out;
    }
    *line = 0;
    if (cross_check(k, u, seen, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    free(u);
    return rc;
}
