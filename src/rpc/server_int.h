// rpc server internals: the state of an nrpc server shared by the files that
// implement it, and what each of them offers the others. Private to src/rpc.
//
//   server.c       life cycle (create, start, drain, destroy), the method table,
//                  the counters read by the owner;
//   dispatch.c     the transport-independent path of one call: envelope checks,
//                  token, method, payload, handler, reply (nrpc_server_serve);
//   proxy.c        the proxy mode (nrpc_server_config.proxy): a request handed on
//                  as bytes after the envelope's wire checks;
//   workers.c      the worker threads and their queue, for blocking handlers;
//   server_nng.c   the nng rep0 transport: one context (slot) per request served.
// The own SP-over-TCP transport is sptcp.c; both transports enter through serve.h.
//
// Ownership: the nrpc_server owns everything it points to (secret copy, method
// tables, adopted memory, slots, threads, the own transport) and frees it in
// nrpc_server_destroy. A struct nrpc_call belongs to its transport's slot; the
// server only borrows it between nrpc_server_serve and its c_deliver.
#ifndef RPC_SERVER_INT_H
#define RPC_SERVER_INT_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "callers.h"
#include "envscan.h"
#include "nrpc/connlimit.h"
#include "nrpc/server.h"
#include "sptcp.h"
#include "tokcache.h"

#define NRPC_MAX_SERVICES 8
#define NRPC_PROXY        1000u // prepare's outcome for a proxy: hand the bytes on

struct nrpc_method {
	char path[256]; // "/pkg.Service/Method"
	const ProtobufCMethodDescriptor *md;
	nrpc_handler handler;             // NULL with async_handler NULL: unimplemented
	nrpc_async_handler async_handler; // set: the method answers through nrpc_call_finish
	unsigned flags;
	void *arg;
};

struct nrpc_service {
	const ProtobufCServiceDescriptor *desc;
	struct nrpc_method *methods; // desc->n_methods entries, in descriptor order (owned)
};

struct nrpc_rctx; // server_nng.c: one nng rep0 context and the call it serves

struct nrpc_server {
	nrpc_server_config cfg;
	uint8_t *secret;
	nng_socket sock;
	bool sock_open;
	bool started;
	struct nrpc_service services[NRPC_MAX_SERVICES];
	size_t nservices;
	void *adopted[NRPC_MAX_SERVICES]; // nrpc_server_adopt: freed by nrpc_server_destroy
	size_t nadopted;

	struct nrpc_rctx *slots; // nng transport only
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

// ---- server.c ----
// The method registered for "/pkg.Service/Method", or NULL.
const struct nrpc_method *nrpc_server_find_method(const nrpc_server *s, const char *path);

// ---- dispatch.c ----
// Runs the handler of a prepared call (any thread) and sends the reply; an
// asynchronous handler replies through nrpc_call_finish instead.
void nrpc_server_run_handler(struct nrpc_call *c);

// ---- proxy.c ----
// The proxy's part of the envelope checks: request id, deadline and method name
// taken from the wire scan `sc` (the method copied into the call's arena).
// Returns NRPC_PROXY.
unsigned nrpc_server_proxy_prepare(struct nrpc_call *c, const nrpc_envscan *sc);
// Hands the request body[len] (valid only during the call), described by the
// scan `sc`, to the configured proxy handler, which answers exactly once.
void nrpc_server_proxy_forward(nrpc_server *s, struct nrpc_call *c, const uint8_t *body, size_t len,
                               const nrpc_envscan *sc);

// ---- workers.c ----
// Starts s->cfg.workers threads. Returns 0 or an nng error with a reason in err
// (the threads started so far are joined by nrpc_server_workers_join).
int nrpc_server_workers_start(nrpc_server *s, char *err, size_t errcap);
// Queues a prepared blocking call for a worker (never blocks).
void nrpc_server_workers_enqueue(nrpc_server *s, struct nrpc_call *c);
// Tells the workers to exit once the queue is empty.
void nrpc_server_workers_stop(nrpc_server *s);
// Waits for the workers started (after nrpc_server_workers_stop).
void nrpc_server_workers_join(nrpc_server *s);

// ---- server_nng.c ----
enum nrpc_rctx_state {
	NRPC_RCTX_IDLE,
	NRPC_RCTX_RECV,
	NRPC_RCTX_QUEUED,
	NRPC_RCTX_ASYNC,
	NRPC_RCTX_SEND,
	NRPC_RCTX_DONE
};
// Opens the rep0 socket, its contexts, the connection limit and the listener
// on s->cfg.url. Returns 0 or an nng error with a reason in err; what was
// opened is released by nrpc_server_nng_free.
int nrpc_server_nng_open(nrpc_server *s, char *err, size_t errcap);
// Posts the first receive on every context (once the server is started).
void nrpc_server_nng_recv_all(nrpc_server *s);
// Records the state of the nng slot serving c; a no-op for other transports.
void nrpc_server_nng_mark(struct nrpc_call *c, enum nrpc_rctx_state st);
// Cancels the receives in progress (s->closing is set): no new request.
void nrpc_server_nng_stop_receiving(nrpc_server *s);
// Stops every context's aio (waits out a running callback).
void nrpc_server_nng_stop(nrpc_server *s);
// Frees the contexts and closes the socket (after nrpc_server_nng_stop and the
// workers' exit).
void nrpc_server_nng_free(nrpc_server *s);

#endif
