// The call loop of the load driver: see driver_int.h.
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
#include "driver_int.h"
#include "nrpc/client.h"
#include "nrpc/retry.h"

// Whether a call intended at `t` should be issued at all.
static bool admit(struct drv *d, uint64_t t)
{
	if (atomic_load(&d->stopping) || t >= d->t_end)
		return false;
	if (d->cfg->count && t >= d->t_measure && atomic_fetch_add(&d->issued, 1) >= d->cfg->count)
		return false;
	return true;
}

static void complete(struct slot *s, unsigned code, const char *msg)
{
	struct drv *d = s->d;
	uint64_t t1 = now_ns();
	if (s->copy != NULL) {
		nng_msg_free(s->copy);
		s->copy = NULL;
	}
	if (s->intended >= d->t_measure) {
		uint64_t lat = t1 > s->intended ? t1 - s->intended : 0;
		struct shard *sh = &d->shards[s->shard];
		pthread_mutex_lock(&sh->mu);
		pl_stats_record(&sh->st, s->op, code, lat, (t1 - d->t_measure) / NS,
		                code ? msg : NULL);
		pl_stats_record_start(&sh->st, s->op, (s->intended - d->t_measure) / NS,
		                      s->sent > s->intended ? s->sent - s->intended : 0);
		pthread_mutex_unlock(&sh->mu);
		atomic_fetch_add(&d->done, 1);
		if (code)
			atomic_fetch_add(&d->errs, 1);
		atomic_max(&d->last_done, t1);
	}
	s->state = ST_IDLE;
	pl_drv_slot_next(s);
}

// Balanced: round robin over the instances that are up, whose socket for
// this slot is connected, and that this call has not tried (counting only
// those, so that one down does not double its neighbour's share). -1: none.
static int pick_url(struct drv *d, const struct slot *s)
{
	unsigned ok[64], n = 0;
	for (unsigned u = 0; u < d->nurls; u++)
		if ((s->tried & (UINT64_C(1) << u)) == 0 && pl_balance_up(d->bal, u) &&
		    atomic_load(&d->si[u * d->per_url + s->idx % d->per_url].pipes) > 0)
			ok[n++] = u;
	return n > 0 ? (int)ok[atomic_fetch_add(&d->rr, 1) % n] : -1;
}

// Balanced: sends m (consumed) to the next instance with the time left, or
// completes the call with 14 when there is none.
static void send_balanced(struct slot *s, nng_msg *m)
{
	struct drv *d = s->d;
	uint64_t spent_ms = (now_ns() - s->sent) / 1000000u;
	int u = pick_url(d, s);
	if (u < 0 || spent_ms >= d->cfg->timeout_ms) {
		nng_msg_free(m);
		complete(s, u < 0 ? 14 : 4,
		         u < 0 ? (s->tried ? "client: instance lost, and no other healthy instance"
		                           : "client: no healthy instance")
		               : "client: timed out");
		return;
	}
	s->url = (unsigned)u;
	s->tried |= UINT64_C(1) << u;
	// Keep a copy while the call may be sent again after a lost instance.
	if (d->safe[s->op] && s->copy == NULL && nng_msg_dup(&s->copy, m) != 0)
		s->copy = NULL;
	s->state = ST_SEND;
	nng_aio_set_msg(s->aio, m);
	nng_aio_set_timeout(s->aio, (nng_duration)(d->cfg->timeout_ms - spent_ms));
	pthread_mutex_lock(&s->mu);
	s->sending_on = (int)(s->url * d->per_url + s->idx % d->per_url);
	nng_ctx_send(s->ctxs[u], s->aio);
	pthread_mutex_unlock(&s->mu);
}

static bool conn_lost(int rv)
{
	return rv == NNG_ECONNRESET || rv == NNG_ECONNSHUT || rv == NNG_ECONNREFUSED;
}

// Balanced: the call's instance went away. A request never sent goes to
// another instance; one sent goes again only when it is safe (its copy was
// kept); else 14. Returns false when the call was not balanced or not lost.
static bool lost_call(struct slot *s, int rv, nng_msg *unsent)
{
	struct drv *d = s->d;
	if (!d->balanced || !conn_lost(rv))
		return false;
	pl_balance_down(d->bal, s->url); // until its next SERVING check
	nng_msg *m = unsent;
	if (m == NULL) {
		m = s->copy;
		s->copy = NULL;
	}
	if (m == NULL) {
		complete(s, 14, "client: instance lost with the call in flight; not retried");
		return true;
	}
	send_balanced(s, m);
	return true;
}

static void start_call(struct slot *s, uint64_t intended)
{
	struct drv *d = s->d;
	nng_msg *m;
	s->intended = intended;
	s->sent = intended; // until it is sent (a call that fails to build started on time)
	if (pl_workload_next(d->w, &s->rng, &m, &s->op) != 0) {
		complete(s, 8, "client: out of memory building the request");
		return;
	}
	s->sent = now_ns();
	if (s->sent > intended)
		atomic_max(&d->max_lag, s->sent - intended);
	s->state = ST_SEND;
	if (d->balanced) {
		s->tried = 0;
		send_balanced(s, m);
		return;
	}
	nng_aio_set_msg(s->aio, m);
	nng_aio_set_timeout(s->aio, (nng_duration)d->cfg->timeout_ms);
	nng_ctx_send(s->ctx, s->aio);
}

static void on_reply(struct slot *s, nng_msg *m)
{
	Rpc__V1__Response *res = rpc__v1__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	if (!res) {
		complete(s, 2, "client: the reply is not an rpc.v1.Response");
		return;
	}
	pl_workload_reply(s->d->w, s->op, res);
	unsigned code = res->code;
	char msg[PL_ERR_MSG];
	snprintf(msg, sizeof msg, "%s", res->message ? res->message : "");
	rpc__v1__response__free_unpacked(res, NULL);
	complete(s, code, msg);
}

void pl_drv_slot_cb(void *arg)
{
	struct slot *s = arg;
	struct drv *d = s->d;
	int rv = nng_aio_result(s->aio);
	if (d->balanced) {
		pthread_mutex_lock(&s->mu);
		s->sending_on = -1;
		pthread_mutex_unlock(&s->mu);
	}
	char msg[PL_ERR_MSG];
	if (s->state == ST_SEND) {
		if (rv != 0) {
			nng_msg *m = nng_aio_get_msg(s->aio); // a failed send leaves it ours
			nng_aio_set_msg(s->aio, NULL);
			if (lost_call(s, rv, m))
				return;
			nng_msg_free(m);
			snprintf(msg, sizeof msg, "client: send: %s", nng_strerror(rv));
			complete(s, rv == NNG_ETIMEDOUT ? 4 : 14, msg);
			return;
		}
		// Only now post the receive (nng 1.5.2 #1702), bounded by what is left.
		uint64_t spent_ms = (now_ns() - s->sent) / 1000000u;
		uint64_t left = d->cfg->timeout_ms > spent_ms ? d->cfg->timeout_ms - spent_ms : 1;
		s->state = ST_RECV;
		nng_aio_set_timeout(s->aio, (nng_duration)left);
		nng_ctx_recv(d->balanced ? s->ctxs[s->url] : s->ctx, s->aio);
		return;
	}
	if (rv != 0) {
		if (lost_call(s, rv, NULL))
			return;
		snprintf(msg, sizeof msg, "client: %s",
		         rv == NNG_ETIMEDOUT ? "timed out" : nng_strerror(rv));
		complete(s, rv == NNG_ETIMEDOUT ? 4 : 14, msg);
		return;
	}
	nng_msg *m = nng_aio_get_msg(s->aio);
	nng_aio_set_msg(s->aio, NULL);
	on_reply(s, m);
}

// A caller is free: closed loop starts its next call now; open loop takes the
// oldest overdue call, or parks the caller.
void pl_drv_slot_next(struct slot *s)
{
	struct drv *d = s->d;
	if (!d->open) {
		uint64_t now = now_ns();
		if (admit(d, now)) {
			start_call(s, now);
			return;
		}
		pthread_mutex_lock(&d->mu);
		if (--d->active == 0)
			pthread_cond_broadcast(&d->cv);
		pthread_mutex_unlock(&d->mu);
		return;
	}
	pthread_mutex_lock(&d->mu);
	if (d->bl_len > 0 && now_ns() >= d->t_end) {
		// The run is over: calls still waiting for a free slot are not sent
		// after its end (against a dead server each would wait out its
		// timeout); they are counted as unsent.
		d->unsent += d->bl_len;
		d->bl_len = 0;
	}
	if (d->bl_len > 0 && !atomic_load(&d->stopping)) {
		uint64_t t = d->backlog[d->bl_head];
		d->bl_head = (d->bl_head + 1) % PL_BACKLOG_MAX;
		d->bl_len--;
		pthread_mutex_unlock(&d->mu);
		start_call(s, t);
		return;
	}
	d->freelist[d->nfree++] = s->idx;
	if (--d->active == 0)
		pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / NS), .tv_nsec = (long)(t % NS)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

void *pl_drv_dispatcher(void *arg)
{
	struct drv *d = arg;
	double interval = 1e9 / d->cfg->rate;
	for (uint64_t i = 0;; i++) {
		uint64_t t = d->t_start + (uint64_t)((double)i * interval);
		if (!admit(d, t))
			break;
		if (t > now_ns())
			sleep_until(t);
		if (atomic_load(&d->stopping))
			break;
		pthread_mutex_lock(&d->mu);
		if (d->nfree > 0) {
			struct slot *s = &d->slots[d->freelist[--d->nfree]];
			d->active++;
			pthread_mutex_unlock(&d->mu);
			start_call(s, t);
			continue;
		}
		if (d->bl_len < PL_BACKLOG_MAX) {
			d->backlog[(d->bl_head + d->bl_len) % PL_BACKLOG_MAX] = t;
			d->bl_len++;
			if (d->bl_len > d->backlog_max)
				d->backlog_max = d->bl_len;
		} else {
			d->unsent++;
		}
		pthread_mutex_unlock(&d->mu);
	}
	pthread_mutex_lock(&d->mu);
	d->dispatch_done = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return NULL;
}
