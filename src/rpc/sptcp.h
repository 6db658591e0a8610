// rpc sptcp: the nrpc server's transport for tcp:// on the event loops.
//
// It speaks the REP side of nng's SP-over-TCP wire format itself (the 8-byte
// greeting, 64-bit big-endian length prefixes, the request's backtrace of
// 32-bit ids echoed before the reply), so any nng REQ client talks to it
// unchanged. Each connection belongs to one loop (round robin at accept):
// reading, decoding, the handler, the Redis/PostgreSQL I/O of the request
// (when its handler stays on the loop, see nrpc_call_loop) and writing the
// reply all happen on that thread, with no hand-off between threads. Replies
// that become ready in one pass of the loop leave in one write per connection.
//
// Bounds: a message longer than NRPC_MAX_MESSAGE, a bad greeting or a
// malformed backtrace closes the connection (as nng does); a connection with
// SPTCP_MAX_INFLIGHT requests in flight is not read until some are answered;
// connections beyond the cap are closed at accept (counted in the server's
// nrpc_connlimit).
//
// Threads: sptcp_start and sptcp_destroy run on the server's owner thread;
// everything else on the loops. A reply delivered from another thread is
// posted to the connection's loop; once that loop has stopped it is dropped.
//
// Ownership: the loops are borrowed and must outlive the transport (they may
// be stopped before sptcp_destroy). The transport owns its sockets, its
// connections and their call slots.
#ifndef RPC_SPTCP_H
#define RPC_SPTCP_H

#include <stddef.h>

#include "nrpc/connlimit.h"

#define SPTCP_MAX_INFLIGHT 256 // requests of one connection in flight at once

struct ioloop;
struct nrpc_server;
typedef struct sptcp sptcp;

// Binds `url` (tcp://host:port; host "*" or empty: every interface) and
// starts accepting on loops[0]. Returns 0, or -1 with a reason in err.
int sptcp_start(sptcp **out, struct nrpc_server *srv, const char *url, struct ioloop *const *loops,
                unsigned nloops, nrpc_connlimit *cl, char *err, size_t errcap);

// Closes the listener and every connection and frees the transport. Calls
// still in flight are dropped when they finish. NULL is a no-op.
void sptcp_destroy(sptcp *t);

#endif
