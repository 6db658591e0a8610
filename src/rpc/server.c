// nrpc server: nng rep0 contexts, asynchronous and inline handlers run from
// nng's callback threads, and a fixed pool of worker threads for blocking
// handlers.
//
// Each rep0 context owns one slot (struct rctx) holding its aio and the call
// it is serving. The aio callback runs on nng's threads and never blocks: it
// decodes the envelope, then either answers at once (a bad envelope, an
// unknown method, an inline handler), starts an asynchronous handler, or
// queues the slot for a worker. An asynchronous handler (propertyd's property
// and event methods) returns at once and answers later, from any thread,
// with nrpc_call_finish*; until then the context stays with its call. A
// worker runs a blocking handler, which may block. Either way the reply is
// built and sent through the same context, and the send's callback posts the
// next receive. The workers' queue can never hold more than one entry per
// context, so it is bounded by the number of contexts.
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/nngclose.h"
#include "call.h"
#include "callers.h"
#include "envscan.h"
#include "nrpc/connlimit.h"
#include "nrpc/jwt.h"
#include "serve.h"
#include "sptcp.h"
#include "tls.h"
#include "tokcache.h"

#define CONTEXTS_PER_WORKER 4    // requests that may wait for a worker, per worker
#define MIN_CONTEXTS        64   // enough for inline calls (Health) at high concurrency
#define MAX_CONTEXTS        1024 // nng 1.5.2 costs CPU per context (#1663)
#define MAX_SERVICES        8
#define CLOSE_WATCHDOG_MS   2000  // nng_close can hang (#1543): give up after this
#define DRAIN_QUIET_MS      100   // a drain ends once no request arrived for this long
#define DRAIN_SLICE_MS      5     // how often a drain looks at its counters
#define DRAIN_GOAWAY_MS     1000  // longest a drain answers new arrivals UNAVAILABLE
#define NRPC_PROXY          1000u // prepare's outcome for a proxy: hand the bytes on

enum rctx_state { RCTX_IDLE, RCTX_RECV, RCTX_QUEUED, RCTX_ASYNC, RCTX_SEND, RCTX_DONE };

struct nrpc_method {
	char path[256]; // "/pkg.Service/Method"
	const ProtobufCMethodDescriptor *md;
	nrpc_handler handler;             // NULL with async_handler NULL: unimplemented
	nrpc_async_handler async_handler; // set: the method answers through nrpc_call_finish
	unsigned flags;
	void *arg;
};

struct service {
	const ProtobufCServiceDescriptor *desc;
	struct nrpc_method *methods; // desc->n_methods entries, in descriptor order
};

struct rctx {
	nrpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	_Atomic int state; // enum rctx_state; read by drain from another thread
	// Held while an aio operation is started and its state set, and by drain
	// while it cancels a receive: drain never cancels a send that started
	// between its look at the state and its cancel.
	pthread_mutex_t mu;
	struct nrpc_call call;
};

struct nrpc_server {
	nrpc_server_config cfg;
	uint8_t *secret;
	nng_socket sock;
	bool sock_open;
	bool started;
	struct service services[MAX_SERVICES];
	size_t nservices;
	void *adopted[MAX_SERVICES]; // nrpc_server_adopt: freed by nrpc_server_destroy
	size_t nadopted;

	struct rctx *slots;
	int nslots;

	pthread_mutex_t mtx;
	pthread_cond_t cv;                 // workers wait for work
	struct nrpc_call *q_head, *q_tail; // blocking calls waiting for a worker
	bool stopping;                     // workers exit
	// The hot path touches only these atomics: no lock is shared by all
	// requests (nng's callback threads contended on one under load).
	atomic_bool draining;      // new requests are answered UNAVAILABLE
	atomic_bool closing;       // no new receives at all
	_Atomic uint64_t arrivals; // requests received so far (drain waits for quiet)
	atomic_int inflight;       // received, not yet answered
	pthread_t *threads;
	int nthreads;
	nrpc_tokcache tokens;     // recently verified tokens
	nrpc_callers callers;     // per-caller in-flight counts
	size_t call_memory;       // per-call arena cap
	nrpc_arena_budget memory; // arena memory of all calls in flight
	nrpc_connlimit conns;     // connections of the listening socket
	nrpc_sptcp *tcp;          // the own transport, when it serves the URL
};

static void reply_and_send(struct nrpc_call *c, const ProtobufCMessage *out);
static void nng_deliver(struct nrpc_call *c, nng_msg *reply);
static void *worker_main(void *arg);
static void post_recv(struct rctx *r);
static void set_inflight(nrpc_server *s, int delta);

// ---- method table ----------------------------------------------------------------------

static const struct nrpc_method *find_method(const nrpc_server *s, const char *path)
{
	// "/pkg.Service/Method": split at the last '/'.
	if (path == NULL || path[0] != '/')
		return NULL;
	const char *slash = strrchr(path, '/');
	if (slash == path)
		return NULL;
	size_t svc_len = (size_t)(slash - path - 1);
	for (size_t i = 0; i < s->nservices; i++) {
		const struct service *sv = &s->services[i];
		if (strlen(sv->desc->name) != svc_len ||
		    memcmp(sv->desc->name, path + 1, svc_len) != 0)
			continue;
		const ProtobufCMethodDescriptor *md =
		    protobuf_c_service_descriptor_get_method_by_name(sv->desc, slash + 1);
		if (md == NULL)
			return NULL;
		return &sv->methods[md - sv->desc->methods];
	}
	return NULL;
}

int nrpc_server_add_service(nrpc_server *s, const ProtobufCServiceDescriptor *desc,
                            const nrpc_method_impl *impls, size_t n, void *arg)
{
	if (s->started || s->nservices == MAX_SERVICES)
		return NNG_ESTATE;
	struct nrpc_method *ms = calloc(desc->n_methods, sizeof(*ms));
	if (ms == NULL)
		return NNG_ENOMEM;
	for (unsigned i = 0; i < desc->n_methods; i++) {
		ms[i].md = &desc->methods[i];
		snprintf(ms[i].path, sizeof(ms[i].path), "/%s/%s", desc->name,
		         desc->methods[i].name);
		ms[i].arg = arg;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(impls[k].name, desc->methods[i].name) == 0) {
				ms[i].handler = impls[k].handler;
				ms[i].async_handler = impls[k].async_handler;
				ms[i].flags = impls[k].flags;
			}
		}
	}
	s->services[s->nservices].desc = desc;
	s->services[s->nservices].methods = ms;
	s->nservices++;
	return 0;
}

size_t nrpc_server_service_count(const nrpc_server *s)
{
	return s->nservices;
}

const ProtobufCServiceDescriptor *nrpc_server_service_at(const nrpc_server *s, size_t i)
{
	return i < s->nservices ? s->services[i].desc : NULL;
}

int nrpc_server_adopt(nrpc_server *s, void *mem)
{
	if (s->started || s->nadopted == MAX_SERVICES)
		return NNG_ESTATE;
	s->adopted[s->nadopted++] = mem;
	return 0;
}

// ---- dispatch --------------------------------------------------------------------------

// Authenticates the call from its "authorization" metadata. Returns 0 or the
// error code already set on the call.
static unsigned authenticate(nrpc_server *s, struct nrpc_call *c)
{
	// Open methods (Health) need no identity: no HMAC on their path.
	if (s->cfg.insecure_no_auth || (c->c_m->flags & NRPC_OPEN))
		return NRPC_OK;
	const char *h = nrpc_call_metadata(c, "authorization");
	if (h == NULL || h[0] == '\0')
		return nrpc_call_error(c, NRPC_UNAUTHENTICATED, "missing bearer token");
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return nrpc_call_error(c, NRPC_UNAUTHENTICATED,
		                       "authorization must be \"Bearer <token>\"");
	char sub[NRPC_JWT_MAX_SUB + 1], err[128];
	int64_t now = (int64_t)time(NULL), until;
	if (!nrpc_tokcache_get(&s->tokens, h + 7, now, sub, sizeof(sub))) {
		// Only a token that passed every check (the lifetime cap included)
		// enters the cache; a cached one can only have come closer to expiry.
		if (nrpc_jwt_verify_until(s->secret, s->cfg.auth_secret_len, h + 7, now,
		                          s->cfg.max_token_lifetime_s, sub, sizeof(sub), &until,
		                          err, sizeof(err)) != 0)
			return nrpc_call_error(c, NRPC_UNAUTHENTICATED, "invalid token: %s", err);
		nrpc_tokcache_put(&s->tokens, h + 7, sub, until);
	}
	c->c_subject = nrpc_call_strdup(c, sub);
	return NRPC_OK;
}

// The proxy's part of prepare: ids and deadline from the wire scan.
static unsigned proxy_prepare(struct nrpc_call *c, const nrpc_envscan *sc, const uint8_t *body,
                              size_t len)
{
	nrpc_call_take_ids_raw(c, sc->rid, sc->rid_len);
	uint64_t t = sc->timeout_ms ? sc->timeout_ms : NRPC_DEFAULT_TIMEOUT;
	if (t > NRPC_MAX_TIMEOUT)
		t = NRPC_MAX_TIMEOUT;
	c->c_deadline_us = c->c_start_us + (int64_t)t * 1000;
	size_t ml = sc->method_len < 255 ? sc->method_len : 255;
	char *m = nrpc_arena_alloc(&c->c_arena, ml + 1);
	if (ml > 0)
		memcpy(m, sc->method, ml);
	m[ml] = '\0';
	c->c_raw_method = m;
	(void)body;
	(void)len;
	return NRPC_PROXY;
}

static unsigned out_of_memory(struct nrpc_call *c)
{
	return nrpc_call_error(c, NRPC_RESOURCE_EXHAUSTED,
	                       "request needs more memory than allowed");
}

// Decodes and checks the request in r->call, in the contract's order
// (docs/contract.md section 2.6). Returns NRPC_OK when a handler must run,
// or the code of an answer already decided.
static unsigned prepare(nrpc_server *s, struct nrpc_call *c, const uint8_t *body, size_t len,
                        nrpc_envscan *scan)
{
	// 1. The envelope and its metadata limits, on the wire: nothing is
	// unpacked for a request beyond them (a refused request's id is echoed
	// from the bytes the scan located).
	nrpc_envscan sc;
	enum nrpc_envscan_result scanned = nrpc_envscan_request(
	    body, len, NRPC_MAX_METADATA, NRPC_MAX_META_KEY, NRPC_MAX_META_VALUE, &sc);
	*scan = sc;
	switch (scanned) {
	case ENVSCAN_OK:
		break;
	case ENVSCAN_MALFORMED:
		nrpc_call_take_ids_raw(c, NULL, 0);
		return nrpc_call_error(c, NRPC_INVALID_ARGUMENT,
		                       "request is not a valid rpc.v1.Request message");
	case ENVSCAN_TOO_MANY:
		nrpc_call_take_ids_raw(c, sc.rid, sc.rid_len);
		return nrpc_call_error(c, NRPC_INVALID_ARGUMENT,
		                       "too many metadata entries (%zu, at most %d)", sc.entries,
		                       NRPC_MAX_METADATA);
	case ENVSCAN_KEY_TOO_LONG:
		nrpc_call_take_ids_raw(c, sc.rid, sc.rid_len);
		return nrpc_call_error(c, NRPC_INVALID_ARGUMENT,
		                       "metadata key longer than %d bytes", NRPC_MAX_META_KEY);
	case ENVSCAN_VALUE_TOO_LONG:
		nrpc_call_take_ids_raw(c, sc.rid, sc.rid_len);
		return nrpc_call_error(c, NRPC_INVALID_ARGUMENT,
		                       "metadata value longer than %d bytes", NRPC_MAX_META_VALUE);
	}
	if (s->cfg.proxy != NULL)
		return proxy_prepare(c, &sc, body, len);
	c->c_req = rpc__v1__request__unpack(&c->c_arena.a_pb_bounded, len, body);
	if (c->c_req == NULL) {
		nrpc_call_take_ids_raw(c, sc.rid, sc.rid_len);
		if (c->c_arena.a_over)
			return out_of_memory(c);
		return nrpc_call_error(c, NRPC_INVALID_ARGUMENT,
		                       "request is not a valid rpc.v1.Request message");
	}
	nrpc_call_take_ids(c);
	uint32_t t = c->c_req->timeout_ms ? c->c_req->timeout_ms : NRPC_DEFAULT_TIMEOUT;
	if (t > NRPC_MAX_TIMEOUT)
		t = NRPC_MAX_TIMEOUT;
	c->c_deadline_us = c->c_start_us + (int64_t)t * 1000;

	// 2. The method.
	c->c_m = find_method(s, c->c_req->method);
	if (c->c_m == NULL)
		return nrpc_call_error(c, NRPC_UNIMPLEMENTED, "unknown method");
	if (c->c_m->handler == NULL && c->c_m->async_handler == NULL)
		return nrpc_call_error(c, NRPC_UNIMPLEMENTED, "method %s is not implemented",
		                       c->c_m->path);

	// 3. The token, whatever the payload holds; then the caller's share.
	unsigned code = authenticate(s, c);
	if (code != NRPC_OK)
		return code;
	if (c->c_subject != NULL && !(c->c_m->flags & NRPC_OPEN) &&
	    nrpc_callers_acquire(&s->callers, c->c_subject, &c->c_caller) == CALLERS_REFUSED)
		return nrpc_call_error(c, NRPC_RESOURCE_EXHAUSTED,
		                       "too many requests in flight for this caller (at most %u)",
		                       s->callers.limit);

	// 4. The payload.
	const ProtobufCMessageDescriptor *in = c->c_m->md->input;
	c->c_input = protobuf_c_message_unpack(in, &c->c_arena.a_pb_bounded, c->c_req->payload.len,
	                                       c->c_req->payload.data);
	if (c->c_input == NULL) {
		if (c->c_arena.a_over)
			return out_of_memory(c);
		return nrpc_call_error(c, NRPC_INVALID_ARGUMENT,
		                       "payload is not a valid %s message", in->name);
	}
	return NRPC_OK;
}

// The reply to a handler's outcome. A blocking handler that succeeded after
// the deadline is answered DEADLINE_EXCEEDED (its caller has given up). An
// asynchronous one is answered with what it did: it enforces its deadline
// itself where that matters, and a write it committed late must not be
// reported as failed (a retry would write it twice).
static void finish(struct nrpc_call *c, unsigned code, const ProtobufCMessage *out)
{
	c->c_code = code;
	if (code != NRPC_OK && c->c_message == NULL)
		nrpc_call_error(c, code, "%s", nrpc_code_name(code));
	if (code == NRPC_OK && c->c_m->async_handler == NULL && base_now_us() > c->c_deadline_us) {
		out = NULL;
		c->c_packed = NULL;
		code = nrpc_call_error(c, NRPC_DEADLINE_EXCEEDED, "deadline exceeded");
	}
	if (code == NRPC_OK && c->c_m->async_handler == NULL && c->c_arena.a_over) {
		// A blocking or inline handler went past the call's memory bounds
		// (its allocations are not refused; nothing it did is committed
		// elsewhere that an error would misreport).
		out = NULL;
		c->c_packed = NULL;
		code = out_of_memory(c);
	}
	if (code == NRPC_OK && out == NULL && c->c_packed == NULL)
		nrpc_call_error(c, NRPC_INTERNAL, "handler returned no message");
	reply_and_send(c, out);
}

// Runs the handler of a prepared call (any thread) and sends the reply; an
// asynchronous handler replies through nrpc_call_finish instead.
static void run_handler(struct nrpc_call *c)
{
	ProtobufCMessage *out = NULL;
	if (base_now_us() >= c->c_deadline_us) {
		nrpc_call_error(c, NRPC_DEADLINE_EXCEEDED, "deadline exceeded before the call ran");
		reply_and_send(c, NULL);
		return;
	}
	c->c_code = NRPC_OK;
	if (c->c_m->async_handler != NULL) {
		if (c->c_deliver == nng_deliver)
			atomic_store(&((struct rctx *)c->c_slot)->state, RCTX_ASYNC);
		c->c_m->async_handler(c, c->c_input, c->c_m->arg);
		return; // the slot may already be serving its next request
	}
	unsigned code = c->c_m->handler(c, c->c_input, &out, c->c_m->arg);
	finish(c, code, out);
}

void nrpc_call_finish_packed(nrpc_call *c, const uint8_t *payload, size_t len)
{
	c->c_packed = payload;
	c->c_packed_len = len;
	nrpc_call_finish(c, NRPC_OK, NULL);
}

int nrpc_call_loop(const nrpc_call *c)
{
	return c->c_loop;
}

void nrpc_call_finish(nrpc_call *c, nrpc_code code, const ProtobufCMessage *out)
{
	if (c->c_m == NULL) { // a proxied call: no method of ours, nothing to pack
		c->c_code = code;
		if (code == NRPC_OK)
			c->c_code =
			    nrpc_call_error(c, NRPC_INTERNAL, "proxy answered without a response");
		else if (c->c_message == NULL)
			nrpc_call_error(c, code, "%s", nrpc_code_name(code));
		reply_and_send(c, NULL);
		return;
	}
	finish(c, code, out);
}

void nrpc_call_finish_raw(nrpc_call *c, unsigned code, const uint8_t *response, size_t len)
{
	c->c_code = code;
	c->c_raw = response;
	c->c_raw_len = len;
	reply_and_send(c, NULL);
}

static void observe(nrpc_server *s, struct nrpc_call *c)
{
	if (s->cfg.observer == NULL)
		return;
	nrpc_call_summary sum = {
	    .method = c->c_m            ? c->c_m->path
	              : c->c_raw_method ? c->c_raw_method
	                                : "",
	    .known_method = c->c_m != NULL,
	    .code = c->c_code,
	    .message = c->c_code ? (c->c_message ? c->c_message : "") : "",
	    .duration_us = base_now_us() - c->c_start_us,
	    .request_id = nrpc_call_request_id(c),
	    .traceparent = c->c_traceparent,
	    .subject = c->c_subject,
	    .peer = c->c_peer,
	};
	s->cfg.observer(&sum, s->cfg.observer_arg);
}

static void reply_and_send(struct nrpc_call *c, const ProtobufCMessage *out)
{
	nrpc_server *s = c->c_server;
	nng_msg *reply = nrpc_call_build_reply(c, out);
	if (reply == NULL) {
		// No memory for the reply itself: answer with a bare INTERNAL.
		c->c_code = NRPC_INTERNAL;
		c->c_message = "out of memory";
		c->c_nviol = 0;
		reply = nrpc_call_build_reply(c, NULL);
	}
	observe(s, c);
	// The caller's share is given back before the reply leaves: a caller that
	// has its answer may send the next request at once and find room.
	nrpc_callers_release(&s->callers, c->c_caller);
	c->c_caller = NULL;
	nrpc_call_end(c);
	// reply NULL (still no memory): the request is dropped, the client's
	// deadline answers it.
	c->c_deliver(c, reply);
}

// The nng transport's delivery: the reply goes out on the slot's context.
static void nng_deliver(struct nrpc_call *c, nng_msg *reply)
{
	struct rctx *r = c->c_slot;
	if (reply == NULL) {
		set_inflight(r->srv, -1);
		post_recv(r);
		return;
	}
	pthread_mutex_lock(&r->mu);
	atomic_store(&r->state, RCTX_SEND); // drain must not cancel a send
	nng_aio_set_msg(r->aio, reply);
	nng_ctx_send(r->ctx, r->aio); // completes on an nng thread, never inline
	pthread_mutex_unlock(&r->mu);
}

static void enqueue(nrpc_server *s, struct nrpc_call *c)
{
	if (c->c_deliver == nng_deliver)
		atomic_store(&((struct rctx *)c->c_slot)->state, RCTX_QUEUED);
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

static void post_recv(struct rctx *r)
{
	pthread_mutex_lock(&r->mu);
	if (atomic_load(&r->srv->closing)) {
		atomic_store(&r->state, RCTX_DONE);
	} else {
		atomic_store(&r->state, RCTX_RECV);
		nng_ctx_recv(r->ctx, r->aio); // completes on an nng thread, never inline
	}
	pthread_mutex_unlock(&r->mu);
}

static void set_inflight(nrpc_server *s, int delta)
{
	atomic_fetch_add(&s->inflight, delta);
}

static void on_aio(void *arg)
{
	struct rctx *r = arg;
	nrpc_server *s = r->srv;
	int rv = nng_aio_result(r->aio);

	if (atomic_load(&r->state) == RCTX_SEND) {
		if (rv != 0) {
			// A failed send leaves the message with us.
			nng_msg *m = nng_aio_get_msg(r->aio);
			if (m)
				nng_msg_free(m);
		}
		set_inflight(s, -1);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			atomic_store(&r->state, RCTX_DONE);
			return;
		}
		post_recv(r);
		return;
	}

	// RCTX_RECV
	if (rv != 0) {
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			atomic_store(&r->state, RCTX_DONE);
			return;
		}
		post_recv(r);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(r->aio);
	nrpc_server_serve(s, &r->call, nng_msg_body(msg), nng_msg_len(msg));
	nng_msg_free(msg); // the request was copied into the call's arena
}

void nrpc_server_serve(nrpc_server *s, struct nrpc_call *c, const uint8_t *body, size_t len)
{
	atomic_fetch_add(&s->inflight, 1);
	atomic_fetch_add(&s->arrivals, 1);
	bool draining = atomic_load(&s->draining);
	nrpc_call_begin(c, base_now_us(), s->call_memory, &s->memory);
	nrpc_envscan sc;
	unsigned code = prepare(s, c, body, len, &sc);
	if (code == NRPC_PROXY && !draining) {
		nrpc_envelope env = {
		    .body = body,
		    .len = len,
		    .method = (const char *)sc.method,
		    .method_len = sc.method_len,
		    .timeout_ms = sc.timeout_ms > NRPC_MAX_TIMEOUT ? NRPC_MAX_TIMEOUT
		                                                   : (uint32_t)sc.timeout_ms,
		    .has_request_id = sc.rid != NULL && sc.rid_len == strlen(c->c_request_id) &&
		                      memcmp(sc.rid, c->c_request_id, sc.rid_len) == 0,
		    .has_idempotency_key = sc.has_idempotency,
		};
		c->c_code = NRPC_OK;
		s->cfg.proxy(c, &env, s->cfg.proxy_arg);
		return;
	}
	if (code == NRPC_PROXY)
		code = NRPC_OK; // draining: answered below
	if (code == NRPC_OK && draining) {
		// gRPC's GOAWAY: a request that arrives during a drain is told to go
		// elsewhere rather than left without an answer.
		code = nrpc_call_error(c, NRPC_UNAVAILABLE, "server is shutting down");
	}
	if (code != NRPC_OK) {
		reply_and_send(c, NULL);
		return;
	}
	if ((c->c_m->flags & NRPC_INLINE) || c->c_m->async_handler != NULL) {
		run_handler(c);
		return;
	}
	enqueue(s, c);
}

void nrpc_server_delivered(nrpc_server *s)
{
	set_inflight(s, -1);
}

bool nrpc_server_closing(const nrpc_server *s)
{
	return atomic_load(&((nrpc_server *)s)->closing);
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
		run_handler(c);
		pthread_mutex_lock(&s->mtx);
	}
	pthread_mutex_unlock(&s->mtx);
	return NULL;
}

// ---- life cycle ------------------------------------------------------------------------

int nrpc_server_create(nrpc_server **out, const nrpc_server_config *cfg, char *err, size_t errcap)
{
	if (cfg->workers <= 0 || cfg->url == NULL) {
		snprintf(err, errcap, "workers must be positive and url set");
		return NNG_EINVAL;
	}
	if (!cfg->insecure_no_auth && (cfg->auth_secret == NULL || cfg->auth_secret_len == 0)) {
		snprintf(err, errcap, "an auth secret is required unless insecure_no_auth is set");
		return NNG_EINVAL;
	}
	nrpc_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NNG_ENOMEM;
	s->cfg = *cfg;
	if (cfg->auth_secret_len > 0) {
		s->secret = malloc(cfg->auth_secret_len);
		if (s->secret == NULL) {
			free(s);
			return NNG_ENOMEM;
		}
		memcpy(s->secret, cfg->auth_secret, cfg->auth_secret_len);
		s->cfg.auth_secret = s->secret;
	}
	s->call_memory = cfg->max_call_memory ? cfg->max_call_memory : NRPC_MAX_CALL_MEMORY;
	s->memory.b_limit =
	    cfg->max_memory_in_flight ? cfg->max_memory_in_flight : NRPC_MAX_MEMORY_IN_FLIGHT;
	atomic_init(&s->memory.b_used, 0);
	if (nrpc_callers_init(&s->callers, cfg->max_inflight_per_caller) != 0) {
		free(s->secret);
		free(s);
		return NNG_ENOMEM;
	}
	pthread_mutex_init(&s->mtx, NULL);
	pthread_cond_init(&s->cv, NULL);
	nrpc_tokcache_init(&s->tokens);
	*out = s;
	return 0;
}

static int start_workers(nrpc_server *s, char *err, size_t errcap)
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

static int start_own_transport(nrpc_server *s, char *err, size_t errcap)
{
	int rv = start_workers(s, err, errcap);
	if (rv != 0)
		return rv;
	s->conns.limit = s->cfg.max_connections;
	int greet_ms =
	    s->cfg.greeting_timeout_ms > 0 ? s->cfg.greeting_timeout_ms : NRPC_GREETING_TIMEOUT_MS;
	if (nrpc_sptcp_start(&s->tcp, s, s->cfg.url, s->cfg.tls, s->cfg.loops, s->cfg.nloops,
	                     &s->conns, greet_ms, err, errcap) != 0)
		return NNG_EADDRINUSE;
	s->started = true;
	return 0;
}

int nrpc_server_start(nrpc_server *s, char *err, size_t errcap)
{
	int rv;
	if (s->cfg.nloops > 0 && !s->cfg.use_nng && nrpc_sptcp_serves(s->cfg.url))
		return start_own_transport(s, err, errcap);
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		snprintf(err, errcap, "cannot open rep0 socket: %s", nng_strerror(rv));
		return rv;
	}
	s->sock_open = true;
	// Before any listener starts: nng's default is unlimited (PITFALLS).
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
		struct rctx *r = &s->slots[i];
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
	if ((rv = start_workers(s, err, errcap)) != 0)
		return rv;
	s->started = true;
	for (int i = 0; i < s->nslots; i++)
		post_recv(&s->slots[i]);
	return 0;
}

uint64_t nrpc_server_greeting_timeouts(const nrpc_server *s)
{
	return atomic_load(&((nrpc_server *)s)->conns.timed_out);
}

void nrpc_server_connections(const nrpc_server *s, int *open, uint64_t *refused)
{
	nrpc_connlimit *cl = &((nrpc_server *)s)->conns;
	*open = atomic_load(&cl->open);
	*refused = atomic_load(&cl->refused);
}

int nrpc_server_inflight(const nrpc_server *s)
{
	return atomic_load(&((nrpc_server *)s)->inflight);
}

// Sleeps in small slices until nothing is in flight or `deadline_us` passes.
static void wait_idle(nrpc_server *s, int64_t deadline_us)
{
	while (atomic_load(&s->inflight) > 0 && base_now_us() < deadline_us)
		nanosleep(&(struct timespec){0, DRAIN_SLICE_MS * 1000000L}, NULL);
}

int nrpc_server_drain(nrpc_server *s, int drain_ms)
{
	if (atomic_exchange(&s->draining, true))
		return atomic_load(&s->inflight);
	int64_t deadline = base_now_us() + (int64_t)drain_ms * 1000;

	// Phase 1: requests already received finish, and requests still
	// arriving get UNAVAILABLE. (The listener stays open: closing it would
	// also close every connection, with the replies still owed on them.) It
	// ends when nothing is in flight and nothing arrived for DRAIN_QUIET_MS.
	// Callers that keep sending cannot hold the drain open: after
	// DRAIN_GOAWAY_MS of answering UNAVAILABLE it stops receiving anyway.
	int64_t goaway_end = base_now_us() + (int64_t)DRAIN_GOAWAY_MS * 1000;
	if (goaway_end > deadline)
		goaway_end = deadline;
	for (;;) {
		wait_idle(s, deadline);
		if (atomic_load(&s->inflight) > 0 || base_now_us() >= goaway_end)
			break;
		uint64_t seen = atomic_load(&s->arrivals);
		int64_t quiet_end = base_now_us() + DRAIN_QUIET_MS * 1000;
		while (atomic_load(&s->arrivals) == seen && base_now_us() < quiet_end &&
		       base_now_us() < goaway_end)
			nanosleep(&(struct timespec){0, DRAIN_SLICE_MS * 1000000L}, NULL);
		if (atomic_load(&s->arrivals) == seen && atomic_load(&s->inflight) == 0)
			break;
	}
	// Phase 2: stop receiving. A context that just received a request keeps
	// it and answers it.
	atomic_store(&s->closing, true);
	for (int i = 0; i < s->nslots; i++) {
		struct rctx *r = &s->slots[i];
		pthread_mutex_lock(&r->mu);
		if (r->aio && atomic_load(&r->state) == RCTX_RECV)
			nng_aio_cancel(r->aio);
		pthread_mutex_unlock(&r->mu);
	}
	wait_idle(s, deadline);
	int left = atomic_load(&s->inflight);
	pthread_mutex_lock(&s->mtx);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mtx);
	return left;
}

void nrpc_server_destroy(nrpc_server *s)
{
	if (s == NULL)
		return;
	if (s->started)
		nrpc_server_drain(s, 0);
	pthread_mutex_lock(&s->mtx);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mtx);
	// Stop every aio first (waits out a running callback), then the workers:
	// a worker finishing a handler sends through a stopped aio, which fails
	// at once and hands the message back.
	for (int i = 0; i < s->nslots; i++)
		if (s->slots[i].aio)
			nng_aio_stop(s->slots[i].aio);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	nrpc_sptcp_destroy(s->tcp);
	for (int i = 0; i < s->nslots; i++) {
		struct rctx *r = &s->slots[i];
		if (r->aio) {
			nng_msg *m = nng_aio_get_msg(r->aio);
			if (m && atomic_load(&r->state) == RCTX_SEND)
				nng_msg_free(m);
			// An asynchronous call whose owner stopped before finishing it
			// (its event loops are gone by now): only its memory is left.
			if (atomic_load(&r->state) == RCTX_ASYNC)
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
	for (size_t i = 0; i < s->nservices; i++)
		free(s->services[i].methods);
	for (size_t i = 0; i < s->nadopted; i++)
		free(s->adopted[i]);
	free(s->threads);
	free(s->slots);
	free(s->secret);
	pthread_mutex_destroy(&s->mtx);
	pthread_cond_destroy(&s->cv);
	nrpc_tokcache_fini(&s->tokens);
	nrpc_callers_fini(&s->callers);
	free(s);
}
