// See redis_cache.h: the six port operations and the life cycle.

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_impl.h"
#include "cache/scripts.h"
#include "obs/log.h"

// ---- the port ----------------------------------------------------------------------------

static void count_lookup(cache *c, enum cache_family f, bool hit)
{
	obs_counter_add(hit ? c->hit[f] : c->miss[f], 1);
}

static int op_get(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out)
{
	cache *c = self;
	char key[CACHE_KEY_MAX];
	cache_conn *s;
	redisReply *r;
	int res = PROP_CACHE_MISS;
	cache_kind kind;
	uint64_t version;
	const uint8_t *body;
	size_t body_len;

	if (!atomic_load(&c->up) || cache_property_key(key, id) != 0 ||
	    cache_acquire(c, CACHE_POOL_WAIT_MS, OP_GET, NULL, &s) != ACQ_OK)
		goto done;
	{
		const char *av[2] = {"GET", key};
		const size_t lv[2] = {3, strlen(key)};
		r = cache_conn_cmd(s, 2, av, lv);
	}
	if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
		cache_fail(c, s, OP_GET, NULL, r);
		goto done;
	}
	if (r->type == REDIS_REPLY_STRING) {
		bool garbage =
		    r->len > CACHE_VALUE_MAX ||
		    cache_value_parse(r->str, r->len, &kind, &version, &body, &body_len) != 0;
		if (!garbage && kind == CACHE_KIND_TOMB) {
			res = PROP_CACHE_GONE;
		} else if (!garbage && kind == CACHE_KIND_ROW) {
			Property__V1__Property *p =
			    property__v1__property__unpack(ctx->alloc, body_len, body);
			// The arena frees p (and a rejected one) with the request.
			if (p == NULL || p->version != version || strcmp(p->id, id) != 0) {
				garbage = true;
			} else {
				*out = p;
				res = PROP_CACHE_HIT;
			}
		}
		if (garbage) {
			// Not ours to serve: drop it -- only if it is still that
			// value, never a good one a writer stored meanwhile (that
			// would let an older fill in).
			const char *args[2] = {key, r->str};
			const size_t lens[2] = {strlen(key), r->len};
			redisReply *d;
			obs_counter_add(c->errors[OP_GET], 1);
			d = cache_conn_eval(s, CACHE_SCRIPT_DEL_IF, 1, 1, args, lens);
			freeReplyObject(r);
			if (d == NULL) {
				cache_fail(c, s, OP_GET, NULL, NULL);
				goto done;
			}
			r = d;
		}
	}
	freeReplyObject(r);
	cache_release(c, s);
done:
	count_lookup(c, FAM_PROPERTY, res != PROP_CACHE_MISS);
	return res;
}

// Runs the put script for a value of `kind`; a failure is recorded as
// owing a fence (for a row: we keep no bytes) or the tombstone.
static void store_versioned(cache *c, enum cache_op op, const char *id, cache_kind kind,
                            uint64_t version, const char *value, size_t len)
{
	char key[CACHE_KEY_MAX];
	const cache_owed rec = {.type = CACHE_PENDING_PROPERTY,
	                        .id = id,
	                        .kind =
	                            kind == CACHE_KIND_TOMB ? CACHE_KIND_TOMB : CACHE_KIND_FENCE,
	                        .version = version};
	cache_conn *s;
	redisReply *r;

	if (cache_property_key(key, id) != 0)
		return; // such a key is never read either
	if (cache_acquire(c, CACHE_POOL_WAIT_WRITE_MS, op, &rec, &s) != ACQ_OK)
		return;
	r = cache_put_value(s, key, kind, version, value, len);
	if (!cache_reply_ok(r)) {
		cache_fail(c, s, op, &rec, r);
		return;
	}
	freeReplyObject(r);
	cache_release(c, s);
}

static void op_put(void *self, prop_ctx *ctx, const Property__V1__Property *p)
{
	cache *c = self;
	char hdr[CACHE_VALUE_HEADER_MAX];
	size_t hlen, size;
	char *buf = NULL;

	if (p == NULL || p->id == NULL)
		return;
	size = property__v1__property__get_packed_size(p);
	if (size <= CACHE_VALUE_MAX)
		buf = prop_alloc(ctx, CACHE_VALUE_HEADER_MAX + size);
	if (buf == NULL) {
		// Too big to cache (or no memory): still fence older versions out.
		hlen = cache_value_header(hdr, CACHE_KIND_FENCE, p->version);
		store_versioned(c, OP_PUT, p->id, CACHE_KIND_FENCE, p->version, hdr, hlen);
		return;
	}
	hlen = cache_value_header(buf, CACHE_KIND_ROW, p->version);
	property__v1__property__pack(p, (uint8_t *)buf + hlen);
	store_versioned(c, OP_PUT, p->id, CACHE_KIND_ROW, p->version, buf, hlen + size);
}

static void op_put_deleted(void *self, prop_ctx *ctx, const char *id, uint64_t version)
{
	char hdr[CACHE_VALUE_HEADER_MAX];
	size_t n = cache_value_header(hdr, CACHE_KIND_TOMB, version);

	(void)ctx;
	store_versioned(self, OP_PUT_DELETED, id, CACHE_KIND_TOMB, version, hdr, n);
}

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

static int op_owner_page_get(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
                             uint8_t **data, size_t *len, uint64_t *gen)
{
	cache *c = self;
	char hash[CACHE_KEY_MAX], genkey[CACHE_KEY_MAX];
	const char *args[3];
	size_t lens[3];
	cache_conn *s;
	redisReply *r;
	int res = PROP_CACHE_MISS;

	*gen = CACHE_GEN_UNKNOWN;
	if (!atomic_load(&c->up) || cache_owner_keys(hash, genkey, owner) != 0 ||
	    cache_acquire(c, CACHE_POOL_WAIT_MS, OP_OWNER_GET, NULL, &s) != ACQ_OK)
		goto done;
	args[0] = hash;
	lens[0] = strlen(hash);
	args[1] = genkey;
	lens[1] = strlen(genkey);
	args[2] = page_key;
	lens[2] = strlen(page_key);
	r = cache_conn_eval(s, CACHE_SCRIPT_OWNER_GET, 2, 1, args, lens);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		cache_fail(c, s, OP_OWNER_GET, NULL, r);
		goto done;
	}
	if (parse_gen(r->element[1], gen) != 0) {
		// Not a generation of ours: a miss that is never stored; the
		// next owner_invalidate repairs the key.
		*gen = CACHE_GEN_UNKNOWN;
		obs_counter_add(c->errors[OP_OWNER_GET], 1);
		freeReplyObject(r);
		cache_release(c, s);
		goto done;
	}
	if (r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len <= CACHE_PAGE_MAX) {
		size_t n = r->element[0]->len;
		uint8_t *buf = prop_alloc(ctx, n > 0 ? n : 1);
		if (buf != NULL) {
			memcpy(buf, r->element[0]->str, n);
			*data = buf;
			*len = n;
			res = PROP_CACHE_HIT;
		}
	}
	freeReplyObject(r);
	cache_release(c, s);
done:
	count_lookup(c, FAM_OWNER, res == PROP_CACHE_HIT);
	return res;
}

static void op_owner_page_put(void *self, prop_ctx *ctx, const char *owner, const char *page_key,
                              uint64_t gen, const uint8_t *data, size_t len)
{
	cache *c = self;
	char hash[CACHE_KEY_MAX], genkey[CACHE_KEY_MAX], g[24], ttl[16];
	const char *args[6];
	size_t lens[6];
	cache_conn *s;
	redisReply *r;

	(void)ctx;
	// Not storing a page is always safe: a reader's fill that fails owes
	// nothing, so it is never recorded.
	if (gen == CACHE_GEN_UNKNOWN || len > CACHE_PAGE_MAX || !atomic_load(&c->up) ||
	    cache_owner_keys(hash, genkey, owner) != 0 ||
	    cache_acquire(c, CACHE_POOL_WAIT_MS, OP_OWNER_PUT, NULL, &s) != ACQ_OK)
		return;
	snprintf(g, sizeof(g), "%llu", (unsigned long long)gen);
	snprintf(ttl, sizeof(ttl), "%u", cache_conn_ttl(s, CACHE_TTL_S));
	args[0] = hash;
	lens[0] = strlen(hash);
	args[1] = genkey;
	lens[1] = strlen(genkey);
	args[2] = g;
	lens[2] = strlen(g);
	args[3] = page_key;
	lens[3] = strlen(page_key);
	args[4] = (const char *)data;
	lens[4] = len;
	args[5] = ttl;
	lens[5] = strlen(ttl);
	r = cache_conn_eval(s, CACHE_SCRIPT_OWNER_PUT, 2, 4, args, lens);
	if (!cache_reply_ok(r)) {
		cache_fail(c, s, OP_OWNER_PUT, NULL, r);
		return;
	}
	freeReplyObject(r);
	cache_release(c, s);
}

static void op_owner_invalidate(void *self, prop_ctx *ctx, const char *owner)
{
	cache *c = self;
	char hash[CACHE_KEY_MAX], genkey[CACHE_KEY_MAX];
	const cache_owed rec = {.type = CACHE_PENDING_OWNER, .id = owner};
	cache_conn *s;
	redisReply *r;

	(void)ctx;
	if (cache_owner_keys(hash, genkey, owner) != 0)
		return; // such keys are never used
	if (cache_acquire(c, CACHE_POOL_WAIT_WRITE_MS, OP_OWNER_INVALIDATE, &rec, &s) != ACQ_OK)
		return;
	r = cache_invalidate_owner(s, owner);
	if (!cache_reply_ok(r)) {
		cache_fail(c, s, OP_OWNER_INVALIDATE, &rec, r);
		return;
	}
	freeReplyObject(r);
	cache_release(c, s);
}

static const prop_cache_ops OPS = {
    .get = op_get,
    .put = op_put,
    .put_deleted = op_put_deleted,
    .owner_page_get = op_owner_page_get,
    .owner_page_put = op_owner_page_put,
    .owner_invalidate = op_owner_invalidate,
};

// ---- lifecycle ---------------------------------------------------------------------------

static void register_metrics(cache *c, obs_registry *m)
{
	static const char *const fam[FAM_N] = {"property", "owner_list"};
	static const char REQ[] = "propertyd_cache_requests_total";
	static const char REQ_HELP[] = "Cache lookups by family and result.";
	char labels[128];

	for (int f = 0; f < FAM_N; f++) {
		snprintf(labels, sizeof(labels), "family=\"%s\",result=\"hit\"", fam[f]);
		c->hit[f] = obs_counter_get(m, REQ, REQ_HELP, labels);
		snprintf(labels, sizeof(labels), "family=\"%s\",result=\"miss\"", fam[f]);
		c->miss[f] = obs_counter_get(m, REQ, REQ_HELP, labels);
	}
	for (int o = 0; o < OP_N; o++) {
		snprintf(labels, sizeof(labels), "op=\"%s\"", cache_op_names[o]);
		c->errors[o] =
		    obs_counter_get(m, "propertyd_cache_errors_total",
		                    "Redis errors by operation (each one is a miss).", labels);
	}
	c->up_gauge =
	    obs_gauge_get(m, "propertyd_cache_up",
	                  "1 while the Redis cache is serving, 0 while it is down.", NULL);
}

static void free_cache(cache *c)
{
	if (c->slots != NULL)
		for (int i = 0; i < c->pool_size; i++)
			cache_conn_close(&c->slots[i]);
	free(c->slots);
	free(c->free_idx);
	if (c->own_metrics != NULL)
		obs_registry_destroy(c->own_metrics);
	memset(c->url.password, 0, sizeof(c->url.password));
	free(c);
}

int cache_create(cache **out, const char *redis_url, int pool_size, obs_registry *metrics,
                 char *err, size_t errcap)
{
	cache *c;
	pthread_condattr_t ca;
	unsigned seed = (unsigned)cache_now_us();
	int locks = 0;

	*out = NULL;
	if (pool_size < 1) {
		snprintf(err, errcap, "cache pool size must be at least 1");
		return -1;
	}
	if (pool_size > CACHE_POOL_MAX)
		pool_size = CACHE_POOL_MAX; // more workers just see a busy pool: misses
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	if (cache_url_parse(redis_url, &c->url, err, errcap) != 0)
		goto fail;
	c->pool_size = pool_size;
	c->slots = calloc((size_t)pool_size, sizeof(*c->slots));
	c->free_idx = calloc((size_t)pool_size, sizeof(*c->free_idx));
	if (c->slots == NULL || c->free_idx == NULL) {
		snprintf(err, errcap, "out of memory");
		goto fail;
	}
	for (int i = 0; i < pool_size; i++) {
		c->slots[i].seed = seed ^ (unsigned)(i * 2654435761u);
		c->free_idx[c->n_free++] = pool_size - 1 - i;
	}
	if (metrics == NULL)
		metrics = c->own_metrics = obs_registry_create();
	register_metrics(c, metrics);
	obs_gauge_set(c->up_gauge, 0);

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->slot_cv, &ca);
	pthread_cond_init(&c->bg_cv, &ca);
	pthread_condattr_destroy(&ca);
	locks = 1;

	// One attempt now, so that a healthy Redis serves from the first request.
	cache_try_recover(c);
	if (!atomic_load(&c->up))
		OBS_LOG(OBS_WARN, "redis cache unavailable at start; retrying in the background",
		        OBS_S("host", c->url.host), OBS_I("port", c->url.port));
	if (pthread_create(&c->bg, NULL, cache_bg_main, c) != 0) {
		snprintf(err, errcap, "cache: cannot start its thread");
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (locks) {
		pthread_cond_destroy(&c->bg_cv);
		pthread_cond_destroy(&c->slot_cv);
		pthread_mutex_destroy(&c->mu);
	}
	free_cache(c);
	return -1;
}

void cache_destroy(cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_cond_broadcast(&c->bg_cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->bg, NULL);
	pthread_cond_destroy(&c->bg_cv);
	pthread_cond_destroy(&c->slot_cv);
	pthread_mutex_destroy(&c->mu);
	free_cache(c);
}

prop_cache cache_port(cache *c)
{
	prop_cache p = {.ops = &OPS, .self = c};
	return p;
}

bool cache_available(cache *c)
{
	return atomic_load(&c->up);
}
