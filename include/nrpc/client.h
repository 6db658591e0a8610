// nrpc client: calls methods of an nrpc server over nng req0.
//
// One URL: the client dials it on one req0 socket. Each call uses its own nng
// context, so one client may be shared by many threads. Calls block the
// calling thread.
//
// Several URLs, or a dns+ URL (docs/balancing.md): client-side balancing, as
// gRPC's round_robin with health checking. Each instance (each URL, and each
// A/AAAA record of "dns+tcp://HOST:PORT" or "dns+tls+tcp://HOST:PORT") gets a
// socket of its own; calls go round robin over the instances that are
// connected and whose last grpc.health.v1.Health/Check (sent every 500 ms by
// a background thread) said SERVING. NOT_SERVING, no answer within 1 s, or a
// lost connection takes an instance out until it answers SERVING again. dns+
// names are resolved once by nrpc_client_open_tls (blocking) and then every
// 10 s in the background, never by a call. A call made before any instance has
// a verdict waits for one (up to its timeout); when every instance is known to
// be down it fails at once with 14 UNAVAILABLE.
//
// When an instance dies under a call (its connection closes), the call goes
// once to each other healthy instance while its deadline allows, if it was
// never sent or nrpc_retry_safe() (nrpc/retry.h) allows it: reads, and a
// CreateProperty with idempotency-key metadata. Any other call is answered
// 14 UNAVAILABLE with transport_error set (it may or may not have been
// carried out). A call never outlives its timeout; a live instance that does
// not answer in time gives 4 DEADLINE_EXCEEDED and the call is not retried.
//
// Resends: nng's automatic REQ resend is disabled. A resend of a
// CreateProperty reaching another replica would create twice; retries belong
// to the caller with an idempotency key, or to the rule above. The receive is
// posted only after the send completed (nng 1.5.2 #1702), and bounded by the
// call's timeout.
#ifndef NRPC_CLIENT_H
#define NRPC_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/status.h"
#include "nrpc/tls.h"

typedef struct nrpc_client nrpc_client;

typedef struct nrpc_meta {
	const char *key;
	const char *value;
} nrpc_meta;

// The outcome of a call. Owned by the caller: nrpc_result_free().
typedef struct nrpc_result {
	unsigned code;    // gRPC status; on transport failure 14 UNAVAILABLE or 4 DEADLINE_EXCEEDED
	char *message;    // never NULL
	uint8_t *payload; // the reply payload when code is 0
	size_t payload_len;
	size_t n_violations;
	char **violation_fields;
	char **violation_descriptions;
	size_t n_metadata;
	char **metadata_keys;
	char **metadata_values;
	bool transport_error; // the reply never arrived (send failed, timed out, closed)
} nrpc_result;

// Opens a client dialing every URL in urls[n] (copied; at most 64 instances
// in all). Dials are non-blocking: an instance that is down is retried by nng
// in the background; only a dns+ URL's first lookup blocks. A malformed URL or
// a dns+ name that does not resolve fails the open. tls+tcp:// URLs are refused
// here (no TLS settings): use nrpc_client_open_tls().
int nrpc_client_open(nrpc_client **out, const char *const *urls, size_t n, char *err,
                     size_t errcap);
// The same with TLS settings for tls+tcp:// URLs. A tls+tcp:// URL is refused
// (NNG_EINVAL, reason in err) unless `tls` has a ca_file to verify the server
// or insecure_skip_verify set (development only; warns on stderr). NULL means
// no TLS settings: only non-TLS URLs can then be dialed (nrpc_client_open).
// The settings are copied. For dns+tls+tcp:// the certificate must be for the
// HOST of the URL unless tls->server_name names another.
int nrpc_client_open_tls(nrpc_client **out, const char *const *urls, size_t n, const nrpc_tls *tls,
                         char *err, size_t errcap);
// Closes the client. Call only after every call on it has returned. The
// socket close is bounded by a watchdog (nng 1.5.2 #1543); with dns+ URLs it
// first waits for a DNS lookup in progress, if any.
void nrpc_client_close(nrpc_client *c);

// Calls `method` ("/pkg.Service/Method") with a serialized payload. Returns 0
// and fills *res (always, also on error codes); returns -1 only on allocation
// failure. timeout_ms = 0 means 5000.
int nrpc_client_call_raw(nrpc_client *c, const char *method, const uint8_t *payload, size_t len,
                         const nrpc_meta *md, size_t n_md, uint32_t timeout_ms, nrpc_result *res);

// Typed form: packs `req`, calls, and on OK unpacks the reply with
// `out_desc` into *out (free with protobuf_c_message_free_unpacked(*out, NULL)).
// On error *out is NULL and res says why.
int nrpc_client_call(nrpc_client *c, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *out_desc, const nrpc_meta *md, size_t n_md,
                     uint32_t timeout_ms, ProtobufCMessage **out, nrpc_result *res);

void nrpc_result_free(nrpc_result *res);

// For callers that drive nng sockets themselves (propload): expands urls[n],
// each dns+tcp:// or dns+tls+tcp:// URL into one URL per address of its host
// (resolved now, blocking; dns+tls+tcp:// gives tls+tcp://), any other URL
// copied, duplicates dropped, at most 64 in all. Returns 0 with *out holding
// *nout malloc'd strings (free with nrpc_urls_free), or an nng error with a
// reason in err.
int nrpc_urls_expand(const char *const *urls, size_t n, char ***out, size_t *nout, char *err,
                     size_t errcap);
void nrpc_urls_free(char **urls, size_t n);

// Reply metadata value, or NULL.
const char *nrpc_result_metadata(const nrpc_result *res, const char *key);

#endif
