// The in-memory fake of the cache port (entries, pages, generations): see fakes.h.
#include "fakes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- fake cache -----------------------------------------------------------------------------

void fake_cache_init(fake_cache *c)
{
	memset(c, 0, sizeof(*c));
	fake_arena_init(&c->mem);
}

void fake_cache_fini(fake_cache *c)
{
	fake_arena_fini(&c->mem);
}

void fake_cache_clear(fake_cache *c)
{
	c->n_entries = 0;
	c->n_pages = 0;
}

static fake_entry *entry(fake_cache *c, const char *id, bool create)
{
	for (size_t i = 0; i < c->n_entries; i++) {
		if (strcmp(c->entries[i].id, id) == 0) {
			return &c->entries[i];
		}
	}
	if (!create || c->n_entries == FAKE_MAX_ROWS) {
		return NULL;
	}
	fake_entry *e = &c->entries[c->n_entries++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	return e;
}

const fake_entry *fake_cache_entry(const fake_cache *c, const char *id)
{
	return entry((fake_cache *)c, id, false);
}

static int cache_get(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out)
{
	fake_cache *c = self;
	c->n_get++;
	fake_entry *e = entry(c, id, false);
	if (e == NULL) {
		return PROP_CACHE_MISS;
	}
	if (e->tombstone) {
		return PROP_CACHE_GONE;
	}
	*out = fake_msg_copy(ctx->alloc, &e->p->base);
	return PROP_CACHE_HIT;
}

static void cache_put(void *self, prop_ctx *ctx, const Property__V1__Property *p)
{
	(void)ctx;
	fake_cache *c = self;
	c->n_put++;
	fake_entry *e = entry(c, p->id, true);
	if (e == NULL || (e->version >= p->version && (e->p != NULL || e->tombstone))) {
		return;
	}
	e->tombstone = false;
	e->version = p->version;
	e->p = fake_msg_copy(&c->mem.a, &p->base);
}

static void cache_put_deleted(void *self, prop_ctx *ctx, const char *id, uint64_t version)
{
	(void)ctx;
	fake_cache *c = self;
	c->n_put_deleted++;
	fake_entry *e = entry(c, id, true);
	if (e != NULL) {
		e->tombstone = true;
		e->version = version;
		e->p = NULL;
	}
}

static fake_gen *gen_of(fake_cache *c, const char *owner)
{
	for (size_t i = 0; i < c->n_gens; i++) {
		if (strcmp(c->gens[i].owner, owner) == 0) {
			return &c->gens[i];
		}
	}
	if (c->n_gens == FAKE_MAX_PAGES) {
		abort();
	}
	fake_gen *g = &c->gens[c->n_gens++];
	snprintf(g->owner, sizeof(g->owner), "%s", owner);
	g->gen = 1;
	return g;
}

static fake_page *page_of(fake_cache *c, const char *owner, const char *key)
{
	for (size_t i = 0; i < c->n_pages; i++) {
		fake_page *p = &c->pages[i];
		if (p->live && strcmp(p->owner, owner) == 0 && strcmp(p->key, key) == 0) {
			return p;
		}
	}
	return NULL;
}

static int cache_page_get(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
                          uint8_t **data, size_t *len, uint64_t *gen)
{
	fake_cache *c = self;
	c->n_page_get++;
	*gen = gen_of(c, owner)->gen;
	fake_page *p = page_of(c, owner, page_key);
	if (p == NULL) {
		return PROP_CACHE_MISS;
	}
	c->n_page_hit++;
	*data = prop_alloc(ctx, p->len + 1);
	memcpy(*data, p->data, p->len);
	*len = p->len;
	return PROP_CACHE_HIT;
}

static void cache_page_put(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
                           uint64_t gen, const uint8_t *data, size_t len)
{
	(void)ctx;
	fake_cache *c = self;
	c->n_page_put++;
	if (gen_of(c, owner)->gen != gen) {
		return;
	}
	fake_page *p = page_of(c, owner, page_key);
	if (p == NULL) {
		if (c->n_pages == FAKE_MAX_PAGES) {
			return;
		}
		p = &c->pages[c->n_pages++];
	}
	snprintf(p->owner, sizeof(p->owner), "%s", owner);
	snprintf(p->key, sizeof(p->key), "%s", page_key);
	p->data = fake_arena_alloc(&c->mem, len + 1);
	memcpy(p->data, data, len);
	p->len = len;
	p->live = true;
}

static void cache_invalidate(void *self, prop_ctx *ctx, const char *owner)
{
	(void)ctx;
	fake_cache *c = self;
	c->n_invalidate++;
	snprintf(c->last_invalidated, sizeof(c->last_invalidated), "%s", owner);
	gen_of(c, owner)->gen++;
	for (size_t i = 0; i < c->n_pages; i++) {
		if (strcmp(c->pages[i].owner, owner) == 0) {
			c->pages[i].live = false;
		}
	}
}

static void c_get(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out,
                  int *result, prop_k k)
{
	*result = cache_get(self, ctx, id, out);
	k(ctx, NRPC_OK);
}

static void c_after_write(void *self, prop_ctx *ctx, const prop_cache_change *ch, prop_k k)
{
	if (ch->row != NULL) {
		cache_put(self, ctx, ch->row);
	} else {
		cache_put_deleted(self, ctx, ch->id, ch->version);
	}
	cache_invalidate(self, ctx, ch->owner);
	k(ctx, NRPC_OK);
}

static void c_page_get(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
                       uint8_t **data, size_t *len, uint64_t *gen, int *result, prop_k k)
{
	*result = cache_page_get(self, ctx, owner, page_key, data, len, gen);
	k(ctx, NRPC_OK);
}

static const prop_cache_ops cache_ops = {
    .get = c_get,
    .fill = cache_put,
    .after_write = c_after_write,
    .owner_page_get = c_page_get,
    .owner_page_fill = cache_page_put,
};

prop_cache fake_cache_port(fake_cache *c)
{
	return (prop_cache){.ops = &cache_ops, .self = c};
}
