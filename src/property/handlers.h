// property handlers: the RPC glue between nrpc and the property service.
//
// Registers property.v1.PropertyService (6 methods) and
// property.v1.EventService (ReadEvents) on an nrpc server. Each handler builds
// a prop_call from the nrpc call (deadline, arena, caller identity,
// idempotency-key, raw payload), runs the use case and maps its outcome:
// violations become nrpc_call_violation() entries with code 3 and the message
// "invalid argument: <field>: <description>" (or "invalid argument: N invalid
// fields"); any other error is sent with the service's message.
//
// Handlers block on the ports and run on nrpc worker threads.
#ifndef PROP_HANDLERS_H
#define PROP_HANDLERS_H

#include "nrpc/server.h"
#include "property/service.h"

// Registers both services with `svc` as the handler argument; svc must
// outlive the server. Call before nrpc_server_start(). Returns 0 or the first
// error of nrpc_server_add_service().
int prop_handlers_register(nrpc_server *s, prop_service *svc);

#endif
