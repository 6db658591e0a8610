// rpc tls: builds nng TLS configurations from nrpc_tls settings, and starts a
// listener or dialer with one. Used by server.c and client.c (and, through
// nrpc_tls_dial/nrpc_tls_listen, by callers with sockets of their own). The
// own transport's TLS is sptls.h.
#ifndef RPC_TLS_H
#define RPC_TLS_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>

#include "nrpc/tls.h"

// True for URLs whose transport needs a TLS configuration.
bool tls_url(const char *url);

// Starts a listener (server) or a non-blocking dialer (client) on `url`. For
// a tls+tcp:// URL `tls` must be set and is applied first; other URLs ignore
// it. A client's `tls` needs ca_file or insecure_skip_verify (then a warning
// goes to stderr); without either the dial is refused with NNG_EINVAL.
// Returns 0 or an nng error with a reason in err.
int tls_listen(nng_socket s, const char *url, const nrpc_tls *tls, char *err, size_t errcap);
int tls_dial(nng_socket s, const char *url, const nrpc_tls *tls, char *err, size_t errcap);

#endif
