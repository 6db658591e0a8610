// store pgconn: connecting to PostgreSQL within a deadline, and the clock.
//
// Every blocking connection of the store (the migrator's, the outbox's, the
// readiness probe's) is opened here, so all get the same bounded connect:
// libpq's own connect_timeout (whole seconds, at least 2) would let a dead
// host hold the caller past its deadline, so the connect is driven
// asynchronously with poll() up to the caller's deadline. apg's request-path
// connections connect on their event loop instead (apg_conn.c).
//
// Threads: any; a PGconn returned is then used by one thread at a time.
#ifndef STORE_PGCONN_H
#define STORE_PGCONN_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

// The longest a connect may take whatever the caller's deadline: a PostgreSQL
// that has not accepted us in 2 s is treated as down (the request gets 14).
#define PGCONN_CONNECT_MAX_MS 2000

// base_now_us (CLOCK_MONOTONIC in microseconds, the clock of
// prop_ctx.deadline_us) under the name the store calls it by.
int64_t store_pgconn_now_us(void);

// Opens a connection from `conninfo` (key=value or URI), giving up at
// min(deadline_us, now + PGCONN_CONNECT_MAX_MS). Returns the open connection,
// or NULL with a reason in err (never the conninfo: it may hold a password).
PGconn *store_pgconn_open(const char *conninfo, int64_t deadline_us, char *err, size_t errcap);

// Waits until the connection's socket is readable or deadline_us passes.
// 1 readable, 0 timed out, -1 error.
int store_pgconn_wait_readable(PGconn *c, int64_t deadline_us);

// Reads whatever the server sent to an idle connection (without blocking):
// a backend that was terminated or a server that shut down shows up as an
// error message and then EOF, after which PQstatus is CONNECTION_BAD.
void store_pgconn_drain_idle(PGconn *c);

#endif
