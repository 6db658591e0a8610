// property handlers: the RPC glue between nrpc and the property service.
//
// Registers property.v1.PropertyService (6 methods) and
// property.v1.EventService (ReadEvents) on an nrpc server as asynchronous
// methods. Each handler builds a prop_call in the call's arena (deadline,
// caller identity, idempotency-key, raw payload), hands it to one of the
// event loops (round robin) and runs the use case there; the use case's
// ending maps its outcome onto the reply: violations become
// nrpc_call_violation() entries with code 3 and the message
// "invalid argument: <field>: <description>" (or "invalid argument: N invalid
// fields"); any other error is sent with the service's message.
//
// Threads: a handler starts on nng's callback thread and only posts; the use
// case and the reply happen on the chosen loop. With no loops (tests with
// in-memory ports) the use case runs on the callback thread itself.
#ifndef PROP_HANDLERS_H
#define PROP_HANDLERS_H

#include "base/ioloop.h"
#include "nrpc/server.h"
#include "property/service.h"

typedef struct prop_handlers prop_handlers;

// svc and the loops are borrowed and must outlive the server. nloops may be
// 0 (run inline). Registers both services; call before nrpc_server_start().
// Returns 0 or the first error of nrpc_server_add_service(); *out is freed
// with prop_handlers_destroy after the server is gone.
int prop_handlers_register(prop_handlers **out, nrpc_server *s, prop_service *svc,
                           base_ioloop *const *loops, unsigned nloops);
void prop_handlers_destroy(prop_handlers *h);

#endif
