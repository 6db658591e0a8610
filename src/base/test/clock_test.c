// base clock: units agree, the monotonic clock does not go back, deadlines
// are normalised and come.
#include <time.h>

#include "base/clock.h"
#include "base/test/check.h"

int main(void)
{
	int64_t us0 = base_now_us(), ms0 = base_now_ms();
	CHECK(us0 > 0 && ms0 > 0);
	CHECK(ms0 - us0 / 1000 >= 0 && ms0 - us0 / 1000 <= 1, "%lld us, %lld ms", (long long)us0,
	      (long long)ms0);
	int64_t last = us0;
	for (int i = 0; i < 100000; i++) {
		int64_t now = base_now_us();
		CHECK(now >= last);
		last = now;
	}

	static const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME};
	for (int c = 0; c < 2; c++) {
		struct timespec before;
		clock_gettime(clocks[c], &before);
		for (int64_t ms = 0; ms <= 3000; ms += 37) {
			struct timespec d = base_deadline_ts(clocks[c], ms);
			CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
			int64_t ahead = ((int64_t)d.tv_sec - before.tv_sec) * 1000 +
			                (d.tv_nsec - before.tv_nsec) / 1000000;
			CHECK(ahead >= ms && ahead <= ms + 1000, "%lld ms ahead for %lld",
			      (long long)ahead, (long long)ms);
		}
		struct timespec past = base_deadline_ts(clocks[c], 0);
		CHECK(base_ts_passed(clocks[c], &past));
		struct timespec soon = base_deadline_ts(clocks[c], 20);
		CHECK(!base_ts_passed(clocks[c], &soon));
		struct timespec nap = {0, 30 * 1000000L};
		nanosleep(&nap, NULL);
		CHECK(base_ts_passed(clocks[c], &soon));
	}
	return check_summary("base_clock");
}
