// See ioloop.h.
#include "base/ioloop.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct base_ioloop {
	char name[16];
	struct event_base *base;
	struct event *wake_ev;
	int wake_fd;

	pthread_mutex_t mu;
	base_ioloop_task *head, *tail; // guarded by mu
	bool signalled;                // guarded by mu: the eventfd was written, not yet drained
	bool stopping;                 // guarded by mu

	pthread_t thread;
	bool running;
	_Atomic(pthread_t) tid; // the loop thread's id while it runs
	atomic_bool has_tid;
};

static void drain(base_ioloop *l)
{
	pthread_mutex_lock(&l->mu);
	base_ioloop_task *t = l->head;
	l->head = l->tail = NULL;
	l->signalled = false;
	bool stop = l->stopping;
	pthread_mutex_unlock(&l->mu);
	while (t != NULL) {
		base_ioloop_task *next = t->next;
		t->fn(t);
		t = next;
	}
	if (stop)
		event_base_loopbreak(l->base);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t v;
	(void)what;
	// Reset the counter before draining: a post landing after the read sees
	// `signalled` false (cleared in drain) and writes again.
	if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
		return;
	drain(arg);
}

static void *loop_main(void *arg)
{
	base_ioloop *l = arg;
	atomic_store(&l->tid, pthread_self());
	atomic_store(&l->has_tid, true);
	event_base_dispatch(l->base);
	drain(l); // tasks posted before the stop still run
	atomic_store(&l->has_tid, false);
	return NULL;
}

int base_ioloop_create(base_ioloop **out, const char *name, char *err, size_t errcap)
{
	*out = NULL;
	base_ioloop *l = calloc(1, sizeof *l);
	if (l == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	snprintf(l->name, sizeof l->name, "%s", name != NULL ? name : "ioloop");
	pthread_mutex_init(&l->mu, NULL);
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->base = event_base_new();
	if (l->wake_fd < 0 || l->base == NULL) {
		snprintf(err, errcap, "cannot create event loop: %s", strerror(errno));
		base_ioloop_destroy(l);
		return -1;
	}
	l->wake_ev = event_new(l->base, l->wake_fd, EV_READ | EV_PERSIST, on_wake, l);
	if (l->wake_ev == NULL || event_add(l->wake_ev, NULL) != 0) {
		snprintf(err, errcap, "cannot register the loop's wake-up");
		base_ioloop_destroy(l);
		return -1;
	}
	*out = l;
	return 0;
}

int base_ioloop_start(base_ioloop *l, char *err, size_t errcap)
{
	if (l->running)
		return 0;
	if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
		snprintf(err, errcap, "cannot start loop thread %s", l->name);
		return -1;
	}
	pthread_setname_np(l->thread, l->name);
	l->running = true;
	return 0;
}

static void wake(base_ioloop *l)
{
	uint64_t one = 1;
	ssize_t n = write(l->wake_fd, &one, sizeof one);
	(void)n; // EAGAIN: the counter is saturated, the loop is awake anyway
}

void base_ioloop_post(base_ioloop *l, base_ioloop_task *t)
{
	(void)base_ioloop_try_post(l, t);
}

bool base_ioloop_try_post(base_ioloop *l, base_ioloop_task *t)
{
	bool need_wake = false, queued = false;
	t->next = NULL;
	pthread_mutex_lock(&l->mu);
	if (!l->stopping) {
		queued = true;
		if (l->tail != NULL)
			l->tail->next = t;
		else
			l->head = t;
		l->tail = t;
		if (!l->signalled) {
			l->signalled = true;
			need_wake = true;
		}
	}
	pthread_mutex_unlock(&l->mu);
	if (need_wake)
		wake(l);
	return queued;
}

struct sync_call {
	base_ioloop_task task;
	void (*fn)(void *arg);
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void run_sync(base_ioloop_task *t)
{
	struct sync_call *s = (struct sync_call *)t;
	s->fn(s->arg);
	pthread_mutex_lock(&s->mu);
	s->done = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void base_ioloop_call(base_ioloop *l, void (*fn)(void *arg), void *arg)
{
	bool stopping;
	pthread_mutex_lock(&l->mu);
	stopping = l->stopping;
	pthread_mutex_unlock(&l->mu);
	if (!l->running || stopping || base_ioloop_on_thread(l)) {
		fn(arg);
		return;
	}
	struct sync_call s = {.task.fn = run_sync, .fn = fn, .arg = arg};
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	base_ioloop_post(l, &s.task);
	pthread_mutex_lock(&s.mu);
	while (!s.done)
		pthread_cond_wait(&s.cv, &s.mu);
	pthread_mutex_unlock(&s.mu);
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
}

bool base_ioloop_on_thread(const base_ioloop *l)
{
	base_ioloop *m = (base_ioloop *)l;
	return atomic_load(&m->has_tid) && pthread_equal(atomic_load(&m->tid), pthread_self());
}

struct event_base *base_ioloop_base(base_ioloop *l)
{
	return l->base;
}

void base_ioloop_stop(base_ioloop *l)
{
	if (!l->running)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	bool need_wake = !l->signalled;
	l->signalled = true;
	pthread_mutex_unlock(&l->mu);
	if (need_wake)
		wake(l);
	pthread_join(l->thread, NULL);
	l->running = false;
}

void base_ioloop_destroy(base_ioloop *l)
{
	if (l == NULL)
		return;
	base_ioloop_stop(l);
	if (l->wake_ev != NULL)
		event_free(l->wake_ev);
	if (l->base != NULL)
		event_base_free(l->base);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
