/* racelab's run folder (--out): a folder another run holds is refused before anything is
 * written into it (two runs on one folder corrupted each other's captures and mixed their
 * access logs). The test holds the lock itself, as a running racelab does, so the refusal is
 * checked without racing two runs. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsup.h"

#define GOOD RACELAB_SOURCE_DIR "/tests/harness/scenarios/direct-reuse-after-close.yaml"

static void test_held_folder_refused(void **state)
{
    struct tsup_ctx *ctx = *state;
    char *out = tsup_fmt("%s/run", ctx->dir);
    assert_int_equal(mkdir(out, 0755), 0);
    char *lock = tsup_fmt("%s/.racelab.lock", out);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(write(fd, "4242\n", 5), 5);

    char *bin = tsup_bin("racelab");
    char *errp = tsup_fmt("%s/err", ctx->dir);
    char *argv[] = {bin, "run", GOOD, "--trials", "1", "--out", out, "--quiet", NULL};
    assert_int_equal(tsup_run(argv, NULL, errp, 30000), 2);
    char *err = tsup_slurp(errp);
    assert_non_null(err);
    if (!strstr(err, out) || !strstr(err, "in use by another racelab run (pid 4242)"))
        fail_msg("unexpected message: %s", err);
    /* nothing of the refused run landed in the folder */
    char *results = tsup_fmt("%s/results.json", out);
    char *cell = tsup_fmt("%s/direct-reuse-after-close", out);
    assert_int_equal(access(results, F_OK), -1);
    assert_int_equal(access(cell, F_OK), -1);
    free(err);

    /* once the holder lets go, the folder is usable again and the run holds it itself */
    close(fd);
    assert_int_equal(tsup_run(argv, NULL, errp, 120000), 0);
    assert_int_equal(access(results, F_OK), 0);
    char *pid = tsup_slurp(lock);
    assert_non_null(pid);
    assert_true(atol(pid) > 0);
    free(pid);
    free(results);
    free(cell);
    free(errp);
    free(bin);
    free(lock);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_held_folder_refused, tsup_ctx_setup,
                                        tsup_ctx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
