/* interval — how sure a failure rate is: the 95% Wilson score interval of k failures in n
 * trials (results.json's failure_rate_ci, the rate column of compare, racelab diff), its
 * compact form for a table, and Fisher's exact test of two rates (compare's note on the
 * mitigations its trials cannot tell apart). docs/harness.md, "How sure a failure rate is". */
#ifndef RACELAB_INTERVAL_H
#define RACELAB_INTERVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* z of a two-sided 95% interval */
#define INTERVAL_Z 1.959963984540054

struct interval {
    double lo, hi; /* within [0, 1] */
};

/* The 95% Wilson score interval of k failures in n trials: [0, 1] when n == 0 (nothing is
 * known), lo exactly 0 when k == 0, hi exactly 1 when k == n. k is clamped to [0, n]. */
struct interval interval_wilson(long k, long n);

/* [lo, hi] rounded to 4 decimals, for results.json; NULL when out of memory. */
json_t *interval_json(long k, long n);

/* The rate with its interval, in percent with one decimal: "50.0% (40.4-59.6)"; with no
 * failure only the upper bound, "< 3.7%"; with every trial failed only the lower bound,
 * "> 96.3%"; "-" when n == 0. A bound under 0.1% gets two significant digits ("< 0.038%"). */
void interval_format(char *buf, size_t len, long k, long n);

/* Two-sided p-value of Fisher's exact test on k1/n1 against k2/n2 (1 when either n is 0). */
double interval_fisher(long k1, long n1, long k2, long n2);

/* Whether the rate moved from k_old/n_old to k_new/n_new beyond what the trials can tell: +1
 * when NEW's whole interval lies above OLD's (new.lo > old.hi), -1 when below (new.hi <
 * old.lo), 0 when the two intervals overlap or either n is 0. Disjoint intervals imply that
 * each rate is outside the other's interval. */
int interval_moved(long k_old, long n_old, long k_new, long n_new);

/* One mitigation's failures for interval_note. */
struct interval_arm {
    const char *name;
    long k, n;
};

/* compare's note: the pairs of arms whose failure rates Fisher's exact test (two-sided) does not
 * tell apart at p < 0.05, arms with the same counts grouped. Arms with n == 0 are left out;
 * nothing is printed for fewer than two arms. */
void interval_note(FILE *out, const struct interval_arm *arms, size_t n);

#endif
