// nrpc server workers: a fixed pool of threads (nrpc_server_config.workers)
// running blocking handlers, fed by one FIFO queue of prepared calls linked
// through nrpc_call.c_next (the calls belong to their transports' slots).
// With nng the queue can never hold more than one entry per context, so it is
// bounded by the number of contexts; with the own transport by its in-flight
// limit per connection (SPTCP_MAX_INFLIGHT, sptcp.h).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "server_int.h"

void nrpc_server_workers_enqueue(nrpc_server *s, struct nrpc_call *c)
{
	nrpc_server_nng_mark(c, NRPC_RCTX_QUEUED);
	pthread_mutex_lock(&s->mtx);
	c->c_next = NULL;
	if (s->q_tail)
		s->q_tail->c_next = c;
	else
		s->q_head = c;
	s->q_tail = c;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mtx);
}

static void *worker_main(void *arg)
{
	nrpc_server *s = arg;
	pthread_mutex_lock(&s->mtx);
	for (;;) {
		while (s->q_head == NULL && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mtx);
		if (s->q_head == NULL && s->stopping)
			break;
		struct nrpc_call *c = s->q_head;
		s->q_head = c->c_next;
		if (s->q_head == NULL)
			s->q_tail = NULL;
		pthread_mutex_unlock(&s->mtx);
		nrpc_server_run_handler(c);
		pthread_mutex_lock(&s->mtx);
	}
	pthread_mutex_unlock(&s->mtx);
	return NULL;
}

int nrpc_server_workers_start(nrpc_server *s, char *err, size_t errcap)
{
	s->threads = calloc((size_t)s->cfg.workers, sizeof(*s->threads));
	if (s->threads == NULL)
		return NNG_ENOMEM;
	for (int i = 0; i < s->cfg.workers; i++) {
		if (pthread_create(&s->threads[i], NULL, worker_main, s) != 0) {
			snprintf(err, errcap, "cannot start worker thread");
			return NNG_ENOMEM;
		}
		s->nthreads++;
	}
	return 0;
}

void nrpc_server_workers_stop(nrpc_server *s)
{
	pthread_mutex_lock(&s->mtx);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mtx);
}

void nrpc_server_workers_join(nrpc_server *s)
{
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
}
