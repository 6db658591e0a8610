// nrpc retry: which calls may be sent again to another instance.
//
// A call that was sent to an instance which then died (the connection closed
// or reset before the reply) may or may not have been carried out. Sending it
// again elsewhere is safe only when doing it twice cannot change anything:
// reads (Get, List, Search, ReadEvents, Health, Reflection), and a
// CreateProperty that carries an idempotency-key (the second one replays the
// first's outcome). Every other call is answered 14 UNAVAILABLE instead; its
// caller decides. A call that was never sent (no connection, refused) may
// always go elsewhere. The gateway (propgate) and the balancing clients use
// this one rule.
#ifndef NRPC_RETRY_H
#define NRPC_RETRY_H

#include <stdbool.h>
#include <stddef.h>

// True when the call to method[len] ("/pkg.Service/Method", not
// NUL-terminated) may be sent again after an instance died with it in flight.
bool nrpc_retry_safe(const char *method, size_t len, bool has_idempotency_key);

#endif
