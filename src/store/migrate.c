#include "store/migrate.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "store/pgconn.h"
#include "store/schema.h"

// Runs sql (no parameters); true when it succeeded. On failure err says what.
static bool exec_ok(PGconn *c, const char *sql, const char *what, char *err, size_t errcap)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok) {
		const char *m = PQresultErrorMessage(r);
		snprintf(err, errcap, "%s: %.*s", what, (int)strcspn(m, "\n"), m);
	}
	PQclear(r);
	return ok;
}

static bool is_applied(PGconn *c, int version, bool *applied, char *err, size_t errcap)
{
	char v[16];
	snprintf(v, sizeof v, "%d", version);
	const char *vals[1] = {v};
	PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1,
	                           NULL, vals, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (ok)
		*applied = PQntuples(r) > 0;
	else
		snprintf(err, errcap, "reading schema_migrations failed");
	PQclear(r);
	return ok;
}

// One migration and its record, in one transaction.
static bool apply(PGconn *c, const store_migrate_entry *m, char *err, size_t errcap)
{
	char what[128];
	snprintf(what, sizeof what, "migration %04d_%s", m->version, m->name);
	if (!exec_ok(c, "BEGIN", what, err, errcap))
		return false;
	char v[16];
	snprintf(v, sizeof v, "%d", m->version);
	const char *vals[2] = {v, m->name};
	bool ok = exec_ok(c, m->sql, what, err, errcap);
	if (ok) {
		PGresult *r =
		    PQexecParams(c,
		                 "INSERT INTO schema_migrations (version, name, applied_at) "
		                 "VALUES ($1::int, $2::text, now())",
		                 2, NULL, vals, NULL, NULL, 0);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			snprintf(err, errcap, "%s: recording it failed", what);
		PQclear(r);
	}
	if (ok)
		return exec_ok(c, "COMMIT", what, err, errcap);
	PGresult *r = PQexec(c, "ROLLBACK");
	PQclear(r);
	return false;
}

int store_migrate_run(const char *conninfo, char *err, size_t errcap)
{
	int64_t deadline = store_pgconn_now_us() + (int64_t)MIGRATE_TIMEOUT_MS * 1000;
	PGconn *c = store_pgconn_open(conninfo, deadline, err, errcap);
	if (c == NULL)
		return -1;
	int applied = -1;
	// Every statement of this session, the lock wait included, is bounded.
	if (!exec_ok(c, "SET statement_timeout = " STORE_STR(MIGRATE_TIMEOUT_MS), "set timeout",
	             err, errcap) ||
	    !exec_ok(c, "SET client_min_messages = warning", "set messages", err, errcap) ||
	    !exec_ok(c, "SELECT pg_advisory_lock(" STORE_LOCK_ARGS(STORE_LOCK_MIGRATIONS) ")",
	             "migration lock", err, errcap))
		goto out;
	if (!exec_ok(c,
	             "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, "
	             "name text NOT NULL, applied_at timestamptz NOT NULL)",
	             "schema_migrations", err, errcap))
		goto unlock;
	int n = 0;
	for (size_t i = 0; i < store_migrate_entries_n; i++) {
		const store_migrate_entry *m = &store_migrate_entries[i];
		bool done = false;
		if (!is_applied(c, m->version, &done, err, errcap))
			goto unlock;
		if (done)
			continue;
		if (!apply(c, m, err, errcap))
			goto unlock;
		OBS_LOG(OBS_INFO, "migration applied", OBS_I("version", m->version),
		        OBS_S("name", m->name));
		n++;
	}
	applied = n;
unlock:;
	char ignored[64];
	exec_ok(c, "SELECT pg_advisory_unlock(" STORE_LOCK_ARGS(STORE_LOCK_MIGRATIONS) ")",
	        "unlock", ignored, sizeof ignored);
out:
	PQfinish(c);
	return applied;
}
