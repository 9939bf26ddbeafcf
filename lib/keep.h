/* keep — "which records to write" for a long run: every one (the default), or only those of
 * failing requests and one good one in N (`--records-keep failures[:N]` and its siblings).
 * A program in that mode keeps counters instead, so what it writes grows with the failures,
 * not with the traffic. */
#ifndef RACELAB_KEEP_H
#define RACELAB_KEEP_H

#include <stdbool.h>
#include <stddef.h>

struct keep {
    bool failures_only;    /* false: write every record */
    long sample;           /* with failures_only: also one good record in `sample` (0: none) */
    long max_failing;      /* with failures_only: at most this many failing records (0: all) */
    unsigned long good;    /* good records seen so far (for the sampling) */
    unsigned long failing; /* failing records seen so far */
};

/* "all", "failures", "failures:N" (N >= 1: one good record in N) or "failures:N:MAX" (MAX >= 1:
 * the first MAX failing records only; N may be 0 there) into k; 0, or -1 with a reason. */
int keep_parse(struct keep *k, const char *val, char *err, size_t errlen);

/* Whether a record is written: every one without failures_only; else a failing one (the first
 * MAX), and the 1st, (N+1)th, ... good one. Counts both. */
bool keep_want(struct keep *k, bool failing);

#endif
