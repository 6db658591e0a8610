// rpc arena: the per-request bump allocator behind nrpc_call_alloc().
//
// Every allocation of a call (the unpacked envelope and payload, what the
// handler builds, the reply's metadata) comes from one arena and is released
// at once by nrpc_arena_fini(): a request has one free point. Not thread-safe: an
// arena belongs to one call, used by one thread at a time.
//
// Bounds: the malloc'd chunks of one arena are capped (a_limit bytes), and
// every arena may share a process-wide budget (an nrpc_arena_budget) charged with
// one atomic add per chunk. The inline first chunk counts against neither.
// Allocations that decode what a caller sent (the server's protobuf-c
// unpacking, through a_pb_bounded) fail with NULL beyond a bound; allocations
// by trusted code (nrpc_arena_alloc and a_pb: handlers, reply building) never fail
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

struct nrpc_arena_chunk;

// Memory of all arenas sharing it (e.g. every call of a server).
typedef struct nrpc_arena_budget {
	_Atomic size_t b_used; // bytes of chunks currently held
	size_t b_limit;        // 0: unlimited
} nrpc_arena_budget;

typedef struct nrpc_arena {
	struct nrpc_arena_chunk *a_chunks; // malloc'd chunks, newest first
	char *a_cur;                       // next free byte in the current chunk
	size_t a_left;                     // bytes left in the current chunk
	size_t a_used;                     // bytes of malloc'd chunks (charged to a_budget)
	size_t a_limit;                    // cap on a_used; 0: unlimited
	nrpc_arena_budget *a_budget;       // shared budget, or NULL
	bool a_over;                       // a bound refused (or was exceeded by) an allocation
	ProtobufCAllocator a_pb;           // protobuf-c view of this arena (never refuses)
	ProtobufCAllocator a_pb_bounded;   // the same, but NULL beyond a bound
	_Alignas(16) char a_inline[ARENA_INLINE];
} nrpc_arena;

void nrpc_arena_init(nrpc_arena *a);
// nrpc_arena_init with bounds: at most `limit` bytes of chunks (0: no cap), charged
// to `budget` (NULL: none).
void nrpc_arena_init_bounded(nrpc_arena *a, size_t limit, nrpc_arena_budget *budget);
void nrpc_arena_fini(nrpc_arena *a);
// Zeroed memory aligned to 16 bytes; aborts on out-of-memory. Never refused
// by the bounds (sets a_over when it exceeds one).
void *nrpc_arena_alloc(nrpc_arena *a, size_t n);
// The same, but NULL (and a_over set) when a bound or malloc refuses.
void *nrpc_arena_try_alloc(nrpc_arena *a, size_t n);
char *nrpc_arena_strdup(nrpc_arena *a, const char *s);
char *nrpc_arena_strndup(nrpc_arena *a, const char *s, size_t n);

#endif
