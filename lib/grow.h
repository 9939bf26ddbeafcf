/* grow — the one way racelab grows an array: the capacity doubles (from 16), so n appends cost
 * O(n) copies in all. Use:
 *
 *     void *v = grow_array(s->v, &s->cap, s->n + 1, sizeof *s->v);
 *     if (!v)
 *         return -1;
 *     s->v = v;
 *     s->v[s->n++] = item;
 */
#ifndef RACELAB_GROW_H
#define RACELAB_GROW_H

#include <stddef.h>

/* Room for at least need elements of elsize bytes in arr, whose capacity (in elements) is *cap.
 * Returns arr when it has the room already, else the reallocated array with *cap updated (the
 * new elements are not initialised); NULL when out of memory or when the size overflows, with
 * arr still valid and *cap unchanged. */
void *grow_array(void *arr, size_t *cap, size_t need, size_t elsize);

#endif
