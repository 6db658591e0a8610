// base clock: the process's clocks in the units the layers count in.
//
// base_now_us / base_now_ms read CLOCK_MONOTONIC (never jumps; only
// differences mean anything): deadlines, timeouts, durations, rate limits.
// base_deadline_ts turns "ms from now" into the absolute struct timespec that
// pthread_cond_timedwait, pthread_timedjoin_np and friends take, on the clock
// they wait on (CLOCK_REALTIME unless a condition variable was set to
// CLOCK_MONOTONIC); base_ts_passed asks whether such a point has come.
//
// Pure functions of the clock: no state, no allocation, any thread.
// (base_cond_init_monotonic initializes the caller's condition variable.)
#ifndef BASE_CLOCK_H
#define BASE_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

// CLOCK_MONOTONIC in microseconds.
int64_t base_now_us(void);
// CLOCK_MONOTONIC in milliseconds (rounded down).
int64_t base_now_ms(void);
// Now on `clock` plus ms (ms >= 0), with tv_nsec in 0..999,999,999.
struct timespec base_deadline_ts(clockid_t clock, int64_t ms);
// True once `clock` reads at or after *t.
bool base_ts_passed(clockid_t clock, const struct timespec *t);
// Initializes a condition variable that waits on CLOCK_MONOTONIC (for
// deadlines from base_deadline_ts(CLOCK_MONOTONIC, ...)). 0 or an errno.
int base_cond_init_monotonic(pthread_cond_t *cv);

#endif
