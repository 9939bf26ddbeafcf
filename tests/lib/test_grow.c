/* Unit tests of lib/grow: the capacity doubles from 16, the contents survive a move, and a size
 * that would overflow is refused with the array left as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "grow.h"

static void test_doubles_and_keeps(void **state)
{
    (void)state;
    int *v = NULL;
    size_t n = 0, cap = 0, grows = 0;
    for (int i = 0; i < 1000; i++) {
        size_t before = cap;
        int *nv = grow_array(v, &cap, n + 1, sizeof *v);
        assert_non_null(nv);
        v = nv;
        if (cap != before) {
            grows++;
            assert_int_equal(cap, before ? before * 2 : 16);
        }
        v[n++] = i;
    }
    for (int i = 0; i < 1000; i++)
        assert_int_equal(v[i], i);
    assert_int_equal(cap, 1024);
    assert_int_equal(grows, 7); /* 16 32 64 128 256 512 1024 */
    /* room already there: the same array back */
    assert_ptr_equal(grow_array(v, &cap, 10, sizeof *v), v);
    /* a jump past double goes straight to a large enough power of two */
    v = grow_array(v, &cap, 5000, sizeof *v);
    assert_non_null(v);
    assert_int_equal(cap, 8192);
    free(v);
}

static void test_overflow_refused(void **state)
{
    (void)state;
    char *v = NULL;
    size_t cap = 0;
    v = grow_array(v, &cap, 4, 1);
    assert_non_null(v);
    v[0] = 'x';
    size_t before = cap;
    assert_null(grow_array(v, &cap, SIZE_MAX, 1));
    assert_null(grow_array(v, &cap, SIZE_MAX / 8, 64));
    assert_int_equal(cap, before);
    assert_int_equal(v[0], 'x');
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_and_keeps),
        cmocka_unit_test(test_overflow_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
