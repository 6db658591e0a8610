// rpc arena: the per-request bump allocator behind nrpc_call_alloc().
//
// Every allocation of a call (the unpacked envelope and payload, what the
// handler builds, the reply's metadata) comes from one arena and is released
// at once by arena_fini(): a request has one free point. Not thread-safe: an
// arena belongs to one call, used by one thread at a time.
//
// Bounds: the malloc'd chunks of one arena are capped (a_limit bytes), and
// every arena may share a process-wide budget (an arena_budget) charged with
// one atomic add per chunk. The inline first chunk counts against neither.
// Allocations that decode what a caller sent (the server's protobuf-c
// unpacking, through a_pb_bounded) fail with NULL beyond a bound; allocations
// by trusted code (arena_alloc and a_pb: handlers, reply building) never fail
// that way -- they are counted, and the arena remembers it went over (a_over).
#ifndef RPC_ARENA_H
#define RPC_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

// First chunk lives inside the arena itself, so a small request makes no
// extra malloc; later chunks grow geometrically up to ARENA_MAX_CHUNK.
#define ARENA_INLINE    4096
#define ARENA_MAX_CHUNK (1u << 20)

struct arena_chunk;

// Memory of all arenas sharing it (e.g. every call of a server).
typedef struct arena_budget {
	_Atomic size_t b_used; // bytes of chunks currently held
	size_t b_limit;        // 0: unlimited
} arena_budget;

typedef struct arena {
	struct arena_chunk *a_chunks;    // malloc'd chunks, newest first
	char *a_cur;                     // next free byte in the current chunk
	size_t a_left;                   // bytes left in the current chunk
	size_t a_used;                   // bytes of malloc'd chunks (charged to a_budget)
	size_t a_limit;                  // cap on a_used; 0: unlimited
	arena_budget *a_budget;          // shared budget, or NULL
	bool a_over;                     // a bound refused (or was exceeded by) an allocation
	ProtobufCAllocator a_pb;         // protobuf-c view of this arena (never refuses)
	ProtobufCAllocator a_pb_bounded; // the same, but NULL beyond a bound
	_Alignas(16) char a_inline[ARENA_INLINE];
} arena;

void arena_init(arena *a);
// arena_init with bounds: at most `limit` bytes of chunks (0: no cap), charged
// to `budget` (NULL: none).
void arena_init_bounded(arena *a, size_t limit, arena_budget *budget);
void arena_fini(arena *a);
// Zeroed memory aligned to 16 bytes; aborts on out-of-memory. Never refused
// by the bounds (sets a_over when it exceeds one).
void *arena_alloc(arena *a, size_t n);
// The same, but NULL (and a_over set) when a bound or malloc refuses.
void *arena_try_alloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);

#endif
