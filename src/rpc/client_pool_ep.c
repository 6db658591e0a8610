// rpc client_pool endpoints: one endpoint is one req0 socket dialing one
// server address. Its connection events come from nng's pipe callbacks
// (on_pipe), its health check is a grpc.health.v1.Health/Check sent on its own
// context by the prober thread and finished by the aio callback (probe_cb).
// All of them change the endpoint's state under the pool mutex.
#include "base/nngclose.h"
#include "client_pool_int.h"
#include "client_sock.h"
#include "tls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A detached endpoint's socket is closed: it and its hold on the pool go.
void nrpc_cpool_ep_closed(void *arg)
{
	nrpc_cp_ep *e = arg;
	nrpc_cpool *p = e->pool;
	free(e);
	nrpc_cpool_unref(p);
}

// ---- connection events and health checks (nng's threads) ----------------------------------

// Under p->mu: the endpoint's connection is gone. Every call on it, and its
// probe, is aborted; it takes no calls until a check on a new one says SERVING.
static void ep_lost(nrpc_cpool *p, nrpc_cp_ep *e)
{
	e->pipe = 0;
	e->since = nng_clock();
	if (e->slot >= 0 && p->st[e->slot] != LB_RETIRING)
		p->st[e->slot] = LB_DOWN;
	for (nrpc_cp_call *c = e->calls; c != NULL; c = c->next) {
		c->lost = true;
		if (c->aio != NULL)
			nng_aio_abort(c->aio, NNG_ECONNRESET);
	}
	if (e->probing && !e->probe_stopped)
		nng_aio_abort(e->probe_aio, NNG_ECONNRESET);
	pthread_cond_broadcast(&p->ready_cv);
}

static void on_pipe(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	nrpc_cp_ep *e = arg;
	nrpc_cpool *p = e->pool;
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	pthread_mutex_lock(&p->mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		// One dialer per socket: a new pipe means the old one is gone, even
		// if its REM_POST has not come yet.
		if (e->pipe != 0 && e->pipe != id)
			ep_lost(p, e);
		e->pipe = id;
		e->next_probe = 0; // check it now
		if (e->slot >= 0 && p->st[e->slot] != LB_RETIRING)
			p->st[e->slot] = LB_CONNECTING;
		pthread_cond_signal(&p->kick_cv);
	} else if (ev == NNG_PIPE_EV_REM_POST && e->pipe == id) {
		ep_lost(p, e);
	}
	pthread_mutex_unlock(&p->mu);
}

static void probe_done(nrpc_cp_ep *e, bool serving)
{
	nrpc_cpool *p = e->pool;
	pthread_mutex_lock(&p->mu);
	e->probing = false;
	e->next_probe = nng_clock() + p->probe_interval;
	if (e->slot >= 0 && p->st[e->slot] != LB_RETIRING && !p->stopping) {
		p->st[e->slot] = e->pipe != 0 && serving ? LB_READY : LB_DOWN;
		pthread_cond_broadcast(&p->ready_cv);
	}
	pthread_mutex_unlock(&p->mu);
}

// The probe's state machine: send, then (only then, nng 1.5.2 #1702) receive.
static void probe_cb(void *arg)
{
	nrpc_cp_ep *e = arg;
	nng_aio *aio = e->probe_aio;
	int rv = nng_aio_result(aio);
	if (!e->probe_recv) {
		nng_time now = nng_clock();
		if (rv != 0 || now >= e->probe_deadline) {
			nng_msg *m = nng_aio_get_msg(aio); // a failed send hands it back
			if (rv != 0 && m != NULL)
				nng_msg_free(m);
			nng_aio_set_msg(aio, NULL);
			probe_done(e, false);
			return;
		}
		e->probe_recv = true;
		nng_aio_set_timeout(aio, (nng_duration)(e->probe_deadline - now));
		nng_ctx_recv(e->probe_ctx, aio);
		return;
	}
	bool serving = false;
	if (rv == 0) {
		nng_msg *m = nng_aio_get_msg(aio);
		nng_aio_set_msg(aio, NULL);
		serving = nrpc_lb_probe_serving(nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
	}
	probe_done(e, serving);
}

// The prober thread, without the mutex: sends one check (e->probing is set).
void nrpc_cpool_probe_start(nrpc_cpool *p, nrpc_cp_ep *e)
{
	nng_msg *m = NULL;
	if (nng_msg_alloc(&m, p->probe_req_len) != 0) {
		probe_done(e, false);
		return;
	}
	memcpy(nng_msg_body(m), p->probe_req, p->probe_req_len);
	nng_aio_set_msg(e->probe_aio, m);
	nng_aio_set_timeout(e->probe_aio, (nng_duration)p->probe_timeout);
	nng_ctx_send(e->probe_ctx, e->probe_aio);
}

// ---- endpoints ----------------------------------------------------------------------------

static void ep_destroy_unused(nrpc_cp_ep *e)
{
	if (e->probe_aio != NULL)
		nng_aio_free(e->probe_aio);
	nng_close(e->sock); // never connected through the pool: no pipe to wedge
	free(e);
}

// A new endpoint dialing url (non-blocking). NULL with *rv and err on failure.
static nrpc_cp_ep *ep_create(nrpc_cpool *p, const char *url, size_t origin, int *rv, char *err,
                             size_t errcap)
{
	nrpc_cp_ep *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		*rv = NNG_ENOMEM;
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	e->pool = p;
	e->origin = origin;
	e->slot = -1;
	e->since = nng_clock();
	snprintf(e->url, sizeof e->url, "%s", url);
	if ((*rv = nrpc_cp_socket_open(&e->sock, err, errcap)) != 0) {
		free(e);
		return NULL;
	}
	const nrpc_cp_origin *o = &p->origins[origin];
	if ((*rv = nng_pipe_notify(e->sock, NNG_PIPE_EV_ADD_POST, on_pipe, e)) != 0 ||
	    (*rv = nng_pipe_notify(e->sock, NNG_PIPE_EV_REM_POST, on_pipe, e)) != 0 ||
	    (*rv = nng_ctx_open(&e->probe_ctx, e->sock)) != 0 ||
	    (*rv = nng_aio_alloc(&e->probe_aio, probe_cb, e)) != 0) {
		snprintf(err, errcap, "%s: %s", url, nng_strerror(*rv));
		ep_destroy_unused(e);
		return NULL;
	}
	if ((*rv = nrpc_tls_dial(e->sock, url, o->has_tls ? &o->tls : NULL, err, errcap)) != 0) {
		ep_destroy_unused(e);
		return NULL;
	}
	return e;
}

// Under p->mu: true when some endpoint dials url already.
static bool dialed(const nrpc_cpool *p, const char *url)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ep[i] != NULL && strcmp(p->ep[i]->url, url) == 0)
			return true;
	return false;
}

// Under p->mu: puts e into a free slot (CONNECTING). -1 when all are taken.
static int ep_insert(nrpc_cpool *p, nrpc_cp_ep *e)
{
	size_t i = 0;
	while (i < p->n && p->ep[i] != NULL)
		i++;
	if (i == LB_MAX_ENDPOINTS)
		return -1;
	if (i == p->n)
		p->n++;
	p->ep[i] = e;
	p->st[i] = LB_CONNECTING;
	e->slot = (int)i;
	return 0;
}

// Dials url for origin o unless it is dialed already. Returns 0 (also when
// skipped), or an nng error with a reason in err.
int nrpc_cpool_ep_add(nrpc_cpool *p, const char *url, size_t o, char *err, size_t errcap)
{
	pthread_mutex_lock(&p->mu);
	bool have = dialed(p, url);
	pthread_mutex_unlock(&p->mu);
	if (have)
		return 0;
	int rv = 0;
	nrpc_cp_ep *e = ep_create(p, url, o, &rv, err, errcap);
	if (e == NULL)
		return rv;
	pthread_mutex_lock(&p->mu);
	int full = ep_insert(p, e);
	pthread_mutex_unlock(&p->mu);
	if (full != 0) {
		snprintf(err, errcap, "more than %d server addresses", LB_MAX_ENDPOINTS);
		pthread_mutex_lock(&p->mu);
		e->probe_stopped = true;
		p->refs++; // released by nrpc_cpool_ep_closed
		pthread_mutex_unlock(&p->mu);
		nng_aio_free(e->probe_aio);
		e->probe_aio = NULL;
		nng_ctx_close(e->probe_ctx); // frees the request it keeps
		base_nng_close_all(&e->sock, 1, CP_CLOSE_BUDGET_MS, nrpc_cpool_ep_closed, e);
		return NNG_EINVAL;
	}
	return 0;
}
