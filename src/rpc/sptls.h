// rpc sptls: the TLS layer of the server's own transport (sptcp.h) for
// tls+tcp:// URLs, with OpenSSL, so that the server knows who the peer is.
//
// Server side only. nrpc_sptls_ctx is the listener's configuration: certificate
// and key, TLS 1.2 or later (no renegotiation, no session resumption), and,
// with a CA file, a client certificate that is required and verified against
// it (mutual TLS); plus the optional allow-list of identities.
//
// nrpc_sptls_conn is one connection's TLS state on memory BIOs: the transport
// keeps doing its own nonblocking reads and writes and the TLS engine never
// touches the socket:
//   ciphertext read from the socket --nrpc_sptls_feed--> plaintext for the parser
//   plaintext replies --nrpc_sptls_seal--> ciphertext to write to the socket
//
// Identity: at the end of the handshake the verified client certificate's
// identity is taken: its subject CN (the last one), or without a CN its first
// SAN DNS name; 1..SPTLS_PEER_MAX bytes without control characters, or none.
// With an allow-list, a handshake whose identity is not listed (or that has
// none) fails like a refused certificate: the connection is to be closed.
// Every failed handshake is counted in the configuration's stats (when set):
// peer_refused for the allow-list, handshake_failed for anything else.
//
// Threads: an nrpc_sptls_ctx is read-only after creation and may be used from any
// thread; an nrpc_sptls_conn belongs to its connection's loop (freeing it is
// allowed from another thread once nothing else touches it).
//
// Ownership: the ctx copies what it needs from nrpc_tls (the stats pointer
// is borrowed: it must outlive the ctx and every connection). A conn keeps
// the SSL_CTX alive by its own reference, so it may outlive the nrpc_sptls_ctx;
// nrpc_sptls_peer's string is the conn's and lives until nrpc_sptls_conn_free.
#ifndef RPC_SPTLS_H
#define RPC_SPTLS_H

#include <stdbool.h>
#include <stddef.h>

#include "nrpc/tls.h"

#define SPTLS_PEER_MAX 255 // longest identity kept (a CN has at most 64 characters)

struct evbuffer;
typedef struct nrpc_sptls_ctx nrpc_sptls_ctx;
typedef struct nrpc_sptls_conn nrpc_sptls_conn;

// Builds the server configuration from tls (cert_file and key_file required;
// ca_file: mutual TLS; allowed_peers needs ca_file). Reads the files now.
// Returns 0, or -1 with a reason naming the setting or file in err.
int nrpc_sptls_ctx_create(nrpc_sptls_ctx **out, const nrpc_tls *tls, char *err, size_t errcap);
void nrpc_sptls_ctx_free(nrpc_sptls_ctx *x);

// A new server-side connection (the handshake starts with the first bytes
// fed). NULL when out of memory.
nrpc_sptls_conn *nrpc_sptls_conn_new(nrpc_sptls_ctx *x);
// NULL is a no-op.
void nrpc_sptls_conn_free(nrpc_sptls_conn *c);

// Consumes every byte of `cipher` (read from the socket): handshake records
// are answered into `wire`, application data is decrypted and appended to
// `plain`. Returns 0 (go on: more may come), or -1: close the connection (a
// failed or refused handshake, a protocol error, or the peer's close_notify);
// an alert for the peer may then be in `wire`, worth one write attempt.
int nrpc_sptls_feed(nrpc_sptls_conn *c, struct evbuffer *cipher, struct evbuffer *plain,
                    struct evbuffer *wire);

// Encrypts and drains all of `plain` into `wire` once the handshake is done;
// before that `plain` is left for later (it is the reply greeting, queued at
// accept). Returns 0, or -1 (an internal error: close the connection).
int nrpc_sptls_seal(nrpc_sptls_conn *c, struct evbuffer *plain, struct evbuffer *wire);

// True once the handshake completed (and the peer was admitted).
bool nrpc_sptls_ready(const nrpc_sptls_conn *c);

// The verified client certificate's identity, or NULL (no CA configured, so
// no certificate asked for; handshake not done; or no usable name).
const char *nrpc_sptls_peer(const nrpc_sptls_conn *c);

#endif
