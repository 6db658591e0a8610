// nrpc server: a gRPC-style RPC server over nng rep0 for any protobuf-c service.
//
// A service registers its ProtobufCServiceDescriptor and one handler per
// method. For each request the layer decodes the rpc.v1.Request envelope,
// checks deadline and token, finds the method, unpacks the payload with the
// method's input descriptor, calls the handler, packs its output into an
// rpc.v1.Response and replies. Every request gets exactly one reply.
//
// Threads: three kinds of handler.
//  - blocking (the default): queued to the server's worker threads; they may
//    block.
//  - NRPC_INLINE: never blocks; runs on nng's callback thread and returns the
//    answer (health checks).
//  - asynchronous (nrpc_method_impl.async_handler): starts on nng's callback
//    thread, must not block, and answers later from any thread with
//    nrpc_call_finish() -- the request path of a service whose I/O runs on
//    event loops, with no thread parked per request.
//
// Memory: each call owns an arena. The unpacked input, everything the handler
// allocates with nrpc_call_alloc() / nrpc_call_allocator(), and the output it
// returns live until the reply is packed; then the arena is freed at once.
// The arena is bounded per call (max_call_memory) and over all calls in
// flight (max_memory_in_flight): decoding a request beyond either answers 8
// RESOURCE_EXHAUSTED. A handler's own allocations (nrpc_call_alloc(),
// nrpc_call_allocator()) are never refused by these bounds, only counted; a
// blocking or inline handler that went beyond one and returned OK is answered
// 8 (an asynchronous one is answered with what it did).
//
// Order of checks: envelope bytes and metadata limits (on the wire, before
// anything is unpacked), method lookup, token (not for NRPC_OPEN methods),
// per-caller in-flight limit, payload, then draining and deadline.
#ifndef NRPC_SERVER_H
#define NRPC_SERVER_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/status.h"
#include "nrpc/tls.h"

#define NRPC_MAX_MESSAGE     (1u << 20) // requests over 1 MiB are dropped by the transport
#define NRPC_DEFAULT_TIMEOUT 5000u      // ms, when the caller sends timeout_ms = 0
#define NRPC_MAX_TIMEOUT     300000u    // ms; longer deadlines are clamped
#define NRPC_MAX_METADATA    64         // metadata entries per request; more: 3 INVALID_ARGUMENT
#define NRPC_MAX_META_KEY    128        // bytes per metadata key, NULs included; longer: 3
#define NRPC_MAX_META_VALUE  4096       // bytes per metadata value, NULs included; longer: 3
// Memory of one call's arena (decoded envelope and payload, handler's
// allocations, reply). A request is at most 1 MiB; a decoding that needs more
// than this is answered 8 RESOURCE_EXHAUSTED.
#define NRPC_MAX_CALL_MEMORY (8u << 20)
// Default bound on the arena memory of all calls in flight together.
#define NRPC_MAX_MEMORY_IN_FLIGHT ((size_t)256 << 20)
#define NRPC_GREETING_TIMEOUT_MS  10000 // see nrpc_server_config.greeting_timeout_ms

typedef struct nrpc_server nrpc_server;
typedef struct nrpc_call nrpc_call;

// A handler fills *out with the method's output message (allocated in the call
// arena, or a static/const message) and returns NRPC_OK, or returns an error
// code after describing it with nrpc_call_error()/nrpc_call_violation().
typedef nrpc_code (*nrpc_handler)(nrpc_call *call, const ProtobufCMessage *in,
                                  ProtobufCMessage **out, void *arg);

// An asynchronous handler starts the work and returns. It must arrange that
// nrpc_call_finish() is called exactly once for this call -- from any thread,
// possibly before the handler itself returns; after that the call is gone.
typedef void (*nrpc_async_handler)(nrpc_call *call, const ProtobufCMessage *in, void *arg);

enum nrpc_method_flags {
	NRPC_OPEN = 1 << 0,   // no token needed (Health)
	NRPC_INLINE = 1 << 1, // never blocks: may run on the nng callback thread
};

typedef struct nrpc_method_impl {
	const char *name;                 // the method's name in the descriptor, e.g. "GetProperty"
	nrpc_handler handler;             // or:
	nrpc_async_handler async_handler; // (then handler is NULL)
	unsigned flags;
} nrpc_method_impl;

// One finished call, as seen by an observer (metrics, access log). Strings are
// valid only during the observer call.
typedef struct nrpc_call_summary {
	const char *method;      // "/pkg.Service/Method", or "" when undecodable/unknown
	bool known_method;       // false: method is the caller's raw text (or "")
	unsigned code;           // the status sent
	const char *message;     // the error text sent ("" on OK)
	int64_t duration_us;     // receive to reply
	const char *request_id;  // echoed or generated
	const char *traceparent; // NULL when absent
	const char *subject;     // the token's sub, NULL when unauthenticated
	const char *peer;        // the TLS client certificate's identity, NULL without one
} nrpc_call_summary;

typedef void (*nrpc_observer)(const nrpc_call_summary *s, void *arg);

// A request as a proxy sees it: the serialized rpc.v1.Request, not unpacked,
// after the envelope's wire checks (step 1 of the order below) passed.
typedef struct nrpc_envelope {
	const uint8_t *body; // the whole envelope; valid only during the proxy call
	size_t len;
	const char *method; // its method field, within body, not NUL-terminated; NULL: absent
	size_t method_len;
	uint32_t timeout_ms;      // as sent, clamped to NRPC_MAX_TIMEOUT; 0: absent or 0
	bool has_request_id;      // false: nrpc_call_request_id() is one generated here
	bool has_idempotency_key; // some metadata entry is idempotency-key
} nrpc_envelope;

// A proxy handler (propgate) takes every request that passed the envelope's
// wire checks -- no method lookup, token or payload check here: the server
// it forwards to does those. It runs where an asynchronous handler would
// (on the connection's loop with the own transport), must not block, and
// answers exactly once with nrpc_call_finish_raw() or, for an answer of its
// own, nrpc_call_error() + nrpc_call_finish(call, code, NULL).
typedef void (*nrpc_proxy_handler)(nrpc_call *call, const nrpc_envelope *env, void *arg);

typedef struct nrpc_server_config {
	const char *url;            // nng listen URL (tcp://, ipc://, tls+tcp://)
	int workers;                // handler threads (> 0)
	int contexts;               // nng rep contexts; 0 picks a default
	const uint8_t *auth_secret; // HS256 secret; NULL only with insecure_no_auth
	size_t auth_secret_len;
	bool insecure_no_auth;        // accept calls without tokens: no caller identity
	int64_t max_token_lifetime_s; // refuse tokens whose exp is further ahead; 0: no limit
	const nrpc_tls *tls;          // required for tls+tcp:// URLs; read at start
	nrpc_observer observer;       // optional; called once per reply, any thread
	void *observer_arg;
	// Requests of one caller (token "sub") in flight at once; more are
	// answered 8 RESOURCE_EXHAUSTED at once. 0: unlimited. Open methods and
	// calls without a subject (insecure_no_auth) are not counted.
	unsigned max_inflight_per_caller;
	// The own transport (loops): a connection drawing refusals (8, 16) faster
	// than this many a second, after a burst of a tenth of it (at least 64),
	// is not read until it conforms again. It bounds what a client that keeps
	// sending what is refused costs its loop; a connection that carries many
	// callers (a gateway's) is paused for all of them, hence a generous
	// default. 0: NRPC_DEFAULT_REFUSAL_RATE; < 0: no limit.
	int refusal_rate;
	size_t max_call_memory;      // per-call arena cap; 0: NRPC_MAX_CALL_MEMORY
	size_t max_memory_in_flight; // all calls together; 0: NRPC_MAX_MEMORY_IN_FLIGHT
	// Connections kept open at once; a new one beyond is closed at once
	// (include/nrpc/connlimit.h). 0: unlimited.
	unsigned max_connections;
	// The own transport (loops): a connection that has not completed the SP
	// greeting -- and, on tls+tcp://, the TLS handshake before it -- this
	// long after it was accepted is closed, so silent peers cannot hold
	// connection slots. 0: NRPC_GREETING_TIMEOUT_MS.
	int greeting_timeout_ms;
	// Event loops (borrowed; they must outlive the server, and may be stopped
	// before nrpc_server_destroy). With loops, a tcp:// or tls+tcp:// URL is
	// served by the server's own SP transport on them (src/rpc/sptcp.h; TLS
	// with OpenSSL, naming the peer: nrpc_call_peer): each connection on one
	// loop, the request's handler called there (nrpc_call_loop), no thread
	// hand-off. Without loops, or with use_nng, or for ipc://, nng serves the
	// URL.
	struct base_ioloop *const *loops;
	unsigned nloops;
	bool use_nng;
	// A proxy instead of services (see nrpc_proxy_handler): every request
	// goes to it; registered services are not consulted. No auth secret is
	// needed (set insecure_no_auth): tokens are checked where calls land.
	nrpc_proxy_handler proxy;
	void *proxy_arg;
} nrpc_server_config;

// Creates a server; nothing listens until nrpc_server_start(). Returns 0 or an
// nng error number, writing a human reason into err[errcap].
int nrpc_server_create(nrpc_server **out, const nrpc_server_config *cfg, char *err, size_t errcap);

// Registers a service. `impls` lists handlers by method name (n entries);
// descriptor methods without an entry answer 12 UNIMPLEMENTED. The descriptor
// and arg must outlive the server. Call before nrpc_server_start().
int nrpc_server_add_service(nrpc_server *s, const ProtobufCServiceDescriptor *desc,
                            const nrpc_method_impl *impls, size_t n, void *arg);

// The services registered so far, in registration order: their count, and
// the i-th descriptor (NULL when i >= count). Fixed once the server started,
// so a handler may read them from any thread.
size_t nrpc_server_service_count(const nrpc_server *s);
const ProtobufCServiceDescriptor *nrpc_server_service_at(const nrpc_server *s, size_t i);

// Hands `mem` (from malloc) to the server, which frees it in
// nrpc_server_destroy(): the state of a service registered on it (e.g. the
// reflection service's). Before nrpc_server_start(); at most 8 blocks.
// Returns 0, or NNG_ESTATE (then the caller still owns mem).
int nrpc_server_adopt(nrpc_server *s, void *mem);

// Starts listening and serving. Returns 0 or an nng error (reason in err).
int nrpc_server_start(nrpc_server *s, char *err, size_t errcap);

// Stops taking new requests, lets requests in flight finish for at most
// `drain_ms`, then stops every aio. Returns the number of requests that were
// still in flight when the budget ran out (0 in a clean drain). Idempotent.
int nrpc_server_drain(nrpc_server *s, int drain_ms);

// Connections open now and refused so far because of max_connections.
void nrpc_server_connections(const nrpc_server *s, int *open, uint64_t *refused);
// Connections closed so far because they did not greet in time
// (greeting_timeout_ms; the own transport only).
uint64_t nrpc_server_greeting_timeouts(const nrpc_server *s);
// Pauses so far of a connection's reading because it drew refusals (8, 16)
// faster than its allowed rate (the own transport only; see sptcp.h).
uint64_t nrpc_server_throttles(const nrpc_server *s);

#define NRPC_DEFAULT_REFUSAL_RATE 10000

// Frees the server (drains with a zero budget if not drained). Closing the nng
// socket is bounded by a watchdog (nng 1.5.2 #1543): this never hangs.
void nrpc_server_destroy(nrpc_server *s);

// Number of requests currently being handled (received, not yet replied).
int nrpc_server_inflight(const nrpc_server *s);

// The index (in nrpc_server_config.loops) of the event loop that received
// the call and will send its reply, or -1 when the call came through nng. A
// handler on that loop's thread may do its work right there, with no hand-off.
int nrpc_call_loop(const nrpc_call *c);

// Answers an asynchronous call: `code`, and on NRPC_OK `out` (arena or
// static; packed before this returns). An error message set with
// nrpc_call_error() is kept; without one the code's name is sent. Any thread.
void nrpc_call_finish(nrpc_call *c, nrpc_code code, const ProtobufCMessage *out);
// Answers an asynchronous call OK with an output that is already serialized
// (e.g. a cached page): payload[len] must be a valid encoding of the
// method's output type and stay valid until this returns. Any thread.
void nrpc_call_finish_packed(nrpc_call *c, const uint8_t *payload, size_t len);

// Answers a proxied call with a complete serialized rpc.v1.Response (copied
// before this returns) whose status is `code` (what observers see). Any thread.
void nrpc_call_finish_raw(nrpc_call *c, unsigned code, const uint8_t *response, size_t len);

// ---- inside a handler -------------------------------------------------------------------

// Request metadata value for a lower-case key, or NULL.
const char *nrpc_call_metadata(const nrpc_call *c, const char *key);
// The request id (echoed or generated); never NULL.
const char *nrpc_call_request_id(const nrpc_call *c);
// The W3C traceparent, or NULL.
const char *nrpc_call_traceparent(const nrpc_call *c);
// The token's "sub", or NULL under --insecure-no-auth or on an open method without a token.
const char *nrpc_call_subject(const nrpc_call *c);
// The identity of the verified TLS client certificate the request came with
// (its subject CN, or its first SAN when it has no CN), or NULL: a plain
// connection, no certificate, or a transport that cannot tell (nng's).
const char *nrpc_call_peer(const nrpc_call *c);
// Absolute deadline on CLOCK_MONOTONIC, in microseconds.
int64_t nrpc_call_deadline_us(const nrpc_call *c);
// Milliseconds left before the deadline (0 when passed).
int64_t nrpc_call_remaining_ms(const nrpc_call *c);

// The raw serialized payload of the request (for wire-level checks such as
// embedded NUL bytes, which protobuf-c's char* strings cannot show). Valid for
// the whole call.
const uint8_t *nrpc_call_payload(const nrpc_call *c, size_t *len);

// Arena allocation: zeroed, aligned for any type, freed with the call. Never
// returns NULL (aborts on out-of-memory, as hiredis and protobuf-c would);
// past the call's memory bounds it still allocates and marks the call.
void *nrpc_call_alloc(nrpc_call *c, size_t n);
char *nrpc_call_strdup(nrpc_call *c, const char *s);
// A protobuf-c allocator drawing from the arena (its free is a no-op); like
// nrpc_call_alloc(), it never returns NULL for the memory bounds.
ProtobufCAllocator *nrpc_call_allocator(nrpc_call *c);

// Sets the reply's error message (printf-style); returns `code` for tail calls.
nrpc_code nrpc_call_error(nrpc_call *c, nrpc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// Adds a field violation (for INVALID_ARGUMENT); strings are copied.
void nrpc_call_violation(nrpc_call *c, const char *field, const char *description);
// Number of violations added so far.
size_t nrpc_call_violation_count(const nrpc_call *c);
// Adds a reply metadata entry (strings are copied).
void nrpc_call_set_metadata(nrpc_call *c, const char *key, const char *value);

#endif
