/* cmd — the command lines of a cell's programs: an argv built word by word (racelab's own
 * programs, with the scenario's settings as flags), or a --proxy-cmd template expanded. */
#ifndef RACELAB_CMD_H
#define RACELAB_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

/* A growing, NULL-terminated argv of copies. After out of memory every add is ignored and oom
 * stays set: check it once, before using v. Free v with run_argv_free. */
struct run_argv {
    char **v;
    size_t n, cap;
    bool oom;
};

void run_argv_add(struct run_argv *a, const char *str);
void run_argv_addf(struct run_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The program's settings of the cell, as flags: --name, or --name value once per value. */
void run_argv_settings(struct run_argv *a, const struct scenario_prog *p);

void run_argv_free(char **argv);

/* Values for --proxy-cmd placeholders. */
struct run_vars {
    uint16_t listen_port, upstream_port;
    const char *name;
    const char *dir;
};

/* Splits a --proxy-cmd template into argv (words split on blanks; '...' and "..." quote) and
 * replaces {listen_port}, {upstream_port}, {listen} (127.0.0.1:PORT), {upstream}, {name} and
 * {dir}; extra words are appended unchanged. Returns a NULL-terminated malloc'd argv (free
 * with run_argv_free), or NULL with a message. */
char **run_expand_cmd(const char *tmpl, const struct run_vars *v, const char *const *extra,
                      size_t nextra, char *err, size_t errlen);

#endif
