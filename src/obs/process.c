// obs process: see process.h.
#include "obs/process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/fdlimit.h"
#include "obs/log.h"

struct obs_process {
	obs_gauge *cpu, *rss, *vsize, *fds, *max_fds, *start;
	double start_s; // computed once
};

obs_process *obs_process_register(obs_registry *r)
{
	obs_process *p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	p->cpu = obs_total_get(r, "process_cpu_seconds_total",
	                       "Total user and system CPU time spent in seconds", NULL);
	p->rss = obs_gauge_get(r, "process_resident_memory_bytes", "Resident memory size in bytes",
	                       NULL);
	p->vsize =
	    obs_gauge_get(r, "process_virtual_memory_bytes", "Virtual memory size in bytes", NULL);
	p->fds = obs_gauge_get(r, "process_open_fds", "Number of open file descriptors", NULL);
	p->max_fds =
	    obs_gauge_get(r, "process_max_fds", "Maximum number of open file descriptors", NULL);
	p->start = obs_gauge_get(r, "process_start_time_seconds",
	                         "Start time of the process since unix epoch in seconds", NULL);
	p->start_s = -1;
	return p;
}

void obs_process_free(obs_process *p)
{
	free(p);
}

// The system's boot time (seconds since the epoch), from /proc/stat.
static double boot_time(void)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	double bt = -1;
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "btime ", 6) == 0)
			bt = strtod(line + 6, NULL);
	if (f != NULL)
		fclose(f);
	return bt;
}

static void read_stat(obs_process *p)
{
	FILE *f = fopen("/proc/self/stat", "r");
	char buf[1024];
	size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f != NULL)
		fclose(f);
	buf[n] = '\0';
	// Fields after the command name, which may hold spaces: from the last ')'.
	char *rp = strrchr(buf, ')');
	if (rp == NULL)
		return;
	unsigned long utime = 0, stime = 0, vsize = 0;
	unsigned long long starttime = 0;
	long rss = 0;
	// state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24)
	if (sscanf(rp + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
	           "%llu %lu %ld",
	           &utime, &stime, &starttime, &vsize, &rss) != 5)
		return;
	double hz = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
	if (hz <= 0)
		return;
	obs_gauge_set(p->cpu, (double)(utime + stime) / hz);
	obs_gauge_set(p->vsize, (double)vsize);
	obs_gauge_set(p->rss, (double)rss * page);
	if (p->start_s < 0) {
		double bt = boot_time();
		if (bt >= 0)
			p->start_s = bt + (double)starttime / hz;
	}
	if (p->start_s >= 0)
		obs_gauge_set(p->start, p->start_s);
}

static void read_fds(obs_process *p)
{
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		long n = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		obs_gauge_set(p->fds, (double)(n - 1)); // not the directory's own descriptor
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		obs_gauge_set(p->max_fds,
		              rl.rlim_cur == RLIM_INFINITY ? -1.0 : (double)rl.rlim_cur);
}

void obs_process_collect(obs_process *p)
{
	if (p == NULL)
		return;
	read_stat(p);
	read_fds(p);
}

void obs_process_raise_fd_limit(void)
{
	long soft = 0, hard = 0;
	if (base_raise_fd_limit(&soft, &hard) != 0)
		OBS_LOG(OBS_WARN, "cannot raise the file descriptor limit", OBS_I("soft", soft),
		        OBS_I("hard", hard));
}
