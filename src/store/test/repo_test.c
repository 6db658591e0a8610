// store_repo: the repository port on PostgreSQL, call by call.
//
// The cases, by theme: repo_write_test.c (round trip, checks, masks, strings,
// bad values), repo_query_test.c (list, search), repo_idem_test.c
// (idempotency), repo_events_test.c (events, deadlines, outages); their
// set-up and fixtures: repo_common.h. This file: the globals, the case table
// and main.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo_common.h"
#include "store/migrate.h"

// STORE_TEST_NO_PREPARE=1 runs every case without named prepared statements
// (DB_NO_PREPARE, for pgbouncer in transaction mode), in a schema of its own.
static const char *schema = "test_repo";

char *conninfo;
obs_registry *reg;
base_ioloop *sync_loop;
static store_apg *pool;
static store_repo_pg *repo;
prop_repo port;
PGconn *admin;

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"crud_roundtrip", test_crud_roundtrip},   {"checks", test_checks},
	    {"partial_mask", test_partial_mask},       {"verbatim_strings", test_verbatim_strings},
	    {"bad_values", test_bad_values},           {"list_walk", test_list_walk},
	    {"idempotency", test_idempotency},         {"idempotency_race", test_idempotency_race},
	    {"read_events", test_read_events},         {"search", test_search},
	    {"deadline_passed", test_deadline_passed}, {"database_down", test_database_down},
	};
	const char *np = getenv("STORE_TEST_NO_PREPARE");
	bool no_prepare = np != NULL && strcmp(np, "1") == 0;
	if (no_prepare)
		schema = "test_repo_np";
	conninfo = tu_schema_conninfo(schema);
	char err[256];
	if (store_migrate_run(conninfo, err, sizeof err) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return 2;
	}
	reg = obs_registry_create();
	if (base_ioloop_create(&sync_loop, "repo", err, sizeof err) != 0 ||
	    base_ioloop_start(sync_loop, err, sizeof err) != 0 ||
	    open_repo(conninfo, no_prepare, &pool, &repo, err, sizeof err) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return 2;
	}
	port = store_repo_pg_port(repo);
	admin = tu_connect(conninfo);
	int rc = tu_run(cases, sizeof cases / sizeof cases[0], argc, argv);
	PQfinish(admin);
	close_repo(pool, repo);
	base_ioloop_destroy(sync_loop);
	obs_registry_destroy(reg);
	tu_drop_schema(schema);
	free(conninfo);
	return rc;
}
