/* report_html_svg — what the parts of report.html share: HTML escaping, a cell's status, anchor,
 * kind, colour and folder, chart axes, and the sequence diagram of explain's model as SVG. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "expect.h"
#include "junit.h" /* report_xml_escape */
#include "report_html_internal.h"

void rh_esc(FILE *f, const char *s)
{
    report_xml_escape(f, s);
}

void rh_escf(FILE *f, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    rh_esc(f, buf);
}

enum report_status rh_status(const json_t *cell)
{
    if (json_object_get(cell, "unsupported"))
        return REPORT_UNSUPPORTED;
    if (json_object_get(cell, "skipped"))
        return REPORT_SKIPPED;
    if (json_object_get(cell, "error"))
        return REPORT_ERROR;
    bool passed = json_is_true(json_object_get(json_object_get(cell, "expect"), "passed"));
    if (passed && expect_measured(cell))
        return REPORT_MEASURED;
    return passed ? REPORT_PASSED : REPORT_FAILED;
}

const char *rh_status_class(enum report_status st)
{
    static const char *const cls[] = {"pass", "fail", "error", "skip", "unsupported", "measured"};
    return (size_t)st < sizeof cls / sizeof cls[0] ? cls[st] : "error";
}

static size_t sanitize(char *out, size_t len, const char *s)
{
    size_t n = 0;
    for (; s && *s && n + 1 < len; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
    return n;
}

void rh_anchor(char *buf, size_t len, size_t index, const json_t *cell)
{
    char s[96], m[96];
    sanitize(s, sizeof s, json_string_value(json_object_get(cell, "scenario")));
    sanitize(m, sizeof m, json_string_value(json_object_get(cell, "mitigation")));
    snprintf(buf, len, "c%zu-%s-%s", index, s, m);
}

const char *rh_kind(const json_t *res, const json_t *cell)
{
    const json_t *k = json_object_get(cell, "proxy_kind");
    if (json_is_string(k))
        return json_string_value(k);
    if (json_is_string(json_object_get(k, "kind")))
        return json_string_value(json_object_get(k, "kind"));
    k = json_object_get(json_object_get(res, "proxy_kind"), "kind");
    return json_is_string(k) ? json_string_value(k) : "racelab";
}

void rh_rate_colour(char *buf, size_t len, double rate)
{
    if (rate <= 0) {
        snprintf(buf, len, "#d4efd4");
        return;
    }
    if (rate > 1)
        rate = 1;
    /* any failure is yellow or redder; the hue falls with the rate */
    snprintf(buf, len, "hsl(%.0f,85%%,%.0f%%)", 50.0 * (1.0 - sqrt(rate)), 82.0 - 22.0 * rate);
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

bool rh_cell_folder(const struct rh *h, const json_t *cell, char *buf, size_t len)
{
    const char *dir = json_string_value(json_object_get(cell, "dir"));
    char path[PATH_MAX * 2];
    for (const char *p = dir; p && *p;) {
        while (*p == '/')
            p++;
        if (*p && strcmp(p, ".") != 0 && strncmp(p, "./", 2) != 0 && !strstr(p, "..")) {
            snprintf(path, sizeof path, "%s/%s", h->run_dir, p);
            if (is_dir(path) && strlen(p) < len) {
                snprintf(buf, len, "%s", p);
                return true;
            }
        }
        p = strchr(p, '/');
    }
    /* a folder moved since: the run's own layout */
    snprintf(buf, len, "%s/%s", json_string_value(json_object_get(cell, "scenario")),
             json_string_value(json_object_get(cell, "mitigation")));
    snprintf(path, sizeof path, "%s/%s", h->run_dir, buf);
    return json_is_string(json_object_get(cell, "scenario")) &&
           json_is_string(json_object_get(cell, "mitigation")) && !strstr(buf, "..") &&
           is_dir(path);
}

/* ---------------------------------------------------------------- charts */

double rh_px(const struct rh_plot *p, double x)
{
    double span = p->x1 - p->x0;
    return p->x + (span > 0 ? (x - p->x0) / span : 0.5) * p->w;
}

double rh_py(const struct rh_plot *p, double y)
{
    double span = p->y1 - p->y0;
    return p->y + p->h - (span > 0 ? (y - p->y0) / span : 0) * p->h;
}

double rh_nice(double v)
{
    if (!(v > 0))
        return 1;
    double e = pow(10, floor(log10(v)));
    for (int k = 0; k < 3; k++) {
        static const double m[] = {1, 2, 5};
        if (m[k] * e >= v - 1e-9)
            return m[k] * e;
    }
    return 10 * e;
}

void rh_axes(FILE *f, const struct rh_plot *p, int nx, const char *xfmt, bool pct,
             const char *xtitle, const char *ytitle)
{
    fprintf(f,
            "<g class=\"axis\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            p->x, p->y + p->h, p->x + p->w, p->y + p->h, p->x, p->y, p->x, p->y + p->h);
    /* ticks at multiples of a round step (1, 2, 5 × 10^k) */
    double step = rh_nice((p->x1 - p->x0) / (nx > 0 ? nx : 1));
    for (double v = ceil(p->x0 / step - 1e-9) * step; v <= p->x1 + step * 1e-6; v += step) {
        double x = rh_px(p, v);
        char lab[32];
        snprintf(lab, sizeof lab, xfmt, fabs(v) < step * 1e-6 ? 0.0 : v);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                x, p->y + p->h, x, p->y + p->h + 4, x, p->y + p->h + 16, lab);
    }
    for (int i = 0; i <= 4; i++) {
        double v = p->y0 + (p->y1 - p->y0) * i / 4, y = rh_py(p, v);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                p->x, y, p->x + p->w, y, p->x - 5, y + 4);
        if (pct)
            fprintf(f, "%g%%", round(v * 1000) / 10);
        else
            fprintf(f, "%g", v);
        fputs("</text>\n", f);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p->x + p->w / 2,
            p->y + p->h + 32);
    rh_esc(f, xtitle);
    fprintf(f,
            "</text><text transform=\"translate(12 %.1f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            p->y + p->h / 2);
    rh_esc(f, ytitle);
    fputs("</text></g>\n", f);
}

/* ---------------------------------------------------------------- sequence diagram */

#define SEQ_LEFT    120 /* the time column, then the first side */
#define SEQ_STEP    240 /* between two sides */
#define SEQ_ROW     24
#define SEQ_NOTE    16
#define SEQ_TOP     44
#define SEQ_MAXROWS 400 /* more is not a picture any more: racelab explain has them all */

static const char *row_colour(const struct explain_row *r)
{
    if (r->flags & 0x04)
        return "#c0392b"; /* RST */
    if (r->flags & 0x01)
        return "#d35400"; /* FIN */
    if (r->flags & 0x02)
        return "#7f8c8d"; /* SYN */
    return "#2c6fbb";
}

static double seq_height(const struct explain_model *m, size_t nrows)
{
    double y = SEQ_TOP;
    for (size_t i = 0; i < nrows; i++) {
        const char *notes[EXPLAIN_MAX_NOTES];
        y += SEQ_ROW +
             SEQ_NOTE * (double)explain_note_texts(m->rows[i].notes, m->rows[i].from_client, notes);
    }
    return y + (nrows < m->nrows ? SEQ_ROW : 0) + 12;
}

static void seq_row(FILE *f, const struct explain_row *r, double y)
{
    double a = SEQ_LEFT + (double)r->from * SEQ_STEP, b = SEQ_LEFT + (double)r->to * SEQ_STEP;
    double dir = b > a ? 1 : -1, tip = b - dir * 2;
    const char *c = row_colour(r);
    char label[64];
    explain_row_label(label, sizeof label, r);
    fprintf(f,
            "<text class=\"t\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>"
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"%s\"/>"
            "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"/>"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\">",
            SEQ_LEFT - 10, y + 4, (double)r->t_us / 1000.0, a, y, tip - dir * 8, y, c,
            r->packets > 1 ? "3" : "1.5", tip, y, tip - dir * 9, y - 4, tip - dir * 9, y + 4, c,
            (a + b) / 2, y - 4, c);
    rh_esc(f, label);
    fprintf(f, "</text>\n");
}

void rh_sequence_svg(FILE *f, const struct explain_model *m)
{
    size_t nrows = m->nrows < SEQ_MAXROWS ? m->nrows : SEQ_MAXROWS;
    double width = SEQ_LEFT + (double)(m->nsides ? m->nsides - 1 : 0) * SEQ_STEP + 190;
    double height = seq_height(m, nrows);
    fprintf(f,
            "<svg class=\"seq\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n"
            "<text class=\"t\" x=\"%d\" y=\"36\" text-anchor=\"end\">time ms</text>\n",
            width, height, width, height, SEQ_LEFT - 10);
    for (size_t i = 0; i < m->nsides; i++) {
        double x = SEQ_LEFT + (double)i * SEQ_STEP;
        fprintf(f, "<text class=\"side\" x=\"%.1f\" y=\"16\" text-anchor=\"middle\">", x);
        rh_esc(f, m->side[i]);
        fprintf(f, "</text><line class=\"life\" x1=\"%.1f\" y1=\"24\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                x, x, height - 6);
    }
    double tag = SEQ_LEFT + (double)(m->nsides ? m->nsides - 1 : 0) * SEQ_STEP + 14;
    fprintf(f, "<text class=\"t\" x=\"%.1f\" y=\"36\">port</text>\n", tag);
    double y = SEQ_TOP;
    for (size_t i = 0; i < nrows; i++) {
        const struct explain_row *r = &m->rows[i];
        y += SEQ_ROW - 6;
        seq_row(f, r, y);
        fprintf(f, "<text class=\"t\" x=\"%.1f\" y=\"%.1f\">:%u</text>\n", tag, y + 4, r->port);
        const char *notes[EXPLAIN_MAX_NOTES];
        size_t nn = explain_note_texts(r->notes, r->from_client, notes);
        double x = SEQ_LEFT + (double)(r->from < r->to ? r->from : r->to) * SEQ_STEP + 8;
        for (size_t k = 0; k < nn; k++) {
            y += SEQ_NOTE;
            fprintf(f, "<text class=\"note\" x=\"%.1f\" y=\"%.1f\">&#9650; ", x, y + 2);
            rh_esc(f, notes[k]);
            fputs("</text>\n", f);
        }
        y += 6;
    }
    if (nrows < m->nrows)
        fprintf(f,
                "<text class=\"t\" x=\"%d\" y=\"%.1f\">… %zu more lines: racelab explain "
                "draws them all</text>\n",
                SEQ_LEFT, y + SEQ_ROW - 6, m->nrows - nrows);
    fputs("</svg>\n", f);
}
