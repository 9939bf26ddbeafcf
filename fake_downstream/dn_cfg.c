#include "dn_cfg.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "net.h"

static const char *const werr_names[] = {"give-up", "read", NULL};
static const char *const fail_names[] = {"stop", "reconnect", NULL};
static const char *const conn_names[] = {"close", "keep-alive", "none", NULL};

int dn_parse_ms_us(const char *s, long *us)
{
    long whole = 0, frac = 0, scale = 1000; /* µs per ms */
    int fdigits = 0;
    const char *p = s;
    if (!s || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > LONG_MAX / 10000000L)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++fdigits > 6)
                return -1;
            frac = frac * 10 + (*p - '0');
        }
    }
    if (strcmp(p, "s") == 0)
        scale = 1000000;
    else if (*p && strcmp(p, "ms") != 0)
        return -1;
    /* frac has fdigits decimals of the unit; keep what is a whole µs, refuse finer values */
    long fr_us = frac * scale;
    for (int i = 0; i < fdigits; i++) {
        if (fr_us % 10)
            return -1;
        fr_us /= 10;
    }
    *us = whole * scale + fr_us;
    return 0;
}

static int parse_gap(void *cfg, const char *val, char *err, size_t errlen)
{
    struct dn_cfg *c = cfg;
    if (dn_parse_ms_us(val, &c->gap_us) != 0) {
        snprintf(err, errlen, "expected milliseconds (e.g. 100, 99.5, 250ms, 2s), got '%s'", val);
        return -1;
    }
    c->gap_given = true;
    return 0;
}

static int parse_sweep(void *cfg, const char *val, char *err, size_t errlen)
{
    struct dn_cfg *c = cfg;
    char buf[3][64];
    const char *p = val;
    for (int i = 0; i < 3; i++) {
        const char *e = strchr(p, ':');
        size_t n = e && i < 2 ? (size_t)(e - p) : strlen(p);
        if ((i < 2 && !e) || n >= sizeof(buf[i]))
            goto bad;
        memcpy(buf[i], p, n);
        buf[i][n] = '\0';
        p += n + (i < 2);
    }
    if (dn_parse_ms_us(buf[0], &c->sweep_from_us) != 0 ||
        dn_parse_ms_us(buf[1], &c->sweep_to_us) != 0 ||
        dn_parse_ms_us(buf[2], &c->sweep_step_us) != 0)
        goto bad;
    if (c->sweep_step_us <= 0 || c->sweep_to_us < c->sweep_from_us) {
        snprintf(err, errlen, "expected FROM <= TO and STEP > 0, got '%s'", val);
        return -1;
    }
    c->sweep_given = true;
    return 0;
bad:
    snprintf(err, errlen, "expected FROM:TO:STEP in milliseconds (e.g. 0:200:10), got '%s'", val);
    return -1;
}

static int parse_header(void *cfg, const char *val, char *err, size_t errlen)
{
    struct dn_cfg *c = cfg;
    const char *colon = strchr(val, ':');
    if (!colon || colon == val || strpbrk(val, "\r\n") || memchr(val, ' ', (size_t)(colon - val))) {
        snprintf(err, errlen, "expected \"Name: value\" on one line, got '%s'", val);
        return -1;
    }
    if (c->nheaders >= DN_MAX_HEADERS) {
        snprintf(err, errlen, "at most %d headers", DN_MAX_HEADERS);
        return -1;
    }
    c->headers[c->nheaders++] = val;
    return 0;
}

static int parse_keep(void *cfg, const char *val, char *err, size_t errlen)
{
    ((struct dn_cfg *)cfg)->counters = true;
    return keep_parse(&((struct dn_cfg *)cfg)->records_keep, val, err, errlen);
}

#define F(field) offsetof(struct dn_cfg, field)

const struct opt_spec dn_opts[] = {
    {.name = "target",
     .type = OPT_STR,
     .off = F(target),
     .metavar = "ADDR",
     .help = "server or proxy to send to, HOST:PORT (required)"},
    {.name = "trials",
     .type = OPT_INT,
     .off = F(trials),
     .metavar = "N",
     .help = "number of trials (default 1)",
     .min = 1,
     .max = LONG_MAX},
    {.name = "conns",
     .type = OPT_INT,
     .off = F(conns),
     .metavar = "C",
     .help = "connections per trial, opened together (default 1)",
     .min = 1,
     .max = 10000},
    {.name = "requests",
     .type = OPT_INT,
     .off = F(requests),
     .metavar = "R",
     .help =
         "requests per connection (default 1; the 2nd and later reuse it: keep-alive reuse races)",
     .min = 1,
     .max = LONG_MAX},
    {.name = "parallel",
     .type = OPT_INT,
     .off = F(parallel),
     .metavar = "P",
     .help = "trials running at once (default 1)",
     .min = 1,
     .max = 10000},
    {.name = "trial-gap",
     .type = OPT_MS,
     .off = F(trial_gap_ms),
     .metavar = "MS",
     .help = "pause between the end of a trial and the start of the next",
     .min = 0,
     .max = LONG_MAX},
    {.name = "gap",
     .type = OPT_CUSTOM,
     .metavar = "MS",
     .help = "pause between a response and the next request on the same connection, which is "
             "reused WITHOUT checking for a FIN first (that is the point: envoy#6815, "
             "envoy#13388); fractions allowed (99.5)",
     .parse = parse_gap},
    {.name = "gap-sweep",
     .type = OPT_CUSTOM,
     .metavar = "FROM:TO:STEP",
     .help = "trial i uses the (i mod K)-th gap of FROM, FROM+STEP, ... TO (ms, fractions "
             "allowed); records carry gap_ms and, on every record of the trial, reuse_gap_ms, so "
             "failure probability per gap is the race window as data",
     .parse = parse_sweep},
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
    {.name = "no-tag",
     .type = OPT_FLAG,
     .off = F(no_tag),
     .flag_value = true,
     .help = "do not send the header " DN_TAG_HEADER ": TRIAL.CONN.REQ (sent last in every "
             "request head by default, so that the upstream's log names the trial of each of a "
             "proxy's upstream connections)"},
    {.name = "body-size",
     .type = OPT_SIZE,
     .off = F(body_size),
     .metavar = "SIZE",
     .help = "request body bytes (k/m/g), sent with Content-Length unless --chunked; larger than "
             "the socket buffers, it is still uploading when an early answer comes (envoy#2929)",
     .min = 0,
     .max = LONG_MAX},
    {.name = "chunked",
     .type = OPT_FLAG,
     .off = F(chunked),
     .flag_value = true,
     .help = "send the body with Transfer-Encoding: chunked (one chunk, or one per "
             "--upload-chunk)"},
    {.name = "split-head",
     .type = OPT_FLAG,
     .off = F(split_head),
     .flag_value = true,
     .help = "write the request head in a write of its own, then the body (default: head, body "
             "and chunk framing go in one write, as far as the socket buffer takes them, as "
             "clients write a small request). The client that streams its body after the head: "
             "a proxy that forwards the head at once onto a reused upstream connection has sent "
             "part of the request when that connection turns out dead, so it can neither retry "
             "nor answer 502 (HAProxy closes the client with no response, whatever its "
             "retry-on); implied by --upload-delay"},
    {.name = "upload-delay",
     .type = OPT_MS,
     .off = F(upload_delay_ms),
     .metavar = "MS",
     .help = "send the head, wait MS, then the body (implies --split-head; a server that answers "
             "on the head answers while the body is still to come)",
     .min = 0,
     .max = LONG_MAX},
    {.name = "upload-after-response",
     .type = OPT_FLAG,
     .off = F(upload_after_response),
     .flag_value = true,
     .help = "after the head, wait until the response (or a FIN, or an RST) has arrived - "
             "without reading it - then upload the body; --upload-delay MS bounds the wait "
             "(default 1000). Puts the body after an early response on purpose, whatever the "
             "scheduling: the order upload-after-fin needs, on a loaded machine too (implies "
             "--split-head)"},
    {.name = "upload-chunk",
     .type = OPT_SIZE,
     .off = F(upload_chunk),
     .metavar = "SIZE",
     .help = "body bytes per write (default: the whole body in one write, as far as the socket "
             "buffer takes it); the first write carries the head too unless it is split; with "
             "--chunked, each write is one chunk",
     .min = 0,
     .max = LONG_MAX},
    {.name = "upload-pace",
     .type = OPT_MS,
     .off = F(upload_pace_ms),
     .metavar = "MS",
     .help = "pause between body writes of --upload-chunk bytes (a slow uploader that is still "
             "sending after the server's FIN: upload-after-fin)",
     .min = 0,
     .max = LONG_MAX},
    {.name = "on-write-error",
     .type = OPT_ENUM,
     .off = F(on_write_error),
     .metavar = "give-up|read",
     .help = "on EPIPE/ECONNRESET while writing: give-up (default) = record `reset` without "
             "reading (as "
             "many clients and proxies do, so an early 413 is never seen); read = go on to read "
             "the response already queued (Linux keeps it after the RST)",
     .choices = werr_names},
    {.name = "read-while-uploading",
     .type = OPT_FLAG,
     .off = F(read_while_uploading),
     .flag_value = true,
     .help = "careful client: watch for a response while uploading and stop uploading when one "
             "arrives"},
    {.name = "on-failure",
     .type = OPT_ENUM,
     .off = F(on_failure),
     .metavar = "stop|reconnect",
     .help = "after a failed request (reset, empty, partial, timeout, connect-error): stop "
             "(default) = the connection's remaining requests are skipped; reconnect = the next "
             "request (after --gap) opens a new connection and the sequence goes on, as a "
             "client's pool does (records: lport, reconnected). The workload that a proxy's "
             "per-connection reuse rules answer (HAProxy's http-reuse safe: the first request "
             "of a client connection never goes on a reused server connection)",
     .choices = fail_names},
    {.name = "http10",
     .type = OPT_FLAG,
     .off = F(http10),
     .flag_value = true,
     .help = "HTTP/1.0 request line (no keep-alive unless --connection keep-alive)"},
    {.name = "connection",
     .type = OPT_ENUM,
     .off = F(connection),
     .metavar = "close|keep-alive|none",
     .help = "the Connection header sent (default none: no header)",
     .choices = conn_names},
    {.name = "idle-timeout",
     .type = OPT_MS,
     .off = F(idle_timeout_ms),
     .metavar = "MS",
     .help = "the client's own idle timeout: a connection idle longer is closed by the client and "
             "the next request opens a new one (a client timeout shorter than the server's: the "
             "envoy#13388 fix); 0 = none",
     .min = 0,
     .max = LONG_MAX},
    {.name = "check-before-reuse",
     .type = OPT_FLAG,
     .off = F(check_before_reuse),
     .flag_value = true,
     .help = "careful client: recv(MSG_PEEK|MSG_DONTWAIT) before reusing a connection; EOF or an "
             "error opens a new one (urllib3's liveness check)"},
    {.name = "timeout",
     .type = OPT_MS,
     .off = F(timeout_ms),
     .metavar = "MS",
     .help = "per-request response timeout (default 5000; outcome `timeout`)",
     .min = 1,
     .max = LONG_MAX},
    {.name = "connect-timeout",
     .type = OPT_MS,
     .off = F(connect_timeout_ms),
     .metavar = "MS",
     .help = "connect timeout (default 2000; outcome `connect-error`)",
     .min = 1,
     .max = LONG_MAX},
    {.name = "records",
     .type = OPT_STR,
     .off = F(records),
     .metavar = "FILE",
     .help = "one JSON line per request (docs/records.md); default stdout"},
    {.name = "records-keep",
     .type = OPT_CUSTOM,
     .metavar = "all|failures[:N[:MAX]]",
     .help = "which requests get a record: all (default), or only the failing ones (an outcome "
             "other than a 2xx status; with :MAX only the first MAX) and one good one in N; with "
             "the flag (all too), a `counters` line "
             "(requests, outcomes, latency histogram) every second and a final one at exit, so "
             "the records grow with the failures, not with the traffic (a soak)",
     .parse = parse_keep},
    {.name = "rate",
     .type = OPT_INT,
     .off = F(rate),
     .metavar = "R",
     .help = "start at most R requests per second on average: trials are started at R / "
             "(conns x requests) per second (default 0, no limit)",
     .min = 0,
     .max = 100000000},
    OPT_END,
};

void dn_cfg_defaults(struct dn_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->target = NULL; /* required */
    c->trials = 1;
    c->conns = 1;
    c->requests = 1;
    c->parallel = 1;
    c->trial_gap_ms = 0;
    c->gap_us = 0; /* reuse at once */
    c->method = "GET";
    c->path = "/";
    c->body_size = 0;
    c->chunked = false;
    c->split_head = false; /* one write per request, as far as the socket buffer takes it */
    c->upload_delay_ms = 0;
    c->upload_chunk = 0; /* the whole body in one write, as far as the kernel takes it */
    c->upload_pace_ms = 0;
    c->on_write_error = DN_WERR_GIVE_UP; /* the misbehaving client of the seed */
    c->read_while_uploading = false;
    c->on_failure = DN_FAIL_STOP; /* the seed's clients give up on the connection */
    c->http10 = false;
    c->connection = DN_CONN_NONE;
    c->idle_timeout_ms = 0;
    c->check_before_reuse = false; /* reuse blindly: the seed's clients do */
    c->timeout_ms = 5000;
    c->connect_timeout_ms = 2000;
    c->records = NULL; /* stdout */
}

int dn_cfg_check(struct dn_cfg *c, char *err, size_t errlen)
{
    char why[160];
    if (!c->target) {
        snprintf(err, errlen, "--target is required (HOST:PORT)");
        return -1;
    }
    if (net_parse_addr(c->target, &c->target_addr, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--target: %s", why);
        return -1;
    }
    if (c->target_addr.sin_port == 0) {
        snprintf(err, errlen, "--target: port 0 is not a destination");
        return -1;
    }
    if (c->gap_given && c->sweep_given) {
        snprintf(err, errlen, "--gap contradicts --gap-sweep (the sweep chooses each trial's gap)");
        return -1;
    }
    if (c->upload_pace_ms && !c->upload_chunk) {
        snprintf(err, errlen, "--upload-pace needs --upload-chunk (the pause is between chunks)");
        return -1;
    }
    if (!c->body_size && (c->upload_delay_ms || c->upload_chunk || c->upload_after_response)) {
        snprintf(err, errlen, "%s needs --body-size (there is no body to upload)",
                 c->upload_delay_ms         ? "--upload-delay"
                 : c->upload_after_response ? "--upload-after-response"
                                            : "--upload-chunk");
        return -1;
    }
    if (c->upload_after_response && !c->upload_delay_ms)
        c->upload_delay_ms = 1000; /* the longest wait for the response */
    if (c->split_head && !c->body_size && !c->chunked) {
        snprintf(err, errlen,
                 "--split-head needs --body-size or --chunked (there is no body to write apart)");
        return -1;
    }
    if (c->chunked && c->http10) {
        snprintf(err, errlen, "--chunked contradicts --http10 (HTTP/1.0 has no chunked encoding)");
        return -1;
    }
    return 0;
}

int dn_cfg_parse(struct dn_cfg *c, int argc, char **argv, char *err, size_t errlen)
{
    int rc = opt_parse(dn_opts, c, argc, argv, 1, NULL, NULL, 0, NULL, err, errlen);
    if (rc != OPT_OK)
        return rc;
    return dn_cfg_check(c, err, errlen) == 0 ? OPT_OK : OPT_BAD;
}

void dn_cfg_usage(FILE *out)
{
    opt_usage(out, "racelab-downstream", "--target ADDR [flags]",
              "A scriptable HTTP/1.1 and 1.0 client: the misbehaving clients of the seed. It "
              "reuses keep-alive connections at exact gaps without checking for a FIN, keeps "
              "uploading after the server closed, gives up on a write error without reading, and "
              "skips a connection's remaining requests after a failed one. A request goes in one "
              "write (head and body) unless a flag asks for more. One JSON line per request "
              "(docs/records.md); a summary on stderr.",
              dn_opts);
}

bool dn_cfg_split_head(const struct dn_cfg *c)
{
    return c->split_head || c->upload_delay_ms > 0 || c->upload_after_response;
}

long dn_cfg_gap_us(const struct dn_cfg *c, long trial)
{
    if (!c->sweep_given)
        return c->gap_us;
    long k = (c->sweep_to_us - c->sweep_from_us) / c->sweep_step_us + 1;
    return c->sweep_from_us + (trial % k) * c->sweep_step_us;
}
