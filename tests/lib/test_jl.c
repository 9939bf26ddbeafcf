/* Unit tests of lib/jl: every record is one line of valid JSON, whatever the strings hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jl.h"

static void test_escape(void **state)
{
    (void)state;
    char out[128];
    static const char in[] = "a\"b\\c\nd\re\tf\x01g\x7fh\x1fi\xc3\xa9";
    size_t n = jl_escape(out, sizeof(out), in, sizeof(in) - 1);
    assert_string_equal(out, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007fh\\u001fi\xc3\xa9\"");
    assert_int_equal(n, strlen(out));

    /* an embedded NUL is escaped, not a terminator */
    n = jl_escape(out, sizeof(out), "a\0b", 3);
    assert_string_equal(out, "\"a\\u0000b\"");

    /* truncation keeps a valid string: never half an escape, always the closing quote */
    for (size_t cap = 3; cap < 24; cap++) {
        memset(out, 'X', sizeof(out));
        n = jl_escape(out, cap, in, sizeof(in) - 1);
        assert_true(n < cap);
        assert_int_equal(out[n], '\0');
        json_error_t e;
        json_t *v = json_loads(out, JSON_DECODE_ANY, &e);
        if (!v)
            fail_msg("cap %zu: '%s' is not JSON (%s)", cap, out, e.text);
        json_decref(v);
        assert_int_equal(out[cap], 'X');
    }
    assert_int_equal(jl_escape(out, 2, "a", 1), 0);
}

static void test_record_round_trip(void **state)
{
    (void)state;
    struct jl j;
    jl_begin(&j);
    jl_str(&j, "event", "close");
    jl_strn(&j, "path", "/a\"b\nc", 6);
    jl_int(&j, "neg", -42);
    jl_uint(&j, "ts_us", 1764180000123456ULL);
    jl_bool(&j, "reused", true);
    jl_bool(&j, "early", false);
    jl_double(&j, "gap_ms", 99.5);
    jl_raw(&j, "ports", "[1,2]");
    jl_str(&j, "null", NULL);
    const char *line = jl_end(&j);
    size_t len = strlen(line);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/a\"b\nc");
    assert_int_equal(json_integer_value(json_object_get(o, "neg")), -42);
    assert_int_equal(json_integer_value(json_object_get(o, "ts_us")), 1764180000123456LL);
    assert_true(json_is_true(json_object_get(o, "reused")));
    assert_true(json_is_false(json_object_get(o, "early")));
    assert_true(json_real_value(json_object_get(o, "gap_ms")) == 99.5);
    assert_int_equal(json_array_size(json_object_get(o, "ports")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "null")), "");
    json_decref(o);
}

static void test_overflow_is_one_valid_line(void **state)
{
    (void)state;
    char *big = malloc(JL_MAX * 2);
    memset(big, 'z', JL_MAX * 2 - 1);
    big[JL_MAX * 2 - 1] = '\0';
    struct jl j;
    jl_begin(&j);
    jl_str(&j, "a", "b");
    jl_str(&j, "big", big);
    jl_int(&j, "after", 1);
    const char *line = jl_end(&j);
    json_t *o = json_loads(line, 0, NULL);
    assert_non_null(o);
    assert_true(json_is_true(json_object_get(o, "truncated")));
    json_decref(o);

    /* a record just under the limit stays whole */
    jl_begin(&j);
    big[JL_MAX - 20] = '\0';
    jl_str(&j, "s", big);
    line = jl_end(&j);
    o = json_loads(line, 0, NULL);
    assert_non_null(o);
    assert_int_equal(strlen(json_string_value(json_object_get(o, "s"))), JL_MAX - 20);
    json_decref(o);
    free(big);
}

static void test_write(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct jl j;
    jl_begin(&j);
    jl_int(&j, "n", 7);
    assert_int_equal(jl_write(&j, p[1]), 0);
    jl_begin(&j);
    assert_int_equal(jl_write(&j, -1), 0);
    char buf[64] = {0};
    assert_int_equal(read(p[0], buf, sizeof(buf) - 1), 8);
    assert_string_equal(buf, "{\"n\":7}\n");
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_overflow_is_one_valid_line),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
