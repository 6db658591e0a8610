// cache internals: what the adapter's .c files share (not a public header).
//
//   async_ops.c   the port's operations, on the loops' aredis clients
//   breaker.c     clocks, keys and the circuit breaker (down, owed writes)
//   recover.c     the background thread: reconnect, replay, purge, on a
//                 blocking connection of its own (conn.h)
//   redis_cache.c the life cycle and the metrics
#ifndef CACHE_IMPL_H
#define CACHE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/clock.h" // the cache's clock: CLOCK_MONOTONIC
#include "cache/conn.h"
#include "cache/pending.h"
#include "cache/recent.h"
#include "cache/redis_cache.h"
#include "cache/redis_url.h"
#include "cache/value.h"
#include "obs/metrics.h"

// How often the background thread retries a down Redis.
#define CACHE_RECONNECT_MS 500
// How long cache_create waits for the first connect attempt (see there).
#define CACHE_START_WAIT_MS 1000
// After an overflowed pending set, stay down this long after the last lost
// write: longer than the default request deadline (5 s, docs/contract.md) with a
// margin, so the readers that were in flight have finished.
#define CACHE_PURGE_GRACE_MS 10000
// Keys per SCAN step and per purge script call during a purge.
#define CACHE_PURGE_BATCH 256
// Largest value we unpack or store: a property is at most ~12 KB of fields
// (docs/contract.md); protobuf-c's unpack recurses unbounded, so cap its input.
#define CACHE_VALUE_MAX (64 * 1024)
// Largest listing page we cache (100 rows of at most ~12 KB).
#define CACHE_PAGE_MAX (2 * 1024 * 1024)
// Longest key: prefixes plus a 64-byte owner id leave plenty of room; a
// longer id is not cached at all.
#define CACHE_KEY_MAX 160
// The generation handed out when it is unknown (cache down): page_put
// ignores it, so a page loaded during an outage is never stored.
#define CACHE_GEN_UNKNOWN UINT64_MAX

enum cache_op {
	OP_GET,
	OP_PUT,
	OP_PUT_DELETED,
	OP_OWNER_GET,
	OP_OWNER_PUT,
	OP_OWNER_INVALIDATE,
	OP_CONNECT,
	OP_REPLAY,
	OP_N
};

enum cache_family { FAM_PROPERTY, FAM_OWNER, FAM_N };

// One event loop's connection to Redis (async_ops.c).
struct cache_shard {
	struct cache_aredis *client;
	unsigned seed; // rand_r state for TTL jitter; only its loop touches it
};

struct cache_redis {
	cache_url url;
	struct cache_shard *shards; // [nshards], set by cache_attach_loops
	unsigned nshards;

	pthread_mutex_t mu;   // guards everything below up to `bg`
	pthread_cond_t bg_cv; // the cache went down, is stopping, or was first tried
	atomic_bool up;       // written under mu; read without it on fast paths
	bool stopping;
	bool first_tried;            // the background thread's first attempt ended (under mu)
	cache_pending pending;       // owed to Redis (pending.h)
	cache_pending replaying;     // taken by the background thread
	int64_t purge_not_before_us; // overflow: stay down until then
	size_t replayed;             // entries replayed since going down (for the log)
	pthread_t bg;

	cache_conn log_conn; // cache_apply_log's connection: one thread only (logsync.c)
	cache_recent recent; // writes this instance delivered itself (recent.h)

	obs_registry *own_metrics; // non-NULL when we created it
	obs_counter *hit[FAM_N], *miss[FAM_N];
	obs_counter *errors[OP_N];
	obs_gauge *up_gauge;
};

extern const char *const cache_op_names[OP_N];

// What a write-side call owes Redis if it does not get through (pending.h).
typedef struct cache_owed {
	cache_pending_type type;
	const char *id;
	cache_kind kind;  // property: fence or tombstone
	uint64_t version; // property only
} cache_owed;

// Keys (redis_cache.h) into buffers of CACHE_KEY_MAX; 0, or -1 when they
// would not fit (such ids are never cached).
int cache_property_key(char *buf, const char *id);
int cache_owner_keys(char *hash, char *gen, const char *owner);

// A command of the request path failed (why: a short text): counts it,
// records what it owed (rec, may be NULL) and takes the cache down.
void cache_mark_down(cache_redis *c, enum cache_op op, const cache_owed *rec, const char *why);
// Records what a write-side call owes while the cache is down (either may be NULL).
void cache_owe(cache_redis *c, const cache_owed *a, const cache_owed *b);

// One attempt to bring the cache up (open a probe connection, replay what is
// owed, purge after an overflow, go up); and the background thread's body.
void cache_try_recover(cache_redis *c);
void *cache_bg_main(void *arg);

#endif
