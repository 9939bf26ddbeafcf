/* peers — helpers of the peer-against-peer integration tests: start racelab-upstream on port 0,
 * run racelab-downstream against it, read and count their records; a raw blocking client and a
 * one-shot raw server for the checks that need the bytes on the wire. */
#ifndef RACELAB_TESTS_PEERS_H
#define RACELAB_TESTS_PEERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsup.h"

struct up {
    struct tsup_proc proc;
    int port;
    char *log;
    char *err;
};

/* Starts racelab-upstream in dir with the extra flags (NULL-terminated), --port-file and --log
 * in dir; waits for its port. Fails the test when it does not come up. */
void up_start(struct up *u, const char *dir, const char *tag, ...);
/* Waits until every accepted connection's close is logged (up to 10 s), then SIGTERM;
 * returns the exit code (0 = clean). */
int up_stop(struct up *u);
/* The upstream's log (call after up_stop for a complete one). */
json_t *up_log(struct up *u);
void up_free(struct up *u);

/* Runs racelab-downstream --target 127.0.0.1:port with the extra flags (NULL-terminated) to
 * completion; returns its records (the test fails unless it exits 0). */
json_t *dn_run(const char *dir, int port, ...);

/* The same in two steps, for tests that serve the client themselves meanwhile. */
struct dn {
    struct tsup_proc proc;
    char *rec;
    char *err;
};
void dn_start(struct dn *d, const char *dir, int port, ...);
json_t *dn_wait(struct dn *d);

/* Records whose key equals the given integer / string / bool. */
size_t rec_count_int(json_t *arr, const char *key, long long val);
json_t *rec_filter_int(json_t *arr, const char *key, long long val); /* new reference */
size_t rec_count_str(json_t *arr, const char *key, const char *val);
long long rec_int(json_t *o, const char *key);
const char *rec_str(json_t *o, const char *key);
/* Distinct values of an integer field. */
size_t rec_distinct(json_t *arr, const char *key);
/* The first record with event == name (and, if conn >= 0, that conn); NULL when none. */
json_t *rec_event(json_t *arr, const char *event, long long conn);
/* Prints the records on stderr (when an assertion is about to fail, for the log). */
void rec_dump(json_t *arr, const char *what);

/* Raw blocking client: connects to 127.0.0.1:port, sends req, reads until EOF, an error or
 * cap bytes. Returns bytes read; *err gets the errno that ended the read (0 on EOF). */
size_t raw_exchange(int port, const char *req, char *buf, size_t cap, int *err);
int raw_connect(int port);

/* One-shot raw server: listen on port 0 (returned), then raw_serve_one() accepts a connection,
 * reads one request head (and its Content-Length or chunked body when told to read it), writes
 * resp and closes. */
int raw_listen(int *port);
/* Returns the bytes received (head + what was read), malloc'd and NUL-terminated. */
char *raw_serve_one(int lfd, const char *resp, bool read_body);

/* A raw server for checks of how a request arrives, in steps: raw_accept_request() accepts a
 * connection and peeks, never reads, until its receive queue holds a whole request head and
 * body_wire bytes after it (up to 10 s); raw_answer() reads what is queued, writes resp and
 * closes. TCP delivers a segment to the queue whole, so first_seen tells whether the head
 * arrived with its body. */
struct raw_req {
    int fd;
    size_t head_len;   /* the request head's bytes */
    size_t first_seen; /* bytes queued when the head was first seen whole */
    size_t queued;     /* bytes queued when the wait ended */
};
void raw_accept_request(int lfd, size_t body_wire, struct raw_req *q);
void raw_answer(struct raw_req *q, const char *resp);
/* Segments with data received on a connected socket so far (TCP_INFO tcpi_data_segs_in). */
unsigned tcp_data_segs_in(int fd);

uint64_t now_us(void);

#endif
