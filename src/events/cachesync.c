// See cachesync.h.
#include "events/cachesync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "obs/log.h"

#define RETRY_MS 1000 // after a database error

struct events_cachesync {
	events_cachesync_apply apply;
	void *arg;
	store_outbox *ob;
	atomic_bool stop;
	pthread_t thread;
	store_outbox_change batch[CACHESYNC_BATCH];
};

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
	while (!atomic_load(&s->stop)) {
		if (!started) {
			if (store_outbox_head(s->ob, &cursor) != 0) {
				nap(s, RETRY_MS);
				continue;
			}
			started = true;
		}
		int n = store_outbox_changes(s->ob, cursor, CACHESYNC_BATCH, s->batch);
		if (n < 0) {
			if (!logged)
				OBS_LOG(OBS_WARN,
				        "cache sync: cannot read the event log; retrying");
			logged = true;
			nap(s, RETRY_MS);
			continue;
		}
		logged = false;
		if (n > 0) {
			(void)s->apply(s->arg, s->batch, (size_t)n);
			cursor = s->batch[n - 1].seq;
		}
		if (n < CACHESYNC_BATCH)
			nap(s, CACHESYNC_POLL_MS);
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
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	store_outbox_close(s->ob);
	free(s);
}
