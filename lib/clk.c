#include "clk.h"

#include <errno.h>
#include <time.h>

static uint64_t now_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t clk_real_us(void)
{
    return now_us(CLOCK_REALTIME);
}

uint64_t clk_mono_us(void)
{
    return now_us(CLOCK_MONOTONIC);
}

void clk_sleep_us(uint64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000u), .tv_nsec = (long)(us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
