// cache_aredis against a redis-server of its own: AUTH (password, ACL user,
// wrong password), a database the server does not have, and scripts
// (EVALSHA, the NOSCRIPT fallback, binary arguments).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aredis_common.h"
#include "cache/scripts.h"

// AUTH with a password, with an ACL user, and a wrong password.
void case_auth(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, "--requirepass", "s3cret");
	cache_url u = local_url(port, 3);
	fails f = {0};
	cache_aredis *a;
	res x = {0}, y = {0};
	const char *set[3] = {"SET", "k", "v"};
	const char *whoami[2] = {"ACL", "WHOAMI"};
	redisContext *rc;
	redisReply *r;

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	snprintf(u.password, sizeof(u.password), "s3cret");
	a = make(&u, &f);
	cmd(a, &x, 3, set);
	wait1(&x);
	CHECK(x.type == REDIS_REPLY_STATUS, "SET with a password failed (%d %s)", x.type, x.str);
	CHECK(cache_aredis_connected(a), "not connected");
	cache_aredis_destroy(a);
	rc = raw_connect(&u);
	r = rc != NULL ? redisCommand(rc, "GET k") : NULL;
	CHECK(r != NULL && r->type == REDIS_REPLY_STRING, "the key is not in database 3");
	if (r != NULL)
		freeReplyObject(r);
	r = rc != NULL ? redisCommand(rc, "ACL SETUSER alice on >alicepw ~* &* +@all") : NULL;
	if (r != NULL)
		freeReplyObject(r);
	if (rc != NULL)
		redisFree(rc);

	snprintf(u.user, sizeof(u.user), "alice");
	snprintf(u.password, sizeof(u.password), "alicepw");
	a = make(&u, &f);
	memset(&x, 0, sizeof(x));
	cmd(a, &x, 2, whoami);
	wait1(&x);
	CHECK(x.type == REDIS_REPLY_STRING && strcmp(x.str, "alice") == 0, "not alice: %d %s",
	      x.type, x.str);
	cache_aredis_destroy(a);
	CHECK(f.n == 0, "on_failure called: %s", f.why);

	snprintf(u.password, sizeof(u.password), "wrong");
	a = make(&u, &f);
	memset(&x, 0, sizeof(x));
	cmd(a, &x, 3, set);
	cmd1(a, &y, "PING");
	run_until(&f.n, 1, WAIT_MS);
	run_until(&y.calls, 1, WAIT_MS);
	CHECK(x.calls == 1 && x.type == -1, "a command behind a failed AUTH: %d %d", x.calls,
	      x.type);
	CHECK(y.calls == 1 && y.type == -1, "a command behind a failed AUTH: %d %d", y.calls,
	      y.type);
	CHECK(f.n == 1 && strncmp(f.why, "AUTH", 4) == 0, "on_failure: %d %s", f.n, f.why);
	CHECK(!cache_aredis_connected(a), "connected with a wrong password");
	cache_aredis_destroy(a);
	stop_redis(pid);
}

// A database the server does not have: SELECT fails, so does the connection.
void case_bad_db(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, "--databases", "2");
	cache_url u = local_url(port, 5);
	fails f = {0};
	cache_aredis *a;
	res x = {0};

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	a = make(&u, &f);
	cmd1(a, &x, "PING");
	wait1(&x);
	run_until(&f.n, 1, WAIT_MS);
	CHECK(x.calls == 1 && x.type == -1, "a command behind a failed SELECT: %d", x.type);
	CHECK(f.n == 1 && strncmp(f.why, "SELECT", 6) == 0, "on_failure: %d %s", f.n, f.why);
	cache_aredis_destroy(a);
	u.db = 1;
	a = make(&u, &f);
	CHECK(ping_ok(a), "no PONG in database 1");
	cache_aredis_destroy(a);
	stop_redis(pid);
}

static long long cmdstat_calls(redisContext *rc, const char *name)
{
	redisReply *r = redisCommand(rc, "INFO commandstats");
	long long v = -1;
	char pat[64];
	if (r != NULL && r->type == REDIS_REPLY_STRING) {
		const char *p;
		snprintf(pat, sizeof(pat), "cmdstat_%s:calls=", name);
		p = strstr(r->str, pat);
		v = p != NULL ? atoll(p + strlen(pat)) : 0;
	}
	if (r != NULL)
		freeReplyObject(r);
	return v;
}

// EVALSHA, NOSCRIPT fallback (a fresh server and after SCRIPT FLUSH), binary
// arguments, one of the adapter's own scripts, many evals pipelined.
#define EVAL_N 1000
void case_eval(void)
{
	static const char echo[] = "return {KEYS[1], ARGV[1], #ARGV[1]}";
	int port = free_port();
	pid_t pid = start_redis(port, NULL, NULL);
	cache_url u = local_url(port, 0);
	fails f = {0};
	cache_aredis *a;
	redisContext *rc;
	res x = {0};
	res *xs = calloc(EVAL_N, sizeof(res));
	const char *args[2] = {"key", "a\0b"};
	const size_t lens[2] = {3, 3};
	const char *flush[2] = {"SCRIPT", "FLUSH"};
	const char *delif[2] = {"property:{absent}", "value"};

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0 || xs == NULL) {
		free(xs);
		stop_redis(pid);
		return;
	}
	a = make(&u, &f);
	rc = raw_connect(&u);

	// 1: the server never saw the script: NOSCRIPT, then EVAL.
	IN_CALL = true;
	cache_aredis_eval(a, echo, 1, 1, args, lens, record, &x);
	IN_CALL = false;
	wait1(&x);
	CHECK(x.type == REDIS_REPLY_ARRAY && x.elements == 3, "echo: %d %zu", x.type, x.elements);
	// 2: by SHA.
	memset(&x, 0, sizeof(x));
	IN_CALL = true;
	cache_aredis_eval(a, echo, 1, 1, args, lens, record, &x);
	IN_CALL = false;
	wait1(&x);
	CHECK(x.type == REDIS_REPLY_ARRAY, "echo by sha: %d", x.type);
	CHECK(rc != NULL && cmdstat_calls(rc, "eval") == 1, "EVAL not called once");
	// 3: SCRIPT FLUSH, then EVAL_N evals pipelined: all NOSCRIPT then EVAL.
	memset(&x, 0, sizeof(x));
	cmd(a, &x, 2, flush);
	IN_CALL = true;
	for (int i = 0; i < EVAL_N; i++)
		cache_aredis_eval(a, echo, 1, 1, args, lens, record, &xs[i]);
	IN_CALL = false;
	run_until(&xs[EVAL_N - 1].calls, 1, WAIT_MS);
	CHECK(x.type == REDIS_REPLY_STATUS, "SCRIPT FLUSH failed");
	for (int i = 0; i < EVAL_N; i++) {
		CHECK(xs[i].calls == 1 && xs[i].type == REDIS_REPLY_ARRAY && xs[i].elements == 3,
		      "eval %d after SCRIPT FLUSH: %d %d", i, xs[i].calls, xs[i].type);
		if (i > 0)
			CHECK(xs[i].seq > xs[i - 1].seq, "eval %d out of order", i);
		if (check_failures() > 10)
			break;
	}
	CHECK(rc != NULL && cmdstat_calls(rc, "eval") == 1 + EVAL_N, "EVAL not used after flush");
	// The binary argument came back whole (a raw look at one reply).
	{
		redisReply *r =
		    rc != NULL ? redisCommand(rc, "EVAL %s 1 %s %b", echo, "key", "a\0b", (size_t)3)
		               : NULL;
		CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY && r->element[2]->integer == 3,
		      "binary argument");
		if (r != NULL)
			freeReplyObject(r);
	}
	// One of the adapter's scripts: delete-if-equal of an absent key, 0.
	memset(&x, 0, sizeof(x));
	IN_CALL = true;
	cache_aredis_eval(a, cache_scripts[CACHE_SCRIPT_DEL_IF], 1, 1, delif, NULL, record, &x);
	IN_CALL = false;
	wait1(&x);
	CHECK(x.type == REDIS_REPLY_INTEGER && x.integer == 0, "del-if script: %d %s", x.type,
	      x.str);
	CHECK(f.n == 0, "on_failure called: %s", f.why);
	if (rc != NULL)
		redisFree(rc);
	free(xs);
	cache_aredis_destroy(a);
	stop_redis(pid);
}
