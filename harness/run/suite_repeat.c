/* suite_repeat — --repeat N: the repetitions of each cell folded into one cell with its verdict
 * and how many repetitions disagree with it (suite.h). */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "suite.h"

#define NSTATUS (REPORT_MEASURED + 1)

/* The verdict of reps[0..n): the status most repetitions have, a tie going to the earliest
 * repetition's; *first is the first repetition of that status. */
static enum report_status majority(const struct suite_cell *reps, size_t n, size_t *first)
{
    size_t count[NSTATUS] = {0};
    for (size_t i = 0; i < n; i++)
        count[report_status(&reps[i])]++;
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (count[report_status(&reps[i])] > count[report_status(&reps[best])])
            best = i;
    *first = best;
    return report_status(&reps[best]);
}

static json_t *rep_entry(const struct suite_cell *sc)
{
    const json_t *r = sc->result;
    json_t *failures = json_object_get(r, "failures"), *trials = json_object_get(r, "trials");
    return json_pack("{s:I, s:s, s:O, s:O, s:s}", "rep", (json_int_t)sc->rep, "status",
                     report_status_word(report_status(sc)), "failures",
                     failures ? failures : json_null(), "trials", trials ? trials : json_null(),
                     "dir", sc->dir);
}

/* Folds reps[0..n) (one cell's repetitions) into *out. */
static int fold_one(struct suite_cell *reps, size_t n, struct suite_cell *out)
{
    size_t rep;
    enum report_status verdict = majority(reps, n, &rep);
    json_t *list = json_array();
    size_t disagree = 0;
    bool all = true;
    for (size_t i = 0; list && i < n; i++) {
        disagree += report_status(&reps[i]) != verdict;
        all = all && reps[i].passed;
        if (json_array_append_new(list, rep_entry(&reps[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_t *rp = list ? json_pack("{s:I, s:s, s:I, s:b, s:o}", "count", (json_int_t)n, "verdict",
                                  report_status_word(verdict), "disagree", (json_int_t)disagree,
                                  "passed", all, "repetitions", list)
                      : NULL;
    if (!rp)
        return -1;
    *out = reps[rep];
    reps[rep].result = NULL;
    reps[rep].cell = (struct scenario_cell){0};
    json_object_set_new(out->result, "repeat", rp);
    char *slash = strrchr(out->dir, '/'); /* the cell's folder, holding rep-1..rep-N */
    if (slash)
        *slash = '\0';
    out->rep = 0;
    out->reps = (long)n;
    out->disagree = disagree;
    out->verdict_passed = reps[rep].passed;
    out->passed = all;
    return 0;
}

int suite_fold_repeats(struct suite *su)
{
    if (su->repeat <= 1 || su->n == 0)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < su->n;) {
        size_t j = i + 1;
        while (j < su->n && su->cells[j].index == su->cells[i].index)
            j++;
        struct suite_cell folded;
        if (fold_one(&su->cells[i], j - i, &folded) != 0)
            return -1;
        for (size_t x = i; x < j; x++) {
            scenario_cell_free(&su->cells[x].cell);
            json_decref(su->cells[x].result);
        }
        su->cells[k++] = folded;
        i = j;
    }
    su->n = k;
    return 0;
}
