// Helpers shared by the cache tests: a request context, properties,
// and a raw hiredis connection to look behind the adapter.
#ifndef CACHE_TEST_COMMON_H
#define CACHE_TEST_COMMON_H

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "arena.h"
#include "base/test/check.h"
#include "cache/redis_url.h"
#include "property/ports.h"

typedef struct test_req {
	fake_arena arena;
	prop_ctx ctx;
} test_req;

static inline void req_init(test_req *r)
{
	arena_init(&r->arena);
	memset(&r->ctx, 0, sizeof(r->ctx));
	r->ctx.alloc = &r->arena.pa;
}

static inline Property__V1__Property prop(const char *id, const char *title, uint64_t version)
{
	Property__V1__Property p = PROPERTY__V1__PROPERTY__INIT;
	p.id = (char *)id;
	p.owner_id = (char *)"owner-1";
	p.title = (char *)title;
	p.price_cents = 123456;
	p.currency = (char *)"EUR";
	p.bedrooms = 3;
	p.version = version;
	p.created_at_us = 1700000000000000;
	p.updated_at_us = 1700000000000000 + (int64_t)version;
	return p;
}

static inline redisContext *raw_connect(const cache_url *u)
{
	struct timeval tv = {1, 0};
	redisContext *rc = redisConnectWithTimeout(u->host, u->port, tv);
	redisReply *r;
	if (rc == NULL || rc->err) {
		printf("cannot connect to redis %s:%d\n", u->host, u->port);
		if (rc != NULL)
			redisFree(rc);
		return NULL;
	}
	if (u->password[0] != '\0') {
		r = redisCommand(rc, "AUTH %s", u->password);
		if (r != NULL)
			freeReplyObject(r);
	}
	r = redisCommand(rc, "SELECT %d", u->db);
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

// Runs a command and returns its integer reply (-1000 on anything else).
static inline long long raw_int(redisContext *rc, const char *fmt, const char *arg)
{
	redisReply *r = redisCommand(rc, fmt, arg);
	long long v = -1000;
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	if (r != NULL)
		freeReplyObject(r);
	return v;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

#endif
