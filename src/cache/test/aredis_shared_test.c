// cache_aredis against the Redis of REDIS_URL, always in database 9 and only
// on keys "aredis-test:*" (which expire by themselves): pipelining and
// database selection.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aredis_common.h"
#include "base/clock.h"

// 20,000 commands issued at once: answered in order, correctly, in few loop
// iterations (one per command would be 20,000).
#define PIPE_N 10000
void case_pipeline(void)
{
	fails f = {0};
	cache_aredis *a = make(&SHARED, &f);
	res *xs = calloc(2 * PIPE_N, sizeof(res));
	char key[64], val[64];
	long iters;
	bool order = true, replies = true;

	if (a == NULL || xs == NULL) {
		CHECK(false, "setup");
		free(xs);
		cache_aredis_destroy(a);
		return;
	}
	IN_CALL = true;
	for (int i = 0; i < PIPE_N; i++) {
		const char *set[5] = {"SET", key, val, "EX", "60"};
		const char *get[2] = {"GET", key};
		size_t lset[5] = {3, 0, 0, 2, 2}, lget[2] = {3, 0};
		lset[1] = lget[1] = (size_t)snprintf(key, sizeof(key), "aredis-test:pipe:%d", i);
		lset[2] = (size_t)snprintf(val, sizeof(val), "value-%d", i);
		cache_aredis_command(a, 5, set, lset, record, &xs[2 * i]);
		cache_aredis_command(a, 2, get, lget, record, &xs[2 * i + 1]);
	}
	IN_CALL = false;
	iters = 0;
	{
		int64_t end = base_now_us() + (int64_t)WAIT_MS * 1000;
		while (calls(xs, 2 * PIPE_N) < 2 * PIPE_N && base_now_us() < end) {
			event_base_loop(B, EVLOOP_ONCE);
			iters++;
		}
	}
	for (int i = 0; i < 2 * PIPE_N; i++) {
		CHECK(xs[i].calls == 1, "command %d called %d times", i, xs[i].calls);
		if (i > 0 && xs[i].seq <= xs[i - 1].seq)
			order = false;
		if (i % 2 == 0 &&
		    (xs[i].type != REDIS_REPLY_STATUS || strcmp(xs[i].str, "OK") != 0))
			replies = false;
		if (i % 2 == 1) {
			snprintf(val, sizeof(val), "value-%d", i / 2);
			if (xs[i].type != REDIS_REPLY_STRING || strcmp(xs[i].str, val) != 0)
				replies = false;
		}
	}
	CHECK(order, "replies out of order");
	CHECK(replies, "wrong replies");
	CHECK(iters < 2000, "%ld loop iterations for %d commands", iters, 2 * PIPE_N);
	CHECK(cache_aredis_connected(a), "not connected");
	CHECK(f.n == 0, "on_failure called: %s", f.why);
	printf("     pipeline: %d commands in %ld loop iterations\n", 2 * PIPE_N, iters);
	free(xs);
	cache_aredis_destroy(a);
}

// The database of the URL is selected.
void case_select(void)
{
	fails f = {0};
	cache_aredis *a = make(&SHARED, &f);
	res x = {0};
	const char *set[5] = {"SET", "aredis-test:db", "nine", "EX", "60"};
	cache_url u0 = SHARED;
	redisContext *r9 = raw_connect(&SHARED), *r0;
	redisReply *r;

	u0.db = 0;
	r0 = raw_connect(&u0);
	if (a == NULL || r9 == NULL || r0 == NULL) {
		CHECK(false, "setup");
		goto out;
	}
	r = redisCommand(r0, "DEL aredis-test:db"); // ours, in case a run failed midway
	if (r != NULL)
		freeReplyObject(r);
	cmd(a, &x, 5, set);
	wait1(&x);
	CHECK(x.type == REDIS_REPLY_STATUS, "SET failed");
	r = redisCommand(r9, "GET aredis-test:db");
	CHECK(r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, "nine") == 0,
	      "the key is not in database 9");
	if (r != NULL)
		freeReplyObject(r);
	r = redisCommand(r0, "EXISTS aredis-test:db");
	CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0,
	      "the key is in database 0");
	if (r != NULL)
		freeReplyObject(r);
out:
	if (r9 != NULL)
		redisFree(r9);
	if (r0 != NULL)
		redisFree(r0);
	cache_aredis_destroy(a);
}
