// base signals: see signals.h.
#include "base/signals.h"

#include <pthread.h>

void base_signals_init(sigset_t *stop)
{
	sigemptyset(stop);
	sigaddset(stop, SIGTERM);
	sigaddset(stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, stop, NULL);
	signal(SIGPIPE, SIG_IGN);
}

const char *base_signals_wait(const sigset_t *stop)
{
	int sig = 0;
	sigwait(stop, &sig);
	return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}
