// rpc tls: builds nng TLS configurations from nrpc_tls settings, and starts a
// listener or dialer with one (nrpc_tls_dial/nrpc_tls_listen, used by server.c,
// client.c and client_pool_ep.c as by callers with sockets of their own). The
// own transport's TLS is sptls.h.
#ifndef RPC_TLS_H
#define RPC_TLS_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>

#include "nrpc/tls.h"

// True for URLs whose transport needs a TLS configuration.
bool nrpc_tls_url(const char *url);

// nrpc_tls_listen and nrpc_tls_dial (declared in nrpc/tls.h, defined in tls.c)
// start a listener (server) or a non-blocking dialer (client) on `url`. For a
// tls+tcp:// URL `tls` must be set and is applied first; other URLs ignore it.
// A client's `tls` needs ca_file or insecure_skip_verify (then a warning goes
// to stderr); without either the dial is refused with NNG_EINVAL.

#endif
