/* racelab-proxy with a packet held on the wire (needs the harness's network namespaces and
 * NFQUEUE, so it runs through `racelab run`): the upstream's FIN in flight beats every attach
 * policy, and only retry-on reset turns the upstream's RST into a 200 (issue: the same race
 * with the FIN delivered late). Asserts the per-cell numbers of results.json, not only
 * racelab's verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tsup.h"

static json_t *cell(json_t *res, const char *mitigation)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(res, "cells"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "mitigation")), mitigation) == 0)
            return c;
    }
    fail_msg("no cell for mitigation %s", mitigation);
    return NULL;
}

static long long num(json_t *c, const char *obj, const char *key)
{
    json_t *o = obj ? json_object_get(c, obj) : c;
    json_t *v = o ? json_object_get(o, key) : NULL;
    return v ? json_integer_value(v) : 0;
}

static void fin_in_flight(void **state)
{
    (void)state;
    char *tmp = tsup_tmpdir("px-wire");
    assert_non_null(tmp);
    char *out = tsup_fmt("%s/run", tmp), *json = tsup_fmt("%s/results.json", tmp);
    char *log = tsup_fmt("%s/racelab.err", tmp);
    char *argv[] = {tsup_bin("racelab"), "run",
                    RACELAB_SOURCE_DIR "/tests/proxy/scenarios/fin-in-flight.yaml",
                    "--out", out, "--json", json, NULL};
    int rc = tsup_run(argv, NULL, log, 180000);
    if (rc != 0) {
        char *e = tsup_slurp(log);
        fail_msg("racelab exited %d:\n%s", rc, e ? e : "");
    }
    json_error_t je;
    json_t *res = json_load_file(json, 0, &je);
    assert_non_null(res);

    json_t *c = cell(res, "deferred");
    long long trials = num(c, NULL, "trials");
    assert_int_equal(trials, 30);
    assert_int_equal(num(c, NULL, "failures"), trials);
    assert_int_equal(num(c, "outcomes", "503"), trials);
    assert_int_equal(num(c, "proxy_flags", "UC"), trials);
    assert_true(num(c, "rst", "upstream->proxy") >= trials);

    c = cell(res, "retry-reset");
    assert_int_equal(num(c, NULL, "failures"), 0);
    assert_int_equal(num(c, "outcomes", "200"), trials);
    assert_true(num(c, "stats", "upstream_rq_retry") >= trials);
    /* the RST still happens on every trial; the retry hides it from the client */
    assert_true(num(c, "rst", "upstream->proxy") >= trials);

    c = cell(res, "retry-reset-before-request");
    assert_int_equal(num(c, NULL, "failures"), trials);
    assert_int_equal(num(c, "outcomes", "503"), trials);

    c = cell(res, "retry-connect-failure");
    assert_int_equal(num(c, NULL, "failures"), trials);

    json_decref(res);
    free(argv[0]);
    free(out);
    free(json);
    free(log);
    tsup_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fin_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
