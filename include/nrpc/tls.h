// nrpc TLS: certificate settings for tls+tcp:// URLs (TLS 1.2, nng's mbedTLS).
//
// A server needs its certificate and key; with a CA file it also requires and
// verifies a client certificate (mutual TLS between mesh members). A client
// verifies the server against the CA file; with a certificate and key it
// presents them. Per-caller identity still comes from the bearer token: nng
// 1.5.2 tells a server only whether the peer was verified, not who it is.
// Strings are file paths, read when the socket is set up; borrowed.
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
#include <stdbool.h>
#include <stddef.h>

typedef struct nrpc_tls {
	const char *cert_file;     // PEM certificate (chain); NULL on a client without one
	const char *key_file;      // PEM private key for cert_file
	const char *ca_file;       // PEM CA bundle: server: verify clients; client: verify server
	const char *server_name;   // client only: expected server name (SNI); NULL: none
	bool insecure_skip_verify; // client only: do not verify the server (see above)
} nrpc_tls;

// Starts a non-blocking dialer on socket s for `url` (for callers that drive
// their own nng sockets, such as propload). A tls+tcp:// URL gets the TLS
// settings `tls`, with the rules above (NULL or no CA and no
// insecure_skip_verify: refused); other URLs ignore `tls`. Returns 0 or an
// nng error with a reason in err.
int nrpc_tls_dial(nng_socket s, const char *url, const nrpc_tls *tls, char *err, size_t errcap);

#endif
