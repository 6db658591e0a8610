// gate forward: the gateway's request path. Each request the nrpc server
// accepts (its proxy handler) is forwarded to a healthy backend over that
// loop's connection to it, and the backend's reply goes back as it came.
//
// Per request: the envelope is copied once, without its timeout_ms field
// (and with the generated x-request-id when the caller sent none); each send
// re-states the remaining deadline. Backends are taken round robin among the
// present and healthy ones. A timer at the caller's deadline answers 4
// DEADLINE_EXCEEDED if no reply came. When the connection fails under a
// request, it is sent again to another backend if it never reached the first,
// or if nrpc_retry_safe() allows it (reads, idempotent creates); otherwise it
// is answered 14 UNAVAILABLE. With no healthy backend, every present one is
// tried in turn (panic routing: health checks that all failed at once must
// not turn live instances away); with none left to try: 14 at once.
//
// Threads: a request received on loop i (the own transport) is forwarded
// from loop i with no hand-off; one received through nng (tls+tcp://, ipc://)
// is posted to a loop first. Each loop owns its connections and requests.
//
// Ownership: the loops and the backend set are borrowed and must outlive the
// forwarder; the forwarder owns its per-loop connections.
#ifndef GATE_FORWARD_H
#define GATE_FORWARD_H

#include "backends.h"
#include "nrpc/server.h"
#include "obs/metrics.h"

struct base_ioloop;
typedef struct gate_forward gate_forward;

int gate_forward_create(gate_forward **out, struct base_ioloop *const *loops, unsigned nloops,
                        gate_backends *bs, obs_registry *reg, char *err, size_t errcap);
// The nrpc proxy handler (arg: the gate_forward).
void gate_forward_proxy(nrpc_call *call, const nrpc_envelope *env, void *arg);
// Closes every connection (on the loops, which must still run) and frees.
void gate_forward_destroy(gate_forward *g);

#endif
