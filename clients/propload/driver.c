// The load driver: see driver.h.
#include "driver.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "balance.h"
#include "nrpc/client.h"
#include "nrpc/retry.h"

// Largest reply accepted: a page of 100 listings is well under this.
#define RECV_MAX (16u * 1024 * 1024)
// How often the main thread wakes to check for a signal and draw progress.
#define TICK_NS 200000000ull
#define NS      1000000000ull

enum slot_state { ST_IDLE, ST_SEND, ST_RECV };

struct drv;

struct slot {
	struct drv *d;
	nng_ctx ctx; // one URL: the slot's context
	nng_aio *aio;
	enum slot_state state;
	uint64_t intended, sent;
	pl_op op;
	pl_rng rng;
	unsigned idx, shard;
	// Several URLs (balanced): a context per instance, on the slot's socket
	// of that instance; where the current call went and what it tried; a copy
	// of its request while it may still be sent again (nrpc_retry_safe).
	nng_ctx *ctxs;
	unsigned url;
	uint64_t tried;
	nng_msg *copy;
	// Balanced: the socket a send is posted on (-1: none), under mu, so that
	// a connection lost under a queued send aborts exactly that send.
	pthread_mutex_t mu;
	int sending_on;
};

// A socket of a balanced run: which instance it dials, whether it is connected.
struct sock_info {
	struct drv *d;
	unsigned url;
	atomic_int pipes;
};

struct shard {
	pthread_mutex_t mu;
	pl_stats st;
};

struct drv {
	const pl_driver_cfg *cfg;
	pl_workload *w;
	char **urls; // cfg->urls with dns+ names expanded (nrpc_urls_expand)
	size_t nurls;
	bool balanced;    // several instances: pick one per call (balance.h)
	unsigned per_url; // balanced: sockets per instance, socket u * per_url + j
	pl_balance *bal;  // balanced: instance health
	struct sock_info *si;
	atomic_uint rr;          // balanced: round robin position
	bool safe[PL_OP_COUNT];  // balanced: may an op lost in flight go elsewhere
	pthread_mutex_t pipe_mu; // balanced: pipe callbacks against slot teardown
	bool slots_live;         // under pipe_mu: slots may be aborted
	nng_socket *socks;
	unsigned nsock;
	struct slot *slots;
	unsigned nslots;
	struct shard shards[PL_SHARDS];
	unsigned nshards;
	bool open;
	uint64_t t_start, t_measure, t_end;
	atomic_uint_fast64_t issued;     // measured calls admitted (count mode)
	atomic_uint_fast64_t done, errs; // measured completions, for progress
	atomic_uint_fast64_t last_done;  // ns of the last measured completion
	atomic_uint_fast64_t max_lag;
	atomic_int stopping;

	pthread_mutex_t mu; // guards what follows
	pthread_cond_t cv;
	unsigned active; // closed: callers still running; open: calls in flight
	unsigned *freelist;
	unsigned nfree;
	uint64_t *backlog; // intended start times, a ring
	size_t bl_head, bl_len;
	bool dispatch_done;
	uint64_t backlog_max, unsent;
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * NS + (uint64_t)t.tv_nsec;
}

static void atomic_max(atomic_uint_fast64_t *a, uint64_t v)
{
	uint64_t cur = atomic_load(a);
	while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
		;
}

// Whether a call intended at `t` should be issued at all.
static bool admit(struct drv *d, uint64_t t)
{
	if (atomic_load(&d->stopping) || t >= d->t_end)
		return false;
	if (d->cfg->count && t >= d->t_measure && atomic_fetch_add(&d->issued, 1) >= d->cfg->count)
		return false;
	return true;
}

static void slot_next(struct slot *s);

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
	slot_next(s);
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

static void slot_cb(void *arg)
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
static void slot_next(struct slot *s)
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

static void *dispatcher(void *arg)
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

static int open_sockets(struct drv *d, char *err, size_t errcap)
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
static int open_balance(struct drv *d, char *err, size_t errcap)
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
static int wait_ready(struct drv *d, char *err, size_t errcap)
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

static int open_slots(struct drv *d, char *err, size_t errcap)
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
		if (rv != 0 || (rv = nng_aio_alloc(&s->aio, slot_cb, s)) != 0) {
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

static double cpu_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static bool finished(struct drv *d)
{
	if (!d->open)
		return d->active == 0;
	return d->dispatch_done && d->active == 0;
}

static void progress(struct drv *d, uint64_t now, uint64_t *prev_done, uint64_t *prev_t)
{
	uint64_t done = atomic_load(&d->done), errs = atomic_load(&d->errs);
	double dt = (double)(now - *prev_t) / 1e9;
	double rps = dt > 0 ? (double)(done - *prev_done) / dt : 0;
	const char *phase = now < d->t_measure ? "warm-up" : "run";
	fprintf(stderr, "\r\033[K[%6.1fs %s] %llu calls  %.0f rps  %llu errors  %u in flight",
	        (double)(now - d->t_start) / 1e9, phase, (unsigned long long)done, rps,
	        (unsigned long long)errs, d->active);
	fflush(stderr);
	*prev_done = done;
	*prev_t = now;
}

// Waits for the end of the run, watching for a stop signal and drawing progress.
static void wait_done(struct drv *d)
{
	uint64_t prev_done = 0, prev_t = now_ns(), next_draw = prev_t + NS;
	pthread_mutex_lock(&d->mu);
	while (!finished(d)) {
		uint64_t t = now_ns() + TICK_NS;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)TICK_NS;
		if (ts.tv_nsec >= (long)NS) {
			ts.tv_sec++;
			ts.tv_nsec -= (long)NS;
		}
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
		if (d->cfg->stop && *d->cfg->stop && !atomic_load(&d->stopping)) {
			atomic_store(&d->stopping, 1);
			d->bl_len = 0; // calls not yet started are dropped
		}
		if (d->cfg->progress && t >= next_draw) {
			pthread_mutex_unlock(&d->mu);
			progress(d, now_ns(), &prev_done, &prev_t);
			next_draw += NS;
			pthread_mutex_lock(&d->mu);
		}
	}
	pthread_mutex_unlock(&d->mu);
	if (d->cfg->progress)
		fprintf(stderr, "\r\033[K");
}

static void teardown(struct drv *d)
{
	pthread_mutex_lock(&d->pipe_mu);
	d->slots_live = false; // no pipe callback touches a slot from here on
	pthread_mutex_unlock(&d->pipe_mu);
	if (d->slots)
		for (unsigned i = 0; i < d->nslots; i++)
			if (d->slots[i].aio)
				nng_aio_free(d->slots[i].aio); // waits for a running callback
	for (unsigned i = 0; i < d->nsock; i++)
		nng_close(d->socks[i]); // also closes the contexts
	pl_balance_close(d->bal);       // after the sockets: their pipe callbacks use it
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

int pl_driver_run(const pl_driver_cfg *cfg, pl_workload *w, pl_run *out, char *err, size_t errcap)
{
	struct drv d = {.cfg = cfg, .w = w};
	int rc = -1;
	memset(out, 0, sizeof(*out));
	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.cv, NULL);
	pthread_mutex_init(&d.pipe_mu, NULL);
	if (cfg->nurls == 0 || cfg->conc == 0 || cfg->conc > PL_MAX_CALLERS ||
	    (cfg->duration_s <= 0 && cfg->count == 0) || cfg->timeout_ms == 0) {
		snprintf(err, errcap,
		         "bad driver settings (urls, 1..%u callers, duration or count, timeout)",
		         PL_MAX_CALLERS);
		goto done;
	}
	d.open = cfg->rate > 0;
	d.nslots = cfg->conc;
	if (open_balance(&d, err, errcap) != 0 || open_sockets(&d, err, errcap) != 0 ||
	    (d.balanced && wait_ready(&d, err, errcap) != 0))
		goto done;
	d.nshards = d.nsock < PL_SHARDS ? d.nsock : PL_SHARDS;
	for (unsigned i = 0; i < d.nshards; i++) {
		pthread_mutex_init(&d.shards[i].mu, NULL);
		if (pl_stats_init(&d.shards[i].st) != 0) {
			snprintf(err, errcap, "out of memory");
			d.nshards = i + 1;
			goto done;
		}
	}
	if (open_slots(&d, err, errcap) != 0 || pl_stats_init(&out->stats) != 0) {
		if (!err[0])
			snprintf(err, errcap, "out of memory");
		goto done;
	}

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	d.t_start = now_ns();
	d.t_measure = d.t_start + (uint64_t)(cfg->warmup_s * 1e9);
	d.t_end =
	    cfg->duration_s > 0 ? d.t_measure + (uint64_t)(cfg->duration_s * 1e9) : UINT64_MAX;
	pthread_t disp;
	if (d.open) {
		for (unsigned i = 0; i < d.nslots; i++)
			d.freelist[i] = d.nslots - 1 - i;
		d.nfree = d.nslots;
		if (pthread_create(&disp, NULL, dispatcher, &d) != 0) {
			snprintf(err, errcap, "cannot start the dispatcher thread");
			goto done;
		}
	} else {
		d.active = d.nslots;
		for (unsigned i = 0; i < d.nslots; i++)
			slot_next(&d.slots[i]);
	}
	wait_done(&d);
	if (d.open)
		pthread_join(disp, NULL);
	uint64_t t_fin = now_ns();
	getrusage(RUSAGE_SELF, &ru1);

	for (unsigned i = 0; i < d.nshards; i++)
		pl_stats_merge(&out->stats, &d.shards[i].st);
	uint64_t last = atomic_load(&d.last_done);
	out->elapsed_s = last > d.t_measure ? (double)(last - d.t_measure) / 1e9 : 0;
	out->wall_s = (double)(t_fin - d.t_start) / 1e9;
	out->cpu_user_s = cpu_s(&ru1.ru_utime) - cpu_s(&ru0.ru_utime);
	out->cpu_sys_s = cpu_s(&ru1.ru_stime) - cpu_s(&ru0.ru_stime);
	out->sockets = d.nsock;
	out->callers = d.nslots;
	out->max_lag_ns = atomic_load(&d.max_lag);
	out->backlog_max = d.backlog_max;
	out->unsent = d.unsent;
	out->interrupted = atomic_load(&d.stopping) != 0;
	rc = 0;
done:
	teardown(&d);
	if (rc != 0)
		pl_run_free(out);
	return rc;
}

void pl_run_free(pl_run *r)
{
	pl_stats_free(&r->stats);
}
