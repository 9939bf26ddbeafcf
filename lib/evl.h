/* evl — the event loop of the fake peers. Their gaps and delays ARE the race windows, so timers
 * run on the precise monotonic clock (libevent's default coarse clock fires up to one 4 ms tick
 * late: a scripted 2 ms gap became 4.2 ms) and without the cached loop time (a timer armed late
 * in a busy iteration, e.g. with --parallel trials, would otherwise fire early). The proxy does
 * not use this: it keeps libevent's cheap clock, as a production proxy does. */
#ifndef RACELAB_EVL_H
#define RACELAB_EVL_H

struct event_base;

/* NULL when libevent cannot make the base. */
struct event_base *evl_new_precise(void);

#endif
