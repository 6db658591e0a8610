// store pgprobe: the readiness probe's own PostgreSQL connection.
//
// One direct connection, kept open between checks and reopened after a
// failure, answering "SELECT 1" within a bound. It never shares a
// connection with requests, so a busy pipeline does not make the service
// look down, and a down server is seen even with no traffic.
//
// Threads: one thread (the prober's) uses a pgprobe; calls block up to
// their timeout.
#ifndef STORE_PGPROBE_H
#define STORE_PGPROBE_H

#include <stddef.h>

#include "nrpc/status.h"

typedef struct store_pgprobe store_pgprobe;

// NULL only when out of memory; connects on the first check.
store_pgprobe *store_pgprobe_create(const char *conninfo);
void store_pgprobe_destroy(store_pgprobe *p);
// NRPC_OK when the server answered within timeout_ms; else UNAVAILABLE
// with a reason in err.
nrpc_code store_pgprobe_check(store_pgprobe *p, int timeout_ms, char *err, size_t errcap);

#endif
