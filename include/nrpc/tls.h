// nrpc TLS: certificate settings for tls+tcp:// URLs (TLS 1.2, nng's mbedTLS).
//
// A server needs its certificate and key; with a CA file it also requires and
// verifies a client certificate (mutual TLS between mesh members). A client
// verifies the server against the CA file; with a certificate and key it
// presents them. Per-caller identity still comes from the bearer token: nng
// 1.5.2 tells a server only whether the peer was verified, not who it is.
// Strings are file paths, read when the socket is set up; borrowed.
#ifndef NRPC_TLS_H
#define NRPC_TLS_H

typedef struct nrpc_tls {
	const char *cert_file;   // PEM certificate (chain); NULL on a client without one
	const char *key_file;    // PEM private key for cert_file
	const char *ca_file;     // PEM CA bundle: server: verify clients; client: verify server
	const char *server_name; // client only: expected server name (SNI); NULL: none
} nrpc_tls;

#endif
