// store_pgpool: the pool's deadlines, exhaustion, failures and recovery.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obs/metrics.h"
#include "store/pgpool.h"
#include "testutil.h"

#define SCHEMA "test_pgpool"

static char *conninfo;
static obs_registry *reg;

static pgpool_stmt st_one = {.name = "t_one", .sql = "SELECT 1", .nparams = 0};
static pgpool_stmt st_sleep = {
    .name = "t_sleep", .sql = "SELECT pg_sleep($1::float8)", .nparams = 1};
static pgpool_stmt st_timeout = {
    .name = "t_timeout", .sql = "SELECT current_setting('statement_timeout')", .nparams = 0};
static pgpool_stmt st_div0 = {.name = "t_div0", .sql = "SELECT 1 / $1::int", .nparams = 1};
static pgpool_stmt st_bad = {.name = "t_bad", .sql = "SELEKT 1", .nparams = 0};
static pgpool_stmt st_pid = {.name = "t_pid", .sql = "SELECT pg_backend_pid()", .nparams = 0};
static pgpool_stmt st_dealloc = {.name = "t_dealloc", .sql = "DEALLOCATE ALL", .nparams = 0};

static pgpool *make_pool(const char *ci, unsigned size, int wait_ms, bool no_prepare)
{
	pgpool_config cfg = {.conninfo = ci,
	                     .size = size,
	                     .wait_ms = wait_ms,
	                     .slow_query_ms = 500,
	                     .no_prepare = no_prepare,
	                     .metrics = reg};
	pgpool *p = NULL;
	char err[256];
	if (pgpool_create(&p, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "pgpool_create: %s\n", err);
		exit(2);
	}
	pgpool_stmt *all[] = {&st_one, &st_sleep, &st_timeout, &st_div0,
	                      &st_bad, &st_pid,   &st_dealloc};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		pgpool_register(p, all[i]);
	return p;
}

static nrpc_code q(pgpool *p, pgpool_stmt *s, const char *arg, int timeout_ms, char *err,
                   size_t cap)
{
	const char *v[1] = {arg};
	PGresult *r = NULL;
	nrpc_code rc =
	    pgpool_query(p, s, v, tu_now_us() + (int64_t)timeout_ms * 1000, &r, err, cap);
	PQclear(r);
	return rc;
}

static void test_roundtrip(void)
{
	for (int np = 0; np < 2; np++) {
		pgpool *p = make_pool(conninfo, 2, 0, np == 1);
		char err[256];
		for (int i = 0; i < 5; i++) {
			nrpc_code rc = q(p, &st_one, NULL, 2000, err, sizeof err);
			CHECK(rc == NRPC_OK, "no_prepare=%d run %d: %d %s", np, i, rc, err);
		}
		CHECK(pgpool_ping(p, 1000, err, sizeof err) == NRPC_OK, "ping: %s", err);
		CHECK(pgpool_healthy(p), "healthy");
		pgpool_destroy(p);
	}
}

// The pipelined set_config really bounds the statement that follows it.
static void test_timeout_is_set(void)
{
	pgpool *p = make_pool(conninfo, 1, 0, false);
	PGresult *r = NULL;
	char err[256];
	nrpc_code rc =
	    pgpool_query(p, &st_timeout, NULL, tu_now_us() + 3000000, &r, err, sizeof err);
	CHECK(rc == NRPC_OK, "%d %s", rc, err);
	if (r) {
		long ms = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		// "2999ms" or "3s": set from the deadline, never above it.
		CHECK(ms > 0 && ms <= 3000, "statement_timeout %s", PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	pgpool_destroy(p);
}

static void test_deadline_during_query(void)
{
	pgpool *p = make_pool(conninfo, 1, 0, false);
	char err[256];
	nrpc_code rc = q(p, &st_sleep, "5", 300, err, sizeof err);
	CHECK(rc == NRPC_DEADLINE_EXCEEDED, "pg_sleep past deadline: %d %s", rc, err);
	// The connection is usable afterwards, with no timeout left over.
	rc = q(p, &st_sleep, "0.4", 2000, err, sizeof err);
	CHECK(rc == NRPC_OK, "next query: %d %s", rc, err);
	pgpool_destroy(p);
}

static void test_deadline_passed(void)
{
	pgpool *p = make_pool(conninfo, 1, 0, false);
	char err[256];
	PGresult *r = NULL;
	nrpc_code rc = pgpool_query(p, &st_one, NULL, tu_now_us() - 1, &r, err, sizeof err);
	CHECK(rc == NRPC_DEADLINE_EXCEEDED, "%d %s", rc, err);
	CHECK(r == NULL, "no result");
	pgpool_destroy(p);
}

static void test_exhausted(void)
{
	pgpool *p = make_pool(conninfo, 1, 200, false);
	pgpool_conn *c = NULL;
	char err[256];
	nrpc_code rc = pgpool_acquire(p, tu_now_us() + 5000000, &c, err, sizeof err);
	CHECK(rc == NRPC_OK, "acquire: %s", err);
	// Bounded by the request's deadline ...
	rc = q(p, &st_one, NULL, 100, err, sizeof err);
	CHECK(rc == NRPC_UNAVAILABLE, "short deadline: %d", rc);
	CHECK(strcmp(err, "database pool exhausted") == 0, "message: %s", err);
	// ... and by wait_ms when the deadline is far.
	rc = q(p, &st_one, NULL, 10000, err, sizeof err);
	CHECK(rc == NRPC_UNAVAILABLE, "long deadline: %d", rc);
	pgpool_release(p, c);
	rc = q(p, &st_one, NULL, 1000, err, sizeof err);
	CHECK(rc == NRPC_OK, "after release: %d %s", rc, err);
	pgpool_destroy(p);
}

typedef struct holder {
	pgpool *p;
	pgpool_conn *c;
} holder;

static void *release_later(void *arg)
{
	holder *h = arg;
	usleep(150 * 1000);
	pgpool_release(h->p, h->c);
	return NULL;
}

static void test_waiter_gets_released_conn(void)
{
	pgpool *p = make_pool(conninfo, 1, 3000, false);
	holder h = {p, NULL};
	char err[256];
	CHECK(pgpool_acquire(p, tu_now_us() + 5000000, &h.c, err, sizeof err) == NRPC_OK, "%s",
	      err);
	pthread_t t;
	pthread_create(&t, NULL, release_later, &h);
	nrpc_code rc = q(p, &st_one, NULL, 5000, err, sizeof err);
	CHECK(rc == NRPC_OK, "waiter: %d %s", rc, err);
	pthread_join(t, NULL);
	pgpool_destroy(p);
}

static void test_errors_are_generic(void)
{
	pgpool *p = make_pool(conninfo, 1, 0, false);
	char err[256];
	nrpc_code rc = q(p, &st_div0, "0", 2000, err, sizeof err);
	CHECK(rc == NRPC_INVALID_ARGUMENT, "division by zero: %d %s", rc, err);
	rc = q(p, &st_bad, NULL, 2000, err, sizeof err);
	CHECK(rc == NRPC_INTERNAL, "syntax error: %d", rc);
	CHECK(strstr(err, "SELEKT") == NULL && strstr(err, "syntax") == NULL, "leaks: %s", err);
	// The connection survives statement errors.
	rc = q(p, &st_div0, "1", 2000, err, sizeof err);
	CHECK(rc == NRPC_OK, "after errors: %d %s", rc, err);
	pgpool_destroy(p);
}

// Prepared statements dropped behind the pool's back (DISCARD / DEALLOCATE):
// one failure, then the connection is replaced.
static void test_stale_prepared(void)
{
	pgpool *p = make_pool(conninfo, 1, 0, false);
	char err[256];
	CHECK(q(p, &st_one, NULL, 2000, err, sizeof err) == NRPC_OK, "prepare: %s", err);
	CHECK(q(p, &st_dealloc, NULL, 2000, err, sizeof err) == NRPC_OK, "deallocate: %s", err);
	nrpc_code rc = q(p, &st_one, NULL, 2000, err, sizeof err);
	CHECK(rc == NRPC_INTERNAL, "stale: %d %s", rc, err);
	rc = q(p, &st_one, NULL, 2000, err, sizeof err);
	CHECK(rc == NRPC_OK, "fresh connection: %d %s", rc, err);
	pgpool_destroy(p);
}

static int backend_pid(pgpool *p)
{
	pgpool_conn *c = NULL;
	char err[256];
	if (pgpool_acquire(p, tu_now_us() + 2000000, &c, err, sizeof err) != NRPC_OK)
		return 0;
	int pid = pgpool_conn_pid(c);
	pgpool_release(p, c);
	return pid;
}

static void test_killed_backend(void)
{
	pgpool *p = make_pool(conninfo, 1, 0, false);
	char err[256];
	CHECK(q(p, &st_one, NULL, 2000, err, sizeof err) == NRPC_OK, "warm up: %s", err);
	int pid = backend_pid(p);
	CHECK(pid > 0, "pid");
	PGconn *admin = tu_connect(conninfo);
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
	PQclear(tu_exec(admin, sql));
	snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
	for (int i = 0; i < 100 && tu_scalar(admin, sql) > 0; i++)
		usleep(20 * 1000);
	PQfinish(admin);
	nrpc_code rc = q(p, &st_one, NULL, 2000, err, sizeof err);
	CHECK(rc == NRPC_OK || rc == NRPC_UNAVAILABLE, "first after kill: %d %s", rc, err);
	rc = q(p, &st_one, NULL, 2000, err, sizeof err);
	CHECK(rc == NRPC_OK, "second after kill: %d %s", rc, err);
	CHECK(backend_pid(p) != pid, "a new backend");
	pgpool_destroy(p);
}

static void test_unreachable(void)
{
	pgpool *p = make_pool("host=127.0.0.1 port=1 user=postgres dbname=none", 1, 0, false);
	char err[256];
	nrpc_code rc = q(p, &st_one, NULL, 1000, err, sizeof err);
	CHECK(rc == NRPC_UNAVAILABLE, "%d %s", rc, err);
	CHECK(strcmp(err, "database unavailable") == 0, "message: %s", err);
	CHECK(!pgpool_healthy(p), "unhealthy");
	CHECK(pgpool_ping(p, 300, err, sizeof err) == NRPC_UNAVAILABLE, "ping");
	pgpool_destroy(p);
}

static void test_metrics(void)
{
	char *text = NULL;
	obs_registry_render(reg, &text);
	const char *want[] = {"propertyd_db_pool_size",
	                      "propertyd_db_pool_in_use",
	                      "propertyd_db_pool_idle",
	                      "propertyd_db_pool_waits_total",
	                      "propertyd_db_pool_timeouts_total",
	                      "propertyd_db_pool_wait_seconds",
	                      "propertyd_db_query_duration_seconds_bucket{statement=\"t_one\""};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		CHECK(strstr(text, want[i]) != NULL, "metric %s missing", want[i]);
	free(text);
}

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"roundtrip", test_roundtrip},
	    {"timeout_is_set", test_timeout_is_set},
	    {"deadline_during_query", test_deadline_during_query},
	    {"deadline_passed", test_deadline_passed},
	    {"exhausted", test_exhausted},
	    {"waiter_gets_released_conn", test_waiter_gets_released_conn},
	    {"errors_are_generic", test_errors_are_generic},
	    {"stale_prepared", test_stale_prepared},
	    {"killed_backend", test_killed_backend},
	    {"unreachable", test_unreachable},
	    {"metrics", test_metrics},
	};
	conninfo = tu_schema_conninfo(SCHEMA);
	reg = obs_registry_create();
	int rc = tu_run(cases, sizeof cases / sizeof cases[0], argc, argv);
	obs_registry_destroy(reg);
	tu_drop_schema(SCHEMA);
	free(conninfo);
	return rc;
}
