/* junit — junit.xml of a run: one testsuite per scenario, one testcase per cell, in the order of
 * the suite's cells. A cell's status is report_status's: <skipped> (not run), <error> (it could
 * not complete), <failure> (its failed checks with file:line), or none (passed); its
 * <system-out> has its outcomes, RSTs, capture and log folder. */
#ifndef RACELAB_JUNIT_H
#define RACELAB_JUNIT_H

#include <stdio.h>

#include "suite.h"

/* Writes junit.xml of su to path. Returns 0, or -1 when it cannot be written. */
int report_junit(const struct suite *su, const char *path);

/* s as XML or HTML text (junit.xml, report.html): & < > " ' escaped, control characters other
 * than newline and tab (which XML 1.0 cannot carry) written as '?'. NULL writes nothing. */
void report_xml_escape(FILE *f, const char *s);

#endif
