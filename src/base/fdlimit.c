// base fdlimit: see fdlimit.h.
#include "fdlimit.h"

#include <stddef.h>
#include <sys/resource.h>

int base_raise_fd_limit(long *soft, long *hard)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (soft != NULL)
		*soft = (long)rl.rlim_cur;
	if (hard != NULL)
		*hard = (long)rl.rlim_max;
	if (rl.rlim_cur >= rl.rlim_max)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : -1;
}
