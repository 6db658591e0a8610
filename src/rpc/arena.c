#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	_Alignas(16) char data[];
};

static void *pb_alloc(void *data, size_t n)
{
	return arena_alloc(data, n);
}

static void pb_free(void *data, void *p)
{
	// The arena frees everything at once in arena_fini().
	(void)data;
	(void)p;
}

void arena_init(arena *a)
{
	a->a_chunks = NULL;
	a->a_cur = a->a_inline;
	a->a_left = sizeof(a->a_inline);
	a->a_pb.alloc = pb_alloc;
	a->a_pb.free = pb_free;
	a->a_pb.allocator_data = a;
}

void arena_fini(arena *a)
{
	struct arena_chunk *c = a->a_chunks;
	while (c != NULL) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->a_chunks = NULL;
	a->a_cur = NULL;
	a->a_left = 0;
}

void *arena_alloc(arena *a, size_t n)
{
	size_t need = (n + 15u) & ~(size_t)15u;
	if (need == 0)
		need = 16;
	if (need > a->a_left) {
		size_t size = a->a_chunks ? a->a_chunks->size * 2 : ARENA_INLINE * 4;
		if (size > ARENA_MAX_CHUNK)
			size = ARENA_MAX_CHUNK;
		if (size < need)
			size = need;
		struct arena_chunk *c = malloc(sizeof(*c) + size);
		if (c == NULL) {
			fputs("propertyd: out of memory\n", stderr);
			abort();
		}
		c->size = size;
		c->next = a->a_chunks;
		a->a_chunks = c;
		a->a_cur = c->data;
		a->a_left = size;
	}
	void *p = a->a_cur;
	a->a_cur += need;
	a->a_left -= need;
	memset(p, 0, n);
	return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}
