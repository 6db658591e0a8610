// The property domain's ports: the repository and the cache it talks to.
//
// The domain (src/property) owns these interfaces; src/store implements the
// repository on PostgreSQL and src/cache implements the cache on Redis. Tests
// may implement them in memory. Nothing here names libpq, hiredis or nng.
//
// Threads: every call may block and runs on an RPC worker thread. An adapter
// object is shared by all workers, so implementations are thread-safe.
//
// Memory: every message or string an adapter returns is allocated with
// ctx->alloc (the request arena, see prop_alloc) and is never freed by the
// adapter; inputs are borrowed for the duration of the call.
//
// Errors: repository calls return an nrpc_code (the one convention of this
// layer). On any code other than NRPC_OK they write a human message into
// ctx->err. The cache never fails a request: its errors are misses.
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
	char err[256];             // set by an adapter on error
} prop_ctx;

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
	// in one transaction. If (p->owner_id, idem_key) was recorded less than 24 h
	// ago: with the same request_hash it returns that property and sets *replayed
	// (nothing written); with another hash NRPC_ALREADY_EXISTS.
	nrpc_code (*create)(void *self, prop_ctx *ctx, const Property__V1__Property *p,
	                    const char *idem_key, const char *request_hash,
	                    Property__V1__Property **out, bool *replayed);
	// NRPC_NOT_FOUND when absent.
	nrpc_code (*get)(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out);
	// Copies the fields in `mask` from `values`, version + 1, updated_at now, and
	// appends "property.updated" in one transaction. Checks, in this order:
	// NOT_FOUND; PERMISSION_DENIED when owner is non-NULL and not the row's owner;
	// ABORTED when expected_version is non-zero and not the current version.
	nrpc_code (*update)(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
	                    const char *owner, unsigned mask, const Property__V1__Property *values,
	                    Property__V1__Property **out);
	// Deletes and appends "property.deleted" (the last state) in one
	// transaction; the same checks as update. *last is the deleted row.
	nrpc_code (*remove)(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
	                    const char *owner, Property__V1__Property **last);
	// At most `limit` rows of `owner` after `after` (NULL: from the start),
	// ordered by created_at_us DESC, id DESC.
	nrpc_code (*list_by_owner)(void *self, prop_ctx *ctx, const char *owner,
	                           const prop_cursor *after, uint32_t limit, prop_page *out);
	// At most `limit` matching rows after `after`, ordered by price_cents ASC, id ASC.
	nrpc_code (*search)(void *self, prop_ctx *ctx, const prop_search_query *q,
	                    const prop_cursor *after, uint32_t limit, prop_page *out);
	// Published events with seq > after_seq whose type starts with type_prefix
	// ("" = all), in seq order, at most limit; *last_seq is the newest seq.
	nrpc_code (*read_events)(void *self, prop_ctx *ctx, uint64_t after_seq, uint32_t limit,
	                         const char *type_prefix, Property__V1__Event ***events, size_t *n,
	                         uint64_t *last_seq);
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

typedef struct prop_cache_ops {
	// Looks up property:{id}.
	int (*get)(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out);
	// Stores p unless the cache holds the same or a newer version, or a
	// tombstone of the same or a newer version (atomically, in the cache). Used
	// both by readers (fill after a miss) and by writers (after commit).
	void (*put)(void *self, prop_ctx *ctx, const Property__V1__Property *p);
	// After a committed delete of the row at `version`: a tombstone.
	void (*put_deleted)(void *self, prop_ctx *ctx, const char *id, uint64_t version);
	// A cached owner-listing page (serialized ListPropertiesResponse) for
	// `page_key` (which names page size and token). Returns HIT or MISS; *gen is
	// always set to the owner's current generation, to hand back to page_put.
	int (*owner_page_get)(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
	                      uint8_t **data, size_t *len, uint64_t *gen);
	// Stores a page only if the owner's generation is still `gen` (atomically):
	// a reader that raced a writer never stores an old page.
	void (*owner_page_put)(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
	                       uint64_t gen, const uint8_t *data, size_t len);
	// After a committed write to any of the owner's properties: bumps the
	// generation and drops the cached pages.
	void (*owner_invalidate)(void *self, prop_ctx *ctx, const char *owner);
} prop_cache_ops;

typedef struct prop_cache {
	const prop_cache_ops *ops; // NULL ops: no cache
	void *self;
} prop_cache;

#endif
