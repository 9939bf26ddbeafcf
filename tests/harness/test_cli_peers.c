/* racelab --client KIND / --server KIND end to end: an unknown kind is refused naming the flag
 * (exit 2); a cell whose settings a driver refuses is unsupported with the driver's words; the
 * drivers' records and tags flow into the metrics unchanged: duplicates counted from the
 * upstream's log (a proxy's retry of a POST the upstream executed), and the RST on a connection
 * a library retried away from attributed to its trial through the record's lports. A kind whose
 * driver cannot run here is skipped with a message. */
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

#define SCN RACELAB_SOURCE_DIR "/tests/harness/scenarios/peers/"

/* racelab ARGS...; returns its exit status, stderr in *err (malloc'd). */
static int racelab(const struct tsup_ctx *ctx, char **err, char *const *args)
{
    return tsup_racelab(ctx->dir, "racelab", args, err, 300000);
}

/* Whether racelab-KIND can run here (its --version answers); says why not. */
static bool can_run(const char *prog)
{
    char *bin = tsup_bin(prog);
    char *argv[] = {bin, "--version", NULL};
    bool ok = access(bin, X_OK) == 0 && tsup_run(argv, "/dev/null", "/dev/null", 60000) == 0;
    if (!ok)
        fprintf(stderr, "peers: %s cannot run here: its checks are skipped\n", prog);
    free(bin);
    return ok;
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

static json_t *results(const char *out)
{
    json_t *r = tsup_results(out);
    if (!r)
        fail_msg("%s: no racelab results.json", out);
    return r;
}

static long num(json_t *cell, const char *key)
{
    json_t *v = json_object_get(cell, key);
    if (!json_is_integer(v))
        fail_msg("%s is not a count", key);
    return (long)json_integer_value(v);
}

static void test_unknown_kind_refused(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *err;
    char *c[] = {"run", SCN "duplicates.yaml", "--client", "wget", "--quiet", NULL};
    assert_int_equal(racelab(ctx, &err, c), 2);
    if (!strstr(err, "racelab run: --client: 'wget' is not a client kind (known: racelab, curl, "
                     "go, node, python-requests)"))
        fail_msg("unexpected message: %s", err);
    free(err);
    char *s[] = {"compare", SCN "duplicates.yaml", "--server", "apache", "--quiet", NULL};
    assert_int_equal(racelab(ctx, &err, s), 2);
    if (!strstr(err, "racelab compare: --server: 'apache' is not a server kind"))
        fail_msg("unexpected message: %s", err);
    free(err);
    char *r[] = {"repro", SCN "duplicates.yaml", "--client", "node-fetch", NULL};
    assert_int_equal(racelab(ctx, &err, r), 2);
    if (!strstr(err, "--client: 'node-fetch' is not a client kind"))
        fail_msg("unexpected message: %s", err);
    free(err);
}

/* One run of duplicates.yaml with kind (NULL: racelab-downstream): the retried POST twice at the
 * upstream, once without retries, uncounted without the tag. */
static void run_duplicates(const struct tsup_ctx *ctx, const char *kind)
{
    char *out = tsup_fmt("%s/dup-%s", ctx->dir, kind ? kind : "racelab"), *err;
    char *args[] = {"run", SCN "duplicates.yaml", "--out", out, "--quiet", NULL, NULL, NULL};
    if (kind) {
        args[5] = "--client";
        args[6] = (char *)kind;
    }
    int rc = racelab(ctx, &err, args);
    if (rc != 0)
        fail_msg("racelab exited %d with %s: %s", rc, kind ? kind : "racelab", err);
    json_t *res = results(out);
    json_t *retry = cell_of(res, "retry-5xx"), *once = cell_of(res, "no-retry"),
           *untagged = cell_of(res, "no-tag");
    assert_int_equal(num(retry, "duplicates"), 4);
    assert_int_equal(num(retry, "trials_with_duplicates"), 4);
    assert_int_equal(num(once, "duplicates"), 0);
    assert_true(json_is_null(json_object_get(untagged, "duplicates")));
    /* the driver sent the tag, and with --no-tag it did not */
    char *tagged_log = tsup_fmt("%s/duplicates/retry-5xx/upstream.log", out),
         *untagged_log = tsup_fmt("%s/duplicates/no-tag/upstream.log", out);
    json_t *tl = tsup_read_jsonl(tagged_log), *ul = tsup_read_jsonl(untagged_log);
    assert_non_null(tl);
    assert_non_null(ul);
    assert_int_equal(tsup_count(tl, "tag", "0.0.0"), 2); /* trial 0's POST, run twice */
    size_t i, requests = 0;
    json_t *e;
    json_array_foreach(ul, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "event")), "request") != 0)
            continue;
        requests++;
        if (json_object_get(e, "tag"))
            fail_msg("%s: a tag with --no-tag", untagged_log);
    }
    assert_int_equal(requests, 8);
    json_decref(tl);
    json_decref(ul);
    free(tagged_log);
    free(untagged_log);
    if (kind)
        assert_string_equal(json_string_value(json_object_get(retry, "client")), kind);
    else
        assert_null(json_object_get(retry, "client"));
    fprintf(stderr, "peers: duplicates with %s: retry-5xx %ld, no-retry %ld\n",
            kind ? kind : "racelab", num(retry, "duplicates"), num(once, "duplicates"));
    json_decref(res);
    free(err);
    free(out);
}

static void test_duplicates(void **state)
{
    struct tsup_ctx *ctx = *state;
    run_duplicates(ctx, NULL);
    static const char *const kinds[] = {"curl", "go", "node", "python-requests"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char prog[64];
        snprintf(prog, sizeof(prog), "racelab-client-%s", kinds[i]);
        if (can_run(prog))
            run_duplicates(ctx, kinds[i]);
    }
}

/* A proxy's retry on reset of a POST that met a closed connection: the upstream never read the
 * first copy, so the retried POST ran once (upstream-reuse-after-fin-post, retry-reset). */
static void test_retry_on_reset_runs_the_post_once(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *out = tsup_fmt("%s/reset", ctx->dir), *err;
    char *args[] = {
        "run",          RACELAB_SOURCE_DIR "/scenarios/upstream-reuse-after-fin-post.yaml",
        "--mitigation", "retry-reset",
        "--trials",     "5",
        "--out",        out,
        "--quiet",      NULL};
    int rc = racelab(ctx, &err, args);
    if (rc != 0)
        fail_msg("racelab exited %d: %s", rc, err);
    json_t *res = results(out), *c = cell_of(res, "retry-reset");
    assert_int_equal(num(json_object_get(c, "outcomes"), "200"), 5);
    assert_int_equal(num(json_object_get(c, "trials_with_rst"), "upstream->proxy"), 5);
    assert_int_equal(num(c, "duplicates"), 0);
    json_decref(res);
    free(err);
    free(out);
}

/* Each client driver's --version names its library (exit 0), or says what is missing (exit 2):
 * what the harness probes. */
static void test_client_versions(void **state)
{
    (void)state;
    static const char *const kinds[][2] = {{"curl", "libcurl "},
                                           {"go", "net/http go"},
                                           {"node", "node v"},
                                           {"python-requests", "requests "}};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char prog[64];
        snprintf(prog, sizeof(prog), "racelab-client-%s", kinds[i][0]);
        char *bin = tsup_bin(prog);
        if (access(bin, X_OK) != 0) {
            fprintf(stderr, "peers: %s not built\n", prog);
            free(bin);
            continue;
        }
        struct tsup_ctx *ctx = *state;
        char *outp = tsup_fmt("%s/v.out", ctx->dir), *errp = tsup_fmt("%s/v.err", ctx->dir);
        char *argv[] = {bin, "--version", NULL};
        int rc = tsup_run(argv, outp, errp, 60000);
        char *out = tsup_slurp(outp), *err = tsup_slurp(errp);
        if (rc == 0) {
            if (strncmp(out, kinds[i][1], strlen(kinds[i][1])) != 0)
                fail_msg("%s --version said '%s'", prog, out);
        } else if (rc != 2 || strstr(err, "unknown flag") || !err[0]) {
            fail_msg("%s --version: exit %d: %s", prog, rc, err);
        }
        fprintf(stderr, "peers: %s --version: %s", prog, rc == 0 ? out : err);
        free(out);
        free(err);
        free(outp);
        free(errp);
        free(bin);
    }
}

/* libcurl resends the reused request on a new connection; the RST on the first is the trial's. */
static void test_lports_attribute_the_retried_connection(void **state)
{
    struct tsup_ctx *ctx = *state;
    if (!can_run("racelab-client-curl"))
        skip();
    char *out = tsup_fmt("%s/lports", ctx->dir), *err;
    char *args[] = {"run", SCN "lports.yaml", "--client", "curl", "--out", out, "--quiet", NULL};
    int rc = racelab(ctx, &err, args);
    if (rc != 0)
        fail_msg("racelab exited %d: %s", rc, err);
    json_t *res = results(out), *c = cell_of(res, "none");
    assert_int_equal(num(c, "unattributed_rst"), 0);
    assert_int_equal(num(json_object_get(c, "trials_with_rst"), "upstream->downstream"), 3);
    json_decref(res);
    free(err);
    free(out);
}

/* A driver that refuses the cell's settings: unsupported with its words, the run passes. */
static void test_refused_settings_unsupported(void **state)
{
    struct tsup_ctx *ctx = *state;
    if (!can_run("racelab-server-node"))
        skip();
    char *out = tsup_fmt("%s/unsupported", ctx->dir), *err;
    char *args[] = {"run", SCN "lports.yaml", "--server", "node", "--out", out, "--quiet", NULL};
    assert_int_equal(racelab(ctx, &err, args), 0);
    json_t *res = results(out);
    json_t *c = cell_of(res, "none");
    const char *why = json_string_value(json_object_get(c, "unsupported"));
    if (!why || !strstr(why, "the server kind node cannot express this cell's upstream settings: "
                             "racelab-server-node: unknown flag --delay-close"))
        fail_msg("unexpected reason: %s", why ? why : "(none)");
    assert_null(json_object_get(c, "error"));
    json_decref(res);
    free(err);
    free(out);
    if (!can_run("racelab-client-curl"))
        return;
    /* the client's side: a flag libcurl decides for itself; no results of a cell not run */
    out = tsup_fmt("%s/client-unsupported", ctx->dir);
    char *cargs[] = {"run", SCN "client-refused.yaml", "--client", "curl", "--out", out, "--quiet",
                     NULL};
    assert_int_equal(racelab(ctx, &err, cargs), 0);
    res = results(out);
    c = cell_of(res, "none");
    why = json_string_value(json_object_get(c, "unsupported"));
    if (!why || !strstr(why, "the client kind curl cannot express this cell's downstream "
                             "settings: racelab-client-curl: --chunked is a racelab-downstream "
                             "flag that this driver does not support"))
        fail_msg("unexpected reason: %s", why ? why : "(none)");
    assert_null(json_object_get(c, "outcomes"));
    assert_null(json_object_get(c, "error"));
    json_decref(res);
    free(err);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_kind_refused, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_client_versions, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_retry_on_reset_runs_the_post_once, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_lports_attribute_the_retried_connection,
                                        tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_refused_settings_unsupported, tsup_ctx_setup,
                                        tsup_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
