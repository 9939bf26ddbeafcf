#include "keep.h"

#include <stdio.h>
#include <string.h>

#include "opt.h"

int keep_parse(struct keep *k, const char *val, char *err, size_t errlen)
{
    memset(k, 0, sizeof(*k));
    if (strcmp(val, "all") == 0)
        return 0;
    if (strncmp(val, "failures", 8) != 0 || (val[8] && val[8] != ':')) {
        snprintf(err, errlen, "expected all, failures or failures:N, got '%s'", val);
        return -1;
    }
    k->failures_only = true;
    if (!val[8])
        return 0;
    long n = 0, max = 0;
    const char *p = val + 9, *colon = strchr(p, ':');
    char num[32];
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    bool ok = len < sizeof(num);
    if (ok) {
        memcpy(num, p, len);
        num[len] = '\0';
        ok = opt_parse_long(num, &n) == 0 && n >= (colon ? 0 : 1);
    }
    if (ok && colon)
        ok = opt_parse_long(colon + 1, &max) == 0 && max >= 1;
    if (!ok) {
        snprintf(err, errlen,
                 "expected failures:N (one good record in N, N >= 1) or failures:N:MAX (at most "
                 "MAX failing records, MAX >= 1), got '%s'",
                 val);
        return -1;
    }
    k->sample = n;
    k->max_failing = max;
    return 0;
}

bool keep_want(struct keep *k, bool failing)
{
    if (!k->failures_only)
        return true;
    if (failing)
        return k->max_failing == 0 || ++k->failing <= (unsigned long)k->max_failing;
    bool want = k->sample > 0 && k->good % (unsigned long)k->sample == 0;
    k->good++;
    return want;
}
