/* metrics_uses — which trial used a connection when: the uses of each hop's connections that
 * metrics.c attributes packets with (metrics.h says how). */
#include "metrics_uses.h"

#include "grow.h"

int uses_add(struct uses *u, int port, uint64_t start, uint64_t end, long trial)
{
    struct use *v = grow_array(u->v, &u->cap, u->n + 1, sizeof(*v));
    if (!v)
        return -1;
    u->v = v;
    u->v[u->n++] = (struct use){port, start, end, trial};
    return 0;
}

int uses_cmp(const void *a, const void *b)
{
    const struct use *x = a, *y = b;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return 0;
}

/* The use of port whose window contains t or, failing that, the last that started before t;
 * uses outside [lo, hi] (another connection that happened to get the same port) are ignored.
 * When none started before t, the earliest use in range. */
const struct use *uses_find(const struct uses *u, int port, uint64_t t, uint64_t lo, uint64_t hi)
{
    const struct use *best = NULL, *first = NULL;
    /* Sorted by (port, start): find the port's first use, then walk its uses only. */
    size_t lo_i = 0, hi_i = u->n;
    while (lo_i < hi_i) {
        size_t mid = lo_i + (hi_i - lo_i) / 2;
        if (u->v[mid].port < port)
            lo_i = mid + 1;
        else
            hi_i = mid;
    }
    for (size_t i = lo_i; i < u->n && u->v[i].port == port; i++) {
        const struct use *x = &u->v[i];
        if (x->start > hi || (x->end && x->end < lo))
            continue;
        if (!first)
            first = x;
        if (x->start <= t)
            best = x;
    }
    return best ? best : first;
}

/* Whether a use of port covers t. */
bool uses_cover(const struct uses *u, size_t from, size_t to, int port, uint64_t t)
{
    for (size_t i = from; i < to; i++)
        if (u->v[i].port == port && u->v[i].start <= t && t <= u->v[i].end)
            return true;
    return false;
}
