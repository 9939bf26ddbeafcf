/* report_html_matrix — the matrix of report.html: one row per scenario (× proxy kind when the
 * cells carry several), its cells in the run's order, each coloured by its failure rate and
 * linking to its detail. */
#include <stdlib.h>
#include <string.h>

#include "interval.h"
#include "report_html_internal.h"

static bool same_row(const struct rh *h, const json_t *a, const json_t *b)
{
    const char *sa = json_string_value(json_object_get(a, "scenario"));
    const char *sb = json_string_value(json_object_get(b, "scenario"));
    return sa && sb && strcmp(sa, sb) == 0 &&
           (!h->kinds || strcmp(rh_kind(h->res, a), rh_kind(h->res, b)) == 0);
}

/* The rate with its 95% interval ("50.0% (40.4-59.6)", "< 3.7%"), or "-" when no trial ran. */
static void rate_text(char *buf, size_t len, const json_t *cell)
{
    if (json_is_integer(json_object_get(cell, "failures")))
        interval_format(buf, len, (long)json_integer_value(json_object_get(cell, "failures")),
                        (long)json_integer_value(json_object_get(cell, "trials")));
    else
        snprintf(buf, len, "-");
}

static void box(struct rh *h, size_t index, const json_t *cell)
{
    FILE *f = h->f;
    enum report_status st = rh_status(cell);
    /* a skipped or unsupported cell has "failures": 0 but ran no trial */
    bool ran = json_is_integer(json_object_get(cell, "failures")) && st != REPORT_SKIPPED &&
               st != REPORT_UNSUPPORTED;
    char anchor[256], colour[40], buf[1024];
    rh_anchor(anchor, sizeof anchor, index, cell);
    long long trials = json_integer_value(json_object_get(cell, "trials"));
    long long failures = json_integer_value(json_object_get(cell, "failures"));
    if (ran)
        rh_rate_colour(colour, sizeof colour, trials > 0 ? (double)failures / (double)trials : 0);
    else
        snprintf(colour, sizeof colour, "#e4e4e4");
    fprintf(f, "<td class=\"cell\" style=\"background:%s\"><a class=\"box\" href=\"#%s\">", colour,
            anchor);
    fputs("<span class=\"mit\">", f);
    rh_esc(f, json_string_value(json_object_get(cell, "mitigation")));
    fprintf(f, "</span> <span class=\"badge %s\">%s</span><br>\n", rh_status_class(st),
            report_status_word(st));
    if (ran) {
        rate_text(buf, sizeof buf, cell);
        fprintf(f, "<span class=\"rate\">");
        rh_esc(f, buf);
        fprintf(f, "</span> <span class=\"n\">%lld/%lld failed</span><br>\n", failures, trials);
        report_counts(buf, sizeof buf, json_object_get(cell, "outcomes"), false);
        fputs("<span class=\"kv\">outcomes ", f);
        rh_esc(f, buf);
        fputs("</span><br>\n<span class=\"kv\">RST ", f);
        /* --keep failing removes a passing cell's capture after its RSTs were counted */
        if (json_is_string(json_object_get(cell, "capture")) ||
            json_object_get(cell, "capture_removed"))
            report_counts(buf, sizeof buf, json_object_get(cell, "rst"), true);
        else
            snprintf(buf, sizeof buf, "(no capture)");
        rh_esc(f, buf);
        fputs("</span>", f);
    } else {
        const char *why = json_string_value(json_object_get(cell, "skipped"));
        if (!why)
            why = json_string_value(json_object_get(cell, "unsupported"));
        if (!why)
            why = json_string_value(json_object_get(cell, "error"));
        fprintf(f, "<span class=\"n\">%lld trials, not run</span><br><span class=\"kv why\">",
                trials);
        rh_esc(f, why);
        fputs("</span>", f);
    }
    fputs("</a></td>\n", f);
}

void rh_matrix(struct rh *h)
{
    FILE *f = h->f;
    size_t n = json_array_size(h->cells), width = 0;
    bool *done = calloc(n + 1, sizeof *done);
    fputs("<section id=\"matrix\">\n<h2>Matrix</h2>\n<p class=\"legend\">One row per scenario", f);
    if (h->kinds)
        fputs(" and proxy kind", f);
    char few[40], half[40], all[40];
    rh_rate_colour(few, sizeof few, 0.05);
    rh_rate_colour(half, sizeof half, 0.5);
    rh_rate_colour(all, sizeof all, 1);
    fprintf(f,
            ", one box per mitigation: the failure rate with its 95%% Wilson interval, "
            "failed/trials, the client's outcomes, RSTs per hop (d downstream, p proxy, u "
            "upstream), and the verdict of its expectations. Colour: the failure rate, "
            "<span class=\"sw\" style=\"background:#d4efd4\">none</span> "
            "<span class=\"sw\" style=\"background:%s\">5%%</span> "
            "<span class=\"sw\" style=\"background:%s\">50%%</span> "
            "<span class=\"sw\" style=\"background:%s\">100%%</span> "
            "<span class=\"sw\" style=\"background:#e4e4e4\">not run</span>. "
            "A box links to the cell's detail.</p>\n",
            few, half, all);
    for (size_t i = 0; done && i < n; i++) {
        size_t w = 0;
        for (size_t j = i; j < n; j++)
            w += same_row(h, json_array_get(h->cells, i), json_array_get(h->cells, j));
        if (w > width)
            width = w;
    }
    fprintf(f,
            "<table class=\"matrix\">\n<tr><th>scenario</th>%s<th colspan=\"%zu\">mitigations"
            "</th></tr>\n",
            h->kinds ? "<th>proxy</th>" : "", width ? width : 1);
    for (size_t i = 0; done && i < n; i++) {
        const json_t *c = json_array_get(h->cells, i);
        if (done[i])
            continue;
        fputs("<tr><th class=\"scn\">", f);
        rh_esc(f, json_string_value(json_object_get(c, "scenario")));
        fputs("</th>", f);
        if (h->kinds) {
            fputs("<th class=\"scn\">", f);
            rh_esc(f, rh_kind(h->res, c));
            fputs("</th>", f);
        }
        fputc('\n', f);
        for (size_t j = i; j < n; j++) {
            if (done[j] || !same_row(h, c, json_array_get(h->cells, j)))
                continue;
            done[j] = true;
            box(h, j, json_array_get(h->cells, j));
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n</section>\n", f);
    free(done);
}
