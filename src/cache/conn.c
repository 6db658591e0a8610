// See conn.h.
#include "cache/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static struct timeval ms_tv(int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	return tv;
}

void cache_conn_close(cache_conn *c)
{
	if (c->rc != NULL)
		redisFree(c->rc);
	c->rc = NULL;
}

const char *cache_conn_error(const cache_conn *c)
{
	if (c->rc == NULL)
		return "not connected";
	return c->rc->err ? c->rc->errstr : "no error";
}

// Reads one pipelined reply and checks it is not an error. For SCRIPT LOAD
// (sha != NULL) copies the SHA.
static int handshake_reply(cache_conn *c, const char *what, char *sha, char *err, size_t errcap)
{
	void *r = NULL;
	redisReply *rep;

	if (redisGetReply(c->rc, &r) != REDIS_OK || r == NULL) {
		snprintf(err, errcap, "redis %s: %s", what, cache_conn_error(c));
		return -1;
	}
	rep = r;
	if (rep->type == REDIS_REPLY_ERROR) {
		snprintf(err, errcap, "redis %s: %.*s", what, (int)rep->len, rep->str);
		freeReplyObject(rep);
		return -1;
	}
	if (sha != NULL) {
		if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
			snprintf(err, errcap, "redis %s: unexpected reply", what);
			freeReplyObject(rep);
			return -1;
		}
		memcpy(sha, rep->str, 40);
		sha[40] = '\0';
	}
	freeReplyObject(rep);
	return 0;
}

int cache_conn_open(cache_conn *c, const cache_url *u, char *err, size_t errcap)
{
	char db[16];
	int i, n_auth = 0;

	c->rc = redisConnectWithTimeout(u->host, u->port, ms_tv(CACHE_CONNECT_TIMEOUT_MS));
	if (c->rc == NULL) {
		snprintf(err, errcap, "redis connect: out of memory");
		return -1;
	}
	if (c->rc->err) {
		snprintf(err, errcap, "redis connect %s:%d: %s", u->host, u->port, c->rc->errstr);
		goto fail;
	}
	// Set on every (re)connect: it bounds every later command.
	if (redisSetTimeout(c->rc, ms_tv(CACHE_COMMAND_TIMEOUT_MS)) != REDIS_OK) {
		snprintf(err, errcap, "redis set timeout: %s", cache_conn_error(c));
		goto fail;
	}
	// One round trip: [AUTH], SELECT, SCRIPT LOAD x N.
	if (u->password[0] != '\0') {
		const char *av[3] = {"AUTH", u->user, u->password};
		const size_t lv[3] = {4, strlen(u->user), strlen(u->password)};
		if (u->user[0] != '\0')
			redisAppendCommandArgv(c->rc, 3, av, lv);
		else {
			const char *av2[2] = {"AUTH", u->password};
			const size_t lv2[2] = {4, strlen(u->password)};
			redisAppendCommandArgv(c->rc, 2, av2, lv2);
		}
		n_auth = 1;
	}
	snprintf(db, sizeof(db), "%d", u->db);
	{
		const char *av[2] = {"SELECT", db};
		const size_t lv[2] = {6, strlen(db)};
		redisAppendCommandArgv(c->rc, 2, av, lv);
	}
	for (i = 0; i < CACHE_SCRIPT_N; i++) {
		const char *av[3] = {"SCRIPT", "LOAD", cache_scripts[i]};
		const size_t lv[3] = {6, 4, strlen(cache_scripts[i])};
		redisAppendCommandArgv(c->rc, 3, av, lv);
	}
	if (n_auth && handshake_reply(c, "AUTH", NULL, err, errcap) != 0)
		goto fail;
	if (handshake_reply(c, "SELECT", NULL, err, errcap) != 0)
		goto fail;
	for (i = 0; i < CACHE_SCRIPT_N; i++)
		if (handshake_reply(c, "SCRIPT LOAD", c->sha[i], err, errcap) != 0)
			goto fail;
	return 0;
fail:
	cache_conn_close(c);
	return -1;
}

redisReply *cache_conn_cmd(cache_conn *c, int argc, const char **argv, const size_t *lens)
{
	return redisCommandArgv(c->rc, argc, argv, lens);
}

static int is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

redisReply *cache_conn_eval(cache_conn *c, enum cache_script s, int nkeys, int nargs,
                            const char **args, const size_t *lens)
{
	const char *av[CACHE_EVAL_ARGS_MAX];
	size_t lv[CACHE_EVAL_ARGS_MAX];
	char nk[16];
	int i, n = nkeys + nargs;
	redisReply *r;

	if (n + 3 > CACHE_EVAL_ARGS_MAX)
		abort(); // a programming error: the callers' batches are bounded
	snprintf(nk, sizeof(nk), "%d", nkeys);
	av[0] = "EVALSHA";
	lv[0] = 7;
	av[1] = c->sha[s];
	lv[1] = 40;
	av[2] = nk;
	lv[2] = strlen(nk);
	for (i = 0; i < n; i++) {
		av[3 + i] = args[i];
		lv[3 + i] = lens[i];
	}
	r = redisCommandArgv(c->rc, n + 3, av, lv);
	if (r != NULL && is_noscript(r)) {
		// The server lost its script cache (SCRIPT FLUSH, a restart
		// behind a proxy): send the source once.
		freeReplyObject(r);
		av[0] = "EVAL";
		lv[0] = 4;
		av[1] = cache_scripts[s];
		lv[1] = strlen(cache_scripts[s]);
		r = redisCommandArgv(c->rc, n + 3, av, lv);
	}
	return r;
}

unsigned cache_conn_ttl(cache_conn *c, unsigned base)
{
	unsigned span = base / 10; // +-10%
	if (span == 0)
		return base;
	return base - span + (unsigned)rand_r(&c->seed) % (2 * span + 1);
}
