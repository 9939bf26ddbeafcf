/* scenario_validate — every cell's merged program settings through that program's own flag
 * table and cross-flag check (programs.h), the error naming the setting's (or section's) key
 * and the cell. */
#include "scenario_internal.h"

#include <stdio.h>
#include <string.h>

#include "programs.h"

/* The key path of the setting at line (scenario or mitigation section), or of the section
 * where a cross-flag contradiction of program pr is reported. */
static void setting_key(const struct scenario *s, const struct scenario_mit *m,
                        const struct scenario_prog *pr, int line, char *buf, size_t len)
{
    for (int sec = 0; sec < SCENARIO_NSEC; sec++) {
        for (size_t i = 0; i < s->set[sec].n; i++)
            if (s->set[sec].v[i].line == line) {
                snprintf(buf, len, "%s.%s", scenario_sec_names[sec], s->set[sec].v[i].name);
                return;
            }
        for (size_t i = 0; i < m->set[sec].n; i++)
            if (m->set[sec].v[i].line == line) {
                snprintf(buf, len, "mitigations.%s.%s.%s", m->name, scenario_sec_names[sec],
                         m->set[sec].v[i].name);
                return;
            }
        if (m->set[sec].line == line) {
            snprintf(buf, len, "mitigations.%s.%s", m->name, scenario_sec_names[sec]);
            return;
        }
        if (s->set[sec].line == line) {
            snprintf(buf, len, "%s", scenario_sec_names[sec]);
            return;
        }
    }
    snprintf(buf, len, "mitigations.%s (%s)", m->name, pr->name);
}

/* Every cell's program settings through the program's own flag table and cross-flag rules. */
int scenario_validate_cells(struct scenario_loader *L)
{
    const struct scenario *s = L->s;
    for (size_t i = 0; i < s->nmit; i++) {
        const struct scenario_mit *m = &s->mit[i];
        struct scenario_cell c;
        if (scenario_cell_build(s, m, 0, &c, L->r.err, L->r.errlen) != 0)
            return -1;
        for (size_t p = 0; p < c.nprogs; p++) {
            const struct scenario_prog *pr = &c.progs[p];
            int line = 0;
            char why[512];
            enum program_kind k = program_kind_of(pr->sec);
            if (program_validate(k, pr->set, pr->nset, &line, why, sizeof(why)) == 0)
                continue;
            /* A contradiction belongs to the mitigation's section when it has one, else to
             * the scenario's section of that program. */
            if (!line) {
                enum scenario_sec common = scenario_sec_common(pr->sec);
                line = m->set[pr->sec].line   ? m->set[pr->sec].line
                       : m->set[common].line  ? m->set[common].line
                       : s->set[pr->sec].line ? s->set[pr->sec].line
                       : s->set[common].line  ? s->set[common].line
                                              : m->line;
            }
            char where[320];
            setting_key(s, m, pr, line, where, sizeof(where));
            snprintf(L->r.err, L->r.errlen, "%s:%d: %s: %s (%s, cell %s × %s)", L->r.path, line,
                     where, why, program_get(k)->bin, s->name, m->name);
            scenario_cell_free(&c);
            return -1;
        }
        scenario_cell_free(&c);
    }
    return 0;
}
