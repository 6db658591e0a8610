// Sockets, balancer and slots of the load driver: see driver_int.h.
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "balance.h"
#include "base/nngclose.h"
#include "driver_int.h"
#include "nrpc/client.h"
#include "nrpc/retry.h"

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	struct sock_info *si = arg;
	struct drv *d = si->d;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&si->pipes, 1);
		return;
	}
	if (ev != NNG_PIPE_EV_REM_POST)
		return;
	atomic_fetch_sub(&si->pipes, 1);
	pl_balance_down(d->bal, si->url); // until its next SERVING check
	// A send queued on this socket would wait for a new connection until its
	// timeout: abort it, so that it goes elsewhere (it was never sent). Calls
	// already sent are failed by nng itself (NNG_ECONNRESET, resend off).
	int me = (int)(si - d->si);
	pthread_mutex_lock(&d->pipe_mu);
	for (unsigned i = 0; d->slots_live && i < d->nslots; i++) {
		struct slot *s = &d->slots[i];
		pthread_mutex_lock(&s->mu);
		if (s->sending_on == me)
			nng_aio_abort(s->aio, NNG_ECONNRESET);
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_unlock(&d->pipe_mu);
}

// One URL, or several dialed round robin by socket (unbalanced): n sockets,
// socket i dials urls[i % nurls]. Balanced: per_url sockets per instance.
static unsigned socket_count(struct drv *d)
{
	const pl_driver_cfg *c = d->cfg;
	unsigned per16 = (d->nslots + PL_CALLERS_PER_SOCKET - 1) / PL_CALLERS_PER_SOCKET;
	if (d->balanced) {
		// Every caller may call every instance: per instance as many
		// sockets as one URL would get (--sockets N: N in all).
		unsigned per = c->sockets ? c->sockets / (unsigned)d->nurls : per16;
		d->per_url = per > 0 ? (per < d->nslots ? per : d->nslots) : 1;
		return d->per_url * (unsigned)d->nurls;
	}
	unsigned n = c->sockets;
	if (n == 0) {
		n = per16;
		if (n < d->nurls)
			n = (unsigned)d->nurls;
	}
	if (n > d->nslots && d->nslots >= d->nurls)
		n = d->nslots;
	return n;
}

int pl_drv_open_sockets(struct drv *d, char *err, size_t errcap)
{
	const pl_driver_cfg *c = d->cfg;
	unsigned n = socket_count(d);
	d->socks = calloc(n, sizeof(*d->socks));
	if (d->balanced)
		d->si = calloc(n, sizeof(*d->si));
	if (!d->socks || (d->balanced && !d->si)) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		int rv;
		unsigned u = d->balanced ? i / d->per_url : i % (unsigned)d->nurls;
		const char *url = d->urls[u];
		if ((rv = nng_req0_open(&d->socks[i])) != 0 ||
		    (rv = nng_socket_set_ms(d->socks[i], NNG_OPT_REQ_RESENDTIME,
		                            NNG_DURATION_INFINITE)) != 0 ||
		    (rv = nng_socket_set_size(d->socks[i], NNG_OPT_RECVMAXSZ, RECV_MAX)) != 0) {
			snprintf(err, errcap, "%s: %s", url, nng_strerror(rv));
			d->nsock = i + 1;
			return -1;
		}
		d->nsock = i + 1;
		if (d->balanced) {
			d->si[i].d = d;
			d->si[i].url = u;
			if ((rv = nng_pipe_notify(d->socks[i], NNG_PIPE_EV_ADD_POST, on_pipe,
			                          &d->si[i])) != 0 ||
			    (rv = nng_pipe_notify(d->socks[i], NNG_PIPE_EV_REM_POST, on_pipe,
			                          &d->si[i])) != 0) {
				snprintf(err, errcap, "%s: %s", url, nng_strerror(rv));
				return -1;
			}
		}
		// tls+tcp:// URLs get the TLS settings; the reason names the URL.
		if (nrpc_tls_dial(d->socks[i], url, c->tls, err, errcap) != 0)
			return -1;
	}
	return 0;
}

// Expands dns+ URLs (once, at start: a run's instances are fixed) and, with
// more than one instance, starts their health checks.
int pl_drv_open_balance(struct drv *d, char *err, size_t errcap)
{
	const pl_driver_cfg *c = d->cfg;
	if (nrpc_urls_expand(c->urls, c->nurls, &d->urls, &d->nurls, err, errcap) != 0)
		return -1;
	d->balanced = d->nurls > 1;
	if (!d->balanced)
		return 0;
	for (int op = 0; op < PL_OP_COUNT; op++) {
		const char *m = pl_workload_method(d->w, (pl_op)op);
		d->safe[op] = m != NULL && nrpc_retry_safe(m, strlen(m), false);
	}
	return pl_balance_open(&d->bal, (const char *const *)d->urls, d->nurls, c->tls, err,
	                       errcap);
}

// Balanced: before the clock starts, every instance's first health verdict,
// and the sockets of the healthy ones connected (each bounded by the timeout).
int pl_drv_wait_ready(struct drv *d, char *err, size_t errcap)
{
	size_t up = 0;
	for (size_t u = 0; u < d->nurls; u++)
		up += pl_balance_wait(d->bal, u, d->cfg->timeout_ms);
	if (up == 0) {
		snprintf(err, errcap, "no instance answered SERVING to a health check");
		return -1;
	}
	uint64_t end = now_ns() + (uint64_t)d->cfg->timeout_ms * 1000000u;
	for (unsigned i = 0; i < d->nsock && now_ns() < end; i++)
		while (pl_balance_up(d->bal, d->si[i].url) && atomic_load(&d->si[i].pipes) <= 0 &&
		       now_ns() < end)
			usleep(5000);
	return 0;
}

int pl_drv_open_slots(struct drv *d, char *err, size_t errcap)
{
	d->slots = calloc(d->nslots, sizeof(*d->slots));
	d->freelist = calloc(d->nslots, sizeof(*d->freelist));
	if (!d->slots || !d->freelist)
		goto oom;
	if (d->open && !(d->backlog = malloc(PL_BACKLOG_MAX * sizeof(*d->backlog))))
		goto oom;
	for (unsigned i = 0; i < d->nslots; i++) {
		struct slot *s = &d->slots[i];
		int rv = 0;
		s->d = d;
		s->sending_on = -1;
		pthread_mutex_init(&s->mu, NULL);
		s->idx = i;
		s->shard = (i % d->nsock) % d->nshards;
		pl_rng_seed(&s->rng, d->cfg->seed, i);
		if (d->balanced) {
			if (!(s->ctxs = calloc(d->nurls, sizeof(*s->ctxs))))
				goto oom;
			for (size_t u = 0; u < d->nurls && rv == 0; u++)
				rv = nng_ctx_open(&s->ctxs[u],
				                  d->socks[u * d->per_url + i % d->per_url]);
		} else {
			rv = nng_ctx_open(&s->ctx, d->socks[i % d->nsock]);
		}
		if (rv != 0 || (rv = nng_aio_alloc(&s->aio, pl_drv_slot_cb, s)) != 0) {
			snprintf(err, errcap, "nng: %s", nng_strerror(rv));
			return -1;
		}
	}
	pthread_mutex_lock(&d->pipe_mu);
	d->slots_live = true;
	pthread_mutex_unlock(&d->pipe_mu);
	return 0;
oom:
	snprintf(err, errcap, "out of memory");
	return -1;
}

void pl_drv_teardown(struct drv *d)
{
	pthread_mutex_lock(&d->pipe_mu);
	d->slots_live = false; // no pipe callback touches a slot from here on
	pthread_mutex_unlock(&d->pipe_mu);
	if (d->slots)
		for (unsigned i = 0; i < d->nslots; i++)
			if (d->slots[i].aio)
				nng_aio_free(d->slots[i].aio); // waits for a running callback
	// Pipe callbacks off before the close: a close that outlives its budget
	// (nng 1.5.2 can hang in one, docs/dependencies.md) is left to a helper
	// thread, and nothing of this driver may be called from it afterwards.
	for (unsigned i = 0; i < d->nsock; i++) {
		nng_pipe_notify(d->socks[i], NNG_PIPE_EV_ADD_POST, NULL, NULL);
		nng_pipe_notify(d->socks[i], NNG_PIPE_EV_REM_POST, NULL, NULL);
	}
	// Also closes the contexts.
	if (d->nsock > 0 &&
	    base_nng_close_all(d->socks, d->nsock, BASE_NNG_CLOSE_BUDGET_MS, NULL, NULL) != 0) {
		fprintf(stderr,
		        "propload: closing the connections did not end in %d ms; "
		        "left to finish in the background\n",
		        BASE_NNG_CLOSE_BUDGET_MS);
		d->si = NULL; // leaked: a callback begun before the reset may still hold it
	}
	pl_balance_close(d->bal); // after the sockets: their pipe callbacks use it
	free(d->si);
	nrpc_urls_free(d->urls, d->nurls);
	free(d->socks);
	if (d->slots)
		for (unsigned i = 0; i < d->nslots; i++) {
			free(d->slots[i].ctxs);
			if (d->slots[i].copy)
				nng_msg_free(d->slots[i].copy);
			if (d->slots[i].d != NULL)
				pthread_mutex_destroy(&d->slots[i].mu);
		}
	free(d->slots);
	free(d->freelist);
	free(d->backlog);
	for (unsigned i = 0; i < d->nshards; i++) {
		pl_stats_free(&d->shards[i].st);
		pthread_mutex_destroy(&d->shards[i].mu);
	}
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->pipe_mu);
}
