// base ratelimit: a generic cell rate algorithm (GCRA) for "at most `rate`
// events a second after a burst", kept in one int64_t per limited thing.
//
// The state is the theoretical arrival time (monotonic µs) of the next event
// on schedule; 0 starts fresh. Not thread-safe: the caller serialises the
// calls on one state (a loop thread, or a lock it holds).
#ifndef BASE_RATELIMIT_H
#define BASE_RATELIMIT_H

#include <stdint.h>

// The burst allowed above `rate`: a tenth of the rate, at least 64 events.
#define BASE_RATELIMIT_BURST_MIN 64

// Counts one event at now_us against *tat. Returns 0 while the events keep
// within rate a second (after the burst), else how long (µs) to hold off
// before the next one would conform. rate 0: no limit, always 0.
int64_t base_ratelimit_take(int64_t *tat, unsigned rate, int64_t now_us);

#endif
