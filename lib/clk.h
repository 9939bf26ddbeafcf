/* clk — time helpers. Logs use wall-clock microseconds (CLOCK_REALTIME) so that they line up
 * with pcap timestamps; durations and timers use the monotonic clock. */
#ifndef RACELAB_CLK_H
#define RACELAB_CLK_H

#include <stdint.h>

uint64_t clk_real_us(void);
uint64_t clk_mono_us(void);
void clk_sleep_us(uint64_t us);

#endif
