// cache redis_cache: the property domain's cache port (property/ports.h) on
// Redis (hiredis 0.14), asynchronous, on the request path's event loops.
//
// Keys (the database of the URL is dedicated to propertyd):
//   property:<id>                   a value of value.h: row, tombstone or fence;
//                                   TTL CACHE_TTL_S +-10%
//   properties:owner:{<owner>}      hash: one field per page key, the
//                                   serialized ListPropertiesResponse page;
//                                   TTL CACHE_TTL_S +-10% (refreshed by puts)
//   properties:owner:{<owner>}:gen  the owner's generation (absent = 0);
//                                   TTL CACHE_GEN_TTL_S
// The braces are a Redis Cluster hash tag: an owner's two keys, which one
// script touches, always share a slot.
//
// Consistency (docs/contract.md: "caching never serves data older than an
// acknowledged write"):
//  - fill and after_write (a row, or a tombstone for a delete) go through one
//    script that writes only a strictly newer (version, kind) (see value.h): a
//    reader that loaded an old row and fills the cache after a writer stored
//    a newer one is rejected.
//  - Pages are stored only under the generation read before loading them;
//    owner_invalidate bumps it (and drops the pages) atomically.
//  - Circuit breaker: after any Redis failure the cache is "down": every call
//    is a miss (or a no-op) without touching Redis, and a background thread
//    reconnects every CACHE_RECONNECT_MS. A write-side call (after_write: the
//    put and the owner invalidation) that failed, or that came while down, is
//    recorded in a bounded pending set (pending.h); the cache comes back only
//    after the reconnect succeeded AND every pending entry was replayed. If the set
//    overflowed, the replay purges every key of ours (SCAN + a script that
//    bumps generations and unlinks the rest -- narrower than FLUSHDB and it
//    never resets a generation), and the cache stays down until
//    CACHE_PURGE_GRACE_MS after the last lost write, so that a reader still
//    in flight since before the purge cannot store what it loaded.
//  - Scripts move keys only forward, so a command that a frozen Redis runs
//    late (after we gave up on it) is harmless.
//  Across several instances the same rules hold for Redis' content; only the
//  "stay down until replayed" is per process.
//
// Request path: no call blocks. cache_attach_loops gives every event loop
// (shard) one asynchronous, pipelining connection (aredis.h); a port call
// runs on the loop of ctx->shard, queues its command(s) on that loop's
// connection and returns, and its continuation runs on the same loop when
// Redis answers (async_ops.c). Commands of all the requests of a loop pass
// share one write and one read. A command unanswered after
// CACHE_COMMAND_TIMEOUT_MS (conn.h), or a loop connection not connected and
// ready (AUTH, SELECT) within that same bound, fails its connection: every
// command on it completes as a miss (or records what it owed) and the cache
// goes down. While down, calls complete at once without touching Redis.
//
// Recovery: the background thread (recover.c) reconnects on a blocking
// connection of its own (conn.h, CACHE_CONNECT_TIMEOUT_MS), replays, and
// brings the cache up; the loops' connections then reconnect on their next
// command.
//
// Threads: the port's operations run on the loop threads (one loop per
// shard, no lock on the way except the breaker's mutex when something
// fails or is owed); create/attach/detach/destroy from one owning thread.
// The cache owns one background thread, started by create and joined by
// destroy.
#ifndef CACHE_REDIS_CACHE_H
#define CACHE_REDIS_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "obs/metrics.h"
#include "property/ports.h"

struct event_base;

// Values and pages: 300 s, jittered +-10% per write. Short enough that a
// value we could not invalidate (an outage across instances) dies soon.
#define CACHE_TTL_S 300
// An owner's generation lives a day after its last bump: far longer than any
// reader is in flight, so expiry (back to 0) cannot make an old page current.
#define CACHE_GEN_TTL_S 86400

typedef struct cache_redis cache_redis;

// Creates the cache for redis_url (redis://[[user]:password@]host[:port][/db])
// and starts its background thread. Tries one connection now (the recovery
// thread's, recover.c): if Redis is unreachable the cache starts down and
// comes up by itself. The request path's connections come with
// cache_attach_loops. Metrics are registered in `metrics` (borrowed; it must
// outlive the cache), or a private registry when NULL.
// Returns 0 and *out (owned by the caller, freed with cache_destroy), or -1
// with a message in err[errcap] (a bad URL, no memory, no thread).
int cache_create(cache_redis **out, const char *redis_url, obs_registry *metrics, char *err,
                 size_t errcap);

// Detaches the loops' clients (cache_detach_loops) and stops the background
// thread. No other call may be running or made afterwards. NULL is a no-op.
void cache_destroy(cache_redis *c);

// Gives the cache one asynchronous connection per event loop (shard i runs
// on bases[i]): the request path's commands go there. Their connects
// resolve a host name with `resolver` (borrowed, must outlive the cache;
// NULL: hiredis resolves, blocking the loop). Call before the loops run. 0,
// or -1 with a reason in err.
struct base_resolver;
int cache_attach_loops(cache_redis *c, struct event_base *const *bases, unsigned n,
                       struct base_resolver *resolver, char *err, size_t errcap);
// Closes them: after the loops stopped (cache_destroy does it too).
void cache_detach_loops(cache_redis *c);

// A change committed by any instance, as the event log tells it.
typedef struct cache_log_change {
	const char *id;    // the property
	const char *owner; // its owner
	uint64_t version;  // the version written (or deleted)
	bool deleted;
} cache_log_change;

// Durable invalidation: applies changes read from the event log, whoever
// wrote them -- a fence (for a create or update) or a tombstone (for a
// delete) at each version, through the same version-ordered script as every
// write, and the owner's pages dropped. It is what bounds a stale entry by
// the event relay's lag when the writing instance could not reach Redis
// (or crashed between its commit and its own invalidation). A fence never
// removes the row of its own version, so the writer's fresh value stays.
// Blocking, pipelined (one round trip per call); one thread only. While the
// cache is down, or when Redis fails, the changes are recorded as owed (the
// replay sends them before the cache serves again). Returns 0 when Redis
// took them, -1 when they were recorded instead.
// At most CACHE_LOG_BATCH_MAX changes per call; changes this instance
// delivered to Redis itself are skipped.
#define CACHE_LOG_BATCH_MAX 256
int cache_apply_log(cache_redis *c, const cache_log_change *ch, size_t n);

// The port: {ops, c}; valid while c lives. Its operations run on the loop
// of ctx->shard (see cache_attach_loops).
prop_cache cache_port(cache_redis *c);

// True while the cache is up (serving from Redis).
bool cache_available(cache_redis *c);

#endif
