// rpc client_pool prober: the pool's one background thread. Every tick (and
// at once on a new connection) it starts the health checks that are due,
// marks an endpoint not connected within the grace DOWN, closes retired
// endpoints no call uses, and re-resolves the dns+ names every refresh_ms.
// Nothing of this runs on a caller's thread.
#include "base/nngclose.h"
#include "client_pool_int.h"
#include "client_sock.h"

#include <pthread.h>
#include <stdlib.h>

// The prober wakes at least this often (and at once on a new connection).
#define PROBER_TICK_MS 100

// ---- DNS ----------------------------------------------------------------------------------

// Re-resolves origin o (prober thread): dials new addresses, retires vanished
// ones, revives retiring ones that came back. A failed answer changes nothing.
static void refresh_origin(nrpc_cpool *p, size_t o)
{
	char(*got)[LB_URL_MAX] = calloc(LB_MAX_ENDPOINTS, LB_URL_MAX);
	if (got == NULL)
		return;
	char err[256];
	int n =
	    p->resolve(&p->origins[o].t, got, LB_MAX_ENDPOINTS, err, sizeof err, p->resolve_arg);
	if (n > 0) {
		const char *gotp[LB_MAX_ENDPOINTS], *have[LB_MAX_ENDPOINTS];
		size_t slot[LB_MAX_ENDPOINTS] = {0}, nhave = 0;
		bool keep[LB_MAX_ENDPOINTS], add[LB_MAX_ENDPOINTS];
		for (int j = 0; j < n; j++)
			gotp[j] = got[j];
		pthread_mutex_lock(&p->mu);
		for (size_t i = 0; i < p->n; i++) {
			if (p->ep[i] != NULL && p->ep[i]->origin == o) {
				slot[nhave] = i;
				have[nhave++] = p->ep[i]->url;
			}
		}
		nrpc_lb_merge(have, nhave, gotp, (size_t)n, keep, add);
		for (size_t k = 0; k < nhave; k++) {
			nrpc_lb_state *s = &p->st[slot[k]];
			nrpc_cp_ep *e = p->ep[slot[k]];
			if (!keep[k] && *s != LB_RETIRING) {
				*s = LB_RETIRING;
			} else if (keep[k] && *s == LB_RETIRING) {
				*s = LB_CONNECTING; // came back: checked again before use
				e->next_probe = 0;
				e->since = nng_clock();
			}
		}
		pthread_mutex_unlock(&p->mu);
		for (int j = 0; j < n; j++)
			if (add[j] && nrpc_cpool_ep_add(p, got[j], o, err, sizeof err) != 0)
				break; // full, or out of memory: the next refresh tries again
	}
	free(got);
}

// ---- the prober thread --------------------------------------------------------------------

// Under p->mu: takes a RETIRING endpoint nobody uses out of its slot.
static nrpc_cp_ep *detach(nrpc_cpool *p, size_t i)
{
	nrpc_cp_ep *e = p->ep[i];
	p->ep[i] = NULL;
	p->st[i] = LB_EMPTY;
	e->slot = -1;
	e->probe_stopped = true;
	p->refs++; // released by nrpc_cpool_ep_closed
	return e;
}

void *nrpc_cpool_prober_main(void *arg)
{
	nrpc_cpool *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		nng_time now = nng_clock();
		nrpc_cp_ep *due[LB_MAX_ENDPOINTS], *gone[LB_MAX_ENDPOINTS];
		size_t ndue = 0, ngone = 0;
		for (size_t i = 0; i < p->n; i++) {
			nrpc_cp_ep *e = p->ep[i];
			if (e == NULL)
				continue;
			if (p->st[i] == LB_RETIRING) {
				if (e->inflight == 0 && !e->probing)
					gone[ngone++] = detach(p, i);
				continue;
			}
			if (e->pipe == 0) {
				if (p->st[i] == LB_CONNECTING &&
				    now - e->since >= CPOOL_CONNECT_GRACE_MS) {
					p->st[i] =
					    LB_DOWN; // the dial keeps going in the background
					pthread_cond_broadcast(&p->ready_cv);
				}
				continue;
			}
			if (!e->probing && now >= e->next_probe) {
				e->probing = true;
				e->probe_recv = false;
				e->probe_deadline = now + p->probe_timeout;
				due[ndue++] = e;
			}
		}
		bool refresh = p->any_dns && now >= p->next_refresh;
		if (refresh)
			p->next_refresh = now + p->refresh;
		pthread_mutex_unlock(&p->mu);

		for (size_t k = 0; k < ndue; k++)
			nrpc_cpool_probe_start(p, due[k]);
		for (size_t k = 0; k < ngone; k++) {
			nng_aio_free(gone[k]->probe_aio); // waits for its callback
			gone[k]->probe_aio = NULL;
			nng_ctx_close(gone[k]->probe_ctx); // frees the request it keeps
			base_nng_close_all(&gone[k]->sock, 1, CP_CLOSE_BUDGET_MS,
			                   nrpc_cpool_ep_closed, gone[k]);
		}
		for (size_t o = 0; refresh && o < p->norigins; o++)
			if (p->origins[o].dns)
				refresh_origin(p, o);

		pthread_mutex_lock(&p->mu);
		if (!p->stopping)
			nrpc_cpool_wait_until(&p->kick_cv, &p->mu, nng_clock() + PROBER_TICK_MS);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}
