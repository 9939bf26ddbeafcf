/* shard — a stable partition of a run's cells over N machines (`--shard I/N`): a cell belongs
 * to shard 1 + FNV-1a-64("SCENARIO/MITIGATION") mod N. A cell's shard depends on its identity
 * only, never on which other cells exist, so adding or removing a scenario moves no other cell
 * to another shard, and every machine computes the same partition from the same files. */
#ifndef RACELAB_SHARD_H
#define RACELAB_SHARD_H

#include <stddef.h>
#include <stdint.h>

#define SHARD_MAX 10000

struct shard {
    long index; /* 1..count; 0: no sharding */
    long count;
};

/* "I/N" with 1 <= I <= N <= SHARD_MAX into sh. 0, or -1 with why in err. */
int shard_parse(const char *text, struct shard *sh, char *err, size_t errlen);

/* FNV-1a, 64 bits, of "SCENARIO/MITIGATION". */
uint64_t shard_hash(const char *scenario, const char *mitigation);

/* The shard (1..count) of the cell. */
long shard_of(const char *scenario, const char *mitigation, long count);

#endif
