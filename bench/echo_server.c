// echo_server: a bare nng rep0 echo, the transport ceiling propertyd's RPC
// layer is measured against (bench/rpc_overhead.sh, bench/harness_check.sh).
//
//   echo_server URL [WORKERS]
//
// WORKERS contexts (default 64) on one rep0 socket, each a state machine run
// from its aio callback on nng's threads: recv -> send the same message back
// -> recv. No decoding, no threads of ours. Prints "echo_server ready URL" on
// stderr once listening; SIGTERM/SIGINT stop every aio, then close the socket.
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

// Most contexts: each is an aio and a context; more than callers is waste.
#define MAX_WORKERS 4096
// Largest message echoed: the benchmarks send ~300 bytes.
#define RECV_MAX (1u << 20)

enum state { RECV, SEND };

struct worker {
	nng_ctx ctx;
	nng_aio *aio;
	enum state state;
};

static void worker_cb(void *arg)
{
	struct worker *w = arg;
	int rv = nng_aio_result(w->aio);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (w->state == RECV && rv == 0) {
		w->state = SEND; // the received message goes straight back
		nng_ctx_send(w->ctx, w->aio);
		return;
	}
	if (w->state == SEND && rv != 0) {
		nng_msg_free(nng_aio_get_msg(w->aio)); // a failed send leaves it ours
		nng_aio_set_msg(w->aio, NULL);
	}
	w->state = RECV;
	nng_ctx_recv(w->ctx, w->aio);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: echo_server URL [WORKERS]\n");
		return 2;
	}
	int n = argc > 2 ? atoi(argv[2]) : 64;
	if (n < 1 || n > MAX_WORKERS) {
		fprintf(stderr, "echo_server: WORKERS must be 1..%d\n", MAX_WORKERS);
		return 2;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL); // nng's threads inherit the mask

	nng_socket sock;
	int rv;
	struct worker *ws = calloc((size_t)n, sizeof(*ws));
	if (!ws)
		return 1;
	if ((rv = nng_rep0_open(&sock)) != 0 ||
	    (rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, RECV_MAX)) != 0) {
		fprintf(stderr, "echo_server: %s\n", nng_strerror(rv));
		free(ws);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if ((rv = nng_ctx_open(&ws[i].ctx, sock)) != 0 ||
		    (rv = nng_aio_alloc(&ws[i].aio, worker_cb, &ws[i])) != 0) {
			fprintf(stderr, "echo_server: %s\n", nng_strerror(rv));
			free(ws);
			return 1;
		}
	}
	if ((rv = nng_listen(sock, argv[1], NULL, 0)) != 0) {
		fprintf(stderr, "echo_server: %s: %s\n", argv[1], nng_strerror(rv));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		ws[i].state = RECV;
		nng_ctx_recv(ws[i].ctx, ws[i].aio);
	}
	fprintf(stderr, "echo_server ready %s (%d contexts)\n", argv[1], n);
	int sig;
	sigwait(&sigs, &sig);
	for (int i = 0; i < n; i++)
		nng_aio_stop(ws[i].aio);
	for (int i = 0; i < n; i++) {
		nng_msg *m = nng_aio_get_msg(ws[i].aio);
		if (ws[i].state == SEND && m)
			nng_msg_free(m);
		nng_aio_free(ws[i].aio);
	}
	nng_close(sock);
	free(ws);
	return 0;
}
