/* Every config a kind renders for the seed suite is one its proxy accepts: for each scenario of
 * scenarios/, each mitigation, each proxy of the cell, the settings the kind can express are
 * rendered and checked by the proxy itself (nginx -t, haproxy -c, apache2 -t, envoy --mode
 * validate: the adapter's check: command). A kind whose binary is not installed is skipped
 * with a note, so the test passes on a machine without it; CI installs nginx, HAProxy and
 * httpd (scripts/setup). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cmd.h"
#include "kind.h"
#include "scenario.h"
#include "tsup.h"

#define PROXIES   RACELAB_SOURCE_DIR "/proxies"
#define SCENARIOS RACELAB_SOURCE_DIR "/scenarios"

/* The seed suite's files, sorted. */
static size_t seed_files(char **paths, size_t cap)
{
    struct dirent **list = NULL;
    int n = scandir(SCENARIOS, &list, NULL, alphasort);
    assert_true(n > 0);
    size_t np = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(list[i]->d_name);
        if (l > 5 && strcmp(list[i]->d_name + l - 5, ".yaml") == 0 && np < cap)
            paths[np++] = tsup_fmt("%s/%s", SCENARIOS, list[i]->d_name);
        free(list[i]);
    }
    free(list);
    return np;
}

struct tally {
    size_t checked, unsupported;
};

/* One proxy of one cell: rendered into its own folder and checked by the proxy. */
static void check_one(struct kind *k, const char *bin, const struct scenario_cell *c, size_t idx,
                      const char *root, struct tally *t)
{
    const struct scenario_prog *p = &c->progs[idx];
    const char **native = NULL;
    size_t nnative = 0;
    assert_int_equal(scenario_cell_native(c, kind_name(k), &native, &nnative), 0);
    struct kind_plan *plan = NULL;
    char why[2048] = "", err[1024] = "";
    int rc = kind_plan(k, p, native, nnative, &plan, why, sizeof(why));
    free(native);
    assert_int_not_equal(rc, -1);
    if (rc == 1) {
        assert_true(strstr(why, " equivalent (") != NULL);
        t->unsupported++;
        return;
    }
    char *dir = tsup_fmt("%s/%s/%s/%s", root, c->s->name, c->m->name, p->name);
    char *mk = tsup_fmt("mkdir -p '%s'", dir);
    assert_int_equal(system(mk), 0);
    free(mk);
    struct kind_vars v = {dir, p->name, (uint16_t)(8000 + idx - 1), 9000, NULL};
    if (kind_render(k, plan, &v, err, sizeof(err)) != 0)
        fail_msg("%s × %s (%s): %s", c->s->name, c->m->name, p->name, err);
    char **argv = kind_argv(k, KIND_CHECK, bin, &v, err, sizeof(err));
    assert_non_null(argv);
    char *out = tsup_fmt("%s/check.out", dir), *errp = tsup_fmt("%s/check.err", dir);
    int code = tsup_run(argv, out, errp, 30000);
    if (code != 0) {
        char *msg = tsup_slurp(errp);
        fail_msg("%s × %s (%s): %s refused its config (exit %d): %s", c->s->name, c->m->name,
                 p->name, kind_name(k), code, msg ? msg : "");
    }
    t->checked++;
    run_argv_free(argv);
    kind_plan_free(plan);
    free(out);
    free(errp);
    free(dir);
}

static void check_kind(const char *name)
{
    char err[1024], bin[1024];
    char *dir = tsup_fmt("%s/%s", PROXIES, name);
    struct kind *k = kind_load(dir, err, sizeof(err));
    if (!k)
        fail_msg("%s", err);
    free(dir);
    if (kind_find_binary(k, bin, sizeof(bin), err, sizeof(err)) != 0) {
        print_message("skipped: %s\n", err);
        kind_free(k);
        return;
    }
    char *root = tsup_tmpdir(name);
    char *paths[64];
    size_t np = seed_files(paths, 64);
    struct tally t = {0, 0};
    for (size_t i = 0; i < np; i++) {
        struct scenario *s = scenario_load(paths[i], err, sizeof(err));
        if (!s)
            fail_msg("%s", err);
        for (size_t j = 0; j < s->nmit; j++) {
            struct scenario_cell c;
            assert_int_equal(scenario_cell_build(s, &s->mit[j], 0, &c, err, sizeof(err)), 0);
            /* the proxies: every program between the downstream and the upstream */
            for (size_t idx = 1; idx + 1 < c.nprogs; idx++)
                check_one(k, bin, &c, idx, root, &t);
            scenario_cell_free(&c);
        }
        scenario_free(s);
        free(paths[i]);
    }
    print_message("%s (%s): %zu configs of the seed suite accepted, %zu proxies unsupported\n",
                  name, bin, t.checked, t.unsupported);
    assert_true(t.checked > 0);
    tsup_rmtree(root);
    free(root);
    kind_free(k);
}

static void test_nginx_accepts_the_seed_configs(void **state)
{
    (void)state;
    check_kind("nginx");
}

static void test_haproxy_accepts_the_seed_configs(void **state)
{
    (void)state;
    check_kind("haproxy");
}

static void test_apache_accepts_the_seed_configs(void **state)
{
    (void)state;
    check_kind("apache");
}

static void test_envoy_accepts_the_seed_configs(void **state)
{
    (void)state;
    check_kind("envoy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nginx_accepts_the_seed_configs),
        cmocka_unit_test(test_haproxy_accepts_the_seed_configs),
        cmocka_unit_test(test_apache_accepts_the_seed_configs),
        cmocka_unit_test(test_envoy_accepts_the_seed_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
