/* pack — gzip'd captures and logs, and the captures --keep failing lets go (pack.h). */
#include "pack.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gzf.h"

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* path gzip'd into path.gz; 0 when done or when there is no such file */
static int pack_file(json_t *cell, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    char gz[4200], err[1024];
    snprintf(gz, sizeof gz, "%s.gz", path);
    if (gzf_compress(path, gz, err, sizeof err) == 0)
        return 0;
    if (!json_object_get(cell, "pack_error"))
        json_object_set_new(cell, "pack_error", json_string(err));
    return -1;
}

static void pack_logs(json_t *cell, const char *dir)
{
    static const char *const names[] = {"downstream.jsonl", "upstream.log"};
    char path[4200];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        pack_file(cell, path);
    }
    if (json_object_get(cell, "proxy_logs"))
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".access.jsonl"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        pack_file(cell, path);
    }
    closedir(d);
}

void pack_cell(json_t *cell, const char *dir)
{
    const char *cap = json_string_value(json_object_get(cell, "capture"));
    if (cap && !gzf_is_gz(cap)) {
        char path[4096];
        snprintf(path, sizeof path, "%s", cap);
        struct stat st;
        if (stat(path, &st) == 0 && pack_file(cell, path) == 0) {
            char gz[4200];
            snprintf(gz, sizeof gz, "%s.gz", path);
            json_object_set_new(cell, "capture", json_string(gz));
        }
    }
    pack_logs(cell, dir);
}

bool pack_failing(const json_t *cell, bool passed)
{
    if (!passed || json_object_get(cell, "error"))
        return true;
    return json_integer_value(json_object_get(cell, "failures")) > 0;
}

void pack_drop_capture(json_t *cell, const char *why)
{
    const char *cap = json_string_value(json_object_get(cell, "capture"));
    if (cap) {
        char hops[4200];
        size_t n = strlen(cap);
        if (gzf_is_gz(cap))
            n -= 3;
        snprintf(hops, sizeof hops, "%.*s.hops", (int)n, cap);
        unlink(cap);
        unlink(hops);
    }
    json_object_set_new(cell, "capture", json_null());
    json_object_set_new(cell, "capture_removed", json_string(why));
}
