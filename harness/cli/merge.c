/* merge — shard results joined into one run (results/merge.h): results.json, junit.xml and the
 * report in --out, the table as run prints it; exit 0 when every cell passed, 1 when one
 * failed, 2 bad input. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "merge.h"
#if __has_include("report_html.h")
#include "report_html.h"
#define MERGE_HTML 1
#endif

/* --out must not be one of the inputs: its results.json would be overwritten. */
static int check_out(const struct session *ss, const struct merge *mg)
{
    char real[PATH_MAX];
    if (!realpath(ss->out, real))
        return 0; /* created below: not an input */
    for (size_t i = 0; i < mg->nin; i++)
        if (strcmp(real, mg->in[i].dir) == 0) {
            fprintf(stderr,
                    "racelab merge: --out %s is the folder of input %s; give the merged run a "
                    "folder of its own\n",
                    ss->out, mg->in[i].file);
            return -1;
        }
    return 0;
}

static int write_json(const json_t *res, const char *path, const char *flag)
{
    if (json_dump_file(res, path, JSON_INDENT(1)) == 0)
        return 0;
    fprintf(stderr, "racelab merge: %s%scannot write %s\n", flag, *flag ? ": " : "", path);
    return -1;
}

static int write_outputs(const struct session *ss, const struct merge *mg)
{
    char path[PATH_MAX + 32];
    int rc = 0;
    snprintf(path, sizeof(path), "%s/results.json", ss->out);
    rc |= write_json(mg->results, path, "");
    if (ss->cli.json)
        rc |= write_json(mg->results, ss->cli.json, "--json");
    snprintf(path, sizeof(path), "%s/junit.xml", ss->out);
    const char *junits[] = {path, ss->cli.junit};
    for (size_t i = 0; i < 2; i++)
        if (junits[i] && report_junit(&mg->su, junits[i]) != 0) {
            fprintf(stderr, "racelab merge: %scannot write %s\n", i ? "--junit: " : "", junits[i]);
            rc = -1;
        }
#ifdef MERGE_HTML
    /* the report of the merged run, as `racelab run` writes it */
    char err[512];
    snprintf(path, sizeof(path), "%s/report.html", ss->out);
    if (report_html_write(ss->out, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "racelab merge: %s\n", err);
        rc = -1;
    }
#endif
    return rc;
}

static int merge_run(struct session *ss, char **pos, int npos)
{
    struct merge mg;
    char err[PATH_MAX * 2 + 512];
    cli_run_id(ss->run_id, sizeof(ss->run_id));
    if (merge_load(&mg, pos, (size_t)npos, ss->run_id, stderr, err, sizeof(err)) != 0) {
        fprintf(stderr, "racelab merge: %s\n", err);
        merge_free(&mg);
        return EXIT_BAD;
    }
    if (ss->cli.out)
        snprintf(ss->out, sizeof(ss->out), "%s", ss->cli.out);
    else
        cli_default_out(ss->out, sizeof(ss->out), ss->run_id);
    int rc = EXIT_BAD;
    if (check_out(ss, &mg) != 0)
        goto out;
    if (suite_mkdirs(ss->out) != 0) {
        fprintf(stderr, "racelab merge: --out: cannot create %s: %s\n", ss->out, strerror(errno));
        goto out;
    }
    if (cli_lock_out(ss) != 0 || write_outputs(ss, &mg) != 0)
        goto out;
    report_table(stdout, &mg.su, REPORT_TABLE_RUN);
    fflush(stdout);
    if (!ss->cli.quiet) {
        char what[160];
        cli_summary(what, sizeof(what), &mg.su, false);
        fprintf(stderr, "racelab merge: %zu inputs, %s; results: %s/results.json\n", mg.nin, what,
                ss->out);
    }
    rc = suite_passed(&mg.su) ? EXIT_PASS : EXIT_FAIL;
out:
    merge_free(&mg);
    return rc;
}

int cmd_merge(int argc, char **argv)
{
    struct session *ss = calloc(1, sizeof(*ss));
    char *pos[MAX_SCENARIOS];
    int npos = 0;
    if (!ss)
        return EXIT_BAD;
    int rc = cli_parse(cli_merge_opts, &ss->cli, argc, argv, pos, &npos, MAX_SCENARIOS,
                       "RUN_DIR|RESULTS_JSON... [flags]",
                       "Joins the results of shards (racelab run --shard I/N, each in its own "
                       "folder) into one run: results.json, junit.xml and the table, as one run "
                       "of every cell gives them, cells in the order of the whole matrix. "
                       "Refuses (exit 2) results of different racelab versions and a cell found "
                       "in two inputs; warns when the shards' N differ or a shard is missing. "
                       "The cells' folders are referenced where they are, not copied. Exit: 0 "
                       "every cell passed, 1 one failed, 2 bad input.");
    if (rc < 0) {
        if (npos < 1) {
            fprintf(stderr, "racelab merge: expected at least one RUN_DIR or results.json (see "
                            "--help)\n");
            rc = EXIT_BAD;
        } else {
            rc = merge_run(ss, pos, npos);
        }
    }
    cli_session_free(ss);
    free(ss);
    return rc;
}
