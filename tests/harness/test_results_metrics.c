/* Metrics of a cell from synthetic records and a synthetic capture (no processes): a trial's
 * outcome is its first failing request, a missing trial fails; RSTs are attributed to trials
 * by port through the access logs (a pooled upstream connection shared by several trials gives
 * each RST to the request whose window contains it, else the last one before it), a chain
 * follows proxy1's upstream ports into proxy2's log, and a gap sweep reports the failure rate
 * per gap, grouping each trial by its reuse_gap_ms (records without it: by the largest gap_ms
 * of the trial); RSTs of stopping the programs, after the last trial, are given to no trial. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expect.h"
#include "metrics.h"

static const char *ok200[] = {"200"};

#define RST(ts, by_client)                                                                         \
    {                                                                                              \
        .ts_us = (ts), .kind = ANALYSIS_EV_RST, .from_client = (by_client), .flags = 0x04          \
    }

#define DATA(ts)                                                                                   \
    {                                                                                              \
        .ts_us = (ts), .kind = ANALYSIS_EV_DATA, .from_client = true, .len = 100, .flags = 0x18    \
    }

static json_t *jl(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fail_msg("bad JSON in the test: %s", e.text);
    return v;
}

static json_t *req(long trial, int conn, int r, int lport, long start, long end,
                   const char *outcome, double gap)
{
    return json_pack("{s:s,s:i,s:i,s:i,s:i,s:I,s:I,s:s,s:f}", "type", "request", "trial",
                     (int)trial, "conn", conn, "req", r, "lport", lport, "start_us",
                     (json_int_t)start, "end_us", (json_int_t)end, "outcome", outcome, "gap_ms",
                     gap);
}

static json_t *acc(int dport, long start, long end, int status, const char *flags, int up0, int up1)
{
    json_t *ups = json_array();
    if (up0)
        json_array_append_new(ups, json_integer(up0));
    if (up1)
        json_array_append_new(ups, json_integer(up1));
    return json_pack("{s:i,s:I,s:I,s:i,s:s,s:i,s:o}", "dport", dport, "start_us", (json_int_t)start,
                     "end_us", (json_int_t)end, "status", status, "flags", flags, "attempts",
                     up1 ? 2 : 1, "upstream_ports", ups);
}

static void flow(struct analysis_flow *f, const struct analysis_hop *hop, uint16_t port,
                 uint64_t first, uint64_t last, struct analysis_event *ev, size_t nev)
{
    memset(f, 0, sizeof(*f));
    f->hop = hop;
    f->client_port = port;
    f->first_us = first;
    f->last_us = last;
    f->events = ev;
    f->nevents = nev;
    f->c2s.syn = f->s2c.syn = 1;
    for (size_t i = 0; i < nev; i++) {
        struct analysis_dir *d = ev[i].from_client ? &f->c2s : &f->s2c;
        if (ev[i].kind == ANALYSIS_EV_RST)
            d->rst++;
        if (ev[i].kind == ANALYSIS_EV_FIN)
            d->fin++;
    }
}

static long geti(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    if (!json_is_integer(v))
        fail_msg("%s.%s is not an integer", a, b ? b : "");
    return (long)json_integer_value(v);
}

static void test_proxy_attribution(void **state)
{
    (void)state;
    struct scenario s = {.name = "syn", .topo = SCENARIO_PROXY};
    struct scenario_cell c = {.s = &s, .trials = 4, .success = ok200, .nsuccess = 1, .nprogs = 3};
    json_t *records = json_array();
    json_array_append_new(records, req(0, 0, 0, 40000, 1000, 1100, "200", 0));
    json_array_append_new(records, req(0, 0, 1, 40000, 1200, 1300, "200", 5));
    json_array_append_new(records, req(1, 0, 0, 40001, 2000, 2100, "200", 0));
    json_array_append_new(records, req(1, 0, 1, 40001, 2200, 2300, "503", 5));
    json_array_append_new(records, req(2, 0, 1, 40002, 3200, 3300, "200", 5));
    json_array_append_new(records, req(2, 0, 0, 40002, 3000, 3100, "reset", 0));
    /* trial 3 never ran */
    json_t *access = json_array();
    json_array_append_new(access, acc(40000, 1010, 1090, 200, "-", 50000, 0));
    json_array_append_new(access, acc(40000, 1210, 1290, 200, "-", 50000, 0));
    json_array_append_new(access, acc(40001, 2010, 2090, 200, "-", 50000, 0));
    json_array_append_new(access, acc(40001, 2210, 2290, 503, "UC", 50000, 0));
    json_array_append_new(access, acc(40002, 3010, 3090, 0, "DC", 50001, 0));
    json_t *stats = jl("{\"upstream_rq_retry\":0}");

    struct analysis_hop hops[2] = {{8000, "downstream", "proxy"}, {9000, "proxy", "upstream"}};
    struct analysis_event up_ev[] = {RST(2250, false), RST(2400, true)};
    struct analysis_event t2_ev[] = {RST(3050, false)};
    struct analysis_event lost_ev[] = {RST(5000, false)};
    struct analysis_flow flows[6];
    flow(&flows[0], &hops[0], 40000, 1000, 1300, NULL, 0);
    flow(&flows[1], &hops[0], 40001, 2000, 2300, NULL, 0);
    flow(&flows[2], &hops[0], 40002, 3000, 3300, t2_ev, 1);
    flow(&flows[3], &hops[1], 50000, 1010, 2400, up_ev, 2);
    flow(&flows[4], &hops[1], 50001, 3010, 3090, NULL, 0);
    flow(&flows[5], &hops[1], 50002, 4900, 5000, lost_ev, 1); /* no request names it */
    struct analysis_result ana = {.flows = flows, .nflows = 6};

    struct metrics_input in = {.cell = &c,
                               .records = records,
                               .access = {access, NULL},
                               .stats = {stats, NULL},
                               .nproxies = 1,
                               .access_log = true,
                               .ana = &ana,
                               .hops = hops,
                               .nhops = 2};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);

    assert_int_equal(geti(m, "trials", NULL), 4);
    assert_int_equal(geti(m, "failures", NULL), 3);
    assert_int_equal(geti(m, "outcomes", "200"), 1);
    assert_int_equal(geti(m, "outcomes", "503"), 1);
    assert_int_equal(geti(m, "outcomes", "reset"), 1);
    assert_int_equal(geti(m, "outcomes", "missing"), 1);
    assert_int_equal(geti(m, "outcomes", "empty"), 0);
    assert_int_equal(geti(json_object_get(m, "requests"), "outcomes", "200"), 4);
    assert_int_equal(geti(m, "requests", "total"), 6);
    assert_int_equal(geti(m, "requests", "failures"), 2);

    assert_int_equal(geti(m, "rst", "downstream->proxy"), 0);
    assert_int_equal(geti(m, "rst", "proxy->downstream"), 1);
    assert_int_equal(geti(m, "rst", "upstream->proxy"), 2);
    assert_int_equal(geti(m, "rst", "proxy->upstream"), 1);
    assert_int_equal(geti(m, "syn", "downstream->proxy"), 3);
    /* The pooled upstream connection served trials 0 and 1: the RST at 2250 falls in trial
     * 1's second request, the one at 2400 after it (last preceding: trial 1 too). */
    assert_int_equal(geti(m, "failing_rst", "upstream->proxy"), 1);
    assert_int_equal(geti(m, "failing_rst", "proxy->upstream"), 1);
    assert_int_equal(geti(m, "failing_rst", "proxy->downstream"), 1);
    assert_int_equal(geti(m, "trials_with_rst", "upstream->proxy"), 1);
    assert_int_equal(geti(m, "unattributed_rst", NULL), 1);
    assert_int_equal(json_array_size(json_object_get(m, "attributed")), 4);

    assert_int_equal(geti(m, "proxy_flags", "UC"), 1);
    assert_int_equal(geti(m, "proxy_flags", "DC"), 1);
    assert_null(json_object_get(json_object_get(m, "proxy_flags"), "-"));
    assert_int_equal(geti(json_object_get(m, "proxies"), "proxy", "requests"), 5);
    assert_int_equal(geti(m, "stats", "upstream_rq_retry"), 0);

    json_t *ft = json_object_get(m, "failing_trials");
    assert_int_equal(json_array_size(ft), 3);
    json_t *t1 = json_array_get(ft, 0);
    assert_int_equal(geti(t1, "trial", NULL), 1);
    assert_int_equal(geti(t1, "lport", NULL), 40001);
    assert_string_equal(json_string_value(json_object_get(t1, "outcome")), "503");
    assert_int_equal(json_array_size(json_object_get(t1, "rst")), 2);
    json_t *t2 = json_array_get(ft, 1);
    assert_string_equal(json_string_value(json_object_get(t2, "outcome")), "reset");

    json_decref(m);
    json_decref(records);
    json_decref(access);
    json_decref(stats);
}

/* Without access logs (--proxy-cmd) only the first hop is attributed. */
static void test_foreign_proxy_attributes_first_hop_only(void **state)
{
    (void)state;
    struct scenario s = {.name = "syn", .topo = SCENARIO_PROXY};
    struct scenario_cell c = {.s = &s, .trials = 1, .success = ok200, .nsuccess = 1, .nprogs = 3};
    json_t *records = json_array();
    json_array_append_new(records, req(0, 0, 0, 40000, 1000, 1100, "503", 0));
    struct analysis_hop hops[2] = {{8000, "downstream", "proxy"}, {9000, "proxy", "upstream"}};
    struct analysis_event up_ev[] = {RST(1050, false)};
    struct analysis_flow flows[2];
    flow(&flows[0], &hops[0], 40000, 1000, 1100, NULL, 0);
    flow(&flows[1], &hops[1], 50000, 1010, 1060, up_ev, 1);
    struct analysis_result ana = {.flows = flows, .nflows = 2};
    struct metrics_input in = {.cell = &c,
                               .records = records,
                               .nproxies = 1,
                               .access_log = false,
                               .ana = &ana,
                               .hops = hops,
                               .nhops = 2};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(geti(m, "rst", "upstream->proxy"), 1);
    assert_null(json_object_get(json_object_get(m, "failing_rst"), "upstream->proxy"));
    assert_int_equal(json_array_size(json_object_get(m, "attributed")), 2);
    assert_false(json_is_true(json_object_get(m, "access_log")));
    assert_int_equal(geti(m, "unattributed_rst", NULL), 0);
    json_decref(m);
    json_decref(records);
}

/* A foreign proxy (no access log): the upstream's log names the tag (X-Racelab-Trial: T.C.R)
 * of each request it read and the proxy's port of that connection (rport), so the last hop is
 * attributed too. Trial 1's request went onto pooled connection 50000, last used by trial 0,
 * whose upstream had closed: the upstream never read it (no event), its kernel answered with
 * an RST. The proxy's data packet then, covered by no tagged use, is trial 1's (the one trial
 * in flight), and so is the RST - not trial 0's, the connection's last tagged user. */
static void test_foreign_proxy_attributes_upstream_by_tag(void **state)
{
    (void)state;
    struct scenario s = {.name = "syn", .topo = SCENARIO_PROXY};
    struct scenario_cell c = {.s = &s, .trials = 3, .success = ok200, .nsuccess = 1, .nprogs = 3};
    json_t *records = json_array();
    json_array_append_new(records, req(0, 0, 0, 40000, 1000, 1100, "200", 0));
    json_array_append_new(records, req(0, 0, 1, 40000, 1200, 1300, "200", 2));
    json_array_append_new(records, req(1, 0, 0, 40001, 2000, 2100, "503", 0));
    json_array_append_new(records, req(2, 0, 0, 40002, 3000, 3100, "200", 0));
    json_t *up = jl("[{\"event\":\"accept\",\"rport\":50000,\"ts_us\":1005},"
                    "{\"event\":\"request\",\"rport\":50000,\"tag\":\"0.0.0\",\"first_us\":1010,"
                    "\"ts_us\":1011},"
                    "{\"event\":\"request\",\"rport\":50000,\"tag\":\"0.0.1\",\"first_us\":1210,"
                    "\"ts_us\":1211},"
                    "{\"event\":\"request\",\"rport\":50001,\"tag\":\"2.0.0\",\"first_us\":3010,"
                    "\"ts_us\":3011},"
                    "{\"event\":\"request\",\"rport\":50001,\"first_us\":3020,\"ts_us\":3021}]");
    struct analysis_hop hops[2] = {{8000, "downstream", "proxy"}, {9000, "proxy", "upstream"}};
    struct analysis_event u0[] = {DATA(1010), DATA(1210), DATA(2010), RST(2015, false)};
    struct analysis_event u1[] = {DATA(3010), RST(3050, false)};
    struct analysis_flow flows[5];
    flow(&flows[0], &hops[0], 40000, 1000, 1300, NULL, 0);
    flow(&flows[1], &hops[0], 40001, 2000, 2100, NULL, 0);
    flow(&flows[2], &hops[0], 40002, 3000, 3100, NULL, 0);
    flow(&flows[3], &hops[1], 50000, 1005, 2015, u0, 4);
    flow(&flows[4], &hops[1], 50001, 3005, 3050, u1, 2);
    struct analysis_result ana = {.flows = flows, .nflows = 5};
    struct metrics_input in = {.cell = &c,
                               .records = records,
                               .nproxies = 1,
                               .access_log = false,
                               .upstream_log = up,
                               .ana = &ana,
                               .hops = hops,
                               .nhops = 2};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);
    assert_false(json_is_true(json_object_get(m, "access_log")));
    const json_t *att = json_object_get(m, "attributed");
    assert_int_equal(json_array_size(att), 4);
    assert_string_equal(json_string_value(json_array_get(att, 3)), "upstream->proxy");
    assert_int_equal(geti(m, "rst", "upstream->proxy"), 2);
    assert_int_equal(geti(m, "trials_with_rst", "upstream->proxy"), 2);
    assert_int_equal(geti(m, "failing_rst", "upstream->proxy"), 1);
    assert_int_equal(geti(m, "unattributed_rst", NULL), 0);
    const json_t *ft = json_array_get(json_object_get(m, "failing_trials"), 0);
    assert_int_equal(geti(ft, "trial", NULL), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(ft, "rst"), 0)),
                        "upstream->proxy");
    char why[256];
    double v;
    json_object_set_new(m, "capture", json_string("capture.pcap")); /* as the cell adds it */
    assert_int_equal(expect_metric_value(m, "trials_with_rst.upstream->proxy", &v, why,
                                         sizeof(why)),
                     0);
    assert_true(v == 2);
    json_decref(m);

    /* no tag reached the upstream (--no-tag): the first hop only, as before */
    json_t *untagged = jl("[{\"event\":\"request\",\"rport\":50000,\"first_us\":1010}]");
    in.upstream_log = untagged;
    m = metrics_build(&in, err, sizeof(err));
    assert_int_equal(json_array_size(json_object_get(m, "attributed")), 2);
    assert_null(json_object_get(json_object_get(m, "failing_rst"), "upstream->proxy"));
    json_decref(m);
    json_decref(untagged);

    /* two foreign proxies: the upstream hop through the tags, the middle hop unattributed */
    struct scenario s2 = {.name = "syn2", .topo = SCENARIO_CHAIN};
    struct scenario_cell c2 = c;
    c2.s = &s2;
    c2.nprogs = 4;
    struct analysis_hop hops3[3] = {{8000, "downstream", "proxy1"},
                                    {8001, "proxy1", "proxy2"},
                                    {9000, "proxy2", "upstream"}};
    struct analysis_event mid[] = {RST(2016, false)};
    struct analysis_flow flows3[6];
    for (int i = 0; i < 3; i++)
        flows3[i] = flows[i], flows3[i].hop = &hops3[0];
    flow(&flows3[3], &hops3[1], 45000, 1002, 2016, mid, 1);
    flows3[4] = flows[3], flows3[4].hop = &hops3[2];
    flows3[5] = flows[4], flows3[5].hop = &hops3[2];
    struct analysis_result ana3 = {.flows = flows3, .nflows = 6};
    in.cell = &c2;
    in.nproxies = 2;
    in.hops = hops3;
    in.nhops = 3;
    in.ana = &ana3;
    in.upstream_log = up;
    m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);
    att = json_object_get(m, "attributed");
    assert_int_equal(json_array_size(att), 4);
    assert_string_equal(json_string_value(json_array_get(att, 2)), "proxy2->upstream");
    assert_int_equal(geti(m, "failing_rst", "upstream->proxy2"), 1);
    assert_null(json_object_get(json_object_get(m, "failing_rst"), "proxy2->proxy1"));
    assert_int_equal(geti(m, "rst", "proxy2->proxy1"), 1);
    json_decref(m);
    json_decref(up);
    json_decref(records);
}

/* downstream → proxy1 → proxy2 → upstream: proxy1's upstream port is proxy2's dport. */
static void test_chain_attribution(void **state)
{
    (void)state;
    struct scenario s = {.name = "chain", .topo = SCENARIO_CHAIN};
    struct scenario_cell c = {.s = &s, .trials = 2, .success = ok200, .nsuccess = 1, .nprogs = 4};
    json_t *records = json_array();
    json_array_append_new(records, req(0, 0, 0, 40000, 1000, 1900, "503", 0));
    json_array_append_new(records, req(1, 0, 0, 40001, 2000, 2900, "200", 0));
    json_t *a1 = json_array(), *a2 = json_array();
    json_array_append_new(a1, acc(40000, 1010, 1890, 503, "UC", 50000, 0));
    json_array_append_new(a1, acc(40001, 2010, 2890, 200, "-", 50001, 0));
    json_array_append_new(a2, acc(50000, 1020, 1880, 413, "-", 60000, 0));
    json_array_append_new(a2, acc(50001, 2020, 2880, 200, "-", 60001, 0));
    struct analysis_hop hops[3] = {
        {8000, "downstream", "proxy1"}, {8001, "proxy1", "proxy2"}, {9000, "proxy2", "upstream"}};
    struct analysis_event ev12[] = {RST(1500, false)};
    struct analysis_event ev2u[] = {RST(1400, false)};
    struct analysis_flow flows[6];
    flow(&flows[0], &hops[0], 40000, 1000, 1900, NULL, 0);
    flow(&flows[1], &hops[1], 50000, 1010, 1890, ev12, 1);
    flow(&flows[2], &hops[2], 60000, 1020, 1880, ev2u, 1);
    flow(&flows[3], &hops[0], 40001, 2000, 2900, NULL, 0);
    flow(&flows[4], &hops[1], 50001, 2010, 2890, NULL, 0);
    flow(&flows[5], &hops[2], 60001, 2020, 2880, NULL, 0);
    struct analysis_result ana = {.flows = flows, .nflows = 6};
    struct metrics_input in = {.cell = &c,
                               .records = records,
                               .access = {a1, a2},
                               .nproxies = 2,
                               .access_log = true,
                               .ana = &ana,
                               .hops = hops,
                               .nhops = 3};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(geti(m, "failures", NULL), 1);
    assert_int_equal(geti(m, "failing_rst", "proxy2->proxy1"), 1);
    assert_int_equal(geti(m, "failing_rst", "upstream->proxy2"), 1);
    assert_int_equal(geti(m, "trials_with_rst", "upstream->proxy2"), 1);
    assert_int_equal(json_array_size(json_object_get(m, "attributed")), 6);
    assert_int_equal(geti(m, "proxy_flags", "UC"), 1);
    json_t *p2 = json_object_get(json_object_get(m, "proxies"), "proxy2");
    assert_int_equal(geti(p2, "statuses", "413"), 1);
    json_decref(m);
    json_decref(records);
    json_decref(a1);
    json_decref(a2);
}

/* With C connections, the first failing request by start time decides the trial; a trial
 * whose every request succeeded is labelled by its first request's outcome. */
static void test_trial_outcome_first_failure(void **state)
{
    (void)state;
    const char *ok[] = {"200", "413"};
    struct scenario s = {.name = "x", .topo = SCENARIO_DIRECT};
    struct scenario_cell c = {.s = &s, .trials = 2, .success = ok, .nsuccess = 2, .nprogs = 2};
    json_t *records = json_array();
    json_array_append_new(records, req(0, 1, 0, 40001, 1500, 1600, "empty", 0));
    json_array_append_new(records, req(0, 0, 0, 40000, 1000, 1900, "reset", 0));
    json_array_append_new(records, req(0, 2, 0, 40002, 1100, 1200, "413", 0));
    json_array_append_new(records, req(1, 0, 0, 40003, 2000, 2100, "413", 0));
    json_array_append_new(records, req(1, 0, 1, 40003, 2200, 2300, "200", 3));
    struct metrics_input in = {.cell = &c, .records = records};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(geti(m, "failures", NULL), 1);
    assert_int_equal(geti(m, "outcomes", "reset"), 1);
    assert_int_equal(geti(m, "outcomes", "empty"), 0);
    assert_int_equal(geti(m, "outcomes", "413"), 1);
    assert_true(json_is_null(json_object_get(json_object_get(m, "rst"), "downstream->upstream")) ||
                json_object_get(json_object_get(m, "rst"), "downstream->upstream") == NULL);
    assert_int_equal(geti(json_object_get(m, "requests"), "outcomes", "413"), 2);
    json_t *lat = json_object_get(m, "latency_ms");
    assert_true(json_real_value(json_object_get(lat, "max")) == 0.9);
    json_decref(m);
    json_decref(records);
}

static void test_sweep(void **state)
{
    (void)state;
    struct scenario s = {.name = "sw", .topo = SCENARIO_DIRECT};
    struct scenario_cell c = {
        .s = &s, .trials = 6, .success = ok200, .nsuccess = 1, .nprogs = 2, .sweep = true};
    json_t *records = json_array();
    double gaps[] = {10, 20, 30, 10, 20, 30};
    const char *oc[] = {"200", "reset", "empty", "200", "200", "reset"};
    for (long t = 0; t < 6; t++) {
        json_array_append_new(records,
                              req(t, 0, 0, 40000 + (int)t, 1000 * t, 1000 * t + 10, "200", 0));
        json_array_append_new(
            records, req(t, 0, 1, 40000 + (int)t, 1000 * t + 20, 1000 * t + 30, oc[t], gaps[t]));
    }
    struct metrics_input in = {.cell = &c, .records = records};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    json_t *sw = json_object_get(m, "sweep");
    assert_int_equal(json_array_size(sw), 3);
    assert_true(json_real_value(json_object_get(json_array_get(sw, 0), "gap_ms")) == 10);
    assert_int_equal(geti(json_array_get(sw, 0), "failures", NULL), 0);
    assert_int_equal(geti(json_array_get(sw, 1), "failures", NULL), 1);
    assert_int_equal(geti(json_array_get(sw, 2), "failures", NULL), 2);
    assert_int_equal(geti(json_array_get(sw, 2), "trials", NULL), 2);
    assert_int_equal(geti(m, "sweep_stats", "gaps"), 3);
    assert_int_equal(geti(m, "sweep_stats", "gaps_failing"), 2);
    assert_true(json_real_value(
                    json_object_get(json_object_get(m, "sweep_stats"), "max_failure_rate")) == 1.0);
    json_decref(m);
    json_decref(records);
}

/* A trial whose first request fails has only that record (gap_ms 0): racelab-downstream's
 * reuse_gap_ms still names the trial's swept gap, so the trial is counted under its gap and the
 * sweep has no "gap 0" row. */
static void test_sweep_first_request_fails(void **state)
{
    (void)state;
    struct scenario s = {.name = "sw", .topo = SCENARIO_DIRECT};
    struct scenario_cell c = {
        .s = &s, .trials = 6, .success = ok200, .nsuccess = 1, .nprogs = 2, .sweep = true};
    json_t *records = json_array();
    double gaps[] = {10, 20, 30, 10, 20, 30};
    for (long t = 0; t < 6; t++) {
        int port = 40000 + (int)t;
        long t0 = 1000 * t;
        if (t == 1 || t == 2) { /* the first request fails: no second request */
            json_t *r = req(t, 0, 0, port, t0, t0 + 10, "reset", 0);
            json_object_set_new(r, "reuse_gap_ms", json_real(gaps[t]));
            json_array_append_new(records, r);
            continue;
        }
        json_t *a = req(t, 0, 0, port, t0, t0 + 10, "200", 0);
        json_t *b = req(t, 0, 1, port, t0 + 20, t0 + 30, t == 5 ? "reset" : "200", gaps[t]);
        json_object_set_new(a, "reuse_gap_ms", json_real(gaps[t]));
        json_object_set_new(b, "reuse_gap_ms", json_real(gaps[t]));
        json_array_append_new(records, a);
        json_array_append_new(records, b);
    }
    struct metrics_input in = {.cell = &c, .records = records};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);
    json_t *sw = json_object_get(m, "sweep");
    assert_int_equal(json_array_size(sw), 3);
    for (size_t g = 0; g < 3; g++) {
        json_t *row = json_array_get(sw, g);
        assert_true(json_real_value(json_object_get(row, "gap_ms")) == 10.0 * (double)(g + 1));
        assert_int_equal(geti(row, "trials", NULL), 2);
    }
    assert_int_equal(geti(json_array_get(sw, 0), "failures", NULL), 0);
    assert_int_equal(geti(json_array_get(sw, 1), "failures", NULL), 1);
    assert_int_equal(geti(json_array_get(sw, 2), "failures", NULL), 2);
    assert_int_equal(geti(m, "sweep_stats", "gaps"), 3);
    assert_int_equal(geti(m, "sweep_stats", "gaps_failing"), 2);
    assert_int_equal(geti(m, "sweep_stats", "gaps_clean"), 1);
    json_decref(m);
    json_decref(records);
}

/* racelab repro draws the slowest trial when none failed: first start to last outcome, the
 * trials of a parallel run interleaved in the records. */
static void test_slowest_trial(void **state)
{
    (void)state;
    json_t *records = json_array();
    json_array_append_new(records, req(1, 0, 0, 40001, 1000, 1500, "200", 0));
    json_array_append_new(records, req(0, 0, 0, 40000, 900, 1200, "200", 0));
    json_array_append_new(records, req(2, 0, 0, 40002, 1100, 1900, "200", 0));
    json_array_append_new(records, req(1, 0, 1, 40001, 1600, 2100, "200", 5)); /* 1.1 ms */
    json_array_append_new(records, jl("{\"type\":\"summary\",\"trial\":7}"));
    double ms = 0;
    assert_int_equal(metrics_slowest_trial(records, &ms), 1);
    assert_true(ms > 1.099 && ms < 1.101);
    json_t *none = json_array();
    assert_int_equal(metrics_slowest_trial(none, &ms), -1);
    json_decref(none);
    json_decref(records);
}

static const struct explain_flow_sel *find_sel(const struct explain_flow_sel *v, size_t n,
                                               size_t hop, uint16_t port, uint64_t from)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].hop == hop && v[i].client_port == port && v[i].from_us == from)
            return &v[i];
    fail_msg("no selection of hop %zu port %u from %llu", hop, port, (unsigned long long)from);
    return NULL;
}

/* racelab repro draws one trial's connections: its client connections (whole), and through
 * the access log the upstream connections its requests used, each within the request's time
 * at the proxy; a pooled connection another trial also used is clipped, one only this trial
 * used is whole; a later connection that reused a port of the trial is not the trial's. */
static void test_trial_flows(void **state)
{
    (void)state;
    json_t *records = json_array();
    json_array_append_new(records, req(0, 0, 0, 40000, 1000, 1100, "200", 0));
    json_array_append_new(records, req(1, 0, 0, 40001, 1050, 1150, "200", 0));
    json_array_append_new(records, req(0, 0, 1, 40000, 1200, 1300, "503", 5));
    json_array_append_new(records, req(1, 0, 1, 40001, 1300, 1350, "200", 5));
    json_array_append_new(records, req(2, 0, 0, 40002, 2000, 2100, "200", 0));
    json_array_append_new(records, req(3, 0, 0, 40000, 5000, 5100, "200", 0)); /* port reused */
    json_t *access = json_array();
    json_array_append_new(access, acc(40000, 1010, 1090, 200, "-", 50000, 0));
    json_array_append_new(access, acc(40001, 1060, 1140, 200, "-", 50001, 0));
    json_array_append_new(access, acc(40000, 1210, 1290, 503, "UC", 50000, 0));
    json_array_append_new(access, acc(40001, 1310, 1340, 200, "-", 50000, 0)); /* pooled */
    json_array_append_new(access, acc(40002, 2010, 2090, 200, "-", 50002, 0));
    json_array_append_new(access, acc(40000, 5010, 5090, 200, "-", 50003, 0));
    const json_t *acc1[1] = {access};

    size_t n = 0;
    uint64_t first = 0, last = 0;
    struct explain_flow_sel *v = metrics_trial_flows(records, acc1, 1, NULL, 0, 0, &n, &first, &last);
    assert_non_null(v);
    assert_int_equal(n, 3);
    assert_int_equal(first, 1000);
    assert_int_equal(last, 1300);
    const struct explain_flow_sel *d = find_sel(v, n, 0, 40000, 1000);
    assert_int_equal(d->to_us, 1300);
    assert_true(d->whole);
    const struct explain_flow_sel *u1 = find_sel(v, n, 1, 50000, 1010);
    assert_int_equal(u1->to_us, 1090);
    assert_false(u1->whole); /* trial 1 used it too */
    assert_false(find_sel(v, n, 1, 50000, 1210)->whole);
    free(v);

    v = metrics_trial_flows(records, acc1, 1, NULL, 0, 1, &n, &first, &last);
    assert_int_equal(n, 3);
    assert_true(find_sel(v, n, 0, 40001, 1050)->whole);
    assert_true(find_sel(v, n, 1, 50001, 1060)->whole); /* only trial 1's */
    assert_false(find_sel(v, n, 1, 50000, 1310)->whole);
    free(v);

    v = metrics_trial_flows(records, acc1, 1, NULL, 0, 2, &n, &first, &last);
    assert_int_equal(n, 2);
    assert_true(find_sel(v, n, 1, 50002, 2010)->whole);
    free(v);

    /* without access logs: the client connections only */
    v = metrics_trial_flows(records, NULL, 0, NULL, 0, 3, &n, &first, &last);
    assert_int_equal(n, 1);
    assert_int_equal(find_sel(v, n, 0, 40000, 5000)->to_us, 5100);
    free(v);
    assert_null(metrics_trial_flows(records, acc1, 1, NULL, 0, 9, &n, &first, &last));
    assert_int_equal(n, 0);
    json_decref(records);
    json_decref(access);

    /* a chain: proxy1's upstream port is proxy2's dport; the proxy1->proxy2 connection is
     * pooled (trial 1's request used it later), proxy2's upstream connection is trial 0's */
    records = json_array();
    json_array_append_new(records, req(0, 0, 0, 40000, 1000, 1900, "503", 0));
    json_array_append_new(records, req(1, 0, 0, 40001, 3000, 3900, "200", 0));
    json_t *a1 = json_array(), *a2 = json_array();
    json_array_append_new(a1, acc(40000, 1010, 1890, 503, "UC", 50000, 0));
    json_array_append_new(a1, acc(40001, 3010, 3890, 200, "-", 50000, 0));
    json_array_append_new(a2, acc(50000, 1020, 1880, 413, "-", 60000, 0));
    json_array_append_new(a2, acc(50000, 3020, 3880, 200, "-", 60001, 0));
    const json_t *acc2[2] = {a1, a2};
    v = metrics_trial_flows(records, acc2, 2, NULL, 0, 0, &n, &first, &last);
    assert_int_equal(n, 3);
    assert_false(find_sel(v, n, 1, 50000, 1010)->whole);
    assert_true(find_sel(v, n, 2, 60000, 1020)->whole);
    free(v);
    json_decref(records);
    json_decref(a1);
    json_decref(a2);
}

/* Teardown: RSTs after the downstream had finished every trial (teardown_us) and after the
 * last request of their trial ended are the stopping's — counted in rst and teardown_rst,
 * given to no trial and not unattributed. Before teardown_us, or within a trial's requests,
 * they stay the trial's as before. */
static json_t *teardown_cell(uint64_t teardown_us, bool access_log)
{
    static struct scenario s = {.name = "syn", .topo = SCENARIO_PROXY};
    static struct scenario_cell c;
    c = (struct scenario_cell){.s = &s, .trials = 3, .success = ok200, .nsuccess = 1, .nprogs = 3};
    json_t *records = json_array();
    json_array_append_new(records, req(0, 0, 0, 40000, 1000, 1100, "200", 0));
    json_array_append_new(records, req(1, 0, 0, 40001, 2000, 2100, "503", 0));
    /* trial 2's request ends after teardown_us (the client's clock and racelab's differ a
     * little): an RST before its end is still its own */
    json_array_append_new(records, req(2, 0, 0, 40002, 2500, 3200, "200", 0));
    json_t *access = json_array();
    json_array_append_new(access, acc(40000, 1010, 1090, 200, "-", 50000, 0));
    json_array_append_new(access, acc(40001, 2010, 2090, 503, "UC", 50000, 0));
    json_array_append_new(access, acc(40002, 2510, 3190, 200, "-", 50002, 0));
    struct analysis_hop hops[2] = {{8000, "downstream", "proxy"}, {9000, "proxy", "upstream"}};
    /* trial 0's connection, reset when the proxy is stopped */
    struct analysis_event d0[] = {RST(3500, false)};
    /* trial 1's: an RST of its failing request, then one of the stop */
    struct analysis_event d1[] = {RST(2050, false), RST(3600, false)};
    /* trial 2's: an RST after teardown_us but before its request ended */
    struct analysis_event d2[] = {RST(3100, false)};
    /* the pooled upstream connection of trials 0 and 1: the upstream's RST of trial 1, then
     * the proxy's RST when it is stopped */
    struct analysis_event u0[] = {RST(2060, false), RST(3700, true)};
    /* a connection no request names: one RST before the end of the trials, one after */
    struct analysis_event u1[] = {RST(2700, false), RST(3800, true)};
    struct analysis_flow flows[6];
    flow(&flows[0], &hops[0], 40000, 1000, 3500, d0, 1);
    flow(&flows[1], &hops[0], 40001, 2000, 3600, d1, 2);
    flow(&flows[2], &hops[0], 40002, 2500, 3200, d2, 1);
    flow(&flows[3], &hops[1], 50000, 1010, 3700, u0, 2);
    flow(&flows[4], &hops[1], 50001, 2600, 3800, u1, 2);
    flow(&flows[5], &hops[1], 50002, 2510, 3190, NULL, 0);
    struct analysis_result ana = {.flows = flows, .nflows = 6};
    struct metrics_input in = {.cell = &c,
                               .records = records,
                               .access = {access, NULL},
                               .nproxies = 1,
                               .access_log = access_log,
                               .ana = &ana,
                               .hops = hops,
                               .nhops = 2,
                               .teardown_us = teardown_us};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);
    json_decref(records);
    json_decref(access);
    return m;
}

static void test_teardown_rsts_are_no_trials(void **state)
{
    (void)state;
    json_t *m = teardown_cell(3000, true);
    /* every packet is still counted */
    assert_int_equal(geti(m, "rst", "proxy->downstream"), 4);
    assert_int_equal(geti(m, "rst", "upstream->proxy"), 2);
    assert_int_equal(geti(m, "rst", "proxy->upstream"), 2);
    /* the stopping's: 3500 and 3600 downstream, 3700 and 3800 upstream */
    assert_int_equal(geti(m, "teardown_rst", "proxy->downstream"), 2);
    assert_int_equal(geti(m, "teardown_rst", "proxy->upstream"), 2);
    assert_int_equal(geti(m, "teardown_rst", "upstream->proxy"), 0);
    assert_int_equal(geti(m, "teardown_rst", "downstream->proxy"), 0);
    /* trial 0 has no RST of its own; trial 1 its two; trial 2 the one before its end */
    assert_int_equal(geti(m, "trials_with_rst", "proxy->downstream"), 2);
    assert_int_equal(geti(m, "failing_rst", "proxy->downstream"), 1);
    assert_int_equal(geti(m, "trials_with_rst", "upstream->proxy"), 1);
    assert_int_equal(geti(m, "trials_with_rst", "proxy->upstream"), 0);
    assert_int_equal(geti(m, "failing_rst", "proxy->upstream"), 0);
    assert_int_equal(geti(m, "unattributed_rst", NULL), 1); /* 2700 */
    json_t *ft = json_object_get(m, "failing_trials");
    assert_int_equal(json_array_size(ft), 1);
    assert_int_equal(json_array_size(json_object_get(json_array_get(ft, 0), "rst")), 2);
    json_decref(m);

    /* the downstream did not finish (timeout, interrupt): nothing is teardown, as before */
    m = teardown_cell(0, true);
    assert_int_equal(geti(m, "teardown_rst", "proxy->downstream"), 0);
    assert_int_equal(geti(m, "teardown_rst", "proxy->upstream"), 0);
    assert_int_equal(geti(m, "trials_with_rst", "proxy->downstream"), 3);
    assert_int_equal(geti(m, "trials_with_rst", "proxy->upstream"), 1);
    assert_int_equal(geti(m, "unattributed_rst", NULL), 2);
    json_decref(m);

    /* --proxy-cmd: the upstream hop is not attributed, its teardown RSTs are still told */
    m = teardown_cell(3000, false);
    assert_int_equal(geti(m, "teardown_rst", "proxy->downstream"), 2);
    assert_int_equal(geti(m, "teardown_rst", "proxy->upstream"), 2);
    assert_int_equal(geti(m, "trials_with_rst", "proxy->downstream"), 2);
    assert_int_equal(geti(m, "unattributed_rst", NULL), 0);
    json_decref(m);
}

static void test_percentile(void **state)
{
    (void)state;
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = i + 1;
    assert_true(metrics_percentile(v, 100, 50) == 50);
    assert_true(metrics_percentile(v, 100, 99) == 99);
    assert_true(metrics_percentile(v, 100, 100) == 100);
    assert_true(metrics_percentile(v, 1, 99) == 1);
    assert_true(metrics_percentile(v, 0, 50) == 0);
}

/* ---- the fields metrics_build writes are the metrics expectations know ---- */

/* Not metrics: lists and a fact about the run. */
static const char *const not_metrics[] = {"attributed", "failing_trials", "sweep", "access_log",
                                          "failure_rate_ci"};
/* Metrics another part writes into the cell: run/cell.c, the wire's counters. */
static const char *const written_elsewhere[] = {"wire"};

static bool listed(const char *const *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], key) == 0)
            return true;
    return false;
}

/* A cell of topology topo with something in every field: two trials on every hop (the second
 * fails, with RSTs on every direction), access logs with flags and upstream ports, stats, the
 * upstream's events, a gap sweep. Freed with json_decref(); in->ana's arrays are static. */
static json_t *rich_cell(enum scenario_topo topo)
{
    static struct scenario s;
    static struct scenario_cell c;
    static struct analysis_hop hops[3];
    static struct analysis_flow flows[6];
    static struct analysis_event ev[6][2];
    static const char *names[4];
    size_t nn = scenario_topo_nodes(topo, names), nh = nn - 1, np = nn - 2;
    s = (struct scenario){.name = "rich", .topo = topo};
    c = (struct scenario_cell){
        .s = &s, .trials = 2, .success = ok200, .nsuccess = 1, .nprogs = nn, .sweep = true};
    json_t *records = json_array(), *access[2] = {NULL, NULL}, *stats[2] = {NULL, NULL};
    for (long t = 0; t < 2; t++) {
        long t0 = 1000 + 10000 * t;
        json_t *a = req(t, 0, 0, 40000 + (int)t, t0, t0 + 100, "200", 0);
        json_t *b = req(t, 0, 1, 40000 + (int)t, t0 + 200, t0 + 300, t ? "503" : "200", 5);
        json_object_set_new(b, "reuse_gap_ms", json_real(5.0 * (double)(t + 1)));
        json_array_append_new(records, a);
        json_array_append_new(records, b);
    }
    for (size_t p = 0; p < np; p++) {
        access[p] = json_array();
        stats[p] = jl("{\"upstream_rq_retry\":1}");
        for (long t = 0; t < 2; t++) {
            long t0 = 1000 + 10000 * t + 10 * (long)(p + 1);
            int dport = 40000 + 1000 * (int)p + (int)t, up = 41000 + 1000 * (int)p + (int)t;
            json_array_append_new(access[p], acc(dport, t0, t0 + 80, 200, "-", up, 0));
            json_array_append_new(
                access[p], acc(dport, t0 + 200, t0 + 280, t ? 503 : 200, t ? "UC" : "-", up, 0));
        }
    }
    json_t *up = jl("[{\"event\":\"request\"},{\"event\":\"close\",\"how\":\"rst\","
                    "\"why\":\"unread\",\"unread\":3}]");
    size_t nf = 0;
    for (size_t h = 0; h < nh; h++) {
        hops[h] = (struct analysis_hop){(uint16_t)(8000 + h), names[h], names[h + 1]};
        for (long t = 0; t < 2; t++, nf++) {
            long t0 = 1000 + 10000 * t + 10 * (long)h;
            ev[nf][0] = (struct analysis_event)RST((uint64_t)t0 + 250, false);
            ev[nf][1] = (struct analysis_event)RST((uint64_t)t0 + 260, true);
            flow(&flows[nf], &hops[h], (uint16_t)(40000 + 1000 * h + (size_t)t), (uint64_t)t0,
                 (uint64_t)t0 + 300, ev[nf], t ? 2 : 0);
        }
    }
    static struct analysis_result ana;
    ana = (struct analysis_result){.flows = flows, .nflows = nf};
    struct metrics_input in = {.cell = &c,
                               .records = records,
                               .access = {access[0], access[1]},
                               .stats = {stats[0], stats[1]},
                               .nproxies = np,
                               .access_log = true,
                               .upstream_log = up,
                               .ana = &ana,
                               .hops = hops,
                               .nhops = nh};
    char err[256];
    json_t *m = metrics_build(&in, err, sizeof(err));
    assert_non_null(m);
    json_object_set_new(m, "capture", json_string("/x.pcap")); /* as run/cell.c adds it */
    json_decref(records);
    json_decref(up);
    for (size_t p = 0; p < 2; p++) {
        json_decref(access[p]);
        json_decref(stats[p]);
    }
    return m;
}

/* Every number under path is a metric of topo that reads back as itself. */
static size_t check_leaves(enum scenario_topo topo, const json_t *cell, const json_t *v,
                           const char *path)
{
    if (json_is_object(v)) {
        size_t n = 0;
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            char sub[256];
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            n += check_leaves(topo, cell, x, sub);
        }
        return n;
    }
    bool countable, rate;
    char why[600];
    if (!json_is_number(v))
        fail_msg("%s is not a number in the results", path);
    if (expect_metric_check(topo, path, &countable, &rate, why, sizeof(why)) != 0)
        fail_msg("results.json has %s but expectations refuse it: %s", path, why);
    double got = -1;
    if (expect_metric_value(cell, path, &got, why, sizeof(why)) != 0 || got != json_number_value(v))
        fail_msg("%s reads back as %g (%s)", path, got, why);
    return 1;
}

static void test_every_field_is_a_metric(void **state)
{
    (void)state;
    const enum scenario_topo topos[] = {SCENARIO_DIRECT, SCENARIO_PROXY, SCENARIO_CHAIN};
    for (size_t i = 0; i < sizeof(topos) / sizeof(topos[0]); i++) {
        json_t *cell = rich_cell(topos[i]);
        size_t leaves = 0;
        const char *k;
        json_t *v;
        json_object_foreach(cell, k, v)
        {
            bool countable, rate;
            char why[600];
            if (strcmp(k, "capture") == 0)
                continue;
            if (listed(not_metrics, sizeof(not_metrics) / sizeof(not_metrics[0]), k)) {
                assert_int_equal(
                    expect_metric_check(topos[i], k, &countable, &rate, why, sizeof(why)), -1);
                continue;
            }
            leaves += check_leaves(topos[i], cell, v, k);
        }
        assert_true(leaves > 40);
        for (size_t n = 0; n < sizeof(not_metrics) / sizeof(not_metrics[0]); n++)
            assert_non_null(json_object_get(cell, not_metrics[n]));
        json_decref(cell);
    }
}

static const json_t *at_path(const json_t *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *p = strtok_r(buf, ".", &save); p && v; p = strtok_r(NULL, ".", &save))
        v = json_object_get(v, p);
    return v;
}

/* And the other way: every metric family expectations know is in the cell metrics_build
 * writes — for every hop direction, every proxy — but the wire's counters, which run/cell.c
 * adds. */
static void test_every_metric_is_a_field(void **state)
{
    (void)state;
    const enum scenario_topo topos[] = {SCENARIO_DIRECT, SCENARIO_PROXY, SCENARIO_CHAIN};
    for (size_t i = 0; i < sizeof(topos) / sizeof(topos[0]); i++) {
        json_t *cell = rich_cell(topos[i]);
        const char *names[4];
        size_t nn = scenario_topo_nodes(topos[i], names);
        const char *tail, *fam;
        for (size_t f = 0; (fam = expect_metric_family(f, &tail)) != NULL; f++) {
            bool countable, rate;
            char why[600], metric[128];
            if (listed(written_elsewhere, sizeof(written_elsewhere) / sizeof(written_elsewhere[0]),
                       fam))
                continue;
            if (strcmp(tail, "") == 0) {
                if (!json_is_number(at_path(cell, fam)))
                    fail_msg("%s is not in results.json", fam);
            } else if (strcmp(tail, ".X") == 0) {
                if (!json_is_object(at_path(cell, fam)))
                    fail_msg("%s.X: no object %s in results.json", fam, fam);
            } else if (strcmp(tail, ".A->B") == 0) {
                for (size_t h = 0; h + 1 < nn; h++) {
                    for (int d = 0; d < 2; d++) {
                        snprintf(metric, sizeof(metric), "%s.%s->%s", fam, names[h + d],
                                 names[h + 1 - d]);
                        assert_int_equal(expect_metric_check(topos[i], metric, &countable, &rate,
                                                             why, sizeof(why)),
                                         0);
                        if (!json_is_integer(json_object_get(json_object_get(cell, fam),
                                                             strchr(metric, '.') + 1)))
                            fail_msg("%s is not in results.json", metric);
                    }
                }
            } else if (strcmp(tail, ".NAME.X") == 0) {
                for (size_t p = 1; p + 1 < nn; p++) {
                    snprintf(metric, sizeof(metric), "%s.%s", fam, names[p]);
                    if (!json_is_object(at_path(cell, metric)))
                        fail_msg("no object %s in results.json", metric);
                }
            } else {
                fail_msg("%s%s: a shape of metric this test does not know", fam, tail);
            }
        }
        json_decref(cell);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_attribution),
        cmocka_unit_test(test_foreign_proxy_attributes_first_hop_only),
        cmocka_unit_test(test_foreign_proxy_attributes_upstream_by_tag),
        cmocka_unit_test(test_chain_attribution),
        cmocka_unit_test(test_teardown_rsts_are_no_trials),
        cmocka_unit_test(test_trial_outcome_first_failure),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_sweep_first_request_fails),
        cmocka_unit_test(test_slowest_trial),
        cmocka_unit_test(test_trial_flows),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_every_field_is_a_metric),
        cmocka_unit_test(test_every_metric_is_a_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
