// store migrate: applies the schema migrations compiled into the binary.
//
// Migrations are src/store/migrations/NNNN_name.sql, embedded at build time
// (embed_migrations.cmake). store_migrate_run() takes a session advisory lock
// (STORE_LOCK_MIGRATIONS) on its own direct connection, so instances starting
// together apply each migration exactly once: the others wait, then find it
// recorded in schema_migrations. Each migration runs in its own transaction
// with its schema_migrations row. Objects are created in the first schema of
// the connection's search_path.
//
// Threads: blocking; call at start-up (any thread). Not through pgbouncer in
// transaction mode (a session lock): use a direct conninfo.
#ifndef STORE_MIGRATE_H
#define STORE_MIGRATE_H

#include <stddef.h>

typedef struct store_migrate_entry {
	int version;      // NNNN
	const char *name; // the file name's rest, without .sql
	const char *sql;  // the file's text
} store_migrate_entry;

// The embedded migrations in version order (generated).
extern const store_migrate_entry store_migrate_entries[];
extern const size_t store_migrate_entries_n;

// How long store_migrate_run waits for the connection, the lock and each migration.
#define MIGRATE_TIMEOUT_MS 60000

// Applies the pending migrations. Returns how many it applied (0 when up to
// date), or -1 with a reason in err.
int store_migrate_run(const char *conninfo, char *err, size_t errcap);

#endif
