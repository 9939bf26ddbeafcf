/* report_html_cell — one cell's detail in report.html: its numbers, latency (percentiles and a
 * histogram from the client's records), its expectations with file:line, one failing trial's
 * sequence diagram (explain's model as SVG), and links to its capture and logs. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cell.h" /* run_read_jsonl */
#include "interval.h"
#include "metrics.h"
#include "report_html_internal.h"

static void row(FILE *f, const char *key, const char *val)
{
    fputs("<tr><th>", f);
    rh_esc(f, key);
    fputs("</th><td>", f);
    rh_esc(f, val);
    fputs("</td></tr>\n", f);
}

static void numbers(struct rh *h, const json_t *cell)
{
    FILE *f = h->f;
    char buf[1024];
    fputs("<table class=\"kv\">\n", f);
    long k = (long)json_integer_value(json_object_get(cell, "failures"));
    long n = (long)json_integer_value(json_object_get(cell, "trials"));
    interval_format(buf, sizeof buf, k, n);
    char line[1200];
    snprintf(line, sizeof line, "%ld of %ld trials: %s", k, n, buf);
    row(f, "failures", line);
    report_counts(buf, sizeof buf, json_object_get(cell, "outcomes"), false);
    row(f, "outcomes", buf);
    report_counts(buf, sizeof buf, json_object_get(json_object_get(cell, "requests"), "outcomes"),
                  false);
    if (json_object_get(json_object_get(cell, "requests"), "outcomes"))
        row(f, "requests", buf);
    if (json_is_string(json_object_get(cell, "capture")) ||
        json_object_get(cell, "capture_removed")) { /* --keep failing: counted, then removed */
        report_counts(buf, sizeof buf, json_object_get(cell, "rst"), false);
        row(f, "RST per hop", buf);
        report_counts(buf, sizeof buf, json_object_get(cell, "trials_with_rst"), false);
        row(f, "trials with an RST", buf);
    } else {
        row(f, "RST per hop", "(no capture)");
    }
    if (json_is_true(json_object_get(cell, "access_log"))) {
        report_counts(buf, sizeof buf, json_object_get(cell, "proxy_flags"), false);
        row(f, "proxy flags", buf);
    }
    const json_t *tp = json_object_get(cell, "throughput_rps");
    if (json_is_number(tp)) {
        snprintf(buf, sizeof buf, "%g requests/s", json_number_value(tp));
        row(f, "throughput", buf);
    }
    if (json_is_string(json_object_get(cell, "verdict")))
        row(f, "verdict", json_string_value(json_object_get(cell, "verdict")));
    fputs("</table>\n", f);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p50/p90/p99 of results.json and the histogram of the client's records (every request with a
 * start and an end, as metrics counts them). */
static void latency(struct rh *h, const json_t *cell, const json_t *records)
{
    FILE *f = h->f;
    const json_t *lat = json_object_get(cell, "latency_ms");
    fputs("<h4>Latency</h4>\n<p>", f);
    static const char *const keys[] = {"p50", "p90", "p99", "mean", "max"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (json_is_number(json_object_get(lat, keys[k])))
            fprintf(f, "%s<b>%s</b> %.2f ms", k ? " &middot; " : "", keys[k],
                    json_number_value(json_object_get(lat, keys[k])));
    fputs("</p>\n", f);
    size_t n = 0, i;
    double *ms = calloc(json_array_size(records) + 1, sizeof *ms);
    const json_t *r;
    json_array_foreach(records, i, r)
    {
        const char *type = json_string_value(json_object_get(r, "type"));
        json_int_t s = json_integer_value(json_object_get(r, "start_us"));
        json_int_t e = json_integer_value(json_object_get(r, "end_us"));
        if (ms && (!type || strcmp(type, "request") == 0) &&
            json_is_string(json_object_get(r, "outcome")) &&
            json_is_integer(json_object_get(r, "trial")) && s && e >= s)
            ms[n++] = (double)(e - s) / 1000.0;
    }
    if (n > 1)
        qsort(ms, n, sizeof *ms, dbl_cmp);
    rh_histogram(f, ms, n, lat);
    free(ms);
}

static void expectations(struct rh *h, const json_t *cell)
{
    FILE *f = h->f;
    const json_t *checks = json_object_get(json_object_get(cell, "expect"), "checks"), *ck;
    const char *file = json_string_value(json_object_get(cell, "scenario_file"));
    size_t i;
    fputs("<h4>Expectations</h4>\n", f);
    if (json_array_size(checks) == 0) {
        fputs("<p>None were checked.</p>\n", f);
        return;
    }
    fputs("<table class=\"checks\"><tr><th>state</th><th>where</th><th>check</th><th>got</th>"
          "<th>why</th></tr>\n",
          f);
    json_array_foreach(checks, i, ck)
    {
        const char *state = json_string_value(json_object_get(ck, "state"));
        fprintf(f, "<tr class=\"%s\"><td>",
                state && strcmp(state, "passed") == 0   ? "pass"
                : state && strcmp(state, "failed") == 0 ? "fail"
                                                        : "skip");
        rh_esc(f,
               state ? state : (json_is_true(json_object_get(ck, "passed")) ? "passed" : "failed"));
        fputs("</td><td class=\"where\">", f);
        rh_esc(f, file ? file : "(scenario file)");
        if (json_is_integer(json_object_get(ck, "line")))
            fprintf(f, ":%lld", json_integer_value(json_object_get(ck, "line")));
        fputs("</td><td>", f);
        rh_esc(f, json_string_value(json_object_get(ck, "check")));
        fputs("</td><td>", f);
        if (json_is_number(json_object_get(ck, "value")))
            fprintf(f, "%g", json_number_value(json_object_get(ck, "value")));
        fputs("</td><td>", f);
        rh_esc(f, json_string_value(json_object_get(ck, "why")));
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void sent_table(FILE *f, const struct explain_model *m)
{
    fputs("<table class=\"sent\"><tr><th>sent (as drawn)</th><th>SYN</th><th>FIN</th><th>RST</th>"
          "<th>RST after late data</th><th>abortive RST</th><th>data packets</th><th>bytes</th>"
          "<th>data after peer FIN</th></tr>\n",
          f);
    for (size_t k = 0; k < m->nsent; k++) {
        const struct analysis_dir *d = &m->sent[k].d;
        char name[96];
        explain_sent_name(name, sizeof name, m, &m->sent[k]);
        fputs("<tr><th>", f);
        rh_esc(f, name);
        fprintf(f,
                "</th><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td>"
                "<td>%llu</td><td>%llu</td><td>%llu</td></tr>\n",
                (unsigned long long)d->syn, (unsigned long long)d->fin, (unsigned long long)d->rst,
                (unsigned long long)d->rst_after_data, (unsigned long long)d->rst_abort,
                (unsigned long long)d->data_packets, (unsigned long long)d->data_bytes,
                (unsigned long long)d->data_after_fin);
    }
    fputs("</table>\n", f);
}

/* The failing trial racelab repro would draw, through the same selection and model. */
static void failing_trial(struct rh *h, const json_t *cell, const char *folder,
                          const json_t *records)
{
    FILE *f = h->f;
    const json_t *pick = metrics_failing_pick(cell);
    const char *cap = json_string_value(json_object_get(cell, "capture"));
    if (!pick)
        return;
    long trial = (long)json_integer_value(json_object_get(pick, "trial"));
    fprintf(f, "<h4>One failing trial</h4>\n<p>Trial %ld, outcome <b>", trial);
    rh_esc(f, json_string_value(json_object_get(pick, "outcome")));
    fprintf(f,
            "</b>, downstream port %lld: its connections on every hop, as <code>racelab "
            "repro</code> draws them (pure ACKs hidden; red notes: where the race happens).</p>\n",
            json_integer_value(json_object_get(pick, "lport")));
    if (!cap) {
        fputs("<p>(nothing was captured in this run)</p>\n", f);
        return;
    }
    const char *base = strrchr(cap, '/');
    char dir[PATH_MAX * 2], pcap[PATH_MAX * 3], err[512] = "";
    snprintf(dir, sizeof dir, "%s/%s", h->run_dir, folder);
    snprintf(pcap, sizeof pcap, "%s/%s", dir, base ? base + 1 : cap);
    struct analysis_hop hops[8];
    int nh = explain_read_hops(pcap, hops, 8, err, sizeof err);
    const char *nodes[9];
    size_t nnodes = 0, nsel = 0;
    for (int i = 0; i < nh; i++) {
        if (i == 0)
            nodes[nnodes++] = hops[0].client;
        nodes[nnodes++] = hops[i].server;
    }
    uint64_t from = 0, to = 0;
    struct explain_flow_sel *sel =
        nh > 0 ? metrics_trial_select(dir, nodes, nnodes,
                                      json_is_true(json_object_get(cell, "access_log")), records,
                                      trial, &nsel, &from, &to)
               : NULL;
    struct explain_model m;
    if (nh <= 0)
        fprintf(f, "<p>(cannot draw it: %s)</p>\n",
                nh < 0 ? err : "no .hops file next to the capture");
    else if (!sel)
        fprintf(f, "<p>(cannot draw it: the client recorded no connection for trial %ld)</p>\n",
                trial);
    else if (explain_model_flows(&m, pcap, hops, (size_t)nh, sel, nsel, from, to, err,
                                 sizeof err) != 0) {
        fputs("<p>(cannot draw it: ", f);
        rh_esc(f, err);
        fputs(")</p>\n", f);
    } else {
        fputs("<div class=\"seqbox\">\n", f);
        rh_sequence_svg(f, &m);
        fputs("</div>\n", f);
        sent_table(f, &m);
        explain_model_free(&m);
    }
    free(sel);
    if (nh > 0)
        explain_hops_free(hops, (size_t)nh);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A path in an href: every byte but [A-Za-z0-9-._~/] as %XX. */
static void href(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~/", c))
            fputc(c, f);
        else
            fprintf(f, "%%%02X", c);
    }
}

/* Every file of the cell's folder, sorted, linked relative to the report. */
static void files(struct rh *h, const char *folder)
{
    FILE *f = h->f;
    char dir[PATH_MAX * 2], path[PATH_MAX * 3];
    snprintf(dir, sizeof dir, "%s/%s", h->run_dir, folder);
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            char **v = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *v);
            if (!v)
                break;
            names = v;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    if (d)
        closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, name_cmp);
    fputs("<h4>Files</h4>\n<p class=\"files\">", f);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        fputs("<a href=\"", f);
        href(f, h->link);
        href(f, folder);
        fputc('/', f);
        href(f, names[i]);
        fputs("\">", f);
        rh_esc(f, names[i]);
        fprintf(f, "</a> <small>(%lld B)</small> ",
                stat(path, &st) == 0 ? (long long)st.st_size : 0LL);
        free(names[i]);
    }
    if (!n)
        fputs("(none)", f);
    fputs("</p>\n", f);
    free(names);
}

void rh_cell(struct rh *h, size_t index, const json_t *cell)
{
    FILE *f = h->f;
    char anchor[256], folder[PATH_MAX];
    enum report_status st = rh_status(cell);
    rh_anchor(anchor, sizeof anchor, index, cell);
    fprintf(f, "<section class=\"detail\" id=\"%s\">\n<h3>", anchor);
    rh_esc(f, json_string_value(json_object_get(cell, "scenario")));
    fputs(" &times; ", f);
    rh_esc(f, json_string_value(json_object_get(cell, "mitigation")));
    if (h->kinds) {
        fputs(" <small>(", f);
        rh_esc(f, rh_kind(h->res, cell));
        fputs(")</small>", f);
    }
    fprintf(f, " <span class=\"badge %s\">%s</span></h3>\n", rh_status_class(st),
            report_status_word(st));
    bool has_folder = rh_cell_folder(h, cell, folder, sizeof folder);
    /* no trial ran: an error, or a skipped or unsupported cell ("failures": 0) */
    if (!json_is_integer(json_object_get(cell, "failures")) || st == REPORT_SKIPPED ||
        st == REPORT_UNSUPPORTED) {
        const char *key = st == REPORT_SKIPPED       ? "skipped"
                          : st == REPORT_UNSUPPORTED ? "unsupported"
                                                     : "error";
        fputs("<p class=\"why\">Not run: ", f);
        rh_esc(f, json_string_value(json_object_get(cell, key)));
        fputs("</p>\n", f);
    } else {
        json_t *records = NULL;
        char path[PATH_MAX * 3], err[256];
        snprintf(path, sizeof path, "%s/%s/downstream.jsonl", h->run_dir, folder);
        if (has_folder)
            records = run_read_jsonl(path, err, sizeof err);
        numbers(h, cell);
        latency(h, cell, records);
        expectations(h, cell);
        if (has_folder)
            failing_trial(h, cell, folder, records);
        json_decref(records);
    }
    if (has_folder)
        files(h, folder);
    fputs("<p class=\"up\"><a href=\"#matrix\">&uarr; matrix</a></p>\n</section>\n", f);
}
