// See cache_impl.h: keys, the connection pool and the circuit breaker.

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_impl.h"
#include "cache/scripts.h"
#include "obs/log.h"

static const char PROPERTY_PREFIX[] = "property:";
static const char OWNER_PREFIX[] = "properties:owner:{";

const char *const cache_op_names[OP_N] = {
    "get",     "put",   "put_deleted", "owner_page_get", "owner_page_put", "owner_invalidate",
    "connect", "replay"};

int64_t cache_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec cache_deadline_ts(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

bool cache_ts_passed(const struct timespec *t)
{
	struct timespec n;
	clock_gettime(CLOCK_MONOTONIC, &n);
	return n.tv_sec > t->tv_sec || (n.tv_sec == t->tv_sec && n.tv_nsec >= t->tv_nsec);
}

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

// ---- breaker and pool --------------------------------------------------------------------

// Under mu. Returns true when this call took the cache down (the caller logs
// after unlocking).
static bool mark_down_locked(cache *c)
{
	if (!atomic_load(&c->up))
		return false;
	atomic_store(&c->up, false);
	c->epoch++;
	obs_gauge_set(c->up_gauge, 0);
	c->replayed = 0;
	pthread_cond_signal(&c->bg_cv);
	return true;
}

// Under mu: remembers an invalidation Redis did not get.
static void record_locked(cache *c, const cache_owed *rec)
{
	cache_pending_add(&c->pending, rec->type, rec->id, rec->kind, rec->version);
	if (c->pending.overflow)
		c->purge_not_before_us = cache_now_us() + (int64_t)CACHE_PURGE_GRACE_MS * 1000;
}

static void log_down(const cache *c, enum cache_op op, const char *why)
{
	OBS_LOG(OBS_WARN, "redis cache down; serving from the database",
	        OBS_S("op", cache_op_names[op]), OBS_S("error", why), OBS_S("host", c->url.host),
	        OBS_I("port", c->url.port));
}

// Takes a free connection, opened for the current epoch. While down, or with
// no connection free within wait_ms, returns at once without one; then a
// write-side call (rec != NULL) is recorded, and a busy pool takes the cache
// down for it (the write did not happen, see redis_cache.h).
enum cache_acq cache_acquire(cache *c, int wait_ms, enum cache_op op, const cache_owed *rec,
                             cache_conn **out)
{
	struct timespec dl = {0, 0};
	bool timed = false, went_down = false;
	enum cache_acq r;
	cache_conn *s = NULL;
	unsigned epoch;
	char err[256];

	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (!atomic_load(&c->up)) {
			if (rec != NULL)
				record_locked(c, rec);
			r = ACQ_DOWN;
			break;
		}
		if (c->n_free > 0) {
			s = &c->slots[c->free_idx[--c->n_free]];
			r = ACQ_OK;
			break;
		}
		if (!timed) {
			dl = cache_deadline_ts(wait_ms);
			timed = true;
		} else if (cache_ts_passed(&dl)) {
			if (rec != NULL) {
				record_locked(c, rec);
				went_down = mark_down_locked(c);
			}
			r = ACQ_BUSY;
			break;
		}
		pthread_cond_timedwait(&c->slot_cv, &c->mu, &dl);
	}
	epoch = c->epoch;
	pthread_mutex_unlock(&c->mu);
	if (went_down)
		log_down(c, op, "no free connection in the pool");
	if (r != ACQ_OK)
		return r;
	if (s->rc != NULL && s->epoch == epoch) {
		*out = s;
		return ACQ_OK;
	}
	cache_conn_close(s);
	if (cache_conn_open(s, &c->url, err, sizeof(err)) == 0) {
		s->epoch = epoch;
		*out = s;
		return ACQ_OK;
	}
	obs_counter_add(c->errors[OP_CONNECT], 1);
	pthread_mutex_lock(&c->mu);
	if (rec != NULL)
		record_locked(c, rec);
	went_down = mark_down_locked(c);
	c->free_idx[c->n_free++] = (int)(s - c->slots);
	pthread_cond_signal(&c->slot_cv);
	pthread_mutex_unlock(&c->mu);
	if (went_down)
		log_down(c, OP_CONNECT, err);
	return ACQ_DOWN;
}

void cache_release(cache *c, cache_conn *s)
{
	pthread_mutex_lock(&c->mu);
	c->free_idx[c->n_free++] = (int)(s - c->slots);
	pthread_cond_signal(&c->slot_cv);
	pthread_mutex_unlock(&c->mu);
}

// A command on s failed (reply NULL: a connection error; or an error reply
// `r`): close s, record rec, take the cache down, release s.
void cache_fail(cache *c, cache_conn *s, enum cache_op op, const cache_owed *rec, redisReply *r)
{
	char why[256];
	bool went_down;

	if (rec == NULL && r != NULL && r->type == REDIS_REPLY_ERROR) {
		// An error reply (a key of the wrong type, a script error) to a
		// call that owes nothing: a miss; the connection is fine.
		freeReplyObject(r);
		obs_counter_add(c->errors[op], 1);
		cache_release(c, s);
		return;
	}
	if (r != NULL)
		snprintf(why, sizeof(why), "%.*s", (int)(r->len < 200 ? r->len : 200),
		         r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	else
		snprintf(why, sizeof(why), "%s", cache_conn_error(s));
	if (r != NULL)
		freeReplyObject(r);
	cache_conn_close(s);
	obs_counter_add(c->errors[op], 1);
	pthread_mutex_lock(&c->mu);
	if (rec != NULL)
		record_locked(c, rec);
	went_down = mark_down_locked(c);
	c->free_idx[c->n_free++] = (int)(s - c->slots);
	pthread_cond_signal(&c->slot_cv);
	pthread_mutex_unlock(&c->mu);
	if (went_down)
		log_down(c, op, why);
}

void cache_mark_down(cache *c, enum cache_op op, const cache_owed *rec, const char *why)
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

void cache_owe(cache *c, const cache_owed *a, const cache_owed *b)
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
		cache_mark_down(c, OP_PUT, a, "write skipped while down");
	if (b != NULL)
		cache_mark_down(c, OP_OWNER_INVALIDATE, b, "write skipped while down");
}
