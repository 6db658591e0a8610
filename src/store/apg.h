// store apg: asynchronous PostgreSQL on a libevent loop. A few connections in
// libpq's non-blocking pipeline mode carry many statements each, so a request
// waiting for the database holds a small struct, not a thread.
//
// What it promises:
//   - No call blocks on a socket. Connecting (PQconnectStart/PQconnectPoll),
//     writing (PQflush) and reading (PQconsumeInput, PQgetResult only when
//     PQisBusy says a result is complete) are driven by events of the base.
//     libpq would resolve a host NAME with a blocking getaddrinfo when a
//     connect starts: with a resolver (store_apg_config.resolver) the name is
//     resolved on the resolver's thread and the connect waits, off the loop,
//     until the address is known. A cancel request opens a separate blocking
//     connection, which is why it runs on a short helper thread.
//   - Each query is its own sync group: [Parse,] Bind/Execute, Sync. A failing
//     query aborts nothing but itself, and a single data-modifying statement
//     commits at its Sync. Up to max_pipeline groups are in flight on one
//     connection; a new query goes to the ready connection with the fewest in
//     flight, or waits in apg's queue (at most max_queued wait; beyond that a
//     submit completes with UNAVAILABLE "database busy"). Heavy statements
//     (store_apg_stmt.heavy: scans) have a lane of their own: at most one in flight
//     per connection, never on the first connection, and a queue of their
//     own, so short queries neither wait behind them in a pipeline nor in the
//     queue; each queue is FIFO, and the older head that can go goes first.
//   - Every submitted query completes exactly once, through its done callback,
//     on the loop thread, and never from inside store_apg_submit (completions are
//     handed to the loop with event_active and run on its next pass).
//
// Statements: registered once with store_apg_register, then prepared lazily on each
// connection: the first query of a statement on a connection carries the
// Parse in front of its Execute (same sync group). After a reconnect, or when
// the server reports the statement missing (SQLSTATE 26000, someone ran
// DEALLOCATE; the queries already sent behind it fail once with INTERNAL),
// they are prepared again. With no_prepare (pgbouncer in
// transaction mode) every query sends its SQL text with the unnamed statement.
//
// Deadlines (query->deadline_us, CLOCK_MONOTONIC microseconds, see
// store_pgconn_now_us):
//   - already passed at submit, or passed while still queued: completes with
//     DEADLINE_EXCEEDED at the deadline and is never sent;
//   - nearer at submit than the recent wait in the queue (a moving average
//     per lane of how long queries waited there since it last drained),
//     while others wait there:
//     completes with DEADLINE_EXCEEDED at once and is never queued (shed,
//     counted in propertyd_db_queue_shed_total);
//   - passed while in flight: completes with DEADLINE_EXCEEDED at the deadline
//     (a timer, not when the server answers); its result is read and dropped
//     when it arrives, since a pipeline answers in order. If it is still the
//     head of its connection's pipeline APG_CANCEL_GUARD_MS after its
//     deadline, apg sends a cancel request (PQcancel, on a detached helper
//     thread). A cancel stops whatever the server is running when it
//     arrives: if the overdue query finished in the meantime, it can hit a
//     query behind it. Such a query (failed with 57014 before its own
//     deadline, and in flight when a cancel was sent on its connection or
//     sent less than APG_CANCEL_EXPOSURE_MS after it) completes with
//     UNAVAILABLE "database query cancelled, retry": it did not commit, so a
//     retry is safe. The per-connection statement_timeout bounds the
//     server's work in any case.
//
// Connection failures (socket error, server gone, backend terminated, a
// FATAL/08xxx/57P0x error): every query in flight on that connection
// completes with UNAVAILABLE "database unavailable"; queued queries wait for
// another or the reconnected connection (until their deadline) -- unless the
// server is unreachable: while the latest connect attempt failed and no
// connection is up, queued and new queries complete with UNAVAILABLE at once
// (a caller learns of an outage now, not at its deadline). Reconnects
// run in the background: the first immediately, then after a back-off of
// APG_BACKOFF_MIN_MS doubling to APG_BACKOFF_MAX_MS, each connect bounded by
// connect_timeout_ms. The back-off is reset by the first successful result on
// a new connection. Right after connecting, apg pipelines
// set_config('statement_timeout', ..., false) in front of everything else; it
// stays for the session (behind pgbouncer in transaction mode it may reach
// other clients of the server connection: set it in pgbouncer then, and pass
// statement_timeout_ms < 0).
//
// Results and errors: on NRPC_OK, `res` is the statement's result
// (PGRES_TUPLES_OK or PGRES_COMMAND_OK), owned by the callback (PQclear it)
// and `err` is NULL. Otherwise `res` is NULL and `err` is a short message for
// clients (never SQL text nor parameter values), valid during the callback;
// the server's error is classified and logged by store_pgerr_from_result (23505 ->
// ALREADY_EXISTS, 22xxx -> INVALID_ARGUMENT, 57014 -> DEADLINE_EXCEEDED, ...).
//
// Ownership: store_apg_config's strings are copied; the base and the registry are
// borrowed and must outlive the pool. store_apg_stmt and store_apg_query belong to the
// caller (see each). Threads: every function, and every callback, runs on
// the thread that runs cfg->base; apg takes no lock. store_apg_destroy may also run
// after the loop stopped (the base must still exist).
//
// Metrics (registry given at create; the names the dashboards already use
// where they mean the same; several pools may share one registry, their
// gauges are added to, never set): propertyd_db_query_duration_seconds{statement="<label>"}
// (histogram: from sending a query to its last result), propertyd_db_reconnects_total
// (connections opened), propertyd_db_pool_size / _in_use / _idle (gauges:
// connections, those with at least one query in flight, the others),
// propertyd_db_pool_waits_total and propertyd_db_pool_wait_seconds (queries
// that found every pipeline full and waited in apg's queue, and for how
// long), propertyd_db_pipeline_depth (gauge: queries in flight,
// overdue ones included), propertyd_db_queue_depth (gauge: queries waiting in
// apg's queue), propertyd_db_queue_rejected_total ("database busy"),
// propertyd_db_cancels_total (cancel requests sent). A statement whose
// result took longer than slow_query_ms is logged at WARN with its label and
// duration_us, never its parameters.
#ifndef STORE_APG_H
#define STORE_APG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/status.h"
#include "obs/metrics.h"

struct event_base;

// Registered statements per pool (each connection keeps one bit per slot).
#define APG_MAX_STMTS 512
// How long past its deadline an overdue query may stay at the head of a
// pipeline before apg asks the server to cancel it.
#define APG_CANCEL_GUARD_MS 200
// A cancel request travels on a connection of its own and may arrive late:
// queries sent up to this long after one left count as exposed to it.
#define APG_CANCEL_EXPOSURE_MS 1000
// Reconnect back-off after the first (immediate) retry.
#define APG_BACKOFF_MIN_MS 50
#define APG_BACKOFF_MAX_MS 2000
// Defaults for the zero values of store_apg_config.
#define APG_DEFAULT_MAX_PIPELINE       32
#define APG_DEFAULT_MAX_QUEUED         4096
#define APG_DEFAULT_STATEMENT_TIMEOUT  60000
#define APG_DEFAULT_CONNECT_TIMEOUT_MS 2000
#define APG_DEFAULT_SLOW_MS            100
// The longest client message passed as `err` (including the NUL).
#define APG_ERR_MAX 48

typedef struct store_apg store_apg;
typedef struct store_apg_conn store_apg_conn;

// A statement. The caller owns it and keeps it (and its strings) alive and
// unchanged for the pool's life. store_apg_register fills the private fields; a
// statement belongs to one pool at a time (registering it with a second pool
// can make it unknown to the first, whose queries of it then fail with
// INTERNAL).
typedef struct store_apg_stmt {
	const char *name;  // [a-z0-9_]{1,63}: the prepared statement's name
	const char *label; // metric and log label (a statement family); NULL = name
	const char *sql;   // parameters $1..$nparams, sent as text
	int nparams;
	// A statement that may run long (a scan: search, event reads). Heavy
	// queries never use a pool's first connection (when it has two or more)
	// and go one at a time per connection; the others prefer a connection
	// with no heavy query in flight. So a short query does not wait in a
	// pipeline behind a scan, even when every other connection runs one.
	bool heavy;
	// private, set by store_apg_register
	unsigned slot;
	obs_histogram *duration;
} store_apg_stmt;

typedef struct store_apg_config {
	const char *conninfo;     // libpq conninfo or URI; copied
	struct event_base *base;  // borrowed; its thread is apg's only thread
	unsigned connections;     // >= 1
	unsigned max_pipeline;    // queries in flight per connection; 0: 32
	unsigned max_queued;      // queries waiting for a connection; 0: 4096
	int statement_timeout_ms; // set per session after connect; 0: 60000, < 0: not set
	int connect_timeout_ms;   // bound on one connect attempt; <= 0: 2000
	int slow_query_ms;        // WARN above this; 0: 100, < 0: never
	bool no_prepare;          // no named prepared statements (pgbouncer)
	obs_registry *metrics;    // borrowed, must outlive the pool; not NULL
	// Resolves the conninfo's host NAME off the loop (base/resolve.h); each
	// connect then goes to its address (hostaddr=; host= still names it for
	// TLS and authentication). Borrowed; NULL: libpq resolves, blocking.
	struct base_resolver *resolver;
} store_apg_config;

typedef struct store_apg_query store_apg_query;

// Runs exactly once per submitted query, on the loop thread. On NRPC_OK the
// callback owns res; otherwise res is NULL and err a client message. The
// query (and its values) may be freed or reused from here on, including
// submitted again.
typedef void (*store_apg_done)(store_apg_query *q, nrpc_code code, PGresult *res, const char *err);

// One query. Caller-owned (typically inside the request's struct); the fields
// above `priv` are set by the caller before store_apg_submit, and the whole struct
// (and `values`, and the strings it points to) stays valid and unchanged
// until done runs.
struct store_apg_query {
	const store_apg_stmt *stmt;           // registered with this pool
	const char *const *values;            // stmt->nparams text values, NULL = SQL NULL
	int64_t deadline_us;                  // CLOCK_MONOTONIC, absolute microseconds
	store_apg_done done;                  // not NULL
	void *arg;                            // for the callback
	struct {                              // apg's; no need to initialise
		store_apg_query *next, *prev; // the wait queue or the completion list
		store_apg_conn *conn;         // in flight on this connection
		unsigned entry;               // ... in this slot of its pipeline
		unsigned heap;                // index in the deadline heap
		int state;
		int64_t queued_us; // when it entered the wait queue
		nrpc_code code;
		PGresult *res;
		char err[APG_ERR_MAX];
	} priv;
};

// Creates the pool and starts connecting every connection (asynchronously:
// nothing has connected when it returns, and a down server is not an error
// here). 0, or -1 with a reason in err. Call on the loop thread or before the
// loop runs.
int store_apg_create(store_apg **out, const store_apg_config *cfg, char *err, size_t errcap);

// Completes every outstanding query with UNAVAILABLE "database client shut
// down" (calling done directly, before it returns; completions already due
// are delivered with their own outcome), closes the connections and frees the
// pool. On the loop thread (a done callback may call it) or after the loop
// stopped; once. A done callback run by store_apg_destroy that submits again gets
// an UNAVAILABLE completion before store_apg_destroy returns.
void store_apg_destroy(store_apg *p);

// Makes s usable on p (again: a no-op). 0, or -1 for a bad name, a name
// another statement of p has, a missing sql, nparams < 0, or when
// APG_MAX_STMTS are taken.
int store_apg_register(store_apg *p, store_apg_stmt *s);

// Starts q (see struct store_apg_query). Loop thread only. Never calls done itself.
void store_apg_submit(store_apg *p, store_apg_query *q);

// false after a connection failure or a failed connect, until a connection
// is up again or a query succeeds.
bool store_apg_healthy(const store_apg *p);

// Queries in flight (sent, result not read yet) and waiting in apg's queue.
unsigned store_apg_in_flight(const store_apg *p);
unsigned store_apg_queued(const store_apg *p);

#endif
