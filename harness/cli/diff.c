/* diff — what changed from one run to another (results/diff.h): the table on stdout, --json for
 * machines; exit 0 no regression, 1 a cell got worse, 2 bad input. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diff.h"

struct diff_cli {
    struct diff_opts o;
    const char *json;
};

/* A non-negative number with an optional suffix (e.g. "%", "ms"). */
static int parse_num(const char *val, const char *suffix, double *out, char *err, size_t errlen)
{
    char *end;
    double v = strtod(val, &end);
    if (end != val && *end && strcmp(end, suffix) == 0)
        end += strlen(end);
    if (end == val || *end || !(v >= 0) || v > 1e9) {
        snprintf(err, errlen, "expected a number >= 0, got '%s'", val);
        return -1;
    }
    *out = v;
    return 0;
}

static int set_threshold(void *cfg, const char *val, char *err, size_t errlen)
{
    return parse_num(val, "%", &((struct diff_cli *)cfg)->o.latency_pct, err, errlen);
}

static int set_floor(void *cfg, const char *val, char *err, size_t errlen)
{
    return parse_num(val, "ms", &((struct diff_cli *)cfg)->o.latency_floor_ms, err, errlen);
}

static const struct opt_spec diff_opts[] = {
    {.name = "latency-threshold",
     .type = OPT_CUSTOM,
     .metavar = "PCT",
     .help = "a p50 or p99 latency moved when it changed by more than PCT% of OLD's (default 50) "
             "and by at least the floor",
     .parse = set_threshold},
    {.name = "latency-floor",
     .type = OPT_CUSTOM,
     .metavar = "MS",
     .help = "the least change in milliseconds a latency move needs, so that sub-millisecond "
             "noise is not flagged (default 1; 0.5 and 0.5ms are accepted)",
     .parse = set_floor},
    {.name = "fail-on-latency",
     .type = OPT_FLAG,
     .off = offsetof(struct diff_cli, o.fail_on_latency),
     .flag_value = true,
     .help = "a latency up beyond threshold and floor is a regression too (exit 1); by default "
             "latency moves are reported only"},
    {.name = "json",
     .type = OPT_STR,
     .off = offsetof(struct diff_cli, json),
     .metavar = "FILE",
     .help = "also write the changes as JSON to FILE (fields in docs/harness.md)"},
    OPT_END,
};

static const char about[] =
    "Compares two runs cell by cell (scenario × mitigation). OLD and NEW are run folders "
    "(captures/<run-id>/, --out DIR) or results.json files. Reports, in a table on stdout:\n"
    "- verdicts that changed: PASS -> FAIL or ERROR is a regression, FAIL or ERROR -> PASS an "
    "improvement; other changes (to or from SKIP, FAIL <-> ERROR) are listed; cells only in "
    "NEW are new, cells only in OLD removed (neither is a regression);\n"
    "- failure rates that moved beyond their intervals: the 95% Wilson score intervals of OLD's "
    "and NEW's failures/trials do not overlap (then each rate is also outside the other's "
    "interval); NEW above is 'rate up', a regression; below is 'rate down';\n"
    "- p50/p99 latency moves: |NEW - OLD| > PCT% of OLD and >= the floor in ms.\n"
    "Rates and latency are compared only between cells that ran (PASS or FAIL) in both. Under "
    "the table: the failed checks of each cell that now fails, and the regressions by name.\n"
    "Exit status: 0 no regression; 1 a cell got worse (a verdict regression, a failure rate "
    "up, or with --fail-on-latency a latency up); 2 bad input (a file that cannot be read or is "
    "not a racelab results.json, a bad flag), the message naming the path.";

int cmd_diff(int argc, char **argv)
{
    struct diff_cli c = {.o = {DIFF_LATENCY_PCT, DIFF_LATENCY_FLOOR_MS, false}};
    char *pos[3], err[1024];
    int npos = 0;
    int rc = opt_parse(diff_opts, &c, argc, argv, 2, pos, &npos, 3, NULL, err, sizeof(err));
    if (rc == OPT_HELP) {
        opt_usage(stdout, "racelab diff", "OLD NEW [flags]", about, diff_opts);
        return EXIT_PASS;
    }
    if (rc != OPT_OK) {
        fprintf(stderr, "racelab diff: %s\n", err);
        return EXIT_BAD;
    }
    if (npos != 2) {
        fprintf(stderr, "racelab diff: expected OLD and NEW, two run folders or results.json "
                        "files (see --help)\n");
        return EXIT_BAD;
    }
    char *files[2] = {NULL, NULL};
    json_t *res[2] = {NULL, NULL}, *d = NULL;
    rc = EXIT_BAD;
    for (int i = 0; i < 2; i++) {
        res[i] = diff_load(pos[i], &files[i], err, sizeof(err));
        if (!res[i]) {
            fprintf(stderr, "racelab diff: %s %s\n", i ? "NEW" : "OLD", err);
            goto out;
        }
    }
    d = diff_results(res[0], files[0], res[1], files[1], &c.o);
    if (!d) {
        fprintf(stderr, "racelab diff: out of memory\n");
        goto out;
    }
    if (c.json && json_dump_file(d, c.json, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "racelab diff: cannot write %s\n", c.json);
        goto out;
    }
    diff_print(stdout, d);
    rc = json_is_true(json_object_get(d, "regression")) ? EXIT_FAIL : EXIT_PASS;
out:
    json_decref(d);
    for (int i = 0; i < 2; i++) {
        json_decref(res[i]);
        free(files[i]);
    }
    return rc;
}
