/* racelab-client-curl: racelab-downstream's workload (trials × connections × requests, a gap
 * before each reuse) sent with libcurl, one JSON line per request with racelab-downstream's
 * fields and what the library did (docs/clients.md).
 *
 * A "connection" is an easy handle of its own, performed in a thread of its own: libcurl keeps
 * the handle's connection in the handle's cache (CURLOPT_MAXCONNECTS 1), so the 2nd and later
 * requests are offered that connection and libcurl decides whether to reuse it, to drop it as
 * dead, or to retry on a fresh one. CURLOPT_PREREQFUNCTION runs once per attempt, just before
 * the request is sent, with the connection's local port; libcurl's own info text (the debug
 * callback) says when it reused a connection ("Re-using existing connection"), found one dead,
 * and retried ("Connection died, retrying a fresh connect"). */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cc_cfg.h"
#include "clk.h"
#include "jl.h"
#include "opt.h"

#define MAX_ATTEMPTS 16

static struct cc_cfg cfg;
static int rec_fd = STDOUT_FILENO;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static char client_json[256];
static uint64_t t0_us;
static long nreq;
static bool write_failed;

/* outcome counts for the summary line */
static struct {
    char name[24];
    long n;
} counts[32];
static size_t ncounts;

/* One request as libcurl handled it. */
struct attempts {
    int port[MAX_ATTEMPTS];
    bool reused[MAX_ATTEMPTS];
    size_t n;
    bool reuse_seen; /* "Re-using existing connection" since the last attempt */
    int retries;     /* "Connection died, retrying a fresh connect" */
    bool conn_close; /* the response said Connection: close, or was HTTP/1.0 */
    char said[1536]; /* those lines of libcurl's info text, as a JSON array's items */
    size_t said_len;
};

/* libcurl's info lines that say what it did with the connection */
static const char *const telling[] = {
    "Re-using existing connection",
    "seems to be dead",
    "retrying a fresh connect",
    "Recv failure",
    "Send failure",
    "Empty reply",
    "rewindbeforesend",
    NULL,
};

static void said(struct attempts *a, const char *line)
{
    char esc[300];
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    size_t el = jl_escape(esc, sizeof(esc), line, n);
    if (a->said_len + el + 2 < sizeof(a->said)) {
        if (a->said_len)
            a->said[a->said_len++] = ',';
        memcpy(a->said + a->said_len, esc, el);
        a->said_len += el;
        a->said[a->said_len] = '\0';
    }
}

static int on_prereq(void *p, char *rip, char *lip, int rport, int lport)
{
    (void)rip;
    (void)lip;
    (void)rport;
    struct attempts *a = p;
    if (a->n < MAX_ATTEMPTS) {
        a->port[a->n] = lport;
        a->reused[a->n] = a->reuse_seen;
        a->n++;
    }
    a->reuse_seen = false;
    return CURL_PREREQFUNC_OK;
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *p)
{
    (void)h;
    struct attempts *a = p;
    if (type != CURLINFO_TEXT)
        return 0;
    char line[256];
    size_t n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
    memcpy(line, data, n);
    line[n] = '\0';
    if (strstr(line, "Re-using existing connection"))
        a->reuse_seen = true;
    else if (strstr(line, "retrying a fresh connect"))
        a->retries++;
    for (int i = 0; telling[i]; i++) {
        if (strstr(line, telling[i])) {
            said(a, line);
            break;
        }
    }
    return 0;
}

static size_t on_header(char *b, size_t size, size_t n, void *p)
{
    struct attempts *a = p;
    size_t len = size * n;
    if (len >= 9 && strncmp(b, "HTTP/1.0 ", 9) == 0)
        a->conn_close = true; /* unless it says keep-alive, below */
    else if (len > 11 && strncasecmp(b, "Connection:", 11) == 0) {
        char v[128];
        size_t k = len - 11 < sizeof(v) - 1 ? len - 11 : sizeof(v) - 1;
        memcpy(v, b + 11, k);
        v[k] = '\0';
        if (strcasestr(v, "close"))
            a->conn_close = true;
        else if (strcasestr(v, "keep-alive"))
            a->conn_close = false;
    }
    return len;
}

static size_t on_body(char *b, size_t size, size_t n, void *p)
{
    (void)b;
    (void)p;
    return size * n; /* read to the end, keep nothing */
}

static void count(const char *outcome)
{
    size_t i = 0;
    while (i < ncounts && strcmp(counts[i].name, outcome) != 0)
        i++;
    if (i == ncounts && ncounts < sizeof(counts) / sizeof(counts[0]))
        snprintf(counts[ncounts++].name, sizeof(counts[0].name), "%s", outcome);
    if (i < ncounts)
        counts[i].n++;
    nreq++;
}

static void summary(void)
{
    char buf[1024];
    size_t len = 0;
    /* sorted by name, as the other drivers print them */
    for (size_t i = 0; i < ncounts; i++)
        for (size_t j = i + 1; j < ncounts; j++)
            if (strcmp(counts[j].name, counts[i].name) < 0) {
                __typeof__(counts[0]) t = counts[i];
                counts[i] = counts[j];
                counts[j] = t;
            }
    buf[0] = '\0';
    for (size_t i = 0; i < ncounts && len < sizeof(buf); i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s=%ld", i ? " " : "",
                                counts[i].name, counts[i].n);
    fprintf(stderr, "racelab-client-curl: %ld trials, %ld requests: %s (%.2f s)\n", cfg.trials,
            nreq, buf, (double)(clk_mono_us() - t0_us) / 1e6);
}

static void put_ms(struct jl *j, const char *key, long us)
{
    if (us % 1000)
        jl_double(j, key, (double)us / 1000.0);
    else
        jl_int(j, key, us / 1000);
}

/* racelab-downstream's outcome vocabulary for what curl_easy_perform returned */
static const char *classify(CURLcode rc, long status, long os_errno, size_t nattempts,
                            const char **phase)
{
    *phase = "read";
    switch (rc) {
    case CURLE_OK:
        *phase = "done";
        return NULL;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        *phase = "connect";
        return "connect-error";
    case CURLE_OPERATION_TIMEDOUT:
        if (!nattempts) { /* never got as far as sending: the connect timed out */
            *phase = "connect";
            return "connect-error";
        }
        return "timeout";
    case CURLE_GOT_NOTHING:
        return "empty";
    case CURLE_SEND_ERROR:
        *phase = "write";
        return "reset";
    case CURLE_RECV_ERROR:
        return os_errno == ECONNRESET || os_errno == EPIPE || !status ? "reset" : "partial";
    case CURLE_PARTIAL_FILE:
        return "partial";
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return "partial";
    default:
        return "error";
    }
}

struct conn_arg {
    long trial, conn;
    const char *body;
    pthread_t th;
};

/* The request's headers: the flags' --header lines, then X-Racelab-Trial: TRIAL.CONN.REQ
 * (racelab-downstream's tag, so that the upstream's log names the request of each copy it
 * executed; not with --no-tag). */
static struct curl_slist *headers_for(long trial, long conn, long req)
{
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; i < cfg.nheaders; i++)
        hdrs = curl_slist_append(hdrs, cfg.headers[i]);
    if (!cfg.no_tag) {
        char tag[128];
        snprintf(tag, sizeof(tag), DN_TAG_HEADER ": %ld.%ld.%ld", trial, conn, req);
        hdrs = curl_slist_append(hdrs, tag);
    }
    return hdrs;
}

/* The easy handle of one connection: the request as the flags say, every callback that tells
 * what libcurl did (attempts, ports, retries) into *at. */
static CURL *easy_new(const struct conn_arg *ca, struct attempts *at, char *url, size_t urllen,
                      char *errbuf, struct curl_slist **hdrsp)
{
    CURL *h = curl_easy_init();
    if (!h) {
        fprintf(stderr, "racelab-client-curl: curl_easy_init failed\n");
        exit(1);
    }
    struct curl_slist *hdrs = headers_for(ca->trial, ca->conn, 0);
    snprintf(url, urllen, "%s%s", cfg.url_base, cfg.path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never an environment proxy */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cfg.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, at);
    curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, at);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, at);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L); /* feeds on_debug; prints nothing itself */
    bool post_like = strcmp(cfg.method, "POST") == 0 || strcmp(cfg.method, "PUT") == 0 ||
                     strcmp(cfg.method, "PATCH") == 0;
    if (strcmp(cfg.method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (cfg.body_size > 0 || post_like) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)cfg.body_size);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, ca->body);
        if (strcmp(cfg.method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, cfg.method);
    } else if (strcmp(cfg.method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, cfg.method);
    }
    *hdrsp = hdrs;
    return h;
}

static void *run_conn(void *p)
{
    struct conn_arg *ca = p;
    struct curl_slist *hdrs = NULL;
    char url[4096], errbuf[CURL_ERROR_SIZE];
    struct attempts at;
    CURL *h = easy_new(ca, &at, url, sizeof(url), errbuf, &hdrs);

    long gap_us = cc_cfg_gap_us(&cfg, ca->trial);
    bool prev_keep_alive = false, last_failed = false;
    for (long req = 0; req < cfg.requests; req++) {
        if (req)
            clk_sleep_us((uint64_t)gap_us);
        memset(&at, 0, sizeof(at));
        errbuf[0] = '\0';
        if (req) { /* this request's tag */
            struct curl_slist *next = headers_for(ca->trial, ca->conn, req);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, next);
            curl_slist_free_all(hdrs);
            hdrs = next;
        }
        uint64_t start = clk_real_us();
        CURLcode rc = curl_easy_perform(h);
        uint64_t end = clk_real_us();
        long status = 0, os_errno = 0, lport = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
        curl_easy_getinfo(h, CURLINFO_LOCAL_PORT, &lport);
        const char *phase;
        const char *outcome = classify(rc, status, os_errno, at.n, &phase);
        char code[16];
        if (!outcome) {
            snprintf(code, sizeof(code), "%ld", status);
            outcome = code;
        }
        bool ok = rc == CURLE_OK;
        if (at.n)
            lport = at.port[at.n - 1];

        struct jl j;
        jl_begin(&j);
        jl_uint(&j, "ts_us", end);
        jl_str(&j, "type", "request");
        jl_int(&j, "trial", ca->trial);
        jl_int(&j, "conn", ca->conn);
        jl_int(&j, "req", req);
        jl_int(&j, "lport", lport);
        jl_bool(&j, "reused", at.n && at.reused[0]);
        jl_bool(&j, "reconnected", req > 0 && last_failed);
        put_ms(&j, "gap_ms", req ? gap_us : 0);
        put_ms(&j, "reuse_gap_ms", gap_us);
        jl_uint(&j, "start_us", start);
        jl_uint(&j, "end_us", end);
        jl_str(&j, "outcome", outcome);
        jl_int(&j, "status", ok || status ? status : 0);
        jl_str(&j, "phase", phase);
        if (!ok && os_errno) {
            const char *en = strerrorname_np((int)os_errno);
            jl_str(&j, "errno", en ? en : "EUNKNOWN");
        } else if (!ok && rc == CURLE_OPERATION_TIMEDOUT && !at.n) {
            jl_str(&j, "errno", "ETIMEDOUT");
        }
        jl_int(&j, "retried", at.retries);
        char ports[16 * MAX_ATTEMPTS + 2];
        size_t pl = 0;
        ports[pl++] = '[';
        for (size_t i = 0; i < at.n; i++)
            pl +=
                (size_t)snprintf(ports + pl, sizeof(ports) - pl, "%s%d", i ? "," : "", at.port[i]);
        snprintf(ports + pl, sizeof(ports) - pl, "]");
        jl_raw(&j, "lports", ports);
        /* the previous response left the connection open, yet libcurl did not reuse it */
        jl_bool(&j, "reuse_avoided", req > 0 && prev_keep_alive && !(at.n && at.reused[0]));
        if (!ok) {
            char e[600];
            snprintf(e, sizeof(e), "%s%s%s", curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf);
            jl_str(&j, "error", e);
        }
        if (at.said_len) {
            char arr[sizeof(at.said) + 2];
            snprintf(arr, sizeof(arr), "[%s]", at.said);
            jl_raw(&j, "library_said", arr);
        }
        jl_raw(&j, "client", client_json);
        pthread_mutex_lock(&out_mu);
        if (jl_write(&j, rec_fd) != 0) { /* one write per line: lines never interleave */
            fprintf(stderr, "racelab-client-curl: writing a record: %s\n", strerror(errno));
            write_failed = true;
        }
        count(outcome);
        pthread_mutex_unlock(&out_mu);

        last_failed = !ok;
        prev_keep_alive = ok && !at.conn_close;
        if (last_failed && cfg.on_failure == CC_FAIL_STOP)
            break;
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    return NULL;
}

/* SIGTERM/SIGINT: blocked everywhere, taken here; the records lock makes sure no line is left
 * half-written, then the summary and exit 0. */
static void *on_signals(void *p)
{
    sigset_t *set = p;
    int sig;
    if (sigwait(set, &sig) == 0) {
        pthread_mutex_lock(&out_mu);
        summary();
        _exit(0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc == 2 && strcmp(argv[1], "--version") == 0) { /* the library, for the harness */
        printf("libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
        return 0;
    }
    int prc = cc_cfg_parse(&cfg, argc, argv, err, sizeof(err));
    if (prc == OPT_HELP) {
        cc_cfg_usage(stdout);
        return 0;
    }
    if (prc != OPT_OK) {
        fprintf(stderr, "racelab-client-curl: %s\n", err);
        return 2;
    }
    if (cfg.records && strcmp(cfg.records, "-") != 0) {
        rec_fd = open(cfg.records, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (rec_fd < 0) {
            fprintf(stderr, "racelab-client-curl: --records %s: %s\n", cfg.records,
                    strerror(errno));
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    static sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    pthread_t sig_th;
    if (pthread_create(&sig_th, NULL, on_signals, &sigs) != 0) {
        fprintf(stderr, "racelab-client-curl: cannot start a thread\n");
        return 1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "racelab-client-curl: curl_global_init failed\n");
        return 1;
    }
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    {
        struct jl j;
        jl_begin(&j);
        jl_str(&j, "kind", "curl");
        jl_str(&j, "library", "libcurl");
        jl_str(&j, "version", v->version);
        const char *l = jl_end(&j);
        snprintf(client_json, sizeof(client_json), "%.*s", (int)strlen(l) - 1, l); /* no \n */
    }

    char *body = malloc((size_t)cfg.body_size + 1);
    struct conn_arg *ca = calloc((size_t)cfg.conns, sizeof(*ca));
    if (!body || !ca) {
        fprintf(stderr, "racelab-client-curl: out of memory\n");
        return 1;
    }
    memset(body, 'x', (size_t)cfg.body_size);
    body[cfg.body_size] = '\0';
    t0_us = clk_mono_us();
    for (long t = 0; t < cfg.trials; t++) {
        for (long k = 0; k < cfg.conns; k++) {
            ca[k] = (struct conn_arg){.trial = t, .conn = k, .body = body};
            if (pthread_create(&ca[k].th, NULL, run_conn, &ca[k]) != 0) {
                fprintf(stderr, "racelab-client-curl: cannot start a thread\n");
                return 1;
            }
        }
        for (long k = 0; k < cfg.conns; k++)
            pthread_join(ca[k].th, NULL);
        if (cfg.trial_gap_ms && t + 1 < cfg.trials)
            clk_sleep_us((uint64_t)cfg.trial_gap_ms * 1000u);
    }
    pthread_mutex_lock(&out_mu);
    summary();
    bool failed = write_failed;
    pthread_mutex_unlock(&out_mu);
    free(body);
    free(ca);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
