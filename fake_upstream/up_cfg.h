/* up_cfg — racelab-upstream's settings: defaults, flag table and cross-flag rules.
 *
 * Built as its own library (upcfg, depends only on rlcore) so that the harness can validate a
 * scenario's upstream settings with exactly the rules the program applies to its argv. */
#ifndef RACELAB_UP_CFG_H
#define RACELAB_UP_CFG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "keep.h"
#include "opt.h"

#define UP_MAX_HEADERS 32

enum up_framing {
    UP_FRAMING_LENGTH,  /* Content-Length */
    UP_FRAMING_CHUNKED, /* Transfer-Encoding: chunked */
    UP_FRAMING_CLOSE,   /* no length: the body ends when the server closes (HTTP/1.0 style) */
};

enum up_close_how {
    UP_CLOSE_FIN,           /* close() */
    UP_CLOSE_FIN_WITH_DATA, /* TCP_CORK, last bytes, close(): data and FIN in one segment */
    UP_CLOSE_RST,           /* SO_LINGER {1,0} + close() */
    UP_CLOSE_SHUTDOWN,      /* shutdown(SHUT_WR), read and discard until the peer closes */
};

struct up_cfg {
    const char *listen;
    const char *port_file;
    const char *log;
    long status;
    long body_size;
    int framing; /* enum up_framing */
    bool http10;
    const char *headers[UP_MAX_HEADERS];
    size_t nheaders;
    long close_after;
    long idle_timeout_ms;
    long idle_unread_ms;
    bool announce_close;
    int close_how; /* enum up_close_how */
    bool answer_early;
    bool drain_body;
    long delay_response_ms;
    long delay_body_ms;
    long delay_close_ms;
    long close_random; /* --close-random N: close after a response with probability 1/N */
    long seed;         /* --seed: of --close-random's draws */
    bool seed_given;
    struct keep log_keep; /* --log-keep */
    /* filled by up_cfg_check */
    struct sockaddr_in listen_addr;
};

extern const struct opt_spec up_opts[];

void up_cfg_defaults(struct up_cfg *c);

/* Cross-flag rules (contradictions name both flags) and address parsing; 0 or -1 with err. */
int up_cfg_check(struct up_cfg *c, char *err, size_t errlen);

/* opt_parse + up_cfg_check: OPT_OK, OPT_BAD (err set) or OPT_HELP. */
int up_cfg_parse(struct up_cfg *c, int argc, char **argv, char *err, size_t errlen);

void up_cfg_usage(FILE *out);

const char *up_close_how_name(enum up_close_how h);

#endif
