#include "events/sock_close.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

// Shared by the caller and the helper; the last of the two to let go frees it.
typedef struct closer {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int refs;
} closer;

static void closer_release(closer *c)
{
	pthread_mutex_lock(&c->mu);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
	}
}

static void *closer_main(void *arg)
{
	closer *c = arg;
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	closer_release(c);
	return NULL;
}

int sock_close_bounded(nng_socket s, int timeout_ms)
{
	closer *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		nng_close(s);
		return -1;
	}
	c->sock = s;
	c->refs = 2;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);

	pthread_t t;
	pthread_attr_t ta;
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	int rv = pthread_create(&t, &ta, closer_main, c);
	pthread_attr_destroy(&ta);
	if (rv != 0) {
		c->refs = 1;
		closer_release(c);
		nng_close(s);
		return -1;
	}

	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	rv = 0;
	while (!c->done && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&c->cv, &c->mu, &until);
	bool done = c->done;
	pthread_mutex_unlock(&c->mu);
	closer_release(c);
	return done ? 0 : -1;
}
