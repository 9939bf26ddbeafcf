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
    long n;
    if (opt_parse_long(val + 9, &n) != 0 || n < 1) {
        snprintf(err, errlen,
                 "expected failures:N with a whole N >= 1 (one good record in N), "
                 "got '%s'",
                 val);
        return -1;
    }
    k->sample = n;
    return 0;
}

bool keep_want(struct keep *k, bool failing)
{
    if (!k->failures_only || failing)
        return true;
    bool want = k->sample > 0 && k->good % (unsigned long)k->sample == 0;
    k->good++;
    return want;
}
