// The test arena and message deep copy of the in-memory fakes: see fakes.h.
#include "fakes.h"

#include <stdlib.h>
#include <string.h>

// ---- test arena -----------------------------------------------------------------------------

struct fake_block {
	struct fake_block *next;
	max_align_t data[];
};

static void *arena_alloc(void *data, size_t n)
{
	fake_arena *t = data;
	struct fake_block *b = calloc(1, sizeof(*b) + (n == 0 ? 1 : n));
	if (b == NULL) {
		abort();
	}
	b->next = t->head;
	t->head = b;
	return b->data;
}

static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p; // freed with the arena
}

void fake_arena_init(fake_arena *t)
{
	t->a.alloc = arena_alloc;
	t->a.free = arena_free;
	t->a.allocator_data = t;
	t->head = NULL;
}

void fake_arena_fini(fake_arena *t)
{
	while (t->head != NULL) {
		struct fake_block *b = t->head;
		t->head = b->next;
		free(b);
	}
}

void *fake_arena_alloc(fake_arena *t, size_t n)
{
	return arena_alloc(t, n);
}

char *fake_arena_strdup(fake_arena *t, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = arena_alloc(t, n);
	memcpy(d, s, n);
	return d;
}

void *fake_msg_copy(ProtobufCAllocator *alloc, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len + 1);
	if (buf == NULL) {
		abort();
	}
	protobuf_c_message_pack(m, buf);
	ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, alloc, len, buf);
	free(buf);
	if (copy == NULL) {
		abort();
	}
	return copy;
}
