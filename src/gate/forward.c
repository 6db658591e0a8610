// gate forward: see forward.h.
#include "forward.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/ioloop.h"
#include "link.h"
#include "nrpc/retry.h"
#include "nrpc/status.h"
#include "wire.h"

#define FREE_FWDS_MAX 1024 // request states kept per loop for reuse

typedef struct gloop gloop;

typedef struct fwd {
	gloop *gl;
	nrpc_call *call;
	uint8_t *req; // the envelope without timeout_ms (call arena)
	size_t req_len;
	int64_t deadline_us;
	int64_t sent_us;
	bool safe; // may go to another backend after being sent
	bool timer_set;
	struct event timer;
	gate_link *link;
	uint32_t id;
	int b;                 // backend of the current send, -1: none
	uint64_t tried;        // backends sent to (bit per slot)
	base_ioloop_task task; // the hand-off of a request received through nng
	struct fwd *next_free;
} fwd;

struct gloop {
	gate_forward *g;
	base_ioloop *io;
	struct event_base *base;
	gate_link *links[GATE_MAX_BACKENDS];
	bool dirty[GATE_MAX_BACKENDS];
	struct event *flush_ev;
	unsigned rr;
	bool closing; // tearing down: failed calls are not sent again
	fwd *free;
	unsigned nfree;
};

struct gate_forward {
	gloop *loops;
	unsigned nloops;
	gate_backends *bs;
	_Atomic unsigned next_loop; // for requests that came through nng
	obs_counter *retries;
	obs_counter *no_backend;
	obs_counter *deadline;
};

static void on_reply(void *ctx, const uint8_t *body, size_t len);
static void on_fail(void *ctx, bool sent);
static void on_down(void *owner, bool was_up);

// ---- request states -------------------------------------------------------------------------

static fwd *fwd_get(gloop *gl)
{
	fwd *f = gl->free;
	if (f != NULL) {
		gl->free = f->next_free;
		gl->nfree--;
	} else {
		f = malloc(sizeof *f);
		if (f == NULL)
			return NULL;
	}
	memset(f, 0, sizeof *f);
	f->gl = gl;
	f->b = -1;
	return f;
}

static void fwd_put(gloop *gl, fwd *f)
{
	if (f->timer_set)
		event_del(&f->timer);
	if (gl->nfree >= FREE_FWDS_MAX) {
		free(f);
		return;
	}
	f->next_free = gl->free;
	gl->free = f;
	gl->nfree++;
}

// Answers with an error of the gateway's own and frees the state.
static void fail_call(fwd *f, nrpc_code code, const char *msg)
{
	nrpc_call *c = f->call;
	fwd_put(f->gl, f);
	nrpc_call_error(c, code, "%s", msg);
	nrpc_call_finish(c, code, NULL);
}

// ---- connections ----------------------------------------------------------------------------

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gloop *gl = arg;
	for (unsigned i = 0; i < GATE_MAX_BACKENDS; i++) {
		if (!gl->dirty[i])
			continue;
		gl->dirty[i] = false;
		if (gl->links[i] != NULL)
			gate_link_flush(gl->links[i]);
	}
}

// This loop's connection to backend i, opened when missing or dead.
static gate_link *link_for(gloop *gl, unsigned i)
{
	gate_link *l = gl->links[i];
	if (l != NULL && !gate_link_dead(l))
		return l;
	if (l != NULL) {
		gate_link_close(l);
		gl->links[i] = NULL;
	}
	gate_backend *b = gate_backends_at(gl->g->bs, i);
	gate_link_ops ops = {
	    .on_reply = on_reply, .on_fail = on_fail, .on_down = on_down, .owner = b};
	l = gate_link_open(gl->base, (const struct sockaddr *)&b->addr, b->alen,
	                   gate_backends_tls(gl->g->bs, b), &ops);
	gl->links[i] = l;
	return l;
}

static void on_down(void *owner, bool was_up)
{
	(void)was_up;
	gate_backend_down(owner);
}

// ---- sending --------------------------------------------------------------------------------

// The next backend to try: present, healthy, not tried yet; -1: none.
static int pick(gloop *gl, uint64_t tried)
{
	gate_backends *bs = gl->g->bs;
	unsigned n = gate_backends_count(bs);
	// First the healthy ones; when none is left, every present one (Envoy's
	// panic routing): health checks that all time out at once (a starved
	// host) must not turn live instances away. A dead one then fails at
	// connect, which is not a send, and the call moves on.
	for (int panic = 0; panic < 2; panic++) {
		for (unsigned k = 0; k < n; k++) {
			unsigned i = (gl->rr + k) % n;
			gate_backend *b = gate_backends_at(bs, i);
			if ((tried >> i) & 1 ||
			    !atomic_load_explicit(&b->present, memory_order_relaxed) ||
			    (!panic && !atomic_load_explicit(&b->up, memory_order_relaxed)))
				continue;
			gl->rr = i + 1;
			return (int)i;
		}
	}
	return -1;
}

static void send_next(fwd *f)
{
	gloop *gl = f->gl;
	for (;;) {
		int64_t now = base_now_us();
		int64_t left_ms = (f->deadline_us - now) / 1000;
		if (left_ms < 1) {
			obs_counter_add(gl->g->deadline, 1);
			fail_call(f, NRPC_DEADLINE_EXCEEDED,
			          "deadline exceeded before a backend could take the call");
			return;
		}
		int i = pick(gl, f->tried);
		if (i < 0) {
			obs_counter_add(gl->g->no_backend, 1);
			fail_call(f, NRPC_UNAVAILABLE,
			          f->tried
			              ? "the backends tried failed and no other backend is left"
			              : "no backend");
			return;
		}
		f->tried |= (uint64_t)1 << i;
		gate_link *l = link_for(gl, (unsigned)i);
		uint8_t tmo[GATE_TIMEOUT_FIELD_MAX];
		size_t tlen = gate_env_put_timeout(tmo, left_ms > UINT32_MAX ? UINT32_MAX
		                                                             : (uint32_t)left_ms);
		uint32_t id = l != NULL ? gate_link_send(l, f->req, f->req_len, tmo, tlen, f) : 0;
		if (id == 0) {
			if (l == NULL || gate_link_dead(l))
				gate_backend_down(gate_backends_at(gl->g->bs, (unsigned)i));
			continue; // full or refused at once: nothing was sent, try the next
		}
		f->link = l;
		f->id = id;
		f->b = i;
		f->sent_us = now;
		if (!gl->dirty[i]) {
			gl->dirty[i] = true;
			event_active(gl->flush_ev, EV_TIMEOUT, 0);
		}
		return;
	}
}

static void on_reply(void *ctx, const uint8_t *body, size_t len)
{
	fwd *f = ctx;
	gate_backend *b = gate_backends_at(f->gl->g->bs, (unsigned)f->b);
	int code = gate_resp_code(body, len);
	obs_counter_add(b->calls, 1);
	obs_histogram_observe(b->latency, (double)(base_now_us() - f->sent_us) / 1e6);
	nrpc_call *c = f->call;
	fwd_put(f->gl, f);
	if (code < 0) {
		obs_counter_add(b->errors, 1);
		nrpc_call_error(c, NRPC_INTERNAL, "backend %s sent a malformed reply", b->name);
		nrpc_call_finish(c, NRPC_INTERNAL, NULL);
		return;
	}
	if (code != 0)
		obs_counter_add(b->errors, 1);
	nrpc_call_finish_raw(c, (unsigned)code, body, len);
}

static void on_fail(void *ctx, bool sent)
{
	fwd *f = ctx;
	gate_backend *b = gate_backends_at(f->gl->g->bs, (unsigned)f->b);
	obs_counter_add(b->failed, 1);
	f->link = NULL;
	f->id = 0;
	if (f->gl->closing) {
		fail_call(f, NRPC_UNAVAILABLE, "gateway is shutting down");
		return;
	}
	if (sent && !f->safe) {
		char msg[160];
		snprintf(
		    msg, sizeof msg,
		    "backend %s failed with the call in flight; the call is not safe to repeat",
		    b->name);
		fail_call(f, NRPC_UNAVAILABLE, msg);
		return;
	}
	obs_counter_add(f->gl->g->retries, 1);
	send_next(f);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fwd *f = arg;
	f->timer_set = false; // a one-shot timer is no longer pending
	if (f->link != NULL)
		gate_link_cancel(f->link, f->id);
	obs_counter_add(f->gl->g->deadline, 1);
	fail_call(f, NRPC_DEADLINE_EXCEEDED, "deadline exceeded waiting for a backend");
}

// Starts forwarding on f's loop.
static void start(fwd *f)
{
	int64_t left = f->deadline_us - base_now_us();
	if (left < 1000) {
		fail_call(f, NRPC_DEADLINE_EXCEEDED, "deadline exceeded");
		return;
	}
	evtimer_assign(&f->timer, f->gl->base, on_deadline, f);
	struct timeval tv = {(time_t)(left / 1000000), (suseconds_t)(left % 1000000)};
	event_add(&f->timer, &tv);
	f->timer_set = true;
	send_next(f);
}

static void start_task(base_ioloop_task *t)
{
	start((fwd *)(void *)((char *)t - offsetof(fwd, task)));
}

void gate_forward_proxy(nrpc_call *call, const nrpc_envelope *env, void *arg)
{
	gate_forward *g = arg;
	int li = nrpc_call_loop(call);
	bool here = li >= 0 && (unsigned)li < g->nloops;
	gloop *gl =
	    here ? &g->loops[li] : &g->loops[atomic_fetch_add(&g->next_loop, 1) % g->nloops];
	fwd *f = here ? fwd_get(gl) : calloc(1, sizeof *f);
	if (f == NULL) {
		nrpc_call_error(call, NRPC_RESOURCE_EXHAUSTED, "gateway out of memory");
		nrpc_call_finish(call, NRPC_RESOURCE_EXHAUSTED, NULL);
		return;
	}
	f->gl = gl;
	f->b = -1;
	f->call = call;
	f->deadline_us = nrpc_call_deadline_us(call);
	f->safe = env->method != NULL &&
	          nrpc_retry_safe(env->method, env->method_len, env->has_idempotency_key);
	const char *rid = nrpc_call_request_id(call);
	size_t rlen = env->has_request_id ? 0 : strlen(rid);
	size_t extra = env->has_request_id ? 0 : gate_env_meta_size(12, rlen);
	f->req = nrpc_call_alloc(call, env->len + extra);
	f->req_len = gate_env_strip_timeout(env->body, env->len, f->req);
	if (!env->has_request_id)
		f->req_len += gate_env_put_meta(f->req + f->req_len, "x-request-id", 12, rid, rlen);
	if (here) {
		start(f);
		return;
	}
	f->task.fn = start_task;
	if (!base_ioloop_try_post(gl->io, &f->task)) {
		free(f);
		nrpc_call_error(call, NRPC_UNAVAILABLE, "gateway is shutting down");
		nrpc_call_finish(call, NRPC_UNAVAILABLE, NULL);
	}
}

// ---- life cycle -----------------------------------------------------------------------------

static void setup_loop(void *arg)
{
	gloop *gl = arg;
	gl->base = base_ioloop_base(gl->io);
	gl->flush_ev = event_new(gl->base, -1, 0, on_flush, gl);
}

static void teardown_loop(void *arg)
{
	gloop *gl = arg;
	gl->closing = true;
	for (unsigned i = 0; i < GATE_MAX_BACKENDS; i++) {
		gate_link_close(gl->links[i]); // pending calls fail (answered 14)
		gl->links[i] = NULL;
	}
	if (gl->flush_ev != NULL)
		event_free(gl->flush_ev);
	gl->flush_ev = NULL;
	while (gl->free != NULL) {
		fwd *f = gl->free;
		gl->free = f->next_free;
		free(f);
	}
	gl->nfree = 0;
}

int gate_forward_create(gate_forward **out, base_ioloop *const *loops, unsigned nloops,
                        gate_backends *bs, obs_registry *reg, char *err, size_t errcap)
{
	*out = NULL;
	gate_forward *g = calloc(1, sizeof *g);
	gloop *gls = calloc(nloops, sizeof *gls);
	if (g == NULL || gls == NULL || nloops == 0) {
		free(g);
		free(gls);
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	g->loops = gls;
	g->nloops = nloops;
	g->bs = bs;
	g->retries =
	    obs_counter_get(reg, "propgate_retries_total",
	                    "Calls sent again to another backend after a connection failed.", NULL);
	g->no_backend =
	    obs_counter_get(reg, "propgate_no_backend_total",
	                    "Calls answered 14 because no backend was left to try.", NULL);
	g->deadline =
	    obs_counter_get(reg, "propgate_deadline_exceeded_total",
	                    "Calls answered 4 by the gateway's own deadline timer.", NULL);
	for (unsigned i = 0; i < nloops; i++) {
		gls[i].g = g;
		gls[i].io = loops[i];
		base_ioloop_call(loops[i], setup_loop, &gls[i]);
		if (gls[i].flush_ev == NULL) {
			snprintf(err, errcap, "cannot register on the event loops");
			gate_forward_destroy(g);
			return -1;
		}
	}
	*out = g;
	return 0;
}

void gate_forward_destroy(gate_forward *g)
{
	if (g == NULL)
		return;
	for (unsigned i = 0; i < g->nloops; i++)
		if (g->loops[i].io != NULL)
			base_ioloop_call(g->loops[i].io, teardown_loop, &g->loops[i]);
	free(g->loops);
	free(g);
}
