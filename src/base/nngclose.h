// base nngclose: closes nng sockets without risking a hang.
//
// nng 1.5.2's nng_close can block forever (#1543, #1813; dependencies.md).
// The sockets are closed on a helper thread and the caller waits a bounded
// time. On a timeout the helper is left to finish (or hang) on its own and
// the caller goes on: leaking a stuck socket beats a shutdown that never ends.
//
// Ownership: the socket handles are copied; nothing of the caller's is
// touched after the call returns, except through `done` (see below).
#ifndef BASE_NNGCLOSE_H
#define BASE_NNGCLOSE_H

#include <nng/nng.h>
#include <stddef.h>

// Closes socks[0..n) in order and waits at most timeout_ms for all of them.
// done (may be NULL) is called with arg once every close has returned: on the
// caller's thread before this returns when that was in time, else later on
// the helper thread. Without memory or a thread for the helper the sockets
// are closed right here, unbounded. Returns 0 when every socket is closed,
// -1 when the helper is still closing them.
int base_nng_close_all(const nng_socket *socks, size_t n, int timeout_ms, void (*done)(void *),
                       void *arg);
// The budget a client's close waits (propertyd's client library, propload,
// propsub, the tests): a reaper wedged by nng 1.5.2 never frees it anyway.
#define BASE_NNG_CLOSE_BUDGET_MS 2000

// One socket, nothing to call afterwards.
int base_nng_close(nng_socket s, int timeout_ms);

#endif
