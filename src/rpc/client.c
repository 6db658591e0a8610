// nrpc client: rpc.v1.Request/Response calls over nng req0.
//
// One URL (not dns+): one req0 socket, as it always was. Several URLs, or a
// dns+ URL: an endpoint set (client_pool.h) with a socket per instance, health
// checks and round robin; this file adds the retry rule on top (pool_call).
//
// Each call runs on the caller's thread: open a context, send, wait for the
// send, then (only then, nng 1.5.2 #1702) receive with the time left, unpack
// the envelope and copy it into a caller-owned nrpc_result. Nothing of nng
// outlives a call: its message, aio and context are freed before it returns,
// so nrpc_client_close() never races a call's aio; and the close itself is
// bounded by a watchdog, because nng_close can still hang (nng 1.5.2 #1543).
#include "nrpc/client.h"
#include "base/nngclose.h"
#include "client_pool.h"
#include "client_sock.h"
#include "tls.h"

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/v1/rpc.pb-c.h"

#define CLIENT_DEFAULT_TIMEOUT_MS 5000u   // timeout_ms = 0, as the server's default
#define CLIENT_MAX_TIMEOUT_MS     300000u // the server clamps longer deadlines to this anyway

struct nrpc_client {
	nng_socket sock;  // one URL
	nrpc_cpool *pool; // several URLs or a dns+ URL (then sock is unused)
};

static void set_err(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errcap, const char *fmt, ...)
{
	if (err == NULL || errcap == 0) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
}

int nrpc_client_open(nrpc_client **out, const char *const *urls, size_t n, char *err, size_t errcap)
{
	return nrpc_client_open_tls(out, urls, n, NULL, err, errcap);
}

int nrpc_client_open_tls(nrpc_client **out, const char *const *urls, size_t n, const nrpc_tls *tls,
                         char *err, size_t errcap)
{
	int rv;
	char scratch[1];
	if (err == NULL || errcap == 0) {
		err = scratch;
		errcap = sizeof scratch;
	}
	*out = NULL;
	if (urls == NULL || n == 0) {
		set_err(err, errcap, "no server URL given");
		return NNG_EINVAL;
	}
	if (urls[0] == NULL) {
		set_err(err, errcap, "server URL 0 is missing");
		return NNG_EINVAL;
	}
	nrpc_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		set_err(err, errcap, "out of memory");
		return NNG_ENOMEM;
	}
	if (nrpc_cpool_wanted(urls, n)) {
		nrpc_cpool_config cfg = {.urls = urls, .n = n, .tls = tls};
		if ((rv = nrpc_cpool_open(&c->pool, &cfg, err, errcap)) != 0) {
			free(c);
			return rv;
		}
		*out = c;
		return 0;
	}
	if ((rv = nrpc_cp_socket_open(&c->sock, err, errcap)) != 0) {
		free(c);
		return rv;
	}
	// Non-blocking: an instance that is down now is redialed in the
	// background, and calls wait for it (up to their deadline).
	if ((rv = nrpc_tls_dial(c->sock, urls[0], tls, err, errcap)) != 0) {
		nng_close(c->sock);
		free(c);
		return rv;
	}
	*out = c;
	return 0;
}

void nrpc_client_close(nrpc_client *c)
{
	if (c == NULL) {
		return;
	}
	if (c->pool != NULL) {
		nrpc_cpool_close(c->pool);
	} else {
		base_nng_close_all(&c->sock, 1, CP_CLOSE_BUDGET_MS, NULL, NULL);
	}
	free(c);
}

// ---- results ----------------------------------------------------------------------------

void nrpc_result_free(nrpc_result *res)
{
	if (res == NULL) {
		return;
	}
	free(res->message);
	free(res->payload);
	for (size_t i = 0; i < res->n_violations; i++) {
		free(res->violation_fields[i]);
		free(res->violation_descriptions[i]);
	}
	free(res->violation_fields);
	free(res->violation_descriptions);
	for (size_t i = 0; i < res->n_metadata; i++) {
		free(res->metadata_keys[i]);
		free(res->metadata_values[i]);
	}
	free(res->metadata_keys);
	free(res->metadata_values);
	memset(res, 0, sizeof(*res));
}

const char *nrpc_result_metadata(const nrpc_result *res, const char *key)
{
	if (res == NULL || key == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < res->n_metadata; i++) {
		if (strcmp(res->metadata_keys[i], key) == 0) {
			return res->metadata_values[i];
		}
	}
	return NULL;
}

static char *dup_str(const char *s)
{
	return strdup(s != NULL ? s : "");
}

// Sets a locally decided outcome (no reply, or a reply we could not use).
// Returns 0, or -1 when even the message cannot be allocated.
static int set_status(nrpc_result *res, nrpc_code code, bool transport, const char *msg)
{
	free(res->message);
	res->code = code;
	res->transport_error = transport;
	res->message = strdup(msg);
	return res->message != NULL ? 0 : -1;
}

// Copies a decoded envelope into res. Returns 0 or -1 (out of memory).
static int copy_response(const Rpc__V1__Response *rsp, nrpc_result *res)
{
	res->code = rsp->code;
	res->transport_error = false;
	if ((res->message = dup_str(rsp->message)) == NULL) {
		return -1;
	}
	if (rsp->code == NRPC_OK && rsp->payload.len > 0) {
		if ((res->payload = malloc(rsp->payload.len)) == NULL) {
			return -1;
		}
		memcpy(res->payload, rsp->payload.data, rsp->payload.len);
		res->payload_len = rsp->payload.len;
	}
	if (rsp->n_violations > 0) {
		res->violation_fields = calloc(rsp->n_violations, sizeof(char *));
		res->violation_descriptions = calloc(rsp->n_violations, sizeof(char *));
		if (res->violation_fields == NULL || res->violation_descriptions == NULL) {
			return -1;
		}
		for (size_t i = 0; i < rsp->n_violations; i++) {
			res->n_violations = i + 1; // freeable from here on
			res->violation_fields[i] = dup_str(rsp->violations[i]->field);
			res->violation_descriptions[i] = dup_str(rsp->violations[i]->description);
			if (res->violation_fields[i] == NULL ||
			    res->violation_descriptions[i] == NULL) {
				return -1;
			}
		}
	}
	if (rsp->n_metadata > 0) {
		res->metadata_keys = calloc(rsp->n_metadata, sizeof(char *));
		res->metadata_values = calloc(rsp->n_metadata, sizeof(char *));
		if (res->metadata_keys == NULL || res->metadata_values == NULL) {
			return -1;
		}
		for (size_t i = 0; i < rsp->n_metadata; i++) {
			res->n_metadata = i + 1;
			res->metadata_keys[i] = dup_str(rsp->metadata[i]->key);
			res->metadata_values[i] = dup_str(rsp->metadata[i]->value);
			if (res->metadata_keys[i] == NULL || res->metadata_values[i] == NULL) {
				return -1;
			}
		}
	}
	return 0;
}

// ---- the call ---------------------------------------------------------------------------

// Packs the envelope into a new nng message; NULL on allocation failure.
static nng_msg *pack_request(const char *method, const uint8_t *payload, size_t len,
                             const nrpc_meta *md, size_t n_md, uint32_t timeout_ms)
{
	Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
	Rpc__V1__Request__MetadataEntry *entries = NULL;
	Rpc__V1__Request__MetadataEntry **ptrs = NULL;
	nng_msg *msg = NULL;

	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = payload != NULL ? len : 0;
	req.timeout_ms = timeout_ms;
	if (n_md > 0) {
		entries = calloc(n_md, sizeof(*entries));
		ptrs = calloc(n_md, sizeof(*ptrs));
		if (entries == NULL || ptrs == NULL) {
			goto out;
		}
		for (size_t i = 0; i < n_md; i++) {
			Rpc__V1__Request__MetadataEntry init =
			    RPC__V1__REQUEST__METADATA_ENTRY__INIT;
			entries[i] = init;
			entries[i].key = (char *)(md[i].key != NULL ? md[i].key : "");
			entries[i].value = (char *)(md[i].value != NULL ? md[i].value : "");
			ptrs[i] = &entries[i];
		}
		req.n_metadata = n_md;
		req.metadata = ptrs;
	}
	size_t size = rpc__v1__request__get_packed_size(&req);
	if (nng_msg_alloc(&msg, size) != 0) {
		msg = NULL;
		goto out;
	}
	rpc__v1__request__pack(&req, nng_msg_body(msg));

out:
	free(entries);
	free(ptrs);
	return msg;
}

// The transport outcome of a failed send or receive.
static int transport_failure(nrpc_result *res, int rv, bool sending)
{
	switch (rv) {
	case NNG_ETIMEDOUT:
		return set_status(res, NRPC_DEADLINE_EXCEEDED, true,
		                  sending ? "deadline exceeded sending request"
		                          : "deadline exceeded waiting for reply");
	case NNG_ECLOSED:
		return set_status(res, NRPC_UNAVAILABLE, true, "client closed");
	case NNG_ENOMEM:
		return -1;
	default: {
		char buf[128];
		snprintf(buf, sizeof(buf), "%s: %s", sending ? "send failed" : "receive failed",
		         nng_strerror(rv));
		return set_status(res, NRPC_UNAVAILABLE, true, buf);
	}
	}
}

// Decodes the reply envelope into res; frees msg.
static int take_reply(nng_msg *msg, nrpc_result *res)
{
	Rpc__V1__Response *rsp =
	    rpc__v1__response__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	if (rsp == NULL) {
		return set_status(res, NRPC_INTERNAL, false, "undecodable reply from server");
	}
	int rc = copy_response(rsp, res);
	rpc__v1__response__free_unpacked(rsp, NULL);
	return rc;
}

// A call through the endpoint set: the first attempt waits (up to the
// deadline) for a healthy instance while some have no verdict yet. When the
// instance dies under an attempt, the call goes to another healthy one not
// tried yet, as long as the deadline allows and the rule of nrpc/retry.h does:
// always when the request was never sent, else only for calls safe to repeat.
// Otherwise 14 UNAVAILABLE (transport_error: the outcome is unknown).
static int pool_call(nrpc_cpool *pool, const char *method, const uint8_t *payload, size_t len,
                     const nrpc_meta *md, size_t n_md, nng_time deadline, nrpc_result *res)
{
	bool idem = nrpc_lb_has_idempotency_key(md, n_md);
	uint64_t tried = 0;
	const char *lost = NULL; // why the last attempt failed, once an instance was lost
	for (bool first = true;; first = false) {
		nng_time now = nng_clock();
		if (now >= deadline) {
			return lost != NULL ? set_status(res, NRPC_UNAVAILABLE, true, lost)
			                    : transport_failure(res, NNG_ETIMEDOUT, false);
		}
		// Each attempt tells the server the time actually left.
		nng_msg *msg =
		    pack_request(method, payload, len, md, n_md, (uint32_t)(deadline - now));
		if (msg == NULL) {
			return -1;
		}
		nng_msg *reply = NULL;
		int rv = 0;
		switch (nrpc_cpool_attempt(pool, msg, deadline, first, &tried, &reply, &rv)) {
		case CPOOL_REPLY:
			return take_reply(reply, res);
		case CPOOL_TIMEOUT:
			return transport_failure(res, NNG_ETIMEDOUT, false);
		case CPOOL_NO_TIME:
			return lost != NULL ? set_status(res, NRPC_UNAVAILABLE, true, lost)
			                    : set_status(res, NRPC_DEADLINE_EXCEEDED, true,
			                                 "deadline exceeded waiting for a healthy "
			                                 "instance");
		case CPOOL_NO_ENDPOINT:
			return set_status(res, NRPC_UNAVAILABLE, true,
			                  lost != NULL ? lost
			                               : "no healthy instance: every one is down "
			                                 "or not serving");
		case CPOOL_LOST_UNSENT:
			lost = "instance lost before the request was sent, and no other healthy "
			       "instance";
			continue;
		case CPOOL_LOST_SENT:
			if (!nrpc_lb_may_retry(true, method, idem)) {
				return set_status(
				    res, NRPC_UNAVAILABLE, true,
				    "instance lost with the call in flight; not retried: "
				    "not safe to repeat (see idempotency-key)");
			}
			lost = "instance lost with the call in flight, and no other healthy "
			       "instance to retry on";
			continue;
		case CPOOL_ERROR:
		default:
			return transport_failure(res, rv, false);
		}
	}
}

int nrpc_client_call_raw(nrpc_client *c, const char *method, const uint8_t *payload, size_t len,
                         const nrpc_meta *md, size_t n_md, uint32_t timeout_ms, nrpc_result *res)
{
	nng_ctx ctx = NNG_CTX_INITIALIZER;
	nng_aio *aio = NULL;
	nng_msg *msg = NULL;
	bool ctx_open = false;
	int rc = 0;
	int rv;

	memset(res, 0, sizeof(*res));
	if (c == NULL || method == NULL) {
		rc = set_status(res, NRPC_INVALID_ARGUMENT, false, "no client or method");
		goto out;
	}
	if (timeout_ms == 0) {
		timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
	}
	if (timeout_ms > CLIENT_MAX_TIMEOUT_MS) {
		timeout_ms = CLIENT_MAX_TIMEOUT_MS;
	}
	nng_time deadline = nng_clock() + timeout_ms;
	if (c->pool != NULL) {
		rc = pool_call(c->pool, method, payload, len, md, n_md, deadline, res);
		goto out;
	}

	if ((msg = pack_request(method, payload, len, md, n_md, timeout_ms)) == NULL) {
		rc = -1;
		goto out;
	}
	if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
		rc = transport_failure(res, rv, true);
		goto out;
	}
	ctx_open = true;
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		rc = transport_failure(res, rv, true);
		goto out;
	}

	nng_aio_set_timeout(aio, (nng_duration)timeout_ms);
	nng_aio_set_msg(aio, msg);
	msg = NULL; // the context owns it now, unless the send fails
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		msg = nng_aio_get_msg(aio); // a failed send hands the message back
		rc = transport_failure(res, rv, true);
		goto out;
	}

	// Only now post the receive (nng 1.5.2 #1702: a receive timing out while
	// its send is still queued can crash).
	nng_time now = nng_clock();
	if (now >= deadline) {
		rc = transport_failure(res, NNG_ETIMEDOUT, false);
		goto out;
	}
	nng_aio_set_timeout(aio, (nng_duration)(deadline - now));
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		rc = transport_failure(res, rv, false);
		goto out;
	}
	rc = take_reply(nng_aio_get_msg(aio), res);

out:
	if (msg != NULL) {
		nng_msg_free(msg);
	}
	if (aio != NULL) {
		nng_aio_free(aio);
	}
	if (ctx_open) {
		nng_ctx_close(ctx); // abandons the request; a late reply is dropped
	}
	if (rc != 0) {
		nrpc_result_free(res);
	}
	return rc;
}

int nrpc_client_call(nrpc_client *c, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *out_desc, const nrpc_meta *md, size_t n_md,
                     uint32_t timeout_ms, ProtobufCMessage **out, nrpc_result *res)
{
	*out = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	if (req != NULL) {
		len = protobuf_c_message_get_packed_size(req);
		// malloc(0) may return NULL; keep one byte so NULL means failure.
		if ((buf = malloc(len > 0 ? len : 1)) == NULL) {
			memset(res, 0, sizeof(*res));
			return -1;
		}
		protobuf_c_message_pack(req, buf);
	}
	int rc = nrpc_client_call_raw(c, method, buf, len, md, n_md, timeout_ms, res);
	free(buf);
	if (rc != 0 || res->code != NRPC_OK || out_desc == NULL) {
		return rc;
	}
	*out = protobuf_c_message_unpack(out_desc, NULL, res->payload_len, res->payload);
	if (*out == NULL &&
	    set_status(res, NRPC_INTERNAL, false, "undecodable reply payload") != 0) {
		nrpc_result_free(res);
		return -1;
	}
	return 0;
}

// ---- URL expansion ------------------------------------------------------------------------

void nrpc_urls_free(char **urls, size_t n)
{
	if (urls == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		free(urls[i]);
	}
	free(urls);
}

// Appends url to out[*n] unless it is there already.
static int add_url(char **out, size_t *n, const char *url, char *err, size_t errcap)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(out[i], url) == 0) {
			return 0;
		}
	}
	if (*n == LB_MAX_ENDPOINTS) {
		set_err(err, errcap, "more than %d server addresses", LB_MAX_ENDPOINTS);
		return NNG_EINVAL;
	}
	if ((out[*n] = strdup(url)) == NULL) {
		set_err(err, errcap, "out of memory");
		return NNG_ENOMEM;
	}
	(*n)++;
	return 0;
}

int nrpc_urls_expand(const char *const *urls, size_t n, char ***out, size_t *nout, char *err,
                     size_t errcap)
{
	char scratch[1];
	if (err == NULL || errcap == 0) {
		err = scratch;
		errcap = sizeof scratch;
	}
	*out = NULL;
	*nout = 0;
	char **list = calloc(LB_MAX_ENDPOINTS, sizeof(char *));
	char(*got)[LB_URL_MAX] = calloc(LB_MAX_ENDPOINTS, LB_URL_MAX);
	size_t count = 0;
	int rv = 0;
	if (list == NULL || got == NULL) {
		set_err(err, errcap, "out of memory");
		rv = NNG_ENOMEM;
	}
	for (size_t i = 0; rv == 0 && i < n; i++) {
		nrpc_lb_dns_target t;
		int d = urls[i] != NULL ? nrpc_lb_dns_parse(urls[i], &t) : -1;
		if (d < 0) {
			set_err(err, errcap, "%s: not a URL to dial (dns+tcp://HOST:PORT?)",
			        urls[i] != NULL ? urls[i] : "(null)");
			rv = NNG_EINVAL;
		} else if (d == 0) {
			rv = add_url(list, &count, urls[i], err, errcap);
		} else {
			int k = nrpc_cp_resolve_dns(&t, got, LB_MAX_ENDPOINTS, err, errcap, NULL);
			rv = k < 0 ? NNG_EADDRINVAL : 0;
			for (int j = 0; rv == 0 && j < k; j++) {
				rv = add_url(list, &count, got[j], err, errcap);
			}
		}
	}
	free(got);
	if (rv != 0) {
		nrpc_urls_free(list, count);
		return rv;
	}
	*out = list;
	*nout = count;
	return 0;
}
