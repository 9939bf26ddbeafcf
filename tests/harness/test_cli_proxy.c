/* racelab --proxy KIND: a bad adapter, an unknown kind and --proxy with --proxy-cmd are refused
 * before anything starts (exit 2, FILE:LINE for the adapter); a kind that is not installed
 * leaves its cells skipped and the run passing, a cell it cannot express is unsupported; and
 * real nginx and HAProxy (when installed) run every cell of upstream-reuse-after-fin or report
 * it unsupported, in namespaces, with what docs/behaviour.md says of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "tsup.h"

#define SRC   RACELAB_SOURCE_DIR
#define CELLS SRC "/tests/harness/scenarios/kinds/kind-cells.yaml"

/* racelab ARGS...; returns its exit status, stderr in *err (malloc'd). */
static int racelab(const struct tsup_ctx *ctx, char **err, char *const *args)
{
    return tsup_racelab(ctx->dir, "racelab", args, err, 300000);
}

static void test_refused_before_anything_starts(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *err;
    char *bad[] = {"run",     CELLS, "--proxy", SRC "/tests/harness/bad-kinds/not-a-flag",
                   "--quiet", NULL};
    assert_int_equal(racelab(ctx, &err, bad), 2);
    if (!strstr(err, "not-a-flag/adapter.yaml:10: settings.retry-onn: not a racelab-proxy flag"))
        fail_msg("unexpected message: %s", err);
    free(err);
    char *unknown[] = {"run", CELLS, "--proxy", "nosuch", "--quiet", NULL};
    assert_int_equal(racelab(ctx, &err, unknown), 2);
    if (!strstr(err, "--proxy nosuch: no such kind"))
        fail_msg("unexpected message: %s", err);
    free(err);
    char *both[] = {"run", CELLS, "--proxy", "nginx", "--proxy-cmd", "nginx", "--quiet", NULL};
    assert_int_equal(racelab(ctx, &err, both), 2);
    if (!strstr(err, "give one of them"))
        fail_msg("unexpected message: %s", err);
    free(err);
}

static json_t *cell_of(json_t *res, const char *mit)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(res, "cells"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "mitigation")), mit) == 0)
            return c;
    }
    fail_msg("no cell %s", mit);
    return NULL;
}

static void test_missing_kind_skips_and_reports_unsupported(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *out = tsup_fmt("%s/missing", ctx->dir), *err;
    char *args[] = {"run",   CELLS, "--proxy", SRC "/tests/harness/kinds/missing",
                    "--out", out,   "--quiet", NULL};
    assert_int_equal(racelab(ctx, &err, args), 0); /* skipped and unsupported fail nothing */
    free(err);
    char *path = tsup_fmt("%s/results.json", out);
    json_error_t je;
    json_t *res = json_load_file(path, 0, &je);
    assert_non_null(res);
    assert_true(json_is_null(json_object_get(json_object_get(res, "proxy_kind"), "binary")));
    const char *skip = json_string_value(json_object_get(cell_of(res, "plain"), "skipped"));
    assert_non_null(skip);
    assert_non_null(strstr(skip, "missing not installed (looked for racelab-no-such-proxy"));
    const char *why = json_string_value(json_object_get(cell_of(res, "unmapped"), "unsupported"));
    assert_non_null(why);
    assert_non_null(strstr(why, "--attach-pending immediate has no missing equivalent (not in "
                                "this proxy)"));
    assert_null(json_object_get(cell_of(res, "unmapped"), "skipped"));
    json_decref(res);
    /* the closing line counts them: such a run is not "all passed" */
    char *again = tsup_fmt("%s/missing-again", ctx->dir);
    char *loud[] = {"run",   CELLS, "--proxy", SRC "/tests/harness/kinds/missing",
                    "--out", again, NULL};
    assert_int_equal(racelab(ctx, &err, loud), 0);
    if (!strstr(err, "racelab: passed (0 passed, 1 skipped, 2 unsupported) in "))
        fail_msg("closing line: %s", err);
    free(err);
    free(again);
    char *junit = tsup_fmt("%s/junit.xml", out);
    char *xml = tsup_slurp(junit);
    assert_non_null(xml);
    assert_non_null(strstr(xml, "<skipped message=\"unsupported: --attach-pending immediate"));
    assert_non_null(strstr(xml, "<skipped message=\"missing not installed"));
    free(xml);
    free(junit);
    free(path);
    free(out);
}

/* Runs CASE with --proxy kind; every cell ran (no error) or is unsupported. Returns the
 * results (NULL when the kind is not installed: the test is skipped). */
static json_t *run_kind(const struct tsup_ctx *ctx, const char *kind, const char *scenario)
{
    char *out = tsup_fmt("%s/%s", ctx->dir, kind), *err;
    char *args[] = {"run", (char *)scenario, "--proxy", (char *)kind, "--trials",
                    "20",  "--out",          out,       "--quiet",    NULL};
    int rc = racelab(ctx, &err, args);
    if (rc != 0 && rc != 1)
        fail_msg("racelab run --proxy %s: exit %d: %s", kind, rc, err);
    free(err);
    char *path = tsup_fmt("%s/results.json", out);
    json_error_t je;
    json_t *res = json_load_file(path, 0, &je);
    assert_non_null(res);
    free(path);
    free(out);
    if (json_is_null(json_object_get(json_object_get(res, "proxy_kind"), "binary"))) {
        print_message("skipped: %s is not installed\n", kind);
        json_decref(res);
        return NULL;
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(res, "cells"), i, c)
    {
        const char *mit = json_string_value(json_object_get(c, "mitigation"));
        if (json_object_get(c, "unsupported"))
            continue;
        if (json_object_get(c, "error") || json_object_get(c, "skipped"))
            fail_msg("--proxy %s, cell %s did not run: %s", kind, mit, json_dumps(c, JSON_COMPACT));
        assert_true(json_is_boolean(json_object_get(json_object_get(c, "expect"), "passed")));
        assert_int_equal(json_integer_value(json_object_get(c, "trials")), 20);
        assert_true(json_is_true(json_object_get(c, "netns")));
        assert_non_null(json_object_get(json_object_get(c, "proxy_logs"), "proxy"));
        char *oc = json_dumps(json_object_get(c, "outcomes"), JSON_COMPACT);
        print_message("%s × %s: %s\n", kind, mit, oc);
        free(oc);
    }
    return res;
}

static long outcome(json_t *res, const char *mit, const char *what)
{
    return (long)json_integer_value(
        json_object_get(json_object_get(cell_of(res, mit), "outcomes"), what));
}

static void test_nginx_runs_upstream_reuse_after_fin(void **state)
{
    json_t *res = run_kind(*state, "nginx", SRC "/scenarios/upstream-reuse-after-fin.yaml");
    if (!res)
        return;
    /* proxy_next_upstream off: the reset of the reused connection is the client's 502 (in
     * nearly every trial: trials share nginx's pool, and a trial's first request can find the
     * previous trial's dead connection instead) */
    assert_true(outcome(res, "none", "502") >= 18);
    /* nginx's default retries a failure on a reused connection once, on a new one */
    assert_int_equal(outcome(res, "envoy-defaults", "200"), 20);
    assert_int_equal(outcome(res, "announce-close", "200"), 20);
    assert_non_null(
        strstr(json_string_value(json_object_get(cell_of(res, "retry-reset"), "unsupported")),
               "--retry-backoff-base 10 has no nginx equivalent"));
    /* the scenario's expect_kind.nginx checks them: they hold */
    const char *mits[] = {"none", "envoy-defaults", "announce-close"};
    for (size_t i = 0; i < 3; i++) {
        const json_t *ex = json_object_get(cell_of(res, mits[i]), "expect");
        assert_string_equal(json_string_value(json_object_get(ex, "kind")), "nginx");
        assert_true(json_is_true(json_object_get(ex, "passed")));
        assert_null(json_object_get(ex, "measured"));
        assert_true(json_array_size(json_object_get(ex, "checks")) > 0);
    }
    json_decref(res);
}

static void test_haproxy_runs_upstream_reuse_after_fin(void **state)
{
    json_t *res = run_kind(*state, "haproxy", SRC "/scenarios/upstream-reuse-after-fin.yaml");
    if (!res)
        return;
    /* a later request of a keep-alive client whose server connection broke: HAProxy closes
     * the client connection without a response (docs/behaviour.md, HAProxy) */
    assert_true(outcome(res, "none", "empty") >= 18);
    /* its defaults (http-reuse safe, retry-on conn-failure) do not save it; retry-on
     * empty-response without back-off (retry-reset-at-once) does, as the upstream's close does */
    assert_true(outcome(res, "envoy-defaults", "empty") >= 18);
    assert_int_equal(outcome(res, "retry-reset-at-once", "200"), 20);
    assert_int_equal(outcome(res, "announce-close", "200"), 20);
    /* the scenario's expect_kind.haproxy checks them: they hold */
    const char *mits[] = {"none", "envoy-defaults", "retry-reset-at-once", "announce-close"};
    for (size_t i = 0; i < 4; i++) {
        const json_t *ex = json_object_get(cell_of(res, mits[i]), "expect");
        assert_string_equal(json_string_value(json_object_get(ex, "kind")), "haproxy");
        assert_true(json_is_true(json_object_get(ex, "passed")));
        assert_null(json_object_get(ex, "measured"));
    }
    json_decref(res);
}

static void test_native_lines_reach_the_config(void **state)
{
    struct tsup_ctx *ctx = *state;
    json_t *res = run_kind(ctx, "nginx", CELLS);
    if (!res)
        return;
    assert_int_equal(outcome(res, "mapped", "200"), 20);
    char *conf = tsup_fmt("%s/nginx/kind-cells/mapped/proxy.nginx.conf", ctx->dir);
    char *text = tsup_slurp(conf);
    assert_non_null(text);
    assert_non_null(strstr(text, "proxy_connect_timeout 500ms;"));
    assert_non_null(strstr(text, "proxy_buffering off;"));
    assert_null(strstr(text, "option abortonclose"));
    free(text);
    free(conf);
    json_decref(res);
}

#define CHAIN SRC "/tests/harness/scenarios/kinds/chain-held-fin.yaml"

/* The cell of mitigation mit run with proxy label px. */
static json_t *cell_px(json_t *res, const char *mit, const char *px)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(res, "cells"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "mitigation")), mit) == 0 &&
            strcmp(json_string_value(json_object_get(c, "proxy_kind")), px) == 0)
            return c;
    }
    fail_msg("no cell %s @ %s", mit, px);
    return NULL;
}

static bool installed(const char *bin)
{
    return access(bin, X_OK) == 0;
}

/* --proxy A,B: every cell once per proxy under test, each in OUT/LABEL/SCENARIO/MITIGATION,
 * the proxy a column of the table; A+B: a chain's proxy1 and proxy2 of two kinds, each with
 * its own config and log, and a one-proxy scenario skipped with why. */
static void test_several_proxies_and_a_chain_of_kinds(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *out = tsup_fmt("%s/several", ctx->dir), *err;
    char *args[] = {"run",
                    CHAIN,
                    CELLS,
                    "--proxy",
                    "racelab,nginx+haproxy",
                    "--mitigation",
                    "none",
                    "--mitigation",
                    "plain",
                    "--out",
                    out,
                    NULL};
    int rc = racelab(ctx, &err, args);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    free(err);
    char *outp = tsup_fmt("%s/racelab.out", ctx->dir), *table = tsup_slurp(outp);
    assert_non_null(strstr(table, " proxy "));
    assert_non_null(strstr(table, "nginx+haproxy"));
    free(table);
    free(outp);
    char *path = tsup_fmt("%s/results.json", out);
    json_error_t je;
    json_t *res = json_load_file(path, 0, &je);
    assert_non_null(res);
    assert_int_equal(json_array_size(json_object_get(res, "proxies_under_test")), 2);
    assert_int_equal(json_array_size(json_object_get(res, "cells")), 4);
    json_t *own = cell_px(res, "none", "racelab");
    assert_true(json_is_true(json_object_get(own, "access_log")));
    assert_non_null(strstr(json_string_value(json_object_get(own, "dir")),
                           "/several/racelab/chain-held-fin/none"));
    /* kind-cells has one proxy: A+B does not fit it */
    assert_non_null(strstr(
        json_string_value(json_object_get(cell_px(res, "plain", "nginx+haproxy"), "skipped")),
        "names the kinds of a chain's two proxies"));
    json_t *mixed = cell_px(res, "none", "nginx+haproxy");
    if (!installed("/usr/sbin/nginx") || !installed("/usr/sbin/haproxy")) {
        assert_non_null(json_object_get(mixed, "skipped"));
    } else {
        /* racelab-proxy's 503 against nginx's 502 in front of HAProxy */
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(own, "outcomes"), "503")), 5);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(mixed, "outcomes"), "502")), 5);
        /* no scenario states checks for a pair of kinds: measured, in words, not failing */
        assert_true(json_is_true(json_object_get(json_object_get(mixed, "expect"), "measured")));
        assert_non_null(strstr(json_string_value(json_object_get(mixed, "verdict")),
                               "race reproduced: 5/5 trials 502"));
        json_t *logs = json_object_get(mixed, "proxy_logs");
        assert_non_null(json_object_get(logs, "proxy1"));
        assert_non_null(json_object_get(logs, "proxy2"));
        const char *files[] = {"proxy1.nginx.conf", "proxy2.haproxy.cfg"};
        for (size_t i = 0; i < 2; i++) {
            char *f = tsup_fmt("%s/nginx+haproxy/chain-held-fin/none/%s", out, files[i]);
            assert_true(access(f, R_OK) == 0);
            free(f);
        }
        /* the RST of the race, on proxy2's upstream hop, in every trial */
        assert_int_equal(json_integer_value(json_object_get(json_object_get(mixed, "failing_rst"),
                                                            "upstream->proxy2")),
                         5);
    }
    json_decref(res);
    free(path);
    free(out);
}

/* --out relative to the working folder (scripts and CI write into captures/...): a kind
 * that resolves paths against its own prefix (nginx -p) still finds its config and logs. */
static void test_relative_out(void **state)
{
    struct tsup_ctx *ctx = *state;
    if (!installed("/usr/sbin/nginx")) {
        print_message("skipped: nginx is not installed\n");
        return;
    }
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(ctx->dir), 0);
    char *err;
    char *args[] = {"run",
                    SRC "/scenarios/upstream-reuse-after-fin.yaml",
                    "--proxy",
                    "nginx",
                    "--mitigation",
                    "none",
                    "--trials",
                    "3",
                    "--out",
                    "rel/run",
                    NULL};
    int rc = racelab(ctx, &err, args);
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0)
        fail_msg("racelab run --out rel/run: exit %d: %s", rc, err);
    free(err);
    char *path = tsup_fmt("%s/rel/run/results.json", ctx->dir);
    json_error_t je;
    json_t *res = json_load_file(path, 0, &je);
    assert_non_null(res);
    json_t *c = json_array_get(json_object_get(res, "cells"), 0);
    assert_null(json_object_get(c, "error"));
    /* nginx ran, logged and answered: its access log in the cell's folder */
    assert_true(json_integer_value(json_object_get(json_object_get(c, "outcomes"), "502")) >= 1);
    assert_true(json_integer_value(json_object_get(
                    json_object_get(json_object_get(c, "proxy_logs"), "proxy"), "requests")) >= 3);
    json_decref(res);
    free(path);
}

static void test_bad_proxy_lists(void **state)
{
    struct tsup_ctx *ctx = *state;
    static const char *const cases[][2] = {
        {"nginx+", "a chain's kinds are A+B"},
        {"nginx+haproxy+apache", "a chain's kinds are A+B"},
        {"nginx,nginx", "nginx is named twice"},
        {"racelab,cmd:true", "cmd:'CMD' is the only proxy of a run"},
        {",", "no proxy named"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *err;
        char *args[] = {"run", CELLS, "--proxy", (char *)cases[i][0], "--quiet", NULL};
        assert_int_equal(racelab(ctx, &err, args), 2);
        if (!strstr(err, cases[i][1]))
            fail_msg("--proxy %s: unexpected message: %s", cases[i][0], err);
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused_before_anything_starts, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_kind_skips_and_reports_unsupported,
                                        tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_nginx_runs_upstream_reuse_after_fin, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_haproxy_runs_upstream_reuse_after_fin, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_native_lines_reach_the_config, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_several_proxies_and_a_chain_of_kinds, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_relative_out, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_proxy_lists, tsup_ctx_setup, tsup_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
