/* report_html — report.html of a run folder: one self-contained page (inline CSS and SVG, no
 * script, nothing fetched: a Content-Security-Policy forbids it) made from the folder's
 * results.json and the files of its cells (client records, capture, logs) only, so that any
 * command that leaves a run folder can write it again (racelab report, racelab merge).
 *
 * The page: the matrix of cells (scenario × mitigation, × proxy kind when the cells carry
 * several) coloured by failure rate; for every sweep the failure rate against the gap, one line
 * per mitigation with its 95% Wilson band; per cell its latency (p50/p90/p99, a histogram), its
 * outcomes, its expectations with file:line and state, one failing trial's sequence diagram
 * (the model racelab explain prints, explain.h) and links to its capture and logs; the run's
 * facts (results.json "facts"). docs/report.md is a tour of it. */
#ifndef RACELAB_REPORT_HTML_H
#define RACELAB_REPORT_HTML_H

#include <stddef.h>

/* Writes the report of run_dir (a folder holding results.json) to out_path, or to
 * run_dir/report.html when out_path is NULL; links to the cells' files are relative to where it
 * is written. The same folder gives the same bytes. The file is written whole or not at all (a
 * temporary file renamed). Returns 0, or -1 with err naming the file (results.json missing or
 * not a racelab results.json, the output not writable). */
int report_html_write(const char *run_dir, const char *out_path, char *err, size_t errlen);

#endif
