/* capture: the capture holds exactly what was sent (each loopback packet once), and a capture
 * whose process was interrupted — SIGINT, SIGKILL, even in the middle of a transfer — is a
 * pcap that tshark opens, holding every packet flushed before. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "analysis.h"
#include "capture.h"
#include "test_netlab_util.h"
#include "tsup.h"

#define TIMEOUT_MS 30000
#define NDGRAMS    50

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* n UDP datagrams of sizes 1..n over lo, each received before the next is sent. */
static int send_datagrams(int n, char *msg, size_t msglen)
{
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    TCHECK(rx >= 0 && tx >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    TCHECK(bind(rx, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    TCHECK(getsockname(rx, (struct sockaddr *)&a, &len) == 0, "getsockname");
    static char buf[NDGRAMS + 1];
    for (int i = 1; i <= n; i++) {
        TCHECK(sendto(tx, buf, (size_t)i, 0, (struct sockaddr *)&a, sizeof a) == i, "sendto");
        TCHECK(recv(rx, buf, sizeof buf, 0) == i, "datagram %d lost", i);
    }
    close(rx);
    close(tx);
    return 0;
}

/* Packets in a pcap file, -1 when it does not read cleanly to the end. */
static long count_packets(const char *path)
{
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, ebuf);
    if (!p)
        return -1;
    struct pcap_pkthdr *h;
    const u_char *d;
    long n = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1)
        n++;
    pcap_close(p);
    return rc == PCAP_ERROR_BREAK ? n : -1;
}

/* tshark's exit code on the file, and how many packets it listed. */
static int tshark_count(const char *dir, const char *path, long *count)
{
    char *out = tsup_fmt("%s/tshark.out", dir), *err = tsup_fmt("%s/tshark.err", dir);
    char *argv[] = {"/usr/bin/tshark", "-n", "-r",           (char *)path, "-T",
                    "fields",          "-e", "frame.number", NULL};
    int rc = tsup_run(argv, out, err, 60000);
    char *text = tsup_slurp(out);
    *count = 0;
    for (char *p = text; p && *p; p++)
        if (*p == '\n')
            (*count)++;
    if (rc != 0) {
        char *e = tsup_slurp(err);
        fprintf(stderr, "tshark -r %s: exit %d: %s\n", path, rc, e ? e : "");
        free(e);
    }
    free(text);
    free(out);
    free(err);
    return rc;
}

/* The capture process writes its pid next to the capture, so that the test can wait for it
 * to finish the file after its parent was killed. */
static int note_pid(const struct cap *c, const char *path)
{
    char pf[512];
    snprintf(pf, sizeof pf, "%s.pid", path);
    FILE *f = fopen(pf, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", capture_pid(c));
    return fclose(f);
}

/* Waits (10 s at most) until the capture process of path has exited (or is a zombie). */
static void wait_capture_gone(const char *path)
{
    char *pf = tsup_fmt("%s.pid", path);
    char *text = tsup_slurp(pf);
    int pid = text ? atoi(text) : 0;
    free(text);
    free(pf);
    for (int i = 0; pid > 0 && i < 1000; i++) {
        char *stat = tsup_fmt("/proc/%d/stat", pid);
        char *st = tsup_slurp(stat);
        free(stat);
        const char *rp = st ? strrchr(st, ')') : NULL;
        bool gone = !rp || rp[1] == '\0' || rp[2] == 'Z' || rp[2] == 'X';
        free(st);
        if (gone)
            return;
        usleep(10000);
    }
}

/* ---- exact counts ---- */

struct count_out {
    struct capture_stats cs;
    uint32_t c2s_syn, s2c_syn;
};

static int body_counts(void *arg, void *outp, char *msg, size_t msglen)
{
    const char *path = arg;
    struct count_out *out = outp;
    char err[512] = "";
    struct cap *c = capture_start("lo", "udp or tcp", path, err, sizeof err);
    TCHECK(c, "capture_start: %s", err);
    if (send_datagrams(NDGRAMS, msg, msglen) < 0)
        return -1;
    int l = tinfra_listen(0);
    int cl = tinfra_connect(tinfra_port(l));
    int s = tinfra_accept(l);
    TCHECK(l >= 0 && cl >= 0 && s >= 0, "tcp: %s", strerror(errno));
    TCHECK(capture_stop(c, &out->cs) == 0, "capture_stop");
    struct analysis_hop hop = {tinfra_port(l), "c", "s"};
    struct analysis_result r;
    TCHECK(analysis_read(path, &hop, 1, &r, err, sizeof err) == 0, "analysis_read: %s", err);
    out->c2s_syn = (uint32_t)r.dirs[0].syn;
    out->s2c_syn = (uint32_t)r.dirs[1].syn;
    analysis_free(&r);
    return 0;
}

static void test_counts_match_what_was_sent(void **state)
{
    (void)state;
    char *dir = tsup_tmpdir("cap");
    char *path = tsup_fmt("%s/counts.pcap", dir);
    struct count_out o;
    char msg[1024];
    int rc = tinfra_in_netns(body_counts, path, &o, sizeof o, TIMEOUT_MS, msg, sizeof msg);
    long n = count_packets(path);
    free(path);
    tsup_rmtree(dir);
    free(dir);
    if (rc)
        fail_msg("%s", msg);
    /* 50 datagrams + SYN, SYN-ACK, ACK: each loopback packet once, not twice */
    assert_int_equal(o.cs.packets, NDGRAMS + 3);
    assert_int_equal(o.cs.dropped, 0);
    assert_int_equal(n, NDGRAMS + 3);
    assert_int_equal(o.c2s_syn, 1);
    assert_int_equal(o.s2c_syn, 1);
}

/* ---- interrupted ---- */

static int body_then_wait(void *arg, void *outp, char *msg, size_t msglen)
{
    (void)outp;
    const char *path = arg;
    char err[512] = "";
    setpgid(0, 0); /* as racelab's cells do: the group can be killed at once */
    struct cap *c = capture_start("lo", "udp", path, err, sizeof err);
    TCHECK(c, "capture_start: %s", err);
    TCHECK(note_pid(c, path) == 0, "pid file");
    if (send_datagrams(NDGRAMS, msg, msglen) < 0)
        return -1;
    TCHECK(tinfra_cap_wait(c, NDGRAMS, 5000) == 0, "only %llu packets flushed",
           (unsigned long long)capture_written(c));
    TCHECK(tinfra_tell_parent('w') == 0, "tell");
    /* until the parent interrupts us; capture_stop() is never called */
    tinfra_wait_parent('x', TIMEOUT_MS);
    return 0;
}

/* sig to the capturing process, or with group to its whole process group */
static void interrupted(int sig, bool group)
{
    char *dir = tsup_tmpdir("cap");
    char *path = tsup_fmt("%s/interrupted.pcap", dir);
    struct tinfra_child c;
    char msg[1024];
    assert_int_equal(tinfra_spawn(&c, body_then_wait, path, 0), 0);
    if (tinfra_wait(&c, 'w', TIMEOUT_MS) != 0) {
        tinfra_join(&c, NULL, TIMEOUT_MS, msg, sizeof msg);
        fail_msg("capturing child: %s", msg);
    }
    kill(group ? -c.pid : c.pid, sig);
    /* the child is gone: join reports that, and reaps it */
    assert_int_not_equal(tinfra_join(&c, NULL, TIMEOUT_MS, msg, sizeof msg), 0);
    /* the capture process finishes the file on its own once its parent is gone */
    wait_capture_gone(path);
    long shown = -1, n = count_packets(path);
    int rc = tshark_count(dir, path, &shown);
    free(path);
    tsup_rmtree(dir);
    free(dir);
    assert_int_equal(rc, 0);
    assert_int_equal(shown, NDGRAMS);
    assert_int_equal(n, NDGRAMS);
}

static void test_interrupted_by_sigint(void **state)
{
    (void)state;
    interrupted(SIGINT, false);
}

static void test_interrupted_by_sigkill(void **state)
{
    (void)state;
    interrupted(SIGKILL, false);
}

/* what racelab does to a cell that will not stop: SIGKILL to its process group */
static void test_interrupted_group_killed(void **state)
{
    (void)state;
    interrupted(SIGKILL, true);
}

/* SIGKILL in the middle of a bulk transfer (64 KB segments on lo): the file is still whole. */
static int body_bulk(void *arg, void *outp, char *msg, size_t msglen)
{
    (void)outp;
    const char *path = arg;
    char err[512] = "";
    struct cap *c = capture_start("lo", "tcp", path, err, sizeof err);
    TCHECK(c, "capture_start: %s", err);
    TCHECK(note_pid(c, path) == 0, "pid file");
    int l = tinfra_listen(0);
    int cl = tinfra_connect(tinfra_port(l));
    int s = tinfra_accept(l);
    TCHECK(l >= 0 && cl >= 0 && s >= 0, "tcp: %s", strerror(errno));
    static char buf[1 << 16];
    bool told = false;
    for (int i = 0; i < 100000; i++) {
        TCHECK(send(cl, buf, sizeof buf, 0) > 0, "send: %s", strerror(errno));
        TCHECK(recv(s, buf, sizeof buf, 0) > 0, "recv: %s", strerror(errno));
        if (!told && capture_written(c) >= 100) {
            TCHECK(tinfra_tell_parent('w') == 0, "tell");
            told = true;
        }
    }
    return 0;
}

static void test_killed_mid_transfer(void **state)
{
    (void)state;
    char *dir = tsup_tmpdir("cap");
    char *path = tsup_fmt("%s/bulk.pcap", dir);
    struct tinfra_child c;
    char msg[1024];
    assert_int_equal(tinfra_spawn(&c, body_bulk, path, 0), 0);
    if (tinfra_wait(&c, 'w', TIMEOUT_MS) != 0) {
        tinfra_join(&c, NULL, TIMEOUT_MS, msg, sizeof msg);
        fail_msg("capturing child: %s", msg);
    }
    kill(c.pid, SIGKILL);
    tinfra_join(&c, NULL, TIMEOUT_MS, msg, sizeof msg);
    wait_capture_gone(path);
    long n = count_packets(path), shown = -1;
    int rc = tshark_count(dir, path, &shown);
    free(path);
    tsup_rmtree(dir);
    free(dir);
    assert_int_equal(rc, 0);
    assert_true(n >= 100);
    assert_int_equal(shown, n);
}

/* ---- errors name what is wrong ---- */

static int body_errors(void *arg, void *outp, char *msg, size_t msglen)
{
    (void)outp;
    const char *dir = arg;
    char err[512] = "", path[512];
    snprintf(path, sizeof path, "%s/e.pcap", dir);
    TCHECK(capture_start("nosuch0", "tcp", path, err, sizeof err) == NULL, "bogus interface");
    TCHECK(strstr(err, "nosuch0") != NULL, "message does not name the interface: %s", err);
    TCHECK(capture_start("lo", "tcp and and", path, err, sizeof err) == NULL, "bad filter");
    TCHECK(strstr(err, "tcp and and") != NULL, "message does not name the filter: %s", err);
    TCHECK(capture_start("lo", "tcp", "/nonexistent/x.pcap", err, sizeof err) == NULL, "bad path");
    TCHECK(strstr(err, "/nonexistent/x.pcap") != NULL, "message does not name the file: %s", err);
    TCHECK(capture_stop(NULL, NULL) == 0, "capture_stop(NULL)");
    TCHECK(capture_written(NULL) == 0 && capture_pid(NULL) == -1, "NULL accessors");
    return 0;
}

static void test_errors_name_the_culprit(void **state)
{
    (void)state;
    char *dir = tsup_tmpdir("cap");
    char msg[1024];
    int rc = tinfra_in_netns(body_errors, dir, NULL, 0, TIMEOUT_MS, msg, sizeof msg);
    tsup_rmtree(dir);
    free(dir);
    if (rc)
        fail_msg("%s", msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_match_what_was_sent),
        cmocka_unit_test(test_interrupted_by_sigint),
        cmocka_unit_test(test_interrupted_by_sigkill),
        cmocka_unit_test(test_interrupted_group_killed),
        cmocka_unit_test(test_killed_mid_transfer),
        cmocka_unit_test(test_errors_name_the_culprit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
