// See cachesync.h.
#include "events/cachesync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "obs/log.h"

#define RETRY_MS 1000 // after a database error

struct events_cachesync {
	events_cachesync_apply apply;
	void *arg;
	store_outbox *ob;
	atomic_bool stop;
	pthread_t thread;
	store_outbox_change batch[CACHESYNC_BATCH];

	pthread_mutex_t mu;
	pthread_cond_t cv;                           // a feed arrived, or stop
	store_outbox_change fed[CACHESYNC_FEED_MAX]; // under mu
	size_t n_fed;                                // under mu
	store_outbox_change got[CACHESYNC_FEED_MAX]; // the thread's copy of fed
};

void events_cachesync_feed(events_cachesync *s, const store_outbox_change *ch, size_t n)
{
	if (s == NULL || n == 0)
		return;
	pthread_mutex_lock(&s->mu);
	// Too many at once: drop them all; the thread reads the log instead.
	if (s->n_fed + n > CACHESYNC_FEED_MAX)
		s->n_fed = 0;
	else {
		memcpy(s->fed + s->n_fed, ch, n * sizeof *ch);
		s->n_fed += n;
	}
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

// Waits up to ms for a feed (or a stop), then takes what was fed into got[].
static size_t take_fed(events_cachesync *s, int ms)
{
	pthread_mutex_lock(&s->mu);
	if (ms > 0 && s->n_fed == 0 && !atomic_load(&s->stop)) {
		struct timespec dl = base_deadline_ts(CLOCK_MONOTONIC, ms);
		pthread_cond_timedwait(&s->cv, &s->mu, &dl);
	}
	size_t n = s->n_fed;
	memcpy(s->got, s->fed, n * sizeof *s->fed);
	s->n_fed = 0;
	pthread_mutex_unlock(&s->mu);
	return n;
}

// Applies the fed changes that continue *cursor without a gap (in chunks of
// CACHESYNC_BATCH). Returns false when they do not (a gap, or none fed
// beyond the cursor): the log has to be read.
static bool apply_fed(events_cachesync *s, size_t n, uint64_t *cursor)
{
	size_t i = 0;
	while (i < n && s->got[i].seq <= *cursor)
		i++; // read from the log already
	if (i == n || s->got[i].seq != *cursor + 1)
		return false;
	for (size_t k = i + 1; k < n; k++)
		if (s->got[k].seq != s->got[k - 1].seq + 1)
			return false;
	while (i < n) {
		size_t m = n - i < CACHESYNC_BATCH ? n - i : CACHESYNC_BATCH;
		(void)s->apply(s->arg, s->got + i, m);
		i += m;
	}
	*cursor = s->got[n - 1].seq;
	return true;
}

static void nap(events_cachesync *s, int ms)
{
	while (ms > 0 && !atomic_load(&s->stop)) {
		int slice = ms < 20 ? ms : 20;
		nanosleep(&(struct timespec){0, slice * 1000000L}, NULL);
		ms -= slice;
	}
}

static void *sync_main(void *arg)
{
	events_cachesync *s = arg;
	uint64_t cursor = 0;
	bool started = false, logged = false;
	int wait_ms = 0; // how long to wait for a feed before reading the log
	while (!atomic_load(&s->stop)) {
		if (!started) {
			if (store_outbox_head(s->ob, &cursor) != 0) {
				nap(s, RETRY_MS);
				continue;
			}
			started = true;
		}
		// The leader's own claims, handed over by its relay: no query needed
		// while they continue the cursor.
		size_t fed = take_fed(s, wait_ms);
		if (fed > 0 && apply_fed(s, fed, &cursor)) {
			wait_ms = CACHESYNC_POLL_MS;
			continue;
		}
		if (atomic_load(&s->stop))
			break;
		int n = store_outbox_changes(s->ob, cursor, CACHESYNC_BATCH, s->batch);
		if (n < 0) {
			if (!logged)
				OBS_LOG(OBS_WARN,
				        "cache sync: cannot read the event log; retrying");
			logged = true;
			wait_ms = 0;
			nap(s, RETRY_MS);
			continue;
		}
		logged = false;
		if (n > 0) {
			(void)s->apply(s->arg, s->batch, (size_t)n);
			cursor = s->batch[n - 1].seq;
		}
		wait_ms = n < CACHESYNC_BATCH ? CACHESYNC_POLL_MS : 0;
	}
	return NULL;
}

int events_cachesync_start(events_cachesync **out, const char *conninfo,
                           events_cachesync_apply apply, void *arg, char *err, size_t errcap)
{
	*out = NULL;
	events_cachesync *s = calloc(1, sizeof *s);
	if (s == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	s->apply = apply;
	s->arg = arg;
	if (base_cond_init_monotonic(&s->cv) != 0 || pthread_mutex_init(&s->mu, NULL) != 0) {
		snprintf(err, errcap, "cache sync: cannot create its lock");
		free(s);
		return -1;
	}
	if (store_outbox_open(&s->ob, conninfo, err, errcap) != 0) {
		free(s);
		return -1;
	}
	if (pthread_create(&s->thread, NULL, sync_main, s) != 0) {
		snprintf(err, errcap, "cannot start the cache sync thread");
		store_outbox_close(s->ob);
		free(s);
		return -1;
	}
	pthread_setname_np(s->thread, "pd-cachesync");
	*out = s;
	return 0;
}

void events_cachesync_stop(events_cachesync *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->stop, true);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	store_outbox_close(s->ob);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
