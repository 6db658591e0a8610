// rpc call: the state of one request between receive and reply.
//
// A call lives inside its transport's slot (struct nrpc_rctx in server_nng.c,
// an in-flight entry of a connection in sptcp.c) and is reused for the next
// request once its reply is sent, so steady-state serving makes no allocation
// beyond the arena's overflow chunks. Only the server's files (server_int.h),
// the transports and call.c look inside; handlers use the accessors of
// include/nrpc/server.h.
#ifndef RPC_CALL_H
#define RPC_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "nrpc/server.h"
#include "rpc/v1/rpc.pb-c.h"

struct nrpc_method;       // resolved method (server_int.h)
struct nrpc_caller_entry; // callers.h

struct nrpc_call {
	nrpc_arena c_arena;            // every allocation of this call
	int64_t c_start_us;            // receive time, CLOCK_MONOTONIC
	int64_t c_deadline_us;         // absolute deadline, CLOCK_MONOTONIC
	Rpc__V1__Request *c_req;       // the envelope (arena)
	const struct nrpc_method *c_m; // NULL until resolved
	ProtobufCMessage *c_input;     // the unpacked payload (arena)
	const uint8_t *c_packed;       // an output already serialized, or NULL
	size_t c_packed_len;
	const uint8_t *c_raw; // a whole rpc.v1.Response to send as is (a proxy's), or NULL
	size_t c_raw_len;
	const char *c_raw_method;  // a proxied request's method (arena), or NULL
	const char *c_request_id;  // echoed or generated (arena)
	const char *c_traceparent; // valid traceparent or NULL
	const char *c_subject;     // token's sub (arena) or NULL
	const char *c_peer; // TLS client identity (the transport's, kept across calls) or NULL
	unsigned c_code;    // reply status
	char *c_message;    // reply message (arena) or NULL
	Rpc__V1__FieldViolation **c_viol; // reply violations (arena)
	size_t c_nviol, c_capviol;
	Rpc__V1__Response__MetadataEntry **c_meta; // reply metadata (arena)
	size_t c_nmeta, c_capmeta;
	uint64_t c_rng; // splitmix64 state for generated request ids; kept across calls
	struct nrpc_caller_entry *c_caller; // per-caller count to release at reply, or NULL
	int64_t c_pause_us; // a refusal asks the transport not to read the connection this long
	// Set by the transport that received the request, kept across calls:
	// c_deliver sends the packed reply (NULL: there is none, drop the request)
	// and gives the slot back; c_slot is the transport's own state.
	void (*c_deliver)(struct nrpc_call *c, struct nng_msg *reply);
	void *c_slot;
	struct nrpc_server *c_server; // the server serving the call
	int c_loop;                   // event loop serving the connection; -1: none (nng)
	struct nrpc_call *c_next;     // the worker queue's link
};

// Seeds the call slot's id generator once (from getrandom).
void nrpc_call_seed(struct nrpc_call *c);
// Resets a call for a new request (arena initialised with its bounds,
// fields cleared).
void nrpc_call_begin(struct nrpc_call *c, int64_t now_us, size_t mem_limit,
                     nrpc_arena_budget *budget);
// Releases the call's arena.
void nrpc_call_end(struct nrpc_call *c);
// Reads the request id and traceparent from the envelope's metadata
// (a missing or unusable x-request-id is replaced by a generated one).
void nrpc_call_take_ids(struct nrpc_call *c);
// The same for a request that is not unpacked: `rid[len]` is the
// x-request-id value found on the wire (NULL: none). No traceparent.
void nrpc_call_take_ids_raw(struct nrpc_call *c, const uint8_t *rid, size_t len);
// Builds the reply message for the call: code, message, violations,
// metadata, and `output` packed as payload when the code is 0. Returns NULL
// only when nng cannot allocate the message.
struct nng_msg *nrpc_call_build_reply(struct nrpc_call *c, const ProtobufCMessage *output);

#endif
