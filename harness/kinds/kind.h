/* kind — a proxy kind as data: the adapter file proxies/<kind>/adapter.yaml and its config
 * templates (docs/proxies.md).
 *
 * An adapter says which binary to look for, how it starts (argv with placeholders), how it is
 * stopped (signal and settle time), where its logs go and how its access log reads, and how
 * each racelab-proxy flag of a scenario's `proxy:` settings becomes text in a named slot of
 * its config template — or why the proxy cannot express it. kind_load checks all of it (every
 * error names FILE:LINE, as scenario files do); kind_plan turns one proxy's merged settings
 * into slot texts, or the reason the cell is unsupported; kind_render writes the config
 * file(s) into the cell's folder; kind_argv builds the start (or check) command. Nothing here
 * knows any particular proxy. */
#ifndef RACELAB_KIND_H
#define RACELAB_KIND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

struct kind;

/* Loads and checks the adapter of folder dir (dir/adapter.yaml and its templates). Returns the
 * kind, or NULL with "FILE:LINE: key: problem" in err. */
struct kind *kind_load(const char *dir, char *err, size_t errlen);
void kind_free(struct kind *k);

/* The kind's name (`kind:`, the folder's name) and its one-line description. */
const char *kind_name(const struct kind *k);
const char *kind_about(const struct kind *k);

/* The adapter file's path (for messages). */
const char *kind_path(const struct kind *k);

/* The first of the adapter's `binary:` candidates that exists: a name with a '/' as it is,
 * another looked up in $PATH. Returns 0 with its path in out, or -1 with "NAME not installed
 * (looked for ...)" in err. */
int kind_find_binary(const struct kind *k, char *out, size_t outlen, char *err, size_t errlen);

/* How the proxy is stopped once the downstream has finished (run/cell.h, struct run_stop): its
 * settle time, ms after the downstream's end, then the signal (SIGQUIT for nginx's graceful
 * stop...). */
int kind_stop_signal(const struct kind *k);
long kind_settle_ms(const struct kind *k);
/* The signal's name as the adapter wrote it ("QUIT"). */
const char *kind_stop_signal_name(const struct kind *k);

/* The values of a cell's placeholders: {dir} {name} {listen_port} {upstream_port} {listen}
 * {upstream} (127.0.0.1:PORT) {user} (the user racelab runs as) and {config} (the first
 * rendered file). */
struct kind_vars {
    const char *dir;
    const char *name; /* proxy, proxy1, proxy2 */
    uint16_t listen_port, upstream_port;
    const char *user;
};

/* One proxy's settings as slot texts (kind_plan), ready to be rendered. */
struct kind_plan;

/* Maps the merged settings of one proxy (racelab-proxy flag names) and the cell's native lines
 * for this kind into slot texts. Returns 0 with *plan; 1 when the settings cannot be expressed,
 * with the reason(s) in why ("--attach-pending deferred has no nginx equivalent (...)"; several
 * joined by "; "), *plan NULL; -1 when out of memory. */
int kind_plan(const struct kind *k, const struct scenario_prog *p, const char *const *native,
              size_t nnative, struct kind_plan **plan, char *why, size_t whylen);
void kind_plan_free(struct kind_plan *plan);

/* Writes the kind's config file(s) for plan into v->dir (each template with its placeholders
 * and slots filled in). Returns 0, or -1 with a message. */
int kind_render(const struct kind *k, const struct kind_plan *plan, const struct kind_vars *v,
                char *err, size_t errlen);

/* The rendered text of file i of the kind (0: the main config) for plan, in a malloc'd string
 * (tests read it back), or NULL with a message. */
char *kind_render_text(const struct kind *k, size_t i, const struct kind_plan *plan,
                       const struct kind_vars *v, char *err, size_t errlen);
size_t kind_nfiles(const struct kind *k);

enum kind_cmd {
    KIND_START, /* `start:` */
    KIND_CHECK, /* `check:`: validates a rendered config and exits (nginx -t) */
};

/* binary, then the words of `start:` or `check:` with their placeholders filled in: a
 * NULL-terminated malloc'd argv (free with run_argv_free), or NULL with a message (the
 * adapter has no `check:`, out of memory). */
char **kind_argv(const struct kind *k, enum kind_cmd which, const char *binary,
                 const struct kind_vars *v, char *err, size_t errlen);

/* Whether every proxy of cell c (proxy, or proxy1 and proxy2) can be expressed by its kind
 * (kinds[0] for the proxy or proxy1, kinds[1] for proxy2; NULL is racelab-proxy, which can
 * express everything), the cell's native lines for it included. Returns 0; 1 with the reasons
 * in why (in a chain each prefixed with its proxy, "proxy2: --delayed-close-timeout 1000 has
 * no ..."); -1 when out of memory. */
int kind_check_cell(const struct kind *const kinds[2], const struct scenario_cell *c, char *why,
                    size_t whylen);

/* Proxy idx of cell c (its index in the topology, 1 for the first proxy): the config rendered
 * into v->dir, then the start command (binary first), a NULL-terminated malloc'd argv (free it
 * with run_argv_free); NULL with a message when the settings cannot be expressed or a file
 * cannot be written. */
char **kind_prepare(const struct kind *k, const char *binary, const struct scenario_cell *c,
                    size_t idx, const struct kind_vars *v, char *err, size_t errlen);

/* The first line the binary prints for the adapter's `version:` arguments (on stdout or
 * stderr: nginx -v writes to stderr), "" when it has none. */
void kind_version(const struct kind *k, const char *binary, char *out, size_t outlen);

/* Where the proxy's logs go, relative to the cell's folder, with {name} filled in ("" when the
 * adapter does not say). */
void kind_error_log(const struct kind *k, const char *name, char *out, size_t outlen);
void kind_access_log(const struct kind *k, const char *name, char *out, size_t outlen);

/* One access-log line as racelab reads it (the adapter's `access_log:` map). */
struct kind_entry {
    int status;           /* the client's status, 0 when absent */
    int attempts;         /* upstream attempts, 0 when unknown */
    bool upstream_reset;  /* the upstream connection was reset or closed under the request */
    bool retried;         /* more than one attempt */
    long downstream_port; /* the client's port, 0 when absent */
};

/* Reads one line of the proxy's access log. Returns 0, or -1 when it is not a line of the
 * adapter's format. */
int kind_read_entry(const struct kind *k, const char *line, struct kind_entry *e);

/* What proxy `name`'s own logs in the cell's folder dir say, for results.json (no check reads
 * it yet): {"requests", "statuses": {"200": N, ...}, "retried", "upstream_resets" (access-log
 * lines with the adapter's reset words), "error_log_resets" (error-log lines with its
 * error_resets words), "unread_lines"}; the keys whose log the adapter does not name are left
 * out. NULL when out of memory. */
json_t *kind_log_summary(const struct kind *k, const char *dir, const char *name);

#endif
