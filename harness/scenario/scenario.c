/* scenario — the scenario model's vocabulary (topologies, their programs, settings sections),
 * and a scenario's life: scenario_load reads the file (scenario_read.c), checks every cell's
 * program settings (scenario_validate.c) and hands back the model; scenario_free. */
#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_internal.h"

const char *const scenario_sec_names[SCENARIO_NSEC + 1] = {
    [SCENARIO_SEC_UPSTREAM] = "upstream", [SCENARIO_SEC_DOWNSTREAM] = "downstream",
    [SCENARIO_SEC_PROXY] = "proxy",       [SCENARIO_SEC_PROXY1] = "proxy1",
    [SCENARIO_SEC_PROXY2] = "proxy2",     [SCENARIO_NSEC] = NULL,
};

const char *scenario_sec_name(enum scenario_sec sec)
{
    return scenario_sec_names[sec];
}

/* Each topology: its name and its programs in order, downstream first, upstream last; a program
 * is named by its own settings section. */
static const struct {
    const char *name;
    size_t n;
    enum scenario_sec progs[4];
} topos[SCENARIO_NTOPO] = {
    [SCENARIO_DIRECT] = {"direct", 2, {SCENARIO_SEC_DOWNSTREAM, SCENARIO_SEC_UPSTREAM}},
    [SCENARIO_PROXY] = {"proxy",
                        3,
                        {SCENARIO_SEC_DOWNSTREAM, SCENARIO_SEC_PROXY, SCENARIO_SEC_UPSTREAM}},
    [SCENARIO_CHAIN] = {"chain",
                        4,
                        {SCENARIO_SEC_DOWNSTREAM, SCENARIO_SEC_PROXY1, SCENARIO_SEC_PROXY2,
                         SCENARIO_SEC_UPSTREAM}},
};

const char *scenario_topo_name(enum scenario_topo t)
{
    return (unsigned)t < SCENARIO_NTOPO ? topos[t].name : "?";
}

size_t scenario_topo_secs(enum scenario_topo t, enum scenario_sec secs[4])
{
    if ((unsigned)t >= SCENARIO_NTOPO)
        return 0;
    for (size_t i = 0; i < topos[t].n; i++)
        secs[i] = topos[t].progs[i];
    return topos[t].n;
}

size_t scenario_topo_nodes(enum scenario_topo t, const char *names[4])
{
    enum scenario_sec secs[4];
    size_t n = scenario_topo_secs(t, secs);
    for (size_t i = 0; i < n; i++)
        names[i] = scenario_sec_names[secs[i]];
    return n;
}

enum scenario_sec scenario_sec_common(enum scenario_sec sec)
{
    return sec == SCENARIO_SEC_PROXY1 || sec == SCENARIO_SEC_PROXY2 ? SCENARIO_SEC_PROXY : sec;
}

bool scenario_sec_allowed(enum scenario_topo t, enum scenario_sec sec)
{
    enum scenario_sec secs[4];
    size_t n = scenario_topo_secs(t, secs);
    for (size_t i = 0; i < n; i++)
        if (secs[i] == sec || scenario_sec_common(secs[i]) == sec)
            return true;
    return false;
}

bool scenario_topo_has_dir(enum scenario_topo t, const char *from, const char *to)
{
    const char *names[4];
    size_t n = scenario_topo_nodes(t, names);
    for (size_t i = 0; i + 1 < n; i++) {
        if (strcmp(from, names[i]) == 0 && strcmp(to, names[i + 1]) == 0)
            return true;
        if (strcmp(from, names[i + 1]) == 0 && strcmp(to, names[i]) == 0)
            return true;
    }
    return false;
}

bool scenario_topo_hop(enum scenario_topo t, const char *hop, const char **from, const char **to)
{
    const char *arrow = strstr(hop, "->"), *f = NULL, *r = NULL;
    const char *names[4];
    size_t n = scenario_topo_nodes(t, names);
    for (size_t i = 0; arrow && i < n; i++) {
        size_t l = strlen(names[i]);
        if (l == (size_t)(arrow - hop) && strncmp(hop, names[i], l) == 0)
            f = names[i];
        if (strcmp(arrow + 2, names[i]) == 0)
            r = names[i];
    }
    if (!f || !r || !scenario_topo_has_dir(t, f, r))
        return false;
    if (from)
        *from = f;
    if (to)
        *to = r;
    return true;
}

const struct scenario_mit *scenario_find_mit(const struct scenario *s, const char *name)
{
    for (size_t i = 0; i < s->nmit; i++)
        if (strcmp(s->mit[i].name, name) == 0)
            return &s->mit[i];
    return NULL;
}

static void settings_free(struct scenario_settings *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i].vals);
    free(set->v);
}

/* What a scenario and each of its mitigations own alike: settings, wire faults,
 * success outcomes, checks (and native lines, native_free). */
static void native_free(struct scenario_native *native, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(native[i].lines);
    free(native);
}

static void kexpect_free(struct scenario_kind_expect *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(k[i].expect);
    free(k);
}

static void layer_free(struct scenario_settings set[SCENARIO_NSEC], void *wire, void *success,
                       void *expect)
{
    for (int k = 0; k < SCENARIO_NSEC; k++)
        settings_free(&set[k]);
    free(wire);
    free(success);
    free(expect);
}

void scenario_free(struct scenario *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nmit; i++) {
        struct scenario_mit *m = &s->mit[i];
        layer_free(m->set, m->wire, (void *)m->success, m->expect);
        native_free(m->native, m->nnative);
        kexpect_free(m->kexpect, m->nkexpect);
    }
    native_free(s->native, s->nnative);
    kexpect_free(s->kexpect, s->nkexpect);
    layer_free(s->set, s->wire, (void *)s->success, s->expect);
    free(s->mit);
    free(s->seed);
    free(s->fix);
    yml_free(s->doc);
    free(s->path);
    free(s);
}

struct scenario *scenario_load(const char *path, char *err, size_t errlen)
{
    struct scenario *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    struct scenario_loader L = {.r = {.path = s->path, .err = err, .errlen = errlen}, .s = s};
    if (yml_load(path, &s->doc, err, errlen) != 0)
        goto fail;
    if (scenario_read(&L, s->doc) != 0)
        goto fail;
    if (scenario_validate_cells(&L) != 0)
        goto fail;
    return s;
fail:
    scenario_free(s);
    return NULL;
}
