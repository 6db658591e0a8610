// The property domain's ports: the repository and the cache it talks to.
//
// The domain (src/property) owns these interfaces; src/store implements the
// repository on PostgreSQL and src/cache implements the cache on Redis. Tests
// may implement them in memory. Nothing here names libpq, hiredis or nng.
//
// Asynchronous: an operation starts the work and returns; it reports through
// its continuation `k`, called exactly once -- possibly before the operation
// returns (in-memory fakes do), otherwise later on the thread of the event
// loop that ctx->shard names. Every operation of one request is made on that
// same loop thread, so adapters keep per-loop state indexed by ctx->shard and
// need no locks on the request path. Outputs are written through the
// pointers given, before k runs.
//
// Memory: every message or string an adapter returns is allocated with
// ctx->alloc (the request arena, see prop_alloc) and is never freed by the
// adapter; inputs are borrowed until k runs (fire-and-forget operations copy
// what they keep before returning).
//
// Errors: repository operations complete with an nrpc_code (the one
// convention of this layer); on any code other than NRPC_OK they write a human
// message into ctx->err. The cache never fails a request: its errors are
// misses, and a write-side call that could not reach the cache is the
// adapter's to remember and replay.
#ifndef PROP_PORTS_H
#define PROP_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/status.h"
#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"

typedef struct prop_ctx {
	int64_t deadline_us;       // absolute, CLOCK_MONOTONIC microseconds
	ProtobufCAllocator *alloc; // the request arena; outputs are allocated here
	unsigned shard;            // the event loop this request runs on
	char err[256];             // set by an adapter on error
} prop_ctx;

// A continuation: how an asynchronous operation reports back.
typedef void (*prop_k)(prop_ctx *ctx, nrpc_code rc);

static inline void *prop_alloc(prop_ctx *ctx, size_t n)
{
	return ctx->alloc->alloc(ctx->alloc->allocator_data, n);
}

// Fields an update may change (update_mask paths).
enum prop_field {
	PROP_F_TITLE = 1u << 0,
	PROP_F_DESCRIPTION = 1u << 1,
	PROP_F_LOCATION = 1u << 2,
	PROP_F_PRICE = 1u << 3,
	PROP_F_CURRENCY = 1u << 4,
	PROP_F_BEDROOMS = 1u << 5,
	PROP_F_STATUS = 1u << 6,
};

// A keyset position: the last row of the previous page. For the owner listing
// `key` is created_at_us; for search it is price_cents.
typedef struct prop_cursor {
	int64_t key;
	char id[37]; // canonical lower-case UUID text
} prop_cursor;

typedef struct prop_page {
	Property__V1__Property **items; // arena array of n rows
	size_t n;
} prop_page;

typedef struct prop_search_query {
	const char *city;         // "" = any; exact match ignoring case
	const char *country_code; // "" = any
	int64_t min_price_cents;  // inclusive
	int64_t max_price_cents;  // inclusive; 0 = no bound
	uint32_t min_bedrooms;    // inclusive
	bool has_bbox;            // edges included
	double min_lat, min_lon, max_lat, max_lon;
	int status; // PropertyStatus; 0 = any
} prop_search_query;

typedef struct prop_repo_ops {
	// Inserts p (owner_id .. status filled; id, version = 1 and timestamps are
	// assigned by the store) with its "property.created" event-log row and, when
	// idem_key is non-NULL, the idempotency record (owner, key, request_hash), all
	// in one transaction (which may be shared with other creates: group commit;
	// one create's failure never fails another's). If (p->owner_id, idem_key) was
	// recorded less than 24 h ago: with the same request_hash it returns that
	// property and sets *replayed (nothing written); with another hash
	// NRPC_ALREADY_EXISTS.
	void (*create)(void *self, prop_ctx *ctx, const Property__V1__Property *p,
	               const char *idem_key, const char *request_hash, Property__V1__Property **out,
	               bool *replayed, prop_k k);
	// NRPC_NOT_FOUND when absent.
	void (*get)(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out,
	            prop_k k);
	// Copies the fields in `mask` from `values`, version + 1, updated_at now, and
	// appends "property.updated" in one transaction. Checks, in this order:
	// NOT_FOUND; PERMISSION_DENIED when owner is non-NULL and not the row's owner;
	// ABORTED when expected_version is non-zero and not the current version.
	void (*update)(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
	               const char *owner, unsigned mask, const Property__V1__Property *values,
	               Property__V1__Property **out, prop_k k);
	// Deletes and appends "property.deleted" (the last state) in one
	// transaction; the same checks as update. *last is the deleted row.
	void (*remove)(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
	               const char *owner, Property__V1__Property **last, prop_k k);
	// At most `limit` rows of `owner` after `after` (NULL: from the start),
	// ordered by created_at_us DESC, id DESC.
	void (*list_by_owner)(void *self, prop_ctx *ctx, const char *owner,
	                      const prop_cursor *after, uint32_t limit, prop_page *out, prop_k k);
	// At most `limit` matching rows after `after`, ordered by price_cents ASC, id ASC.
	// q is read before search returns (it may live on the caller's stack).
	void (*search)(void *self, prop_ctx *ctx, const prop_search_query *q,
	               const prop_cursor *after, uint32_t limit, prop_page *out, prop_k k);
	// Published events with seq > after_seq whose type starts with type_prefix
	// ("" = all), in seq order, at most limit (0: none: only *last_seq and the
	// retention check, without walking the log); *last_seq is the newest seq.
	void (*read_events)(void *self, prop_ctx *ctx, uint64_t after_seq, uint32_t limit,
	                    const char *type_prefix, Property__V1__Event ***events, size_t *n,
	                    uint64_t *last_seq, prop_k k);
} prop_repo_ops;

typedef struct prop_repo {
	const prop_repo_ops *ops;
	void *self;
} prop_repo;

enum prop_cache_result {
	PROP_CACHE_MISS = 0, // not cached (or the cache is unavailable)
	PROP_CACHE_HIT = 1,  // *out filled
	PROP_CACHE_GONE = 2, // a tombstone: the property was deleted
};

// A committed write, as the cache must learn it: the new row (create,
// update) or a tombstone (delete), and the owner whose listing pages go.
typedef struct prop_cache_change {
	const Property__V1__Property *row; // the new row; NULL for a delete
	const char *id;                    // delete: the id ...
	uint64_t version;                  // ... and the version deleted
	const char *owner;                 // the row's owner
} prop_cache_change;

typedef struct prop_cache_ops {
	// Looks up property:{id}; *result is a prop_cache_result (k's code is
	// always NRPC_OK).
	void (*get)(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out,
	            int *result, prop_k k);
	// Fills the cache after a miss: stores p unless the cache holds the same or
	// a newer version, or a tombstone of the same or a newer version
	// (atomically, in the cache). Fire and forget: p is copied before return.
	void (*fill)(void *self, prop_ctx *ctx, const Property__V1__Property *p);
	// After a commit, before the caller is answered: the new row (or a
	// tombstone) is stored with the same version rule as fill, and the owner's
	// listing pages are invalidated (generation bumped, pages dropped). k runs
	// when the cache acknowledged both, or when the adapter has recorded what
	// it owes (then it serves nothing until that is replayed).
	void (*after_write)(void *self, prop_ctx *ctx, const prop_cache_change *ch, prop_k k);
	// A cached owner-listing page (serialized ListPropertiesResponse) for
	// `page_key` (which names page size and token). *result is HIT or MISS;
	// *gen is always set to the owner's current generation, to hand back to
	// page_fill.
	void (*owner_page_get)(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
	                       uint8_t **data, size_t *len, uint64_t *gen, int *result, prop_k k);
	// Stores a page only if the owner's generation is still `gen` (atomically):
	// a reader that raced a writer never stores an old page. Fire and forget.
	void (*owner_page_fill)(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
	                        uint64_t gen, const uint8_t *data, size_t len);
} prop_cache_ops;

typedef struct prop_cache {
	const prop_cache_ops *ops; // NULL ops: no cache
	void *self;
} prop_cache;

#endif
