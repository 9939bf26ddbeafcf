/* cc_cfg — racelab-client-curl's settings: the racelab-downstream flags that apply to a library
 * client: their entries of racelab-downstream's own flag table (dn_opts), so the parsers, the
 * help and the messages are racelab-downstream's, and its cross-flag rules (dn_cfg_check). A
 * racelab-downstream flag that libcurl decides for itself (--chunked, --split-head, ...) is
 * refused by name, found in racelab-downstream's own table (dn_opts). */
#ifndef RACELAB_CC_CFG_H
#define RACELAB_CC_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dn_cfg.h"

#define CC_MAX_HEADERS 32

enum cc_on_failure { CC_FAIL_STOP, CC_FAIL_RECONNECT };

struct cc_cfg {
    struct dn_cfg dn; /* as racelab-downstream parsed and checked them */
    const char *target;
    char url_base[64]; /* "http://HOST:PORT", filled by cc_cfg_parse */
    long trials, conns, requests;
    long trial_gap_ms;
    const char *method, *path;
    const char *headers[CC_MAX_HEADERS];
    size_t nheaders;
    long body_size;
    long timeout_ms, connect_timeout_ms;
    int on_failure; /* enum cc_on_failure */
    const char *records;
    bool no_tag; /* --no-tag: no X-Racelab-Trial header */
};

/* OPT_OK, OPT_HELP or OPT_BAD with a one-line message naming the flag in err. */
int cc_cfg_parse(struct cc_cfg *c, int argc, char **argv, char *err, size_t errlen);
void cc_cfg_usage(FILE *out);
/* trial t's gap in µs: --gap, or the (t mod K)-th value of --gap-sweep */
long cc_cfg_gap_us(const struct cc_cfg *c, long trial);

#endif
