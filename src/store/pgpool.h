// store pgpool: a bounded pool of PostgreSQL connections and the one way the
// store runs a statement (bounded by the caller's deadline).
//
// Connections are opened lazily, on the acquire that first needs one, and
// reopened after any connection failure. A caller that finds no free
// connection waits at most min(deadline, now + wait_ms) and then gets
// UNAVAILABLE "database pool exhausted": the pool never queues without bound
// (at most PGPOOL_MAX_WAITERS callers wait at once).
//
// Statements are registered once (pgpool_register) and prepared on each
// connection the first time that connection runs them, unless no_prepare is
// set (pgbouncer in transaction mode): then each run sends the SQL text with
// PQexecParams semantics. Every run is one network round trip, a libpq
// pipeline of
//     set_config('statement_timeout', <ms left>, true); <statement>; Sync
// The two statements share the implicit transaction that ends at Sync, so
// the timeout is local to it (safe behind pgbouncer, never leaks to the next
// user of the connection) and a single data-modifying statement commits
// atomically at Sync. A statement still running at the deadline is cancelled
// by the server (SQLSTATE 57014 -> DEADLINE_EXCEEDED); if the server does not
// answer by deadline + PGPOOL_GUARD_MS the connection is dropped.
// Measured on the dev machine (loopback, one connection, 5,000 primary-key
// reads, noisy): plain prepared statement 50-185 us, this pipeline 55-185 us,
// a pipelined BEGIN / SET LOCAL / statement / COMMIT 85-210 us, set_config
// and statement as two round trips 220-340 us. A session-level SET only
// when the value changes would be as cheap but is wrong behind pgbouncer and
// changes on nearly every call (deadlines differ).
//
// Errors: nrpc_code, with a message for the client in err (never SQL text or
// parameter values). A passed deadline is DEADLINE_EXCEEDED without touching
// the database; a lost or unreachable server is UNAVAILABLE.
//
// Threads: every function is thread-safe; acquire, exec, query and ping
// block (bounded by the deadline). A pgpool_conn is used by one thread
// between acquire and release.
//
// Metrics (registry given at create): propertyd_db_pool_size, _in_use, _idle
// (gauges), propertyd_db_pool_waits_total, propertyd_db_pool_timeouts_total,
// propertyd_db_reconnects_total (counters), propertyd_db_pool_wait_seconds and
// propertyd_db_query_duration_seconds{statement} (histograms). A statement
// slower than slow_query_ms is logged at WARN with its name and duration,
// never its parameters.
#ifndef STORE_PGPOOL_H
#define STORE_PGPOOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/status.h"
#include "obs/metrics.h"

// Callers that may wait for a connection at once. Waiters are RPC workers, so
// their number is bounded by the worker count already; this is the backstop
// that keeps a misconfiguration from queueing without limit.
#define PGPOOL_MAX_WAITERS 1024
// Registered statements per pool: the repository's fixed statements plus one
// per search filter combination (256), with room to spare.
#define PGPOOL_MAX_STMTS 512
// The longest statement_timeout set, whatever the deadline: no query of this
// service legitimately runs longer, and PostgreSQL takes an int of ms.
#define PGPOOL_STATEMENT_MAX_MS 60000
// How long past the deadline we still wait for the server's own cancellation
// before dropping the connection (a server that stopped answering).
#define PGPOOL_GUARD_MS        200
#define PGPOOL_DEFAULT_WAIT_MS 1000
#define PGPOOL_DEFAULT_SLOW_MS 100

typedef struct pgpool pgpool;
typedef struct pgpool_conn pgpool_conn;

typedef struct pgpool_config {
	const char *conninfo;  // libpq conninfo or URI; copied
	unsigned size;         // connections, >= 1 (DB_POOL_SIZE)
	int wait_ms;           // longest wait for a free connection; 0: 1000 (DB_POOL_WAIT_MS)
	int slow_query_ms;     // log statements slower than this; 0: 100, < 0: never
	bool no_prepare;       // DB_NO_PREPARE: no named prepared statements
	obs_registry *metrics; // borrowed, must outlive the pool; not NULL
} pgpool_config;

// A statement. The caller owns it and keeps it (and name, sql) alive and
// unchanged for the pool's life; pgpool_register fills the last two fields.
typedef struct pgpool_stmt {
	const char *name; // [a-z0-9_]: the prepared statement's name and metric label
	const char *sql;  // parameters $1..$nparams, sent as text
	int nparams;
	unsigned slot;           // set by pgpool_register
	obs_histogram *duration; // set by pgpool_register
} pgpool_stmt;

// 0, or -1 with a reason in err. Connects nothing yet.
int pgpool_create(pgpool **out, const pgpool_config *cfg, char *err, size_t errcap);
// All connections must have been released.
void pgpool_destroy(pgpool *p);

// Makes s runnable on this pool. 0, or -1 when PGPOOL_MAX_STMTS are taken.
int pgpool_register(pgpool *p, pgpool_stmt *s);

// Takes a connection (opening it if needed). On OK *out must be released.
nrpc_code pgpool_acquire(pgpool *p, int64_t deadline_us, pgpool_conn **out, char *err,
                         size_t errcap);
// Runs s with `values` (s->nparams text values, NULL = SQL NULL). On OK *res
// is the statement's result (PGRES_TUPLES_OK or PGRES_COMMAND_OK), which the
// caller PQclear()s; on error *res is NULL.
nrpc_code pgpool_exec(pgpool *p, pgpool_conn *c, const pgpool_stmt *s, const char *const *values,
                      int64_t deadline_us, PGresult **res, char *err, size_t errcap);
// Returns the connection; a broken one, or one left inside a transaction, is
// closed (and reopened by a later acquire).
void pgpool_release(pgpool *p, pgpool_conn *c);

// acquire + exec + release: what the repository uses for each call.
nrpc_code pgpool_query(pgpool *p, const pgpool_stmt *s, const char *const *values,
                       int64_t deadline_us, PGresult **res, char *err, size_t errcap);

// Readiness: runs SELECT 1 on a free connection within timeout_ms. When every
// connection is busy it does not wait: busy connections are evidence enough,
// and it answers from pgpool_healthy().
nrpc_code pgpool_ping(pgpool *p, int timeout_ms, char *err, size_t errcap);
// false after a connection failure or failed connect, until the next success.
bool pgpool_healthy(pgpool *p);

// The server process id of an acquired connection (for tests), or 0.
int pgpool_conn_pid(const pgpool_conn *c);

#endif
