/* opt — command-line flags from a declarative table.
 *
 * Every program declares its flags once, as data: name, type, where the value goes in its
 * config struct, help text (which says which Envoy/Istio/nginx setting the flag mirrors). The
 * same table parses argv, prints --help, and lets the harness validate scenario settings with
 * the program's own rules before starting anything.
 *
 * Values: "--name value" or "--name=value". Numbers are decimal; OPT_MS also takes a suffix
 * "ms" or "s"; OPT_SIZE takes k/m/g (binary multiples). Errors name the flag:
 *   "--close-after: expected a whole number >= 1, got 'x'". */
#ifndef RACELAB_OPT_H
#define RACELAB_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum opt_type {
    OPT_FLAG,   /* no value; stores spec->flag_value into a bool */
    OPT_INT,    /* long, within [min, max] */
    OPT_MS,     /* long milliseconds, within [min, max] */
    OPT_SIZE,   /* long bytes, within [min, max] */
    OPT_STR,    /* const char *, points into argv */
    OPT_ENUM,   /* int index into choices (NULL-terminated) */
    OPT_CUSTOM, /* parse() decides; may be given several times */
};

struct opt_spec {
    const char *name; /* without the leading "--" */
    enum opt_type type;
    size_t off; /* offsetof(config struct, field) */
    const char *metavar;
    const char *help;
    long min, max;            /* OPT_INT / OPT_MS / OPT_SIZE; both 0 = no bound */
    const char *const *choices; /* OPT_ENUM */
    bool flag_value;          /* OPT_FLAG */
    /* OPT_CUSTOM: returns 0, or -1 after writing a reason (without the flag name) to err */
    int (*parse)(void *cfg, const char *val, char *err, size_t errlen);
};

#define OPT_END {0}

enum {
    OPT_OK = 0,
    OPT_BAD = -1, /* err holds a one-line message naming the flag */
    OPT_HELP = 1, /* -h or --help was given */
};

/* Parses argv[first..argc). Positional arguments go to pos (at most *npos_cap of them; *npos
 * receives the count); with pos == NULL a positional argument is an error. seen, when not
 * NULL, gets one bool per spec telling whether the flag was given. */
int opt_parse(const struct opt_spec *specs, void *cfg, int argc, char **argv, int first,
              char **pos, int *npos, int npos_cap, bool *seen, char *err, size_t errlen);

/* Parses one flag given as name and value (value NULL for OPT_FLAG), as the harness does for
 * scenario settings. Returns OPT_OK or OPT_BAD. */
int opt_set(const struct opt_spec *specs, void *cfg, const char *name, const char *value,
            bool *seen, char *err, size_t errlen);

const struct opt_spec *opt_find(const struct opt_spec *specs, const char *name);
size_t opt_count(const struct opt_spec *specs);

/* Usage: synopsis line, then one line per flag with metavar and help (wrapped). */
void opt_usage(FILE *out, const char *prog, const char *synopsis, const char *about,
               const struct opt_spec *specs);

/* Shared value parsers (also used by OPT_CUSTOM callbacks). Return 0 or -1. */
int opt_parse_long(const char *s, long *out);
int opt_parse_ms(const char *s, long *out);
int opt_parse_size(const char *s, long *out);

#endif
