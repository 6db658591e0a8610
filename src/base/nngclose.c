// base nngclose: see nngclose.h.
#include "base/nngclose.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/clock.h"

// Shared by the caller and the helper. The caller frees it after joining the
// helper, or, once it stopped waiting (abandoned), the helper frees it.
typedef struct closer {
	pthread_mutex_t mu;
	pthread_cond_t cv; // on CLOCK_MONOTONIC
	bool done;         // every nng_close returned
	bool abandoned;    // the caller stopped waiting
	void (*done_fn)(void *);
	void *done_arg;
	size_t n;
	nng_socket socks[];
} closer;

static void closer_free(closer *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void *closer_main(void *arg)
{
	closer *c = arg;
	for (size_t i = 0; i < c->n; i++)
		nng_close(c->socks[i]);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	bool abandoned = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (abandoned) {
		if (c->done_fn != NULL)
			c->done_fn(c->done_arg);
		closer_free(c);
	}
	return NULL;
}

static int close_here(const nng_socket *socks, size_t n, void (*done)(void *), void *arg)
{
	for (size_t i = 0; i < n; i++)
		nng_close(socks[i]);
	if (done != NULL)
		done(arg);
	return 0;
}

int base_nng_close_all(const nng_socket *socks, size_t n, int timeout_ms, void (*done)(void *),
                       void *arg)
{
	closer *c = calloc(1, sizeof(*c) + n * sizeof(nng_socket));
	if (c == NULL)
		return close_here(socks, n, done, arg);
	for (size_t i = 0; i < n; i++)
		c->socks[i] = socks[i];
	c->n = n;
	c->done_fn = done;
	c->done_arg = arg;
	pthread_mutex_init(&c->mu, NULL);
	base_cond_init_monotonic(&c->cv);
	pthread_t t;
	if (pthread_create(&t, NULL, closer_main, c) != 0) {
		closer_free(c);
		return close_here(socks, n, done, arg);
	}
	struct timespec until = base_deadline_ts(CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&c->mu);
	while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
		;
	bool in_time = c->done;
	c->abandoned = !in_time;
	pthread_mutex_unlock(&c->mu);
	if (!in_time) {
		pthread_detach(t);
		return -1;
	}
	pthread_join(t, NULL);
	closer_free(c);
	if (done != NULL)
		done(arg);
	return 0;
}

int base_nng_close(nng_socket s, int timeout_ms)
{
	return base_nng_close_all(&s, 1, timeout_ms, NULL, NULL);
}
