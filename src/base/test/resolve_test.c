// base resolve: a lookup that hangs never blocks the caller; answers, failures,
// numeric hosts, and the system resolver for "localhost".
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/resolve.h"

static int failures;
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

// A lookup that waits until the test opens the gate: while it is closed, a
// blocking base_resolve would hang the test (and CTest's limit fail it).
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int lookups;

static int gated_lookup(const char *host, char *addr, size_t cap, char *err, size_t errcap)
{
	pthread_mutex_lock(&gate_mu);
	lookups++;
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	if (strcmp(host, "bad.example") == 0) {
		snprintf(err, errcap, "no such name: %s", host);
		return -1;
	}
	snprintf(addr, cap, "10.1.2.3");
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

// Polls until the answer is no longer PENDING (bounded).
static enum base_resolve_result settle(base_resolver *r, const char *host, char *addr, size_t cap,
                                       char *err, size_t errcap)
{
	enum base_resolve_result res = BASE_RESOLVE_PENDING;
	for (int i = 0; i < 500 && res == BASE_RESOLVE_PENDING; i++) {
		res = base_resolve(r, host, addr, cap, err, errcap);
		if (res == BASE_RESOLVE_PENDING)
			sleep_ms(10);
	}
	return res;
}

static void test_stalled_lookup(void)
{
	base_resolver *r = NULL;
	char err[160], addr[BASE_RESOLVE_ADDR_MAX];
	CHECK(base_resolver_start(&r, gated_lookup, err, sizeof err) == 0);
	if (r == NULL)
		return;
	CHECK(base_resolve(r, "127.0.0.1", addr, sizeof addr, err, sizeof err) ==
	      BASE_RESOLVE_NUMERIC);
	CHECK(base_resolve(r, "::1", addr, sizeof addr, err, sizeof err) == BASE_RESOLVE_NUMERIC);
	// The lookup hangs behind the closed gate: every ask answers at once.
	for (int i = 0; i < 5; i++)
		CHECK(base_resolve(r, "db.example", addr, sizeof addr, err, sizeof err) ==
		      BASE_RESOLVE_PENDING);
	pthread_mutex_lock(&gate_mu);
	gate_open = true;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
	CHECK(settle(r, "db.example", addr, sizeof addr, err, sizeof err) == BASE_RESOLVE_READY);
	CHECK(strcmp(addr, "10.1.2.3") == 0);
	CHECK(settle(r, "bad.example", addr, sizeof addr, err, sizeof err) == BASE_RESOLVE_FAILED);
	CHECK(strstr(err, "bad.example") != NULL);
	pthread_mutex_lock(&gate_mu);
	int n = lookups;
	pthread_mutex_unlock(&gate_mu);
	CHECK(n == 2); // one per name: the cache answered the rest
	base_resolver_stop(r);
}

static void test_system_resolver(void)
{
	base_resolver *r = NULL;
	char err[160], addr[BASE_RESOLVE_ADDR_MAX] = "";
	CHECK(base_resolver_start(&r, NULL, err, sizeof err) == 0);
	if (r == NULL)
		return;
	CHECK(settle(r, "localhost", addr, sizeof addr, err, sizeof err) == BASE_RESOLVE_READY);
	CHECK(strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "::1") == 0);
	base_resolver_stop(r);
}

int main(void)
{
	test_stalled_lookup();
	test_system_resolver();
	if (failures) {
		fprintf(stderr, "base_resolve: %d failure(s)\n", failures);
		return 1;
	}
	printf("base_resolve: ok\n");
	return 0;
}
