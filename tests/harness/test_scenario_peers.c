/* Client and server kinds of a scenario (downstream/upstream `kind:`): read, layered (a
 * mitigation's over the scenario's), written back by check --print, unknown ones refused with
 * FILE:LINE; the duplicates metric counted from the upstream's tags (and unobservable without
 * tags); a driver that cannot run (peer.h's probe) and a driver's refusal (exit 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "expect.h"
#include "metrics.h"
#include "peer.h"
#include "scenario.h"
#include "tsup.h"

#define GOOD RACELAB_SOURCE_DIR "/tests/harness/scenarios/peers/peer-kinds.yaml"

static struct scenario *load(void)
{
    char err[1024] = "";
    struct scenario *s = scenario_load(GOOD, err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    return s;
}

static void test_kinds_layer(void **state)
{
    (void)state;
    struct scenario *s = load();
    struct scenario_cell c;
    char err[256];
    assert_int_equal(scenario_cell_build(s, scenario_find_mit(s, "base"), 0, &c, err, sizeof(err)),
                     0);
    assert_string_equal(c.client_kind, "python-requests");
    assert_string_equal(c.server_kind, "node");
    /* kind is not a flag: the programs get only their settings */
    assert_null(scenario_prog_get(scenario_cell_prog(&c, "downstream"), "kind"));
    assert_non_null(scenario_prog_get(scenario_cell_prog(&c, "upstream"), "idle-timeout"));
    scenario_cell_free(&c);
    assert_int_equal(
        scenario_cell_build(s, scenario_find_mit(s, "go-client"), 0, &c, err, sizeof(err)), 0);
    assert_string_equal(c.client_kind, "go");
    assert_string_equal(c.server_kind, "racelab");
    scenario_cell_free(&c);
    scenario_free(s);
}

/* check --print writes the kinds back, and what it writes loads to the same kinds. */
static void test_kinds_written_back(void **state)
{
    struct tsup_ctx *ctx = *state;
    struct scenario *s = load();
    char *path = tsup_fmt("%s/peer-kinds.yaml", ctx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    scenario_write(f, s);
    fclose(f);
    scenario_free(s);
    char *text = tsup_slurp(path);
    assert_non_null(strstr(text, "  kind: \"python-requests\""));
    assert_non_null(strstr(text, "  kind: \"node\""));
    free(text);
    char err[1024] = "";
    s = scenario_load(path, err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    assert_string_equal(s->set[SCENARIO_SEC_DOWNSTREAM].kind, "python-requests");
    assert_string_equal(scenario_find_mit(s, "go-client")->set[SCENARIO_SEC_DOWNSTREAM].kind, "go");
    scenario_free(s);
    free(path);
}

static void expect_refused(const struct tsup_ctx *ctx, const char *yaml, const char *want)
{
    char *path = tsup_fmt("%s/bad.yaml", ctx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    char err[1024] = "";
    struct scenario *s = scenario_load(path, err, sizeof(err));
    if (s || !strstr(err, want))
        fail_msg("expected '%s', got '%s'", want, s ? "(loaded)" : err);
    free(path);
}

static void test_unknown_kinds_refused(void **state)
{
    struct tsup_ctx *ctx = *state;
    expect_refused(ctx,
                   "name: x\nintent: x\ntopology: direct\ndownstream:\n  kind: wget\n"
                   "mitigations:\n  none: {}\n",
                   "bad.yaml:5: downstream.kind: 'wget' is not a client kind (known: racelab, "
                   "curl, go, node, python-requests)");
    expect_refused(ctx,
                   "name: x\nintent: x\ntopology: direct\nmitigations:\n  none:\n"
                   "    upstream: {kind: apache}\n",
                   "bad.yaml:6: mitigations.none.upstream.kind: 'apache' is not a server kind "
                   "(known: racelab, go, gunicorn, nginx, node)");
    /* a server kind is not a client kind */
    expect_refused(ctx,
                   "name: x\nintent: x\ntopology: direct\ndownstream: {kind: gunicorn}\n"
                   "mitigations:\n  none: {}\n",
                   "'gunicorn' is not a client kind");
    /* kind is no proxy setting */
    expect_refused(ctx,
                   "name: x\nintent: x\ntopology: proxy\nproxy: {kind: nginx}\n"
                   "mitigations:\n  none: {}\n",
                   "bad.yaml:4: proxy.kind:");
    expect_refused(ctx,
                   "name: x\nintent: x\ntopology: direct\ndownstream: {kind: [go]}\n"
                   "mitigations:\n  none: {}\n",
                   "downstream.kind:");
}

/* A cell of peer-kinds (2 trials) with the upstream log given. */
static json_t *dups(json_t *up, bool no_tag_mit)
{
    struct scenario *s = load();
    struct scenario_cell c;
    char err[256];
    assert_int_equal(scenario_cell_build(s, scenario_find_mit(s, "base"), 0, &c, err, sizeof(err)),
                     0);
    if (no_tag_mit) { /* the downstream's settings with no-tag */
        static struct scenario_setting nt = {.name = "no-tag"};
        const struct scenario_prog *p = scenario_cell_prog(&c, "downstream");
        struct scenario_prog *dp = (struct scenario_prog *)p;
        const struct scenario_setting **v = realloc(dp->set, (dp->nset + 1) * sizeof(*v));
        assert_non_null(v);
        v[dp->nset++] = &nt;
        dp->set = v;
    }
    json_t *out = json_object();
    assert_int_equal(metrics_duplicates(out, up, c.trials, &c), 0);
    scenario_cell_free(&c);
    scenario_free(s);
    return out;
}

static void test_duplicates_by_tag(void **state)
{
    (void)state;
    /* trial 0: 0.0.0 once, 0.0.1 three times (two duplicates); trial 1: 1.0.0 twice; an
     * untagged request, one of another trial count (5) and a response event are not counted */
    json_t *up = json_pack("[{s:s,s:s}, {s:s,s:s}, {s:s,s:s}, {s:s,s:s}, {s:s,s:s}, {s:s,s:s},"
                           " {s:s}, {s:s,s:s}, {s:s,s:s}, {s:s,s:s}]",
                           "event", "request", "tag", "0.0.0", "event", "request", "tag", "0.0.1",
                           "event", "request", "tag", "1.0.0", "event", "request", "tag", "0.0.1",
                           "event", "request", "tag", "1.0.0", "event", "request", "tag", "0.0.1",
                           "event", "request", "event", "request", "tag", "5.0.0", "event",
                           "response", "tag", "0.0.0", "event", "request", "tag", "5.0.0");
    assert_non_null(up);
    json_t *out = dups(up, false);
    assert_int_equal(json_integer_value(json_object_get(out, "duplicates")), 3);
    assert_int_equal(json_integer_value(json_object_get(out, "trials_with_duplicates")), 2);
    json_t *by = json_object_get(out, "duplicates_by_trial");
    assert_int_equal(json_integer_value(json_object_get(by, "0")), 2);
    assert_int_equal(json_integer_value(json_object_get(by, "1")), 1);
    assert_null(json_object_get(by, "5"));

    /* the check reads it; without tags (no-tag) it is skipped, not passed */
    struct scenario_check ck = {.kind = SCENARIO_CHECK_CMP, .metric = "duplicates"};
    ck.eq = (struct scenario_bound){.set = true, .v = 0};
    bool passed;
    json_object_set_new(out, "trials", json_integer(2));
    json_t *ex = expect_eval(&ck, 1, out, &passed);
    assert_false(passed);
    json_decref(ex);
    json_decref(out);

    out = dups(up, true);
    assert_true(json_is_null(json_object_get(out, "duplicates")));
    json_object_set_new(out, "trials", json_integer(2));
    ex = expect_eval(&ck, 1, out, &passed);
    assert_true(passed);
    json_t *c0 = json_array_get(json_object_get(ex, "checks"), 0);
    assert_true(json_is_true(json_object_get(c0, "skipped")));
    assert_non_null(strstr(json_string_value(json_object_get(c0, "why")), "no-tag"));
    json_decref(ex);
    json_decref(out);

    /* no request reached the upstream twice */
    json_t *once = json_pack("[{s:s,s:s}, {s:s,s:s}]", "event", "request", "tag", "0.0.0", "event",
                             "request", "tag", "1.0.0");
    out = dups(once, false);
    assert_int_equal(json_integer_value(json_object_get(out, "duplicates")), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "trials_with_duplicates")), 0);
    json_decref(out);
    json_decref(once);
    json_decref(up);
}

/* upstream.close_unread is racelab-upstream's alone: skipped with a server kind. */
static void test_close_unread_skipped_with_a_server_kind(void **state)
{
    (void)state;
    struct scenario_check ck = {.kind = SCENARIO_CHECK_CMP, .metric = "upstream.close_unread"};
    ck.eq = (struct scenario_bound){.set = true, .v = 1};
    json_t *cell = json_pack("{s:i, s:{s:i}}", "trials", 1, "upstream", "close_unread", 1);
    bool passed;
    json_t *ex = expect_eval(&ck, 1, cell, &passed);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(ex, "checks"), 0), "state")),
                        "passed");
    json_decref(ex);
    json_object_set_new(cell, "server", json_string("node"));
    ex = expect_eval(&ck, 1, cell, &passed);
    json_t *c0 = json_array_get(json_object_get(ex, "checks"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "state")), "skipped");
    assert_non_null(strstr(json_string_value(json_object_get(c0, "why")), "server kind node"));
    json_decref(ex);
    json_decref(cell);
}

static void write_script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

/* A driver that is not there, one whose runtime is missing (--version exits 2) and one that
 * runs; a driver's exit 2 is a refusal with its first stderr line, another exit is not. */
static void test_probe_and_refusal(void **state)
{
    struct tsup_ctx *ctx = *state;
    char why[1024];
    assert_int_equal(run_peer_probe(ctx->dir, true, "racelab", why, sizeof(why)), 0);
    assert_int_equal(run_peer_probe(ctx->dir, true, "go", why, sizeof(why)), 1);
    assert_non_null(strstr(why, "racelab-client-go not built"));
    char *p = tsup_fmt("%s/racelab-server-node", ctx->dir);
    write_script(p, "echo 'racelab-server-node: /usr/bin/nodex not found (apt-get install "
                    "nodejs)' >&2; exit 2");
    assert_int_equal(run_peer_probe(ctx->dir, false, "node", why, sizeof(why)), 1);
    assert_non_null(strstr(why, "racelab-server-node cannot run here (--version: exit 2: "
                                "racelab-server-node: /usr/bin/nodex not found"));
    free(p);
    p = tsup_fmt("%s/racelab-client-curl", ctx->dir);
    write_script(p, "echo libcurl 8; exit 0");
    assert_int_equal(run_peer_probe(ctx->dir, true, "curl", why, sizeof(why)), 0);
    free(p);

    p = tsup_fmt("%s/upstream.err", ctx->dir);
    FILE *f = fopen(p, "w");
    fputs("racelab-server-go: unknown flag --close-how (see --help)\nmore\n", f);
    fclose(f);
    assert_true(run_peer_refused(p, 2, false, "go", why, sizeof(why)));
    assert_string_equal(why, "the server kind go cannot express this cell's upstream settings: "
                             "racelab-server-go: unknown flag --close-how (see --help)");
    assert_false(run_peer_refused(p, 1, false, "go", why, sizeof(why)));
    assert_false(run_peer_refused(p, 2, false, "racelab", why, sizeof(why)));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_layer),
        cmocka_unit_test_setup_teardown(test_kinds_written_back, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_kinds_refused, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test(test_duplicates_by_tag),
        cmocka_unit_test(test_close_unread_skipped_with_a_server_kind),
        cmocka_unit_test_setup_teardown(test_probe_and_refusal, tsup_ctx_setup, tsup_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
