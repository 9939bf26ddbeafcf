/* report_html — report.html of a run folder (report_html.h): the page, its style, the run's
 * facts; the parts are in report_html_matrix.c, _chart.c, _cell.c and _svg.c. */
#include "report_html.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interval.h"
#include "report_html_internal.h"

static const char *const style =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 24px 40px;"
    "color:#1d2330;background:#fff}\n"
    "h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px "
    "solid #ccd}h3{font-size:16px;margin:26px 0 6px}h4{font-size:14px;margin:14px 0 4px}\n"
    "nav a{margin-right:14px}.legend{color:#444;max-width:1100px}\n"
    "table{border-collapse:collapse}th,td{text-align:left;vertical-align:top;padding:3px 8px}\n"
    "table.matrix td.cell{border:2px solid #fff;padding:0;min-width:170px}\n"
    "table.matrix th.scn{white-space:nowrap;padding-top:10px}\n"
    "a.box{display:block;padding:6px 8px;color:#1d2330;text-decoration:none;font-size:12px}\n"
    "a.box:hover{outline:2px solid #1d2330}.mit{font-weight:600;font-size:13px}\n"
    ".rate{font-weight:600}.n,.kv{color:#333}.why{color:#555}\n"
    ".badge{font-size:11px;font-weight:700;padding:1px 5px;border-radius:3px;color:#fff;"
    "background:#666}.badge.pass{background:#23803a}.badge.fail{background:#c0392b}"
    ".badge.error{background:#7d2a8c}.badge.measured{background:#2c6fbb}"
    ".badge.skip,.badge.unsupported{background:#888}\n"
    ".sw{padding:0 6px;border:1px solid #ccc}\n"
    "table.kv th{color:#555;font-weight:500}table.checks,table.sent,table.facts{font-size:13px}\n"
    "table.checks tr.fail td{background:#fbe3e0}table.checks tr.skip td{color:#777}\n"
    "table.checks td.where{font-family:monospace;white-space:nowrap}\n"
    "table.checks th,table.sent th,table.sent td{border-bottom:1px solid #e3e3ea}\n"
    "section.detail{border-top:1px solid #dde;padding-bottom:6px}\n"
    "figure.chart{display:inline-block;margin:8px 24px 8px 0}figcaption{font-weight:600}\n"
    ".keys a{margin-right:12px;text-decoration:none;color:#1d2330}.key{display:inline-block;"
    "width:14px;height:4px;margin-right:4px;vertical-align:middle}\n"
    "svg text{font:11px system-ui,sans-serif;fill:#333}.axis line{stroke:#555}"
    ".axis line.grid{stroke:#e6e6ee}\n"
    "rect.bar{fill:#6c8ebf}line.pct{stroke:#c0392b;stroke-dasharray:3 2}text.pct{fill:#c0392b}\n"
    ".seqbox{overflow-x:auto}svg.seq text.side{font-weight:700;font-size:12px}"
    "svg.seq line.life{stroke:#bbb;stroke-dasharray:4 3}svg.seq text.t{fill:#666;"
    "font-family:monospace}svg.seq text.note{fill:#c0392b;font-style:italic}\n"
    ".files a{font-family:monospace;margin-right:2px}.up{font-size:12px}\n"
    "code{background:#f3f3f7;padding:0 3px}\n";

/* The link prefix from the report's folder to run_dir: "" when the same folder, else a relative
 * path ending in '/' (both made absolute): "../run/" for a report written next to run/. */
static int link_prefix(struct rh *h, const char *out, char *err, size_t errlen)
{
    char od[PATH_MAX], rd[PATH_MAX], tmp[PATH_MAX];
    if (strlen(out) >= sizeof tmp) {
        snprintf(err, errlen, "%.200s...: path too long", out);
        return -1;
    }
    memcpy(tmp, out, strlen(out) + 1);
    char *slash = strrchr(tmp, '/');
    if (slash == tmp)
        tmp[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(tmp, sizeof tmp, ".");
    if (!realpath(tmp, od) || !realpath(h->run_dir, rd)) {
        snprintf(err, errlen, "%s: %s", realpath(tmp, od) ? h->run_dir : tmp, strerror(errno));
        return -1;
    }
    /* the common leading components */
    size_t i = 0, common = 0;
    while (od[i] && od[i] == rd[i]) {
        i++;
        if ((od[i] == '/' || !od[i]) && (rd[i] == '/' || !rd[i]))
            common = i;
    }
    size_t o = 0;
    h->link[0] = '\0';
    if (strcmp(od, "/") == 0)
        common = 0, od[0] = '\0';
    for (const char *p = od + common; *p; p++)
        if (*p == '/' && o + 4 < sizeof h->link)
            o += (size_t)snprintf(h->link + o, sizeof h->link - o, "../");
    const char *rest = rd + common;
    while (*rest == '/')
        rest++;
    if (*rest)
        snprintf(h->link + o, sizeof h->link - o, "%s/", rest);
    return 0;
}

static void fact(FILE *f, const char *key, const char *val)
{
    fputs("<tr><th>", f);
    rh_esc(f, key);
    fputs("</th><td>", f);
    rh_esc(f, val && *val ? val : "(not recorded)");
    fputs("</td></tr>\n", f);
}

static void facts(struct rh *h)
{
    FILE *f = h->f;
    const json_t *fa = json_object_get(h->res, "facts"), *c;
    char buf[256];
    size_t i;
    long long trials = 0;
    json_array_foreach(h->cells, i, c) trials += json_integer_value(json_object_get(c, "trials"));
    fputs("<section id=\"facts\">\n<h2>Run facts</h2>\n<table class=\"facts\">\n", f);
    fact(f, "run", json_string_value(json_object_get(h->res, "run_id")));
    fact(f, "racelab", json_string_value(json_object_get(fa, "racelab_version")));
    fact(f, "kernel", json_string_value(json_object_get(fa, "kernel")));
    fact(f, "libevent", json_string_value(json_object_get(fa, "libevent")));
    fact(f, "date", json_string_value(json_object_get(fa, "started")));
    snprintf(buf, sizeof buf, "%zu cells, %lld trials in all", json_array_size(h->cells), trials);
    fact(f, "trials", buf);
    snprintf(buf, sizeof buf, "%.1f s", json_number_value(json_object_get(h->res, "wall_s")));
    fact(f, "wall time", buf);
    fact(f, "command line", json_string_value(json_object_get(fa, "command")));
    fact(f, "working folder", json_string_value(json_object_get(fa, "cwd")));
    const json_t *k = json_object_get(h->res, "proxy_kind");
    if (k) {
        snprintf(buf, sizeof buf, "%s %s", json_string_value(json_object_get(k, "kind")),
                 json_is_string(json_object_get(k, "version"))
                     ? json_string_value(json_object_get(k, "version"))
                     : "");
        fact(f, "proxy kind", buf);
    }
    if (json_is_string(json_object_get(h->res, "proxy_cmd")))
        fact(f, "proxy command", json_string_value(json_object_get(h->res, "proxy_cmd")));
    fact(f, "network namespaces",
         json_is_true(json_object_get(h->res, "netns")) ? "yes" : "no (--no-netns)");
    fputs("</table>\n</section>\n", f);
}

static void page(struct rh *h)
{
    FILE *f = h->f;
    size_t n[REPORT_MEASURED + 1] = {0}, i;
    const json_t *c;
    json_array_foreach(h->cells, i, c) n[rh_status(c)]++;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    rh_escf(f, "racelab report %s", json_string_value(json_object_get(h->res, "run_id")));
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", style);
    rh_escf(f, "racelab report — run %s", json_string_value(json_object_get(h->res, "run_id")));
    fprintf(f, "</h1>\n<p class=\"summary\">%zu cells:", json_array_size(h->cells));
    for (int s = 0; s <= REPORT_MEASURED; s++)
        if (n[s])
            fprintf(f, " <span class=\"badge %s\">%zu %s</span>", rh_status_class(s), n[s],
                    report_status_word(s));
    fprintf(f,
            "%s</p>\n<nav><a href=\"#matrix\">Matrix</a><a href=\"#sweeps\">Race windows</a>"
            "<a href=\"#cells\">Cells</a><a href=\"#facts\">Run facts</a></nav>\n",
            json_is_true(json_object_get(h->res, "interrupted")) ? " (interrupted)" : "");
    rh_matrix(h);
    rh_sweeps(h);
    fputs("<section id=\"cells\">\n<h2>Cells</h2>\n", f);
    json_array_foreach(h->cells, i, c) rh_cell(h, i, c);
    fputs("</section>\n", f);
    facts(h);
    fputs("</body>\n</html>\n", f);
}

/* Whether the cells ran with more than one proxy kind. */
static bool several_kinds(const json_t *res, const json_t *cells)
{
    size_t i;
    const json_t *c;
    const char *first = NULL;
    json_array_foreach(cells, i, c)
    {
        const char *k = rh_kind(res, c);
        if (!first)
            first = k;
        else if (strcmp(first, k) != 0)
            return true;
    }
    return false;
}

int report_html_write(const char *run_dir, const char *out_path, char *err, size_t errlen)
{
    char path[PATH_MAX + 32], out[PATH_MAX + 32], tmp[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/results.json", run_dir);
    json_error_t je;
    json_t *res = json_load_file(path, 0, &je);
    if (!res) {
        if (je.line > 0)
            snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
        else
            snprintf(err, errlen, "%s", je.text);
        return -1;
    }
    struct rh h = {.run_dir = run_dir, .res = res, .cells = json_object_get(res, "cells")};
    int rc = -1;
    if (!json_is_array(h.cells)) {
        snprintf(err, errlen, "%s: not a racelab results.json (no \"cells\" array)", path);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(h.cells); i++) {
        const json_t *c = json_array_get(h.cells, i);
        if (!json_is_string(json_object_get(c, "scenario")) ||
            !json_is_string(json_object_get(c, "mitigation"))) {
            snprintf(err, errlen, "%s: cell %zu has no scenario or mitigation", path, i + 1);
            goto out;
        }
    }
    h.kinds = several_kinds(res, h.cells);
    snprintf(out, sizeof out, "%s", out_path ? out_path : "");
    if (!out_path)
        snprintf(out, sizeof out, "%s/report.html", run_dir);
    if (link_prefix(&h, out, err, errlen) != 0)
        goto out;
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long)getpid());
    h.f = fopen(tmp, "w");
    if (!h.f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    page(&h);
    bool bad = ferror(h.f) != 0;
    if (fclose(h.f) != 0 || bad || rename(tmp, out) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", out, strerror(errno ? errno : EIO));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    json_decref(res);
    return rc;
}
