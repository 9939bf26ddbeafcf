/* metrics_dup — duplicate executions at the upstream, counted by the client's tag (metrics.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_json.h"

struct tagkey {
    long t, c, r;
};

static int tag_cmp(const void *a, const void *b)
{
    const struct tagkey *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    return x->r < y->r ? -1 : x->r > y->r;
}

static void unobservable(json_t *out, const char *why)
{
    json_object_set_new(out, "duplicates", json_null());
    json_object_set_new(out, "trials_with_duplicates", json_null());
    json_object_set_new(out, "duplicates_why", json_string(why));
}

int metrics_duplicates(json_t *out, const json_t *upstream_log, long ntrials,
                       const struct scenario_cell *c)
{
    const struct scenario_prog *dn = c->nprogs ? &c->progs[0] : NULL; /* the downstream */
    if (!upstream_log) {
        unobservable(out, "no upstream log in this run");
        return 0;
    }
    if (dn && scenario_prog_get(dn, "no-tag")) {
        unobservable(out, "the client sends no X-Racelab-Trial tag (no-tag)");
        return 0;
    }
    size_t n = json_array_size(upstream_log), k = 0, i;
    struct tagkey *v = calloc(n ? n : 1, sizeof(*v));
    json_t *by = json_object();
    if (!v || !by) {
        free(v);
        json_decref(by);
        return -1;
    }
    const json_t *e;
    json_array_foreach(upstream_log, i, e)
    {
        const char *ev = jstr(e, "event"), *tag = jstr(e, "tag");
        struct tagkey x;
        char end;
        if (ev && strcmp(ev, "request") == 0 && tag &&
            sscanf(tag, "%ld.%ld.%ld%c", &x.t, &x.c, &x.r, &end) == 3 && x.t >= 0 && x.t < ntrials)
            v[k++] = x;
    }
    qsort(v, k, sizeof(*v), tag_cmp);
    long total = 0, trials = 0, last_trial = -1;
    for (size_t a = 0; a < k;) {
        size_t b = a + 1;
        while (b < k && tag_cmp(&v[a], &v[b]) == 0)
            b++;
        long extra = (long)(b - a) - 1;
        if (extra > 0) {
            char key[32];
            snprintf(key, sizeof(key), "%ld", v[a].t);
            json_t *cur = json_object_get(by, key);
            json_object_set_new(by, key, json_integer((cur ? json_integer_value(cur) : 0) + extra));
            total += extra;
            trials += v[a].t != last_trial;
            last_trial = v[a].t;
        }
        a = b;
    }
    free(v);
    json_object_set_new(out, "duplicates", json_integer(total));
    json_object_set_new(out, "trials_with_duplicates", json_integer(trials));
    json_object_set_new(out, "duplicates_by_trial", by);
    return 0;
}
