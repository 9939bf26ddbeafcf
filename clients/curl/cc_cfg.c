#include "cc_cfg.h"

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>

#include "dn_cfg.h"
#include "net.h"
#include "opt.h"

static const char *const fail_names[] = {"stop", "reconnect", NULL};

static int parse_gap(void *cfg, const char *val, char *err, size_t errlen)
{
    struct cc_cfg *c = cfg;
    if (dn_parse_ms_us(val, &c->gap_us) != 0) {
        snprintf(err, errlen, "expected milliseconds (e.g. 100, 99.5, 250ms, 2s), got '%s'", val);
        return -1;
    }
    c->gap_given = true;
    return 0;
}

static int parse_sweep(void *cfg, const char *val, char *err, size_t errlen)
{
    struct cc_cfg *c = cfg;
    char buf[3][64];
    long x[3];
    const char *p = val;
    for (int i = 0; i < 3; i++) {
        const char *e = strchr(p, ':');
        size_t n = e && i < 2 ? (size_t)(e - p) : strlen(p);
        if ((i < 2 && !e) || n >= sizeof(buf[i]))
            goto bad;
        memcpy(buf[i], p, n);
        buf[i][n] = '\0';
        p += n + (i < 2);
        if (dn_parse_ms_us(buf[i], &x[i]) != 0)
            goto bad;
    }
    if (x[2] <= 0 || x[1] < x[0]) {
        snprintf(err, errlen, "expected FROM <= TO and STEP > 0, got '%s'", val);
        return -1;
    }
    if ((x[1] - x[0]) / x[2] >= CC_MAX_SWEEP) {
        snprintf(err, errlen, "at most %d gaps, got '%s'", CC_MAX_SWEEP, val);
        return -1;
    }
    c->nsweep = 0;
    for (long g = x[0]; g <= x[1]; g += x[2])
        c->sweep[c->nsweep++] = g;
    return 0;
bad:
    snprintf(err, errlen, "expected FROM:TO:STEP in milliseconds (e.g. 0:200:10), got '%s'", val);
    return -1;
}

static int parse_header(void *cfg, const char *val, char *err, size_t errlen)
{
    struct cc_cfg *c = cfg;
    const char *colon = strchr(val, ':');
    if (!colon || colon == val || strpbrk(val, "\r\n") || memchr(val, ' ', (size_t)(colon - val))) {
        snprintf(err, errlen, "expected \"Name: value\" on one line, got '%s'", val);
        return -1;
    }
    if (c->nheaders >= CC_MAX_HEADERS) {
        snprintf(err, errlen, "at most %d headers", CC_MAX_HEADERS);
        return -1;
    }
    c->headers[c->nheaders++] = val;
    return 0;
}

#define F(field) offsetof(struct cc_cfg, field)

static const struct opt_spec cc_opts[] = {
    {.name = "target",
     .type = OPT_STR,
     .off = F(target),
     .metavar = "ADDR",
     .help = "server or proxy to send to, HOST:PORT (required)"},
    {.name = "trials",
     .type = OPT_INT,
     .off = F(trials),
     .metavar = "N",
     .help = "number of trials (default 1); each trial starts with new easy handles",
     .min = 1,
     .max = LONG_MAX},
    {.name = "conns",
     .type = OPT_INT,
     .off = F(conns),
     .metavar = "C",
     .help = "connections per trial, run together (default 1): each its own easy handle in a "
             "thread of its own, whose connection cache (CURLOPT_MAXCONNECTS 1) is that "
             "connection",
     .min = 1,
     .max = 10000},
    {.name = "requests",
     .type = OPT_INT,
     .off = F(requests),
     .metavar = "R",
     .help = "requests per connection (default 1; the 2nd and later are performed on the same "
             "easy handle, which reuses its cached connection unless libcurl finds it dead)",
     .min = 1,
     .max = LONG_MAX},
    {.name = "gap",
     .type = OPT_CUSTOM,
     .metavar = "MS",
     .help = "pause between a response (body read to its end) and the next request of the "
             "connection; fractions allowed (99.5)",
     .parse = parse_gap},
    {.name = "gap-sweep",
     .type = OPT_CUSTOM,
     .metavar = "FROM:TO:STEP",
     .help = "trial i uses the (i mod K)-th gap of FROM, FROM+STEP, ... TO (ms, fractions "
             "allowed); records carry gap_ms and reuse_gap_ms",
     .parse = parse_sweep},
    {.name = "trial-gap",
     .type = OPT_MS,
     .off = F(trial_gap_ms),
     .metavar = "MS",
     .help = "pause between the end of a trial and the start of the next",
     .min = 0,
     .max = LONG_MAX},
    {.name = "method",
     .type = OPT_STR,
     .off = F(method),
     .metavar = "M",
     .help = "request method (default GET)"},
    {.name = "path",
     .type = OPT_STR,
     .off = F(path),
     .metavar = "P",
     .help = "request target (default /)"},
    {.name = "header",
     .type = OPT_CUSTOM,
     .metavar = "\"Name: value\"",
     .help = "extra request header (repeatable)",
     .parse = parse_header},
    {.name = "body-size",
     .type = OPT_SIZE,
     .off = F(body_size),
     .metavar = "SIZE",
     .help = "request body bytes (k/m/g), sent with Content-Length (CURLOPT_POSTFIELDS)",
     .min = 0,
     .max = LONG_MAX},
    {.name = "timeout",
     .type = OPT_MS,
     .off = F(timeout_ms),
     .metavar = "MS",
     .help = "per-request timeout, the whole transfer (CURLOPT_TIMEOUT_MS; default 5000; outcome "
             "`timeout`)",
     .min = 1,
     .max = LONG_MAX},
    {.name = "connect-timeout",
     .type = OPT_MS,
     .off = F(connect_timeout_ms),
     .metavar = "MS",
     .help = "connect timeout (CURLOPT_CONNECTTIMEOUT_MS; default 2000; outcome `connect-error`)",
     .min = 1,
     .max = LONG_MAX},
    {.name = "on-failure",
     .type = OPT_ENUM,
     .off = F(on_failure),
     .metavar = "stop|reconnect",
     .help = "after a failed request (reset, empty, partial, timeout, connect-error): stop "
             "(default) = the connection's remaining requests are skipped; reconnect = the next "
             "request goes to the same easy handle, which opens a new connection",
     .choices = fail_names},
    {.name = "records",
     .type = OPT_STR,
     .off = F(records),
     .metavar = "FILE",
     .help = "one JSON line per request (docs/clients.md); default stdout"},
    OPT_END,
};

void cc_cfg_usage(FILE *out)
{
    opt_usage(out, "racelab-client-curl", "--target ADDR [flags]",
              "racelab-downstream's workload through libcurl: one easy handle per connection "
              "(its connection cache is that connection), requests reused after --gap as "
              "libcurl decides; each attempt's local port from CURLOPT_PREREQFUNCTION, retries "
              "from libcurl's own \"Connection died, retrying a fresh connect\". One JSON line per "
              "request with racelab-downstream's fields plus retried, lports, error and client "
              "(docs/clients.md); a summary on stderr. Exit 0 when every trial ran (failed "
              "requests are data), 2 on a bad flag.",
              cc_opts);
}

long cc_cfg_gap_us(const struct cc_cfg *c, long trial)
{
    return c->nsweep ? c->sweep[(size_t)trial % c->nsweep] : c->gap_us;
}

int cc_cfg_parse(struct cc_cfg *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->trials = c->conns = c->requests = 1;
    c->method = "GET";
    c->path = "/";
    c->timeout_ms = 5000;
    c->connect_timeout_ms = 2000;
    c->on_failure = CC_FAIL_STOP;
    int rc = opt_parse(cc_opts, c, argc, argv, 1, NULL, NULL, 0, NULL, err, errlen);
    if (rc == OPT_BAD) {
        /* a racelab-downstream flag: say so rather than "unknown" */
        char name[128];
        if (sscanf(err, "unknown flag --%127[^ ]", name) == 1 && opt_find(dn_opts, name))
            snprintf(err, errlen,
                     "--%s is a racelab-downstream flag that this driver does not support: "
                     "libcurl decides that itself (docs/clients.md)",
                     name);
        return OPT_BAD;
    }
    if (rc != OPT_OK)
        return rc;
    if (!c->target) {
        snprintf(err, errlen, "--target is required (HOST:PORT)");
        return OPT_BAD;
    }
    struct sockaddr_in a;
    char why[200];
    if (net_parse_addr(c->target, &a, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--target: %s", why);
        return OPT_BAD;
    }
    if (a.sin_port == 0) {
        snprintf(err, errlen, "--target: port 0 is not a destination");
        return OPT_BAD;
    }
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof(host));
    snprintf(c->url_base, sizeof(c->url_base), "http://%s:%u", host, (unsigned)ntohs(a.sin_port));
    if (c->gap_given && c->nsweep) {
        snprintf(err, errlen, "--gap contradicts --gap-sweep (the sweep chooses each trial's gap)");
        return OPT_BAD;
    }
    return OPT_OK;
}
