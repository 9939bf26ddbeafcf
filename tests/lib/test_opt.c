/* Unit tests of lib/opt: every error names the flag; values in both spellings; ranges, enums,
 * suffixes, repeatable custom flags; --help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"

struct cfg {
    long count;
    long wait_ms;
    long size;
    const char *name;
    int mode;
    bool verbose;
    int tags;
};

static const char *const modes[] = {"fast", "slow", NULL};

static int parse_tag(void *c, const char *val, char *err, size_t errlen)
{
    if (strcmp(val, "bad") == 0) {
        snprintf(err, errlen, "tag '%s' is not allowed", val);
        return -1;
    }
    ((struct cfg *)c)->tags++;
    return 0;
}

static const struct opt_spec specs[] = {
    {.name = "count",
     .type = OPT_INT,
     .off = offsetof(struct cfg, count),
     .metavar = "N",
     .help = "a count",
     .min = 1,
     .max = 10},
    {.name = "wait",
     .type = OPT_MS,
     .off = offsetof(struct cfg, wait_ms),
     .metavar = "MS",
     .help = "a wait",
     .min = 0,
     .max = LONG_MAX},
    {.name = "size",
     .type = OPT_SIZE,
     .off = offsetof(struct cfg, size),
     .metavar = "SIZE",
     .help = "a size",
     .min = 0,
     .max = LONG_MAX},
    {.name = "name",
     .type = OPT_STR,
     .off = offsetof(struct cfg, name),
     .metavar = "S",
     .help = "a name"},
    {.name = "mode",
     .type = OPT_ENUM,
     .off = offsetof(struct cfg, mode),
     .metavar = "M",
     .help = "a mode",
     .choices = modes},
    {.name = "verbose",
     .type = OPT_FLAG,
     .off = offsetof(struct cfg, verbose),
     .help = "talk",
     .flag_value = true},
    {.name = "tag", .type = OPT_CUSTOM, .metavar = "T", .help = "a tag", .parse = parse_tag},
    OPT_END,
};

static int run(struct cfg *c, char *err, size_t errlen, bool *seen, int n, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, n);
    argv[0] = "prog";
    for (int i = 0; i < n; i++)
        argv[i + 1] = va_arg(ap, char *);
    va_end(ap);
    memset(c, 0, sizeof(*c));
    err[0] = '\0';
    return opt_parse(specs, c, n + 1, argv, 1, NULL, NULL, 0, seen, err, errlen);
}

static void assert_bad(int rc, const char *err, const char *needle)
{
    assert_int_equal(rc, OPT_BAD);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not name '%s'", err, needle);
    assert_null(strchr(err, '\n'));
}

static void test_values(void **state)
{
    (void)state;
    struct cfg c;
    char err[256];
    bool seen[8] = {0};
    assert_int_equal(run(&c, err, sizeof(err), seen, 9, "--count", "3", "--wait=2s", "--size",
                         "64k", "--name=x=y", "--mode", "slow", "--verbose"),
                     OPT_OK);
    assert_int_equal(c.count, 3);
    assert_int_equal(c.wait_ms, 2000);
    assert_int_equal(c.size, 65536);
    assert_string_equal(c.name, "x=y");
    assert_int_equal(c.mode, 1);
    assert_true(c.verbose);
    assert_true(seen[0] && seen[1] && seen[2] && seen[3] && seen[4] && seen[5]);
    assert_false(seen[6]);

    assert_int_equal(run(&c, err, sizeof(err), NULL, 4, "--wait", "250ms", "--size", "3M"), OPT_OK);
    assert_int_equal(c.wait_ms, 250);
    assert_int_equal(c.size, 3L << 20);
    assert_int_equal(run(&c, err, sizeof(err), NULL, 3, "--tag", "a", "--tag=b"), OPT_OK);
    assert_int_equal(c.tags, 2);
    assert_int_equal(run(&c, err, sizeof(err), NULL, 2, "--count", "1"), OPT_OK);
    assert_int_equal(run(&c, err, sizeof(err), NULL, 2, "--count", "10"), OPT_OK);
}

static void test_errors_name_the_flag(void **state)
{
    (void)state;
    struct cfg c;
    char err[256];
    assert_bad(run(&c, err, sizeof(err), NULL, 1, "--nope"), err, "--nope");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--nope=3", "x"), err, "--nope");
    assert_bad(run(&c, err, sizeof(err), NULL, 1, "-x"), err, "-x");
    assert_bad(run(&c, err, sizeof(err), NULL, 1, "stray"), err, "stray");
    assert_bad(run(&c, err, sizeof(err), NULL, 1, "--count"), err, "--count");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--verbose", "--count"), err, "--count");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--count", "0"), err, "--count");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--count", "11"), err, "--count");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--count", "-1"), err, "--count");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--count", "3x"), err, "--count");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--count", "99999999999999999999"), err,
               "--count");
    assert_bad(run(&c, err, sizeof(err), NULL, 1, "--count="), err, "--count");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--wait", "-5"), err, "--wait");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--wait", "5m"), err, "--wait");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--wait", "s"), err, "--wait");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--size", "1x"), err, "--size");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--size", "99999999999999g"), err, "--size");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--mode", "medium"), err, "fast|slow");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--mode", "medium"), err, "--mode");
    assert_bad(run(&c, err, sizeof(err), NULL, 1, "--verbose=1"), err, "--verbose");
    assert_bad(run(&c, err, sizeof(err), NULL, 1, "--name="), err, "--name");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--tag", "bad"), err, "--tag");
    assert_bad(run(&c, err, sizeof(err), NULL, 2, "--tag", "bad"), err, "not allowed");
}

static void test_help_and_set(void **state)
{
    (void)state;
    struct cfg c;
    char err[256];
    assert_int_equal(run(&c, err, sizeof(err), NULL, 2, "--count", "3"), OPT_OK);
    assert_int_equal(run(&c, err, sizeof(err), NULL, 2, "--count", "--help"), OPT_BAD);
    assert_int_equal(run(&c, err, sizeof(err), NULL, 2, "--verbose", "-h"), OPT_HELP);
    assert_int_equal(run(&c, err, sizeof(err), NULL, 1, "--help"), OPT_HELP);

    /* opt_set, as the harness uses it for scenario settings */
    bool seen[8] = {0};
    memset(&c, 0, sizeof(c));
    assert_int_equal(opt_set(specs, &c, "count", "4", seen, err, sizeof(err)), OPT_OK);
    assert_int_equal(c.count, 4);
    assert_true(seen[0]);
    assert_int_equal(opt_set(specs, &c, "verbose", NULL, seen, err, sizeof(err)), OPT_OK);
    assert_bad(opt_set(specs, &c, "count", NULL, seen, err, sizeof(err)), err, "--count");
    assert_bad(opt_set(specs, &c, "verbose", "yes", seen, err, sizeof(err)), err, "--verbose");
    assert_bad(opt_set(specs, &c, "what", "1", seen, err, sizeof(err)), err, "--what");
    assert_int_equal(opt_count(specs), 7);
    assert_non_null(opt_find(specs, "mode"));
    assert_null(opt_find(specs, "mod"));

    /* positional arguments when the caller takes them */
    char *argv[] = {"prog", "a", "--count", "2", "b"};
    char *pos[2];
    int npos = 0;
    memset(&c, 0, sizeof(c));
    assert_int_equal(opt_parse(specs, &c, 5, argv, 1, pos, &npos, 2, NULL, err, sizeof(err)),
                     OPT_OK);
    assert_int_equal(npos, 2);
    assert_string_equal(pos[1], "b");
    char *argv3[] = {"prog", "a", "b", "c"};
    assert_bad(opt_parse(specs, &c, 4, argv3, 1, pos, &npos, 2, NULL, err, sizeof(err)), err,
               "'c'");
}

static void test_usage_lists_every_flag(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    opt_usage(f, "prog", "[flags]", "About it.", specs);
    fclose(f);
    for (const struct opt_spec *s = specs; s->name; s++) {
        char want[64];
        snprintf(want, sizeof(want), "--%s", s->name);
        if (!strstr(text, want))
            fail_msg("usage lacks %s", want);
    }
    assert_non_null(strstr(text, "usage: prog [flags]"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors_name_the_flag),
        cmocka_unit_test(test_help_and_set),
        cmocka_unit_test(test_usage_lists_every_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
