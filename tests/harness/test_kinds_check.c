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

/* Settings beyond the seed suite's: every flag each kind maps, at once. */
static const char *const extra[][24] = {
    {"nginx", "no-mitigations", "retry-on=reset,5xx", "num-retries=2", "lingering-close",
     "lingering-timeout=5000", "lingering-time=30s", "upstream-idle-timeout=3",
     "downstream-idle-timeout=40", "drain-timeout=0", "max-connection-duration=40",
     "max-requests-per-connection=3", "max-request-bytes=64k", "upstream-connect-timeout=500",
     "reuse-check=none", "skip-delay-close", NULL},
    {"haproxy", "no-mitigations", "retry-on=reset,connect-failure", "num-retries=2",
     "retry-idempotent-only", "downstream-idle-timeout=40", "drain-timeout=0",
     "max-request-bytes=64k", "upstream-connect-timeout=500", "delayed-close-timeout=0",
     "reuse-check=none", "skip-delay-close", NULL},
    {"haproxy", "retry-on=5xx", "upstream-max-connections=2", "upstream-max-pending=8", NULL},
    {"apache", "upstream-idle-timeout=2s", "upstream-max-connections=4",
     "upstream-connect-timeout=250", "downstream-idle-timeout=40", "drain-timeout=0",
     "max-requests-per-connection=3", "reuse-check=peek", "lingering-close", "skip-delay-close",
     NULL},
    {"envoy",
     "no-mitigations",
     "delayed-close-timeout=0",
     "downstream-idle-timeout=40",
     "max-connection-duration=40",
     "max-requests-per-connection=3",
     "drain-timeout=0",
     "upstream-idle-timeout=3",
     "upstream-max-connections=1",
     "upstream-max-pending=8",
     "upstream-connect-timeout=250",
     "upstream-timeout=2s",
     "retry-on=reset",
     "num-retries=2",
     "retry-backoff-base=10",
     "retry-idempotent-only",
     "max-request-bytes=64k",
     "max-request-headers-kb=60",
     "max-connections=100",
     "request-headers-timeout=5000",
     NULL},
};

/* A scenario of one proxy with these settings (the rest of it does not matter here). */
static void check_extra(struct kind *k, const char *bin, const char *const *spec, const char *root,
                        struct tally *t)
{
    char *path = tsup_fmt("%s/extra-%zu.yaml", root, t->checked);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "name: extra-%s\nintent: every setting %s maps\ntopology: proxy\n"
            "mitigations:\n  all:\n    proxy:\n",
            kind_name(k), kind_name(k));
    for (size_t i = 0; spec[i]; i++) {
        const char *eq = strchr(spec[i], '=');
        if (eq)
            fprintf(f, "      %.*s: \"%s\"\n", (int)(eq - spec[i]), spec[i], eq + 1);
        else
            fprintf(f, "      %s: true\n", spec[i]);
    }
    fclose(f);
    char err[1024];
    struct scenario *s = scenario_load(path, err, sizeof(err));
    if (!s)
        fail_msg("%s", err);
    struct scenario_cell c;
    assert_int_equal(scenario_cell_build(s, &s->mit[0], 0, &c, err, sizeof(err)), 0);
    size_t before = t->unsupported;
    check_one(k, bin, &c, 1, root, t);
    if (t->unsupported != before)
        fail_msg("%s: the settings of every flag it maps were not expressible", kind_name(k));
    scenario_cell_free(&c);
    scenario_free(s);
    free(path);
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
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        if (strcmp(extra[i][0], name) == 0)
            check_extra(k, bin, extra[i] + 1, root, &t);
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
