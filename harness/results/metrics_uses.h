/* metrics_uses — the uses of connections by trials, for attributing packets (metrics.c). */
#ifndef RACELAB_METRICS_USES_H
#define RACELAB_METRICS_USES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One use of a connection by a trial: the connection is (hop, client port). */
struct use {
    int port;
    uint64_t start, end;
    long trial;
};

struct uses {
    struct use *v;
    size_t n, cap;
};

int uses_add(struct uses *u, int port, uint64_t start, uint64_t end, long trial);

/* qsort order of uses: by port, then start (uses_find needs it). */
int uses_cmp(const void *a, const void *b);

/* The use of port whose window contains t or, failing that, the last that started before t;
 * uses outside [lo, hi] (another connection that happened to get the same port) are ignored.
 * When none started before t, the earliest use in range. u sorted by uses_cmp. */
const struct use *uses_find(const struct uses *u, int port, uint64_t t, uint64_t lo, uint64_t hi);

/* Whether a use of port among u->v[from, to) covers t. */
bool uses_cover(const struct uses *u, size_t from, size_t to, int port, uint64_t t);

#endif
