// rpc sptcp: the nrpc server's transport for tcp:// and tls+tcp:// on the
// event loops.
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
// tls+tcp://: the same wire format inside TLS (sptls.h: OpenSSL, TLS 1.2 or
// later, memory BIOs; the socket I/O stays here). The reply greeting leaves
// once the handshake is done. Every call of a connection carries its verified
// client identity in c_peer (nrpc_call_peer), a string the connection owns
// and keeps until its last call is delivered; NULL on plain connections.
// A failed handshake, or a peer outside the allow-list, closes the connection
// (after one try to send the alert) and is counted in the settings' stats.
//
// Bounds: a message longer than NRPC_MAX_MESSAGE, a bad greeting or a
// malformed backtrace closes the connection (as nng does); a connection with
// SPTCP_MAX_INFLIGHT requests in flight is not read until some are answered;
// connections beyond the cap are closed at accept (counted in the server's
// nrpc_connlimit), and one that has not sent its greeting (after the TLS
// handshake, on tls+tcp://) greet_ms after it was accepted is closed too
// (counted in its timed_out). A connection drawing refusals (8, 16) faster
// than cl->refusal_rate a second (after a burst) is not read until it
// conforms again (counted in throttled): a client that keeps sending what is
// refused costs a bounded share of its loop, and TCP flow control slows it.
//
// Threads: nrpc_sptcp_start and nrpc_sptcp_destroy run on the server's owner thread;
// everything else on the loops. A reply delivered from another thread is
// posted to the connection's loop; once that loop has stopped it is dropped.
//
// Ownership: the loops are borrowed and must outlive the transport (they may
// be stopped before nrpc_sptcp_destroy). The transport owns its sockets, its
// connections and their call slots.
#ifndef RPC_SPTCP_H
#define RPC_SPTCP_H

#include <stdbool.h>
#include <stddef.h>

#include "nrpc/connlimit.h"
#include "nrpc/tls.h"

#define SPTCP_MAX_INFLIGHT 256 // requests of one connection in flight at once

struct base_ioloop;
struct nrpc_server;
typedef struct nrpc_sptcp nrpc_sptcp;

// True for the URLs this transport serves: tcp:// and tls+tcp://.
bool nrpc_sptcp_serves(const char *url);

// Binds `url` (tcp://host:port or tls+tcp://host:port; host "*" or empty:
// every interface) and starts accepting on loops[0]. A tls+tcp:// URL needs
// `tls` (read now: the files are loaded and the allow-list copied; its stats
// are borrowed); a tcp:// URL ignores it. Returns 0, or -1 with a reason in err.
int nrpc_sptcp_start(nrpc_sptcp **out, struct nrpc_server *srv, const char *url,
                     const nrpc_tls *tls, struct base_ioloop *const *loops, unsigned nloops,
                     nrpc_connlimit *cl, int greet_ms, char *err, size_t errcap);

// Closes the listener and every connection and frees the transport. Calls
// still in flight are dropped when they finish. NULL is a no-op.
void nrpc_sptcp_destroy(nrpc_sptcp *t);

#endif
