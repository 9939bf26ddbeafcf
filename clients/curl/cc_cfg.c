#include "cc_cfg.h"

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>

#include "dn_cfg.h"
#include "opt.h"

/* The racelab-downstream flags a library client takes: their entries of dn_opts (same parsers,
 * help and messages), parsed into a struct dn_cfg. The others are libcurl's to decide. */
static const char *const applicable[] = {
    "target",          "trials",     "conns",   "requests", "gap",       "gap-sweep",
    "trial-gap",       "method",     "path",    "header",   "body-size", "timeout",
    "connect-timeout", "on-failure", "records", "no-tag",   NULL,
};

static struct opt_spec table[sizeof(applicable) / sizeof(applicable[0])];

static const struct opt_spec *cc_opts(void)
{
    if (!table[0].name) {
        size_t n = 0;
        for (size_t i = 0; applicable[i]; i++) {
            const struct opt_spec *s = opt_find(dn_opts, applicable[i]);
            if (s)
                table[n++] = *s;
        }
        table[n] = (struct opt_spec)OPT_END;
    }
    return table;
}

void cc_cfg_usage(FILE *out)
{
    opt_usage(out, "racelab-client-curl", "--target ADDR [flags]",
              "racelab-downstream's workload through libcurl: one easy handle per connection "
              "(its connection cache is that connection), requests reused after --gap as "
              "libcurl decides; each attempt's local port from CURLOPT_PREREQFUNCTION, retries "
              "from libcurl's own \"Connection died, retrying a fresh connect\". One JSON line per "
              "request with racelab-downstream's fields plus retried, lports, error and client "
              "(docs/clients.md); a summary on stderr. Exit 0 when every trial ran (failed "
              "requests are data), 2 on a bad flag. --version prints libcurl's version.",
              cc_opts());
}

long cc_cfg_gap_us(const struct cc_cfg *c, long trial)
{
    return dn_cfg_gap_us(&c->dn, trial);
}

int cc_cfg_parse(struct cc_cfg *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    struct dn_cfg *d = &c->dn;
    dn_cfg_defaults(d);
    int rc = opt_parse(cc_opts(), d, argc, argv, 1, NULL, NULL, 0, NULL, err, errlen);
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
    /* racelab-downstream's own rules: --target required and parsed, contradictions */
    if (dn_cfg_check(d, err, errlen) != 0)
        return OPT_BAD;
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &d->target_addr.sin_addr, host, sizeof(host));
    snprintf(c->url_base, sizeof(c->url_base), "http://%s:%u", host,
             (unsigned)ntohs(d->target_addr.sin_port));
    c->target = d->target;
    c->trials = d->trials;
    c->conns = d->conns;
    c->requests = d->requests;
    c->trial_gap_ms = d->trial_gap_ms;
    c->method = d->method;
    c->path = d->path;
    for (size_t i = 0; i < d->nheaders && i < CC_MAX_HEADERS; i++)
        c->headers[c->nheaders++] = d->headers[i];
    c->body_size = d->body_size;
    c->timeout_ms = d->timeout_ms;
    c->connect_timeout_ms = d->connect_timeout_ms;
    c->on_failure = d->on_failure == DN_FAIL_RECONNECT ? CC_FAIL_RECONNECT : CC_FAIL_STOP;
    c->records = d->records;
    c->no_tag = d->no_tag;
    return OPT_OK;
}
