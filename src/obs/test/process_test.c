// obs process: the process_* families read from /proc are present, typed and
// plausible (CPU grows with work, descriptors counted, start time near now).
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/test/check.h"
#include "obs/metrics.h"
#include "obs/process.h"

// The value of `name` (no labels) in a rendered page, or -1.
static double sample(const char *page, const char *name)
{
	char key[128];
	snprintf(key, sizeof key, "\n%s ", name);
	const char *p = strstr(page, key);
	return p != NULL ? strtod(p + strlen(key), NULL) : -1;
}

static char *render(obs_registry *r, obs_process *p)
{
	obs_process_collect(p);
	char *page = NULL;
	obs_registry_render(r, &page);
	return page;
}

int main(void)
{
	obs_registry *r = obs_registry_create();
	obs_process *p = obs_process_register(r);
	CHECK(p != NULL, "register");
	char *a = render(r, p);
	volatile double x = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do { // 0.2 s of CPU, so the clock-tick counter must move
		for (int i = 0; i < 1000000; i++)
			x += i * 0.5;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 200000000L);
	int extra[8];
	for (int i = 0; i < 8; i++)
		extra[i] = open("/dev/null", O_RDONLY);
	char *b = render(r, p);
	CHECK(strstr(b, "# TYPE process_cpu_seconds_total counter\n") != NULL, "cpu typed counter");
	double ca = sample(a, "process_cpu_seconds_total"),
	       cb = sample(b, "process_cpu_seconds_total");
	CHECK(ca >= 0 && cb >= ca + 0.1, "CPU seconds %.2f then %.2f after 0.2 s of work", ca, cb);
	double fa = sample(a, "process_open_fds"), fb = sample(b, "process_open_fds");
	CHECK(fa >= 3 && fb == fa + 8, "open fds %.0f then %.0f after opening 8", fa, fb);
	CHECK(sample(b, "process_max_fds") >= fb, "max fds");
	CHECK(sample(b, "process_resident_memory_bytes") > 1e5, "rss");
	CHECK(sample(b, "process_virtual_memory_bytes") >=
	          sample(b, "process_resident_memory_bytes"),
	      "vsize >= rss");
	double st = sample(b, "process_start_time_seconds");
	CHECK(st > (double)time(NULL) - 120 && st <= (double)time(NULL) + 1, "start time %.0f", st);
	for (int i = 0; i < 8; i++)
		close(extra[i]);
	free(a);
	free(b);
	obs_process_free(p);
	obs_registry_destroy(r);
	return check_summary("obs_process");
}
