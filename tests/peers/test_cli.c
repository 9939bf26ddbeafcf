/* Both programs' command lines: bad flags exit 2 with one line naming the flag (both flags for a
 * contradiction), --help lists every flag of the table, SIGTERM/SIGINT exit 0 with complete
 * JSON lines in the log and the records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clk.h"
#include "dn_cfg.h"
#include "peers.h"
#include "up_cfg.h"

struct bad {
    const char *args[8];
    const char *want[2]; /* substrings of the one-line error */
};

static const struct bad up_bad[] = {
    {{"--nope"}, {"--nope"}},
    {{"--status", "abc"}, {"--status"}},
    {{"--status", "99"}, {"--status"}},
    {{"--status"}, {"--status"}},
    {{"--body-size", "1x"}, {"--body-size"}},
    {{"--framing", "fixed"}, {"--framing", "length|chunked|close"}},
    {{"--close-how", "maybe"}, {"--close-how"}},
    {{"--close-after", "-1"}, {"--close-after"}},
    {{"--idle-timeout", "soon"}, {"--idle-timeout"}},
    {{"--listen", "1.2.3"}, {"--listen"}},
    {{"--listen", "localhost:80"}, {"--listen"}},
    {{"--header", "NoColon"}, {"--header"}},
    {{"--header", "Bad Name: x"}, {"--header"}},
    {{"--announce-close=yes"}, {"--announce-close"}},
    {{"--drain-body"}, {"--drain-body", "--answer-early"}},
    {{"--idle-unread", "10"}, {"--idle-unread", "--idle-timeout"}},
    {{"--idle-unread", "100", "--idle-timeout", "100"}, {"--idle-unread", "--idle-timeout"}},
    {{"--framing", "chunked", "--http10"}, {"--framing", "--http10"}},
    {{"--close-how", "fin-with-data", "--delay-close", "5"}, {"--close-how", "--delay-close"}},
    {{"positional"}, {"positional"}},
    {{"--close-random", "-2"}, {"--close-random"}},
    {{"--close-random", "x"}, {"--close-random"}},
    {{"--seed", "3"}, {"--seed", "--close-random"}},
    {{"--close-random", "10", "--seed", "-1"}, {"--seed"}},
    {{"--log-keep", "some"}, {"--log-keep", "failures"}},
    {{"--log-keep", "failures:0"}, {"--log-keep"}},
    {{"--log-keep", "failuresx"}, {"--log-keep"}},
};

static const struct bad dn_bad[] = {
    {{"--target", "127.0.0.1:1", "--records-keep", "errors"}, {"--records-keep"}},
    {{"--target", "127.0.0.1:1", "--records-keep", "failures:x"}, {"--records-keep"}},
    {{"--target", "127.0.0.1:1", "--records-keep", "failures:1:0"}, {"--records-keep"}},
    {{"--target", "127.0.0.1:1", "--records-keep", "failures:0"}, {"--records-keep"}},
    {{"--target", "127.0.0.1:1", "--rate", "-5"}, {"--rate"}},
    {{"--trials", "2"}, {"--target"}},
    {{"--target", "127.0.0.1:99999"}, {"--target"}},
    {{"--target", "127.0.0.1:0"}, {"--target"}},
    {{"--target", "127.0.0.1:1", "--nope"}, {"--nope"}},
    {{"--target", "127.0.0.1:1", "--trials", "0"}, {"--trials"}},
    {{"--target", "127.0.0.1:1", "--conns", "x"}, {"--conns"}},
    {{"--target", "127.0.0.1:1", "--gap", "1.0001"}, {"--gap"}},
    {{"--target", "127.0.0.1:1", "--gap", "-3"}, {"--gap"}},
    {{"--target", "127.0.0.1:1", "--gap-sweep", "10:0:1"}, {"--gap-sweep"}},
    {{"--target", "127.0.0.1:1", "--gap-sweep", "0:10"}, {"--gap-sweep"}},
    {{"--target", "127.0.0.1:1", "--gap-sweep", "0:10:0"}, {"--gap-sweep"}},
    {{"--target", "127.0.0.1:1", "--gap", "5", "--gap-sweep", "0:10:5"}, {"--gap", "--gap-sweep"}},
    {{"--target", "127.0.0.1:1", "--on-write-error", "retry"}, {"--on-write-error"}},
    {{"--target", "127.0.0.1:1", "--connection", "sometimes"}, {"--connection"}},
    {{"--target", "127.0.0.1:1", "--body-size", "1k", "--upload-pace", "5"},
     {"--upload-pace", "--upload-chunk"}},
    {{"--target", "127.0.0.1:1", "--upload-delay", "5"}, {"--upload-delay", "--body-size"}},
    {{"--target", "127.0.0.1:1", "--chunked", "--http10"}, {"--chunked", "--http10"}},
    {{"--target", "127.0.0.1:1", "--method", "POST", "--split-head"},
     {"--split-head", "--body-size"}},
    {{"--target", "127.0.0.1:1", "--on-failure", "retry"}, {"--on-failure", "stop|reconnect"}},
    {{"--target", "127.0.0.1:1", "--timeout", "0"}, {"--timeout"}},
    {{"--target", "127.0.0.1:1", "--header", "x"}, {"--header"}},
    {{"--target", "127.0.0.1:1", "--records", "/nonexistent/dir/r.jsonl"}, {"--records"}},
};

static void check_bad(const char *dir, const char *prog, const struct bad *b)
{
    char *argv[12];
    int n = 0;
    argv[n++] = tsup_bin(prog);
    for (int i = 0; b->args[i]; i++)
        argv[n++] = (char *)b->args[i];
    argv[n] = NULL;
    char *err = tsup_fmt("%s/err", dir);
    char *out = tsup_fmt("%s/out", dir);
    int rc = tsup_run(argv, out, err, 10000);
    char *text = tsup_slurp(err);
    assert_non_null(text);
    if (rc != 2)
        fail_msg("%s %s: exit %d (want 2), stderr: %s", prog, b->args[0], rc, text);
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n' || memchr(text, '\n', len - 1))
        fail_msg("%s %s: stderr is not one line: '%s'", prog, b->args[0], text);
    for (int k = 0; k < 2 && b->want[k]; k++)
        if (!strstr(text, b->want[k]))
            fail_msg("%s %s: '%s' does not name %s", prog, b->args[0], text, b->want[k]);
    char *o = tsup_slurp(out);
    assert_string_equal(o, "");
    free(o);
    free(text);
    free(err);
    free(out);
    free(argv[0]);
}

static void test_bad_flags(void **state)
{
    (void)state;
    char *dir = tsup_tmpdir("cli");
    for (size_t i = 0; i < sizeof(up_bad) / sizeof(up_bad[0]); i++)
        check_bad(dir, "racelab-upstream", &up_bad[i]);
    for (size_t i = 0; i < sizeof(dn_bad) / sizeof(dn_bad[0]); i++)
        check_bad(dir, "racelab-downstream", &dn_bad[i]);
    tsup_rmtree(dir);
    free(dir);
}

static void check_help(const char *dir, const char *prog, const struct opt_spec *specs)
{
    char *argv[] = {tsup_bin(prog), "--help", NULL};
    char *out = tsup_fmt("%s/help", dir);
    assert_int_equal(tsup_run(argv, out, NULL, 10000), 0);
    char *text = tsup_slurp(out);
    for (const struct opt_spec *s = specs; s->name; s++) {
        char *want = tsup_fmt("--%s ", s->name);
        char *want_eol = tsup_fmt("--%s\n", s->name);
        if (!strstr(text, want) && !strstr(text, want_eol))
            fail_msg("%s --help does not list --%s", prog, s->name);
        free(want);
        free(want_eol);
    }
    free(text);
    free(out);
    free(argv[0]);
}

static void test_help(void **state)
{
    (void)state;
    char *dir = tsup_tmpdir("help");
    check_help(dir, "racelab-upstream", up_opts);
    check_help(dir, "racelab-downstream", dn_opts);
    tsup_rmtree(dir);
    free(dir);
}

static void upstream_signal(int sig)
{
    char *dir = tsup_tmpdir("upsig");
    struct up u;
    up_start(&u, dir, "up", "--idle-timeout", "60s", NULL);
    json_t *r = dn_run(dir, u.port, "--trials", "3", "--requests", "2", NULL);
    assert_int_equal(rec_count_str(r, "outcome", "200"), 6);
    json_decref(r);
    /* one connection left open: its close is logged at exit */
    int fd = raw_connect(u.port);
    char b;
    uint64_t deadline = clk_mono_us() + 10000000u;
    for (;;) {
        json_t *l = tsup_read_jsonl(u.log);
        size_t accepted = l ? rec_count_str(l, "event", "accept") : 0;
        json_decref(l);
        if (accepted == 4 || clk_mono_us() > deadline)
            break;
        clk_sleep_us(2000);
    }
    kill(u.proc.pid, sig);
    assert_int_equal(tsup_wait(&u.proc, 5000), 0);
    /* the listener and the connection are gone */
    assert_int_equal(recv(fd, &b, 1, 0), 0);
    close(fd);
    json_t *log = up_log(&u);
    size_t n = json_array_size(log);
    assert_true(n >= 2);
    assert_string_equal(rec_str(json_array_get(log, 0), "event"), "listen");
    json_t *last = json_array_get(log, n - 1);
    assert_string_equal(rec_str(last, "event"), "exit");
    assert_string_equal(rec_str(last, "signal"), sig == SIGTERM ? "SIGTERM" : "SIGINT");
    assert_int_equal(rec_count_str(log, "event", "accept"), 4);
    assert_int_equal(rec_count_str(log, "why", "exit"), 1);
    assert_int_equal(rec_count_str(log, "event", "response"), 6);
    json_decref(log);
    up_free(&u);
    tsup_rmtree(dir);
    free(dir);
}

static void test_upstream_sigterm(void **state)
{
    (void)state;
    upstream_signal(SIGTERM);
}

static void test_upstream_sigint(void **state)
{
    (void)state;
    upstream_signal(SIGINT);
}

static size_t count_lines(const char *path)
{
    char *t = tsup_slurp(path);
    size_t n = 0;
    for (char *p = t; p && *p; p++)
        n += *p == '\n';
    free(t);
    return n;
}

static void test_downstream_sigterm(void **state)
{
    (void)state;
    char *dir = tsup_tmpdir("dnsig");
    struct up u;
    up_start(&u, dir, "up", NULL);
    char *bin = tsup_bin("racelab-downstream");
    char *target = tsup_fmt("127.0.0.1:%d", u.port);
    char *rec = tsup_fmt("%s/rec.jsonl", dir);
    char *err = tsup_fmt("%s/dn.err", dir);
    char *argv[] = {bin,     "--target", target,    "--trials", "100000",    "--requests", "2",
                    "--gap", "20",       "--conns", "3",        "--records", rec,          NULL};
    struct tsup_proc p;
    assert_int_equal(tsup_spawn(&p, argv, NULL, err), 0);
    uint64_t deadline = clk_mono_us() + 30000000u;
    while (count_lines(rec) < 10 && clk_mono_us() < deadline)
        clk_sleep_us(5000);
    assert_true(count_lines(rec) >= 10);
    assert_int_equal(tsup_stop(&p), 0);
    json_t *r = tsup_read_jsonl(rec); /* every line complete JSON */
    assert_non_null(r);
    assert_true(json_array_size(r) >= 10);
    assert_int_equal(rec_count_str(r, "outcome", "200"), json_array_size(r));
    char *e = tsup_slurp(err);
    assert_non_null(strstr(e, "racelab-downstream: "));
    assert_non_null(strstr(e, "interrupted by SIGTERM"));
    char *want = tsup_fmt("requests: 200=%zu ", json_array_size(r));
    if (!strstr(e, want))
        fail_msg("summary '%s' lacks '%s'", e, want);
    free(want);
    free(e);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
    free(bin);
    free(target);
    free(rec);
    free(err);
    tsup_rmtree(dir);
    free(dir);
}

/* Records go to stdout by default; the summary line counts them. */
static void test_downstream_stdout_and_summary(void **state)
{
    (void)state;
    char *dir = tsup_tmpdir("dnout");
    struct up u;
    up_start(&u, dir, "up", "--close-after", "1", "--close-how", "fin-with-data", NULL);
    char *bin = tsup_bin("racelab-downstream");
    char *target = tsup_fmt("127.0.0.1:%d", u.port);
    char *out = tsup_fmt("%s/out", dir);
    char *err = tsup_fmt("%s/err", dir);
    char *argv[] = {bin, "--target", target, "--trials", "4", "--requests", "3", NULL};
    assert_int_equal(tsup_run(argv, out, err, 60000), 0);
    json_t *r = tsup_read_jsonl(out);
    assert_non_null(r);
    /* after the failed reuse the connection's third request is skipped */
    assert_int_equal(json_array_size(r), 8);
    assert_int_equal(rec_count_str(r, "type", "request"), 8);
    char *e = tsup_slurp(err);
    size_t empty = rec_count_str(r, "outcome", "empty");
    size_t reset = rec_count_str(r, "outcome", "reset");
    assert_int_equal(empty + reset, 4);
    char *want = tsup_fmt("racelab-downstream: 4 trials, 8 requests: 200=4");
    if (!strstr(e, want))
        fail_msg("summary '%s' lacks '%s'", e, want);
    free(want);
    free(e);
    json_decref(r);
    assert_int_equal(up_stop(&u), 0);
    up_free(&u);
    free(bin);
    free(target);
    free(out);
    free(err);
    tsup_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_upstream_sigterm),
        cmocka_unit_test(test_upstream_sigint),
        cmocka_unit_test(test_downstream_sigterm),
        cmocka_unit_test(test_downstream_stdout_and_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
