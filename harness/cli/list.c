/* list — the scenarios with their intent, seed references, mitigations and fix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void first_line(char *buf, size_t len, const char *text)
{
    size_t n = strcspn(text, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
}

/* "  LABEL: a b c" on a line of its own; nothing when n is 0 */
static void print_words(const char *label, const char *const *v, size_t n)
{
    if (!n)
        return;
    printf("  %s:", label);
    for (size_t j = 0; j < n; j++)
        printf(" %s", v[j]);
    printf("\n");
}

int cmd_list(int argc, char **argv)
{
    struct cli cli = {0};
    char *pos[MAX_SCENARIOS], *paths[MAX_SCENARIOS];
    int npos = 0;
    size_t npaths = 0;
    int rc =
        cli_parse(cli_plain_opts, &cli, argc, argv, pos, &npos, MAX_SCENARIOS, "[DIR|SCENARIO]...",
                  "Lists scenarios (default: scenarios/) with their intent, seed "
                  "references, mitigations and the fix.");
    if (rc >= 0)
        return rc;
    if (cli_collect(pos, npos, paths, &npaths) != 0)
        return EXIT_BAD;
    rc = EXIT_PASS;
    for (size_t i = 0; i < npaths; i++) {
        char err[1024];
        struct scenario *s = scenario_load(paths[i], err, sizeof(err));
        if (!s) {
            fprintf(stderr, "racelab: %s\n", err);
            rc = EXIT_BAD;
            free(paths[i]);
            continue;
        }
        char intent[400];
        first_line(intent, sizeof(intent), s->intent);
        printf("%s  (%s, %ld trials)\n  %s\n", s->name, scenario_topo_name(s->topo), s->trials,
               intent);
        print_words("seed", (const char *const *)s->seed, s->nseed);
        printf("  mitigations:");
        for (size_t j = 0; j < s->nmit; j++)
            printf(" %s", s->mit[j].name);
        printf("\n");
        print_words("fixed by", (const char *const *)s->fix, s->nfix);
        printf("\n");
        scenario_free(s);
        free(paths[i]);
    }
    return rc;
}
