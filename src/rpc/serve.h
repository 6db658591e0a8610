// rpc serve: what a transport of the nrpc server calls (dispatch.c implements
// it). A transport owns call slots (struct nrpc_call with c_deliver, c_slot,
// c_server and c_loop set), hands each received request to nrpc_server_serve, and
// gets the reply back through the slot's c_deliver, on any thread.
#ifndef RPC_SERVE_H
#define RPC_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"

// Serves one request: counts it in flight, decodes and checks it, runs its
// handler (or queues it to a worker) and, now or later, calls c->c_deliver
// with the reply. body[len] is only read during the call (it is copied).
void nrpc_server_serve(struct nrpc_server *s, struct nrpc_call *c, const uint8_t *body, size_t len);
// A delivered (or dropped) reply is no longer in flight.
void nrpc_server_delivered(struct nrpc_server *s);
// True once the server stops taking requests (the end of a drain).
bool nrpc_server_closing(const struct nrpc_server *s);

#endif
