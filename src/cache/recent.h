// cache recent: changes this instance delivered to Redis itself, so that the
// event-log follower (cache_apply_log) need not send them again.
//
// A lossy table: an entry can be overwritten by another before it is taken,
// and then the change is simply applied twice (the scripts make that
// harmless). It only ever saves work, never skips a change that Redis did
// not acknowledge: entries are added after both the value and the owner's
// pages were acknowledged.
//
// Threads: thread-safe (striped mutexes); the loops add, the follower takes.
#ifndef CACHE_RECENT_H
#define CACHE_RECENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CACHE_RECENT_SLOTS   16384
#define CACHE_RECENT_STRIPES 16

typedef struct cache_recent_slot {
	uint64_t version; // 0: empty
	char id[37];
} cache_recent_slot;

typedef struct cache_recent {
	pthread_mutex_t mu[CACHE_RECENT_STRIPES];
	cache_recent_slot slots[CACHE_RECENT_SLOTS];
} cache_recent;

void cache_recent_init(cache_recent *r);
void cache_recent_fini(cache_recent *r);
// Remembers that (id, version) reached Redis.
void cache_recent_add(cache_recent *r, const char *id, uint64_t version);
// True (and forgets it) when (id, version) was remembered.
bool cache_recent_take(cache_recent *r, const char *id, uint64_t version);

#endif
