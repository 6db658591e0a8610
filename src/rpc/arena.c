#include "arena.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nrpc_arena_chunk {
	struct nrpc_arena_chunk *next;
	size_t size;
	_Alignas(16) char data[];
};

static void *pb_alloc(void *data, size_t n)
{
	return nrpc_arena_alloc(data, n);
}

static void *pb_alloc_bounded(void *data, size_t n)
{
	// protobuf-c turns NULL into a failed unpack: a caller's bytes can never
	// make the arena outgrow its bounds.
	return nrpc_arena_try_alloc(data, n);
}

static void pb_free(void *data, void *p)
{
	// The arena frees everything at once in nrpc_arena_fini().
	(void)data;
	(void)p;
}

void nrpc_arena_init(nrpc_arena *a)
{
	nrpc_arena_init_bounded(a, 0, NULL);
}

void nrpc_arena_init_bounded(nrpc_arena *a, size_t limit, nrpc_arena_budget *budget)
{
	a->a_used = 0;
	a->a_limit = limit;
	a->a_budget = budget;
	a->a_over = false;
	a->a_chunks = NULL;
	a->a_cur = a->a_inline;
	a->a_left = sizeof(a->a_inline);
	a->a_pb.alloc = pb_alloc;
	a->a_pb.free = pb_free;
	a->a_pb.allocator_data = a;
	a->a_pb_bounded.alloc = pb_alloc_bounded;
	a->a_pb_bounded.free = pb_free;
	a->a_pb_bounded.allocator_data = a;
}

void nrpc_arena_fini(nrpc_arena *a)
{
	struct nrpc_arena_chunk *c = a->a_chunks;
	while (c != NULL) {
		struct nrpc_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	if (a->a_budget != NULL && a->a_used > 0)
		atomic_fetch_sub(&a->a_budget->b_used, a->a_used);
	a->a_used = 0;
	a->a_chunks = NULL;
	a->a_cur = NULL;
	a->a_left = 0;
}

// Adds a chunk of at least `need` bytes. `hard`: refuse (NULL) beyond a bound.
static void *grow(nrpc_arena *a, size_t need, bool hard)
{
	size_t size = a->a_chunks ? a->a_chunks->size * 2 : ARENA_INLINE * 4;
	if (size > ARENA_MAX_CHUNK)
		size = ARENA_MAX_CHUNK;
	if (size < need)
		size = need;
	if (a->a_limit != 0 && a->a_used + size > a->a_limit && a->a_used + need <= a->a_limit)
		size = a->a_limit - a->a_used; // a last, smaller chunk still fits
	bool over = a->a_limit != 0 && a->a_used + size > a->a_limit;
	if (a->a_budget != NULL) {
		size_t was = atomic_fetch_add(&a->a_budget->b_used, size);
		if (a->a_budget->b_limit != 0 && was + size > a->a_budget->b_limit)
			over = true;
		if (over && hard) {
			atomic_fetch_sub(&a->a_budget->b_used, size);
			a->a_over = true;
			return NULL;
		}
	} else if (over && hard) {
		a->a_over = true;
		return NULL;
	}
	if (over)
		a->a_over = true;
	struct nrpc_arena_chunk *c = malloc(sizeof(*c) + size);
	if (c == NULL) {
		if (a->a_budget != NULL)
			atomic_fetch_sub(&a->a_budget->b_used, size);
		if (hard) {
			a->a_over = true;
			return NULL;
		}
		fputs("propertyd: out of memory\n", stderr);
		abort();
	}
	a->a_used += size;
	c->size = size;
	c->next = a->a_chunks;
	a->a_chunks = c;
	a->a_cur = c->data;
	a->a_left = size;
	return c;
}

static void *take(nrpc_arena *a, size_t n, bool hard)
{
	size_t need = (n + 15u) & ~(size_t)15u;
	if (need < n) { // n near SIZE_MAX
		if (hard)
			return NULL;
		fputs("propertyd: out of memory\n", stderr);
		abort();
	}
	if (need == 0)
		need = 16;
	if (need > a->a_left && grow(a, need, hard) == NULL)
		return NULL;
	void *p = a->a_cur;
	a->a_cur += need;
	a->a_left -= need;
	memset(p, 0, n);
	return p;
}

void *nrpc_arena_alloc(nrpc_arena *a, size_t n)
{
	return take(a, n, false);
}

void *nrpc_arena_try_alloc(nrpc_arena *a, size_t n)
{
	return take(a, n, true);
}

char *nrpc_arena_strndup(nrpc_arena *a, const char *s, size_t n)
{
	char *p = nrpc_arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *nrpc_arena_strdup(nrpc_arena *a, const char *s)
{
	return nrpc_arena_strndup(a, s, strlen(s));
}
