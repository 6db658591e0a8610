// nrpc server proxy mode (nrpc_server_config.proxy, used by propgate): a
// request that passed the envelope's wire checks is not decoded here; its id,
// deadline and method name come from the wire scan, and its bytes go to the
// proxy handler, which answers exactly once with nrpc_call_finish_raw (or
// nrpc_call_error + nrpc_call_finish). A drain answers UNAVAILABLE instead
// (dispatch.c).
#include <string.h>

#include "server_int.h"

// The proxy's part of prepare: ids and deadline from the wire scan.
unsigned nrpc_server_proxy_prepare(struct nrpc_call *c, const nrpc_envscan *sc)
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
	return NRPC_PROXY;
}

void nrpc_server_proxy_forward(nrpc_server *s, struct nrpc_call *c, const uint8_t *body, size_t len,
                               const nrpc_envscan *sc)
{
	nrpc_envelope env = {
	    .body = body,
	    .len = len,
	    .method = (const char *)sc->method,
	    .method_len = sc->method_len,
	    .timeout_ms =
	        sc->timeout_ms > NRPC_MAX_TIMEOUT ? NRPC_MAX_TIMEOUT : (uint32_t)sc->timeout_ms,
	    .has_request_id = sc->rid != NULL && sc->rid_len == strlen(c->c_request_id) &&
	                      memcmp(sc->rid, c->c_request_id, sc->rid_len) == 0,
	    .has_idempotency_key = sc->has_idempotency,
	};
	c->c_code = NRPC_OK;
	s->cfg.proxy(c, &env, s->cfg.proxy_arg);
}
