/* keep — "which records to write" for a long run: every one (the default), or only those of
 * failing requests and one good one in N (`--records-keep failures[:N]` and its siblings).
 * A program in that mode keeps counters instead, so what it writes grows with the failures,
 * not with the traffic. */
#ifndef RACELAB_KEEP_H
#define RACELAB_KEEP_H

#include <stdbool.h>
#include <stddef.h>

struct keep {
    bool failures_only; /* false: write every record */
    long sample;        /* with failures_only: also one good record in `sample` (0: none) */
    unsigned long good; /* good records seen so far (for the sampling) */
};

/* "all", "failures" or "failures:N" (N >= 1) into k; 0, or -1 with a reason in err. */
int keep_parse(struct keep *k, const char *val, char *err, size_t errlen);

/* Whether a record is written: every one without failures_only; else a failing one, and the
 * 1st, (N+1)th, ... good one. Counts the good ones. */
bool keep_want(struct keep *k, bool failing);

#endif
