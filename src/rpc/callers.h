// rpc callers: requests in flight per caller (token "sub"), for the
// per-caller limit of nrpc_server_config.max_inflight_per_caller.
//
// A fixed table, allocated once: CALLERS_STRIPES stripes of CALLERS_WAYS
// entries, each stripe behind its own mutex (a call takes one stripe lock
// when its token is verified and once more when its reply is sent). An entry
// whose count is back to 0 stays in place, zeroed, and is reused by the next
// caller hashing to that stripe. When every entry of a stripe is busy (more
// than CALLERS_WAYS callers of that stripe in flight at once) a new caller
// is not tracked and is allowed: the table is bounded and never refuses a
// caller for lack of room.
#ifndef RPC_CALLERS_H
#define RPC_CALLERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/jwt.h"

#define CALLERS_STRIPES 64
#define CALLERS_WAYS    32 // 2048 callers tracked at once

struct nrpc_caller_entry {
	unsigned count;      // requests in flight; 0: free for reuse
	int64_t refusal_tat; // base_ratelimit state of the caller's refusals; 0: none yet
	unsigned long hash;
	char sub[NRPC_JWT_MAX_SUB + 1];
};

struct nrpc_caller_stripe {
	pthread_mutex_t mtx;
	struct nrpc_caller_entry e[CALLERS_WAYS];
};

typedef struct nrpc_callers {
	struct nrpc_caller_stripe *stripes; // CALLERS_STRIPES, or NULL when unlimited
	unsigned limit;                     // 0: unlimited
	// Refusals a second the caller may draw (after a burst of a tenth, at
	// least 64) before each further one asks its connection to pause; 0: none.
	unsigned refusal_rate;
} nrpc_callers;

// Returns 0 or -1 (no memory). limit 0: nothing is tracked.
int nrpc_callers_init(nrpc_callers *t, unsigned limit);
void nrpc_callers_fini(nrpc_callers *t);

enum nrpc_callers_result { CALLERS_ADMITTED, CALLERS_UNTRACKED, CALLERS_REFUSED };

// Counts one more request of `sub`. On CALLERS_ADMITTED *slot is the entry
// to hand to nrpc_callers_release() once the request's reply is sent; otherwise
// *slot is NULL and there is nothing to release. On CALLERS_REFUSED,
// *pause_us is how long the connection that carried the request should not
// be read, because the caller draws refusals faster than refusal_rate (0:
// no pause): a caller flooding over several connections is slowed as one.
enum nrpc_callers_result nrpc_callers_acquire(nrpc_callers *t, const char *sub,
                                              struct nrpc_caller_entry **slot, int64_t *pause_us);
void nrpc_callers_release(nrpc_callers *t, struct nrpc_caller_entry *slot);

#endif
