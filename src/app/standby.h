// app standby: what answers on RPC_URL while propertyd cannot start yet
// because its database is unreachable (the schema migrations are retried).
//
// Health/Check answers NOT_SERVING, and every other call 14 UNAVAILABLE
// "database not reachable yet", so a gateway or a balancing client sees the
// instance as present but not serving (and sends it nothing) instead of a
// refused connection, and an operator's health probe says why. Nothing is
// unpacked: the server's proxy mode hands each request's bytes to standby.
//
// Threads: the server's (nng's) threads answer; start and stop from main.
// Ownership: the standby owns its server; the TLS settings are read at start.
#ifndef APP_STANDBY_H
#define APP_STANDBY_H

#include <stddef.h>

#include "nrpc/tls.h"

typedef struct app_standby app_standby;

// Listens on url (tls+tcp:// with tls). Returns NULL, with a reason in err,
// when it cannot (the caller goes on without: nothing listens meanwhile).
app_standby *app_standby_start(const char *url, const nrpc_tls *tls, unsigned max_connections,
                               char *err, size_t errcap);
// Stops listening (the port is free when this returns) and frees. NULL: no-op.
void app_standby_stop(app_standby *s);

#endif
