// nrpc server over nng rep0: the transport used unless the own one
// (sptcp.c) serves the URL on the owner's event loops.
//
// Each rep0 context owns one slot (struct nrpc_rctx) holding its aio and the
// call it is serving. The aio callback runs on nng's threads and never blocks:
// it hands the request to nrpc_server_serve (dispatch.c), which answers at
// once, starts an asynchronous handler or queues the call for a worker. The
// reply comes back through nng_deliver, from any thread, and is sent through
// the same context; the send's callback posts the next receive.
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/nngclose.h"
#include "serve.h"
#include "server_int.h"
#include "tls.h"

#define CONTEXTS_PER_WORKER 4    // requests that may wait for a worker, per worker
#define MIN_CONTEXTS        64   // enough for inline calls (Health) at high concurrency
#define MAX_CONTEXTS        1024 // nng 1.5.2 costs CPU per context (#1663)
#define CLOSE_WATCHDOG_MS   2000 // nng_close can hang (#1543): give up after this

struct nrpc_rctx {
	nrpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	_Atomic int state; // enum nrpc_rctx_state; read by drain from another thread
	// Held while an aio operation is started and its state set, and by drain
	// while it cancels a receive: drain never cancels a send that started
	// between its look at the state and its cancel.
	pthread_mutex_t mu;
	struct nrpc_call call;
};

static void post_recv(struct nrpc_rctx *r);

// The nng transport's delivery: the reply goes out on the slot's context.
static void nng_deliver(struct nrpc_call *c, nng_msg *reply)
{
	struct nrpc_rctx *r = c->c_slot;
	if (reply == NULL) {
		nrpc_server_delivered(r->srv);
		post_recv(r);
		return;
	}
	pthread_mutex_lock(&r->mu);
	atomic_store(&r->state, NRPC_RCTX_SEND); // drain must not cancel a send
	nng_aio_set_msg(r->aio, reply);
	nng_ctx_send(r->ctx, r->aio); // completes on an nng thread, never inline
	pthread_mutex_unlock(&r->mu);
}

void nrpc_server_nng_mark(struct nrpc_call *c, enum nrpc_rctx_state st)
{
	if (c->c_deliver == nng_deliver)
		atomic_store(&((struct nrpc_rctx *)c->c_slot)->state, (int)st);
}

static void post_recv(struct nrpc_rctx *r)
{
	pthread_mutex_lock(&r->mu);
	if (atomic_load(&r->srv->closing)) {
		atomic_store(&r->state, NRPC_RCTX_DONE);
	} else {
		atomic_store(&r->state, NRPC_RCTX_RECV);
		nng_ctx_recv(r->ctx, r->aio); // completes on an nng thread, never inline
	}
	pthread_mutex_unlock(&r->mu);
}

static void on_aio(void *arg)
{
	struct nrpc_rctx *r = arg;
	nrpc_server *s = r->srv;
	int rv = nng_aio_result(r->aio);

	if (atomic_load(&r->state) == NRPC_RCTX_SEND) {
		if (rv != 0) {
			// A failed send leaves the message with us.
			nng_msg *m = nng_aio_get_msg(r->aio);
			if (m)
				nng_msg_free(m);
		}
		nrpc_server_delivered(s);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			atomic_store(&r->state, NRPC_RCTX_DONE);
			return;
		}
		post_recv(r);
		return;
	}

	// NRPC_RCTX_RECV
	if (rv != 0) {
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			atomic_store(&r->state, NRPC_RCTX_DONE);
			return;
		}
		post_recv(r);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(r->aio);
	nrpc_server_serve(s, &r->call, nng_msg_body(msg), nng_msg_len(msg));
	nng_msg_free(msg); // the request was copied into the call's arena
}

int nrpc_server_nng_open(nrpc_server *s, char *err, size_t errcap)
{
	int rv;
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		snprintf(err, errcap, "cannot open rep0 socket: %s", nng_strerror(rv));
		return rv;
	}
	s->sock_open = true;
	// Before any listener starts: nng 1.5.2 accepts messages of any size by
	// default (NNG_OPT_RECVMAXSZ 0), so a peer could make it allocate without bound.
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, NRPC_MAX_MESSAGE);

	int n = s->cfg.contexts > 0 ? s->cfg.contexts : s->cfg.workers * CONTEXTS_PER_WORKER;
	if (n < MIN_CONTEXTS)
		n = MIN_CONTEXTS;
	if (n > MAX_CONTEXTS)
		n = MAX_CONTEXTS;
	s->slots = calloc((size_t)n, sizeof(*s->slots));
	if (s->slots == NULL)
		return NNG_ENOMEM;
	for (int i = 0; i < n; i++) {
		struct nrpc_rctx *r = &s->slots[i];
		r->srv = s;
		r->call.c_server = s;
		r->call.c_deliver = nng_deliver;
		r->call.c_slot = r;
		r->call.c_loop = -1;
		// Recursive: should nng ever complete an operation inline, the
		// callback may start the next one on this thread, under this lock.
		pthread_mutexattr_t ma;
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&r->mu, &ma);
		pthread_mutexattr_destroy(&ma);
		nrpc_call_seed(&r->call);
		if ((rv = nng_aio_alloc(&r->aio, on_aio, r)) != 0 ||
		    (rv = nng_ctx_open(&r->ctx, s->sock)) != 0) {
			snprintf(err, errcap, "cannot create context: %s", nng_strerror(rv));
			s->nslots = i + (r->aio != NULL);
			return rv;
		}
		s->nslots = i + 1;
	}
	if ((rv = nrpc_connlimit_install(&s->conns, s->sock, s->cfg.max_connections)) != 0) {
		snprintf(err, errcap, "cannot install the connection limit: %s", nng_strerror(rv));
		return rv;
	}
	if ((rv = nrpc_tls_listen(s->sock, s->cfg.url, s->cfg.tls, err, errcap)) != 0)
		return rv;
	return 0;
}

void nrpc_server_nng_recv_all(nrpc_server *s)
{
	for (int i = 0; i < s->nslots; i++)
		post_recv(&s->slots[i]);
}

void nrpc_server_nng_stop_receiving(nrpc_server *s)
{
	for (int i = 0; i < s->nslots; i++) {
		struct nrpc_rctx *r = &s->slots[i];
		pthread_mutex_lock(&r->mu);
		if (r->aio && atomic_load(&r->state) == NRPC_RCTX_RECV)
			nng_aio_cancel(r->aio);
		pthread_mutex_unlock(&r->mu);
	}
}

void nrpc_server_nng_stop(nrpc_server *s)
{
	for (int i = 0; i < s->nslots; i++)
		if (s->slots[i].aio)
			nng_aio_stop(s->slots[i].aio);
}

void nrpc_server_nng_free(nrpc_server *s)
{
	for (int i = 0; i < s->nslots; i++) {
		struct nrpc_rctx *r = &s->slots[i];
		if (r->aio) {
			nng_msg *m = nng_aio_get_msg(r->aio);
			if (m && atomic_load(&r->state) == NRPC_RCTX_SEND)
				nng_msg_free(m);
			// An asynchronous call whose owner stopped before finishing it
			// (its event loops are gone by now): only its memory is left.
			if (atomic_load(&r->state) == NRPC_RCTX_ASYNC)
				nrpc_call_end(&r->call);
			nng_ctx_close(r->ctx);
			nng_aio_free(r->aio);
		}
	}
	for (int i = 0; i < s->nslots; i++)
		pthread_mutex_destroy(&s->slots[i].mu);
	// nng_close can hang in 1.5.2 (#1543, #1813): bounded, so shutdown always
	// ends. The helper has its own copy of the handle: s may go.
	if (s->sock_open)
		(void)base_nng_close(s->sock, CLOSE_WATCHDOG_MS);
}
