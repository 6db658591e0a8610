// Instance health for the driver: see balance.h.
#include "balance.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/client.h"

struct checker {
	pl_balance *b;
	nrpc_client *cli;
	pthread_t th;
	bool started;
	atomic_bool up;
	atomic_bool decided; // a first check has come back
};

struct pl_balance {
	pthread_mutex_t mu;
	pthread_cond_t cv; // stop, or a verdict came in
	bool stop;
	struct checker *k;
	size_t n;
};

static bool check(nrpc_client *cli)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	nrpc_result res;
	bool up = false;
	if (nrpc_client_call(cli, "/grpc.health.v1.Health/Check", &req.base,
	                     &grpc__health__v1__health_check_response__descriptor, NULL, 0,
	                     PL_CHECK_TIMEOUT_MS, &out, &res) != 0)
		return false;
	if (res.code == 12) // no health service: taken as serving, as gRPC does
		up = true;
	else if (res.code == 0 && out != NULL)
		up = ((Grpc__Health__V1__HealthCheckResponse *)out)->status ==
		     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	nrpc_result_free(&res);
	return up;
}

static void *checker_main(void *arg)
{
	struct checker *k = arg;
	pl_balance *b = k->b;
	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		pthread_mutex_unlock(&b->mu);
		bool up = check(k->cli);
		pthread_mutex_lock(&b->mu);
		atomic_store(&k->up, up);
		atomic_store(&k->decided, true);
		pthread_cond_broadcast(&b->cv);
		struct timespec until = base_deadline_ts(CLOCK_REALTIME, PL_CHECK_MS);
		while (!b->stop && pthread_cond_timedwait(&b->cv, &b->mu, &until) == 0)
			; // woken by another checker's verdict: sleep on
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

int pl_balance_open(pl_balance **out, const char *const *urls, size_t n, const nrpc_tls *tls,
                    char *err, size_t errcap)
{
	*out = NULL;
	pl_balance *b = calloc(1, sizeof(*b));
	if (b == NULL || (b->k = calloc(n, sizeof(*b->k))) == NULL) {
		free(b);
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->n = n;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct checker *k = &b->k[i];
		k->b = b;
		if (nrpc_client_open_tls(&k->cli, &urls[i], 1, tls, err, errcap) != 0) {
			rc = -1;
		} else if (pthread_create(&k->th, NULL, checker_main, k) != 0) {
			snprintf(err, errcap, "cannot start a health-check thread");
			rc = -1;
		} else {
			k->started = true;
		}
	}
	if (rc != 0) {
		pl_balance_close(b);
		return -1;
	}
	*out = b;
	return 0;
}

void pl_balance_close(pl_balance *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	for (size_t i = 0; i < b->n; i++) {
		if (b->k[i].started)
			pthread_join(b->k[i].th, NULL);
		nrpc_client_close(b->k[i].cli);
	}
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b->k);
	free(b);
}

bool pl_balance_up(const pl_balance *b, size_t i)
{
	return atomic_load(&b->k[i].up);
}

void pl_balance_down(pl_balance *b, size_t i)
{
	atomic_store(&b->k[i].up, false);
}

bool pl_balance_wait(pl_balance *b, size_t i, uint32_t ms)
{
	struct timespec until = base_deadline_ts(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&b->mu);
	while (!atomic_load(&b->k[i].decided) &&
	       pthread_cond_timedwait(&b->cv, &b->mu, &until) == 0)
		;
	pthread_mutex_unlock(&b->mu);
	return atomic_load(&b->k[i].up);
}
