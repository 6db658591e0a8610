// See redis_cache.h: the port's operations, asynchronous, on the aredis
// client of the request's event loop (one per shard). Commands of all the
// requests of a loop pass share one write and one read.
//
// The breaker and the owed-invalidations set are the cache's (breaker.c,
// recover.c): a command that fails here takes the cache down through
// cache_mark_down, recording what a write-side call owed; the background
// thread brings it back after replaying.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/aredis.h"
#include "cache/cache_impl.h"
#include "cache/scripts.h"

static cache_aredis *client(cache_redis *c, const prop_ctx *ctx)
{
	return c->shards[ctx->shard < c->nshards ? ctx->shard : 0].client;
}

static unsigned ttl_jittered(cache_redis *c, const prop_ctx *ctx)
{
	struct cache_shard *sh = &c->shards[ctx->shard < c->nshards ? ctx->shard : 0];
	unsigned span = CACHE_TTL_S / 10;
	return CACHE_TTL_S - span + (unsigned)rand_r(&sh->seed) % (2 * span + 1);
}

static void count_lookup(cache_redis *c, enum cache_family f, bool hit)
{
	obs_counter_add(hit ? c->hit[f] : c->miss[f], 1);
}

// A reply that is not what a call expects: NULL (connection failed or timed
// out) takes the cache down; an error reply to a call that owes nothing is
// just counted (a miss). Returns true when the reply is unusable.
static bool failed(cache_redis *c, enum cache_op op, const cache_owed *rec, const redisReply *r,
                   int want_type)
{
	if (r != NULL && r->type == want_type)
		return false;
	if (r != NULL && r->type == REDIS_REPLY_ERROR && rec == NULL) {
		obs_counter_add(c->errors[op], 1);
		return true;
	}
	cache_mark_down(c, op, rec,
	                r == NULL ? "connection failed or timed out"
	                          : (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply"));
	return true;
}

// ---- get -----------------------------------------------------------------------------------

typedef struct get_op {
	cache_redis *c;
	prop_ctx *ctx;
	prop_k k;
	const char *id;
	char key[CACHE_KEY_MAX];
	Property__V1__Property **out;
	int *result;
} get_op;

static void ignore_reply(const redisReply *r, void *arg)
{
	(void)r;
	(void)arg;
}

static void got_value(const redisReply *r, void *arg)
{
	get_op *g = arg;
	cache_redis *c = g->c;
	int res = PROP_CACHE_MISS;
	cache_kind kind;
	uint64_t version;
	const uint8_t *body;
	size_t body_len;

	bool nil = r != NULL && r->type == REDIS_REPLY_NIL;
	if (!nil && !failed(c, OP_GET, NULL, r, REDIS_REPLY_STRING)) {
		{
			bool garbage = r->len > CACHE_VALUE_MAX ||
			               cache_value_parse(r->str, r->len, &kind, &version, &body,
			                                 &body_len) != 0;
			if (!garbage && kind == CACHE_KIND_TOMB) {
				res = PROP_CACHE_GONE;
			} else if (!garbage && kind == CACHE_KIND_ROW) {
				Property__V1__Property *p =
				    property__v1__property__unpack(g->ctx->alloc, body_len, body);
				if (p == NULL || p->version != version ||
				    strcmp(p->id, g->id) != 0) {
					garbage = true;
				} else {
					*g->out = p;
					res = PROP_CACHE_HIT;
				}
			}
			if (garbage && atomic_load(&c->up)) {
				// Not ours to serve: drop it, only if it is still that value.
				const char *args[2] = {g->key, r->str};
				const size_t lens[2] = {strlen(g->key), r->len};
				obs_counter_add(c->errors[OP_GET], 1);
				cache_aredis_eval(client(c, g->ctx),
				                  cache_scripts[CACHE_SCRIPT_DEL_IF], 1, 1, args,
				                  lens, ignore_reply, NULL);
			}
		}
	}
	count_lookup(c, FAM_PROPERTY, res != PROP_CACHE_MISS);
	*g->result = res;
	g->k(g->ctx, NRPC_OK);
}

static void op_get(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out,
                   int *result, prop_k k)
{
	cache_redis *c = self;
	get_op *g = prop_alloc(ctx, sizeof *g);
	*out = NULL;
	*result = PROP_CACHE_MISS;
	if (!atomic_load(&c->up) || cache_property_key(g->key, id) != 0) {
		count_lookup(c, FAM_PROPERTY, false);
		k(ctx, NRPC_OK);
		return;
	}
	g->c = c;
	g->ctx = ctx;
	g->k = k;
	g->id = id;
	g->out = out;
	g->result = result;
	const char *av[2] = {"GET", g->key};
	const size_t lv[2] = {3, strlen(g->key)};
	cache_aredis_command(client(c, ctx), 2, av, lv, got_value, g);
}

// ---- versioned puts (fill, after_write) -----------------------------------------------------

typedef struct write_op {
	cache_redis *c;
	prop_ctx *ctx;
	prop_k k;
	int waiting;
	bool failed;          // a reply was not the acknowledgement
	enum cache_op put_op; // OP_PUT for a row, OP_PUT_DELETED for a tombstone
	cache_owed put_rec, owner_rec;
} write_op;

static void write_step(write_op *w)
{
	if (--w->waiting > 0)
		return;
	// Both acknowledged: the log follower need not send this change again.
	if (!w->failed)
		cache_recent_add(&w->c->recent, w->put_rec.id, w->put_rec.version);
	w->k(w->ctx, NRPC_OK);
}

static void put_replied(const redisReply *r, void *arg)
{
	write_op *w = arg;
	w->failed |= failed(w->c, w->put_op, &w->put_rec, r, REDIS_REPLY_INTEGER);
	write_step(w);
}

static void fill_replied(const redisReply *r, void *arg)
{
	(void)failed(arg, OP_PUT, NULL, r, REDIS_REPLY_INTEGER);
}

static void invalidate_replied(const redisReply *r, void *arg)
{
	write_op *w = arg;
	w->failed |= failed(w->c, OP_OWNER_INVALIDATE, &w->owner_rec, r, REDIS_REPLY_INTEGER);
	write_step(w);
}

// Sends the put script for p (or, p NULL, a tombstone at version).
static void send_put(cache_redis *c, prop_ctx *ctx, const Property__V1__Property *p,
                     uint64_t version, const char *key, cache_aredis_cb cb, void *arg)
{
	char hdr[CACHE_VALUE_HEADER_MAX], ver[24], rank[4], ttl[16];
	cache_kind kind = p != NULL ? CACHE_KIND_ROW : CACHE_KIND_TOMB;
	const char *value = hdr;
	size_t value_len;
	if (p != NULL) {
		size_t size = property__v1__property__get_packed_size(p);
		if (size <= CACHE_VALUE_MAX) {
			char *buf = prop_alloc(ctx, CACHE_VALUE_HEADER_MAX + size);
			size_t h = cache_value_header(buf, CACHE_KIND_ROW, version);
			property__v1__property__pack(p, (uint8_t *)buf + h);
			value = buf;
			value_len = h + size;
		} else {
			// Too big to cache: still fence older versions out.
			kind = CACHE_KIND_FENCE;
			value_len = cache_value_header(hdr, kind, version);
		}
	} else {
		value_len = cache_value_header(hdr, kind, version);
	}
	snprintf(ver, sizeof ver, "%llu", (unsigned long long)version);
	snprintf(rank, sizeof rank, "%d", (int)kind);
	snprintf(ttl, sizeof ttl, "%u", ttl_jittered(c, ctx));
	const char *args[5] = {key, ver, rank, value, ttl};
	const size_t lens[5] = {strlen(key), strlen(ver), strlen(rank), value_len, strlen(ttl)};
	cache_aredis_eval(client(c, ctx), cache_scripts[CACHE_SCRIPT_PUT], 1, 4, args, lens, cb,
	                  arg);
}

static void op_fill(void *self, prop_ctx *ctx, const Property__V1__Property *p)
{
	cache_redis *c = self;
	char key[CACHE_KEY_MAX];
	// Not storing a fill is always safe: it owes nothing.
	if (p == NULL || p->id == NULL || !atomic_load(&c->up) ||
	    cache_property_key(key, p->id) != 0)
		return;
	send_put(c, ctx, p, p->version, key, fill_replied, c);
}

static void op_after_write(void *self, prop_ctx *ctx, const prop_cache_change *ch, prop_k k)
{
	cache_redis *c = self;
	char key[CACHE_KEY_MAX], hash[CACHE_KEY_MAX], gen[CACHE_KEY_MAX], ttl[16];
	write_op *w = prop_alloc(ctx, sizeof *w);
	memset(w, 0, sizeof *w);
	w->c = c;
	w->ctx = ctx;
	w->k = k;
	w->put_op = ch->row != NULL ? OP_PUT : OP_PUT_DELETED;
	w->put_rec = (cache_owed){.type = CACHE_PENDING_PROPERTY,
	                          .id = ch->id,
	                          .kind = ch->row != NULL ? CACHE_KIND_FENCE : CACHE_KIND_TOMB,
	                          .version = ch->version};
	w->owner_rec = (cache_owed){.type = CACHE_PENDING_OWNER, .id = ch->owner};
	bool key_ok = cache_property_key(key, ch->id) == 0;
	bool owner_ok = cache_owner_keys(hash, gen, ch->owner) == 0;
	if (!atomic_load(&c->up)) {
		// Down: remember both; the replay brings Redis up to date first.
		cache_owe(c, key_ok ? &w->put_rec : NULL, owner_ok ? &w->owner_rec : NULL);
		k(ctx, NRPC_OK);
		return;
	}
	w->waiting = 1 + key_ok + owner_ok; // +1: this function's own step, below
	w->failed = !key_ok || !owner_ok;   // a part never sent is not "delivered"
	if (key_ok)
		send_put(c, ctx, ch->row, ch->version, key, put_replied, w);
	if (owner_ok) {
		snprintf(ttl, sizeof ttl, "%d", CACHE_GEN_TTL_S);
		const char *args[3] = {hash, gen, ttl};
		cache_aredis_eval(client(c, ctx), cache_scripts[CACHE_SCRIPT_OWNER_INVALIDATE], 2,
		                  1, args, NULL, invalidate_replied, w);
	}
	write_step(w);
}

// ---- owner pages ---------------------------------------------------------------------------

typedef struct page_op {
	cache_redis *c;
	prop_ctx *ctx;
	prop_k k;
	uint8_t **data;
	size_t *len;
	uint64_t *gen;
	int *result;
	bool gen_ok; // the GET of the generation answered one of ours
} page_op;

// Parses a generation reply (nil = 0).
static int parse_gen(const redisReply *g, uint64_t *out)
{
	char buf[24];
	char *end;

	if (g->type == REDIS_REPLY_NIL) {
		*out = 0;
		return 0;
	}
	if (g->type != REDIS_REPLY_STRING || g->len == 0 || g->len >= sizeof(buf))
		return -1;
	memcpy(buf, g->str, g->len);
	buf[g->len] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno == 0 && *end == '\0' && *out != CACHE_GEN_UNKNOWN ? 0 : -1;
}

// The owner's generation, read right before the page on the same connection
// (its reply comes first). Read first, so that an invalidation landing between
// the two reads makes a later fill with this generation refuse itself.
static void got_gen(const redisReply *r, void *arg)
{
	page_op *p = arg;
	p->gen_ok = false;
	*p->gen = CACHE_GEN_UNKNOWN;
	if (r == NULL)
		return; // the page's callback sees the failure too
	if (parse_gen(r, p->gen) == 0) {
		p->gen_ok = true;
	} else {
		// Not a generation of ours: a miss that is never stored; the next
		// owner_invalidate repairs the key.
		*p->gen = CACHE_GEN_UNKNOWN;
		obs_counter_add(p->c->errors[OP_OWNER_GET], 1);
	}
}

static void got_page(const redisReply *r, void *arg)
{
	page_op *p = arg;
	cache_redis *c = p->c;
	int res = PROP_CACHE_MISS;
	if (r != NULL && r->type == REDIS_REPLY_NIL) {
		// not cached
	} else if (!failed(c, OP_OWNER_GET, NULL, r, REDIS_REPLY_STRING) && p->gen_ok &&
	           r->len <= CACHE_PAGE_MAX) {
		size_t n = r->len;
		uint8_t *buf = prop_alloc(p->ctx, n > 0 ? n : 1);
		memcpy(buf, r->str, n);
		*p->data = buf;
		*p->len = n;
		res = PROP_CACHE_HIT;
	}
	if (!p->gen_ok)
		*p->gen = CACHE_GEN_UNKNOWN;
	count_lookup(c, FAM_OWNER, res == PROP_CACHE_HIT);
	*p->result = res;
	p->k(p->ctx, NRPC_OK);
}

static void op_owner_page_get(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
                              uint8_t **data, size_t *len, uint64_t *gen, int *result, prop_k k)
{
	cache_redis *c = self;
	char hash[CACHE_KEY_MAX], genkey[CACHE_KEY_MAX];
	*gen = CACHE_GEN_UNKNOWN;
	*result = PROP_CACHE_MISS;
	if (!atomic_load(&c->up) || cache_owner_keys(hash, genkey, owner) != 0) {
		count_lookup(c, FAM_OWNER, false);
		k(ctx, NRPC_OK);
		return;
	}
	page_op *p = prop_alloc(ctx, sizeof *p);
	*p = (page_op){
	    .c = c, .ctx = ctx, .k = k, .data = data, .len = len, .gen = gen, .result = result};
	// Two plain commands pipelined (a Lua script doing the same cost Redis
	// ~20 us of CPU per page, 10x these two).
	cache_aredis *a = client(c, ctx);
	const char *get[2] = {"GET", genkey};
	cache_aredis_command(a, 2, get, NULL, got_gen, p);
	const char *hget[3] = {"HGET", hash, page_key};
	cache_aredis_command(a, 3, hget, NULL, got_page, p);
}

static void page_filled(const redisReply *r, void *arg)
{
	cache_redis *c = arg;
	(void)failed(c, OP_OWNER_PUT, NULL, r, REDIS_REPLY_INTEGER);
}

static void op_owner_page_fill(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
                               uint64_t gen, const uint8_t *data, size_t len)
{
	cache_redis *c = self;
	char hash[CACHE_KEY_MAX], genkey[CACHE_KEY_MAX], g[24], ttl[16];
	if (gen == CACHE_GEN_UNKNOWN || len > CACHE_PAGE_MAX || !atomic_load(&c->up) ||
	    cache_owner_keys(hash, genkey, owner) != 0)
		return;
	snprintf(g, sizeof g, "%llu", (unsigned long long)gen);
	snprintf(ttl, sizeof ttl, "%u", ttl_jittered(c, ctx));
	const char *args[6] = {hash, genkey, g, page_key, (const char *)data, ttl};
	const size_t lens[6] = {strlen(hash), strlen(genkey), strlen(g), strlen(page_key),
	                        len,          strlen(ttl)};
	cache_aredis_eval(client(c, ctx), cache_scripts[CACHE_SCRIPT_OWNER_PUT], 2, 4, args, lens,
	                  page_filled, c);
}

static const prop_cache_ops OPS = {
    .get = op_get,
    .fill = op_fill,
    .after_write = op_after_write,
    .owner_page_get = op_owner_page_get,
    .owner_page_fill = op_owner_page_fill,
};

prop_cache cache_port(cache_redis *c)
{
	prop_cache p = {.ops = &OPS, .self = c};
	return p;
}
