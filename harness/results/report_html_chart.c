/* report_html_chart — the charts of report.html: the race window of every sweep (failure rate
 * against the gap, one line per mitigation, its 95% Wilson band from results.json's
 * failure_rate_ci), and a cell's latency histogram with its percentiles. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interval.h"
#include "report_html_internal.h"

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                      "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
#define NPAL (sizeof palette / sizeof palette[0])

static bool swept(const json_t *cell)
{
    return json_array_size(json_object_get(cell, "sweep")) > 0;
}

static bool same_chart(const struct rh *h, const json_t *a, const json_t *b)
{
    const char *sa = json_string_value(json_object_get(a, "scenario"));
    const char *sb = json_string_value(json_object_get(b, "scenario"));
    return sa && sb && strcmp(sa, sb) == 0 &&
           (!h->kinds || strcmp(rh_kind(h->res, a), rh_kind(h->res, b)) == 0);
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* The band of one mitigation: its intervals' upper bounds left to right, lower ones back. */
static void band(FILE *f, const struct rh_plot *p, const json_t *sw, const char *colour)
{
    size_t k, n = json_array_size(sw);
    const json_t *g;
    fputs("<polygon fill-opacity=\"0.15\" stroke=\"none\" fill=\"", f);
    fputs(colour, f);
    fputs("\" points=\"", f);
    json_array_foreach(sw, k, g)
    {
        const json_t *ci = json_object_get(g, "failure_rate_ci");
        fprintf(f, "%.1f,%.1f ", rh_px(p, num(g, "gap_ms")),
                rh_py(p, json_number_value(json_array_get(ci, 1))));
    }
    for (k = n; k-- > 0;) {
        g = json_array_get(sw, k);
        const json_t *ci = json_object_get(g, "failure_rate_ci");
        fprintf(f, "%.1f,%.1f ", rh_px(p, num(g, "gap_ms")),
                rh_py(p, json_number_value(json_array_get(ci, 0))));
    }
    fputs("\"/>\n", f);
}

static void line(FILE *f, const struct rh_plot *p, const json_t *cell, const char *colour)
{
    const json_t *sw = json_object_get(cell, "sweep"), *g;
    size_t k;
    band(f, p, sw, colour);
    fprintf(f, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"%s\" points=\"", colour);
    json_array_foreach(sw, k, g)
        fprintf(f, "%.1f,%.1f ", rh_px(p, num(g, "gap_ms")), rh_py(p, num(g, "failure_rate")));
    fputs("\"/>\n", f);
    json_array_foreach(sw, k, g)
    {
        char ci[64];
        interval_format(ci, sizeof ci, (long)json_integer_value(json_object_get(g, "failures")),
                        (long)json_integer_value(json_object_get(g, "trials")));
        fprintf(f, "<circle r=\"3\" cx=\"%.1f\" cy=\"%.1f\" fill=\"%s\"><title>",
                rh_px(p, num(g, "gap_ms")), rh_py(p, num(g, "failure_rate")), colour);
        rh_esc(f, json_string_value(json_object_get(cell, "mitigation")));
        fprintf(f, ", gap %g ms: %lld/%lld failed, ", num(g, "gap_ms"),
                json_integer_value(json_object_get(g, "failures")),
                json_integer_value(json_object_get(g, "trials")));
        rh_esc(f, ci);
        fputs("</title></circle>\n", f);
    }
}

/* One chart: the swept cells of the row of cells[first]. */
static void chart(struct rh *h, size_t first)
{
    FILE *f = h->f;
    const json_t *c0 = json_array_get(h->cells, first), *c, *g;
    struct rh_plot p = {70, 16, 600, 220, INFINITY, -INFINITY, 0, 0};
    size_t i, k, nlines = 0;
    json_array_foreach(h->cells, i, c)
    {
        if (i < first || !swept(c) || !same_chart(h, c0, c))
            continue;
        json_array_foreach(json_object_get(c, "sweep"), k, g)
        {
            double x = num(g, "gap_ms");
            const json_t *ci = json_object_get(g, "failure_rate_ci");
            p.x0 = x < p.x0 ? x : p.x0;
            p.x1 = x > p.x1 ? x : p.x1;
            double hi = json_number_value(json_array_get(ci, 1));
            p.y1 = hi > p.y1 ? hi : p.y1;
        }
    }
    p.y1 = p.y1 > 0.5 ? 1 : rh_nice(p.y1 > 0 ? p.y1 : 0.05);
    if (!(p.x1 > p.x0))
        p.x1 = p.x0 + 1;
    fputs("<figure class=\"chart\"><figcaption>", f);
    rh_esc(f, json_string_value(json_object_get(c0, "scenario")));
    if (h->kinds) {
        fputs(" (", f);
        rh_esc(f, rh_kind(h->res, c0));
        fputs(")", f);
    }
    fputs(": failure rate against the gap</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
          "width=\"700\" height=\"290\" viewBox=\"0 0 700 290\" role=\"img\">\n",
          f);
    rh_axes(f, &p, 6, "%g", true, "gap before the reused request (ms)", "failure rate");
    json_array_foreach(h->cells, i, c)
    {
        if (i < first || !swept(c) || !same_chart(h, c0, c))
            continue;
        line(f, &p, c, palette[nlines++ % NPAL]);
    }
    fputs("</svg>\n<div class=\"keys\">", f);
    nlines = 0;
    json_array_foreach(h->cells, i, c)
    {
        if (i < first || !swept(c) || !same_chart(h, c0, c))
            continue;
        char anchor[256];
        rh_anchor(anchor, sizeof anchor, i, c);
        fprintf(f, "<a href=\"#%s\"><span class=\"key\" style=\"background:%s\"></span>", anchor,
                palette[nlines++ % NPAL]);
        rh_esc(f, json_string_value(json_object_get(c, "mitigation")));
        fputs("</a> ", f);
    }
    fputs("</div></figure>\n", f);
}

void rh_sweeps(struct rh *h)
{
    FILE *f = h->f;
    size_t n = json_array_size(h->cells), charts = 0;
    bool *done = calloc(n + 1, sizeof *done);
    fputs("<section id=\"sweeps\">\n<h2>Race windows</h2>\n<p class=\"legend\">For every "
          "scenario that sweeps the gap before a reused request: the failure rate at each gap, "
          "one line per mitigation, the shaded band its 95% Wilson interval (narrow bands need "
          "many trials per gap). Hover a point for its counts.</p>\n",
          f);
    for (size_t i = 0; done && i < n; i++) {
        const json_t *c = json_array_get(h->cells, i);
        if (done[i] || !swept(c))
            continue;
        for (size_t j = i; j < n; j++)
            if (same_chart(h, c, json_array_get(h->cells, j)))
                done[j] = true;
        chart(h, i);
        charts++;
    }
    if (!charts)
        fputs("<p>No scenario of this run sweeps a gap.</p>\n", f);
    fputs("</section>\n", f);
    free(done);
}

/* ---------------------------------------------------------------- latency histogram */

#define NBINS 40

void rh_histogram(FILE *f, const double *ms, size_t n, const json_t *lat)
{
    if (n == 0) {
        fputs("<p>No request latency was recorded.</p>\n", f);
        return;
    }
    double lo = ms[0], hi = ms[0];
    for (size_t i = 1; i < n; i++) {
        lo = ms[i] < lo ? ms[i] : lo;
        hi = ms[i] > hi ? ms[i] : hi;
    }
    struct rh_plot p = {70, 12, 560, 150, floor(lo), 0, 0, 0};
    p.x1 = p.x0 + rh_nice(hi - p.x0 > 0 ? hi - p.x0 : 1);
    size_t bins[NBINS] = {0}, top = 0;
    double w = (p.x1 - p.x0) / NBINS;
    for (size_t i = 0; i < n; i++) {
        size_t b = (size_t)((ms[i] - p.x0) / w);
        bins[b < NBINS ? b : NBINS - 1]++;
    }
    for (size_t b = 0; b < NBINS; b++)
        top = bins[b] > top ? bins[b] : top;
    p.y1 = rh_nice((double)top);
    fputs("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"660\" height=\"210\" "
          "viewBox=\"0 0 660 210\" role=\"img\">\n",
          f);
    rh_axes(f, &p, 5, "%g", false, "request latency (ms)", "requests");
    for (size_t b = 0; b < NBINS; b++) {
        if (!bins[b])
            continue;
        double x = rh_px(&p, p.x0 + w * (double)b), y = rh_py(&p, (double)bins[b]);
        fprintf(f,
                "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                "<title>%g-%g ms: %zu</title></rect>\n",
                x, y, p.w / NBINS - 1, p.y + p.h - y, p.x0 + w * (double)b,
                p.x0 + w * (double)(b + 1), bins[b]);
    }
    static const char *const pc[] = {"p50", "p90", "p99"};
    for (size_t k = 0; k < 3; k++) {
        const json_t *v = json_object_get(lat, pc[k]);
        if (!json_is_number(v))
            continue;
        double x = rh_px(&p, json_number_value(v));
        fprintf(f,
                "<line class=\"pct\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"pct\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                x, p.y, x, p.y + p.h, x + 2, p.y + 10 + 11 * (double)k, pc[k]);
    }
    fputs("</svg>\n", f);
}
