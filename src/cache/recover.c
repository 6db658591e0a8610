// See cache_impl.h and redis_cache.h: the background thread that brings the
// cache back up, replaying what Redis was owed first.

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_impl.h"
#include "cache/scripts.h"
#include "obs/log.h"

// ---- background reconnect and replay -----------------------------------------------------

// Runs the put script for a versioned value (a replayed fence or tombstone).
// Returns the reply or NULL (connection error).
static redisReply *put_value(cache_conn *s, const char *key, cache_kind kind, uint64_t version,
                             const char *value, size_t value_len)
{
	char ver[24], rank[4], ttl[16];
	const char *args[5];
	size_t lens[5];

	snprintf(ver, sizeof(ver), "%llu", (unsigned long long)version);
	snprintf(rank, sizeof(rank), "%d", (int)kind);
	snprintf(ttl, sizeof(ttl), "%u", cache_conn_ttl(s, CACHE_TTL_S));
	args[0] = key;
	lens[0] = strlen(key);
	args[1] = ver;
	lens[1] = strlen(ver);
	args[2] = rank;
	lens[2] = strlen(rank);
	args[3] = value;
	lens[3] = value_len;
	args[4] = ttl;
	lens[4] = strlen(ttl);
	return cache_conn_eval(s, CACHE_SCRIPT_PUT, 1, 4, args, lens);
}

// Runs the invalidate script for an owner. The reply or NULL, as put_value.
static redisReply *invalidate_owner(cache_conn *s, const char *owner)
{
	char hash[CACHE_KEY_MAX], gen[CACHE_KEY_MAX], ttl[16];
	const char *args[3];
	size_t lens[3];

	if (cache_owner_keys(hash, gen, owner) != 0)
		return NULL; // cannot happen: pending ids are short
	snprintf(ttl, sizeof(ttl), "%d", CACHE_GEN_TTL_S);
	args[0] = hash;
	lens[0] = strlen(hash);
	args[1] = gen;
	lens[1] = strlen(gen);
	args[2] = ttl;
	lens[2] = strlen(ttl);
	return cache_conn_eval(s, CACHE_SCRIPT_OWNER_INVALIDATE, 2, 1, args, lens);
}

// True when r is a successful script reply (an integer).
static bool reply_ok(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_INTEGER;
}

static int replay_entry(cache_conn *s, const cache_pending_rec *e)
{
	redisReply *r;
	int rc;

	if (e->type == CACHE_PENDING_OWNER) {
		r = invalidate_owner(s, e->id);
	} else {
		char key[CACHE_KEY_MAX], hdr[CACHE_VALUE_HEADER_MAX];
		size_t n = cache_value_header(hdr, e->kind, e->version);
		if (cache_property_key(key, e->id) != 0)
			return -1;
		r = put_value(s, key, e->kind, e->version, hdr, n);
	}
	rc = reply_ok(r) ? 0 : -1;
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

// Every key of ours: SCAN (cursor-based, never blocks Redis long) in
// batches handed to the purge script.
static int purge(cache_conn *s)
{
	char cursor[32] = "0", count[16], ttl[16];
	const char *args[CACHE_PURGE_BATCH + 1];
	size_t lens[CACHE_PURGE_BATCH + 1];

	snprintf(count, sizeof(count), "%d", CACHE_PURGE_BATCH);
	snprintf(ttl, sizeof(ttl), "%d", CACHE_GEN_TTL_S);
	do {
		const char *av[6] = {"SCAN", cursor, "MATCH", "propert*", "COUNT", count};
		size_t lv[6] = {4, strlen(cursor), 5, 8, 5, strlen(count)};
		redisReply *r = cache_conn_cmd(s, 6, av, lv), *keys, *pr;
		size_t n = 0;

		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY ||
		    r->element[0]->len >= sizeof(cursor)) {
			if (r != NULL)
				freeReplyObject(r);
			return -1;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = '\0';
		keys = r->element[1];
		for (size_t i = 0; i < keys->elements && n < CACHE_PURGE_BATCH; i++) {
			if (keys->element[i]->type != REDIS_REPLY_STRING)
				continue;
			args[n] = keys->element[i]->str;
			lens[n] = keys->element[i]->len;
			n++;
		}
		if (n > 0) {
			args[n] = ttl;
			lens[n] = strlen(ttl);
			pr = cache_conn_eval(s, CACHE_SCRIPT_PURGE, (int)n, 1, args, lens);
			if (!reply_ok(pr)) {
				if (pr != NULL)
					freeReplyObject(pr);
				freeReplyObject(r);
				return -1;
			}
			freeReplyObject(pr);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

// Replays what is pending over s until nothing is. Returns 0, or -1 with
// what was not replayed put back.
static int replay_all(cache_redis *c, cache_conn *s, size_t *replayed)
{
	for (;;) {
		cache_pending *t = &c->replaying;
		size_t i = 0;
		bool purge_ok = true;

		pthread_mutex_lock(&c->mu);
		t->n = c->pending.n;
		t->overflow = c->pending.overflow;
		memcpy(t->e, c->pending.e, t->n * sizeof(t->e[0]));
		cache_pending_clear(&c->pending);
		pthread_mutex_unlock(&c->mu);
		if (cache_pending_empty(t))
			return 0;
		// Purge first, then the entries: their fences and tombstones
		// then survive the purge.
		if (t->overflow)
			purge_ok = purge(s) == 0;
		if (purge_ok)
			for (; i < t->n; i++)
				if (replay_entry(s, &t->e[i]) != 0)
					break;
		if (purge_ok && i == t->n) {
			*replayed += t->n + (t->overflow ? 1 : 0);
			continue;
		}
		pthread_mutex_lock(&c->mu);
		if (!purge_ok)
			c->pending.overflow = true;
		for (; i < t->n; i++)
			cache_pending_add(&c->pending, t->e[i].type, t->e[i].id, t->e[i].kind,
			                  t->e[i].version);
		pthread_mutex_unlock(&c->mu);
		obs_counter_add(c->errors[OP_REPLAY], 1);
		return -1;
	}
}

// One attempt to bring the cache up: connect, replay, and go up if nothing
// is pending (under the lock, so that no write-side call can slip an entry
// in between the last check and `up`).
void cache_try_recover(cache_redis *c)
{
	cache_conn probe = {.seed = (unsigned)base_now_us()};
	char err[256];
	size_t replayed = 0, total = 0;
	bool came_up = false;

	if (cache_conn_open(&probe, &c->url, err, sizeof(err)) != 0) {
		obs_counter_add(c->errors[OP_CONNECT], 1);
		return;
	}
	while (replay_all(c, &probe, &replayed) == 0) {
		pthread_mutex_lock(&c->mu);
		c->replayed += replayed;
		replayed = 0;
		if (cache_pending_empty(&c->pending)) {
			total = c->replayed;
			if (base_now_us() >= c->purge_not_before_us) {
				atomic_store(&c->up, true);
				obs_gauge_set(c->up_gauge, 1);
				came_up = true;
			}
			pthread_mutex_unlock(&c->mu);
			break;
		}
		pthread_mutex_unlock(&c->mu); // more arrived: replay again
	}
	cache_conn_close(&probe);
	if (came_up)
		OBS_LOG(OBS_INFO, "redis cache up", OBS_S("host", c->url.host),
		        OBS_I("port", c->url.port), OBS_I("replayed", (int64_t)total));
}

void *cache_bg_main(void *arg)
{
	cache_redis *c = arg;

	cache_try_recover(c); // the first attempt, which cache_create waits for
	pthread_mutex_lock(&c->mu);
	c->first_tried = true;
	pthread_cond_broadcast(&c->bg_cv);
	while (!c->stopping) {
		struct timespec dl;
		if (atomic_load(&c->up)) {
			pthread_cond_wait(&c->bg_cv, &c->mu);
			continue;
		}
		// Wait a full interval after going down before retrying.
		dl = base_deadline_ts(CLOCK_MONOTONIC, CACHE_RECONNECT_MS);
		while (!c->stopping && !base_ts_passed(CLOCK_MONOTONIC, &dl))
			pthread_cond_timedwait(&c->bg_cv, &c->mu, &dl);
		if (c->stopping)
			break;
		pthread_mutex_unlock(&c->mu);
		cache_try_recover(c);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}
