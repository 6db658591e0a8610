// propload_driver: the driver against a fake server inside this process.
//   closed loop, -n 300: exactly 300 measured OK calls;
//   open loop: a server that stalls 500 ms once must show in p99 (the calls
//   that were due during the stall count from their intended start), and the
//   number of calls is what the schedule says (rate x duration);
//   a server that is not there: every call fails, none hangs.
// The only timing assertion is that the stall is visible.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "fake_server.h"
#include "workload.h"

typedef struct tcase {
	const char *name;
	int server; // start the fake server
	uint64_t stall_at;
	unsigned conc;
	double rate, duration_s;
	uint64_t count;
	uint64_t want_calls; // 0: do not check
	int want_ok;         // all OK (1), none OK (0)
	double min_p99_ms;   // the stall must show at least this much in p99
} tcase;

static const tcase cases[] = {
    {"closed loop count", 1, 0, 8, 0, 0, 300, 300, 1, 0},
    {"open loop stall shows in p99", 1, 100, 64, 500, 2.0, 0, 1000, 1, 250},
    {"no server", 0, 0, 4, 0, 0, 8, 8, 0, 0},
};

static int run_case(const tcase *c, int i)
{
	char url[128], err[256] = "";
	snprintf(url, sizeof url, "ipc:///tmp/propload-test-%d-%d.ipc", (int)getpid(), i);
	fake_server *srv = NULL;
	if (c->server && fake_server_start(&srv, url, c->stall_at, 500) != 0) {
		printf("FAIL %s: cannot start the fake server\n", c->name);
		return 1;
	}
	pl_workload_cfg wc = {.owners = 1,
	                      .timeout_ms = 1000,
	                      .call_method = "/grpc.health.v1.Health/Check",
	                      .call_data = "{}"};
	pl_workload *w;
	int failed = 0;
	if (pl_workload_open(&w, &wc, NULL, err, sizeof err) != 0) {
		printf("FAIL %s: workload: %s\n", c->name, err);
		if (srv)
			fake_server_stop(srv);
		return 1;
	}
	const char *urls[] = {url};
	pl_driver_cfg dc = {.urls = urls,
	                    .nurls = 1,
	                    .conc = c->conc,
	                    .rate = c->rate,
	                    .duration_s = c->duration_s,
	                    .count = c->count,
	                    .timeout_ms = c->server ? 2000 : 300,
	                    .seed = 1};
	pl_run run;
	if (pl_driver_run(&dc, w, &run, err, sizeof err) != 0) {
		printf("FAIL %s: run: %s\n", c->name, err);
		failed = 1;
		goto out;
	}
	pl_opstats all;
	pl_stats_all(&run.stats, &all);
	uint64_t n = pl_opstats_total(&all), ok = all.codes[0];
	double p99_ms = (double)pl_hist_percentile(&all.lat, 99) / 1e6;
	printf("%s: calls %llu ok %llu p50 %.2fms p99 %.1fms max %.1fms\n", c->name,
	       (unsigned long long)n, (unsigned long long)ok,
	       (double)pl_hist_percentile(&all.lat, 50) / 1e6, p99_ms, (double)all.lat.max / 1e6);
	if (c->want_calls && n != c->want_calls) {
		printf("FAIL %s: %llu calls, want %llu\n", c->name, (unsigned long long)n,
		       (unsigned long long)c->want_calls);
		failed = 1;
	}
	if (c->want_ok ? ok != n : ok != 0) {
		printf("FAIL %s: %llu of %llu OK\n", c->name, (unsigned long long)ok,
		       (unsigned long long)n);
		failed = 1;
	}
	if (p99_ms < c->min_p99_ms) {
		printf("FAIL %s: p99 %.1f ms hides the 500 ms stall\n", c->name, p99_ms);
		failed = 1;
	}
	pl_run_free(&run);
out:
	pl_workload_close(w);
	if (srv)
		fake_server_stop(srv);
	snprintf(url, sizeof url, "/tmp/propload-test-%d-%d.ipc", (int)getpid(), i);
	unlink(url);
	return failed;
}

int main(void)
{
	int failed = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		failed += run_case(&cases[i], (int)i);
	printf("%s\n", failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}
