// cache scripts: the Lua scripts the adapter runs with EVALSHA.
//
// Each one makes a read-check-write atomic inside Redis (a script runs alone),
// which is what closes the cache-aside races described in redis_cache.h.
// Scripts are loaded on every connection (SCRIPT LOAD, pipelined with the
// handshake) and called by SHA; a NOSCRIPT reply falls back to EVAL.
//
// Every script only ever moves a key forward (a higher version, a higher
// generation, a deletion), so one that Redis executes late -- sent to a frozen
// server whose connection we already gave up on -- cannot bring back stale data.
#ifndef CACHE_SCRIPTS_H
#define CACHE_SCRIPTS_H

enum cache_script {
	// KEYS[1] property:<id>; ARGV version, kind rank (0 F, 1 P, 2 D), value,
	// ttl seconds. Writes value unless the key holds a value with a
	// (version, rank) >= the new one. Returns 1 written, 0 rejected.
	CACHE_SCRIPT_PUT = 0,
	// KEYS hash, generation; ARGV generation, field, page, ttl seconds.
	// Stores the page only if the generation is still the given one
	// (absent = "0"). Returns 1 stored, 0 rejected.
	CACHE_SCRIPT_OWNER_PUT,
	// KEYS hash, generation; ARGV generation ttl seconds. INCR + EXPIRE the
	// generation, DEL the pages. Returns the new generation.
	CACHE_SCRIPT_OWNER_INVALIDATE,
	// KEYS[1] property:<id>; ARGV the value a reader found to be garbage.
	// Deletes the key only if it still holds exactly that. Returns 1/0.
	CACHE_SCRIPT_DEL_IF,
	// KEYS: any of our keys (from SCAN). Bumps owner generations (":gen"
	// suffix) and unlinks everything else. Used after the pending set
	// overflowed. Returns the number of keys.
	CACHE_SCRIPT_PURGE,
	CACHE_SCRIPT_N
};

extern const char *const cache_scripts[CACHE_SCRIPT_N];

#endif
