// nrpc connlimit: a cap on the connections (nng pipes) one nng socket keeps.
//
// Installed on a listening socket before it listens, it counts every pipe the
// socket admits and closes a new one at once (before any message flows) while
// `limit` are open, so idle or hostile peers cannot take every file
// descriptor of the process. The peer sees its connection closed; nng
// clients redial with backoff.
//
// Counts are atomics, updated on nng's pipe-event threads; read them from any
// thread. The nrpc_connlimit is owned by the caller and must stay at its
// address until the socket is closed (nng keeps a pointer to it).
#ifndef NRPC_CONNLIMIT_H
#define NRPC_CONNLIMIT_H

#include <nng/nng.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct nrpc_connlimit {
	unsigned limit;            // 0: unlimited (counted only)
	atomic_int open;           // pipes admitted and not yet gone
	_Atomic uint64_t refused;  // pipes closed because the limit was reached
	_Atomic uint64_t admitted; // pipes admitted in total
	// The server's own transport (src/rpc/sptcp.c) only: connections closed
	// because they did not complete their greeting (and TLS handshake) in time.
	_Atomic uint64_t timed_out;
	// The server's own transport only: pauses of a connection's reading
	// because it drew refusals (8, 16) faster than its allowed rate.
	_Atomic uint64_t throttled;
	// Refusals per second one connection may draw before its reading pauses
	// (the own transport only, set before it starts); 0: no limit.
	unsigned refusal_rate;
} nrpc_connlimit;

// Sets `limit` and installs the pipe callbacks on `sock`. Returns 0 or an nng
// error. Call before the socket listens or dials.
int nrpc_connlimit_install(nrpc_connlimit *cl, nng_socket sock, unsigned limit);

#endif
