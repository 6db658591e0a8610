// rpc client_pool internals: the state of an endpoint set (client_pool.h)
// shared by the files that implement it, and what each offers the others.
// Private to src/rpc.
//
//   client_pool.c         open, close, the pool's memory and references, the
//                         view for tests;
//   client_pool_ep.c      endpoints: dialing one address, its connection events
//                         (nng pipe callbacks) and its health check;
//   client_pool_prober.c  the prober thread: checks due, retired endpoints
//                         closed, dns+ names re-resolved;
//   client_pool_call.c    one attempt of one call (nrpc_cpool_attempt).
//
// Layout: pool->ep[i] and pool->st[i] are slot i's endpoint and state (the
// state array is what client_lb's pure functions read). A slot is EMPTY or
// holds an endpoint until the pool closes, or until DNS drops its address and
// no call uses it (then the prober detaches it and closes its socket).
//
// Each call in flight is linked into its endpoint's list while it runs; when
// the endpoint's connection goes (pipe REM_POST), the callback marks each one
// lost and aborts its aio, and the calls post their nng operations only under
// the pool mutex after checking `lost`, so none can slip past the abort.
//
// Ownership: the pool owns its endpoints (ep[]), origins and TLS string copies.
// A detached endpoint is owned by its closing socket's callback
// (nrpc_cpool_ep_closed), which holds one reference on the pool (refs).
#ifndef RPC_CLIENT_POOL_INT_H
#define RPC_CLIENT_POOL_INT_H

#include <pthread.h>

#include "client_pool.h"

#define NRPC_CPOOL_PROBE_REQ_MAX 64

typedef struct nrpc_cp_call {
	struct nrpc_cp_call *next;
	nng_aio *aio; // NULL until the operation is about to be posted
	bool lost;    // the endpoint's connection went away under this call
} nrpc_cp_call;

typedef struct nrpc_cp_origin {
	char *url; // as configured
	bool dns;
	nrpc_lb_dns_target t;
	nrpc_tls tls; // dns+tls: server_name defaults to the host name
	bool has_tls;
} nrpc_cp_origin;

typedef struct nrpc_cp_ep {
	nrpc_cpool *pool;
	char url[LB_URL_MAX];
	size_t origin;
	int slot; // -1 before insertion and once detached
	nng_socket sock;
	uint32_t pipe;  // the current connection's pipe id; 0: not connected
	nng_time since; // dialed (or connection lost) at: the connect grace runs from here
	nng_time next_probe;
	bool probing;       // the probe aio is busy
	bool probe_recv;    // its phase: receiving (else sending)
	bool probe_stopped; // being freed: never abort it again
	nng_time probe_deadline;
	nng_ctx probe_ctx;
	nng_aio *probe_aio;
	nrpc_cp_call *calls; // in flight on this endpoint
	unsigned inflight;
} nrpc_cp_ep;

struct nrpc_cpool {
	pthread_mutex_t mu;
	pthread_cond_t ready_cv; // a state changed: callers waiting for a READY endpoint
	pthread_cond_t kick_cv;  // wakes the prober: a new connection, or stop
	nrpc_cp_ep *ep[LB_MAX_ENDPOINTS];
	nrpc_lb_state st[LB_MAX_ENDPOINTS];
	size_t n; // slots 0..n-1 are in use or EMPTY
	size_t cursor;
	nrpc_cp_origin *origins;
	size_t norigins;
	bool any_dns;
	char *tls_copy[4]; // the strings of the caller's nrpc_tls
	uint32_t probe_interval, probe_timeout, refresh;
	nrpc_cpool_resolver resolve;
	void *resolve_arg;
	uint8_t probe_req[NRPC_CPOOL_PROBE_REQ_MAX];
	size_t probe_req_len;
	bool stopping;
	int refs; // the client's, plus one per detached endpoint still closing
	pthread_t prober;
	bool prober_started;
	nng_time next_refresh;
};

// ---- client_pool.c ----
// Drops one reference on p (the client's, or a detached endpoint's); the last
// frees it. `arg` is the pool (a base_nng_close_all callback).
void nrpc_cpool_unref(void *arg);
// Waits on cv (CLOCK_MONOTONIC) until `deadline`, an nng_clock() time.
// Returns false once it passed.
bool nrpc_cpool_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, nng_time deadline);

// ---- client_pool_ep.c ----
// Dials url for origin o unless it is dialed already (not under p->mu).
// Returns 0 (also when skipped), or an nng error with a reason in err.
int nrpc_cpool_ep_add(nrpc_cpool *p, const char *url, size_t o, char *err, size_t errcap);
// The prober thread, without the mutex: sends one check (e->probing is set).
void nrpc_cpool_probe_start(nrpc_cpool *p, nrpc_cp_ep *e);
// A detached endpoint's socket is closed: it (`arg`) and its hold on the pool
// go (a base_nng_close_all callback).
void nrpc_cpool_ep_closed(void *arg);

// ---- client_pool_prober.c ----
// The prober thread's body; `arg` is the pool. Returns once p->stopping.
void *nrpc_cpool_prober_main(void *arg);

#endif
