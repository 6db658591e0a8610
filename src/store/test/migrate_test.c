// store_migrate: the embedded migrations apply once, also when four
// instances start together, and honour the connection's search_path.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrate.h"
#include "testutil.h"

#define SCHEMA  "test_migrate"
#define THREADS 4

static char *conninfo;

typedef struct runner {
	pthread_t t;
	int applied;
	char err[256];
} runner;

static void *run_migrate(void *arg)
{
	runner *r = arg;
	r->applied = store_migrate_run(conninfo, r->err, sizeof r->err);
	return NULL;
}

static void test_embedded(void)
{
	CHECK(store_migrate_entries_n >= 1, "no migrations embedded");
	for (size_t i = 0; i < store_migrate_entries_n; i++) {
		CHECK(store_migrate_entries[i].sql != NULL &&
		          strlen(store_migrate_entries[i].sql) > 0,
		      "empty migration %zu", i);
		if (i > 0)
			CHECK(store_migrate_entries[i].version >
			          store_migrate_entries[i - 1].version,
			      "versions out of order at %zu", i);
	}
	CHECK(store_migrate_entries[0].version == 1 &&
	          strcmp(store_migrate_entries[0].name, "init") == 0,
	      "first is 0001_init: %d %s", store_migrate_entries[0].version,
	      store_migrate_entries[0].name);
}

static void test_concurrent(void)
{
	runner r[THREADS];
	memset(r, 0, sizeof r);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&r[i].t, NULL, run_migrate, &r[i]);
	int total = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(r[i].t, NULL);
		CHECK(r[i].applied >= 0, "runner %d failed: %s", i, r[i].err);
		total += r[i].applied;
	}
	CHECK(total == (int)store_migrate_entries_n, "applied %d times, want %zu", total,
	      store_migrate_entries_n);
}

static void test_again_is_noop(void)
{
	char err[256];
	int n = store_migrate_run(conninfo, err, sizeof err);
	CHECK(n == 0, "second run applied %d (%s)", n, err);
	PGconn *c = tu_connect(conninfo);
	CHECK(tu_scalar(c, "SELECT count(*) FROM schema_migrations") ==
	          (int64_t)store_migrate_entries_n,
	      "schema_migrations rows");
	// Everything landed in the test's schema, not in public.
	CHECK(tu_scalar(c, "SELECT count(*) FROM pg_tables WHERE schemaname = '" SCHEMA
	                   "' AND tablename IN ('properties', 'event_log', 'relay_state', "
	                   "'idempotency_keys', 'schema_migrations')") == 5,
	      "tables in " SCHEMA);
	CHECK(tu_scalar(c, "SELECT last_seq FROM relay_state WHERE id = 1") == 0,
	      "relay_state row");
	PQfinish(c);
}

static void test_unreachable(void)
{
	char err[256] = "";
	int n = store_migrate_run("host=127.0.0.1 port=1 user=postgres", err, sizeof err);
	CHECK(n == -1, "applied %d", n);
	CHECK(strstr(err, "unavailable") != NULL, "err: %s", err);
}

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"embedded", test_embedded},
	    {"concurrent", test_concurrent},
	    {"again_is_noop", test_again_is_noop},
	    {"unreachable", test_unreachable},
	};
	conninfo = tu_schema_conninfo(SCHEMA);
	int rc = tu_run(cases, sizeof cases / sizeof cases[0], argc, argv);
	tu_drop_schema(SCHEMA);
	free(conninfo);
	return rc;
}
