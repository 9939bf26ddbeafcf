/* test_netlab_util — what the harness infrastructure tests share: run a test body in a forked
 * child inside a fresh network namespace (so wire rules and captures never touch the host or
 * another test), talk to such children to order events across two namespaces, and plain
 * blocking TCP on 127.0.0.1 with timeouts so a broken test fails instead of hanging. */
#ifndef RACELAB_TEST_INFRA_UTIL_H
#define RACELAB_TEST_INFRA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A body returns 0, or -1 after writing why into msg (use TCHECK). out is outlen bytes,
 * zeroed, copied back to the parent. */
typedef int (*tinfra_fn)(void *arg, void *out, char *msg, size_t msglen);

/* Fails the body with "file:line: message" when cond is false (needs msg, msglen in scope). */
#define TCHECK(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            tinfra_fail(msg, msglen, __FILE__, __LINE__, __VA_ARGS__);                             \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

void tinfra_fail(char *msg, size_t msglen, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

struct tinfra_child {
    pid_t pid;
    int up;   /* child → parent: sync bytes, then the result */
    int down; /* parent → child: sync bytes */
    size_t outlen;
};

/* Forks a child that enters a new network namespace and runs fn. */
int tinfra_spawn(struct tinfra_child *c, tinfra_fn fn, void *arg, size_t outlen);
/* Waits for the child's result (killing it after timeout_ms); returns fn's result, or -1 with
 * msg when it failed, crashed or timed out. */
int tinfra_join(struct tinfra_child *c, void *out, int timeout_ms, char *msg, size_t msglen);
/* spawn + join */
int tinfra_in_netns(tinfra_fn fn, void *arg, void *out, size_t outlen, int timeout_ms, char *msg,
                    size_t msglen);

/* Ordering between parent and children: one byte each way. Return 0, or -1 (timeout, EOF,
 * another byte). */
int tinfra_tell(struct tinfra_child *c, char b);
int tinfra_wait(struct tinfra_child *c, char b, int timeout_ms);
/* the same, from inside a child body */
int tinfra_tell_parent(char b);
int tinfra_wait_parent(char b, int timeout_ms);

/* Blocking TCP on 127.0.0.1 (port 0 = any); every socket gets 5 s send/receive timeouts. */
int tinfra_listen(uint16_t port);
uint16_t tinfra_port(int fd);
int tinfra_connect(uint16_t port);
int tinfra_accept(int lfd);
/* Receives exactly n bytes (or fewer at EOF/error); returns what recv() finally returned. */
ssize_t tinfra_recv_n(int fd, char *buf, size_t n);

/* Inside a namespace: captures into path a small two-hop run with the races' signatures, and
 * writes its hop sidecar. hops[0] = {proxy port, "downstream", "proxy"}, hops[1] = {upstream
 * port, "proxy", "upstream"}; what happens, in order:
 *   downstream conn A: request 1 → proxy → upstream (one connection) → response → back;
 *   the upstream close()s — its FIN held on the wire;
 *   request 2 on A → the proxy reuses the upstream connection → the upstream's kernel answers
 *   with RST (no ACK), which overtakes the held FIN; the proxy answers 503; A closes with FINs;
 *   downstream conn B: an upload the proxy answers early (413) and close()s unread → one RST
 *   with ACK from the proxy;
 *   the held FIN is released last (the proxy answers it with RST).
 * Expected counts, per direction (packets sent by A in A->B):
 *   downstream->proxy: SYN 2, FIN 1, RST 0;  proxy->downstream: SYN 2, FIN 1, RST 1 (abortive);
 *   proxy->upstream:   SYN 1, FIN 0, RST 1;  upstream->proxy:   SYN 1, FIN 1, RST 1 (after data).
 * Returns 0, or -1 with msg. */
struct analysis_hop;
int tinfra_race_capture(const char *path, struct analysis_hop *hops, char *msg, size_t msglen);

/* Waits until the capture has flushed at least n packets; 0, or -1 after timeout_ms. */
struct cap;
int tinfra_cap_wait(struct cap *c, uint64_t n, int timeout_ms);

/* cmocka-asserts that two analyses have the same counters per direction and the same events
 * per flow, field by field (a capture whole and headers-only, read plain and gzip'd). */
struct analysis_result;
void tinfra_same_analysis(const struct analysis_result *a, const struct analysis_result *b);

#endif
