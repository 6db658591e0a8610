// nrpc TLS: certificate settings for tls+tcp:// URLs.
//
// A server needs its certificate and key; with a CA file it also requires and
// verifies a client certificate (mutual TLS between mesh members). A client
// verifies the server against the CA file; with a certificate and key it
// presents them. Strings are file paths (or, for allowed_peers, a list), read
// when the socket is set up; borrowed.
//
// Who serves a tls+tcp:// URL decides what the server learns of the peer:
//  - the nrpc server's own transport on event loops (src/rpc/sptls.h,
//    OpenSSL, TLS 1.2 or later) names the verified client: its certificate's
//    identity is nrpc_call_peer() of every call on the connection, and
//    allowed_peers may restrict who gets in;
//  - nng (mbedTLS, TLS 1.2: clients, the event PUB socket, and a server
//    without loops or with use_nng) only knows that the peer was verified
//    (nng 1.5.2 has no peer-name option): a server nng would serve refuses to
//    start with allowed_peers set.
// Per-caller identity for authorization still comes from the bearer token.
//
// A client refuses to dial a tls+tcp:// URL without ca_file: an unverified
// server would receive the bearer token of every call. Setting
// insecure_skip_verify dials without verifying the server (development only;
// a warning naming the URL goes to stderr, once per process), even when
// ca_file is set.
// A client certificate (mutual TLS) is presented in either case.
// Without server_name the client checks only the chain (nng 1.5.2 does not
// take the name from the URL): any certificate the CA signed is accepted.
#ifndef NRPC_TLS_H
#define NRPC_TLS_H

#include <nng/nng.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Refused TLS connections of a server served by the own transport. Atomics,
// updated on the event loops; read them from any thread.
typedef struct nrpc_tls_stats {
	_Atomic uint64_t handshake_failed; // no or unverifiable client certificate, not TLS, ...
	_Atomic uint64_t peer_refused;     // verified, but the identity is not in allowed_peers
} nrpc_tls_stats;

typedef struct nrpc_tls {
	const char *cert_file;     // PEM certificate (chain); NULL on a client without one
	const char *key_file;      // PEM private key for cert_file
	const char *ca_file;       // PEM CA bundle: server: verify clients; client: verify server
	const char *server_name;   // client only: expected server name (SNI); NULL: none
	bool insecure_skip_verify; // client only: do not verify the server (see above)
	// Server only, own transport only (see above); needs ca_file. Identities
	// (as nrpc_call_peer() gives them) separated by commas; a verified client
	// whose identity is not listed is disconnected at the end of the
	// handshake. NULL: every client the CA verifies.
	const char *allowed_peers;
	// Server only, own transport only: refusals are counted here. Borrowed:
	// must outlive the server. NULL: not counted.
	nrpc_tls_stats *stats;
} nrpc_tls;

// Longest allowed_peers list, and most identities in it.
#define NRPC_TLS_ALLOWED_MAX   4096
#define NRPC_TLS_ALLOWED_COUNT 64

// Starts a non-blocking dialer on socket s for `url` (for callers that drive
// their own nng sockets, such as propload). A tls+tcp:// URL gets the TLS
// settings `tls`, with the rules above (NULL or no CA and no
// insecure_skip_verify: refused); other URLs ignore `tls`. Returns 0 or an
// nng error with a reason in err.
int nrpc_tls_dial(nng_socket s, const char *url, const nrpc_tls *tls, char *err, size_t errcap);

// Starts a listener on socket s for `url` (for sockets other than the RPC
// server's, such as the event PUB socket). A tls+tcp:// URL needs `tls` with
// cert_file and key_file; with ca_file every peer must present a certificate
// that chains to it. nng serves it, so allowed_peers is refused. Other URLs
// ignore `tls`. Returns 0 or an nng error with a reason in err.
int nrpc_tls_listen(nng_socket s, const char *url, const nrpc_tls *tls, char *err, size_t errcap);

#endif
