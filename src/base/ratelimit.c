// base ratelimit: see ratelimit.h.
#include "base/ratelimit.h"

int64_t base_ratelimit_take(int64_t *tat, unsigned rate, int64_t now_us)
{
	if (rate == 0)
		return 0;
	const int64_t interval = 1000000 / (int64_t)rate;
	const int64_t burst =
	    rate / 10 > BASE_RATELIMIT_BURST_MIN ? rate / 10 : BASE_RATELIMIT_BURST_MIN;
	if (*tat < now_us)
		*tat = now_us;
	*tat += interval;
	int64_t wait = *tat - now_us - burst * interval;
	return wait > 0 ? wait : 0;
}
