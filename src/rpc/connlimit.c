// nrpc connlimit: see include/nrpc/connlimit.h.
#include "nrpc/connlimit.h"

// Every pipe that got ADD_PRE gets REM_POST when it is destroyed, also one
// closed here (nng 1.5.2 pipe.c), so the count stays balanced.
static void on_add(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)ev;
	nrpc_connlimit *cl = arg;
	int now = atomic_fetch_add(&cl->open, 1) + 1;
	if (cl->limit > 0 && now > (int)cl->limit) {
		atomic_fetch_add(&cl->refused, 1);
		nng_pipe_close(p);
		return;
	}
	atomic_fetch_add(&cl->admitted, 1);
}

static void on_rem(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	nrpc_connlimit *cl = arg;
	atomic_fetch_sub(&cl->open, 1);
}

int nrpc_connlimit_install(nrpc_connlimit *cl, nng_socket sock, unsigned limit)
{
	cl->limit = limit;
	atomic_init(&cl->open, 0);
	atomic_init(&cl->refused, 0);
	atomic_init(&cl->admitted, 0);
	int rv = nng_pipe_notify(sock, NNG_PIPE_EV_ADD_PRE, on_add, cl);
	if (rv == 0)
		rv = nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, on_rem, cl);
	return rv;
}
