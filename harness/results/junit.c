#include "junit.h"

#include <stdio.h>

#include "expect.h"
#include "report.h"

void report_xml_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

/* report_each_check emitters: a failed check's line ends with a newline, a skipped one's
 * follows the line before it. */
static void xml_line_then_newline(void *f, const char *line)
{
    report_xml_escape(f, line);
    fputc('\n', f);
}

static void newline_then_xml_line(void *f, const char *line)
{
    fputc('\n', f);
    report_xml_escape(f, line);
}

/* The counts of a testsuite (or of all of them): cells per status, and their time. */
struct tally {
    size_t n, failures, errors, skipped;
    double time;
};

/* --repeat: a cell whose verdict does not fail, but one of whose repetitions did: it fails the
 * run (the exit status), and junit.xml says so with a <failure>. */
static bool flaky(const struct suite_cell *sc)
{
    enum report_status st = report_status(sc);
    return sc->reps > 1 && !sc->passed && st != REPORT_FAILED && st != REPORT_ERROR;
}

/* "rep-1 PASS, rep-2 FAIL, ..." */
static void write_reps(FILE *f, const struct suite_cell *sc)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(json_object_get(sc->result, "repeat"), "repetitions"), i, r)
    {
        fprintf(f, "%srep-%lld ", i ? ", " : "",
                (long long)json_integer_value(json_object_get(r, "rep")));
        report_xml_escape(f, json_string_value(json_object_get(r, "status")));
    }
}

static void tally_add(struct tally *t, const struct suite_cell *sc)
{
    enum report_status st = report_status(sc);
    t->n++;
    t->failures += st == REPORT_FAILED || flaky(sc);
    t->errors += st == REPORT_ERROR;
    t->skipped += st == REPORT_SKIPPED || st == REPORT_UNSUPPORTED;
    t->time += json_number_value(json_object_get(sc->result, "wall_s"));
}

/* The element that says what became of the cell (none when it passed). */
static void write_status(FILE *f, const struct suite_cell *sc)
{
    const json_t *r = sc->result;
    enum report_status st = report_status(sc);
    if (st == REPORT_SKIPPED) {
        fprintf(f, "      <skipped message=\"");
        report_xml_escape(f, json_string_value(json_object_get(r, "skipped")));
        fprintf(f, "\"/>\n");
    } else if (st == REPORT_UNSUPPORTED) {
        /* JUnit has no word of its own for it: a skipped test that says so */
        fprintf(f, "      <skipped message=\"unsupported: ");
        report_xml_escape(f, json_string_value(json_object_get(r, "unsupported")));
        fprintf(f, "\"/>\n");
    } else if (st == REPORT_ERROR) {
        const char *err = json_string_value(json_object_get(r, "error"));
        fprintf(f, "      <error message=\"");
        report_xml_escape(f, err);
        fprintf(f, "\">");
        report_xml_escape(f, err);
        fprintf(f, "</error>\n");
    } else if (st == REPORT_FAILED) {
        fprintf(f, "      <failure message=\"expectations failed\">");
        report_each_check(r, sc->cell.s->path, EXPECT_FAILED, xml_line_then_newline, f);
        fprintf(f, "</failure>\n");
    } else if (flaky(sc)) {
        fprintf(f,
                "      <failure message=\"flaky: %zu of %ld repetitions disagree with the "
                "verdict %s\">",
                sc->disagree, sc->reps, report_status_word(st));
        write_reps(f, sc);
        fprintf(f, "</failure>\n");
    }
}

static void write_system_out(FILE *f, const struct suite_cell *sc)
{
    const json_t *r = sc->result;
    char oc[256], rs[256];
    report_counts(oc, sizeof(oc), json_object_get(r, "outcomes"), false);
    report_counts(rs, sizeof(rs), json_object_get(r, "rst"), false);
    fprintf(f, "      <system-out>");
    if (report_status(sc) == REPORT_MEASURED) {
        /* not a pass against expectations: what the proxy kind did, in words */
        fprintf(f, "measured with ");
        report_xml_escape(f,
                          json_string_value(json_object_get(json_object_get(r, "expect"), "kind")));
        fprintf(f, ": ");
        report_xml_escape(f, json_string_value(json_object_get(r, "verdict")));
        fprintf(f, "\n");
    }
    fprintf(f, "outcomes: ");
    report_xml_escape(f, oc);
    fprintf(f, "\nrst: ");
    report_xml_escape(f, rs);
    fprintf(f, "\ncapture: ");
    report_xml_escape(f, json_string_value(json_object_get(r, "capture")));
    fprintf(f, "\nlogs: ");
    report_xml_escape(f, json_string_value(json_object_get(r, "dir")));
    if (sc->reps > 1) {
        fprintf(f, "\nrepetitions (%zu of %ld disagree with the verdict): ", sc->disagree,
                sc->reps);
        write_reps(f, sc);
    }
    if (report_checks(r, EXPECT_SKIPPED)) {
        fprintf(f, "\nchecks skipped (not observable in this run):");
        report_each_check(r, sc->cell.s->path, EXPECT_SKIPPED, newline_then_xml_line, f);
    }
    fprintf(f, "</system-out>\n");
}

/* A cell with skipped checks passes or fails on the others; the property says that some of its
 * expectations were not observed. */
static void write_properties(FILE *f, const struct suite_cell *sc)
{
    size_t skipped = report_checks(sc->result, EXPECT_SKIPPED);
    if (!skipped)
        return;
    fprintf(f,
            "      <properties>\n        <property name=\"checks_skipped\" value=\"%zu\"/>\n"
            "      </properties>\n",
            skipped);
}

static void write_testcase(FILE *f, const struct suite_cell *sc)
{
    fprintf(f, "    <testcase classname=\"racelab.");
    report_xml_escape(f, sc->cell.s->name);
    fprintf(f, "\" name=\"");
    report_xml_escape(f, sc->cell.m->name);
    fprintf(f, "\" time=\"%.3f\">\n", json_number_value(json_object_get(sc->result, "wall_s")));
    write_properties(f, sc);
    write_status(f, sc);
    write_system_out(f, sc);
    fprintf(f, "    </testcase>\n");
}

/* The testsuite of the scenario of cell i: the cells from i on that share its scenario.
 * Returns the index of the first cell after them. */
static size_t write_testsuite(FILE *f, const struct suite *su, size_t i)
{
    const struct scenario *s = su->cells[i].cell.s;
    struct tally t = {0};
    size_t end = i;
    for (; end < su->n && su->cells[end].cell.s == s; end++)
        tally_add(&t, &su->cells[end]);
    fprintf(f, "  <testsuite name=\"");
    report_xml_escape(f, s->name);
    fprintf(f,
            "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" "
            "time=\"%.3f\">\n",
            t.n, t.failures, t.errors, t.skipped, t.time);
    for (size_t j = i; j < end; j++)
        write_testcase(f, &su->cells[j]);
    fprintf(f, "  </testsuite>\n");
    return end;
}

int report_junit(const struct suite *su, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    struct tally all = {0};
    for (size_t i = 0; i < su->n; i++)
        tally_add(&all, &su->cells[i]);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f,
            "<testsuites name=\"racelab\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
            "skipped=\"%zu\" time=\"%.3f\">\n",
            all.n, all.failures, all.errors, all.skipped, su->wall_s);
    for (size_t i = 0; i < su->n;)
        i = write_testsuite(f, su, i);
    fprintf(f, "</testsuites>\n");
    return fclose(f) == 0 ? 0 : -1;
}
