// See redis_cache.h, cache_apply_log: committed changes from the event log
// applied to Redis, pipelined on the log reader's own blocking connection.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_impl.h"
#include "cache/scripts.h"

// Records every change as owed (the replay sends them before the cache
// serves again).
static void owe_all(cache_redis *c, const cache_log_change *ch, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cache_owed put = {.type = CACHE_PENDING_PROPERTY,
		                  .id = ch[i].id,
		                  .kind = ch[i].deleted ? CACHE_KIND_TOMB : CACHE_KIND_FENCE,
		                  .version = ch[i].version};
		cache_owed owner = {.type = CACHE_PENDING_OWNER, .id = ch[i].owner};
		cache_owe(c, &put, ch[i].owner[0] != '\0' ? &owner : NULL);
	}
}

// Appends the two scripts of one change; the number of commands appended.
static int append_change(cache_conn *s, const cache_log_change *ch)
{
	char key[CACHE_KEY_MAX], hash[CACHE_KEY_MAX], gen[CACHE_KEY_MAX];
	char hdr[CACHE_VALUE_HEADER_MAX], ver[24], rank[4], ttl[16], gttl[16];
	int appended = 0;
	cache_kind kind = ch->deleted ? CACHE_KIND_TOMB : CACHE_KIND_FENCE;
	if (cache_property_key(key, ch->id) == 0) {
		size_t hlen = cache_value_header(hdr, kind, ch->version);
		snprintf(ver, sizeof ver, "%llu", (unsigned long long)ch->version);
		snprintf(rank, sizeof rank, "%d", (int)kind);
		snprintf(ttl, sizeof ttl, "%u", cache_conn_ttl(s, CACHE_TTL_S));
		const char *av[8] = {"EVALSHA", s->sha[CACHE_SCRIPT_PUT], "1", key, ver, rank, hdr,
		                     ttl};
		const size_t lv[8] = {7,           40,           1,    strlen(key),
		                      strlen(ver), strlen(rank), hlen, strlen(ttl)};
		if (redisAppendCommandArgv(s->rc, 8, av, lv) != REDIS_OK)
			return -1;
		appended++;
	}
	if (ch->owner[0] != '\0' && cache_owner_keys(hash, gen, ch->owner) == 0) {
		snprintf(gttl, sizeof gttl, "%d", CACHE_GEN_TTL_S);
		const char *av[6] = {
		    "EVALSHA", s->sha[CACHE_SCRIPT_OWNER_INVALIDATE], "2", hash, gen, gttl};
		const size_t lv[6] = {7, 40, 1, strlen(hash), strlen(gen), strlen(gttl)};
		if (redisAppendCommandArgv(s->rc, 6, av, lv) != REDIS_OK)
			return -1;
		appended++;
	}
	return appended;
}

// One pipelined attempt. 0 all acknowledged, 1 a script was missing (the
// connection is reopened to load them), -1 a failure.
static int send_batch(cache_redis *c, const cache_log_change *ch, size_t n, char *why,
                      size_t whycap)
{
	cache_conn *s = &c->log_conn;
	int expected = 0, missing = 0, bad = 0;
	if (s->rc == NULL && cache_conn_open(s, &c->url, why, whycap) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int k = append_change(s, &ch[i]);
		if (k < 0) {
			snprintf(why, whycap, "%s", cache_conn_error(s));
			return -1;
		}
		expected += k;
	}
	for (int i = 0; i < expected; i++) {
		void *reply = NULL;
		if (redisGetReply(s->rc, &reply) != REDIS_OK || reply == NULL) {
			snprintf(why, whycap, "%s", cache_conn_error(s));
			return -1;
		}
		redisReply *r = reply;
		if (r->type == REDIS_REPLY_ERROR && r->len >= 8 &&
		    memcmp(r->str, "NOSCRIPT", 8) == 0)
			missing = 1;
		else if (r->type != REDIS_REPLY_INTEGER && !bad) {
			bad = 1;
			snprintf(why, whycap, "%.*s", (int)(r->len < 200 ? r->len : 200),
			         r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		}
		freeReplyObject(r);
	}
	return bad ? -1 : missing;
}

int cache_apply_log(cache_redis *c, const cache_log_change *in, size_t n_in)
{
	char why[256] = "";
	cache_log_change ch[CACHE_LOG_BATCH_MAX];
	size_t n = 0;
	// What this instance delivered itself is in Redis already.
	for (size_t i = 0; i < n_in && n < CACHE_LOG_BATCH_MAX; i++)
		if (!cache_recent_take(&c->recent, in[i].id, in[i].version))
			ch[n++] = in[i];
	if (n == 0)
		return 0;
	if (!atomic_load(&c->up)) {
		owe_all(c, ch, n);
		return -1;
	}
	int rc = send_batch(c, ch, n, why, sizeof why);
	if (rc == 1) {
		// Redis lost its scripts: reopen (which loads them) and send again;
		// the scripts only move values forward, so twice is harmless.
		cache_conn_close(&c->log_conn);
		rc = send_batch(c, ch, n, why, sizeof why);
	}
	if (rc != 0) {
		cache_conn_close(&c->log_conn);
		owe_all(c, ch, n);
		cache_mark_down(c, OP_REPLAY, NULL, why[0] ? why : "event log sync failed");
		return -1;
	}
	return 0;
}
