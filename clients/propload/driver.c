// The load driver: see driver.h (its parts: driver_int.h).
#include "driver.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "balance.h"
#include "driver_int.h"
#include "nrpc/client.h"
#include "nrpc/retry.h"

static double cpu_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static bool finished(struct drv *d)
{
	if (!d->open)
		return d->active == 0;
	return d->dispatch_done && d->active == 0;
}

static void progress(struct drv *d, uint64_t now, uint64_t *prev_done, uint64_t *prev_t)
{
	uint64_t done = atomic_load(&d->done), errs = atomic_load(&d->errs);
	double dt = (double)(now - *prev_t) / 1e9;
	double rps = dt > 0 ? (double)(done - *prev_done) / dt : 0;
	const char *phase = now < d->t_measure ? "warm-up" : "run";
	fprintf(stderr, "\r\033[K[%6.1fs %s] %llu calls  %.0f rps  %llu errors  %u in flight",
	        (double)(now - d->t_start) / 1e9, phase, (unsigned long long)done, rps,
	        (unsigned long long)errs, d->active);
	fflush(stderr);
	*prev_done = done;
	*prev_t = now;
}

// Waits for the end of the run, watching for a stop signal and drawing progress.
static void wait_done(struct drv *d)
{
	uint64_t prev_done = 0, prev_t = now_ns(), next_draw = prev_t + NS;
	pthread_mutex_lock(&d->mu);
	while (!finished(d)) {
		uint64_t t = now_ns() + TICK_NS;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)TICK_NS;
		if (ts.tv_nsec >= (long)NS) {
			ts.tv_sec++;
			ts.tv_nsec -= (long)NS;
		}
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
		if (d->cfg->stop && *d->cfg->stop && !atomic_load(&d->stopping)) {
			atomic_store(&d->stopping, 1);
			d->bl_len = 0; // calls not yet started are dropped
		}
		if (d->cfg->progress && t >= next_draw) {
			pthread_mutex_unlock(&d->mu);
			progress(d, now_ns(), &prev_done, &prev_t);
			next_draw += NS;
			pthread_mutex_lock(&d->mu);
		}
	}
	pthread_mutex_unlock(&d->mu);
	if (d->cfg->progress)
		fprintf(stderr, "\r\033[K");
}

int pl_driver_run(const pl_driver_cfg *cfg, pl_workload *w, pl_run *out, char *err, size_t errcap)
{
	struct drv d = {.cfg = cfg, .w = w};
	int rc = -1;
	memset(out, 0, sizeof(*out));
	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.cv, NULL);
	pthread_mutex_init(&d.pipe_mu, NULL);
	if (cfg->nurls == 0 || cfg->conc == 0 || cfg->conc > PL_MAX_CALLERS ||
	    (cfg->duration_s <= 0 && cfg->count == 0) || cfg->timeout_ms == 0) {
		snprintf(err, errcap,
		         "bad driver settings (urls, 1..%u callers, duration or count, timeout)",
		         PL_MAX_CALLERS);
		goto done;
	}
	d.open = cfg->rate > 0;
	d.nslots = cfg->conc;
	if (pl_drv_open_balance(&d, err, errcap) != 0 ||
	    pl_drv_open_sockets(&d, err, errcap) != 0 ||
	    (d.balanced && pl_drv_wait_ready(&d, err, errcap) != 0))
		goto done;
	d.nshards = d.nsock < PL_SHARDS ? d.nsock : PL_SHARDS;
	for (unsigned i = 0; i < d.nshards; i++) {
		pthread_mutex_init(&d.shards[i].mu, NULL);
		if (pl_stats_init(&d.shards[i].st) != 0) {
			snprintf(err, errcap, "out of memory");
			d.nshards = i + 1;
			goto done;
		}
	}
	if (pl_drv_open_slots(&d, err, errcap) != 0 || pl_stats_init(&out->stats) != 0) {
		if (!err[0])
			snprintf(err, errcap, "out of memory");
		goto done;
	}

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	d.t_start = now_ns();
	d.t_measure = d.t_start + (uint64_t)(cfg->warmup_s * 1e9);
	d.t_end =
	    cfg->duration_s > 0 ? d.t_measure + (uint64_t)(cfg->duration_s * 1e9) : UINT64_MAX;
	pthread_t disp;
	if (d.open) {
		for (unsigned i = 0; i < d.nslots; i++)
			d.freelist[i] = d.nslots - 1 - i;
		d.nfree = d.nslots;
		if (pthread_create(&disp, NULL, pl_drv_dispatcher, &d) != 0) {
			snprintf(err, errcap, "cannot start the dispatcher thread");
			goto done;
		}
	} else {
		d.active = d.nslots;
		for (unsigned i = 0; i < d.nslots; i++)
			pl_drv_slot_next(&d.slots[i]);
	}
	wait_done(&d);
	if (d.open)
		pthread_join(disp, NULL);
	uint64_t t_fin = now_ns();
	getrusage(RUSAGE_SELF, &ru1);

	for (unsigned i = 0; i < d.nshards; i++)
		pl_stats_merge(&out->stats, &d.shards[i].st);
	uint64_t last = atomic_load(&d.last_done);
	out->elapsed_s = last > d.t_measure ? (double)(last - d.t_measure) / 1e9 : 0;
	out->wall_s = (double)(t_fin - d.t_start) / 1e9;
	out->cpu_user_s = cpu_s(&ru1.ru_utime) - cpu_s(&ru0.ru_utime);
	out->cpu_sys_s = cpu_s(&ru1.ru_stime) - cpu_s(&ru0.ru_stime);
	out->sockets = d.nsock;
	out->callers = d.nslots;
	out->max_lag_ns = atomic_load(&d.max_lag);
	out->backlog_max = d.backlog_max;
	out->unsent = d.unsent;
	out->interrupted = atomic_load(&d.stopping) != 0;
	rc = 0;
done:
	pl_drv_teardown(&d);
	if (rc != 0)
		pl_run_free(out);
	return rc;
}

void pl_run_free(pl_run *r)
{
	pl_stats_free(&r->stats);
}
