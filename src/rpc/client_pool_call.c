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

// One attempt in progress: its endpoint, the call linked into the endpoint's list, and the
// nng objects it holds until finish_attempt.
typedef struct attempt {
	nrpc_cpool *p;
	nrpc_cp_ep *e;
	nrpc_cp_call call; // in e->calls while the attempt runs
	nng_aio *aio;
	nng_ctx ctx;
	bool ctx_open;
	nng_msg *msg; // the request while it is ours: not sent yet, or handed back
	nng_time deadline;
	int *rv;
} attempt;

// Whether a lost connection aborted the call (takes p->mu).
static bool call_lost(attempt *a)
{
	pthread_mutex_lock(&a->p->mu);
	bool lost = a->call.lost;
	pthread_mutex_unlock(&a->p->mu);
	return lost;
}

// The next READY endpoint outside *tried (marked tried), with the call linked into its
// list; false with *out set when there is none.
static bool claim_endpoint(attempt *a, bool wait, uint64_t *tried, nrpc_cpool_outcome *out)
{
	nrpc_cpool *p = a->p;
	pthread_mutex_lock(&p->mu);
	int i = pick(p, a->deadline, wait, *tried, out);
	if (i < 0) {
		pthread_mutex_unlock(&p->mu);
		return false;
	}
	a->e = p->ep[i];
	*tried |= UINT64_C(1) << i;
	a->call.next = a->e->calls;
	a->e->calls = &a->call;
	a->e->inflight++;
	pthread_mutex_unlock(&p->mu);
	return true;
}

// Sends the request on a new context of the endpoint; true once it went out, else false
// with *out set.
static bool send_request(attempt *a, nrpc_cpool_outcome *out)
{
	nrpc_cpool *p = a->p;
	if ((*a->rv = nng_aio_alloc(&a->aio, NULL, NULL)) != 0 ||
	    (*a->rv = nng_ctx_open(&a->ctx, a->e->sock)) != 0) {
		*out = CPOOL_ERROR;
		return false;
	}
	a->ctx_open = true;
	nng_time now = nng_clock();
	if (now >= a->deadline) {
		*out = CPOOL_NO_TIME;
		return false;
	}
	nng_aio_set_timeout(a->aio, (nng_duration)(a->deadline - now));
	pthread_mutex_lock(&p->mu);
	a->call.aio = a->aio;
	bool lost = a->call.lost;
	if (!lost) {
		nng_aio_set_msg(a->aio, a->msg);
		a->msg = NULL; // the context owns it now, unless the send fails
		nng_ctx_send(a->ctx, a->aio);
	}
	pthread_mutex_unlock(&p->mu);
	if (lost) {
		*out = CPOOL_LOST_UNSENT;
		return false;
	}
	nng_aio_wait(a->aio);
	if ((*a->rv = nng_aio_result(a->aio)) != 0) {
		a->msg = nng_aio_get_msg(a->aio); // a failed send hands the message back
		nng_aio_set_msg(a->aio, NULL);
		lost = call_lost(a);
		*out = lost                      ? CPOOL_LOST_UNSENT
		       : *a->rv == NNG_ETIMEDOUT ? CPOOL_TIMEOUT
		                                 : CPOOL_ERROR;
		return false;
	}
	return true;
}

// After the send: posts the receive and waits for the reply; how the attempt ended.
static nrpc_cpool_outcome receive_reply(attempt *a, nng_msg **reply)
{
	nrpc_cpool *p = a->p;
	// Only now post the receive (nng 1.5.2 #1702).
	pthread_mutex_lock(&p->mu);
	nng_time now = nng_clock();
	bool lost = a->call.lost;
	if (!lost && now < a->deadline) {
		nng_aio_set_timeout(a->aio, (nng_duration)(a->deadline - now));
		nng_ctx_recv(a->ctx, a->aio);
	}
	pthread_mutex_unlock(&p->mu);
	if (lost || now >= a->deadline)
		return lost ? CPOOL_LOST_SENT : CPOOL_TIMEOUT;
	nng_aio_wait(a->aio);
	if ((*a->rv = nng_aio_result(a->aio)) == 0) {
		*reply = nng_aio_get_msg(a->aio);
		nng_aio_set_msg(a->aio, NULL);
		return CPOOL_REPLY;
	}
	// With resend off, nng 1.5.2 itself fails a receive whose connection
	// dropped with NNG_ECONNRESET; our abort (lost) covers the rest.
	lost = call_lost(a) || *a->rv == NNG_ECONNRESET;
	return lost ? CPOOL_LOST_SENT : *a->rv == NNG_ETIMEDOUT ? CPOOL_TIMEOUT : CPOOL_ERROR;
}

// Unlinks the call, takes the endpoint out when its connection was lost, and frees what
// the attempt still holds.
static void finish_attempt(attempt *a, nrpc_cpool_outcome out)
{
	nrpc_cpool *p = a->p;
	nrpc_cp_ep *e = a->e;
	pthread_mutex_lock(&p->mu);
	unlink_call(e, &a->call); // no abort can reach the aio after this
	// A lost connection takes the endpoint out at once, before nng reports
	// the pipe gone; a check on the next connection brings it back.
	if ((out == CPOOL_LOST_SENT || out == CPOOL_LOST_UNSENT) && e->slot >= 0 &&
	    p->st[e->slot] == LB_READY) {
		p->st[e->slot] = LB_DOWN;
		pthread_cond_broadcast(&p->ready_cv);
	}
	pthread_mutex_unlock(&p->mu);
	if (a->msg != NULL)
		nng_msg_free(a->msg);
	if (a->aio != NULL)
		nng_aio_free(a->aio);
	if (a->ctx_open)
		nng_ctx_close(a->ctx); // abandons the request; a late reply is dropped
}

nrpc_cpool_outcome nrpc_cpool_attempt(nrpc_cpool *p, nng_msg *msg, nng_time deadline, bool wait,
                                      uint64_t *tried, nng_msg **reply, int *rv)
{
	attempt a = {
	    .p = p, .ctx = NNG_CTX_INITIALIZER, .msg = msg, .deadline = deadline, .rv = rv};
	nrpc_cpool_outcome out = CPOOL_ERROR;
	*reply = NULL;
	*rv = 0;
	if (!claim_endpoint(&a, wait, tried, &out)) {
		nng_msg_free(msg);
		return out;
	}
	if (send_request(&a, &out))
		out = receive_reply(&a, reply);
	finish_attempt(&a, out);
	return out;
}
