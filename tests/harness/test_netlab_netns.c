/* netns: a cell's namespace is isolated from the host and from other cells, and has a working
 * loopback of its own; its socket table tells which ports listen. */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"
#include "netns.h"
#include "test_netlab_util.h"
#include "wire.h"

#define TIMEOUT_MS 20000

/* A port the host uses is free inside: bind succeeds, and nothing answers there. */
static int body_port_free(void *arg, void *out, char *msg, size_t msglen)
{
    (void)out;
    uint16_t port = *(uint16_t *)arg;
    int c = tinfra_connect(port);
    TCHECK(c < 0 && errno == ECONNREFUSED, "the host's listener on %u is reachable inside (%s)",
           port, c < 0 ? strerror(errno) : "connected");
    int l = tinfra_listen(port);
    TCHECK(l >= 0, "bind %u inside: %s", port, strerror(errno));
    c = tinfra_connect(port);
    TCHECK(c >= 0, "connect to own listener %u: %s", port, strerror(errno));
    close(c);
    close(l);
    return 0;
}

static void test_port_bound_outside_is_free_inside(void **state)
{
    (void)state;
    int host = tinfra_listen(0);
    assert_true(host >= 0);
    uint16_t port = tinfra_port(host);
    char msg[1024];
    int rc = tinfra_in_netns(body_port_free, &port, NULL, 0, TIMEOUT_MS, msg, sizeof msg);
    close(host);
    if (rc != 0)
        fail_msg("%s", msg);
}

/* lo is up, it is the only interface, and nothing beyond it is routable. */
static int body_only_lo(void *arg, void *out, char *msg, size_t msglen)
{
    (void)arg;
    (void)out;
    struct if_nameindex *ifs = if_nameindex();
    TCHECK(ifs != NULL, "if_nameindex: %s", strerror(errno));
    size_t n = 0;
    for (struct if_nameindex *i = ifs; i->if_index; i++)
        n++;
    TCHECK(n == 1 && strcmp(ifs[0].if_name, "lo") == 0, "%zu interfaces, first '%s'", n,
           ifs[0].if_name ? ifs[0].if_name : "");
    if_freenameindex(ifs);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    TCHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0, "SIOCGIFFLAGS: %s", strerror(errno));
    TCHECK(ifr.ifr_flags & IFF_UP, "lo is down");
    struct sockaddr_in far = {
        .sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = htonl(0x0a000001)};
    TCHECK(connect(fd, (struct sockaddr *)&far, sizeof far) < 0 && errno == ENETUNREACH,
           "10.0.0.1 is routable from inside (%s)", strerror(errno));
    close(fd);
    return 0;
}

static void test_only_loopback_and_up(void **state)
{
    (void)state;
    char msg[1024];
    if (tinfra_in_netns(body_only_lo, NULL, NULL, 0, TIMEOUT_MS, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
}

/* Two namespaces at once, the same port bound in both: each client reaches its own server. */
struct two_arg {
    uint16_t port;
    char id;
};

static int body_same_port(void *arg, void *out, char *msg, size_t msglen)
{
    (void)out;
    const struct two_arg *a = arg;
    int l = tinfra_listen(a->port);
    TCHECK(l >= 0, "bind %u: %s", a->port, strerror(errno));
    TCHECK(tinfra_tell_parent('b') == 0, "tell parent");
    TCHECK(tinfra_wait_parent('g', 10000) == 0, "no go from the parent");
    int c = tinfra_connect(a->port);
    TCHECK(c >= 0, "connect: %s", strerror(errno));
    int s = tinfra_accept(l);
    TCHECK(s >= 0, "accept: %s", strerror(errno));
    TCHECK(send(s, &a->id, 1, 0) == 1, "send");
    char got = 0;
    TCHECK(recv(c, &got, 1, 0) == 1 && got == a->id, "client got '%c', its server is '%c'", got,
           a->id);
    return 0;
}

static void test_two_namespaces_same_port(void **state)
{
    (void)state;
    int host = tinfra_listen(0);
    assert_true(host >= 0);
    struct two_arg a = {tinfra_port(host), 'A'}, b = {tinfra_port(host), 'B'};
    struct tinfra_child ca, cb;
    assert_int_equal(tinfra_spawn(&ca, body_same_port, &a, 0), 0);
    assert_int_equal(tinfra_spawn(&cb, body_same_port, &b, 0), 0);
    /* both hold the port before either connects */
    assert_int_equal(tinfra_wait(&ca, 'b', TIMEOUT_MS), 0);
    assert_int_equal(tinfra_wait(&cb, 'b', TIMEOUT_MS), 0);
    tinfra_tell(&ca, 'g');
    tinfra_tell(&cb, 'g');
    char ma[1024], mb[1024];
    int ra = tinfra_join(&ca, NULL, TIMEOUT_MS, ma, sizeof ma);
    int rb = tinfra_join(&cb, NULL, TIMEOUT_MS, mb, sizeof mb);
    close(host);
    if (ra != 0)
        fail_msg("A: %s", ma);
    if (rb != 0)
        fail_msg("B: %s", mb);
}

static void test_probe(void **state)
{
    (void)state;
    char err[512] = "";
    if (netns_probe(err, sizeof err) != 0)
        fail_msg("netns_probe: %s", err);
}

/* The unprivileged path: a user namespace owning the network namespace still allows the wire
 * rules and the capture. Run as nobody inside a forked child of the root test process. */
static int body_as_nobody(void *arg, void *out, char *msg, size_t msglen)
{
    (void)arg;
    (void)out;
    char err[512] = "";
    TCHECK(netns_probe(err, sizeof err) == 0, "netns_probe as uid %u: %s", (unsigned)getuid(), err);
    return 0;
}

static void test_probe_unprivileged(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char msg[1024] = "";
        /* drop to nobody: from here on netns_enter takes the user-namespace path */
        if (setgid(65534) != 0 || setuid(65534) != 0) {
            fprintf(stderr, "setuid nobody: %s\n", strerror(errno));
            _exit(3);
        }
        /* a credential change clears "dumpable", which would make /proc/self/uid_map root's
         * file; a user who logged in as nobody would not have that problem */
        prctl(PR_SET_DUMPABLE, 1);
        int rc = body_as_nobody(NULL, NULL, msg, sizeof msg);
        if (rc != 0)
            fprintf(stderr, "%s\n", msg);
        _exit(rc == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Readiness without a connection: netns_listening reads the namespace's socket table. Only a
 * LISTEN socket on the port counts (IPv4 or IPv6), not a bound one, not a connection's end,
 * not the host's listener on the same port; nothing is sent, so the listener accepts nothing. */
static int body_listening(void *arg, void *out, char *msg, size_t msglen)
{
    uint16_t host_port = *(uint16_t *)arg;
    (void)out;
    char err[256] = "";
    TCHECK(netns_listening(host_port, err, sizeof err) == 0,
           "the host's listener on %u is seen inside (%s)", host_port, err);
    int l = tinfra_listen(0);
    TCHECK(l >= 0, "listen: %s", strerror(errno));
    uint16_t port = tinfra_port(l);
    TCHECK(netns_listening(port, err, sizeof err) == 1, "listener on %u not seen (%s)", port, err);
    int c = tinfra_connect(port);
    TCHECK(c >= 0, "connect: %s", strerror(errno));
    int a = tinfra_accept(l);
    TCHECK(a >= 0, "accept: %s", strerror(errno));
    uint16_t cport = tinfra_port(c);
    TCHECK(netns_listening(cport, err, sizeof err) == 0,
           "a connection's port %u taken as listening", cport);
    close(a);
    close(c);
    close(l);
    TCHECK(netns_listening(port, err, sizeof err) == 0, "closed listener on %u still seen", port);
    /* bound only */
    int b = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof in4;
    TCHECK(bind(b, (struct sockaddr *)&in4, sizeof in4) == 0 &&
               getsockname(b, (struct sockaddr *)&in4, &len) == 0,
           "bind: %s", strerror(errno));
    TCHECK(netns_listening(ntohs(in4.sin_port), err, sizeof err) == 0,
           "a bound socket that does not listen is taken as listening");
    close(b);
    /* IPv6, when the namespace has it */
    int l6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    len = sizeof in6;
    if (l6 >= 0 && bind(l6, (struct sockaddr *)&in6, sizeof in6) == 0 && listen(l6, 1) == 0 &&
        getsockname(l6, (struct sockaddr *)&in6, &len) == 0)
        TCHECK(netns_listening(ntohs(in6.sin6_port), err, sizeof err) == 1,
               "IPv6 listener on %u not seen (%s)", ntohs(in6.sin6_port), err);
    if (l6 >= 0)
        close(l6);
    return 0;
}

static void test_listening_from_socket_table(void **state)
{
    (void)state;
    int host = tinfra_listen(0);
    assert_true(host >= 0);
    uint16_t port = tinfra_port(host);
    char msg[1024];
    int rc = tinfra_in_netns(body_listening, &port, NULL, 0, TIMEOUT_MS, msg, sizeof msg);
    close(host);
    if (rc != 0)
        fail_msg("%s", msg);
}

/* The table's format: header, IPv4 and IPv6 lines, state 0A = LISTEN; a line longer than any
 * buffer is read to its end. */
static void test_listening_table_format(void **state)
{
    (void)state;
    char long_line[2048];
    memset(long_line, 'x', sizeof long_line - 2);
    long_line[sizeof long_line - 2] = '\n';
    long_line[sizeof long_line - 1] = '\0';
    char text[4096];
    snprintf(text, sizeof text,
             "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
             "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0\n"
             "   1: 0100007F:2328 0100007F:A000 01 00000000:00000000 00:00000000 00000000 0\n"
             "%s"
             "   2: 00000000000000000000000001000000:1F41 00000000000000000000000000000000:0000 "
             "0A 00000000:00000000 00:00000000 00000000 0\n",
             long_line);
    const struct {
        uint16_t port;
        bool listens;
    } want[] = {{8000, true}, {9000, false}, {40960, false}, {8001, true}, {1234, false}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        FILE *f = fmemopen(text, strlen(text), "r");
        assert_non_null(f);
        if (netns_table_listens(f, want[i].port) != want[i].listens)
            fail_msg("port %u: expected %s", want[i].port, want[i].listens ? "listening" : "not");
        fclose(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_bound_outside_is_free_inside),
        cmocka_unit_test(test_only_loopback_and_up),
        cmocka_unit_test(test_two_namespaces_same_port),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_probe_unprivileged),
        cmocka_unit_test(test_listening_from_socket_table),
        cmocka_unit_test(test_listening_table_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
