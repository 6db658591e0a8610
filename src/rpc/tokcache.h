// rpc tokcache: tokens that verified recently, so a caller's next requests
// skip the base64, HMAC and JSON work of a full verification.
//
// A fixed table of TOKCACHE_SLOTS entries indexed by a hash of the token
// text; an entry holds the whole token (compared byte for byte, so a hash
// collision is only a miss), its "sub" and the time it expires. A lookup
// answers only while now < that expiry; an entry is only ever filled from a
// successful nrpc_jwt_verify_until with the server's own secret. Tokens
// longer than TOKCACHE_TOKEN_MAX are not cached (verified every time).
//
// Threads: every function is thread-safe (a mutex per slot; requests of
// different callers rarely share one). Memory: the table is the caller's
// (inside the server struct), no allocation.
#ifndef RPC_TOKCACHE_H
#define RPC_TOKCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/jwt.h"

#define TOKCACHE_SLOTS     256
#define TOKCACHE_TOKEN_MAX 512

typedef struct nrpc_tokcache_slot {
	pthread_mutex_t mu;
	size_t len; // 0: empty
	int64_t until;
	char token[TOKCACHE_TOKEN_MAX];
	char sub[NRPC_JWT_MAX_SUB + 1];
} nrpc_tokcache_slot;

typedef struct nrpc_tokcache {
	nrpc_tokcache_slot slots[TOKCACHE_SLOTS];
} nrpc_tokcache;

void nrpc_tokcache_init(nrpc_tokcache *t);
void nrpc_tokcache_fini(nrpc_tokcache *t);
// true: `token` verified before and is still valid at `now`; its sub is
// copied into sub[subcap].
bool nrpc_tokcache_get(nrpc_tokcache *t, const char *token, int64_t now, char *sub, size_t subcap);
// Remembers a token that just verified.
void nrpc_tokcache_put(nrpc_tokcache *t, const char *token, const char *sub, int64_t until);

#endif
