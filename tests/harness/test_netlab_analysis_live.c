/* analysis on a real capture: five connections, each ending in one of the ways the races end, with
 * the kernel's own packets — the counts must be exactly what Linux sends (docs/behaviour.md,
 * Linux TCP). */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "analysis.h"
#include "capture.h"
#include "clk.h"
#include "test_netlab_util.h"
#include "tsup.h"

#define TIMEOUT_MS 30000

enum { UNREAD, LINGER0, FIN, SHUTWR_DATA, CLOSE_DATA, NCASES };

struct live_out {
    uint16_t ports[NCASES];
    int client_errno[NCASES];
};

/* Waits until the socket's receive queue holds bytes (so a close() finds them unread). */
static int wait_unread(int fd)
{
    for (int i = 0; i < 5000; i++) {
        int n = 0;
        if (ioctl(fd, FIONREAD, &n) == 0 && n > 0)
            return 0;
        clk_sleep_us(1000);
    }
    return -1;
}

/* Each case on its own listener (its own hop in the analysis). */
static int run_case(int which, struct live_out *out, char *msg, size_t msglen)
{
    int l = tinfra_listen(0);
    TCHECK(l >= 0, "listen: %s", strerror(errno));
    out->ports[which] = tinfra_port(l);
    int c = tinfra_connect(out->ports[which]);
    int s = tinfra_accept(l);
    TCHECK(c >= 0 && s >= 0, "connect/accept: %s", strerror(errno));
    char buf[64];
    ssize_t n;
    switch (which) {
    case UNREAD: /* the early 413: answer, close with the request unread → one RST */
        TCHECK(send(c, "request", 7, 0) == 7, "send");
        TCHECK(wait_unread(s) == 0, "the request never reached the server");
        TCHECK(send(s, "413", 3, 0) == 3, "send 413");
        TCHECK(tinfra_recv_n(c, buf, 3) == 3, "the client did not get the 413");
        close(s);
        n = recv(c, buf, sizeof buf, 0);
        out->client_errno[which] = n < 0 ? errno : 0;
        break;
    case LINGER0: {
        struct linger lg = {1, 0};
        TCHECK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0, "SO_LINGER");
        close(s);
        n = recv(c, buf, sizeof buf, 0);
        out->client_errno[which] = n < 0 ? errno : 0;
        break;
    }
    case FIN: /* an orderly close from both sides */
        TCHECK(send(s, "bye", 3, 0) == 3 && tinfra_recv_n(c, buf, 3) == 3, "data");
        close(s);
        TCHECK(recv(c, buf, sizeof buf, 0) == 0, "no EOF");
        break;
    case SHUTWR_DATA: /* shutdown(SHUT_WR) keeps reading: data after the FIN, no RST */
        TCHECK(shutdown(s, SHUT_WR) == 0, "shutdown");
        TCHECK(recv(c, buf, sizeof buf, 0) == 0, "no EOF");
        TCHECK(send(c, "late", 4, 0) == 4, "send late");
        TCHECK(tinfra_recv_n(s, buf, 4) == 4, "the server did not read the late data");
        close(s);
        break;
    case CLOSE_DATA: { /* close(): data after the FIN gets RST */
        close(s);
        TCHECK(recv(c, buf, sizeof buf, 0) == 0, "no EOF");
        TCHECK(send(c, "late", 4, 0) == 4, "send late");
        /* recv() keeps returning the EOF it already saw; the RST shows as POLLHUP and, in
         * CLOSE_WAIT, as EPIPE (tcp_reset) */
        struct pollfd pf = {.fd = c, .events = 0};
        TCHECK(poll(&pf, 1, 5000) == 1, "no RST after the late data");
        socklen_t sl = sizeof out->client_errno[which];
        TCHECK(getsockopt(c, SOL_SOCKET, SO_ERROR, &out->client_errno[which], &sl) == 0,
               "SO_ERROR");
        break;
    }
    }
    close(c);
    close(l);
    return 0;
}

static int body_live(void *arg, void *outp, char *msg, size_t msglen)
{
    const char *path = arg;
    char err[512] = "";
    struct cap *cp = capture_start("lo", "tcp", path, err, sizeof err);
    TCHECK(cp, "capture_start: %s", err);
    for (int i = 0; i < NCASES; i++)
        if (run_case(i, outp, msg, msglen) < 0)
            return -1;
    TCHECK(capture_stop(cp, NULL) == 0, "capture_stop");
    return 0;
}

static void test_counts_of_real_closes(void **state)
{
    (void)state;
    char *dir = tsup_tmpdir("ana-live");
    char *path = tsup_fmt("%s/live.pcap", dir);
    struct live_out o;
    char msg[1024];
    if (tinfra_in_netns(body_live, path, &o, sizeof o, TIMEOUT_MS, msg, sizeof msg))
        fail_msg("%s", msg);
    static const char *names[NCASES] = {"unread", "linger0", "fin", "shutwr", "close"};
    struct analysis_hop hops[NCASES];
    for (int i = 0; i < NCASES; i++)
        hops[i] = (struct analysis_hop){o.ports[i], "client", names[i]};
    struct analysis_result r;
    char err[512] = "";
    if (analysis_read(path, hops, NCASES, &r, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(r.nflows, NCASES);
    assert_int_equal(r.unmatched, 0);
    const struct analysis_flow *f[NCASES];
    for (int i = 0; i < NCASES; i++) {
        f[i] = &r.flows[i];
        assert_int_equal(f[i]->hop->server_port, o.ports[i]);
        assert_int_equal(f[i]->c2s.syn, 1);
        assert_int_equal(f[i]->s2c.syn, 1);
    }
    /* close() with unread data: exactly one RST, abortive, no FIN */
    assert_int_equal(o.client_errno[UNREAD], ECONNRESET);
    assert_int_equal(f[UNREAD]->s2c.rst, 1);
    assert_int_equal(f[UNREAD]->s2c.rst_abort, 1);
    assert_int_equal(f[UNREAD]->s2c.fin, 0);
    assert_int_equal(f[UNREAD]->c2s.rst, 0);
    /* SO_LINGER 0: the same on the wire */
    assert_int_equal(o.client_errno[LINGER0], ECONNRESET);
    assert_int_equal(f[LINGER0]->s2c.rst, 1);
    assert_int_equal(f[LINGER0]->s2c.rst_abort, 1);
    assert_int_equal(f[LINGER0]->s2c.fin, 0);
    /* orderly: one FIN each way, no RST */
    assert_int_equal(f[FIN]->s2c.fin, 1);
    assert_int_equal(f[FIN]->c2s.fin, 1);
    assert_int_equal(f[FIN]->s2c.rst + f[FIN]->c2s.rst, 0);
    /* shutdown(SHUT_WR): the late data is counted, and accepted */
    assert_int_equal(f[SHUTWR_DATA]->c2s.data_after_fin, 1);
    assert_int_equal(f[SHUTWR_DATA]->s2c.rst, 0);
    /* close(): the late data is counted, and answered by one RST */
    assert_int_equal(o.client_errno[CLOSE_DATA], EPIPE);
    assert_int_equal(f[CLOSE_DATA]->c2s.data_after_fin, 1);
    assert_int_equal(f[CLOSE_DATA]->s2c.rst, 1);
    assert_int_equal(f[CLOSE_DATA]->s2c.rst_after_data, 1);
    assert_int_equal(f[CLOSE_DATA]->s2c.rst_abort, 0);
    /* the totals per direction agree with the flows */
    assert_int_equal(r.ndirs, 2 * NCASES);
    assert_int_equal(r.dirs[2 * CLOSE_DATA + 1].rst_after_data, 1);
    assert_string_equal(r.dirs[2 * UNREAD + 1].name, "unread->client");
    analysis_free(&r);
    free(path);
    tsup_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_of_real_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
