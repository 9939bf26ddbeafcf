/* Proxy kinds (proxies/<kind>/adapter.yaml): every adapter loads; representative settings
 * render into each kind's config field by field (the Envoy bootstrap parsed back as YAML);
 * settings a kind cannot express are reported with the reason; bad adapter files are refused
 * with FILE:LINE; an access-log line of each kind reads back. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kind.h"
#include "scenario.h"
#include "tsup.h"
#include "yml.h"

#define PROXIES  RACELAB_SOURCE_DIR "/proxies"
#define BAD_DIR  RACELAB_SOURCE_DIR "/tests/harness/bad-kinds"
#define GOOD_DIR RACELAB_SOURCE_DIR "/tests/harness/kinds"

static struct kind *load(const char *name)
{
    char err[1024] = "";
    char *dir = tsup_fmt("%s/%s", PROXIES, name);
    struct kind *k = kind_load(dir, err, sizeof(err));
    if (!k)
        fail_msg("%s: %s", dir, err);
    free(dir);
    return k;
}

/* Settings as "name" (a bare flag) or "name=value", like a scenario's proxy: map. */
struct settings {
    struct scenario_setting set[32];
    const struct scenario_setting *ptr[32];
    const char *vals[32][1];
    char buf[32][128];
    struct scenario_prog prog;
};

static struct scenario_prog *settings(struct settings *s, const char *const *spec)
{
    memset(s, 0, sizeof(*s));
    size_t n = 0;
    for (; spec[n]; n++) {
        snprintf(s->buf[n], sizeof(s->buf[n]), "%s", spec[n]);
        char *eq = strchr(s->buf[n], '=');
        s->set[n].name = s->buf[n];
        if (eq) {
            *eq = '\0';
            s->vals[n][0] = eq + 1;
            s->set[n].vals = s->vals[n];
            s->set[n].nvals = 1;
        }
        s->ptr[n] = &s->set[n];
    }
    s->prog = (struct scenario_prog){"proxy", SCENARIO_SEC_PROXY, s->ptr, n};
    return &s->prog;
}

static const struct kind_vars vars = {"/cell", "proxy", 8000, 9000, "root"};

/* The config of kind for the settings (and native lines); fails the test when the settings are
 * not expressible. */
static char *render(struct kind *k, const char *const *spec, const char *const *native,
                    size_t nnative)
{
    struct settings s;
    struct kind_plan *plan = NULL;
    char why[2048] = "", err[1024] = "";
    int rc = kind_plan(k, settings(&s, spec), native, nnative, &plan, why, sizeof(why));
    if (rc != 0)
        fail_msg("%s: expected the settings to be expressible, got %d: %s", kind_name(k), rc, why);
    char *text = kind_render_text(k, 0, plan, &vars, err, sizeof(err));
    if (!text)
        fail_msg("%s: %s", kind_name(k), err);
    kind_plan_free(plan);
    return text;
}

/* The reason kind gives for settings it cannot express ("" when it can). */
static void why_not(struct kind *k, const char *const *spec, char *why, size_t len)
{
    struct settings s;
    struct kind_plan *plan = NULL;
    int rc = kind_plan(k, settings(&s, spec), NULL, 0, &plan, why, len);
    assert_int_not_equal(rc, -1);
    if (rc == 0) {
        why[0] = '\0';
        kind_plan_free(plan);
    }
}

/* The text between the line that contains `open` and the next line that is only "}" at the
 * indentation of that line: an nginx block. */
static char *block(const char *text, const char *open)
{
    const char *b = strstr(text, open);
    if (!b)
        fail_msg("no block '%s' in:\n%s", open, text);
    const char *ls = b;
    while (ls > text && ls[-1] != '\n')
        ls--;
    size_t ind = strspn(ls, " ");
    char close[80];
    snprintf(close, sizeof(close), "\n%*s}", (int)ind, "");
    const char *e = strstr(b, close);
    assert_non_null(e);
    return tsup_fmt("%.*s", (int)(e - b) + 1, b); /* with the last line's newline */
}

/* The lines of an HAProxy section, from its header (at the start of a line) to the next
 * unindented line. */
static char *section(const char *text, const char *header)
{
    char *at_line = tsup_fmt("\n%s\n", header);
    const char *b = strstr(text, at_line);
    free(at_line);
    b = b ? b + 1 : NULL;
    if (!b)
        fail_msg("no section '%s' in:\n%s", header, text);
    const char *e = b + strlen(header);
    while ((e = strchr(e, '\n')) && e[1] && (e[1] == ' ' || e[1] == '\n'))
        e++;
    return tsup_fmt("%.*s", e ? (int)(e - b) : (int)strlen(b), b);
}

static void has(const char *text, const char *line)
{
    if (!strstr(text, line))
        fail_msg("expected '%s' in:\n%s", line, text);
}

static void has_not(const char *text, const char *line)
{
    if (strstr(text, line))
        fail_msg("did not expect '%s' in:\n%s", line, text);
}

static void test_every_adapter_loads(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *sig;
    } kinds[] = {{"nginx", "QUIT"}, {"haproxy", "USR1"}, {"apache", "WINCH"}, {"envoy", "TERM"}};
    for (size_t i = 0; i < 4; i++) {
        struct kind *k = load(kinds[i].name);
        assert_string_equal(kind_name(k), kinds[i].name);
        assert_string_equal(kind_stop_signal_name(k), kinds[i].sig);
        assert_true(kind_settle_ms(k) > 0);
        kind_free(k);
    }
    /* and every folder of proxies/ is an adapter */
    DIR *d = opendir(PROXIES);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        kind_free(load(e->d_name));
    }
    closedir(d);
}

static void test_nginx_renders_each_setting(void **state)
{
    (void)state;
    struct kind *k = load("nginx");
    static const char *const spec[] = {"no-mitigations",
                                       "retry-on=reset",
                                       "num-retries=2",
                                       "lingering-close",
                                       "lingering-timeout=5000",
                                       "lingering-time=30s",
                                       "upstream-idle-timeout=3",
                                       "downstream-idle-timeout=40",
                                       "drain-timeout=0",
                                       "max-connection-duration=40",
                                       "max-requests-per-connection=3",
                                       "max-request-bytes=64k",
                                       "upstream-connect-timeout=500",
                                       NULL};
    static const char *const native[] = {"proxy_buffering off;"};
    char *t = render(k, spec, native, 1);
    has(t, "user root;");
    has(t, "pid \"/cell/proxy.nginx.pid\";");
    has(t, "error_log \"/cell/proxy.error.log\" info;");
    has(t, "access_log \"/cell/proxy.access.jsonl\" racelab;");
    char *up = block(t, "upstream racelab_upstream {");
    has(up, "server 127.0.0.1:9000;");
    has(up, "keepalive 32;");
    has(up, "        keepalive_timeout 3ms;\n");
    char *srv = block(t, "    server {");
    has(srv, "listen 127.0.0.1:8000;");
    has(srv, "\n        lingering_close on;\n");
    has_not(srv, "lingering_close off;"); /* lingering-close wins over no-mitigations */
    has(srv, "lingering_timeout 5000ms;");
    has(srv, "lingering_time 30s;");
    has(srv, "keepalive_timeout 40ms;");
    has(srv, "keepalive_time 40ms;");
    has(srv, "keepalive_requests 3;");
    has(srv, "client_max_body_size 65536;");
    char *loc = block(t, "location / {");
    has(loc, "\n            proxy_next_upstream error non_idempotent;\n");
    has_not(loc, "proxy_next_upstream off;"); /* retry-on wins over no-mitigations */
    has(loc, "proxy_next_upstream_tries 3;");
    has(loc, "proxy_connect_timeout 500ms;");
    has(loc, "proxy_buffering off;");
    free(up);
    free(srv);
    free(loc);
    free(t);

    /* the naive proxy; the idempotent rule; a list of conditions, each word once */
    static const char *const naive[] = {"no-mitigations", NULL};
    t = render(k, naive, NULL, 0);
    has(t, "lingering_close off;");
    has(t, "proxy_next_upstream off;");
    free(t);
    static const char *const idem[] = {"retry-on=reset", "retry-idempotent-only", NULL};
    t = render(k, idem, NULL, 0);
    has(t, "proxy_next_upstream error;");
    free(t);
    static const char *const list[] = {"retry-on=reset,5xx", NULL};
    t = render(k, list, NULL, 0);
    has(t, "proxy_next_upstream error http_500 http_502 http_503 http_504 non_idempotent;");
    free(t);
    static const char *const plain[] = {"delayed-close-timeout=0", "max-connection-duration=0",
                                        NULL};
    t = render(k, plain, NULL, 0);
    has(t, "lingering_close off;");
    has_not(t, "keepalive_time "); /* 0 is unset */
    free(t);
    kind_free(k);
}

static void test_haproxy_renders_each_setting(void **state)
{
    (void)state;
    struct kind *k = load("haproxy");
    static const char *const spec[] = {"no-mitigations",
                                       "retry-on=reset",
                                       "num-retries=2",
                                       "retry-idempotent-only",
                                       "downstream-idle-timeout=40",
                                       "drain-timeout=0",
                                       "max-request-bytes=64k",
                                       "upstream-connect-timeout=500",
                                       "delayed-close-timeout=0",
                                       NULL};
    static const char *const native[] = {"option abortonclose"};
    char *t = render(k, spec, native, 1);
    has(t, "log stdout format raw local0");
    char *fe = section(t, "frontend racelab_front");
    has(fe, "bind 127.0.0.1:8000");
    has(fe, "\n    timeout http-keep-alive 40ms\n");
    has(fe, "http-request deny deny_status 413 if { req.hdr_val(content-length) gt 65536 }");
    char *be = section(t, "backend racelab_back");
    has(be, "server upstream 127.0.0.1:9000");
    has(be, "\n    retry-on empty-response\n");
    has(be, "\n    retries 2\n");
    has_not(be, "retries 0");
    has_not(be, "retries 1");
    has(be, "http-request disable-l7-retry if { method POST PATCH LOCK }");
    has(be, "timeout connect 500ms");
    has(be, "http-reuse always");
    has(be, "option abortonclose");
    free(fe);
    free(be);
    free(t);

    static const char *const retry[] = {"retry-on=reset,connect-failure", NULL};
    t = render(k, retry, NULL, 0);
    has(t, "retry-on empty-response conn-failure");
    has(t, "retries 1"); /* racelab-proxy's default, not HAProxy's 3 */
    has_not(t, "http-reuse");
    free(t);
    static const char *const queue[] = {"upstream-max-connections=1", "upstream-max-pending=5",
                                        NULL};
    t = render(k, queue, NULL, 0);
    has(t, "server upstream 127.0.0.1:9000 maxconn 1 maxqueue 5\n");
    free(t);
    static const char *const naive[] = {"no-mitigations", NULL};
    t = render(k, naive, NULL, 0);
    has(t, "retries 0");
    has(t, "http-reuse always");
    free(t);
    kind_free(k);
}

static void test_apache_renders_each_setting(void **state)
{
    (void)state;
    struct kind *k = load("apache");
    static const char *const spec[] = {"upstream-idle-timeout=2s",
                                       "upstream-max-connections=4",
                                       "upstream-connect-timeout=250",
                                       "downstream-idle-timeout=40",
                                       "max-requests-per-connection=3",
                                       "max-request-bytes=0",
                                       "reuse-check=peek",
                                       "lingering-close",
                                       "skip-delay-close",
                                       NULL};
    static const char *const native[] = {"SetEnv proxy-initial-not-pooled 1"};
    char *t = render(k, spec, native, 1);
    has(t, "\nListen 127.0.0.1:8000\n");
    has(t, "\nProxyPass \"/\" \"http://127.0.0.1:9000/\" ttl=2 max=4 connectiontimeout=250ms\n");
    has(t, "\nKeepAliveTimeout 40ms\n");
    has(t, "\nMaxKeepAliveRequests 3\n");
    assert_null(strstr(t, "LimitRequestBody")); /* 0: unlimited, httpd's own */
    has(t, "\nSetEnv proxy-initial-not-pooled 1\n");
    has(t, "ErrorLog \"/cell/proxy.error.log\"");
    has(t, "\\\"client_port\\\":%{remote}p,"); /* {{ in the template is a literal { */
    free(t);
    static const char *const none[] = {NULL};
    t = render(k, none, NULL, 0);
    has(t, "\nProxyPass \"/\" \"http://127.0.0.1:9000/\" \n");
    free(t);
    kind_free(k);
}

/* The node at a dotted path of a YAML tree: "a.b[0].c". */
static const struct yml_node *at(const struct yml_node *n, const char *path)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = strtok(buf, "."); tok && n; tok = strtok(NULL, ".")) {
        char *br = strchr(tok, '[');
        long idx = -1;
        if (br) {
            idx = strtol(br + 1, NULL, 10);
            *br = '\0';
        }
        if (*tok)
            n = yml_get(n, tok);
        if (n && idx >= 0)
            n = n->kind == YML_SEQ && (size_t)idx < n->n ? n->items[idx] : NULL;
    }
    return n;
}

static void is(const struct yml_node *root, const char *path, const char *want)
{
    const struct yml_node *n = at(root, path);
    if (!n || n->kind != YML_SCALAR)
        fail_msg("%s: expected '%s', got %s", path, want, n ? yml_kind_name(n) : "nothing");
    if (strcmp(n->str, want) != 0)
        fail_msg("%s: expected '%s', got '%s'", path, want, n->str);
}

static void absent(const struct yml_node *root, const char *path)
{
    const struct yml_node *n = at(root, path);
    if (n && !yml_is_null(n))
        fail_msg("%s: expected nothing, got a %s", path, yml_kind_name(n));
}

#define HCM   "static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
#define ROUTE HCM ".route_config.virtual_hosts[0].routes[0].route"
#define CLU   "static_resources.clusters[0]"
/* the key of the cluster's HTTP options has dots of its own */
#define UPOPT_KEY "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

static struct yml_node *parse(const char *text)
{
    struct yml_node *root = NULL;
    char err[512];
    if (yml_load_string("envoy.yaml", text, strlen(text), &root, err, sizeof(err)) != 0)
        fail_msg("the bootstrap does not parse: %s\n%s", err, text);
    return root;
}

static void test_envoy_bootstrap_parses_back(void **state)
{
    (void)state;
    struct kind *k = load("envoy");
    static const char *const spec[] = {"delayed-close-timeout=1000",
                                       "downstream-idle-timeout=40",
                                       "max-connection-duration=40",
                                       "max-requests-per-connection=3",
                                       "drain-timeout=0",
                                       "upstream-idle-timeout=3",
                                       "upstream-max-connections=1",
                                       "upstream-max-pending=8",
                                       "upstream-connect-timeout=250",
                                       "upstream-timeout=2s",
                                       "retry-on=reset,connect-failure",
                                       "num-retries=2",
                                       "retry-backoff-base=10",
                                       "retry-idempotent-only",
                                       "max-request-bytes=64k",
                                       "max-request-headers-kb=60",
                                       "max-connections=100",
                                       "attach-pending=deferred",
                                       NULL};
    char *t = render(k, spec, NULL, 0);
    struct yml_node *y = parse(t);
    is(y, "node.id", "racelab-proxy");
    is(y, HCM ".codec_type", "HTTP1");
    is(y, HCM ".delayed_close_timeout", "1s");
    is(y, HCM ".drain_timeout", "0s");
    is(y, HCM ".max_request_headers_kb", "60");
    is(y, HCM ".common_http_protocol_options.idle_timeout", "0.04s");
    is(y, HCM ".common_http_protocol_options.max_connection_duration", "0.04s");
    is(y, HCM ".common_http_protocol_options.max_requests_per_connection", "3");
    is(y, HCM ".access_log[0].typed_config.path", "/cell/proxy.access.jsonl");
    is(y, ROUTE ".cluster", "racelab_upstream");
    is(y, ROUTE ".timeout", "2s");
    is(y, ROUTE ".retry_policy.retry_on", "reset,connect-failure");
    is(y, ROUTE ".retry_policy.num_retries", "2");
    is(y, ROUTE ".retry_policy.retry_back_off.base_interval", "0.01s");
    is(y, ROUTE ".retry_policy.retriable_request_headers[0].name", ":method");
    is(y, ROUTE ".retry_policy.retriable_request_headers[0].invert_match", "true");
    is(y, HCM ".http_filters[0].name", "envoy.filters.http.buffer");
    is(y, HCM ".http_filters[0].typed_config.max_request_bytes", "65536");
    is(y, HCM ".http_filters[1].name", "envoy.filters.http.router");
    is(y, CLU ".connect_timeout", "0.25s");
    is(y, CLU ".circuit_breakers.thresholds[0].max_connections", "1");
    is(y, CLU ".circuit_breakers.thresholds[0].max_pending_requests", "8");
    const struct yml_node *opts =
        yml_get(at(y, CLU ".typed_extension_protocol_options"), UPOPT_KEY);
    assert_non_null(opts);
    assert_int_equal(at(opts, "explicit_http_config.http_protocol_options")->kind, YML_MAP);
    is(opts, "common_http_protocol_options.idle_timeout", "0.003s");
    is(y,
       CLU ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address."
           "port_value",
       "9000");
    is(y, "static_resources.listeners[0].address.socket_address.port_value", "8000");
    is(y, "overload_manager.resource_monitors[0].typed_config.max_active_downstream_connections",
       "100");
    yml_free(y);
    free(t);

    static const char *const naive[] = {"no-mitigations", NULL};
    t = render(k, naive, NULL, 0);
    y = parse(t);
    is(y, HCM ".delayed_close_timeout", "0s");
    yml_free(y);
    free(t);

    /* without settings: Envoy's defaults, no retry policy, nothing in the breakers */
    static const char *const none[] = {NULL};
    t = render(k, none, NULL, 0);
    y = parse(t);
    absent(y, ROUTE ".retry_policy");
    absent(y, HCM ".delayed_close_timeout");
    absent(y, "overload_manager");
    is(y, CLU ".circuit_breakers.thresholds[0].priority", "DEFAULT");
    absent(y, CLU ".circuit_breakers.thresholds[0].max_connections");
    is(y, HCM ".http_filters[0].name", "envoy.filters.http.router");
    yml_free(y);
    free(t);
    kind_free(k);
}

static void expect_why(struct kind *k, const char *const *spec, const char *want)
{
    char why[2048];
    why_not(k, spec, why, sizeof(why));
    if (!strstr(why, want))
        fail_msg("%s: expected the reason to contain '%s', got '%s'", kind_name(k), want, why);
}

static void test_unsupported_settings_say_why(void **state)
{
    (void)state;
    struct kind *nginx = load("nginx"), *haproxy = load("haproxy"), *apache = load("apache"),
                *envoy = load("envoy");
    char why[2048];

    static const char *const attach[] = {"attach-pending=deferred", NULL};
    expect_why(nginx, attach,
               "--attach-pending deferred has no nginx equivalent (open-source nginx has no "
               "pending queue");
    static const char *const backoff[] = {"retry-on=reset", "num-retries=2",
                                          "retry-backoff-base=10", NULL};
    why_not(nginx, backoff, why, sizeof(why));
    assert_string_equal(why, "--retry-backoff-base 10 has no nginx equivalent (nginx makes the "
                             "next try at once, without back-off)");
    static const char *const delayed[] = {"delayed-close-timeout=1000", NULL};
    expect_why(nginx, delayed, "nginx has no delayed close");
    static const char *const connect[] = {"retry-on=connect-failure", NULL};
    expect_why(nginx, connect, "covers connect failures and resets alike");
    /* two at once: both reasons, in the order of the settings */
    static const char *const two[] = {"attach-pending=immediate", "upstream-max-pending=4", NULL};
    why_not(nginx, two, why, sizeof(why));
    assert_non_null(strstr(why, "--attach-pending immediate has no nginx equivalent ("));
    assert_non_null(strstr(why, "); --upstream-max-pending 4 has no nginx equivalent ("));

    /* httpd does not apply LimitRequestBody to what ProxyPass forwards */
    static const char *const body[] = {"max-request-bytes=64k", NULL};
    expect_why(apache, body,
               "--max-request-bytes 64k has no apache equivalent (httpd's "
               "LimitRequestBody is not applied to a request ProxyPass forwards");
    static const char *const ttl[] = {"upstream-idle-timeout=3", NULL};
    expect_why(apache, ttl,
               "--upstream-idle-timeout 3 has no apache equivalent (it takes whole seconds");
    static const char *const ttl3s[] = {"upstream-idle-timeout=3000", NULL};
    why_not(apache, ttl3s, why, sizeof(why));
    assert_string_equal(why, "");
    static const char *const naive[] = {"no-mitigations", NULL};
    expect_why(apache, naive, "--no-mitigations has no apache equivalent (httpd always lingers");
    static const char *const retry[] = {"retry-on=reset", NULL};
    expect_why(apache, retry, "mod_proxy_http sends a request once");
    static const char *const tcpinfo[] = {"reuse-check=tcp-info", NULL};
    expect_why(apache, tcpinfo, "it does not ask TCP_INFO");

    /* a rule that says when: HAProxy's naive proxy with a server queue */
    static const char *const queued[] = {"no-mitigations", "upstream-max-connections=1", NULL};
    expect_why(haproxy, queued,
               "--no-mitigations has no haproxy equivalent (with a server "
               "maxconn");
    static const char *const linger[] = {"lingering-close", NULL};
    expect_why(haproxy, linger, "does not drain a request body");

    /* the naive proxy: expressible, except where its immediate attach or its delay of every
     * close would show (rules with conditions on other flags and on their values) */
    why_not(envoy, naive, why, sizeof(why));
    assert_string_equal(why, "");
    expect_why(envoy, queued, "--no-mitigations has no envoy equivalent (Envoy attaches a pending");
    static const char *const naive_delay[] = {"no-mitigations", "delayed-close-timeout=1000", NULL};
    expect_why(envoy, naive_delay, "the naive proxy delays every close");
    static const char *const naive_nodelay[] = {"no-mitigations", "delayed-close-timeout=0ms",
                                                NULL};
    why_not(envoy, naive_nodelay, why, sizeof(why));
    assert_string_equal(why, "");
    static const char *const naive_skip[] = {"no-mitigations", "delayed-close-timeout=1000",
                                             "skip-delay-close", NULL};
    why_not(envoy, naive_skip, why, sizeof(why));
    assert_string_equal(why, "");
    static const char *const immediate[] = {"attach-pending=immediate", NULL};
    expect_why(envoy, immediate, "--attach-pending immediate has no envoy equivalent (");
    why_not(envoy, attach, why, sizeof(why));
    assert_string_equal(why, ""); /* deferred is Envoy's own */
    static const char *const noskip[] = {"no-skip-delay-close", NULL};
    expect_why(envoy, noskip, "skip_delay_close");

    kind_free(nginx);
    kind_free(haproxy);
    kind_free(apache);
    kind_free(envoy);
}

/* file, line of the error, a word of the key or place, a word of the reason */
struct bad_case {
    const char *dir;
    const char *file; /* the file the error names */
    int line;
    const char *key;
    const char *reason;
};

static const struct bad_case bad_cases[] = {
    {"unknown-key", "adapter.yaml", 3, "binry", "unknown key"},
    {"wrong-name", "adapter.yaml", 1, "kind", "not the name of the adapter's folder"},
    {"bad-signal", "adapter.yaml", 7, "stop.signal", "'KILLME' is not one of"},
    {"bad-placeholder", "t.conf", 3, "{upstream_prot}", "neither a slot"},
    {"not-a-flag", "adapter.yaml", 10, "settings.retry-onn", "not a racelab-proxy flag"},
    {"reserved-flag", "adapter.yaml", 10, "settings.access-log", "not a racelab-proxy flag"},
    {"uncovered", "adapter.yaml", 9, "settings", "--delayed-close-timeout is neither mapped"},
    {"bad-value", "adapter.yaml", 11, "settings.reuse-check.values.peak", "not a value of"},
    {"unknown-slot", "adapter.yaml", 10, "settings.lingering-close.slot", "no slot named"},
    {"value-placeholder", "adapter.yaml", 10, "settings.lingering-close.text",
     "{ms} does not fit --lingering-close"},
    {"no-note", "adapter.yaml", 10, "settings.skip-delay-close", "(note:)"},
};
#define NBAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

static void test_bad_adapters_name_file_line_and_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < NBAD; i++) {
        const struct bad_case *b = &bad_cases[i];
        char *dir = tsup_fmt("%s/%s", BAD_DIR, b->dir);
        char *prefix = tsup_fmt("%s/%s:%d:", dir, b->file, b->line);
        char err[1024] = "";
        struct kind *k = kind_load(dir, err, sizeof(err));
        if (k || strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, b->key) ||
            !strstr(err, b->reason))
            fail_msg("%s: expected an error starting %s naming %s (%s), got: %s", b->dir, prefix,
                     b->key, b->reason, k ? "(loaded)" : err);
        kind_free(k);
        free(dir);
        free(prefix);
    }
    /* every fixture has its expectation above */
    DIR *d = opendir(BAD_DIR);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        bool listed = false;
        for (size_t i = 0; i < NBAD; i++)
            listed |= strcmp(bad_cases[i].dir, e->d_name) == 0;
        if (!listed)
            fail_msg("%s/%s has no expectation in test_kinds.c", BAD_DIR, e->d_name);
    }
    closedir(d);
}

static void test_commands_and_binaries(void **state)
{
    (void)state;
    struct kind *k = load("nginx");
    char err[512];
    char **argv = kind_argv(k, KIND_START, "/usr/sbin/nginx", &vars, err, sizeof(err));
    assert_non_null(argv);
    static const char *const want[] = {
        "/usr/sbin/nginx",       "-p", "/cell/", "-c", "/cell/proxy.nginx.conf", "-e",
        "/cell/proxy.error.log", NULL};
    for (size_t i = 0; want[i]; i++) {
        assert_non_null(argv[i]);
        assert_string_equal(argv[i], want[i]);
    }
    assert_null(argv[7]);
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
    char path[256];
    kind_access_log(k, "proxy2", path, sizeof(path));
    assert_string_equal(path, "proxy2.access.jsonl");
    kind_free(k);

    char *dir = tsup_fmt("%s/missing", GOOD_DIR);
    k = kind_load(dir, err, sizeof(err));
    if (!k)
        fail_msg("%s", err);
    char bin[256];
    assert_int_equal(kind_find_binary(k, bin, sizeof(bin), err, sizeof(err)), -1);
    assert_string_equal(err, "missing not installed (looked for racelab-no-such-proxy in PATH, "
                             "/nonexistent/racelab-no-such-proxy)");
    assert_null(kind_argv(k, KIND_CHECK, "x", &vars, err, sizeof(err)));
    kind_free(k);
    free(dir);
}

static void test_access_log_lines_read(void **state)
{
    (void)state;
    struct kind_entry e;
    struct kind *k = load("nginx");
    assert_int_equal(kind_read_entry(k,
                                     "{\"status\":502,\"upstream_status\":\"502, 200\","
                                     "\"remote_port\":40112,\"method\":\"GET\"}",
                                     &e),
                     0);
    assert_int_equal(e.status, 502);
    assert_int_equal(e.attempts, 2);
    assert_true(e.retried);
    assert_int_equal(e.downstream_port, 40112);
    assert_int_equal(kind_read_entry(k, "not json", &e), -1);
    kind_free(k);

    k = load("haproxy");
    assert_int_equal(kind_read_entry(k,
                                     "{\"status\":200,\"termination\":\"--\",\"retries\":\"1\","
                                     "\"client_port\":40000}",
                                     &e),
                     0);
    assert_int_equal(e.attempts, 2);
    assert_false(e.upstream_reset);
    assert_int_equal(
        kind_read_entry(k, "{\"status\":502,\"termination\":\"SH\",\"retries\":\"0\"}", &e), 0);
    assert_true(e.upstream_reset);
    assert_int_equal(e.attempts, 1);
    kind_free(k);

    k = load("envoy");
    assert_int_equal(kind_read_entry(k,
                                     "{\"status\":\"503\",\"flags\":\"UC\",\"attempts\":\"1\","
                                     "\"client_port\":\"40112\"}",
                                     &e),
                     0);
    assert_int_equal(e.status, 503);
    assert_true(e.upstream_reset);
    assert_int_equal(e.downstream_port, 40112);
    kind_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_adapter_loads),
        cmocka_unit_test(test_nginx_renders_each_setting),
        cmocka_unit_test(test_haproxy_renders_each_setting),
        cmocka_unit_test(test_apache_renders_each_setting),
        cmocka_unit_test(test_envoy_bootstrap_parses_back),
        cmocka_unit_test(test_unsupported_settings_say_why),
        cmocka_unit_test(test_bad_adapters_name_file_line_and_key),
        cmocka_unit_test(test_commands_and_binaries),
        cmocka_unit_test(test_access_log_lines_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
