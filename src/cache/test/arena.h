// A test stand-in for the request arena: every allocation is kept on a list
// and released by arena_fini, like the real one at the end of a request.
#ifndef CACHE_TEST_ARENA_H
#define CACHE_TEST_ARENA_H

#include <stdlib.h>

#include <protobuf-c/protobuf-c.h>

typedef struct arena_block {
	struct arena_block *next;
	max_align_t data[];
} arena_block;

typedef struct fake_arena {
	ProtobufCAllocator pa;
	arena_block *blocks;
} fake_arena;

static inline void *arena_alloc(void *data, size_t n)
{
	fake_arena *a = data;
	arena_block *b = malloc(sizeof(*b) + n);
	if (b == NULL)
		abort();
	b->next = a->blocks;
	a->blocks = b;
	return b->data;
}

static inline void arena_free_one(void *data, void *p)
{
	(void)data; // freed with the arena
	(void)p;
}

static inline void arena_init(fake_arena *a)
{
	a->pa.alloc = arena_alloc;
	a->pa.free = arena_free_one;
	a->pa.allocator_data = a;
	a->blocks = NULL;
}

static inline void arena_fini(fake_arena *a)
{
	while (a->blocks != NULL) {
		arena_block *n = a->blocks->next;
		free(a->blocks);
		a->blocks = n;
	}
}

#endif
