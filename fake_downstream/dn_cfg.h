/* dn_cfg — racelab-downstream's settings: defaults, flag table and cross-flag rules.
 *
 * Built as its own library (dncfg, depends only on rlcore) so that the harness can validate a
 * scenario's client settings with exactly the rules the program applies to its argv. */
#ifndef RACELAB_DN_CFG_H
#define RACELAB_DN_CFG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "keep.h"
#include "opt.h"

#define DN_MAX_HEADERS 32

/* The header that names each request's trial, connection and request ("T.C.R"), last in the
 * head: a proxy forwards it, so the upstream's log can tell which trial used which of the
 * proxy's upstream connections (racelab-upstream logs it as `tag`). --no-tag leaves it out. */
#define DN_TAG_HEADER "X-Racelab-Trial"

enum dn_on_write_error {
    DN_WERR_GIVE_UP, /* record `reset` without reading, as many clients and proxies do */
    DN_WERR_READ,    /* read whatever response is already queued (Linux keeps it after RST) */
};

/* what a connection does after a failed request (order = the flag's choices) */
enum dn_on_failure {
    DN_FAIL_STOP,      /* its remaining requests are skipped (the seed's behaviour) */
    DN_FAIL_RECONNECT, /* the next request opens a new connection, as a client pool does */
};

/* the Connection header the client sends (order = the flag's choices) */
enum dn_connection {
    DN_CONN_CLOSE,
    DN_CONN_KEEP_ALIVE,
    DN_CONN_NONE,
};

struct dn_cfg {
    const char *target;
    long trials;
    long conns;
    long requests;
    long parallel;
    long trial_gap_ms;
    long gap_us; /* µs: gaps may be given with a fraction of a millisecond */
    bool gap_given;
    long sweep_from_us, sweep_to_us, sweep_step_us;
    bool sweep_given;
    const char *method;
    const char *path;
    const char *headers[DN_MAX_HEADERS];
    size_t nheaders;
    bool no_tag; /* --no-tag: no DN_TAG_HEADER */
    long body_size;
    bool chunked;
    bool split_head;
    long upload_delay_ms;
    bool upload_after_response; /* the head's pause ends early when the response arrives */
    long upload_chunk;
    long upload_pace_ms;
    int on_write_error; /* enum dn_on_write_error */
    bool read_while_uploading;
    int on_failure; /* enum dn_on_failure */
    bool http10;
    int connection; /* enum dn_connection */
    long idle_timeout_ms;
    bool check_before_reuse;
    long timeout_ms;
    long connect_timeout_ms;
    const char *records;
    struct keep records_keep; /* --records-keep: every record, or failures and a sample */
    bool counters;            /* --records-keep given: counters lines too */
    long rate;                /* --rate: requests started per second at most (0: no limit) */
    /* filled by dn_cfg_check */
    struct sockaddr_in target_addr;
};

extern const struct opt_spec dn_opts[];

void dn_cfg_defaults(struct dn_cfg *c);

/* Cross-flag rules (contradictions name both flags), --target parsing; 0 or -1 with err. */
int dn_cfg_check(struct dn_cfg *c, char *err, size_t errlen);

/* opt_parse + dn_cfg_check: OPT_OK, OPT_BAD (err set) or OPT_HELP. */
int dn_cfg_parse(struct dn_cfg *c, int argc, char **argv, char *err, size_t errlen);

void dn_cfg_usage(FILE *out);

/* The head goes in a write of its own: --split-head, or implied by --upload-delay. */
bool dn_cfg_split_head(const struct dn_cfg *c);

/* The pause before a reused request in trial `trial` (µs): --gap, or the (trial mod K)-th value
 * of --gap-sweep. */
long dn_cfg_gap_us(const struct dn_cfg *c, long trial);

/* "12", "99.5", "250ms", "1.5s" → µs (at most 3 decimals of a millisecond). 0 or -1. */
int dn_parse_ms_us(const char *s, long *us);

#endif
