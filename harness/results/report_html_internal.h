/* report_html_internal — what the parts of report.html share: the page being written, HTML
 * escaping, a cell's anchor, folder and colour, SVG helpers. The parts: report_html.c (the page,
 * the run's facts), report_html_matrix.c, report_html_chart.c (sweeps, latency histogram),
 * report_html_cell.c (a cell's detail), report_html_svg.c (SVG, the sequence diagram). */
#ifndef RACELAB_REPORT_HTML_INTERNAL_H
#define RACELAB_REPORT_HTML_INTERNAL_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "explain.h"
#include "report.h"

/* The page being written. */
struct rh {
    FILE *f;
    const char *run_dir;
    char link[PATH_MAX]; /* from the report's folder to run_dir ("" when the same), ends in '/' */
    const json_t *res;   /* results.json */
    const json_t *cells; /* its "cells" */
    bool kinds;          /* the cells carry more than one proxy kind */
};

/* ---- report_html_svg.c ---- */

/* s HTML-escaped (& < > " '); NULL as "". */
void rh_esc(FILE *f, const char *s);
/* printf into the page, then the text of fmt's %s escaped: rh_escf(f, "%s × %s", a, b). */
void rh_escf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The status of a cell from its object in results.json (report_status's words). */
enum report_status rh_status(const json_t *cell);
/* "pass", "fail", ... for a CSS class */
const char *rh_status_class(enum report_status st);

/* The cell's anchor: "c<index>-<scenario>-<mitigation>" with every other byte than [A-Za-z0-9-_]
 * as '_'. */
void rh_anchor(char *buf, size_t len, size_t index, const json_t *cell);

/* The proxy kind a cell ran with: its "proxy_kind" (a name or {"kind"}), else the run's, else
 * "racelab". */
const char *rh_kind(const json_t *res, const json_t *cell);

/* The background colour of a failure rate: green at 0, through yellow, to red at 1. */
void rh_rate_colour(char *buf, size_t len, double rate);

/* The cell's folder relative to run_dir (the longest tail of its "dir" that is a folder under
 * run_dir; "SCENARIO/MITIGATION" as the run writes it). false when none exists. */
bool rh_cell_folder(const struct rh *h, const json_t *cell, char *buf, size_t len);

/* x, y, w, h of a chart's plot area inside its SVG */
struct rh_plot {
    double x, y, w, h;
    double x0, x1, y0, y1; /* the data range */
};
double rh_px(const struct rh_plot *p, double x);
double rh_py(const struct rh_plot *p, double y);
/* Axes with ticks: n ticks on x (label format xfmt), y as percent when pct, with axis titles. */
void rh_axes(FILE *f, const struct rh_plot *p, int nx, const char *xfmt, bool pct,
             const char *xtitle, const char *ytitle);
/* A nice upper bound for an axis whose data reach v (1, 2, 5 × 10^k). */
double rh_nice(double v);

/* The sequence diagram of m as SVG (columns, arrows, race notes in red). */
void rh_sequence_svg(FILE *f, const struct explain_model *m);

/* ---- report_html_matrix.c ---- */

void rh_matrix(struct rh *h);

/* ---- report_html_chart.c ---- */

/* The race windows: one chart per swept scenario (× kind), one line per mitigation. */
void rh_sweeps(struct rh *h);
/* A histogram of n latencies (ms), with the p50/p90/p99 of lat marked. */
void rh_histogram(FILE *f, const double *ms, size_t n, const json_t *lat);

/* ---- report_html_cell.c ---- */

void rh_cell(struct rh *h, size_t index, const json_t *cell);

#endif
