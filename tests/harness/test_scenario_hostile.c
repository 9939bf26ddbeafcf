/* Scenario files as hostile input: racelab runs as root and reads scenario files people send
 * each other, so a file must never crash it, write outside the run folder, or take it hours.
 * Each case generates its file, runs `racelab check` (and `run` where the harm was at run
 * time) and wants exit 2 with FILE:LINE and a reason, or a clean load.
 *
 * Sizes are chosen so that the old behaviour cannot pass: 50,000 nesting levels overflowed the
 * stack of the recursive loader; 200,000 keys in one map took minutes with a linear search per
 * key (50,000 took 18 s; the 100 s limit of each run fails it), and take well under a second
 * with a hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsup.h"

static const char head[] = "name: hostile\n"
                           "intent: a generated file\n"
                           "topology: direct\n"
                           "trials: 1\n";

/* Runs racelab with args; returns the exit status, *err the stderr text (malloc'd). */
static int racelab(const char *dir, char *const *args, char **err)
{
    return tsup_racelab(dir, "racelab", args, err, 100000);
}

static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = tsup_fmt("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* `racelab check PATH` exits 2 and names PATH:LINE: and want. */
static void refused(const char *dir, const char *path, int line, const char *want)
{
    char *err = NULL;
    char *args[] = {"check", (char *)path, NULL};
    int rc = racelab(dir, args, &err);
    char *where = tsup_fmt("%s:%d:", path, line);
    if (rc != 2 || !err || !strstr(err, where) || !strstr(err, want))
        fail_msg("%s: exit %d, want 2 with '%s' and '%s'; stderr: %.400s", path, rc, where, want,
                 err ? err : "(none)");
    free(where);
    free(err);
}

/* 1. nesting without a limit overflowed the loader's stack (SIGSEGV) */
static void test_deep_nesting(void **state)
{
    struct tsup_ctx *ctx = *state;
    size_t depth = 50000;
    char *text = malloc(sizeof(head) + 2 * depth + 32);
    assert_non_null(text);
    char *p = text + sprintf(text, "%sx: ", head);
    memset(p, '[', depth);
    memset(p + depth, ']', depth);
    strcpy(p + 2 * depth, "\n");
    char *path = write_file(ctx->dir, "deep.yaml", text);
    refused(ctx->dir, path, 5, "nested deeper than");
    /* maps too, in flow style */
    p = text + sprintf(text, "%sx: ", head);
    for (size_t i = 0; i < depth / 4; i++)
        p += sprintf(p, "{a: ");
    p += sprintf(p, "1");
    for (size_t i = 0; i < depth / 4; i++)
        *p++ = '}';
    strcpy(p, "\n");
    free(path);
    path = write_file(ctx->dir, "deep-map.yaml", text);
    refused(ctx->dir, path, 5, "nested deeper than");
    free(path);
    free(text);
}

/* 4. tags are refused on every kind of node, and %TAG directives too (only scalars were) */
static void test_tags(void **state)
{
    struct tsup_ctx *ctx = *state;
    static const struct {
        const char *name, *text;
        int line;
    } cases[] = {
        {"tag-map.yaml", "upstream: !!map\n  close-after: 1\n", 5},
        {"tag-seq.yaml", "seed: !!seq [a]\n", 5},
        {"tag-root.yaml", NULL, 1},
        {"tag-directive.yaml", NULL, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text;
        if (i == 2)
            text = tsup_fmt("--- !!map\n%smitigations: {none: }\n", head);
        else if (i == 3)
            text =
                tsup_fmt("%%TAG !e! tag:example.com,2000:\n---\n%smitigations: {none: }\n", head);
        else
            text = tsup_fmt("%s%smitigations: {none: }\n", head, cases[i].text);
        char *path = write_file(ctx->dir, cases[i].name, text);
        refused(ctx->dir, path, cases[i].line, "tag");
        free(path);
        free(text);
    }
}

/* 3. names that are not a plain folder name ("..", ".", a leading dot) are refused: the cell
 * folder OUT/SCENARIO/MITIGATION was written two levels above --out with "..". */
static void test_names_stay_in_the_run_folder(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *text = tsup_fmt("name: ..\nintent: x\ntopology: direct\nmitigations: {none: }\n");
    char *path = write_file(ctx->dir, "dotdot-name.yaml", text);
    refused(ctx->dir, path, 1, "scenario name");
    free(path);
    free(text);
    static const char *const mits[] = {"..", ".", ".hidden"};
    for (size_t i = 0; i < 3; i++) {
        text = tsup_fmt("%smitigations:\n  none:\n  '%s':\n", head, mits[i]);
        path = write_file(ctx->dir, "dotdot-mit.yaml", text);
        refused(ctx->dir, path, 7, "mitigation name");
        free(path);
        free(text);
    }
    /* and racelab run writes nothing outside --out */
    char *top = tsup_fmt("%s/top", ctx->dir);
    char *out = tsup_fmt("%s/a/b", top);
    assert_int_equal(mkdir(top, 0755), 0);
    text = tsup_fmt("%smitigations:\n  '..':\n", head);
    path = write_file(ctx->dir, "dotdot-run.yaml", text);
    char *err = NULL;
    char *args[] = {"run", path, "--out", out, "--quiet", NULL};
    assert_int_equal(racelab(ctx->dir, args, &err), 2);
    char *escaped = tsup_fmt("%s/a/hostile", top);
    assert_int_equal(access(escaped, F_OK), -1);
    free(escaped);
    free(err);
    free(path);
    free(text);
    free(out);
    free(top);
}

/* 2. wire faults: more than the run can hold is refused with FILE:LINE at check time (17+
 * overflowed a 16-entry array at run time, or were dropped while the cell PASSed) */
static void test_many_wire_faults(void **state)
{
    struct tsup_ctx *ctx = *state;
    size_t n = 1000;
    size_t len = sizeof(head) + n * 64 + 64;
    char *text = malloc(len);
    assert_non_null(text);
    char *p = text + sprintf(text, "%smitigations: {none: }\nwire:\n", head);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "  - {hop: upstream->downstream, what: fin, nth: %zu, hold: 1}\n", i + 1);
    char *path = write_file(ctx->dir, "wire.yaml", text);
    /* the first fault past the limit is the one named: line 7 + the limit */
    char *err = NULL;
    char *args[] = {"check", path, NULL};
    assert_int_equal(racelab(ctx->dir, args, &err), 2);
    if (!err || !strstr(err, "wire[") || !strstr(err, "at most"))
        fail_msg("stderr: %.400s", err ? err : "(none)");
    free(err);
    free(path);
    free(text);
}

/* An expectation whose value is an empty list ([]) took no slot among the cell's checks, and
 * the check written before the value was refused went past the array (found by fuzz_scenario;
 * the ASan build of this test caught it). */
static void test_empty_list_expectation(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *text = tsup_fmt("%smitigations:\n  none:\n    expect:\n      outcomes.200: 100%%\n"
                          "      failures: []\n",
                          head);
    char *path = write_file(ctx->dir, "empty-list.yaml", text);
    refused(ctx->dir, path, 9, "expected a number, a percentage, or a map of min/max/eq");
    free(path);
    free(text);
}

/* 7. loading was quadratic: a linear search per key of a map, and per mitigation */
static void test_large_maps(void **state)
{
    struct tsup_ctx *ctx = *state;
    size_t n = 200000;
    char *text = malloc(sizeof(head) + n * 40 + 64);
    assert_non_null(text);
    char *p = text + sprintf(text, "%smitigations: {none: }\nupstream:\n", head);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "  k%zu: 1\n", i);
    /* a duplicate at the very end is still found, with both lines */
    p += sprintf(p, "  k7: 2\n");
    char *path = write_file(ctx->dir, "keys.yaml", text);
    refused(ctx->dir, path, (int)(7 + n), "duplicate key 'k7' (first at line 14)");
    free(path);

    size_t nm = 20000;
    p = text + sprintf(text, "%smitigations:\n", head);
    for (size_t i = 0; i < nm; i++)
        p += sprintf(p, "  m%zu:\n", i);
    path = write_file(ctx->dir, "mits.yaml", text);
    char *err = NULL;
    char *args[] = {"check", path, NULL};
    int rc = racelab(ctx->dir, args, &err);
    if (rc != 0)
        fail_msg("exit %d: %.400s", rc, err ? err : "");
    free(err);
    free(path);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deep_nesting, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_tags, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_names_stay_in_the_run_folder, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_many_wire_faults, tsup_ctx_setup, tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_empty_list_expectation, tsup_ctx_setup,
                                        tsup_ctx_teardown),
        cmocka_unit_test_setup_teardown(test_large_maps, tsup_ctx_setup, tsup_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
