// See cache_impl.h: keys and the circuit breaker (down, owed writes).

#include <stdio.h>

#include "cache/cache_impl.h"
#include "obs/log.h"

static const char PROPERTY_PREFIX[] = "property:";
static const char OWNER_PREFIX[] = "properties:owner:{";

const char *const cache_op_names[OP_N] = {
    "get",     "put",   "put_deleted", "owner_page_get", "owner_page_put", "owner_invalidate",
    "connect", "replay"};

// ---- keys --------------------------------------------------------------------------------

// 0, or -1 when the key would not fit (never cached).
int cache_property_key(char *buf, const char *id)
{
	int n = snprintf(buf, CACHE_KEY_MAX, "%s%s", PROPERTY_PREFIX, id);
	return n > 0 && n < CACHE_KEY_MAX ? 0 : -1;
}

int cache_owner_keys(char *hash, char *gen, const char *owner)
{
	int n = snprintf(hash, CACHE_KEY_MAX, "%s%s}", OWNER_PREFIX, owner);
	int m = snprintf(gen, CACHE_KEY_MAX, "%s%s}:gen", OWNER_PREFIX, owner);
	return n > 0 && m > 0 && m < CACHE_KEY_MAX ? 0 : -1;
}

// ---- breaker -----------------------------------------------------------------------------

// Under mu. Returns true when this call took the cache down (the caller logs
// after unlocking).
static bool mark_down_locked(cache_redis *c)
{
	if (!atomic_load(&c->up))
		return false;
	atomic_store(&c->up, false);
	obs_gauge_set(c->up_gauge, 0);
	c->replayed = 0;
	pthread_cond_signal(&c->bg_cv);
	return true;
}

// Under mu: remembers an invalidation Redis did not get.
static void record_locked(cache_redis *c, const cache_owed *rec)
{
	cache_pending_add(&c->pending, rec->type, rec->id, rec->kind, rec->version);
	if (c->pending.overflow)
		c->purge_not_before_us = base_now_us() + (int64_t)CACHE_PURGE_GRACE_MS * 1000;
}

static void log_down(const cache_redis *c, enum cache_op op, const char *why)
{
	OBS_LOG(OBS_WARN, "redis cache down; serving from the database",
	        OBS_S("op", cache_op_names[op]), OBS_S("error", why), OBS_S("host", c->url.host),
	        OBS_I("port", c->url.port));
}

void cache_mark_down(cache_redis *c, enum cache_op op, const cache_owed *rec, const char *why)
{
	bool went_down;
	obs_counter_add(c->errors[op], 1);
	pthread_mutex_lock(&c->mu);
	if (rec != NULL)
		record_locked(c, rec);
	went_down = mark_down_locked(c);
	pthread_mutex_unlock(&c->mu);
	if (went_down)
		log_down(c, op, why);
}

void cache_owe(cache_redis *c, const cache_owed *a, const cache_owed *b)
{
	pthread_mutex_lock(&c->mu);
	if (!atomic_load(&c->up)) {
		if (a != NULL)
			record_locked(c, a);
		if (b != NULL)
			record_locked(c, b);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	pthread_mutex_unlock(&c->mu);
	// It came back meanwhile: what the caller did not send is still owed.
	if (a != NULL)
		cache_mark_down(c, a->kind == CACHE_KIND_TOMB ? OP_PUT_DELETED : OP_PUT, a,
		                "write skipped while down");
	if (b != NULL)
		cache_mark_down(c, OP_OWNER_INVALIDATE, b, "write skipped while down");
}
