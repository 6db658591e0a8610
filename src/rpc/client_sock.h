// rpc client_sock: the socket setup every nrpc client shares, with one socket
// (client.c) or one per instance (client_pool_ep.c), and the resolver of dns+
// URLs. Sockets are closed with base_nng_close_all (base/nngclose.h) and
// CP_CLOSE_BUDGET_MS. No state of its own; any thread.
#ifndef RPC_CLIENT_SOCK_H
#define RPC_CLIENT_SOCK_H

#include <nng/nng.h>
#include <stddef.h>

#include "base/nngclose.h"
#include "client_lb.h"

// Opens a req0 socket with the client's options: automatic resend off, the
// receive size limit, quick redial backoff. Returns 0, or an nng error with a
// reason in err (the socket is then closed).
int nrpc_cp_socket_open(nng_socket *s, char *err, size_t errcap);

// How long a client's close waits for nng_close() (base_nng_close_all). In
// nng 1.5.2 a pipe torn down at the wrong moment (for instance by a reply over
// the receive limit) can wedge nng's reaper (#1543) and nng_close never
// returns; past this budget the close is left to a helper thread.
#define CP_CLOSE_BUDGET_MS BASE_NNG_CLOSE_BUDGET_MS

// Every address of t->host (getaddrinfo: A and AAAA, only families this host
// has an address of), as "<scheme>://<addr>:<port>" URLs into urls[cap].
// Blocks for the lookup. Returns the count, or -1 with a reason in err. The
// default nrpc_cpool_resolver (arg is unused).
int nrpc_cp_resolve_dns(const nrpc_lb_dns_target *t, char (*urls)[LB_URL_MAX], size_t cap,
                        char *err, size_t errcap, void *arg);

#endif
