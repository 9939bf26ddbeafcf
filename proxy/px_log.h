/* px_log — the access log: one JSON line per downstream request (docs/records.md), written with
 * one write(2) when the request ends, so the harness can join it with the capture by port. */
#ifndef RACELAB_PX_LOG_H
#define RACELAB_PX_LOG_H

#include "px.h"

struct px_req;
struct px_dconn;

/* Opens path for appending ("-" is stdout); returns the fd or -1 with errno. */
int px_log_open(const char *path);

void px_log_request(struct px *px, const struct px_req *req, const struct px_dconn *dc);

#endif
