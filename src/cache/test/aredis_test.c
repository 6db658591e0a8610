// cache_aredis: the asynchronous client (aredis.h).
//
// Against REDIS_URL, always in database 9 and only on keys "aredis-test:*"
// (which expire by themselves): pipelining and database selection. Against
// redis-server instances of its own on free ports (redis-server on PATH):
// AUTH, scripts and NOSCRIPT, a frozen server (SIGSTOP), a restart, a closed
// port, and destroy in every awkward place.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "base/clock.h"
#include "cache/aredis.h"
#include "cache/redis_url.h"
#include "cache/scripts.h"
#include "common.h"

// Timeouts of the clients under test.
#define CONNECT_MS   300
#define COMMAND_MS   150
#define RECONNECT_MS 100
// Bounds of the polling loops (not timing assertions: only "it happens").
#define WAIT_MS 10000

static struct event_base *B;
static cache_url SHARED; // REDIS_URL with db 9

// ---- recording callbacks ------------------------------------------------------------------

typedef struct res {
	int calls;
	int type; // reply type, or -1 for NULL
	long long integer;
	char str[64];
	size_t len;
	int64_t at_us;
	long seq; // global order of the calls
	size_t elements;
} res;

static long SEQ;
static bool IN_CALL; // set around aredis_command/aredis_eval: no callback may run then

static void record(const redisReply *r, void *arg)
{
	res *x = arg;
	x->calls++;
	x->seq = SEQ++;
	x->at_us = base_now_us();
	CHECK(!IN_CALL, "a callback ran inside aredis_command");
	if (r == NULL) {
		x->type = -1;
		return;
	}
	x->type = r->type;
	x->integer = r->integer;
	x->elements = r->elements;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
	    r->type == REDIS_REPLY_ERROR) {
		x->len = r->len;
		memcpy(x->str, r->str, r->len < sizeof(x->str) ? r->len : sizeof(x->str) - 1);
	}
}

static void cmd(aredis *a, res *x, int argc, const char **argv)
{
	IN_CALL = true;
	aredis_command(a, argc, argv, NULL, record, x);
	IN_CALL = false;
}

static void cmd1(aredis *a, res *x, const char *c)
{
	cmd(a, x, 1, &c);
}

typedef struct fails {
	int n;
	char why[256];
} fails;

static void on_failure(void *arg, const char *why)
{
	fails *f = arg;
	f->n++;
	snprintf(f->why, sizeof(f->why), "%s", why);
}

// ---- the loop -----------------------------------------------------------------------------

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

// Runs the loop until *counter >= target or timeout_ms; returns the number of
// loop iterations (a 5 ms tick keeps them coming).
static long run_until(const int *counter, int target, int timeout_ms)
{
	struct timeval tv = {0, 5000};
	struct event *t = event_new(B, -1, EV_PERSIST, tick, NULL);
	int64_t end = base_now_us() + (int64_t)timeout_ms * 1000;
	long iters = 0;

	event_add(t, &tv);
	while ((counter == NULL || *counter < target) && base_now_us() < end) {
		event_base_loop(B, EVLOOP_ONCE);
		iters++;
	}
	event_free(t);
	return iters;
}

static void run_ms(int ms)
{
	run_until(NULL, 0, ms);
}

// Sum of calls of xs[0..n).
static int calls(const res *xs, int n)
{
	int c = 0;
	for (int i = 0; i < n; i++)
		c += xs[i].calls;
	return c;
}

// Runs until the single command x is answered.
static void wait1(res *x)
{
	run_until(&x->calls, 1, WAIT_MS);
}

static aredis *make(const cache_url *u, fails *f)
{
	aredis_config cfg = {.url = u,
	                     .base = B,
	                     .connect_timeout_ms = CONNECT_MS,
	                     .command_timeout_ms = COMMAND_MS,
	                     .reconnect_min_ms = RECONNECT_MS,
	                     .on_failure = on_failure,
	                     .arg = f};
	aredis *a = NULL;
	char err[256];
	if (aredis_create(&a, &cfg, err, sizeof(err)) != 0)
		printf("aredis_create: %s\n", err);
	return a;
}

static bool ping_ok(aredis *a)
{
	res x = {0};
	cmd1(a, &x, "PING");
	wait1(&x);
	return x.calls == 1 && x.type == REDIS_REPLY_STATUS && strcmp(x.str, "PONG") == 0;
}

// Pings every 50 ms until one succeeds.
static bool wait_ping(aredis *a)
{
	for (int i = 0; i < WAIT_MS / 50; i++) {
		if (ping_ok(a))
			return true;
		run_ms(50);
	}
	return false;
}

// ---- servers of our own -------------------------------------------------------------------

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

// Starts redis-server on port, with one more option when opt != NULL
// ("--requirepass" makes val the password used to check it is up), and
// waits until it answers.
static pid_t start_redis(int port, const char *opt, const char *val)
{
	char p[16];
	const char *password = opt != NULL && strcmp(opt, "--requirepass") == 0 ? val : NULL;
	pid_t pid;
	snprintf(p, sizeof(p), "%d", port);
	fflush(stdout); // or the child would write our buffered lines again
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the test
		execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save",
		       "", "--appendonly", "no", opt, val, (char *)NULL); // opt NULL ends the list
		_exit(127);
	}
	for (int i = 0; i < WAIT_MS / 50; i++) {
		cache_url u = {.port = port};
		redisContext *rc;
		snprintf(u.host, sizeof(u.host), "127.0.0.1");
		if (password != NULL)
			snprintf(u.password, sizeof(u.password), "%s", password);
		rc = raw_connect(&u);
		if (rc != NULL) {
			redisReply *r = redisCommand(rc, "PING");
			bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
			if (r != NULL)
				freeReplyObject(r);
			redisFree(rc);
			if (ok)
				return pid;
		}
		sleep_ms(50);
	}
	printf("redis-server did not start on port %d\n", port);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void stop_redis(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGCONT);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static cache_url local_url(int port, int db)
{
	cache_url u = {.port = port, .db = db};
	snprintf(u.host, sizeof(u.host), "127.0.0.1");
	return u;
}

// ---- cases --------------------------------------------------------------------------------

// 20,000 commands issued at once: answered in order, correctly, in few loop
// iterations (one per command would be 20,000).
#define PIPE_N 10000
static void case_pipeline(void)
{
	fails f = {0};
	aredis *a = make(&SHARED, &f);
	res *xs = calloc(2 * PIPE_N, sizeof(res));
	char key[64], val[64];
	long iters;
	bool order = true, replies = true;

	if (a == NULL || xs == NULL) {
		CHECK(false, "setup");
		free(xs);
		aredis_destroy(a);
		return;
	}
	IN_CALL = true;
	for (int i = 0; i < PIPE_N; i++) {
		const char *set[5] = {"SET", key, val, "EX", "60"};
		const char *get[2] = {"GET", key};
		size_t lset[5] = {3, 0, 0, 2, 2}, lget[2] = {3, 0};
		lset[1] = lget[1] = (size_t)snprintf(key, sizeof(key), "aredis-test:pipe:%d", i);
		lset[2] = (size_t)snprintf(val, sizeof(val), "value-%d", i);
		aredis_command(a, 5, set, lset, record, &xs[2 * i]);
		aredis_command(a, 2, get, lget, record, &xs[2 * i + 1]);
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
	CHECK(aredis_connected(a), "not connected");
	CHECK(f.n == 0, "on_failure called: %s", f.why);
	printf("     pipeline: %d commands in %ld loop iterations\n", 2 * PIPE_N, iters);
	free(xs);
	aredis_destroy(a);
}

// The database of the URL is selected.
static void case_select(void)
{
	fails f = {0};
	aredis *a = make(&SHARED, &f);
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
	aredis_destroy(a);
}

// AUTH with a password, with an ACL user, and a wrong password.
static void case_auth(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, "--requirepass", "s3cret");
	cache_url u = local_url(port, 3);
	fails f = {0};
	aredis *a;
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
	CHECK(aredis_connected(a), "not connected");
	aredis_destroy(a);
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
	aredis_destroy(a);
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
	CHECK(!aredis_connected(a), "connected with a wrong password");
	aredis_destroy(a);
	stop_redis(pid);
}

// A database the server does not have: SELECT fails, so does the connection.
static void case_bad_db(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, "--databases", "2");
	cache_url u = local_url(port, 5);
	fails f = {0};
	aredis *a;
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
	aredis_destroy(a);
	u.db = 1;
	a = make(&u, &f);
	CHECK(ping_ok(a), "no PONG in database 1");
	aredis_destroy(a);
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
static void case_eval(void)
{
	static const char echo[] = "return {KEYS[1], ARGV[1], #ARGV[1]}";
	int port = free_port();
	pid_t pid = start_redis(port, NULL, NULL);
	cache_url u = local_url(port, 0);
	fails f = {0};
	aredis *a;
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
	aredis_eval(a, echo, 1, 1, args, lens, record, &x);
	IN_CALL = false;
	wait1(&x);
	CHECK(x.type == REDIS_REPLY_ARRAY && x.elements == 3, "echo: %d %zu", x.type, x.elements);
	// 2: by SHA.
	memset(&x, 0, sizeof(x));
	IN_CALL = true;
	aredis_eval(a, echo, 1, 1, args, lens, record, &x);
	IN_CALL = false;
	wait1(&x);
	CHECK(x.type == REDIS_REPLY_ARRAY, "echo by sha: %d", x.type);
	CHECK(rc != NULL && cmdstat_calls(rc, "eval") == 1, "EVAL not called once");
	// 3: SCRIPT FLUSH, then EVAL_N evals pipelined: all NOSCRIPT then EVAL.
	memset(&x, 0, sizeof(x));
	cmd(a, &x, 2, flush);
	IN_CALL = true;
	for (int i = 0; i < EVAL_N; i++)
		aredis_eval(a, echo, 1, 1, args, lens, record, &xs[i]);
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
	aredis_eval(a, cache_scripts[CACHE_SCRIPT_DEL_IF], 1, 1, delif, NULL, record, &x);
	IN_CALL = false;
	wait1(&x);
	CHECK(x.type == REDIS_REPLY_INTEGER && x.integer == 0, "del-if script: %d %s", x.type,
	      x.str);
	CHECK(f.n == 0, "on_failure called: %s", f.why);
	if (rc != NULL)
		redisFree(rc);
	free(xs);
	aredis_destroy(a);
	stop_redis(pid);
}

// A frozen server: commands fail within the command timeout, on_failure is
// called, a reconnect to the frozen server fails by the connect timeout, the
// back-off fails commands fast, and after SIGCONT commands succeed again.
#define FROZEN_N 100
static void case_frozen(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, NULL, NULL);
	cache_url u = local_url(port, 0);
	fails f = {0};
	aredis *a;
	res xs[FROZEN_N], x = {0};
	int64_t t0, worst = 0;

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	a = make(&u, &f);
	CHECK(ping_ok(a), "no PONG before freezing");
	kill(pid, SIGSTOP);
	memset(xs, 0, sizeof(xs));
	t0 = base_now_us();
	for (int i = 0; i < FROZEN_N; i++) {
		cmd1(a, &xs[i], "PING");
		if (i == FROZEN_N / 2)
			run_ms(20); // half of them sent later
	}
	run_until(&xs[FROZEN_N - 1].calls, 1, WAIT_MS);
	run_until(&f.n, 1, 1000);
	for (int i = 0; i < FROZEN_N; i++) {
		CHECK(xs[i].calls == 1 && xs[i].type == -1, "command %d: %d calls, type %d", i,
		      xs[i].calls, xs[i].type);
		if (xs[i].at_us - t0 > worst)
			worst = xs[i].at_us - t0;
	}
	CHECK(worst <= (COMMAND_MS + 100) * 1000, "a command took %lld ms",
	      (long long)worst / 1000);
	CHECK(f.n == 1 && strcmp(f.why, "command timeout") == 0, "on_failure: %d %s", f.n, f.why);
	printf("     frozen: the last NULL after %lld ms\n", (long long)worst / 1000);

	// Inside the back-off: fails fast.
	t0 = base_now_us();
	cmd1(a, &x, "PING");
	wait1(&x);
	CHECK(x.type == -1 && x.at_us - t0 < 50000, "not failed fast in the back-off");

	// After it: a new connection, whose handshake the frozen server never
	// answers.
	run_ms(RECONNECT_MS + 20);
	memset(&x, 0, sizeof(x));
	t0 = base_now_us();
	cmd1(a, &x, "PING");
	wait1(&x);
	run_until(&f.n, 2, 1000);
	CHECK(x.type == -1 && x.at_us - t0 <= (CONNECT_MS + 100) * 1000,
	      "connect to a frozen server: type %d after %lld ms", x.type,
	      (long long)(x.at_us - t0) / 1000);
	CHECK(f.n == 2 && strcmp(f.why, "connect timeout") == 0, "on_failure: %d %s", f.n, f.why);

	kill(pid, SIGCONT);
	CHECK(wait_ping(a), "no PONG after SIGCONT");
	CHECK(aredis_connected(a), "not connected after SIGCONT");
	aredis_destroy(a);
	stop_redis(pid);
}

// The server is killed (an idle connection notices), refused while down,
// and restarted on the same port: commands succeed again.
static void case_restart(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, NULL, NULL);
	cache_url u = local_url(port, 0);
	fails f = {0};
	aredis *a;
	res x = {0};

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	a = make(&u, &f);
	CHECK(ping_ok(a), "no PONG at first");
	stop_redis(pid);
	run_until(&f.n, 1, WAIT_MS);
	CHECK(f.n == 1 && !aredis_connected(a), "the closed connection went unnoticed");
	run_ms(RECONNECT_MS + 20);
	cmd1(a, &x, "PING");
	wait1(&x);
	CHECK(x.calls == 1 && x.type == -1, "PING with the server down: %d", x.type);
	pid = start_redis(port, NULL, NULL);
	CHECK(pid > 0, "no redis-server after the restart");
	CHECK(wait_ping(a), "no PONG after the restart");
	aredis_destroy(a);
	stop_redis(pid);
}

// Nothing listens: every command fails (refused, then the back-off), never
// inside aredis_command.
static void case_closed_port(void)
{
	cache_url u = local_url(free_port(), 0);
	fails f = {0};
	aredis *a = make(&u, &f);
	res xs[10];

	memset(xs, 0, sizeof(xs));
	for (int i = 0; i < 10; i++) {
		cmd1(a, &xs[i], "PING");
		if (i == 4)
			run_ms(RECONNECT_MS + 20);
	}
	run_until(&xs[9].calls, 1, WAIT_MS);
	for (int i = 0; i < 10; i++)
		CHECK(xs[i].calls == 1 && xs[i].type == -1, "command %d: %d %d", i, xs[i].calls,
		      xs[i].type);
	CHECK(f.n >= 1, "on_failure not called");
	aredis_destroy(a);
}

// ---- destroy ------------------------------------------------------------------------------

typedef struct dctx {
	aredis *a;
	int destroy_at; // index whose callback destroys the client
	int issue_at;   // index whose callback queues one more command
	res *xs;
	res extra;
	int n_done;
	int destroyed_after; // n_done when destroy returned
	bool destroying;
} dctx;

typedef struct dres {
	dctx *d;
	int i;
} dres;

// Destroys d->a, which stays set meanwhile: callbacks run by destroy queue a
// command on it (issue_at).
static void d_destroy(dctx *d)
{
	if (d->a == NULL || d->destroying)
		return;
	d->destroying = true;
	aredis_destroy(d->a);
	d->a = NULL;
	d->destroyed_after = d->n_done;
}

static void d_record(const redisReply *r, void *arg)
{
	dres *e = arg;
	dctx *d = e->d;
	record(r, &d->xs[e->i]);
	d->n_done++;
	if (e->i == d->issue_at && d->a != NULL)
		cmd1(d->a, &d->extra, "PING");
	if (e->i == d->destroy_at)
		d_destroy(d);
}

static void d_on_failure(void *arg, const char *why)
{
	(void)why;
	d_destroy(arg);
}

#define D_N 1000
// mode 0: destroy before the loop ran; 1: from a reply callback; 2: from
// on_failure (frozen server); 3: from a NULL callback of a timed-out
// connection.
static void destroy_case(int mode, const cache_url *u, pid_t pid)
{
	dctx d = {.destroy_at = -1, .issue_at = -1};
	dres *es = calloc(D_N, sizeof(dres));
	aredis_config cfg = {.url = u,
	                     .base = B,
	                     .connect_timeout_ms = CONNECT_MS,
	                     .command_timeout_ms = COMMAND_MS,
	                     .reconnect_min_ms = RECONNECT_MS,
	                     .on_failure = mode == 2 ? d_on_failure : NULL,
	                     .arg = &d};
	char err[256];

	d.xs = calloc(D_N, sizeof(res));
	if (es == NULL || d.xs == NULL || aredis_create(&d.a, &cfg, err, sizeof(err)) != 0) {
		CHECK(false, "setup");
		free(es);
		free(d.xs);
		return;
	}
	if (mode == 1) {
		d.destroy_at = 10;
		d.issue_at = 20; // a command queued from a callback run by destroy
	} else if (mode == 3) {
		d.destroy_at = 5;
		d.issue_at = 3;
	}
	if (mode >= 2) {
		CHECK(ping_ok(d.a), "no PONG");
		kill(pid, SIGSTOP);
	}
	IN_CALL = true;
	for (int i = 0; i < D_N; i++) {
		const char *ping = "PING";
		es[i] = (dres){&d, i};
		aredis_command(d.a, 1, &ping, NULL, d_record, &es[i]);
	}
	IN_CALL = false;
	if (mode == 0) {
		d.issue_at = 500;
		d_destroy(&d);
	} else {
		run_until(&d.n_done, D_N, WAIT_MS);
	}
	run_ms(20); // anything late would show now
	if (mode >= 2)
		kill(pid, SIGCONT);
	CHECK(d.a == NULL, "mode %d: not destroyed", mode);
	CHECK(d.destroyed_after == D_N, "mode %d: %d callbacks when destroy returned", mode,
	      d.destroyed_after);
	for (int i = 0; i < D_N; i++) {
		bool want_reply = mode == 1 && i <= 10;
		CHECK(d.xs[i].calls == 1, "mode %d: command %d called %d times", mode, i,
		      d.xs[i].calls);
		CHECK(want_reply ? d.xs[i].type == REDIS_REPLY_STATUS : d.xs[i].type == -1,
		      "mode %d: command %d type %d", mode, i, d.xs[i].type);
		if (check_failures() > 20)
			break;
	}
	if (d.issue_at >= 0)
		CHECK(d.extra.calls == 1 && d.extra.type == -1, "mode %d: extra %d %d", mode,
		      d.extra.calls, d.extra.type);
	free(es);
	free(d.xs);
}

static void case_destroy(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, NULL, NULL);
	cache_url u = local_url(port, 0);

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	for (int mode = 0; mode < 4; mode++)
		destroy_case(mode, &u, pid);
	stop_redis(pid);
}

static const check_case CASES[] = {
    {"pipeline", case_pipeline}, {"select", case_select},
    {"auth", case_auth},         {"bad_db", case_bad_db},
    {"eval", case_eval},         {"frozen", case_frozen},
    {"restart", case_restart},   {"closed_port", case_closed_port},
    {"destroy", case_destroy},
};

int main(int argc, char **argv)
{
	const char *url = getenv("REDIS_URL");
	char err[256];

	signal(SIGPIPE, SIG_IGN);
	if (url == NULL || url[0] == '\0') {
		printf("FAIL: REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); this test "
		       "uses its database 9 (keys aredis-test:*)\n");
		return 1;
	}
	if (cache_url_parse(url, &SHARED, err, sizeof(err)) != 0) {
		printf("FAIL: REDIS_URL: %s\n", err);
		return 1;
	}
	SHARED.db = 9;
	B = event_base_new();
	if (B == NULL) {
		printf("FAIL: event_base_new\n");
		return 1;
	}
	check_run(CASES, sizeof(CASES) / sizeof(CASES[0]), argc > 1 ? argv[1] : NULL, NULL);
	event_base_free(B);
	return check_summary("cache_aredis");
}
