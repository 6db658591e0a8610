// rpc client_pool calls: one attempt of one call on the next READY endpoint
// (round robin, nrpc_lb_pick), waiting for a verdict when asked to, and how
// it ended (nrpc_cpool_outcome). The call is linked into its endpoint's list
// while it runs, so that a lost connection aborts it (client_pool_int.h).
#include "client_pool_int.h"

#include <pthread.h>

// ---- calls --------------------------------------------------------------------------------

static void unlink_call(nrpc_cp_ep *e, const nrpc_cp_call *call)
{
	for (nrpc_cp_call **pp = &e->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == call) {
			*pp = call->next;
			break;
		}
	}
	e->inflight--;
}

// Under p->mu: the next READY endpoint outside *tried, waiting (with `wait`)
// while a verdict is pending. Returns the slot, or -1 with *out set.
static int pick(nrpc_cpool *p, nng_time deadline, bool wait, uint64_t tried,
                nrpc_cpool_outcome *out)
{
	int i;
	while ((i = nrpc_lb_pick(p->st, p->n, tried, &p->cursor)) < 0) {
		if (p->stopping || !wait || !nrpc_lb_pending(p->st, p->n, tried)) {
			*out = CPOOL_NO_ENDPOINT;
			return -1;
		}
		if (!nrpc_cpool_wait_until(&p->ready_cv, &p->mu, deadline)) {
			*out = CPOOL_NO_TIME;
			return -1;
		}
	}
	return i;
}

nrpc_cpool_outcome nrpc_cpool_attempt(nrpc_cpool *p, nng_msg *msg, nng_time deadline, bool wait,
                                      uint64_t *tried, nng_msg **reply, int *rv)
{
	nrpc_cp_call call = {0};
	nng_aio *aio = NULL;
	nng_ctx ctx = NNG_CTX_INITIALIZER;
	bool ctx_open = false;
	nrpc_cpool_outcome out = CPOOL_ERROR;
	*reply = NULL;
	*rv = 0;

	pthread_mutex_lock(&p->mu);
	int i = pick(p, deadline, wait, *tried, &out);
	if (i < 0) {
		pthread_mutex_unlock(&p->mu);
		nng_msg_free(msg);
		return out;
	}
	nrpc_cp_ep *e = p->ep[i];
	*tried |= UINT64_C(1) << i;
	call.next = e->calls;
	e->calls = &call;
	e->inflight++;
	pthread_mutex_unlock(&p->mu);

	if ((*rv = nng_aio_alloc(&aio, NULL, NULL)) != 0 ||
	    (*rv = nng_ctx_open(&ctx, e->sock)) != 0)
		goto done;
	ctx_open = true;
	nng_time now = nng_clock();
	if (now >= deadline) {
		out = CPOOL_NO_TIME;
		goto done;
	}
	nng_aio_set_timeout(aio, (nng_duration)(deadline - now));
	pthread_mutex_lock(&p->mu);
	call.aio = aio;
	bool lost = call.lost;
	if (!lost) {
		nng_aio_set_msg(aio, msg);
		msg = NULL; // the context owns it now, unless the send fails
		nng_ctx_send(ctx, aio);
	}
	pthread_mutex_unlock(&p->mu);
	if (lost) {
		out = CPOOL_LOST_UNSENT;
		goto done;
	}
	nng_aio_wait(aio);
	if ((*rv = nng_aio_result(aio)) != 0) {
		msg = nng_aio_get_msg(aio); // a failed send hands the message back
		nng_aio_set_msg(aio, NULL);
		pthread_mutex_lock(&p->mu);
		lost = call.lost;
		pthread_mutex_unlock(&p->mu);
		out = lost ? CPOOL_LOST_UNSENT : *rv == NNG_ETIMEDOUT ? CPOOL_TIMEOUT : CPOOL_ERROR;
		goto done;
	}
	// Only now post the receive (nng 1.5.2 #1702).
	pthread_mutex_lock(&p->mu);
	now = nng_clock();
	lost = call.lost;
	if (!lost && now < deadline) {
		nng_aio_set_timeout(aio, (nng_duration)(deadline - now));
		nng_ctx_recv(ctx, aio);
	}
	pthread_mutex_unlock(&p->mu);
	if (lost || now >= deadline) {
		out = lost ? CPOOL_LOST_SENT : CPOOL_TIMEOUT;
		goto done;
	}
	nng_aio_wait(aio);
	if ((*rv = nng_aio_result(aio)) == 0) {
		*reply = nng_aio_get_msg(aio);
		nng_aio_set_msg(aio, NULL);
		out = CPOOL_REPLY;
		goto done;
	}
	// With resend off, nng 1.5.2 itself fails a receive whose connection
	// dropped with NNG_ECONNRESET; our abort (lost) covers the rest.
	pthread_mutex_lock(&p->mu);
	lost = call.lost || *rv == NNG_ECONNRESET;
	pthread_mutex_unlock(&p->mu);
	out = lost ? CPOOL_LOST_SENT : *rv == NNG_ETIMEDOUT ? CPOOL_TIMEOUT : CPOOL_ERROR;

done:
	pthread_mutex_lock(&p->mu);
	unlink_call(e, &call); // no abort can reach the aio after this
	// A lost connection takes the endpoint out at once, before nng reports
	// the pipe gone; a check on the next connection brings it back.
	if ((out == CPOOL_LOST_SENT || out == CPOOL_LOST_UNSENT) && e->slot >= 0 &&
	    p->st[e->slot] == LB_READY) {
		p->st[e->slot] = LB_DOWN;
		pthread_cond_broadcast(&p->ready_cv);
	}
	pthread_mutex_unlock(&p->mu);
	if (msg != NULL)
		nng_msg_free(msg);
	if (aio != NULL)
		nng_aio_free(aio);
	if (ctx_open)
		nng_ctx_close(ctx); // abandons the request; a late reply is dropped
	return out;
}
