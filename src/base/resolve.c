// base resolve: see resolve.h.
#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/clock.h"

#define HOST_MAX 256

typedef struct entry {
	char host[HOST_MAX]; // "" : free
	char addr[BASE_RESOLVE_ADDR_MAX];
	char err[128];
	bool have;     // addr holds an answer (maybe old)
	bool failed;   // the last lookup failed
	bool queued;   // wants a lookup (the thread takes it)
	int64_t at_ms; // when the last lookup ended
} entry;

struct base_resolver {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool started;
	pthread_t thread;
	base_lookup_fn lookup;
	entry names[BASE_RESOLVE_NAMES];
};

static int gai_lookup(const char *host, char *addr, size_t cap, char *err, size_t errcap)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(err, errcap, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	int out = -1;
	for (struct addrinfo *ai = res; ai != NULL && out != 0; ai = ai->ai_next) {
		const void *src =
		    ai->ai_family == AF_INET
		        ? (const void *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr
		        : (const void *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    inet_ntop(ai->ai_family, src, addr, (socklen_t)cap) != NULL)
			out = 0;
	}
	freeaddrinfo(res);
	if (out != 0)
		snprintf(err, errcap, "%s has no usable address", host);
	return out;
}

static bool numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void *resolver_main(void *arg)
{
	base_resolver *r = arg;
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		entry *e = NULL;
		for (int i = 0; i < BASE_RESOLVE_NAMES && e == NULL; i++)
			if (r->names[i].queued)
				e = &r->names[i];
		if (e == NULL) {
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		char host[HOST_MAX], addr[BASE_RESOLVE_ADDR_MAX], err[128] = "";
		memcpy(host, e->host, sizeof host);
		pthread_mutex_unlock(&r->mu);
		int rc = r->lookup(host, addr, sizeof addr, err, sizeof err);
		pthread_mutex_lock(&r->mu);
		e->queued = false;
		e->at_ms = base_now_ms();
		e->failed = rc != 0;
		if (rc == 0) {
			memcpy(e->addr, addr, sizeof addr);
			e->have = true;
		} else
			snprintf(e->err, sizeof e->err, "%s", err);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int base_resolver_start(base_resolver **out, base_lookup_fn lookup, char *err, size_t errcap)
{
	base_resolver *r = calloc(1, sizeof *r);
	if (r == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	r->lookup = lookup != NULL ? lookup : gai_lookup;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pthread_create(&r->thread, NULL, resolver_main, r) != 0) {
		snprintf(err, errcap, "cannot start the resolver thread");
		base_resolver_stop(r);
		return -1;
	}
	r->started = true;
	*out = r;
	return 0;
}

void base_resolver_stop(base_resolver *r)
{
	if (r == NULL)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->stop = true;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}

enum base_resolve_result base_resolve(base_resolver *r, const char *host, char *addr, size_t cap,
                                      char *err, size_t errcap)
{
	if (numeric(host))
		return BASE_RESOLVE_NUMERIC;
	if (strlen(host) >= HOST_MAX) {
		snprintf(err, errcap, "host name too long");
		return BASE_RESOLVE_FAILED;
	}
	int64_t now = base_now_ms();
	pthread_mutex_lock(&r->mu);
	entry *e = NULL, *free_slot = NULL;
	for (int i = 0; i < BASE_RESOLVE_NAMES && e == NULL; i++) {
		if (strcmp(r->names[i].host, host) == 0)
			e = &r->names[i];
		else if (r->names[i].host[0] == '\0' && free_slot == NULL)
			free_slot = &r->names[i];
	}
	if (e == NULL && free_slot == NULL) {
		pthread_mutex_unlock(&r->mu);
		snprintf(err, errcap, "too many host names to resolve (at most %d)",
		         BASE_RESOLVE_NAMES);
		return BASE_RESOLVE_FAILED;
	}
	if (e == NULL) {
		e = free_slot;
		snprintf(e->host, sizeof e->host, "%s", host);
		e->queued = true;
		pthread_cond_signal(&r->cv);
	} else if (!e->queued) {
		int64_t age = now - e->at_ms;
		if ((e->failed && age >= BASE_RESOLVE_RETRY_MS) ||
		    (!e->failed && age >= BASE_RESOLVE_TTL_MS)) {
			e->queued = true; // again, in the background
			pthread_cond_signal(&r->cv);
		}
	}
	enum base_resolve_result res;
	if (e->have) {
		// The last good answer, also while a newer lookup runs or failed:
		// a connect never waits for DNS once the name was resolved.
		snprintf(addr, cap, "%s", e->addr);
		res = BASE_RESOLVE_READY;
	} else if (e->failed && !e->queued) {
		snprintf(err, errcap, "%s", e->err);
		res = BASE_RESOLVE_FAILED;
	} else {
		res = BASE_RESOLVE_PENDING;
	}
	pthread_mutex_unlock(&r->mu);
	return res;
}
