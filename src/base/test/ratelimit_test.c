// base ratelimit: a burst passes, then one event per interval; a quiet spell
// restores the burst; rate 0 never limits.
#include <stdint.h>

#include "base/ratelimit.h"
#include "base/test/check.h"

int main(void)
{
	int64_t tat = 0, now = 1000000;
	// rate 100: interval 10 ms, burst 64 (a tenth is 10, below the minimum).
	for (int i = 0; i < 64; i++)
		CHECK(base_ratelimit_take(&tat, 100, now) == 0, "event %d inside the burst", i);
	CHECK(base_ratelimit_take(&tat, 100, now) == 10000, "the 65th waits one interval");
	CHECK(base_ratelimit_take(&tat, 100, now) == 20000);
	// After the wait it asked for, the next one conforms again... once.
	now += 30000;
	CHECK(base_ratelimit_take(&tat, 100, now) == 0);
	CHECK(base_ratelimit_take(&tat, 100, now) == 10000);
	// A long quiet spell gives the whole burst back.
	now += 10 * 1000000;
	for (int i = 0; i < 64; i++)
		CHECK(base_ratelimit_take(&tat, 100, now) == 0, "event %d after quiet", i);
	// rate 10000: burst a tenth (1000), interval 100 µs.
	tat = 0;
	for (int i = 0; i < 1000; i++)
		CHECK(base_ratelimit_take(&tat, 10000, now) == 0);
	CHECK(base_ratelimit_take(&tat, 10000, now) == 100);
	// rate 0: no limit.
	tat = 0;
	for (int i = 0; i < 1000; i++)
		CHECK(base_ratelimit_take(&tat, 0, now) == 0);
	return check_summary("base_ratelimit_test");
}
