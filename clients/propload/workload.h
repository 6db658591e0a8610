// pl_workload: what each call sends. Turns an operation mix, a data
// generator, an id pool and per-owner tokens into ready rpc.v1.Request
// messages, and learns from replies (ids a create returned, for later
// deletes and for `propload seed`).
//
// Threads: pl_workload_next and pl_workload_reply are called concurrently
// from nng completion callbacks and the open-loop dispatcher; they never
// block beyond a short internal mutex (id pool growth). Everything else
// happens before or after a run on one thread.
// Ownership: the workload borrows `ids` (which it may grow when collecting)
// and copies everything else it is given.
#ifndef PL_WORKLOAD_H
#define PL_WORKLOAD_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "mix.h"
#include "nrpc/tls.h"
#include "rng.h"
#include "rpc/v1/rpc.pb-c.h"
#include "stats.h"

// Tokens last this long: longer than any run.
#define PL_TOKEN_TTL_S (23 * 3600) // under propertyd's default TOKEN_MAX_LIFETIME (24 h)
// Most owners (one token each).
#define PL_OWNERS_MAX 1000000u

typedef enum pl_keydist { PL_KEYS_UNIFORM, PL_KEYS_ZIPF, PL_KEYS_SEQ } pl_keydist;

typedef struct pl_workload_cfg {
	pl_mix mix;            // ignored in generic mode
	unsigned owners;       // owners to spread creates over (tokens minted for each)
	pl_keydist dist;       // how get/update pick ids and list picks owners
	double zipf_s;         // exponent for PL_KEYS_ZIPF
	size_t keys;           // use only the first `keys` ids of the pool (0: all)
	uint32_t timeout_ms;   // sent in each request's envelope
	const uint8_t *secret; // AUTH_SECRET to mint tokens with, or NULL (no tokens)
	size_t secret_len;
	const char *token;       // one fixed token for every call (overrides secret), or NULL
	const char *call_method; // generic mode: method name (see methods.h), or NULL
	const char *call_data;   // generic mode: request JSON ("{}" when NULL)
	// Generic mode, a method propload was not compiled with: its descriptors
	// are fetched from the server at urls[0..nurls) through rpc.v1.Reflection.
	const char *const *urls;
	size_t nurls;
	const nrpc_tls *tls;
	bool collect;      // add every created id to the pool (seed mode)
	size_t echo_bytes; // > 0: echo mode (bench/echo_server): send this many bytes
	                   // shaped as an OK rpc.v1.Response, which an echo returns as is
	bool idempotent;   // each create carries an idempotency-key of its own (run id + seq)
} pl_workload_cfg;

typedef struct pl_workload pl_workload;

int pl_workload_open(pl_workload **out, const pl_workload_cfg *cfg, pl_ids *ids, char *err,
                     size_t errcap);
void pl_workload_close(pl_workload *w);

// The full method path of an op ("/property.v1.PropertyService/GetProperty",
// or the generic method).
const char *pl_workload_method(const pl_workload *w, pl_op op);

// Builds the next request: picks the op with `r`, returns 0 with a new
// message (*msg, the caller owns it) and the op, or -1 on allocation failure.
int pl_workload_next(pl_workload *w, pl_rng *r, nng_msg **msg, pl_op *op);

// Tells the workload about a reply (res->code 0 or not).
void pl_workload_reply(pl_workload *w, pl_op op, const Rpc__V1__Response *res);

#endif
