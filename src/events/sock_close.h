// events sock_close: closes an nng socket without risking a hang.
//
// nng 1.5.2's nng_close can block forever (PITFALLS: #1543, #1813). The close
// runs on a detached helper thread; the caller waits at most timeout_ms. On a
// timeout the helper is left to finish (or hang) on its own and the caller
// goes on: leaking a stuck socket beats a shutdown that never ends.
#ifndef EVENTS_SOCK_CLOSE_H
#define EVENTS_SOCK_CLOSE_H

#include <nng/nng.h>

// 0: closed within timeout_ms; -1: still closing (left to the helper thread),
// or the helper could not be started (then it closes inline, unbounded).
int sock_close_bounded(nng_socket s, int timeout_ms);

#endif
