#include "merge.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report.h"

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- reading the inputs ---- */

static bool valid(const json_t *root, const char *file, char *err, size_t errlen)
{
    const json_t *cells = json_object_get(root, "cells");
    if (!json_is_object(root) || !json_is_array(cells)) {
        snprintf(err, errlen, "%s: not a racelab results.json (no \"cells\" array)", file);
        return false;
    }
    size_t i;
    const json_t *c;
    json_array_foreach(cells, i, c)
    {
        if (!str(c, "scenario") || !str(c, "mitigation") ||
            !json_is_object(json_object_get(c, "expect"))) {
            snprintf(err, errlen,
                     "%s: not a racelab results.json (cell %zu has no scenario, mitigation or "
                     "expect)",
                     file, i);
            return false;
        }
    }
    return true;
}

static int read_input(const char *path, struct merge_input *in, char *err, size_t errlen)
{
    struct stat st;
    char file[PATH_MAX + 32], dir[PATH_MAX + 32];
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(file, sizeof(file), "%s/results.json", path);
        if (stat(file, &st) != 0) {
            snprintf(err, errlen, "%s: not a racelab run folder (no results.json in it)", path);
            return -1;
        }
    } else {
        snprintf(file, sizeof(file), "%s", path);
    }
    snprintf(dir, sizeof(dir), "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    char real[PATH_MAX];
    if (!realpath(slash ? dir : ".", real)) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    json_error_t je;
    json_t *root = json_load_file(file, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: not a racelab results.json (%s)", file, je.line, je.column,
                 je.text);
        return -1;
    }
    if (!valid(root, file, err, errlen)) {
        json_decref(root);
        return -1;
    }
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    size_t len = strlen(real) + strlen(base) + 2;
    in->file = malloc(len);
    if (in->file)
        snprintf(in->file, len, "%s/%s", real, base);
    in->dir = strdup(real);
    in->res = root;
    if (!in->file || !in->dir) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static const char *version_of(const struct merge_input *in)
{
    const char *v = str(in->res, "racelab_version");
    return v ? v : "(none)";
}

/* Results of one racelab version only: a cell's numbers and checks mean the same in each. */
static int check_versions(const struct merge *mg, char *err, size_t errlen)
{
    for (size_t i = 1; i < mg->nin; i++)
        if (strcmp(version_of(&mg->in[i]), version_of(&mg->in[0])) != 0) {
            snprintf(err, errlen,
                     "%s and %s: results of different racelab versions (%s, %s); merge only "
                     "results of one version",
                     mg->in[0].file, mg->in[i].file, version_of(&mg->in[0]),
                     version_of(&mg->in[i]));
            return -1;
        }
    return 0;
}

/* A cell in two inputs (or twice in one): which of them is the cell's result is unknowable. */
static int check_duplicates(const struct merge *mg, char *err, size_t errlen)
{
    for (size_t a = 0; a < mg->nin; a++) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(mg->in[a].res, "cells"), i, c)
        {
            for (size_t b = 0; b <= a; b++) {
                size_t j,
                    end = b == a ? i : json_array_size(json_object_get(mg->in[b].res, "cells"));
                for (j = 0; j < end; j++) {
                    const json_t *d = json_array_get(json_object_get(mg->in[b].res, "cells"), j);
                    const char *pc = str(c, "proxy_kind"), *pd = str(d, "proxy_kind");
                    if (strcmp(str(c, "scenario"), str(d, "scenario")) == 0 &&
                        strcmp(str(c, "mitigation"), str(d, "mitigation")) == 0 &&
                        (pc && pd ? strcmp(pc, pd) == 0 : pc == pd)) {
                        snprintf(err, errlen,
                                 "cell %s × %s%s%s is in %s and in %s: merge each cell's results "
                                 "once (shards of one run never share a cell)",
                                 str(c, "scenario"), str(c, "mitigation"), pc ? " @ " : "",
                                 pc ? pc : "", mg->in[b].file, mg->in[a].file);
                        return -1;
                    }
                }
            }
        }
    }
    return 0;
}

static long shard_field(const struct merge_input *in, const char *key)
{
    return (long)json_integer_value(json_object_get(json_object_get(in->res, "shard"), key));
}

/* Whether every input is a shard of the same N (then the cells take the whole matrix's order);
 * warns of what looks like an incomplete or mixed set of shards. */
static bool check_shards(const struct merge *mg, FILE *warn)
{
    long n = shard_field(&mg->in[0], "count"), total = shard_field(&mg->in[0], "cells_total");
    bool same = n > 0;
    for (size_t i = 0; i < mg->nin; i++) {
        const struct merge_input *in = &mg->in[i];
        long c = shard_field(in, "count");
        if (c != n) {
            fprintf(warn,
                    "racelab merge: warning: %s is %s, %s is %s: the inputs are not shards of "
                    "one N\n",
                    mg->in[0].file, n ? "a shard" : "not a shard", in->file,
                    c ? "a shard of another N" : "not a shard");
            same = false;
            break;
        }
        if (c && shard_field(in, "cells_total") != total)
            fprintf(warn,
                    "racelab merge: warning: %s was run on %ld cells in all, %s on %ld: the "
                    "shards were run on different scenarios or mitigations\n",
                    mg->in[0].file, total, in->file, shard_field(in, "cells_total"));
    }
    if (!same)
        return false;
    for (long k = 1; k <= n; k++) {
        bool found = false;
        for (size_t i = 0; i < mg->nin && !found; i++)
            found = shard_field(&mg->in[i], "index") == k;
        if (!found)
            fprintf(warn,
                    "racelab merge: warning: shard %ld/%ld is missing (no input holds it): its "
                    "cells are not in the merged results\n",
                    k, n);
    }
    return true;
}

/* Warns when the inputs were run differently: another proxy, namespaces or --repeat. */
static void check_alike(const struct merge *mg, FILE *warn)
{
    static const char *const keys[] = {"proxy_kind", "proxy_cmd", "netns", "repeat"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        for (size_t i = 1; i < mg->nin; i++) {
            const json_t *a = json_object_get(mg->in[0].res, keys[k]);
            const json_t *b = json_object_get(mg->in[i].res, keys[k]);
            if ((a || b) && !(a && b && json_equal((json_t *)a, (json_t *)b))) {
                fprintf(warn, "racelab merge: warning: %s and %s differ in \"%s\"\n",
                        mg->in[0].file, mg->in[i].file, keys[k]);
                break;
            }
        }
}

/* ---- joining the cells ---- */

/* PATH as a shard wrote it (…/SCENARIO/MITIGATION[/REST]) into DIR/SCENARIO/MITIGATION[/REST]:
 * where the cell's folder is now. A path without SCENARIO/MITIGATION is kept as it is. */
static void rebase(json_t *obj, const char *key, const char *dir, const char *s, const char *m)
{
    const char *old = str(obj, key);
    if (!old)
        return;
    char needle[1024];
    int nl = snprintf(needle, sizeof(needle), "%s/%s", s, m);
    if (nl <= 0 || (size_t)nl >= sizeof(needle))
        return;
    const char *at = NULL;
    for (const char *p = strstr(old, needle); p; p = strstr(p + 1, needle))
        if ((p == old || p[-1] == '/') && (p[nl] == '/' || p[nl] == '\0'))
            at = p;
    if (!at)
        return;
    size_t len = strlen(dir) + strlen(at) + 2;
    char *neu = malloc(len);
    if (!neu)
        return;
    snprintf(neu, len, "%s/%s", dir, at);
    json_object_set_new(obj, key, json_string(neu));
    free(neu);
}

struct entry {
    size_t in, idx;
    long long mi;
};

static bool by_matrix; /* qsort's context */

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (by_matrix && x->mi != y->mi)
        return x->mi < y->mi ? -1 : 1;
    if (x->in != y->in)
        return x->in < y->in ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static struct scenario *scenario_named(struct merge *mg, const json_t *cell)
{
    const char *name = str(cell, "scenario");
    for (size_t i = 0; i < mg->nscns; i++)
        if (strcmp(mg->scns[i]->name, name) == 0)
            return mg->scns[i];
    struct scenario *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->name = name;
    s->path = (char *)(str(cell, "scenario_file") ? str(cell, "scenario_file") : name);
    mg->scns[mg->nscns++] = s;
    return s;
}

/* One merged cell from the result object r (the merge's own copy) of input in. */
static int add_cell(struct merge *mg, struct suite_cell *sc, json_t *r,
                    const struct merge_input *in, struct scenario_mit *m)
{
    const char *s = str(r, "scenario"), *px = str(r, "proxy_kind"), *d = str(r, "dir");
    m->name = str(r, "mitigation");
    /* a run of several proxies keeps a cell in KIND/SCENARIO/MITIGATION */
    char ls[600], probe[1300];
    const char *sd = s;
    snprintf(ls, sizeof(ls), "%s/%s", px ? px : "", s);
    snprintf(probe, sizeof(probe), "/%s/%s", ls, m->name);
    if (px && d && strstr(d, probe))
        sd = ls;
    rebase(r, "dir", in->dir, sd, m->name);
    rebase(r, "capture", in->dir, sd, m->name);
    json_t *rp = json_object_get(r, "repeat");
    size_t k;
    json_t *rep;
    json_array_foreach(json_object_get(rp, "repetitions"), k, rep)
        rebase(rep, "dir", in->dir, sd, m->name);
    sc->result = r;
    sc->cell.s = scenario_named(mg, r);
    sc->cell.m = m;
    if (!sc->cell.s)
        return -1;
    snprintf(sc->dir, sizeof(sc->dir), "%s", str(r, "dir") ? str(r, "dir") : "");
    sc->done = true;
    sc->unsupported = json_object_get(r, "unsupported") != NULL;
    sc->skipped = sc->unsupported || json_object_get(r, "skipped") != NULL;
    sc->passed = json_is_true(json_object_get(json_object_get(r, "expect"), "passed"));
    sc->index = (size_t)json_integer_value(json_object_get(r, "matrix_index"));
    if (json_is_object(rp)) {
        const char *v = str(rp, "verdict");
        sc->reps = (long)json_integer_value(json_object_get(rp, "count"));
        sc->disagree = (size_t)json_integer_value(json_object_get(rp, "disagree"));
        sc->verdict_passed = sc->passed;
        sc->passed = json_is_true(json_object_get(rp, "passed"));
        if (v && (strcmp(v, "FAIL") == 0 || strcmp(v, "ERROR") == 0))
            sc->verdict_passed = false;
    }
    return 0;
}

static int join_cells(struct merge *mg, bool matrix_order)
{
    size_t n = 0;
    for (size_t i = 0; i < mg->nin; i++)
        n += json_array_size(json_object_get(mg->in[i].res, "cells"));
    struct entry *e = calloc(n + 1, sizeof(*e));
    mg->su.cells = calloc(n + 1, sizeof(*mg->su.cells));
    mg->mits = calloc(n + 1, sizeof(*mg->mits));
    mg->scns = calloc(n + 1, sizeof(*mg->scns));
    if (!e || !mg->su.cells || !mg->mits || !mg->scns) {
        free(e);
        return -1;
    }
    mg->su.cap = n + 1;
    size_t k = 0;
    for (size_t i = 0; i < mg->nin; i++) {
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(mg->in[i].res, "cells"), j, c)
        {
            e[k++] = (struct entry){i, j, json_integer_value(json_object_get(c, "matrix_index"))};
        }
    }
    by_matrix = matrix_order;
    qsort(e, n, sizeof(*e), entry_cmp);
    int rc = 0;
    for (k = 0; k < n && rc == 0; k++) {
        const struct merge_input *in = &mg->in[e[k].in];
        json_t *r = json_deep_copy(json_array_get(json_object_get(in->res, "cells"), e[k].idx));
        if (!r)
            rc = -1;
        else {
            mg->su.n++;
            rc = add_cell(mg, &mg->su.cells[k], r, in, &mg->mits[k]);
        }
    }
    free(e);
    /* cells of several proxies: the table names each one's proxy */
    bool several = false;
    for (k = 1; k < mg->su.n && rc == 0; k++) {
        const char *a = str(mg->su.cells[0].result, "proxy_kind");
        const char *b = str(mg->su.cells[k].result, "proxy_kind");
        several = several || (a && b && strcmp(a, b) != 0);
    }
    for (k = 0; several && k < mg->su.n; k++)
        mg->su.cells[k].px_label = str(mg->su.cells[k].result, "proxy_kind");
    return rc;
}

/* The merged results.json: the run's fields of the first input, the inputs it joins, the
 * cells. */
static json_t *results(struct merge *mg, const char *run_id)
{
    json_t *o = json_object(), *from = json_array(), *cells = json_array();
    double wall = 0;
    bool interrupted = false;
    for (size_t i = 0; i < mg->nin; i++) {
        const json_t *r = mg->in[i].res;
        json_t *f =
            json_pack("{s:s, s:O}", "path", mg->in[i].file, "run_id",
                      json_object_get(r, "run_id") ? json_object_get(r, "run_id") : json_null());
        if (f && json_object_get(r, "shard"))
            json_object_set(f, "shard", json_object_get(r, "shard"));
        json_array_append_new(from, f);
        wall = fmax(wall, json_number_value(json_object_get(r, "wall_s")));
        interrupted = interrupted || json_is_true(json_object_get(r, "interrupted"));
    }
    for (size_t i = 0; i < mg->su.n; i++)
        json_array_append(cells, mg->su.cells[i].result);
    mg->su.wall_s = wall;
    json_object_set_new(o, "run_id", json_string(run_id));
    json_object_set_new(o, "racelab_version", json_string(version_of(&mg->in[0])));
    json_object_set_new(o, "merged_from", from);
    json_object_set_new(o, "wall_s", json_real(wall));
    json_object_set_new(o, "passed", json_boolean(suite_passed(&mg->su)));
    json_object_set_new(o, "interrupted", json_boolean(interrupted));
    static const char *const keep[] = {"netns", "proxy_cmd", "proxy_kind", "proxies_under_test",
                                       "repeat"};
    for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
        if (json_object_get(mg->in[0].res, keep[k]))
            json_object_set(o, keep[k], json_object_get(mg->in[0].res, keep[k]));
    json_object_set_new(o, "cells", cells);
    return o;
}

int merge_load(struct merge *mg, char **paths, size_t n, const char *run_id, FILE *warn, char *err,
               size_t errlen)
{
    memset(mg, 0, sizeof(*mg));
    mg->in = calloc(n + 1, sizeof(*mg->in));
    if (!mg->in) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        mg->nin++;
        if (read_input(paths[i], &mg->in[i], err, errlen) != 0)
            return -1;
    }
    if (check_versions(mg, err, errlen) != 0 || check_duplicates(mg, err, errlen) != 0)
        return -1;
    bool matrix_order = check_shards(mg, warn);
    check_alike(mg, warn);
    if (join_cells(mg, matrix_order) != 0 || !(mg->results = results(mg, run_id))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void merge_free(struct merge *mg)
{
    for (size_t i = 0; i < mg->su.n; i++)
        json_decref(mg->su.cells[i].result);
    free(mg->su.cells);
    for (size_t i = 0; i < mg->nscns; i++)
        free(mg->scns[i]);
    free(mg->scns);
    free(mg->mits);
    for (size_t i = 0; i < mg->nin; i++) {
        free(mg->in[i].file);
        free(mg->in[i].dir);
        json_decref(mg->in[i].res);
    }
    free(mg->in);
    json_decref(mg->results);
    memset(mg, 0, sizeof(*mg));
}
