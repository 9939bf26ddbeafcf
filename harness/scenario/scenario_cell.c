/* scenario_cell — one cell, scenario × mitigation: each program's settings merged layer by layer
 * (scenario, then mitigation; `proxy` under `proxy1`/`proxy2`), the mitigation's trials,
 * timeout, success, wire faults, and checks in place of the scenario's. */
#include "scenario_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Merge: later layers replace a flag of the same name; `off` removes it. */
static int merge(struct scenario_prog *p, const struct scenario_settings *layers[], size_t nlayers)
{
    size_t cap = 0;
    for (size_t i = 0; i < nlayers; i++)
        cap += layers[i] ? layers[i]->n : 0;
    p->set = calloc(cap ? cap : 1, sizeof(*p->set));
    if (!p->set)
        return -1;
    p->nset = 0;
    for (size_t i = 0; i < nlayers; i++) {
        if (!layers[i])
            continue;
        for (size_t j = 0; j < layers[i]->n; j++) {
            const struct scenario_setting *s = &layers[i]->v[j];
            size_t k;
            for (k = 0; k < p->nset; k++)
                if (strcmp(p->set[k]->name, s->name) == 0)
                    break;
            if (k < p->nset) {
                if (s->off) {
                    memmove(&p->set[k], &p->set[k + 1], (p->nset - k - 1) * sizeof(*p->set));
                    p->nset--;
                } else {
                    p->set[k] = s;
                }
            } else if (!s->off) {
                p->set[p->nset++] = s;
            }
        }
    }
    return 0;
}

static bool checks_same(const struct scenario_check *a, const struct scenario_check *b)
{
    return a->kind == b->kind && strcmp(a->metric, b->metric) == 0;
}

static bool is_racelab(const char *kind)
{
    return !kind || strcmp(kind, "racelab") == 0;
}

static const struct scenario_kind_expect *kind_layer(const struct scenario_kind_expect *k, size_t n,
                                                     const char *kind)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k[i].kind, kind) == 0)
            return &k[i];
    return NULL;
}

/* Appends the layers' checks to c->checks, a later layer's check replacing an earlier one's
 * of the same metric. */
static void add_layers(struct scenario_cell *c, const struct scenario_check *const *layer,
                       const size_t *nlayer, size_t nl)
{
    for (size_t l = 0; l < nl; l++)
        for (size_t i = 0; i < nlayer[l]; i++) {
            bool replaced = false;
            for (size_t l2 = l + 1; l2 < nl && !replaced; l2++)
                for (size_t j = 0; j < nlayer[l2]; j++)
                    if (checks_same(&layer[l][i], &layer[l2][j]))
                        replaced = true;
            if (!replaced)
                c->checks[c->nchecks++] = layer[l][i];
        }
}

/* racelab-proxy's checks: `expect:`, `expect_kind.racelab`, of the scenario then of the
 * mitigation; then each other kind's: `expect_kind.K` of the scenario, then the mitigation's. */
static int build_checks(struct scenario_cell *c, const struct scenario *s,
                        const struct scenario_mit *m)
{
    size_t cap = s->nexpect + m->nexpect + 1;
    for (size_t i = 0; i < s->nkexpect; i++)
        cap += s->kexpect[i].nexpect;
    for (size_t i = 0; i < m->nkexpect; i++)
        cap += m->kexpect[i].nexpect;
    c->checks = calloc(cap, sizeof(*c->checks));
    if (!c->checks)
        return -1;
    const struct scenario_kind_expect *sr = kind_layer(s->kexpect, s->nkexpect, "racelab"),
                                      *mr = kind_layer(m->kexpect, m->nkexpect, "racelab");
    const struct scenario_check *layer[4] = {s->expect, sr ? sr->expect : NULL, m->expect,
                                             mr ? mr->expect : NULL};
    size_t nlayer[4] = {s->nexpect, sr ? sr->nexpect : 0, m->nexpect, mr ? mr->nexpect : 0};
    add_layers(c, layer, nlayer, 4);
    /* every foreign kind the scenario or the mitigation names, once */
    for (size_t pass = 0; pass < 2; pass++) {
        const struct scenario_kind_expect *ks = pass ? m->kexpect : s->kexpect;
        size_t nks = pass ? m->nkexpect : s->nkexpect;
        for (size_t i = 0; i < nks; i++) {
            const char *kind = ks[i].kind;
            if (is_racelab(kind) || (pass && kind_layer(s->kexpect, s->nkexpect, kind)))
                continue;
            const struct scenario_kind_expect *a = kind_layer(s->kexpect, s->nkexpect, kind),
                                              *b = kind_layer(m->kexpect, m->nkexpect, kind);
            const struct scenario_check *kl[2] = {a ? a->expect : NULL, b ? b->expect : NULL};
            size_t nkl[2] = {a ? a->nexpect : 0, b ? b->nexpect : 0};
            add_layers(c, kl, nkl, 2);
        }
    }
    return 0;
}

bool scenario_cell_has_kind(const struct scenario_cell *c, const char *kind)
{
    for (size_t i = 0; i < c->nchecks; i++) {
        const char *k = c->checks[i].proxy_kind;
        if (is_racelab(kind) ? is_racelab(k) : k && strcmp(k, kind) == 0)
            return true;
    }
    return false;
}

int scenario_cell_build(const struct scenario *s, const struct scenario_mit *m,
                        long trials_override, struct scenario_cell *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->s = s;
    c->m = m;
    c->trials = trials_override > 0 ? trials_override : m->trials ? m->trials : s->trials;
    c->timeout_ms = m->timeout_ms ? m->timeout_ms : s->timeout_ms;
    c->success = m->nsuccess ? m->success : s->success;
    c->nsuccess = m->nsuccess ? m->nsuccess : s->nsuccess;
    c->wire = m->has_wire ? m->wire : s->wire;
    c->nwire = m->has_wire ? m->nwire : s->nwire;

    enum scenario_sec secs[4];
    c->nprogs = scenario_topo_secs(s->topo, secs);
    for (size_t i = 0; i < c->nprogs; i++) {
        struct scenario_prog *p = &c->progs[i];
        p->name = scenario_sec_names[secs[i]];
        /* The scenario's settings, then the mitigation's; for a proxy of a chain, in each the
         * proxies' common section, then the proxy's own. */
        enum scenario_sec own = secs[i], common = scenario_sec_common(own);
        const struct scenario_settings *layers[4] = {NULL, NULL, NULL, NULL};
        size_t nl = 0;
        p->sec = own;
        layers[nl++] = &s->set[common];
        if (own != common)
            layers[nl++] = &s->set[own];
        layers[nl++] = &m->set[common];
        if (own != common)
            layers[nl++] = &m->set[own];
        if (merge(p, layers, nl) != 0)
            goto oom;
    }

    if (build_checks(c, s, m) != 0)
        goto oom;

    const struct scenario_settings *ds = &s->set[SCENARIO_SEC_DOWNSTREAM],
                                   *dm = &m->set[SCENARIO_SEC_DOWNSTREAM],
                                   *us = &s->set[SCENARIO_SEC_UPSTREAM],
                                   *um = &m->set[SCENARIO_SEC_UPSTREAM];
    c->client_kind = dm->kind ? dm->kind : ds->kind ? ds->kind : "racelab";
    c->server_kind = um->kind ? um->kind : us->kind ? us->kind : "racelab";

    const struct scenario_prog *dn = scenario_cell_prog(c, "downstream");
    c->sweep = s->sweep >= 0 ? s->sweep == 1 : (dn && scenario_prog_get(dn, "gap-sweep") != NULL);
    return 0;
oom:
    scenario_cell_free(c);
    snprintf(err, errlen, "out of memory");
    return -1;
}

void scenario_cell_free(struct scenario_cell *c)
{
    for (size_t i = 0; i < 4; i++) {
        free(c->progs[i].set);
        c->progs[i].set = NULL;
    }
    free(c->checks);
    c->checks = NULL;
}

const struct scenario_setting *scenario_prog_get(const struct scenario_prog *p, const char *name)
{
    for (size_t i = 0; i < p->nset; i++)
        if (strcmp(p->set[i]->name, name) == 0)
            return p->set[i];
    return NULL;
}

const struct scenario_prog *scenario_cell_prog(const struct scenario_cell *c, const char *name)
{
    for (size_t i = 0; i < c->nprogs; i++)
        if (strcmp(c->progs[i].name, name) == 0)
            return &c->progs[i];
    return NULL;
}

int scenario_cell_native(const struct scenario_cell *c, const char *kind, const char ***out,
                         size_t *n)
{
    const struct scenario_native *layers[2] = {c->s->native, c->m->native};
    size_t nl[2] = {c->s->nnative, c->m->nnative}, total = 0;
    *out = NULL;
    *n = 0;
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; i < nl[l]; i++)
            if (strcmp(layers[l][i].kind, kind) == 0)
                total += layers[l][i].nlines;
    if (!total)
        return 0;
    const char **v = calloc(total, sizeof(*v));
    if (!v)
        return -1;
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; i < nl[l]; i++)
            if (strcmp(layers[l][i].kind, kind) == 0)
                for (size_t j = 0; j < layers[l][i].nlines; j++)
                    v[(*n)++] = layers[l][i].lines[j];
    *out = v;
    return 0;
}

bool scenario_cell_success(const struct scenario_cell *c, const char *outcome)
{
    for (size_t i = 0; i < c->nsuccess; i++)
        if (strcmp(c->success[i], outcome) == 0)
            return true;
    return false;
}
