// pl_balance: which instances of a multi-URL run may take calls
// (docs/balancing.md). The driver keeps its own sockets and spreads calls over
// the instances that are up here; this module only says which ones are.
//
// One checker thread per URL calls grpc.health.v1.Health/Check every
// PL_CHECK_MS through a one-URL nrpc client of its own (its own connection),
// with a PL_CHECK_TIMEOUT_MS deadline. An instance is up while its last check
// answered SERVING (or 12 UNIMPLEMENTED: a server without the health service);
// NOT_SERVING, another error or no answer makes it down. The driver marks one
// down at once when a call's connection to it closes (pl_balance_down); the
// next SERVING check brings it back.
//
// Threads: pl_balance_up() and pl_balance_down() are atomics, callable from
// nng callbacks. open, wait_any and close belong to the driver's thread.
// Ownership: the URLs and TLS settings are borrowed until pl_balance_close().
#ifndef PL_BALANCE_H
#define PL_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/tls.h"

#define PL_CHECK_MS         500
#define PL_CHECK_TIMEOUT_MS 1000

typedef struct pl_balance pl_balance;

// Starts the checkers (every instance starts down). Returns 0, or -1 with a
// reason in err.
int pl_balance_open(pl_balance **out, const char *const *urls, size_t n, const nrpc_tls *tls,
                    char *err, size_t errcap);
// Stops the checkers (waits for a check in flight, at most its deadline).
void pl_balance_close(pl_balance *b);

bool pl_balance_up(const pl_balance *b, size_t i);
void pl_balance_down(pl_balance *b, size_t i);

// Waits up to ms for instance i's first verdict; true when it is up.
bool pl_balance_wait(pl_balance *b, size_t i, uint32_t ms);

#endif
