// rpc arena: the per-request bump allocator behind nrpc_call_alloc().
//
// Every allocation of a call (the unpacked envelope and payload, what the
// handler builds, the reply's metadata) comes from one arena and is released
// at once by arena_fini(): a request has one free point. Not thread-safe: an
// arena belongs to one call, used by one thread at a time.
#ifndef RPC_ARENA_H
#define RPC_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

// First chunk lives inside the arena itself, so a small request makes no
// extra malloc; later chunks grow geometrically up to ARENA_MAX_CHUNK.
#define ARENA_INLINE    4096
#define ARENA_MAX_CHUNK (1u << 20)

struct arena_chunk;

typedef struct arena {
	struct arena_chunk *a_chunks; // malloc'd chunks, newest first
	char *a_cur;                  // next free byte in the current chunk
	size_t a_left;                // bytes left in the current chunk
	ProtobufCAllocator a_pb;      // protobuf-c view of this arena
	_Alignas(16) char a_inline[ARENA_INLINE];
} arena;

void arena_init(arena *a);
void arena_fini(arena *a);
// Zeroed memory aligned to 16 bytes; aborts on out-of-memory.
void *arena_alloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);

#endif
