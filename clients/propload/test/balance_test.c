// propload_balance: the driver with several URLs, against fake servers in
// this process (docs/balancing.md):
//   spread       two instances: the calls go to both, all OK;
//   not serving  an instance that answers NOT_SERVING gets health checks and
//                no call;
//   dead url     a URL nobody listens on is skipped: every call OK, the two
//                live servers half each;
//   stop         an instance stops in the middle of a run: no call fails (the
//                reads in flight there go to the other one).
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "fake_server.h"
#include "nng/supplemental/util/platform.h"
#include "workload.h"

typedef struct tcase {
	const char *name;
	int servers;    // fake servers at urls[0..servers)
	int dead;       // plus this many URLs nobody listens on
	int notserving; // server 1 answers NOT_SERVING
	int stop_ms;    // > 0: server 1 stops this long into the run
	uint64_t count; // closed loop: this many calls
	double duration_s;
} tcase;

static const tcase cases[] = {
    {"spread", 2, 0, 0, 0, 400, 0},
    {"not serving", 2, 0, 1, 0, 200, 0},
    {"dead url", 2, 1, 0, 0, 400, 0},
    {"stop", 2, 0, 0, 300, 0, 1.5},
};

struct stopper {
	fake_server *srv;
	int ms;
	uint64_t calls; // what it answered (health checks aside) before stopping
};

static void *stop_main(void *arg)
{
	struct stopper *st = arg;
	nng_msleep((nng_duration)st->ms);
	st->calls = fake_server_count(st->srv) - fake_server_health_count(st->srv);
	fake_server_stop(st->srv);
	return NULL;
}

static int run_case(const tcase *c, int i)
{
	char url[3][128], err[256] = "";
	const char *urls[3];
	fake_server *srv[2] = {NULL, NULL};
	int n = c->servers + c->dead, failed = 0;
	for (int k = 0; k < n; k++) {
		snprintf(url[k], sizeof url[k], "ipc:///tmp/propload-bal-%d-%d-%d.ipc",
		         (int)getpid(), i, k);
		urls[k] = url[k];
		if (k < c->servers && fake_server_start(&srv[k], url[k], 0, 0) != 0) {
			printf("FAIL %s: cannot start a fake server\n", c->name);
			return 1;
		}
	}
	if (c->notserving)
		fake_server_set_health(srv[1], 2);
	pl_workload_cfg wc = {.owners = 1,
	                      .timeout_ms = 2000,
	                      .call_method = "/property.v1.PropertyService/GetProperty",
	                      .call_data = "{\"id\":\"x\"}"};
	pl_workload *w = NULL;
	pthread_t th;
	struct stopper st = {.srv = srv[1], .ms = c->stop_ms};
	bool stopping = false;
	if (pl_workload_open(&w, &wc, NULL, err, sizeof err) != 0) {
		printf("FAIL %s: workload: %s\n", c->name, err);
		failed = 1;
		goto out;
	}
	pl_driver_cfg dc = {.urls = urls,
	                    .nurls = (size_t)n,
	                    .conc = 8,
	                    .count = c->count,
	                    .duration_s = c->duration_s,
	                    .timeout_ms = 2000,
	                    .seed = 1};
	if (c->stop_ms > 0) {
		stopping = pthread_create(&th, NULL, stop_main, &st) == 0;
		srv[1] = NULL; // the stopper owns it
	}
	pl_run run;
	if (pl_driver_run(&dc, w, &run, err, sizeof err) != 0) {
		printf("FAIL %s: run: %s\n", c->name, err);
		failed = 1;
		goto out;
	}
	if (stopping)
		pthread_join(th, NULL);
	stopping = false;
	pl_opstats all;
	pl_stats_all(&run.stats, &all);
	uint64_t total = pl_opstats_total(&all), ok = all.codes[0];
	uint64_t got[2] = {0, 0};
	for (int k = 0; k < 2; k++)
		if (srv[k] != NULL)
			got[k] = fake_server_count(srv[k]) - fake_server_health_count(srv[k]);
	if (c->stop_ms > 0)
		got[1] = st.calls;
	printf("%s: calls %llu ok %llu, server 0 %llu, server 1 %llu\n", c->name,
	       (unsigned long long)total, (unsigned long long)ok, (unsigned long long)got[0],
	       (unsigned long long)got[1]);
	if (ok != total || total == 0) {
		printf("FAIL %s: %llu of %llu calls OK\n", c->name, (unsigned long long)ok,
		       (unsigned long long)total);
		failed = 1;
	}
	if (c->count && total != c->count) {
		printf("FAIL %s: %llu calls, want %llu\n", c->name, (unsigned long long)total,
		       (unsigned long long)c->count);
		failed = 1;
	}
	// Round robin over the healthy ones: halves (a dead URL takes no share
	// from its neighbour); with one stopping midway, both at least got some.
	bool even = got[0] * 10 >= total * 4 && got[1] * 10 >= total * 4;
	if (c->servers == 2 && !c->notserving && (c->stop_ms ? got[1] == 0 : !even)) {
		printf("FAIL %s: not spread evenly over both servers\n", c->name);
		failed = 1;
	}
	if (c->notserving &&
	    (got[1] != 0 || fake_server_health_count(srv[1]) == 0 || got[0] != total)) {
		printf("FAIL %s: the NOT_SERVING server got %llu calls, %llu health checks\n",
		       c->name, (unsigned long long)got[1],
		       (unsigned long long)fake_server_health_count(srv[1]));
		failed = 1;
	}
	pl_run_free(&run);
out:
	if (stopping)
		pthread_join(th, NULL);
	pl_workload_close(w);
	for (int k = 0; k < n; k++) {
		if (k < 2 && srv[k] != NULL)
			fake_server_stop(srv[k]);
		unlink(url[k] + strlen("ipc://"));
	}
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
