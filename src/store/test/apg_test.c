// store_apg: the asynchronous pool on a libevent loop run by this thread:
// bursts, errors inside a burst, deadlines (queued and in flight), a killed
// backend, no_prepare, the wait-queue bound and destroy with work outstanding.
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "obs/metrics.h"
#include "store/apg.h"
#include "testutil.h"

#define SCHEMA "test_apg"

static char *conninfo;
static obs_registry *reg;
static struct event_base *base;

static store_apg_stmt st_one = {.name = "t_one", .sql = "SELECT 1", .nparams = 0};
static store_apg_stmt st_double = {.name = "t_double", .sql = "SELECT $1::int * 2", .nparams = 1};
static store_apg_stmt st_div = {.name = "t_div", .sql = "SELECT 1000 / $1::int", .nparams = 1};
static store_apg_stmt st_sleep = {
    .name = "t_sleep", .label = "t_sleepy", .sql = "SELECT pg_sleep($1::float8)", .nparams = 1};
static store_apg_stmt st_pid = {.name = "t_pid", .sql = "SELECT pg_backend_pid()", .nparams = 0};
static store_apg_stmt st_insert = {
    .name = "t_insert", .sql = "INSERT INTO t_uniq (k) VALUES ($1::int)", .nparams = 1};
static store_apg_stmt st_log = {
    .name = "t_log", .sql = "INSERT INTO t_log (v) VALUES ($1::int)", .nparams = 1};
static store_apg_stmt st_count_log = {
    .name = "t_count_log", .sql = "SELECT count(*) FROM t_log", .nparams = 0};
static store_apg_stmt st_prepared = {
    .name = "t_prepared", .sql = "SELECT count(*) FROM pg_prepared_statements", .nparams = 0};
static store_apg_stmt st_timeout = {
    .name = "t_timeout", .sql = "SELECT current_setting('statement_timeout')", .nparams = 0};
static store_apg_stmt st_bad = {.name = "t_bad", .sql = "SELEKT 1", .nparams = 0};
static store_apg_stmt st_length = {.name = "t_length", .sql = "SELECT length($1)", .nparams = 1};
// A scan stand-in in the heavy lane: sleeps, then names its backend.
static store_apg_stmt st_scan = {.name = "t_scan",
                                 .sql = "SELECT pg_backend_pid() FROM pg_sleep($1::float8)",
                                 .nparams = 1,
                                 .heavy = true};

// One query and what its callback saw.
typedef struct call {
	store_apg_query q;
	const char *vals[1];
	char arg[32];
	int calls;
	nrpc_code code;
	char err[64];
	char val[64];
	int64_t submit_us, done_us;
} call;

static int pending;           // submitted, callback not run yet
static bool in_submit;        // store_apg_submit is on the stack
static store_apg *destroy_in; // a callback destroys this pool

static void on_done(store_apg_query *q, nrpc_code code, PGresult *res, const char *err)
{
	call *c = q->arg;
	CHECK(!in_submit, "done ran inside store_apg_submit");
	c->calls++;
	c->code = code;
	c->done_us = tu_now_us();
	if (code == NRPC_OK) {
		CHECK(res != NULL && err == NULL, "OK with res %p err %s", (void *)res, err);
		if (res && PQntuples(res) > 0 && PQnfields(res) > 0)
			snprintf(c->val, sizeof c->val, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	} else {
		CHECK(res == NULL, "error with a result");
		CHECK(err != NULL && err[0] != '\0', "error without a message");
		snprintf(c->err, sizeof c->err, "%s", err ? err : "");
	}
	pending--;
	if (destroy_in != NULL) {
		store_apg *p = destroy_in;
		destroy_in = NULL;
		store_apg_destroy(p);
	}
}

// Starts c; `values` NULL: the one value `arg` (NULL = no value or SQL NULL).
static void submit_ex(store_apg *p, call *c, store_apg_stmt *s, const char *arg,
                      const char *const *values, int timeout_ms, store_apg_done done)
{
	memset(c, 0, sizeof *c);
	if (arg != NULL)
		snprintf(c->arg, sizeof c->arg, "%s", arg);
	c->vals[0] = arg ? c->arg : NULL;
	c->q.stmt = s;
	c->q.values = values ? values : c->vals;
	c->submit_us = tu_now_us();
	c->q.deadline_us = c->submit_us + (int64_t)timeout_ms * 1000;
	c->q.done = done;
	c->q.arg = c;
	pending++;
	in_submit = true;
	store_apg_submit(p, &c->q);
	in_submit = false;
}

static void submit(store_apg *p, call *c, store_apg_stmt *s, const char *arg, int timeout_ms)
{
	submit_ex(p, c, s, arg, NULL, timeout_ms, on_done);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

// Runs the loop until nothing is pending (all_done) or max_ms passed.
static void run(int max_ms, bool all_done)
{
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	struct timeval tv = {0, 5000};
	event_add(tick, &tv);
	int64_t limit = tu_now_us() + (int64_t)max_ms * 1000;
	while (tu_now_us() < limit && !(all_done && pending == 0))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
}

static store_apg *make(unsigned conns, unsigned pipeline, unsigned queued, bool no_prepare)
{
	store_apg_config cfg = {.conninfo = conninfo,
	                        .base = base,
	                        .connections = conns,
	                        .max_pipeline = pipeline,
	                        .max_queued = queued,
	                        .statement_timeout_ms = 10000,
	                        .connect_timeout_ms = 2000,
	                        .slow_query_ms = 1000,
	                        .no_prepare = no_prepare,
	                        .metrics = reg};
	store_apg *p = NULL;
	char err[256];
	if (store_apg_create(&p, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "store_apg_create: %s\n", err);
		exit(2);
	}
	store_apg_stmt *all[] = {&st_one,    &st_double, &st_div,       &st_sleep,    &st_pid,
	                         &st_insert, &st_log,    &st_count_log, &st_prepared, &st_timeout,
	                         &st_bad,    &st_length, &st_scan};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		CHECK(store_apg_register(p, all[i]) == 0, "register %s", all[i]->name);
	return p;
}

// One query, run to completion.
static nrpc_code one(store_apg *p, call *c, store_apg_stmt *s, const char *arg, int timeout_ms)
{
	submit(p, c, s, arg, timeout_ms);
	run(timeout_ms + 2000, true);
	CHECK(c->calls == 1, "%s: %d calls", s->name, c->calls);
	return c->code;
}

static void sql(const char *text)
{
	PGconn *admin = tu_connect(conninfo);
	PQclear(tu_exec(admin, text));
	PQfinish(admin);
}

// ---- cases --------------------------------------------------------------------------------------

#define BURST 10000

static void test_burst(void)
{
	store_apg *p = make(2, 32, BURST, false);
	call *cs = calloc(BURST, sizeof *cs);
	int64_t start = tu_now_us();
	for (int i = 0; i < BURST; i++) {
		char a[16];
		snprintf(a, sizeof a, "%d", i);
		submit(p, &cs[i], &st_double, a, 30000);
	}
	CHECK(store_apg_queued(p) > 0, "a burst waits in the queue (%u)", store_apg_queued(p));
	run(30000, true);
	printf("  %d queries on 2 connections: %lld ms\n", BURST,
	       (long long)(tu_now_us() - start) / 1000);
	int bad = 0;
	for (int i = 0; i < BURST; i++) {
		long want = 2L * i;
		if (cs[i].calls != 1 || cs[i].code != NRPC_OK ||
		    strtol(cs[i].val, NULL, 10) != want) {
			if (bad++ < 5)
				CHECK(0, "query %d: calls %d code %d val '%s' err '%s'", i,
				      cs[i].calls, cs[i].code, cs[i].val, cs[i].err);
		}
	}
	CHECK(bad == 0, "%d of %d queries wrong", bad, BURST);
	CHECK(store_apg_in_flight(p) == 0 && store_apg_queued(p) == 0, "idle after the burst");
	// Spread over both connections.
	enum { M = 200 };
	for (int i = 0; i < M; i++)
		submit(p, &cs[i], &st_pid, NULL, 10000);
	run(10000, true);
	int pids[2] = {0, 0};
	for (int i = 0; i < M; i++) {
		int pid = atoi(cs[i].val);
		CHECK(cs[i].code == NRPC_OK && pid > 0, "pid %d: %d", i, cs[i].code);
		if (pids[0] == 0 || pids[0] == pid)
			pids[0] = pid;
		else if (pids[1] == 0 || pids[1] == pid)
			pids[1] = pid;
		else
			CHECK(0, "a third backend %d", pid);
	}
	CHECK(pids[0] != 0 && pids[1] != 0, "both connections used");
	CHECK(store_apg_healthy(p), "healthy");
	free(cs);
	store_apg_destroy(p);
}

static void test_error_in_burst(void)
{
	sql("CREATE TABLE t_uniq (k int PRIMARY KEY); INSERT INTO t_uniq VALUES (500)");
	store_apg *p = make(2, 32, 4096, false);
	enum { N = 1000 };
	call *cs = calloc(N, sizeof *cs);
	for (int i = 0; i < N; i++) {
		char a[16];
		snprintf(a, sizeof a, "%d", i);
		submit(p, &cs[i], &st_insert, a, 20000);
	}
	run(20000, true);
	for (int i = 0; i < N; i++) {
		nrpc_code want = i == 500 ? NRPC_ALREADY_EXISTS : NRPC_OK;
		CHECK(cs[i].calls == 1 && cs[i].code == want, "insert %d: calls %d code %d %s", i,
		      cs[i].calls, cs[i].code, cs[i].err);
	}
	// Every other insert committed at its own Sync.
	PGconn *admin = tu_connect(conninfo);
	CHECK(tu_scalar(admin, "SELECT count(*) FROM t_uniq") == N, "rows committed");
	PQfinish(admin);

	// Division by zero among divisions, on one connection so they share a pipeline.
	store_apg *p1 = make(1, 64, 4096, false);
	enum { M = 200 };
	for (int i = 0; i < M; i++) {
		char a[16];
		snprintf(a, sizeof a, "%d", i == 100 ? 0 : i + 1);
		submit(p1, &cs[i], &st_div, a, 20000);
	}
	run(20000, true);
	for (int i = 0; i < M; i++) {
		if (i == 100) {
			CHECK(cs[i].code == NRPC_INVALID_ARGUMENT, "division by zero: %d %s",
			      cs[i].code, cs[i].err);
			CHECK(strstr(cs[i].err, "zero") == NULL, "message leaks: %s", cs[i].err);
		} else {
			CHECK(cs[i].code == NRPC_OK &&
			          strtol(cs[i].val, NULL, 10) == 1000 / (i + 1),
			      "division %d: %d '%s' %s", i, cs[i].code, cs[i].val, cs[i].err);
		}
	}
	// A statement that does not parse: INTERNAL, no SQL in the message; the
	// connection carries on.
	call c;
	CHECK(one(p1, &c, &st_bad, NULL, 2000) == NRPC_INTERNAL, "syntax error: %d", c.code);
	CHECK(strstr(c.err, "SELEKT") == NULL && strstr(c.err, "syntax") == NULL, "leaks: %s",
	      c.err);
	CHECK(one(p1, &c, &st_bad, NULL, 2000) == NRPC_INTERNAL, "syntax error again: %d", c.code);
	CHECK(one(p1, &c, &st_one, NULL, 2000) == NRPC_OK, "after errors: %d %s", c.code, c.err);
	free(cs);
	store_apg_destroy(p1);
	store_apg_destroy(p);
	sql("DROP TABLE t_uniq");
}

static void test_deadline_in_flight(void)
{
	store_apg *p = make(1, 32, 100, false);
	call c;
	CHECK(one(p, &c, &st_one, NULL, 3000) == NRPC_OK, "warm up: %s", c.err);
	uint64_t cancels =
	    obs_counter_value(obs_counter_get(reg, "propertyd_db_cancels_total", "x", NULL));
	call s;
	submit(p, &s, &st_sleep, "5", 300);
	run(3000, true);
	int64_t late_ms = (s.done_us - s.q.deadline_us) / 1000;
	CHECK(s.code == NRPC_DEADLINE_EXCEEDED, "pg_sleep past deadline: %d %s", s.code, s.err);
	CHECK(s.done_us >= s.q.deadline_us && late_ms <= 50, "completed %lld ms after the deadline",
	      (long long)late_ms);
	// Next on the same connection: behind the overdue sleep until the cancel.
	int64_t t0 = tu_now_us();
	CHECK(one(p, &c, &st_one, NULL, 3000) == NRPC_OK, "next query: %d %s", c.code, c.err);
	CHECK(tu_now_us() - t0 < 1000000, "next query waited %lld ms",
	      (long long)(tu_now_us() - t0) / 1000);
	CHECK(obs_counter_value(obs_counter_get(reg, "propertyd_db_cancels_total", "x", NULL)) ==
	          cancels + 1,
	      "one cancel sent");
	// The session's statement_timeout was set once, from the config.
	CHECK(one(p, &c, &st_timeout, NULL, 2000) == NRPC_OK, "timeout: %s", c.err);
	CHECK(strcmp(c.val, "10s") == 0, "statement_timeout %s", c.val);
	store_apg_destroy(p);
}

static void test_deadline_queued(void)
{
	sql("CREATE TABLE t_log (v int)");
	store_apg *p = make(1, 1, 100, false);
	call s, w, late;
	submit(p, &s, &st_sleep, "0.5", 3000);
	submit(p, &w, &st_log, "1", 100);
	run(3000, true);
	CHECK(s.code == NRPC_OK, "sleep: %d %s", s.code, s.err);
	CHECK(w.code == NRPC_DEADLINE_EXCEEDED, "queued: %d %s", w.code, w.err);
	CHECK(w.done_us < s.done_us, "the queued query completed at its deadline, not after");
	CHECK((w.done_us - w.q.deadline_us) / 1000 <= 50, "late by %lld ms",
	      (long long)(w.done_us - w.q.deadline_us) / 1000);
	call c;
	CHECK(one(p, &c, &st_count_log, NULL, 2000) == NRPC_OK, "count: %s", c.err);
	CHECK(strcmp(c.val, "0") == 0, "the expired insert was sent: %s rows", c.val);
	// A deadline already passed: completed, but not from inside store_apg_submit.
	submit(p, &late, &st_log, "2", -1);
	CHECK(late.calls == 0, "done ran inside submit");
	run(1000, true);
	CHECK(late.calls == 1 && late.code == NRPC_DEADLINE_EXCEEDED, "passed: %d", late.code);
	store_apg_destroy(p);
	sql("DROP TABLE t_log");
}

// A query whose deadline is nearer than the recent wait of its queue is
// refused at once, not queued to expire; one with time enough still waits.
static void test_shed(void)
{
	store_apg *p = make(1, 1, 100, false);
	call warm;
	CHECK(one(p, &warm, &st_one, NULL, 3000) == NRPC_OK, "warm: %s", warm.err);
	call s, w[8], f, x, y;
	submit(p, &s, &st_sleep, "1.0", 5000);
	submit(p, &f, &st_one, NULL, 4000); // waits behind s all along
	for (int i = 0; i < 8; i++)
		submit(p, &w[i], &st_one, NULL, 200); // expire in the queue: waits of 200 ms
	run(600, false);
	for (int i = 0; i < 8; i++)
		CHECK(w[i].calls == 1 && w[i].code == NRPC_DEADLINE_EXCEEDED, "w%d: %d", i,
		      w[i].code);
	submit(p, &x, &st_one, NULL, 50); // less than the recent wait (~130 ms)
	run(20, false);
	CHECK(x.calls == 1 && x.code == NRPC_DEADLINE_EXCEEDED, "near deadline: %d calls, code %d",
	      x.calls, x.code);
	CHECK(x.done_us < x.q.deadline_us, "shed at its deadline, not at once");
	CHECK(strstr(x.err, "database queue") != NULL, "message: %s", x.err);
	submit(p, &y, &st_one, NULL, 4000);
	run(5000, true);
	CHECK(s.code == NRPC_OK && f.code == NRPC_OK && y.code == NRPC_OK, "%d %d %d", s.code,
	      f.code, y.code);
	// The queue drained: a new backlog is not judged by the old waits.
	call s2, g, z;
	submit(p, &s2, &st_sleep, "0.3", 5000);
	submit(p, &g, &st_one, NULL, 4000);
	submit(p, &z, &st_one, NULL, 100);
	run(5000, true);
	CHECK(z.code == NRPC_DEADLINE_EXCEEDED && strstr(z.err, "database queue") == NULL,
	      "after a drain: %d %s (shed on stale waits?)", z.code, z.err);
	CHECK(s2.code == NRPC_OK && g.code == NRPC_OK, "%d %d", s2.code, g.code);
	store_apg_destroy(p);
}

// Heavy queries: never on the first connection, one per connection; a
// short query goes to a connection without one, at once, ahead of the heavy
// ones queued before it.
static void test_heavy_lane(void)
{
	store_apg *p = make(3, 32, 100, false);
	call warm[3];
	for (int i = 0; i < 3; i++)
		submit(p, &warm[i], &st_sleep, "0.05", 3000); // brings every connection up
	run(3000, true);
	call h[4], l1, l2;
	for (int i = 0; i < 4; i++)
		submit(p, &h[i], &st_scan, "0.3", 5000);
	submit(p, &l1, &st_pid, NULL, 5000);
	submit(p, &l2, &st_one, NULL, 5000);
	run(5000, true);
	int64_t first_heavy = INT64_MAX;
	for (int i = 0; i < 4; i++) {
		CHECK(h[i].code == NRPC_OK, "heavy %d: %d %s", i, h[i].code, h[i].err);
		CHECK(strcmp(h[i].val, l1.val) != 0,
		      "heavy %d ran on the short queries' connection", i);
		if (h[i].done_us < first_heavy)
			first_heavy = h[i].done_us;
	}
	CHECK(l1.code == NRPC_OK && l2.code == NRPC_OK, "short: %d %d", l1.code, l2.code);
	CHECK(l1.done_us < first_heavy && l2.done_us < first_heavy,
	      "a short query waited for a heavy one");
	// Two connections take heavy queries, one at a time each: two pairs.
	int same = 0;
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			same += strcmp(h[i].val, h[j].val) == 0;
	CHECK(same == 2, "heavy queries per backend: %d equal pairs, want 2", same);
	store_apg_destroy(p);

	// One query per connection: the heavy lane's queued head cannot go, the
	// short lane's head behind it in time goes first.
	p = make(2, 1, 100, false);
	call w2[2];
	for (int i = 0; i < 2; i++)
		submit(p, &w2[i], &st_sleep, "0.05", 3000);
	run(3000, true);
	call h1, h2, s1, s2;
	submit(p, &h1, &st_scan, "0.3", 5000);
	submit(p, &h2, &st_scan, "0.3", 5000);
	submit(p, &s1, &st_sleep, "0.05", 5000);
	submit(p, &s2, &st_one, NULL, 5000);
	run(5000, true);
	CHECK(h1.code == NRPC_OK && h2.code == NRPC_OK && s1.code == NRPC_OK && s2.code == NRPC_OK,
	      "codes %d %d %d %d", h1.code, h2.code, s1.code, s2.code);
	CHECK(s2.done_us < h1.done_us, "the short queue waited behind the heavy one");
	CHECK(h1.done_us < h2.done_us, "heavy order");
	store_apg_destroy(p);
}

static void test_killed_backend(void)
{
	store_apg *p = make(1, 32, 100, false);
	call c;
	CHECK(one(p, &c, &st_pid, NULL, 3000) == NRPC_OK, "pid: %s", c.err);
	int pid = atoi(c.val);
	CHECK(pid > 0, "pid %s", c.val);
	enum { N = 5 };
	call s[N];
	for (int i = 0; i < N; i++)
		submit(p, &s[i], &st_sleep, "3", 10000);
	run(200, false);
	CHECK(store_apg_in_flight(p) == N, "in flight: %u", store_apg_in_flight(p));
	char text[96];
	snprintf(text, sizeof text, "SELECT pg_terminate_backend(%d)", pid);
	sql(text);
	int64_t t0 = tu_now_us();
	run(3000, true);
	for (int i = 0; i < N; i++) {
		CHECK(s[i].calls == 1 && s[i].code == NRPC_UNAVAILABLE, "in flight %d: %d %s", i,
		      s[i].code, s[i].err);
		CHECK(s[i].done_us - t0 < 1000000, "failed after %lld ms",
		      (long long)(s[i].done_us - t0) / 1000);
	}
	CHECK(!store_apg_healthy(p), "unhealthy after the failure");
	// A new backend, with the statement prepared again.
	CHECK(one(p, &c, &st_pid, NULL, 3000) == NRPC_OK, "after kill: %d %s", c.code, c.err);
	CHECK(atoi(c.val) != pid && atoi(c.val) > 0, "a new backend: %s", c.val);
	CHECK(one(p, &c, &st_prepared, NULL, 3000) == NRPC_OK, "prepared: %s", c.err);
	CHECK(strcmp(c.val, "2") == 0, "t_pid and t_prepared prepared anew: %s", c.val);
	CHECK(store_apg_healthy(p), "healthy again");
	store_apg_destroy(p);
}

static void test_no_prepare(void)
{
	store_apg *p = make(2, 16, 1000, true);
	enum { N = 500 };
	call *cs = calloc(N, sizeof *cs);
	for (int i = 0; i < N; i++) {
		char a[16];
		snprintf(a, sizeof a, "%d", i);
		submit(p, &cs[i], &st_double, a, 10000);
	}
	run(10000, true);
	for (int i = 0; i < N; i++)
		CHECK(cs[i].code == NRPC_OK && strtol(cs[i].val, NULL, 10) == 2L * i,
		      "query %d: %d '%s' %s", i, cs[i].code, cs[i].val, cs[i].err);
	call c;
	CHECK(one(p, &c, &st_prepared, NULL, 2000) == NRPC_OK, "prepared: %s", c.err);
	CHECK(strcmp(c.val, "0") == 0, "no named statements: %s", c.val);
	free(cs);
	store_apg_destroy(p);
}

static void test_queue_bound(void)
{
	store_apg *p = make(1, 1, 5, false);
	enum { N = 8 };
	call cs[N];
	for (int i = 0; i < N; i++)
		submit(p, &cs[i], &st_sleep, "0.01", 5000);
	run(5000, true);
	int busy = 0, ok = 0;
	for (int i = 0; i < N; i++) {
		if (cs[i].code == NRPC_UNAVAILABLE && strcmp(cs[i].err, "database busy") == 0)
			busy++;
		else if (cs[i].code == NRPC_OK)
			ok++;
	}
	// Nothing is connected at first: 5 wait, the rest are refused.
	CHECK(busy == N - 5 && ok == 5, "busy %d ok %d", busy, ok);
	store_apg_destroy(p);
}

static void test_unreachable(void)
{
	store_apg_config cfg = {.conninfo = "host=127.0.0.1 port=1 user=postgres dbname=none",
	                        .base = base,
	                        .connections = 1,
	                        .connect_timeout_ms = 500,
	                        .metrics = reg};
	store_apg *p = NULL;
	char err[256];
	CHECK(store_apg_create(&p, &cfg, err, sizeof err) == 0, "create: %s", err);
	CHECK(store_apg_register(p, &st_one) == 0, "register");
	call c;
	// The refused connect makes the pool unreachable: the query is answered
	// UNAVAILABLE at once, not at its deadline.
	CHECK(one(p, &c, &st_one, NULL, 300) == NRPC_UNAVAILABLE, "%d %s", c.code, c.err);
	CHECK(c.done_us < c.q.deadline_us, "answered before the deadline");
	CHECK(!store_apg_healthy(p), "unhealthy");
	store_apg_destroy(p);
}

static store_apg *resubmit_pool;
static call resubmitted;

static void on_done_resubmit(store_apg_query *q, nrpc_code code, PGresult *res, const char *err)
{
	on_done(q, code, res, err);
	if (resubmit_pool != NULL) {
		store_apg *p = resubmit_pool;
		resubmit_pool = NULL;
		submit(p, &resubmitted, &st_one, NULL, 1000);
	}
}

static void test_destroy_outstanding(void)
{
	store_apg *p = make(1, 4, 100, false);
	enum { N = 24 };
	call cs[N];
	for (int i = 0; i < N; i++)
		submit_ex(p, &cs[i], i < 4 ? &st_sleep : &st_one, i < 4 ? "2" : NULL, NULL, 10000,
		          i == 0 ? on_done_resubmit : on_done);
	run(300, false);
	CHECK(store_apg_in_flight(p) == 4 && store_apg_queued(p) == N - 4, "in flight %u queued %u",
	      store_apg_in_flight(p), store_apg_queued(p));
	resubmit_pool = p;
	store_apg_destroy(p);
	for (int i = 0; i < N; i++)
		CHECK(cs[i].calls == 1 && cs[i].code == NRPC_UNAVAILABLE, "query %d: %d calls, %d",
		      i, cs[i].calls, cs[i].code);
	CHECK(resubmitted.calls == 1 && resubmitted.code == NRPC_UNAVAILABLE,
	      "submitted during destroy: %d calls, %d", resubmitted.calls, resubmitted.code);
	CHECK(pending == 0, "pending %d", pending);
	run(100, false); // nothing of the pool may fire any more

	// Destroyed from inside a callback, with more completions due.
	p = make(1, 4, 100, false);
	for (int i = 0; i < 6; i++)
		submit(p, &cs[i], &st_one, NULL, 5000);
	destroy_in = p;
	run(3000, true);
	for (int i = 0; i < 6; i++)
		CHECK(cs[i].calls == 1, "query %d: %d calls", i, cs[i].calls);
	CHECK(cs[0].code == NRPC_OK, "first: %d", cs[0].code);
	run(100, false);
}

// Parameters larger than the socket buffers: libpq's output is flushed as
// the socket drains (the write event), while results are read.
static void test_large_params(void)
{
	store_apg *p = make(1, 8, 100, false);
	enum { N = 6, LEN = 3 << 20 };
	char *big = malloc(LEN + 1);
	memset(big, 'x', LEN);
	big[LEN] = '\0';
	call cs[N];
	const char *vals[1] = {big};
	for (int i = 0; i < N; i++)
		submit_ex(p, &cs[i], &st_length, NULL, vals, 20000, on_done);
	run(20000, true);
	for (int i = 0; i < N; i++)
		CHECK(cs[i].code == NRPC_OK && strtol(cs[i].val, NULL, 10) == LEN,
		      "query %d: %d '%s' %s", i, cs[i].code, cs[i].val, cs[i].err);
	free(big);
	store_apg_destroy(p);
}

// A server that accepts TCP and never answers: each connect attempt is cut
// at connect_timeout_ms, and the loop keeps running meanwhile.
static void test_connect_timeout(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 8) == 0 &&
	          getsockname(fd, (struct sockaddr *)&a, &alen) == 0,
	      "listener");
	char ci[160];
	snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=none sslmode=disable",
	         ntohs(a.sin_port));
	store_apg_config cfg = {.conninfo = ci,
	                        .base = base,
	                        .connections = 1,
	                        .connect_timeout_ms = 150,
	                        .metrics = reg};
	store_apg *p = NULL;
	char err[256];
	CHECK(store_apg_create(&p, &cfg, err, sizeof err) == 0, "create: %s", err);
	CHECK(store_apg_register(p, &st_one) == 0, "register");
	call c;
	submit(p, &c, &st_one, NULL, 500);
	run(2000, true);
	// The first connect attempt is cut at 150 ms; the queued query is then
	// answered UNAVAILABLE, before its 500 ms deadline.
	CHECK(c.code == NRPC_UNAVAILABLE, "%d %s", c.code, c.err);
	CHECK(c.done_us < c.q.deadline_us, "answered %lld ms after the deadline",
	      (long long)(c.done_us - c.q.deadline_us) / 1000);
	CHECK(!store_apg_healthy(p), "unhealthy after a connect timeout");
	store_apg_destroy(p);
	close(fd);
}

// Callbacks that submit the next query: a chain of 1,000 on the loop.
static store_apg *chain_pool;
static int chain_left;
static call chain_call;

static void on_chain(store_apg_query *q, nrpc_code code, PGresult *res, const char *err)
{
	on_done(q, code, res, err);
	CHECK(code == NRPC_OK, "chain: %d %s", code, err ? err : "");
	if (code == NRPC_OK && --chain_left > 0)
		submit_ex(chain_pool, &chain_call, &st_one, NULL, NULL, 2000, on_chain);
}

static void test_chain(void)
{
	chain_pool = make(2, 4, 10, false);
	chain_left = 1000;
	submit_ex(chain_pool, &chain_call, &st_one, NULL, NULL, 2000, on_chain);
	run(20000, true);
	CHECK(chain_left == 0, "%d left", chain_left);
	store_apg_destroy(chain_pool);
}

static void test_metrics(void)
{
	char *text = NULL;
	obs_registry_render(reg, &text);
	const char *want[] = {"propertyd_db_query_duration_seconds_bucket{statement=\"t_double\"",
	                      "propertyd_db_query_duration_seconds_bucket{statement=\"t_sleepy\"",
	                      "propertyd_db_reconnects_total",
	                      "propertyd_db_pipeline_depth 0",
	                      "propertyd_db_queue_depth 0",
	                      "propertyd_db_queue_rejected_total",
	                      "propertyd_db_cancels_total"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		CHECK(strstr(text, want[i]) != NULL, "metric %s missing", want[i]);
	free(text);
}

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"burst", test_burst},
	    {"error_in_burst", test_error_in_burst},
	    {"deadline_in_flight", test_deadline_in_flight},
	    {"deadline_queued", test_deadline_queued},
	    {"heavy_lane", test_heavy_lane},
	    {"shed", test_shed},
	    {"killed_backend", test_killed_backend},
	    {"no_prepare", test_no_prepare},
	    {"queue_bound", test_queue_bound},
	    {"unreachable", test_unreachable},
	    {"destroy_outstanding", test_destroy_outstanding},
	    {"large_params", test_large_params},
	    {"connect_timeout", test_connect_timeout},
	    {"chain", test_chain},
	    {"metrics", test_metrics},
	};
	conninfo = tu_schema_conninfo(SCHEMA);
	reg = obs_registry_create();
	base = event_base_new();
	int rc = tu_run(cases, sizeof cases / sizeof cases[0], argc, argv);
	event_base_free(base);
	obs_registry_destroy(reg);
	tu_drop_schema(SCHEMA);
	free(conninfo);
	return rc;
}
