/* archive — a run folder packed into one .tar.gz, an index first (index.json: the cells with
 * their verdicts, every file with its size), so that a CI artefact is one file that `tar xzf`
 * unpacks into the folder it was made from. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "grow.h"
#include "tarz.h"

#define ARCHIVE_MAX_DEPTH 8

struct entry {
    char *rel; /* path inside the run folder */
    long long size;
    bool dir;
};

struct walk {
    struct entry *v;
    size_t n, cap;
    dev_t skip_dev; /* the archive itself, when it is written into the run folder */
    ino_t skip_ino;
};

static bool skipped_name(const char *name)
{
    size_t n = strlen(name);
    return strcmp(name, ".racelab.lock") == 0 || strcmp(name, "index.json") == 0 ||
           (n >= 4 && strcmp(name + n - 4, ".tmp") == 0);
}

static int add_entry(struct walk *w, const char *rel, long long size, bool dir)
{
    struct entry *v = grow_array(w->v, &w->cap, w->n + 1, sizeof *v);
    if (!v)
        return -1;
    w->v = v;
    w->v[w->n].rel = strdup(rel);
    w->v[w->n].size = size;
    w->v[w->n].dir = dir;
    return w->v[w->n++].rel ? 0 : -1;
}

/* Every directory and regular file under root/rel, sorted by name (symbolic links, the lock
 * of a run and temporary files left out). 0, or -1 after saying why. */
static int walk_dir(struct walk *w, const char *root, const char *rel, int depth)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "racelab archive: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        char sub[PATH_MAX], full[PATH_MAX + 256];
        struct stat st;
        if (rc != 0 || strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || skipped_name(nm))
            goto next;
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", nm);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        if (lstat(full, &st) != 0 || (st.st_dev == w->skip_dev && st.st_ino == w->skip_ino))
            goto next;
        if (S_ISDIR(st.st_mode) && depth < ARCHIVE_MAX_DEPTH) {
            if (add_entry(w, sub, 0, true) != 0 || walk_dir(w, root, sub, depth + 1) != 0)
                rc = -1;
        } else if (S_ISREG(st.st_mode) && add_entry(w, sub, (long long)st.st_size, false) != 0) {
            rc = -1;
        }
    next:
        free(names[i]);
    }
    free(names);
    return rc;
}

/* pass, fail, error, skipped, unsupported */
static const char *verdict(const json_t *c)
{
    if (json_object_get(c, "unsupported"))
        return "unsupported";
    if (json_object_get(c, "skipped"))
        return "skipped";
    const char *e = json_string_value(json_object_get(c, "error"));
    if (e && *e)
        return "error";
    return json_is_true(json_object_get(json_object_get(c, "expect"), "passed")) ? "pass" : "fail";
}

static json_t *index_cells(const json_t *results)
{
    json_t *cells = json_array(), *c;
    size_t i;
    json_array_foreach(json_object_get(results, "cells"), i, c)
    {
        const char *s = json_string_value(json_object_get(c, "scenario"));
        const char *m = json_string_value(json_object_get(c, "mitigation"));
        const char *cap = json_string_value(json_object_get(c, "capture"));
        json_t *o = json_object();
        json_object_set_new(o, "scenario", json_string(s ? s : ""));
        json_object_set_new(o, "mitigation", json_string(m ? m : ""));
        json_object_set_new(o, "verdict", json_string(verdict(c)));
        json_object_set(o, "trials", json_object_get(c, "trials"));
        json_object_set(o, "failures", json_object_get(c, "failures"));
        if (cap && s && m) {
            const char *slash = strrchr(cap, '/');
            char rel[PATH_MAX];
            snprintf(rel, sizeof rel, "%s/%s/%s", s, m, slash ? slash + 1 : cap);
            json_object_set_new(o, "capture", json_string(rel));
        } else {
            json_object_set_new(o, "capture", json_null());
        }
        json_array_append_new(cells, o);
    }
    return cells;
}

static char *index_text(const json_t *results, const struct walk *w, const char *top)
{
    json_t *idx = json_object(), *files = json_array();
    json_object_set_new(idx, "format", json_string("racelab-archive 1"));
    json_object_set_new(idx, "run", json_string(top));
    json_object_set(idx, "run_id", json_object_get(results, "run_id"));
    json_object_set(idx, "passed", json_object_get(results, "passed"));
    json_object_set_new(idx, "cells", index_cells(results));
    for (size_t i = 0; i < w->n; i++) {
        if (w->v[i].dir)
            continue;
        json_t *f = json_object();
        json_object_set_new(f, "path", json_string(w->v[i].rel));
        json_object_set_new(f, "size", json_integer(w->v[i].size));
        json_array_append_new(files, f);
    }
    json_object_set_new(idx, "files", files);
    char *text = json_dumps(idx, JSON_INDENT(1));
    json_decref(idx);
    return text;
}

/* index.json, the folder, every entry of the walk, all under top/. */
static int write_archive(const char *dir, const char *top, const char *out, const struct walk *w,
                         const char *index)
{
    char err[PATH_MAX + 256] = "", name[PATH_MAX + 256];
    struct tarz *t = tarz_open(out, err, sizeof err);
    if (!t) {
        fprintf(stderr, "racelab archive: -o: %s\n", err);
        return -1;
    }
    time_t now = time(NULL);
    snprintf(name, sizeof name, "%s/index.json", top);
    int rc = tarz_add_mem(t, name, index, strlen(index), now, err, sizeof err);
    if (rc == 0)
        rc = tarz_add_dir(t, top, now, err, sizeof err);
    for (size_t i = 0; rc == 0 && i < w->n; i++) {
        char path[PATH_MAX + 256];
        snprintf(name, sizeof name, "%s/%s", top, w->v[i].rel);
        snprintf(path, sizeof path, "%s/%s", dir, w->v[i].rel);
        rc = w->v[i].dir ? tarz_add_dir(t, name, now, err, sizeof err)
                         : tarz_add_file(t, name, path, err, sizeof err);
    }
    if (tarz_close(t, rc == 0, err, sizeof err) != 0 || rc != 0) {
        fprintf(stderr, "racelab archive: %s\n", err);
        return -1;
    }
    return 0;
}

/* RUN_DIR is a finished run's folder: a directory, its results.json readable, no run holding
 * its lock. The results, or NULL after saying why. */
static json_t *check_run_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "racelab archive: %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "racelab archive: %s: not a folder (expected a run's folder)\n", dir);
        return NULL;
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/.racelab.lock", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "racelab archive: %s: a run is still writing into it\n", dir);
        close(fd);
        return NULL;
    }
    if (fd >= 0)
        close(fd);
    snprintf(path, sizeof path, "%s/results.json", dir);
    json_error_t je;
    json_t *res = json_load_file(path, 0, &je);
    if (!res) {
        if (access(path, F_OK) != 0)
            fprintf(stderr, "racelab archive: %s: not a run folder (no results.json)\n", dir);
        else
            fprintf(stderr, "racelab archive: %s:%d: %s\n", path, je.line, je.text);
        return NULL;
    }
    if (!json_is_array(json_object_get(res, "cells"))) {
        fprintf(stderr, "racelab archive: %s: not racelab's results (no \"cells\")\n", path);
        json_decref(res);
        return NULL;
    }
    return res;
}

static const struct opt_spec archive_opts[] = {
    {.name = "output",
     .type = OPT_STR,
     .off = offsetof(struct cli, out),
     .metavar = "FILE",
     .help = "the archive to write (also -o FILE; default RUN_DIR.tar.gz next to the folder); "
             "written to FILE.tmp and renamed when complete"},
    OPT_END,
};

int cmd_archive(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) /* -o is --output */
        if (strcmp(argv[i], "-o") == 0)
            argv[i] = "--output";
    struct cli cli = {0};
    char *pos[2];
    int npos = 0;
    int rc = cli_parse(archive_opts, &cli, argc, argv, pos, &npos, 2, "RUN_DIR [-o FILE]",
                       "Packs a run's folder into one .tar.gz: index.json first (the run's "
                       "cells with their verdicts, every file with its size), then the folder "
                       "as it is, under its own name. `tar xzf` unpacks it; `racelab explain` "
                       "and tshark read its gzip'd captures directly.");
    if (rc >= 0)
        return rc;
    if (npos != 1) {
        fprintf(stderr, "racelab archive: expected one RUN_DIR (see --help)\n");
        return EXIT_BAD;
    }
    char dir[PATH_MAX], top[PATH_MAX], out[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", pos[0]);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
        dir[n - 1] = '\0';
    json_t *res = check_run_dir(dir);
    if (!res)
        return EXIT_BAD;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", dir);
    snprintf(top, sizeof top, "%s", basename(tmp));
    if (strcmp(top, "/") == 0 || strcmp(top, ".") == 0 || strcmp(top, "..") == 0)
        snprintf(top, sizeof top, "run");
    snprintf(out, sizeof out, "%s%s", cli.out ? cli.out : dir, cli.out ? "" : ".tar.gz");
    struct walk w = {0};
    struct stat st;
    if (stat(out, &st) == 0) {
        w.skip_dev = st.st_dev;
        w.skip_ino = st.st_ino;
    }
    char *index = NULL;
    rc = EXIT_BAD;
    if (walk_dir(&w, dir, "", 0) == 0 && (index = index_text(res, &w, top)) != NULL &&
        write_archive(dir, top, out, &w, index) == 0) {
        printf("%s: %zu files of %s, index.json first\n", out, w.n, dir);
        rc = EXIT_PASS;
    }
    free(index);
    for (size_t i = 0; i < w.n; i++)
        free(w.v[i].rel);
    free(w.v);
    json_decref(res);
    return rc;
}
