// rpc client_pool: the endpoint set of a balancing nrpc client (several URLs,
// or a dns+ URL). Used by client.c only (and tests); the pure decisions are in
// client_lb.h, the socket plumbing in client_sock.h.
//
// What it promises:
//   - One endpoint per server address: every plain URL given, and every
//     A/AAAA record of a dns+tcp:// or dns+tls+tcp:// URL. Each endpoint has
//     its own req0 socket dialing that one address, so nng never moves a
//     request between instances by itself.
//   - A background prober thread checks each connected endpoint with
//     grpc.health.v1.Health/Check every probe_interval_ms on the endpoint's own
//     connection. An endpoint is READY only after a check answered SERVING (or
//     12 UNIMPLEMENTED: no health service) on its current connection; NOT_SERVING,
//     another error or no answer within probe_timeout_ms makes it DOWN until a
//     later check says SERVING. Losing the connection makes it DOWN at once and
//     ends every call in flight on it at once (nng fails a sent one with
//     NNG_ECONNRESET; a queued send would wait for a reconnect, so the pool
//     aborts it). An endpoint not connected 1 s after its dial is DOWN too.
//   - The same thread re-resolves dns+ names every refresh_ms: new addresses
//     are dialed, vanished ones leave the rotation and are closed once no call
//     uses them. A failed or empty answer keeps the current set. Nothing of
//     this runs on a caller's thread.
//   - nrpc_cpool_attempt() makes one attempt of one call on the next READY endpoint
//     (round robin) and says how it ended; retry policy is the caller's.
//
// Threads: nrpc_cpool_attempt() may be called from any number of threads at once.
// nrpc_cpool_open/nrpc_cpool_close belong to one thread, close only after every attempt
// returned. Internally one mutex guards the set; nng pipe and aio callbacks
// take it, never the other way round (nng calls are made under it only to post
// non-blocking operations and to abort them).
//
// Ownership: the pool copies every URL and TLS string it is given. Messages
// passed to nrpc_cpool_attempt() are always consumed; a reply is the caller's.
#ifndef RPC_CLIENT_POOL_H
#define RPC_CLIENT_POOL_H

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client_lb.h"
#include "nrpc/tls.h"

#define CPOOL_PROBE_INTERVAL_MS 500   // health check period per endpoint
#define CPOOL_PROBE_TIMEOUT_MS  1000  // a check unanswered this long: DOWN
#define CPOOL_CONNECT_GRACE_MS  1000  // not connected this long after a dial: DOWN
#define CPOOL_REFRESH_MS        10000 // dns+ names are re-resolved this often

typedef struct nrpc_cpool nrpc_cpool;

// Resolves host:port for `scheme` into at most cap endpoint URLs (see
// nrpc_lb_addr_url); returns the count, or -1 with a reason in err[errcap].
typedef int (*nrpc_cpool_resolver)(const nrpc_lb_dns_target *t, char (*urls)[LB_URL_MAX],
                                   size_t cap, char *err, size_t errcap, void *arg);

typedef struct nrpc_cpool_config {
	const char *const *urls; // plain nng URLs and dns+ URLs, at least one
	size_t n;
	const nrpc_tls *tls;         // for tls+tcp:// (see nrpc/tls.h); NULL: none
	uint32_t probe_interval_ms;  // 0: CPOOL_PROBE_INTERVAL_MS
	uint32_t probe_timeout_ms;   // 0: CPOOL_PROBE_TIMEOUT_MS
	uint32_t refresh_ms;         // 0: CPOOL_REFRESH_MS
	nrpc_cpool_resolver resolve; // NULL: getaddrinfo (tests pass their own)
	void *resolve_arg;
} nrpc_cpool_config;

// True when urls[n] want a pool: more than one URL, or any dns+ URL.
bool nrpc_cpool_wanted(const char *const *urls, size_t n);

// Resolves dns+ names (blocking, once), dials every endpoint (non-blocking)
// and starts the prober. Returns 0, or an nng error with a reason in err.
int nrpc_cpool_open(nrpc_cpool **out, const nrpc_cpool_config *cfg, char *err, size_t errcap);
// Stops the prober and closes every socket (bounded: base/nngclose.h).
void nrpc_cpool_close(nrpc_cpool *p);

typedef enum nrpc_cpool_outcome {
	CPOOL_REPLY,       // *reply holds the reply
	CPOOL_NO_ENDPOINT, // nothing READY outside *tried, and nothing pending (or !wait)
	CPOOL_NO_TIME,     // the deadline passed while waiting for a READY endpoint
	CPOOL_TIMEOUT,     // sent, and no reply by the deadline (the instance is alive)
	CPOOL_LOST_UNSENT, // the connection went away before the request was sent
	CPOOL_LOST_SENT,   // the connection went away after it was sent: outcome unknown
	CPOOL_ERROR,       // another nng failure (*rv)
} nrpc_cpool_outcome;

// One attempt: takes the next READY endpoint outside *tried (with `wait`,
// waiting for one while some endpoint has no verdict yet, up to `deadline`,
// an nng_clock() time), adds it to *tried, sends msg and waits for the reply
// until the deadline. msg is consumed. *rv is the nng error for CPOOL_ERROR.
nrpc_cpool_outcome nrpc_cpool_attempt(nrpc_cpool *p, nng_msg *msg, nng_time deadline, bool wait,
                                      uint64_t *tried, nng_msg **reply, int *rv);

// A view of the set for tests and diagnostics: fills up to cap slots with
// each endpoint's URL and state; returns the number of slots in use.
typedef struct nrpc_cpool_view {
	char url[LB_URL_MAX];
	nrpc_lb_state state;
} nrpc_cpool_view;
size_t nrpc_cpool_view_get(nrpc_cpool *p, nrpc_cpool_view *out, size_t cap);

#endif
