// base signals: how a server process stops. SIGTERM and SIGINT are blocked
// in the calling thread, and so in every thread it creates afterwards, so
// that only the main thread's base_signals_wait ever takes them; SIGPIPE is
// ignored, so a write to a closed socket is an EPIPE error, not death.
//
// Call base_signals_init from main before any thread starts.
#ifndef BASE_SIGNALS_H
#define BASE_SIGNALS_H

#include <signal.h>

// Blocks SIGTERM and SIGINT, ignores SIGPIPE; *stop receives the set to wait on.
void base_signals_init(sigset_t *stop);
// Waits for a signal of *stop; returns its name ("SIGTERM" or "SIGINT").
const char *base_signals_wait(const sigset_t *stop);

#endif
