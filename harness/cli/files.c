/* files — the scenario files a command line names: a file as given, a folder's *.yaml, CASE
 * as a file or a name in scenarios/; loading them with every error reported. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

bool cli_is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* scenarios/ of the current folder, else of the source tree. */
const char *cli_default_scenarios(void)
{
    static char buf[PATH_MAX];
    if (cli_is_dir("scenarios"))
        return "scenarios";
    snprintf(buf, sizeof(buf), "%s/scenarios", RACELAB_SOURCE_DIR);
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_yaml(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

static int too_many(const char *where)
{
    fprintf(stderr, "racelab: %s: more than %d scenario files in one run (run them in parts)\n",
            where, MAX_SCENARIOS);
    return -1;
}

/* Files from arguments: a file as given, a folder's *.yaml sorted by name. */
int cli_collect(char **args, int nargs, char **paths, size_t *npaths)
{
    char *deflt[] = {(char *)cli_default_scenarios()};
    if (nargs == 0) {
        args = deflt;
        nargs = 1;
    }
    *npaths = 0;
    for (int i = 0; i < nargs; i++) {
        if (is_file(args[i])) {
            if (*npaths == MAX_SCENARIOS)
                return too_many(args[i]);
            paths[(*npaths)++] = strdup(args[i]);
            continue;
        }
        DIR *d = opendir(args[i]);
        if (!d) {
            fprintf(stderr, "racelab: %s: %s (expected a scenario file or a folder of them)\n",
                    args[i], strerror(errno));
            return -1;
        }
        size_t first = *npaths;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!is_yaml(e->d_name))
                continue;
            if (*npaths == MAX_SCENARIOS) {
                closedir(d);
                return too_many(args[i]);
            }
            char p[PATH_MAX];
            size_t l = strlen(args[i]);
            snprintf(p, sizeof(p), "%s%s%s", args[i], l && args[i][l - 1] == '/' ? "" : "/",
                     e->d_name);
            paths[(*npaths)++] = strdup(p);
        }
        closedir(d);
        qsort(paths + first, *npaths - first, sizeof(*paths), cmp_str);
        if (*npaths == first) {
            fprintf(stderr, "racelab: %s: no scenario files (*.yaml) in this folder\n", args[i]);
            return -1;
        }
    }
    return 0;
}

/* Loads every file; reports every bad one (file:line: key: problem). */
int cli_load_all(char **paths, size_t n, struct scenario **out)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char err[1024];
        out[i] = scenario_load(paths[i], err, sizeof(err));
        if (!out[i]) {
            fprintf(stderr, "racelab: %s\n", err);
            bad = 1;
        }
    }
    for (size_t i = 0; i < n && !bad; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(out[i]->name, out[j]->name) == 0) {
                fprintf(stderr, "racelab: %s:1: name: '%s' is also the name of %s\n", out[i]->path,
                        out[i]->name, out[j]->path);
                bad = 1;
            }
    return bad ? -1 : 0;
}

/* CASE: a file, or NAME → scenarios/NAME.yaml (current folder, then the source tree). */
int cli_resolve_case(const char *name, char *path, size_t len)
{
    if (is_file(name)) {
        snprintf(path, len, "%s", name);
        return 0;
    }
    const char *dirs[] = {"scenarios", RACELAB_SOURCE_DIR "/scenarios"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, len, "%s/%s.yaml", dirs[i], name);
        if (is_file(path))
            return 0;
    }
    fprintf(stderr,
            "racelab: no scenario '%s' (looked for the file, scenarios/%s.yaml and %s/scenarios/"
            "%s.yaml; `racelab list` shows the cases)\n",
            name, name, RACELAB_SOURCE_DIR, name);
    return -1;
}
