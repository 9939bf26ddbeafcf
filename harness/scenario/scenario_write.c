/* scenario_write — a scenario written back as canonical YAML (`racelab check --print`): every
 * key, defaults filled in, values quoted; loading the output gives the same scenario. */
#include "scenario_internal.h"

#include <stdio.h>
#include <string.h>

#include "wire.h"

/* str as a YAML double-quoted scalar, whole (however long). Escaped besides '"', '\\' and the
 * C0 controls: what YAML would not give back as it is — the C1 controls (U+0080-U+009F: not
 * allowed raw, and U+0085 is a line break), U+2028 and U+2029 (line breaks), U+FFFE and
 * U+FFFF (not allowed raw). The text came from libyaml, so it is UTF-8. */
static void wq(FILE *out, const char *str)
{
    const unsigned char *p = (const unsigned char *)str;
    fputc('"', out);
    while (*p) {
        unsigned c = *p;
        size_t n = 1;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            fprintf(out, "\\u%04x", p[1]);
            n = 2;
        } else if (c == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
            fprintf(out, "\\u%04x", 0x2000 + (p[2] & 0x3f));
            n = 3;
        } else if (c == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf)) {
            fprintf(out, "\\u%04x", 0xffc0 + (p[2] & 0x3f));
            n = 3;
        } else {
            fputc((int)c, out);
        }
        p += n;
    }
    fputc('"', out);
}

static void write_list(FILE *out, const char *const *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", out);
        wq(out, v[i]);
    }
    fputc(']', out);
}

static void write_settings(FILE *out, const char *ind, const struct scenario_settings *set)
{
    for (int sec = 0; sec < SCENARIO_NSEC; sec++) {
        if (!set[sec].line)
            continue;
        bool empty = !set[sec].n && !set[sec].kind;
        fprintf(out, "%s%s:%s\n", ind, scenario_sec_names[sec], empty ? " {}" : "");
        if (set[sec].kind) {
            fprintf(out, "%s  kind: ", ind);
            wq(out, set[sec].kind);
            fputc('\n', out);
        }
        for (size_t i = 0; i < set[sec].n; i++) {
            const struct scenario_setting *st = &set[sec].v[i];
            fprintf(out, "%s  %s: ", ind, st->name);
            if (st->off)
                fputs("false", out);
            else if (!st->vals)
                fputs("true", out);
            else if (st->nvals == 1)
                wq(out, st->vals[0]);
            else
                write_list(out, st->vals, st->nvals);
            fputc('\n', out);
        }
    }
}

static void write_native(FILE *out, const char *ind, const struct scenario_native *x, size_t n)
{
    if (!n)
        return;
    fprintf(out, "%snative:\n", ind);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s  %s: ", ind, x[i].kind);
        write_list(out, x[i].lines, x[i].nlines);
        fputc('\n', out);
    }
}

static void write_wire(FILE *out, const char *ind, const struct scenario_wire *w, size_t n)
{
    fprintf(out, "%swire:%s\n", ind, n ? "" : " []");
    for (size_t i = 0; i < n; i++) {
        char what[64];
        wire_format_what(w[i].what, what, sizeof(what));
        fprintf(out, "%s  - hop: \"%s->%s\"\n%s    what: \"%s\"\n%s    nth: %u\n", ind, w[i].from,
                w[i].to, ind, what, ind, w[i].nth);
        if (w[i].drop)
            fprintf(out, "%s    drop: true\n", ind);
        else
            fprintf(out, "%s    hold: %ld\n", ind, w[i].hold_ms);
    }
}

static void write_bound(FILE *out, const char *name, const struct scenario_bound *b, bool *first)
{
    if (!b->set)
        return;
    fprintf(out, "%s%s: \"%.17g%s\"", *first ? "" : ", ", name, b->v, b->pct ? "%" : "");
    *first = false;
}

static void write_expect_as(FILE *out, const char *ind, const char *key,
                            const struct scenario_check *c, size_t n)
{
    fprintf(out, "%s%s:%s\n", ind, key, n ? "" : " {}");
    bool rst_done = false;
    for (size_t i = 0; i < n; i++) {
        if (c[i].kind == SCENARIO_CHECK_RST_ON_FAILING) {
            if (rst_done)
                continue;
            rst_done = true;
            fprintf(out, "%s  rst_on_failing: [", ind);
            bool first = true;
            for (size_t j = i; j < n; j++) {
                if (c[j].kind != SCENARIO_CHECK_RST_ON_FAILING)
                    continue;
                fputs(first ? "" : ", ", out);
                wq(out, c[j].metric);
                first = false;
            }
            fputs("]\n", out);
            continue;
        }
        bool first = true;
        fprintf(out, "%s  %s: {", ind, c[i].metric);
        write_bound(out, "min", &c[i].min, &first);
        write_bound(out, "max", &c[i].max, &first);
        write_bound(out, "eq", &c[i].eq, &first);
        fputs("}\n", out);
    }
}

static void write_expect(FILE *out, const char *ind, const struct scenario_check *c, size_t n)
{
    write_expect_as(out, ind, "expect", c, n);
}

static void write_expect_kind(FILE *out, const char *ind, const struct scenario_kind_expect *k,
                              size_t n)
{
    if (!n)
        return;
    char ind2[64];
    snprintf(ind2, sizeof(ind2), "%s  ", ind);
    fprintf(out, "%sexpect_kind:\n", ind);
    for (size_t i = 0; i < n; i++)
        write_expect_as(out, ind2, k[i].kind, k[i].expect, k[i].nexpect);
}

void scenario_write(FILE *out, const struct scenario *s)
{
    fputs("name: ", out);
    wq(out, s->name);
    fputs("\nintent: ", out);
    wq(out, s->intent);
    fputs("\nseed: ", out);
    write_list(out, s->seed, s->nseed);
    fprintf(out,
            "\ntopology: %s\ntrials: %ld\ntimeout: %ld\nsuccess: ", scenario_topo_name(s->topo),
            s->trials, s->timeout_ms);
    write_list(out, s->success, s->nsuccess);
    fputc('\n', out);
    if (s->sweep >= 0)
        fprintf(out, "sweep: %s\n", s->sweep ? "true" : "false");
    write_settings(out, "", s->set);
    write_wire(out, "", s->wire, s->nwire);
    write_native(out, "", s->native, s->nnative);
    write_expect(out, "", s->expect, s->nexpect);
    write_expect_kind(out, "", s->kexpect, s->nkexpect);
    fputs("fix: ", out);
    write_list(out, s->fix, s->nfix);
    fputs("\nmitigations:\n", out);
    for (size_t i = 0; i < s->nmit; i++) {
        const struct scenario_mit *m = &s->mit[i];
        fprintf(out, "  %s:\n", m->name);
        if (m->about) {
            fputs("    about: ", out);
            wq(out, m->about);
            fputc('\n', out);
        }
        write_settings(out, "    ", m->set);
        if (m->has_wire)
            write_wire(out, "    ", m->wire, m->nwire);
        write_native(out, "    ", m->native, m->nnative);
        if (m->trials)
            fprintf(out, "    trials: %ld\n", m->trials);
        if (m->timeout_ms)
            fprintf(out, "    timeout: %ld\n", m->timeout_ms);
        if (m->nsuccess) {
            fputs("    success: ", out);
            write_list(out, m->success, m->nsuccess);
            fputc('\n', out);
        }
        write_expect(out, "    ", m->expect, m->nexpect);
        write_expect_kind(out, "    ", m->kexpect, m->nkexpect);
    }
}
