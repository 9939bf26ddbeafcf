/* The client drivers (clients/, docs/clients.md) against racelab-upstream, in a network namespace
 * of this test's own: their flags and records, and what each library does when the server closes
 * a keep-alive connection without saying so.
 *
 * Two cases, both deterministic:
 * - fin-arrived: `--close-after 1 --close-how fin-with-data`, the FIN leaves with the response,
 *   so it is in the client's kernel 20 ms (--gap) before the reuse. A library that looks at the
 *   socket before reusing it sees it closed and opens a new connection: the race is avoided.
 * - close-after-reuse: `--close-after 1 --delay-close 500`: the connection still looks alive
 *   when the request is reused at 20 ms, the server closes at 500 ms with that request unread
 *   (480 ms of margin, for a loaded machine or a runtime whose timer fires late),
 *   so the client gets an RST (ECONNRESET) before any response byte: what the library does next
 *   (retry on a new connection, or fail) is its retry rule.
 * A FIN still in flight at the reuse (the proxy's race) needs the harness's wire holds.
 *
 * Each kind is skipped, with a message, when its driver was not built (libcurl, go) or its
 * runtime is missing (/usr/bin/python3 with requests, /usr/bin/node). Every case prints one line
 * per kind × method (the table of docs/clients.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include "netns.h"
#include "peers.h"

#define RUN_MS 120000

struct kind {
    const char *name;
    const char *missing; /* how to get it */
};

static const struct kind kinds[] = {
    {"curl", "not built: libcurl >= 7.80 missing (apt-get install libcurl4-openssl-dev)"},
    {"go", "not built: go missing (apt-get install golang-go)"},
    {"python-requests", "needs /usr/bin/python3 with requests (apt-get install python3-requests)"},
    {"node", "needs /usr/bin/node (install nodejs)"},
};

struct tctx {
    const struct kind *k;
    char *dir;
    char *bin;
};

static bool available(const struct kind *k, const char *bin)
{
    if (access(bin, X_OK) != 0)
        return false;
    if (strcmp(k->name, "python-requests") == 0)
        return access("/usr/bin/python3", X_OK) == 0 &&
               system("/usr/bin/python3 -c 'import requests' 2>/dev/null") == 0;
    if (strcmp(k->name, "node") == 0)
        return access("/usr/bin/node", X_OK) == 0;
    return true;
}

static int setup(void **state)
{
    struct tctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->k = *state;
    c->bin = tsup_fmt("%s/racelab-client-%s", RACELAB_BIN_DIR, c->k->name);
    c->dir = tsup_tmpdir("clients");
    *state = c;
    return c->dir ? 0 : -1;
}

static int teardown(void **state)
{
    struct tctx *c = *state;
    tsup_rmtree(c->dir);
    free(c->dir);
    free(c->bin);
    free(c);
    return 0;
}

static bool skip_missing(struct tctx *c)
{
    if (available(c->k, c->bin))
        return false;
    fprintf(stderr, "clients: skipping %s: racelab-client-%s %s\n", c->k->name, c->k->name,
            c->k->missing);
    return true;
}

#define MAX_ARGS 64

/* Runs the driver with --records in the test's folder and the extra flags (NULL-terminated);
 * *rc gets its exit code, *err its stderr. Returns the records (an empty array when none). */
static json_t *drive(struct tctx *c, int *rc, char **err, ...)
{
    static int seq;
    char *argv[MAX_ARGS];
    char *rec = tsup_fmt("%s/rec-%d.jsonl", c->dir, seq);
    char *out = tsup_fmt("%s/out-%d.txt", c->dir, seq);
    char *errp = tsup_fmt("%s/err-%d.txt", c->dir, seq++);
    int n = 0;
    argv[n++] = c->bin;
    argv[n++] = "--records";
    argv[n++] = rec;
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(n < MAX_ARGS - 1);
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    *rc = tsup_run(argv, out, errp, RUN_MS);
    *err = tsup_slurp(errp);
    if (!*err)
        *err = strdup("");
    json_t *recs = access(rec, F_OK) == 0 ? tsup_read_jsonl(rec) : json_array();
    if (!recs) {
        char *raw = tsup_slurp(rec);
        fail_msg("%s wrote records that do not parse:\n%s", c->bin, raw ? raw : "");
    }
    free(rec);
    free(out);
    free(errp);
    return recs;
}

/* Runs a driver that must refuse its flags: exit 2, a message on stderr naming `names`. */
static void refused(struct tctx *c, const char *what, const char *name1, const char *name2,
                    char *const args[])
{
    char *argv[MAX_ARGS];
    char *errp = tsup_fmt("%s/refused.txt", c->dir);
    int n = 0;
    argv[n++] = c->bin;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int rc = tsup_run(argv, NULL, errp, RUN_MS);
    char *e = tsup_slurp(errp);
    if (rc != 2 || !e || !strstr(e, name1) || (name2 && !strstr(e, name2)) ||
        strchr(e, '\n') != e + strlen(e) - 1)
        fail_msg("%s: %s: exit %d (want 2), stderr must be one line naming %s%s%s: %s", c->k->name,
                 what, rc, name1, name2 ? " and " : "", name2 ? name2 : "", e ? e : "(none)");
    free(e);
    free(errp);
}

static bool is_int(json_t *r, const char *k)
{
    return json_is_integer(json_object_get(r, k));
}

/* Every record has racelab-downstream's fields and the drivers' own, with their types. */
static void check_fields(struct tctx *c, json_t *recs)
{
    static const char *const ints[] = {"ts_us",    "trial",  "conn",   "req",     "lport",
                                       "start_us", "end_us", "status", "retried", NULL};
    static const char *const bools[] = {"reused", "reconnected", "reuse_avoided", NULL};
    uint64_t now = now_us();
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        for (int k = 0; ints[k]; k++)
            if (!is_int(r, ints[k]))
                goto bad;
        for (int k = 0; bools[k]; k++)
            if (!json_is_boolean(json_object_get(r, bools[k])))
                goto bad;
        if (!json_is_number(json_object_get(r, "gap_ms")) ||
            !json_is_number(json_object_get(r, "reuse_gap_ms")) ||
            strcmp(rec_str(r, "type"), "request") != 0 || !*rec_str(r, "outcome") ||
            !*rec_str(r, "phase"))
            goto bad;
        long long st = rec_int(r, "start_us"), en = rec_int(r, "end_us");
        if (st > en || en != rec_int(r, "ts_us") || (uint64_t)en > now + 1000000 ||
            (uint64_t)st + 300000000 < now)
            goto bad; /* wall-clock µs of this run */
        json_t *lp = json_object_get(r, "lports");
        if (!json_is_array(lp))
            goto bad;
        size_t np = json_array_size(lp);
        if (np && json_integer_value(json_array_get(lp, np - 1)) != rec_int(r, "lport"))
            goto bad;
        if (np && (long long)np != rec_int(r, "retried") + 1)
            goto bad;
        bool ok = rec_int(r, "status") > 0 && strcmp(rec_str(r, "phase"), "done") == 0;
        if (ok != (atoi(rec_str(r, "outcome")) > 0) || ok == (json_object_get(r, "error") != NULL))
            goto bad;
        json_t *cl = json_object_get(r, "client");
        if (!json_is_object(cl) || strcmp(rec_str(cl, "kind"), c->k->name) != 0 ||
            !*rec_str(cl, "library") || !*rec_str(cl, "version"))
            goto bad;
        continue;
    bad:
        rec_dump(recs, c->k->name);
        fail_msg("%s: record %zu lacks a field or has a wrong one: %s", c->k->name, i,
                 json_dumps(r, JSON_COMPACT));
    }
}

/* The upstream's executions of a request: its `request` events on the request's ports within
 * its time (the same wall clock in both processes; 0.3 ms of slack, less than any gap here). */
static int executed(json_t *uplog, json_t *r)
{
    int n = 0;
    size_t i, k;
    json_t *e, *p;
    long long st = rec_int(r, "start_us") - 300, en = rec_int(r, "end_us") + 300;
    json_array_foreach(uplog, i, e)
    {
        if (strcmp(rec_str(e, "event"), "request") != 0 || rec_int(e, "ts_us") < st ||
            rec_int(e, "ts_us") > en)
            continue;
        json_array_foreach(json_object_get(r, "lports"), k, p)
        {
            if (json_integer_value(p) == rec_int(e, "rport"))
                n++;
        }
    }
    return n;
}

/* Whether one of library_said's lines contains s. */
static bool said(json_t *r, const char *s)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(r, "library_said"), i, l)
    {
        if (json_is_string(l) && strstr(json_string_value(l), s))
            return true;
    }
    return false;
}

/* What a library must do with the reused request (req 1) of every trial of a case. */
struct expect {
    const char *kind, *method, *header; /* header: NULL, or one --header */
    const char *outcome;
    int retried;
    bool reused, avoided;
    int executed;
    const char *errno_, *error_has, *said;
};

#define TRIALS   4
#define TRIALS_S "4"

static void run_case(struct tctx *c, const char *cas, const struct expect *x, size_t nx)
{
    bool any = false;
    for (size_t xi = 0; xi < nx; xi++) {
        const struct expect *e = &x[xi];
        if (strcmp(e->kind, c->k->name) != 0)
            continue;
        any = true;
        struct up u;
        char *tag = tsup_fmt("up-%zu", xi);
        if (strcmp(cas, "fin-arrived") == 0)
            up_start(&u, c->dir, tag, "--close-after", "1", "--close-how", "fin-with-data", NULL);
        else
            up_start(&u, c->dir, tag, "--close-after", "1", "--delay-close", "500", NULL);
        free(tag);
        char *target = tsup_fmt("127.0.0.1:%d", u.port);
        int rc;
        char *err;
        json_t *recs;
        bool post = strcmp(e->method, "POST") == 0;
        recs = drive(c, &rc, &err, "--target", target, "--trials", TRIALS_S, "--requests", "2",
                     "--gap", "20", "--method", e->method, post ? "--body-size" : "--path",
                     post ? "100" : "/", e->header ? "--header" : NULL, e->header, NULL);
        assert_int_equal(up_stop(&u), 0);
        json_t *uplog = up_log(&u);
        if (rc != 0)
            fail_msg("%s %s: exit %d: %s", c->k->name, e->method, rc, err);
        check_fields(c, recs);
        if (json_array_size(recs) != 2 * TRIALS) {
            rec_dump(recs, c->k->name);
            fail_msg("%s %s %s: %zu records, want %d", cas, c->k->name, e->method,
                     json_array_size(recs), 2 * TRIALS);
        }
        int n_ok = 0, n_retried = 0, n_avoided = 0, n_exec = 0;
        const char *seen = "";
        size_t i;
        json_t *r;
        json_array_foreach(recs, i, r)
        {
            int ex = executed(uplog, r);
            if (rec_int(r, "req") == 0) {
                if (strcmp(rec_str(r, "outcome"), "200") != 0 || rec_int(r, "reused") != 0 ||
                    rec_int(r, "retried") != 0 || ex != 1 || rec_int(r, "lport") <= 0)
                    goto bad;
                continue;
            }
            seen = rec_str(r, "outcome");
            n_ok += strcmp(seen, "200") == 0;
            n_retried += (int)rec_int(r, "retried");
            n_avoided += (int)rec_int(r, "reuse_avoided");
            n_exec += ex;
            if (strcmp(seen, e->outcome) != 0 || rec_int(r, "retried") != e->retried ||
                rec_int(r, "reused") != e->reused || rec_int(r, "reuse_avoided") != e->avoided ||
                ex != e->executed)
                goto bad;
            if (e->errno_ && strcmp(rec_str(r, "errno"), e->errno_) != 0)
                goto bad;
            if (e->error_has && !strstr(rec_str(r, "error"), e->error_has))
                goto bad;
            if (e->said && !said(r, e->said))
                goto bad;
            /* a retry goes on a new connection */
            json_t *lp = json_object_get(r, "lports");
            if (json_array_size(lp) == 2 && json_integer_value(json_array_get(lp, 0)) ==
                                                json_integer_value(json_array_get(lp, 1)))
                goto bad;
            continue;
        bad:
            rec_dump(recs, c->k->name);
            rec_dump(uplog, "upstream");
            fail_msg("%s %s %s%s%s: record %zu is not what the library does (want %s, retried "
                     "%d, reused %d, reuse_avoided %d, upstream executed %d, errno %s, error "
                     "with '%s', library_said with '%s'; got executed %d): %s",
                     cas, c->k->name, e->method, e->header ? " " : "", e->header ? e->header : "",
                     i, e->outcome, e->retried, e->reused, e->avoided, e->executed,
                     e->errno_ ? e->errno_ : "-", e->error_has ? e->error_has : "-",
                     e->said ? e->said : "-", ex, json_dumps(r, JSON_COMPACT));
        }
        /* one line of docs/clients.md's table */
        json_t *last = json_array_get(recs, json_array_size(recs) - 1);
        fprintf(stderr,
                "clients: | %s | %s | %s%s%s | %s (%d/%d) | %s (%d) | %d/%d | %d/%d | %s |\n", cas,
                c->k->name, e->method, e->header ? " + " : "", e->header ? e->header : "", seen,
                strcmp(seen, "200") == 0 ? n_ok : TRIALS - n_ok, TRIALS, n_retried ? "yes" : "no",
                n_retried, n_avoided, TRIALS, n_exec, TRIALS,
                json_object_get(last, "error") ? rec_str(last, "error") : "-");
        json_decref(uplog);
        json_decref(recs);
        free(err);
        free(target);
        up_free(&u);
    }
    assert_true(any);
}

/* ---- flags and records ---- */

static void test_flags(void **state)
{
    struct tctx *c = *state;
    if (skip_missing(c))
        skip();
    /* --help: exit 0, every shared flag listed */
    char *outp = tsup_fmt("%s/help.txt", c->dir);
    char *argv[] = {c->bin, "--help", NULL};
    assert_int_equal(tsup_run(argv, outp, NULL, RUN_MS), 0);
    char *help = tsup_slurp(outp);
    static const char *const shared[] = {
        "--target",    "--trials",    "--conns",           "--requests",   "--gap ",
        "--gap-sweep", "--trial-gap", "--method",          "--path",       "--header",
        "--body-size", "--timeout",   "--connect-timeout", "--on-failure", "--records",
        NULL};
    for (int i = 0; shared[i]; i++)
        if (!help || !strstr(help, shared[i]))
            fail_msg("%s --help lacks %s:\n%s", c->k->name, shared[i], help ? help : "");
    free(help);
    free(outp);

    refused(c, "an unknown flag", "--bogus", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--bogus", "1", NULL});
    refused(c, "an unknown flag with =", "--bogus", NULL,
            (char *[]){"--bogus=1", "--target", "127.0.0.1:9", NULL});
    refused(c, "a short flag", "-x", NULL, (char *[]){"-x", NULL});
    refused(c, "a racelab-downstream-only flag", "--chunked", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--chunked", NULL});
    refused(c, "a racelab-downstream-only flag", "--check-before-reuse", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--check-before-reuse", NULL});
    refused(c, "a bad number", "--trials", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--trials", "x", NULL});
    refused(c, "a zero count", "--requests", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--requests", "0", NULL});
    refused(c, "a bad gap", "--gap", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--gap", "1.2.3", NULL});
    refused(c, "a bad size", "--body-size", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--body-size", "12q", NULL});
    refused(c, "a bad header", "--header", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--header", "NoColon", NULL});
    refused(c, "a bad choice", "--on-failure", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--on-failure", "retry", NULL});
    refused(c, "a missing value", "--method", NULL,
            (char *[]){"--target", "127.0.0.1:9", "--method", NULL});
    refused(c, "no target", "--target", NULL, (char *[]){"--trials", "1", NULL});
    refused(c, "a bad target", "--target", NULL, (char *[]){"--target", "localhost:x", NULL});
    refused(c, "a contradiction", "--gap", "--gap-sweep",
            (char *[]){"--target", "127.0.0.1:9", "--gap", "1", "--gap-sweep", "0:2:1", NULL});
}

static void test_every_flag(void **state)
{
    struct tctx *c = *state;
    if (skip_missing(c))
        skip();
    struct up u;
    up_start(&u, c->dir, "up", NULL); /* keep-alive, never closes */
    char *target = tsup_fmt("127.0.0.1:%d", u.port);
    int rc;
    char *err;
    json_t *recs =
        drive(c, &rc, &err, "--target", target, "--trials", "2", "--conns", "2", "--requests", "3",
              "--gap", "1.5", "--trial-gap", "1", "--method", "PUT", "--path", "/p?q=1", "--header",
              "X-One: 1", "--header", "X-Two:2", "--body-size", "1k", "--timeout", "3000",
              "--connect-timeout", "1s", "--on-failure", "reconnect", NULL);
    assert_int_equal(up_stop(&u), 0);
    json_t *uplog = up_log(&u);
    if (rc != 0)
        fail_msg("%s: exit %d: %s", c->k->name, rc, err);
    if (!strstr(err, "2 trials, 12 requests: 200=12"))
        fail_msg("%s: summary line: %s", c->k->name, err);
    check_fields(c, recs);
    assert_int_equal(json_array_size(recs), 12);
    assert_int_equal(rec_count_str(recs, "outcome", "200"), 12);
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        long long req = rec_int(r, "req");
        double gap = json_number_value(json_object_get(r, "gap_ms"));
        double rgap = json_number_value(json_object_get(r, "reuse_gap_ms"));
        bool bad = rec_int(r, "reused") != (req > 0) || rec_int(r, "retried") != 0 ||
                   rec_int(r, "reconnected") != 0 || rgap != 1.5 || gap != (req ? 1.5 : 0) ||
                   executed(uplog, r) != 1;
        /* every request of a connection on one port, the connections of a trial on two */
        size_t k;
        json_t *o;
        json_array_foreach(recs, k, o)
        {
            if (rec_int(o, "trial") == rec_int(r, "trial") &&
                (rec_int(o, "conn") == rec_int(r, "conn")) !=
                    (rec_int(o, "lport") == rec_int(r, "lport")))
                bad = true;
        }
        if (bad) {
            rec_dump(recs, c->k->name);
            fail_msg("%s: record %zu: %s", c->k->name, i, json_dumps(r, JSON_COMPACT));
        }
    }
    /* the upstream got the method, target and body asked for */
    size_t nreq = 0;
    json_array_foreach(uplog, i, r)
    {
        if (strcmp(rec_str(r, "event"), "request") != 0)
            continue;
        nreq++;
        if (strcmp(rec_str(r, "method"), "PUT") != 0 || strcmp(rec_str(r, "path"), "/p?q=1") != 0 ||
            rec_int(r, "body") != 1024)
            fail_msg("%s: the upstream got %s", c->k->name, json_dumps(r, JSON_COMPACT));
    }
    assert_int_equal(nreq, 12);
    json_decref(recs);
    json_decref(uplog);
    free(err);

    /* --gap-sweep: trial i's gap is the (i mod K)-th value */
    up_free(&u);
    up_start(&u, c->dir, "up2", NULL);
    free(target);
    target = tsup_fmt("127.0.0.1:%d", u.port);
    recs = drive(c, &rc, &err, "--target", target, "--trials", "4", "--requests", "2",
                 "--gap-sweep", "1:3.5:2.5", NULL);
    assert_int_equal(up_stop(&u), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(json_array_size(recs), 8);
    json_array_foreach(recs, i, r)
    {
        double want = rec_int(r, "trial") % 2 ? 3.5 : 1.0;
        if (json_number_value(json_object_get(r, "reuse_gap_ms")) != want ||
            json_number_value(json_object_get(r, "gap_ms")) != (rec_int(r, "req") ? want : 0))
            fail_msg("%s: --gap-sweep: %s", c->k->name, json_dumps(r, JSON_COMPACT));
    }
    json_decref(recs);
    free(err);
    up_free(&u);
    free(target);
}

/* Nothing listens on port 1 of this namespace: connect-error on every request; stop skips the
 * connection's remaining requests, reconnect makes a record of each. */
static void test_connect_error(void **state)
{
    struct tctx *c = *state;
    if (skip_missing(c))
        skip();
    int rc;
    char *err;
    json_t *recs = drive(c, &rc, &err, "--target", "127.0.0.1:1", "--requests", "3", NULL);
    if (rc != 0)
        fail_msg("%s: exit %d: %s", c->k->name, rc, err);
    check_fields(c, recs);
    assert_int_equal(json_array_size(recs), 1);
    json_t *r = json_array_get(recs, 0);
    if (strcmp(rec_str(r, "outcome"), "connect-error") != 0 ||
        strcmp(rec_str(r, "phase"), "connect") != 0 ||
        strcmp(rec_str(r, "errno"), "ECONNREFUSED") != 0 || rec_int(r, "lport") != 0 ||
        json_array_size(json_object_get(r, "lports")) != 0)
        fail_msg("%s: %s", c->k->name, json_dumps(r, JSON_COMPACT));
    json_decref(recs);
    free(err);
    recs = drive(c, &rc, &err, "--target", "127.0.0.1:1", "--requests", "3", "--on-failure",
                 "reconnect", NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(json_array_size(recs), 3);
    assert_int_equal(rec_count_str(recs, "outcome", "connect-error"), 3);
    assert_int_equal(rec_count_int(recs, "reconnected", 1), 2);
    json_decref(recs);
    free(err);
}

/* SIGTERM in the middle of a run: exit 0, every record a whole line. */
static void test_sigterm(void **state)
{
    struct tctx *c = *state;
    if (skip_missing(c))
        skip();
    struct up u;
    up_start(&u, c->dir, "up", NULL);
    char *target = tsup_fmt("127.0.0.1:%d", u.port);
    char *rec = tsup_fmt("%s/sigterm.jsonl", c->dir);
    char *errp = tsup_fmt("%s/sigterm.err", c->dir);
    char *argv[] = {c->bin,       "--target", target,  "--trials", "100000",    "--conns", "3",
                    "--requests", "3",        "--gap", "2",        "--records", rec,       NULL};
    struct tsup_proc p;
    assert_int_equal(tsup_spawn(&p, argv, NULL, errp), 0);
    /* wait for some records (a runtime may take a while to start) */
    uint64_t deadline = now_us() + 20000000u;
    for (;;) {
        char *t = tsup_slurp(rec);
        size_t lines = 0;
        for (char *q = t; q && (q = strchr(q, '\n')) != NULL; q++)
            lines++;
        free(t);
        if (lines >= 20 || now_us() > deadline)
            break;
        usleep(20000);
    }
    int rc = tsup_stop(&p);
    char *e = tsup_slurp(errp);
    if (rc != 0)
        fail_msg("%s: exit %d on SIGTERM (want 0): %s", c->k->name, rc, e ? e : "");
    if (!e || !strstr(e, "trials,"))
        fail_msg("%s: no summary line on SIGTERM: %s", c->k->name, e ? e : "");
    json_t *recs = tsup_read_jsonl(rec); /* NULL when a line is cut */
    if (!recs) {
        char *raw = tsup_slurp(rec);
        fail_msg("%s: a record is not a whole line after SIGTERM:\n%s", c->k->name, raw);
    }
    assert_true(json_array_size(recs) >= 20);
    check_fields(c, recs);
    json_decref(recs);
    up_stop(&u);
    up_free(&u);
    free(e);
    free(target);
    free(rec);
    free(errp);
}

/* ---- the two cases ---- */

static const struct expect fin_arrived[] = {
    /* every library looks before reuse: a new connection, no retry, one execution */
    {"curl", "GET", NULL, "200", 0, false, true, 1, NULL, NULL, "seems to be dead"},
    {"curl", "POST", NULL, "200", 0, false, true, 1, NULL, NULL, "seems to be dead"},
    {"go", "GET", NULL, "200", 0, false, true, 1, NULL, NULL, NULL},
    {"go", "POST", NULL, "200", 0, false, true, 1, NULL, NULL, NULL},
    {"python-requests", "GET", NULL, "200", 0, false, true, 1, NULL, NULL,
     "Resetting dropped connection"},
    {"python-requests", "POST", NULL, "200", 0, false, true, 1, NULL, NULL,
     "Resetting dropped connection"},
    {"node", "GET", NULL, "200", 0, false, true, 1, NULL, NULL, NULL},
    {"node", "POST", NULL, "200", 0, false, true, 1, NULL, NULL, NULL},
};

static const struct expect close_after_reuse[] = {
    /* libcurl: a reused connection that died before any response byte is retried, POST too */
    {"curl", "GET", NULL, "200", 1, true, false, 1, NULL, NULL, "retrying a fresh connect"},
    {"curl", "POST", NULL, "200", 1, true, false, 1, NULL, NULL, "retrying a fresh connect"},
    /* net/http: retried when replayable (GET, or an Idempotency-Key), not a POST */
    {"go", "GET", NULL, "200", 1, true, false, 1, NULL, NULL, NULL},
    {"go", "POST", NULL, "reset", 0, true, false, 0, "ECONNRESET", "connection reset by peer",
     NULL},
    {"go", "POST", "Idempotency-Key: k1", "200", 1, true, false, 1, NULL, NULL, NULL},
    /* requests: Retry(0, read=False), the application gets ConnectionError */
    {"python-requests", "GET", NULL, "reset", 0, true, false, 0, "ECONNRESET",
     "ConnectionResetError", NULL},
    {"python-requests", "POST", NULL, "reset", 0, true, false, 0, "ECONNRESET",
     "ConnectionResetError", NULL},
    /* Node: ECONNRESET to the application, whatever the method */
    {"node", "GET", NULL, "reset", 0, true, false, 0, "ECONNRESET", "ECONNRESET", NULL},
    {"node", "POST", NULL, "reset", 0, true, false, 0, "ECONNRESET", "ECONNRESET", NULL},
};

static void test_fin_arrived(void **state)
{
    struct tctx *c = *state;
    if (skip_missing(c))
        skip();
    run_case(c, "fin-arrived", fin_arrived, sizeof(fin_arrived) / sizeof(fin_arrived[0]));
}

static void test_close_after_reuse(void **state)
{
    struct tctx *c = *state;
    if (skip_missing(c))
        skip();
    run_case(c, "close-after-reuse", close_after_reuse,
             sizeof(close_after_reuse) / sizeof(close_after_reuse[0]));
}

int main(void)
{
    /* a namespace of our own: only lo, nothing else listening (port 1 refuses), no traffic of
     * other tests; the programs started below inherit it */
    char why[512];
    if (netns_enter(why, sizeof(why)) != 0) {
        fprintf(stderr, "clients: cannot enter a network namespace: %s\n", why);
        return 1;
    }
    static const struct {
        const char *name;
        CMUnitTestFunction fn;
    } cases[] = {
        {"flags", test_flags},
        {"every_flag", test_every_flag},
        {"connect_error", test_connect_error},
        {"sigterm", test_sigterm},
        {"fin_arrived", test_fin_arrived},
        {"close_after_reuse", test_close_after_reuse},
    };
    enum { NK = sizeof(kinds) / sizeof(kinds[0]), NC = sizeof(cases) / sizeof(cases[0]) };
    struct CMUnitTest tests[NK * NC];
    for (size_t k = 0; k < NK; k++) {
        for (size_t i = 0; i < NC; i++) {
            tests[k * NC + i] = (struct CMUnitTest){
                .name = tsup_fmt("%s_%s", kinds[k].name, cases[i].name),
                .test_func = cases[i].fn,
                .setup_func = setup,
                .teardown_func = teardown,
                .initial_state = (void *)&kinds[k],
            };
        }
    }
    int rc = _cmocka_run_group_tests("clients", tests, NK * NC, NULL, NULL);
    for (size_t i = 0; i < NK * NC; i++)
        free((char *)tests[i].name);
    return rc;
}
