/* racelab-proxy's settings: Envoy's defaults, --no-mitigations, value parsing, and every
 * cross-flag rule (a contradiction names both flags) — through argv as the program parses it
 * and through opt_set() as the harness validates scenario settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "px_cfg.h"

#define UP "--upstream", "127.0.0.1:9"

static int parse_v(struct px_cfg *c, char *err, size_t errlen, char **args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "racelab-proxy";
    for (int i = 0; args[i]; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    err[0] = '\0';
    return px_cfg_parse(c, argc, argv, err, errlen);
}

#define PARSE(c, err, ...) parse_v((c), (err), sizeof(err), (char *[]){__VA_ARGS__, NULL})

static void assert_bad(const char *want1, const char *want2, char **args)
{
    struct px_cfg c;
    char err[512];
    int rc = parse_v(&c, err, sizeof(err), args);
    if (rc != OPT_BAD || !strstr(err, want1) || (want2 && !strstr(err, want2)))
        fail_msg("expected an error naming %s%s%s, got rc %d: '%s'", want1, want2 ? " and " : "",
                 want2 ? want2 : "", rc, err);
    assert_null(strchr(err, '\n'));
}

#define BAD(w1, w2, ...) assert_bad((w1), (w2), (char *[]){__VA_ARGS__, NULL})

static void test_defaults_mirror_envoy(void **state)
{
    (void)state;
    struct px_cfg c;
    char err[512];
    assert_int_equal(PARSE(&c, err, UP), OPT_OK);
    assert_int_equal(c.delayed_close_timeout_ms, 1000);
    assert_false(c.lingering_close);
    assert_true(c.skip_delay_close);
    assert_int_equal(c.downstream_idle_timeout_ms, 3600000);
    assert_int_equal(c.max_connection_duration_ms, 0);
    assert_int_equal(c.drain_timeout_ms, 5000);
    assert_int_equal(c.max_requests_per_connection, 0);
    assert_int_equal(c.max_request_bytes, 0);
    assert_int_equal(c.max_request_headers_kb, 60);
    /* not Envoy's (off): nginx's client_header_timeout idea, shorter (see --help) */
    assert_int_equal(c.request_headers_timeout_ms, 10000);
    assert_int_equal(c.max_connections, 0);
    assert_int_equal(c.upstream_idle_timeout_ms, 3600000);
    assert_int_equal(c.upstream_max_connections, 1024);
    assert_int_equal(c.upstream_max_pending, 1024);
    assert_int_equal(c.upstream_connect_timeout_ms, 5000);
    assert_int_equal(c.upstream_timeout_ms, 15000);
    assert_int_equal(c.attach, PX_ATTACH_DEFERRED);
    assert_int_equal(c.reuse_check, PX_REUSE_NONE);
    assert_int_equal(c.retry_on, 0);
    assert_int_equal(c.num_retries, 1);
    assert_int_equal(c.retry_backoff_base_ms, 25);
    assert_false(c.retry_idempotent_only);
    assert_string_equal(c.name, "proxy");
    assert_true(opt_count(px_cfg_opts) < PX_CFG_MAX_OPTS);
}

static void test_no_mitigations(void **state)
{
    (void)state;
    struct px_cfg c;
    char err[512];
    assert_int_equal(PARSE(&c, err, UP, "--no-mitigations"), OPT_OK);
    assert_int_equal(c.delayed_close_timeout_ms, 0);
    assert_false(c.lingering_close);
    assert_false(c.skip_delay_close);
    assert_int_equal(c.attach, PX_ATTACH_IMMEDIATE);
    assert_int_equal(c.reuse_check, PX_REUSE_NONE);
    assert_int_equal(c.retry_on, 0);

    /* single mitigations switched back on, given after it or before it */
    assert_int_equal(PARSE(&c, err, UP, "--no-mitigations", "--attach-pending", "deferred",
                           "--retry-on", "reset", "--delayed-close-timeout", "250"),
                     OPT_OK);
    assert_int_equal(c.attach, PX_ATTACH_DEFERRED);
    assert_int_equal(c.retry_on, PX_RETRY_RESET);
    assert_int_equal(c.delayed_close_timeout_ms, 250);
    assert_false(c.skip_delay_close);
    assert_int_equal(
        PARSE(&c, err, UP, "--reuse-check", "peek", "--skip-delay-close", "--no-mitigations"),
        OPT_OK);
    assert_int_equal(c.reuse_check, PX_REUSE_PEEK);
    assert_true(c.skip_delay_close);
    assert_int_equal(c.attach, PX_ATTACH_IMMEDIATE);
    assert_int_equal(
        PARSE(&c, err, UP, "--no-mitigations", "--retry-on", "reset", "--num-retries", "2"),
        OPT_OK);
    assert_int_equal(c.num_retries, 2);
    assert_int_equal(PARSE(&c, err, UP, "--no-mitigations", "--lingering-close"), OPT_OK);
    assert_true(c.lingering_close);
    assert_int_equal(c.delayed_close_timeout_ms, 0);
}

static void test_values(void **state)
{
    (void)state;
    struct px_cfg c;
    char err[512];
    assert_int_equal(PARSE(&c, err, UP, "--attach-pending", "immediate"), OPT_OK);
    assert_int_equal(c.attach, PX_ATTACH_IMMEDIATE);
    assert_int_equal(PARSE(&c, err, UP, "--attach-pending", "delay:5"), OPT_OK);
    assert_int_equal(c.attach, PX_ATTACH_DELAY);
    assert_int_equal(c.attach_delay_ms, 5);
    assert_int_equal(PARSE(&c, err, UP, "--attach-pending=delay:2s"), OPT_OK);
    assert_int_equal(c.attach_delay_ms, 2000);
    assert_int_equal(PARSE(&c, err, UP, "--retry-on", "reset,connect-failure,5xx", "--num-retries",
                           "2", "--retry-backoff-base", "10"),
                     OPT_OK);
    assert_int_equal(c.retry_on, PX_RETRY_RESET | PX_RETRY_CONNECT_FAILURE | PX_RETRY_5XX);
    assert_int_equal(c.num_retries, 2);
    assert_int_equal(c.retry_backoff_base_ms, 10);
    assert_int_equal(PARSE(&c, err, UP, "--retry-on", "reset-before-request"), OPT_OK);
    assert_int_equal(c.retry_on, PX_RETRY_RESET_BEFORE_REQUEST);
    assert_int_equal(PARSE(&c, err, UP, "--reuse-check", "tcp-info", "--max-request-bytes", "64k",
                           "--lingering-close", "--lingering-timeout", "2s"),
                     OPT_OK);
    assert_int_equal(c.reuse_check, PX_REUSE_TCP_INFO);
    assert_int_equal(c.max_request_bytes, 65536);
    assert_int_equal(c.lingering_timeout_ms, 2000);
    assert_int_equal(c.delayed_close_timeout_ms, 0);
    assert_int_equal(PARSE(&c, err, UP, "--lingering-close", "--delayed-close-timeout", "0"),
                     OPT_OK);
    assert_int_equal(
        PARSE(&c, err, UP, "--request-headers-timeout", "2s", "--max-connections", "500"), OPT_OK);
    assert_int_equal(c.request_headers_timeout_ms, 2000);
    assert_int_equal(c.max_connections, 500);
    assert_int_equal(PARSE(&c, err, UP, "--request-headers-timeout", "0"), OPT_OK);
    assert_int_equal(c.request_headers_timeout_ms, 0);
    assert_int_equal(PARSE(&c, err, UP, "--listen", ":0", "--name", "proxy2"), OPT_OK);
    assert_int_equal(c.listen_addr.sin_port, 0);
    assert_string_equal(c.name, "proxy2");
    assert_int_equal(PARSE(&c, err, "--help"), OPT_HELP);
}

static void test_bad_values_name_the_flag(void **state)
{
    (void)state;
    BAD("--attach-pending", NULL, UP, "--attach-pending", "soon");
    BAD("--attach-pending", NULL, UP, "--attach-pending", "delay:0");
    BAD("--attach-pending", NULL, UP, "--attach-pending", "delay:x");
    BAD("--retry-on", "bogus", UP, "--retry-on", "reset,bogus");
    BAD("--retry-on", NULL, UP, "--retry-on", "");
    BAD("--reuse-check", NULL, UP, "--reuse-check", "ping");
    BAD("--num-retries", NULL, UP, "--retry-on", "reset", "--num-retries", "11");
    BAD("--num-retries", NULL, UP, "--retry-on", "reset", "--num-retries", "-1");
    BAD("--delayed-close-timeout", NULL, UP, "--delayed-close-timeout", "-5");
    BAD("--max-request-headers-kb", NULL, UP, "--max-request-headers-kb", "0");
    BAD("--upstream-max-connections", NULL, UP, "--upstream-max-connections", "0");
    BAD("--request-headers-timeout", NULL, UP, "--request-headers-timeout", "-1");
    BAD("--max-connections", NULL, UP, "--max-connections", "-1");
    BAD("--max-connections", NULL, UP, "--max-connections", "many");
    BAD("--upstream", NULL, "--name", "x");
    BAD("--upstream", NULL, "--upstream", "127.0.0.1:0");
    BAD("--upstream", NULL, "--upstream", "localhost:80");
    BAD("--listen", NULL, UP, "--listen", "1.2.3:80");
    BAD("--bogus", NULL, UP, "--bogus");
    BAD("--stats", NULL, UP, "--stats");
}

static void test_contradictions_name_both_flags(void **state)
{
    (void)state;
    BAD("--lingering-close", "--delayed-close-timeout", UP, "--lingering-close",
        "--delayed-close-timeout", "500");
    BAD("--lingering-close", "--delayed-close-timeout", UP, "--delayed-close-timeout", "500",
        "--no-mitigations", "--lingering-close");
    BAD("--skip-delay-close", "--no-skip-delay-close", UP, "--skip-delay-close",
        "--no-skip-delay-close");
    BAD("--num-retries", "--retry-on", UP, "--num-retries", "2");
    BAD("--retry-backoff-base", "--retry-on", UP, "--retry-backoff-base", "10");
    BAD("--retry-idempotent-only", "--retry-on", UP, "--retry-idempotent-only");
    BAD("--lingering-timeout", "--lingering-close", UP, "--lingering-timeout", "100");
    BAD("--lingering-time", "--lingering-close", UP, "--lingering-time", "100");
}

/* The harness's path: opt_set one setting at a time, then px_cfg_finish with the same seen[]. */
static void test_opt_set_path(void **state)
{
    (void)state;
    struct px_cfg c;
    bool seen[PX_CFG_MAX_OPTS] = {0};
    char err[512];
    px_cfg_defaults(&c);
    assert_int_equal(opt_set(px_cfg_opts, &c, "upstream", "127.0.0.1:80", seen, err, sizeof(err)),
                     OPT_OK);
    assert_int_equal(opt_set(px_cfg_opts, &c, "reuse-check", "peek", seen, err, sizeof(err)),
                     OPT_OK);
    assert_int_equal(opt_set(px_cfg_opts, &c, "no-mitigations", NULL, seen, err, sizeof(err)),
                     OPT_OK);
    assert_int_equal(px_cfg_finish(&c, seen, err, sizeof(err)), 0);
    assert_int_equal(c.reuse_check, PX_REUSE_PEEK);
    assert_int_equal(c.attach, PX_ATTACH_IMMEDIATE);

    memset(seen, 0, sizeof(seen));
    px_cfg_defaults(&c);
    assert_int_equal(opt_set(px_cfg_opts, &c, "upstream", "127.0.0.1:80", seen, err, sizeof(err)),
                     OPT_OK);
    assert_int_equal(opt_set(px_cfg_opts, &c, "lingering-close", NULL, seen, err, sizeof(err)),
                     OPT_OK);
    assert_int_equal(
        opt_set(px_cfg_opts, &c, "delayed-close-timeout", "100", seen, err, sizeof(err)), OPT_OK);
    assert_int_equal(px_cfg_finish(&c, seen, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--lingering-close"));
    assert_non_null(strstr(err, "--delayed-close-timeout"));
    assert_int_equal(opt_set(px_cfg_opts, &c, "attach-pending", "later", seen, err, sizeof(err)),
                     OPT_BAD);
    assert_non_null(strstr(err, "--attach-pending"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_mirror_envoy),
        cmocka_unit_test(test_no_mitigations),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_bad_values_name_the_flag),
        cmocka_unit_test(test_contradictions_name_both_flags),
        cmocka_unit_test(test_opt_set_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
