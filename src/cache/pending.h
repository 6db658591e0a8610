// cache pending: the bounded set of invalidations Redis has not received.
//
// When a write-side call (put, put_deleted, owner_invalidate) could not reach
// Redis, the value there may now be stale. The adapter records what it owed
// here and keeps the cache down until a background reconnect has replayed
// every entry:
//   a property: the versioned value it owed, as a fence ('F', for a put whose
//               bytes we did not keep) or a tombstone ('D') at that version;
//   an owner:   a generation bump and the removal of its pages.
// Entries are merged (one per property, keeping the highest (version, kind);
// one per owner). Past CACHE_PENDING_CAP entries -- or for an id too long to
// keep -- the set only remembers that it overflowed; the replay is then a
// purge of all of the adapter's keys (see redis_cache.h).
//
// Not thread-safe: the cache's mutex guards it.
#ifndef CACHE_PENDING_H
#define CACHE_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/value.h"

// Enough for the writes of a few seconds of outage at a busy instance; the
// entries cost ~100 bytes each and the merge is a linear scan that runs only
// while Redis is failing. Past it a purge is the answer, not more memory.
#define CACHE_PENDING_CAP 1024
// Property ids are UUIDs (36 characters) and owner ids are at most 64 bytes
// (docs/contract.md); anything longer overflows the set (it is never lost).
#define CACHE_PENDING_ID_MAX 72

typedef enum cache_pending_type {
	CACHE_PENDING_PROPERTY = 0,
	CACHE_PENDING_OWNER = 1,
} cache_pending_type;

typedef struct cache_pending_rec {
	cache_pending_type type;
	cache_kind kind;  // property: CACHE_KIND_FENCE or CACHE_KIND_TOMB
	uint64_t version; // property only
	char id[CACHE_PENDING_ID_MAX];
} cache_pending_rec;

typedef struct cache_pending {
	cache_pending_rec e[CACHE_PENDING_CAP];
	size_t n;
	bool overflow; // some entries were not kept: purge everything
} cache_pending;

void cache_pending_clear(cache_pending *p);
bool cache_pending_empty(const cache_pending *p);
// Records (merges) an entry for `id`. Never fails: on overflow sets the flag.
void cache_pending_add(cache_pending *p, cache_pending_type type, const char *id, cache_kind kind,
                       uint64_t version);

#endif
