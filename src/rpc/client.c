// nrpc client: rpc.v1.Request/Response calls over one nng req0 socket.
//
// Each call runs on the caller's thread: open a context, send, wait for the
// send, then (only then, nng 1.5.2 #1702) receive with the time left, unpack
// the envelope and copy it into a caller-owned nrpc_result. Nothing of nng
// outlives a call: its message, aio and context are freed before it returns,
// so nrpc_client_close() never races a call's aio; and the close itself is
// bounded by a watchdog, because nng_close can still hang (nng 1.5.2 #1543).
#include "nrpc/client.h"
#include "tls.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rpc/v1/rpc.pb-c.h"

// Largest reply accepted. Replies carry pages of up to 100 properties, far
// below this; the cap keeps a broken or hostile peer from making us allocate
// without bound. Bigger replies are dropped by the transport (the call then
// ends with DEADLINE_EXCEEDED).
#define CLIENT_RECV_MAX (16u << 20)

#define CLIENT_DEFAULT_TIMEOUT_MS 5000u   // timeout_ms = 0, as the server's default
#define CLIENT_MAX_TIMEOUT_MS     300000u // the server clamps longer deadlines to this anyway

// Redial backoff for an instance that is down: quick first retry, then at most
// every 2 s so that a dead replica costs little.
#define CLIENT_RECONNECT_MIN_MS 100
#define CLIENT_RECONNECT_MAX_MS 2000

// How long nrpc_client_close() waits for nng_close(). In nng 1.5.2 a pipe torn
// down at the wrong moment (for instance by a reply over CLIENT_RECV_MAX) can
// wedge nng's reaper (#1543) and nng_close never returns; past this budget the
// close is left to a detached thread and the caller goes on.
#define CLIENT_CLOSE_BUDGET_MS 2000

struct nrpc_client {
	nng_socket sock;
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
	*out = NULL;
	if (urls == NULL || n == 0) {
		set_err(err, errcap, "no server URL given");
		return NNG_EINVAL;
	}
	nrpc_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		set_err(err, errcap, "out of memory");
		return NNG_ENOMEM;
	}
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		set_err(err, errcap, "open req0 socket: %s", nng_strerror(rv));
		free(c);
		return rv;
	}
	// Options go on before any dial: a context copies the resend time when
	// it opens, and a pipe takes the receive limit when it connects.
	//
	// Resend off: nng would otherwise send the same request again after
	// REQ_RESENDTIME, and the copy may reach another replica, doubling a
	// non-idempotent CreateProperty. Retries belong to the caller, with an
	// idempotency key. (nng still re-sends a request whose connection
	// dropped before the reply; nothing in 1.5.2 turns that off.)
	if ((rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, CLIENT_RECV_MAX)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, CLIENT_RECONNECT_MIN_MS)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, CLIENT_RECONNECT_MAX_MS)) != 0) {
		set_err(err, errcap, "set socket options: %s", nng_strerror(rv));
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		// Non-blocking: a replica that is down now is redialed in the
		// background, and calls go to the ones that are up.
		if (urls[i] == NULL) {
			rv = NNG_EINVAL;
			set_err(err, errcap, "server URL %zu is missing", i);
			goto fail;
		}
		if ((rv = tls_dial(c->sock, urls[i], tls, err, errcap)) != 0)
			goto fail;
	}
	*out = c;
	return 0;

fail:
	nng_close(c->sock);
	free(c);
	return rv;
}

// The state shared by nrpc_client_close() and its closer thread. Whoever
// finishes last frees it: the caller when the close ended in time, else the
// closer thread once nng_close returns (if ever).
typedef struct closer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	nng_socket sock;
	bool done;      // nng_close returned
	bool abandoned; // the caller stopped waiting
} closer;

static void closer_free(closer *cl)
{
	pthread_cond_destroy(&cl->cv);
	pthread_mutex_destroy(&cl->mu);
	free(cl);
}

static void *closer_main(void *arg)
{
	closer *cl = arg;
	nng_close(cl->sock);
	pthread_mutex_lock(&cl->mu);
	cl->done = true;
	bool abandoned = cl->abandoned;
	pthread_cond_signal(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
	if (abandoned) {
		closer_free(cl);
	}
	return NULL;
}

void nrpc_client_close(nrpc_client *c)
{
	if (c == NULL) {
		return;
	}
	nng_socket sock = c->sock;
	free(c);

	closer *cl = calloc(1, sizeof(*cl));
	pthread_t th;
	if (cl == NULL) {
		nng_close(sock); // no memory for a watchdog: close unbounded
		return;
	}
	cl->sock = sock;
	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->cv, NULL);
	if (pthread_create(&th, NULL, closer_main, cl) != 0) {
		closer_free(cl);
		nng_close(sock);
		return;
	}

	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CLIENT_CLOSE_BUDGET_MS / 1000;
	until.tv_nsec += (long)(CLIENT_CLOSE_BUDGET_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&cl->mu);
	while (!cl->done) {
		if (pthread_cond_timedwait(&cl->cv, &cl->mu, &until) != 0) {
			break; // timed out: nng_close is stuck (#1543)
		}
	}
	bool done = cl->done;
	cl->abandoned = !done;
	pthread_mutex_unlock(&cl->mu);
	if (done) {
		pthread_join(th, NULL);
		closer_free(cl);
	} else {
		pthread_detach(th);
	}
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
