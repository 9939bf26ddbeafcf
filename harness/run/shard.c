#include "shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static long parse_part(const char *s, char **end)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    long v = strtol(s, end, 10);
    return errno ? -1 : v;
}

int shard_parse(const char *text, struct shard *sh, char *err, size_t errlen)
{
    char *end;
    long i = parse_part(text, &end), n = -1;
    if (i >= 0 && *end == '/')
        n = parse_part(end + 1, &end);
    if (i < 0 || n < 0 || *end) {
        snprintf(err, errlen, "expected I/N (shard I of N, counted from 1), got '%s'", text);
        return -1;
    }
    if (n < 1 || n > SHARD_MAX || i < 1 || i > n) {
        snprintf(err, errlen,
                 "'%s': I/N needs 1 <= I <= N <= %d (shards are counted from 1: a 0-based "
                 "index such as JOB_COMPLETION_INDEX is I-1)",
                 text, SHARD_MAX);
        return -1;
    }
    sh->index = i;
    sh->count = n;
    return 0;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t shard_hash(const char *scenario, const char *mitigation)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, scenario);
    h = fnv1a(h, "/");
    return fnv1a(h, mitigation);
}

long shard_of(const char *scenario, const char *mitigation, long count)
{
    if (count < 1)
        return 1;
    return 1 + (long)(shard_hash(scenario, mitigation) % (uint64_t)count);
}
