// nrpc server dispatch: the transport-independent path of one call, from the
// request's bytes to the reply handed to the transport's c_deliver.
//
// nrpc_server_serve counts the request in flight, checks the envelope on the
// wire (envscan.h), decodes it into the call's arena, finds the method,
// verifies the token (tokcache.h, jwt.h), takes the caller's share
// (callers.h) and unpacks the payload, in the contract's order. Then it either
// answers at once (a refused request, a drain, an inline handler), starts an
// asynchronous handler (which answers later with nrpc_call_finish*), queues the
// call for a worker (workers.c), or hands it to the proxy (proxy.c). Every
// request gets exactly one reply through reply_and_send.
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "nrpc/jwt.h"
#include "serve.h"
#include "server_int.h"

static void reply_and_send(struct nrpc_call *c, const ProtobufCMessage *out);

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
		return nrpc_server_proxy_prepare(c, &sc);
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
	c->c_m = nrpc_server_find_method(s, c->c_req->method);
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
	    nrpc_callers_acquire(&s->callers, c->c_subject, &c->c_caller, &c->c_pause_us) ==
	        CALLERS_REFUSED)
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
void nrpc_server_run_handler(struct nrpc_call *c)
{
	ProtobufCMessage *out = NULL;
	if (base_now_us() >= c->c_deadline_us) {
		nrpc_call_error(c, NRPC_DEADLINE_EXCEEDED, "deadline exceeded before the call ran");
		reply_and_send(c, NULL);
		return;
	}
	c->c_code = NRPC_OK;
	if (c->c_m->async_handler != NULL) {
		nrpc_server_nng_mark(c, NRPC_RCTX_ASYNC);
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

void nrpc_server_serve(nrpc_server *s, struct nrpc_call *c, const uint8_t *body, size_t len)
{
	atomic_fetch_add(&s->inflight, 1);
	atomic_fetch_add(&s->arrivals, 1);
	bool draining = atomic_load(&s->draining);
	nrpc_call_begin(c, base_now_us(), s->call_memory, &s->memory);
	nrpc_envscan sc;
	unsigned code = prepare(s, c, body, len, &sc);
	if (code == NRPC_PROXY && !draining) {
		nrpc_server_proxy_forward(s, c, body, len, &sc);
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
		nrpc_server_run_handler(c);
		return;
	}
	nrpc_server_workers_enqueue(s, c);
}

void nrpc_server_delivered(nrpc_server *s)
{
	atomic_fetch_add(&s->inflight, -1);
}

bool nrpc_server_closing(const nrpc_server *s)
{
	return atomic_load(&((nrpc_server *)s)->closing);
}
