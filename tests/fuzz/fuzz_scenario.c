/* fuzz_scenario — the scenario loader on any text, and its canonical writer.
 *
 * text -> scenario_load -> scenario_write (1) -> scenario_load -> scenario_write (2): a text
 * the loader accepts must give a canonical form that loads again and writes back the same
 * (scenario.h: "loading the output gives the same scenario"). Every cell of an accepted scenario
 * is built too. The loader takes a path: the text goes to one memfd made at start-up, named by
 * /proc/self/fd/N, so no file is written per input. */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "scenario.h"

static int mfd = -1;
static char path[64];

static void put(const void *text, size_t len)
{
    if (ftruncate(mfd, 0) != 0 || pwrite(mfd, text, len, 0) != (ssize_t)len) {
        perror("fuzz_scenario: memfd");
        abort();
    }
}

/* scenario_write of s into a malloc'd string. */
static char *written(const struct scenario *s, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        abort();
    scenario_write(f, s);
    if (fclose(f) != 0)
        abort();
    return buf;
}

static void cells(const struct scenario *s)
{
    char err[1024];
    for (size_t i = 0; i < s->nmit; i++) {
        struct scenario_cell c;
        if (scenario_cell_build(s, &s->mit[i], (long)i, &c, err, sizeof(err)) == 0) {
            for (size_t p = 0; p < c.nprogs; p++)
                (void)scenario_cell_prog(&c, c.progs[p].name);
            (void)scenario_cell_success(&c, "200");
            (void)scenario_cell_success(&c, "reset");
            scenario_cell_free(&c);
        }
        if (scenario_find_mit(s, s->mit[i].name) != &s->mit[i])
            abort(); /* mitigations are the keys of a map: one of each name */
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mfd = memfd_create("racelab-fuzz-scenario", MFD_CLOEXEC);
    if (mfd < 0) {
        perror("fuzz_scenario: memfd_create");
        exit(1);
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    if (size > 64 * 1024)
        return 0;
    put(data, size);
    struct scenario *s1 = scenario_load(path, err, sizeof(err));
    if (!s1)
        return 0;
    cells(s1);
    size_t len1, len2;
    char *w1 = written(s1, &len1);
    put(w1, len1);
    struct scenario *s2 = scenario_load(path, err, sizeof(err));
    if (!s2) {
        fprintf(stderr, "fuzz_scenario: the canonical form does not load: %s\n--- written:\n%s\n",
                err, w1);
        abort();
    }
    char *w2 = written(s2, &len2);
    if (len1 != len2 || memcmp(w1, w2, len1) != 0) {
        fprintf(stderr, "fuzz_scenario: written twice, not the same\n--- first:\n%s\n--- second:\n%s\n",
                w1, w2);
        abort();
    }
    free(w1);
    free(w2);
    scenario_free(s2);
    scenario_free(s1);
    return 0;
}
