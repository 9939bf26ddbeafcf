#include "up_cfg.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "net.h"

static const char *const framing_names[] = {"length", "chunked", "close", NULL};
static const char *const close_how_names[] = {"fin", "fin-with-data", "rst", "shutdown", NULL};

/* "Name: value" with a token name and no line breaks, so a scenario cannot smuggle a second
 * header line (or a body) into the response head by accident. */
static int parse_header(void *cfg, const char *val, char *err, size_t errlen)
{
    struct up_cfg *c = cfg;
    const char *colon = strchr(val, ':');
    if (!colon || colon == val) {
        snprintf(err, errlen, "expected \"Name: value\", got '%s'", val);
        return -1;
    }
    for (const char *p = val; p < colon; p++) {
        if (!strchr("!#$%&'*+-.^_`|~", *p) &&
            !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) {
            snprintf(err, errlen, "bad character in header name of '%s'", val);
            return -1;
        }
    }
    if (strpbrk(val, "\r\n")) {
        snprintf(err, errlen, "line break in header '%s'", val);
        return -1;
    }
    if (c->nheaders >= UP_MAX_HEADERS) {
        snprintf(err, errlen, "at most %d headers", UP_MAX_HEADERS);
        return -1;
    }
    c->headers[c->nheaders++] = val;
    return 0;
}

static int parse_seed(void *cfg, const char *val, char *err, size_t errlen)
{
    struct up_cfg *c = cfg;
    if (opt_parse_long(val, &c->seed) != 0 || c->seed < 0) {
        snprintf(err, errlen, "expected a whole number >= 0, got '%s'", val);
        return -1;
    }
    c->seed_given = true;
    return 0;
}

static int parse_log_keep(void *cfg, const char *val, char *err, size_t errlen)
{
    return keep_parse(&((struct up_cfg *)cfg)->log_keep, val, err, errlen);
}

#define F(field) offsetof(struct up_cfg, field)

const struct opt_spec up_opts[] = {
    {.name = "listen",
     .type = OPT_STR,
     .off = F(listen),
     .metavar = "ADDR",
     .help = "address to listen on, HOST:PORT (default 127.0.0.1:0, any free port)"},
    {.name = "port-file",
     .type = OPT_STR,
     .off = F(port_file),
     .metavar = "FILE",
     .help = "write the bound port to FILE once listening (atomically), for tests and the harness"},
    {.name = "log",
     .type = OPT_STR,
     .off = F(log),
     .metavar = "FILE",
     .help = "JSON line per event (listen, accept, request, response, close, exit) with µs "
             "timestamps and ports, as in docs/records.md; \"-\" is stdout"},
    {.name = "status",
     .type = OPT_INT,
     .off = F(status),
     .metavar = "N",
     .help = "response status code (default 200; e.g. 413 with --answer-early: premature-close)",
     .min = 100,
     .max = 999},
    {.name = "body-size",
     .type = OPT_SIZE,
     .off = F(body_size),
     .metavar = "SIZE",
     .help = "response body bytes (default 2; k/m/g suffixes)",
     .min = 0,
     .max = LONG_MAX},
    {.name = "framing",
     .type = OPT_ENUM,
     .off = F(framing),
     .metavar = "length|chunked|close",
     .help = "response body framing (default length); close = no Content-Length, the body ends "
             "when the server closes (HTTP/1.0 style: what delay-close-cost, envoy#19821, is "
             "about)",
     .choices = framing_names},
    {.name = "http10",
     .type = OPT_FLAG,
     .off = F(http10),
     .flag_value = true,
     .help = "HTTP/1.0 status line; the connection stays open only for a client that asked for "
             "keep-alive (then the response says \"Connection: keep-alive\")"},
    {.name = "header",
     .type = OPT_CUSTOM,
     .metavar = "\"Name: value\"",
     .help = "extra response header (repeatable)",
     .parse = parse_header},
    {.name = "close-random",
     .type = OPT_INT,
     .off = F(close_random),
     .metavar = "N",
     .help = "after each response of a kept-alive connection, close it with probability 1/N (a "
             "seeded draw, see --seed; not announced unless --announce-close): the rare "
             "unannounced close a soak finds at its natural rate (0 = never)",
     .min = 0,
     .max = 1000000000},
    {.name = "seed",
     .type = OPT_CUSTOM,
     .metavar = "S",
     .help = "seed of --close-random's draws (default 1): the same seed and the same requests "
             "close the same responses",
     .parse = parse_seed},
    {.name = "log-keep",
     .type = OPT_CUSTOM,
     .metavar = "all|failures[:N[:MAX]]",
     .help = "which events reach --log: all (default), or, with failures, only the close of a "
             "connection that ended abnormally (an RST: bytes unread or --close-how rst; a "
             "socket error; a --close-random close; with :MAX only the first MAX) and one request "
             "in N with its response; "
             "the exit event then carries the counters (connections, requests, responses, "
             "closes by why)",
     .parse = parse_log_keep},
    {.name = "close-after",
     .type = OPT_INT,
     .off = F(close_after),
     .metavar = "N",
     .help = "close after the Nth response on a connection (1 = after every response, 0 = never): "
             "the keep-alive server that closes between requests (envoy#6815, istio#13848)",
     .min = 0,
     .max = LONG_MAX},
    {.name = "idle-timeout",
     .type = OPT_MS,
     .off = F(idle_timeout_ms),
     .metavar = "MS",
     .help = "close a connection idle that long (0 = never): the server keep-alive timeout that a "
             "client or proxy reuses at (idle-timeout-mismatch, envoy#13388)",
     .min = 0,
     .max = LONG_MAX},
    {.name = "idle-unread",
     .type = OPT_MS,
     .off = F(idle_unread_ms),
     .metavar = "MS",
     .help = "with --idle-timeout: stop reading MS before the idle close, so a request landing in "
             "that window stays unread and the close becomes an RST (the reuse-at-timeout race, "
             "deterministic)",
     .min = 0,
     .max = LONG_MAX},
    {.name = "announce-close",
     .type = OPT_FLAG,
     .off = F(announce_close),
     .flag_value = true,
     .help = "send \"Connection: close\" on the response after which the server closes (default: "
             "close without announcing it, the envoy#6815 server)"},
    {.name = "close-how",
     .type = OPT_ENUM,
     .off = F(close_how),
     .metavar = "fin|fin-with-data|rst|shutdown",
     .help =
         "fin (default) = close(); fin-with-data = TCP_CORK before the response's last bytes, then "
         "close(), so data and FIN leave in one segment (the FIN is already in the proxy's "
         "kernel when it parses the response: envoy#2715); rst = SO_LINGER 0 + close(); "
         "shutdown = shutdown(SHUT_WR), then read and discard until the peer closes (nginx's "
         "lingering close)",
     .choices = close_how_names},
    {.name = "answer-early",
     .type = OPT_FLAG,
     .off = F(answer_early),
     .flag_value = true,
     .help = "respond as soon as the request head is parsed, without reading the body, then "
             "close: with body bytes unread the kernel sends RST (premature-close, envoy#2929)"},
    {.name = "drain-body",
     .type = OPT_FLAG,
     .off = F(drain_body),
     .flag_value = true,
     .help = "with --answer-early: after the response, read and discard the body to its end, "
             "then close (no RST: what delayed and lingering close aim for)"},
    {.name = "delay-response",
     .type = OPT_MS,
     .off = F(delay_response_ms),
     .metavar = "MS",
     .help = "pause before the response head",
     .min = 0,
     .max = LONG_MAX},
    {.name = "delay-body",
     .type = OPT_MS,
     .off = F(delay_body_ms),
     .metavar = "MS",
     .help = "pause between the response head and its body",
     .min = 0,
     .max = LONG_MAX},
    {.name = "delay-close",
     .type = OPT_MS,
     .off = F(delay_close_ms),
     .metavar = "MS",
     .help = "pause between the response's last byte and the close (a close-framed response "
             "ends only then; a reusing client has that long before the FIN)",
     .min = 0,
     .max = LONG_MAX},
    OPT_END,
};

void up_cfg_defaults(struct up_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = "127.0.0.1:0"; /* any free port; --port-file tells which */
    c->port_file = NULL;
    c->log = NULL; /* no event log */
    c->status = 200;
    c->body_size = 2; /* small, non-empty: a framing error shows */
    c->framing = UP_FRAMING_LENGTH;
    c->http10 = false;
    c->close_after = 0; /* keep-alive forever, like a well-behaved server */
    c->idle_timeout_ms = 0;
    c->idle_unread_ms = 0;
    c->announce_close = false; /* the seed's servers close without saying so */
    c->close_how = UP_CLOSE_FIN;
    c->answer_early = false; /* read the whole body before answering */
    c->drain_body = false;
    c->delay_response_ms = 0;
    c->delay_body_ms = 0;
    c->delay_close_ms = 0;
    c->close_random = 0;
    c->seed = 1;
}

int up_cfg_check(struct up_cfg *c, char *err, size_t errlen)
{
    char why[160];
    if (net_parse_addr(c->listen, &c->listen_addr, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--listen: %s", why);
        return -1;
    }
    if (c->drain_body && !c->answer_early) {
        snprintf(err, errlen,
                 "--drain-body needs --answer-early (without it the body is always "
                 "read before answering)");
        return -1;
    }
    if (c->idle_unread_ms && !c->idle_timeout_ms) {
        snprintf(err, errlen, "--idle-unread needs --idle-timeout");
        return -1;
    }
    if (c->idle_unread_ms && c->idle_unread_ms >= c->idle_timeout_ms) {
        snprintf(err, errlen, "--idle-unread (%ld) must be shorter than --idle-timeout (%ld)",
                 c->idle_unread_ms, c->idle_timeout_ms);
        return -1;
    }
    if (c->framing == UP_FRAMING_CHUNKED && c->http10) {
        snprintf(err, errlen,
                 "--framing chunked contradicts --http10 (HTTP/1.0 has no chunked "
                 "encoding)");
        return -1;
    }
    if (c->seed_given && !c->close_random) {
        snprintf(err, errlen, "--seed needs --close-random (it seeds its draws)");
        return -1;
    }
    if (c->close_how == UP_CLOSE_FIN_WITH_DATA && c->delay_close_ms) {
        snprintf(err, errlen,
                 "--close-how fin-with-data contradicts --delay-close (the cork would "
                 "hold the last bytes for the delay)");
        return -1;
    }
    return 0;
}

int up_cfg_parse(struct up_cfg *c, int argc, char **argv, char *err, size_t errlen)
{
    int rc = opt_parse(up_opts, c, argc, argv, 1, NULL, NULL, 0, NULL, err, errlen);
    if (rc != OPT_OK)
        return rc;
    return up_cfg_check(c, err, errlen) == 0 ? OPT_OK : OPT_BAD;
}

void up_cfg_usage(FILE *out)
{
    opt_usage(out, "racelab-upstream", "[flags]",
              "A scriptable HTTP/1.1 and 1.0 server: each flag chooses when and how it closes a "
              "connection, so that a client or proxy in front of it meets one of the seed's "
              "connection-close races on every trial. Events go to --log as JSON lines "
              "(docs/records.md).",
              up_opts);
}

const char *up_close_how_name(enum up_close_how h)
{
    switch (h) {
    case UP_CLOSE_FIN:
        return "fin";
    case UP_CLOSE_FIN_WITH_DATA:
        return "fin-with-data";
    case UP_CLOSE_RST:
        return "rst";
    case UP_CLOSE_SHUTDOWN:
        return "shutdown";
    }
    return "?";
}
