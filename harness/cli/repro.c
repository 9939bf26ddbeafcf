/* repro (and 503-uc) — run one case without mitigation once, say what happened in words,
 * draw the packets of one failing trial, name the mitigation that fixes it. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "cli.h"
#include "explain.h"
#include "grow.h"
#include "metrics.h"

/* One mitigation's overrides, as the flags they give. */
static void print_overrides(FILE *out, const struct scenario_mit *m)
{
    for (int sec = 0; sec < SCENARIO_NSEC; sec++) {
        const struct scenario_settings *st = &m->set[sec];
        if (!st->n)
            continue;
        fprintf(out, "    %s:", scenario_sec_name((enum scenario_sec)sec));
        for (size_t i = 0; i < st->n; i++) {
            const struct scenario_setting *s = &st->v[i];
            if (s->off) {
                fprintf(out, " (no --%s)", s->name);
                continue;
            }
            if (!s->vals)
                fprintf(out, " --%s", s->name);
            for (size_t j = 0; s->vals && j < s->nvals; j++)
                fprintf(out, " --%s %s", s->name, s->vals[j]);
        }
        fprintf(out, "\n");
    }
    if (m->has_wire)
        fprintf(out, "    wire: %s\n", m->nwire ? "changed faults" : "no wire faults");
}

/* The trial repro draws: a failing one (one with an RST, when some have one), else the
 * slowest; told in words before its diagram. */
static void draw_trial(const struct scenario *s, const json_t *cell, const char *pcap)
{
    const json_t *pick = metrics_failing_pick(cell);
    char err[512] = "", path[PATH_MAX + 32];
    const char *dir = json_string_value(json_object_get(cell, "dir"));
    snprintf(path, sizeof(path), "%s/downstream.jsonl", dir ? dir : ".");
    json_t *records = dir ? run_read_jsonl(path, err, sizeof(err)) : NULL;
    long trial = -1, port = 0;
    if (pick) {
        trial = (long)json_integer_value(json_object_get(pick, "trial"));
        port = (long)json_integer_value(json_object_get(pick, "lport"));
        printf("\nOne failing trial (trial %ld, outcome %s, downstream port %ld):\n\n", trial,
               json_string_value(json_object_get(pick, "outcome")), port);
    } else {
        double ms = 0;
        trial = records ? metrics_slowest_trial(records, &ms) : -1;
        size_t k;
        const json_t *r;
        json_array_foreach(records, k, r)
        {
            if (json_integer_value(json_object_get(r, "trial")) == trial && !port)
                port = (long)json_integer_value(json_object_get(r, "lport"));
        }
        if (trial < 0) {
            printf("\nNo trial failed, and the client recorded no request to draw.\n");
            json_decref(records);
            return;
        }
        printf("\nNo trial failed; the slowest trial took %.1f ms (trial %ld, downstream port "
               "%ld):\n\n",
               ms, trial, port);
    }
    if (!pcap) {
        printf("  (nothing was captured in this run)\n");
        json_decref(records);
        return;
    }
    /* Exactly the trial's connections: its downstream ports from the records and, through the
     * proxies' access logs (or the upstream log's tags), the upstream connections its requests
     * used. */
    const char *names[4];
    size_t nnodes = scenario_topo_nodes(s->topo, names), nsel = 0;
    uint64_t from = 0, to = 0;
    struct explain_flow_sel *sel =
        metrics_trial_select(dir, names, nnodes, json_is_true(json_object_get(cell, "access_log")),
                             records, trial, &nsel, &from, &to);
    struct analysis_hop hops[8];
    int nh = explain_read_hops(pcap, hops, 8, err, sizeof(err));
    if (!sel)
        printf("  (cannot draw it: the client recorded no connection for trial %ld)\n", trial);
    else if (nh < 0 ||
             explain_print_flows(stdout, pcap, nh > 0 ? hops : NULL, nh > 0 ? (size_t)nh : 0, sel,
                                 nsel, from, to, err, sizeof(err)) != 0)
        printf("  (cannot draw it: %s)\n", err);
    if (nh > 0)
        explain_hops_free(hops, (size_t)nh);
    free(sel);
    json_decref(records);
}

static int repro(struct session *ss, const char *name)
{
    char path[PATH_MAX], *paths[1] = {path};
    if (cli_resolve_case(name, path, sizeof(path)) != 0)
        return EXIT_BAD;
    if (ss->cli.mit.n == 0)
        ss->cli.mit.v[ss->cli.mit.n++] = "none";
    ss->cli.quiet = true;
    if (ss->cli.proxy && strchr(ss->cli.proxy, ',') && strncmp(ss->cli.proxy, "cmd:", 4) != 0) {
        fprintf(stderr,
                "racelab repro: --proxy %s: repro tells one cell, give one proxy (racelab "
                "compare %s --proxy %s puts them side by side)\n",
                ss->cli.proxy, name, ss->cli.proxy);
        return EXIT_BAD;
    }
    fprintf(stderr, "racelab: running %s with mitigation %s...\n", name, ss->cli.mit.v[0]);
    int rc = cli_execute(ss, paths, 1, REPORT_TABLE_RUN, false);
    if (rc == EXIT_BAD || ss->su.n == 0)
        return rc;
    const struct scenario *s = ss->scns[0];
    const json_t *cell = ss->su.cells[0].result;
    const char *why = json_string_value(json_object_get(cell, "unsupported"));
    const char *skip = json_string_value(json_object_get(cell, "skipped"));
    if (why || skip) { /* the --proxy kind cannot run it: nothing happened to tell */
        printf("%s × %s was not run: %s%s\n", s->name, ss->cli.mit.v[0], why ? "unsupported: " : "",
               why ? why : skip);
        return rc;
    }
    report_words(stdout, s, cell);
    report_verdict(stdout, s, cell);
    const char *pcap = json_string_value(json_object_get(cell, "capture"));
    draw_trial(s, cell, pcap);
    if (pcap)
        printf("\nCapture: %s\n  (racelab explain %s --flow PORT; or tshark -r %s)\n", pcap, pcap,
               pcap);
    printf("Logs: %s\n", json_string_value(json_object_get(cell, "dir")));
    if (s->nfix) {
        printf("\nWhat fixes it:\n");
        for (size_t k = 0; k < s->nfix; k++) {
            const struct scenario_mit *m = scenario_find_mit(s, s->fix[k]);
            printf("  %s%s%s\n", m->name, m->about ? ": " : "", m->about ? m->about : "");
            print_overrides(stdout, m);
        }
        /* with the proxy this ran on, so the comparison is of the same system */
        const struct cli *c = &ss->cli;
        if (c->proxy_cmd)
            printf("  (compare them: racelab compare %s --proxy-cmd '%s')\n", s->name,
                   c->proxy_cmd);
        else if (c->proxy && strcmp(c->proxy, "racelab") != 0)
            printf("  (compare them: racelab compare %s --proxy %s)\n", s->name, c->proxy);
        else
            printf("  (compare them: racelab compare %s)\n", s->name);
    }
    /* The verdict is the cell's expectations: a case whose race is a cost (delay-close-cost)
     * reproduces without a single failing trial. */
    return rc;
}

int cmd_repro(int argc, char **argv, const char *fixed_case)
{
    struct session *ss = calloc(1, sizeof(*ss));
    char *pos[2];
    int npos = 0;
    int rc =
        cli_parse(cli_repro_opts, &ss->cli, argc, argv, pos, &npos, 2,
                  fixed_case ? "[flags]" : "CASE [flags]",
                  fixed_case ? "Envoy's \"503 UC\": runs upstream-reuse-after-fin without "
                               "mitigation once (= racelab repro upstream-reuse-after-fin)."
                             : "Runs CASE with mitigation none once, says what happened in "
                               "words, draws the packets of one failing trial (or, when none "
                               "failed, of the slowest one): its downstream connections and the "
                               "upstream connections its requests used, gives the pcap path and "
                               "the mitigation that fixes it (the scenario's fix:). Exit 0 when "
                               "the cell's expectations hold (the case reproduced as the scenario "
                               "says), 1 when they do not.");
    if (rc < 0) {
        rc = EXIT_BAD;
        if (fixed_case && npos == 0)
            rc = repro(ss, fixed_case);
        else if (!fixed_case && npos == 1)
            rc = repro(ss, pos[0]);
        else
            fprintf(stderr, "racelab %s: expected %s (see --help)\n", argv[1],
                    fixed_case ? "no argument" : "one CASE");
    }
    cli_session_free(ss);
    free(ss);
    return rc;
}
