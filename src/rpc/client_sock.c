// rpc client_sock: see client_sock.h.
#include "client_sock.h"

#include <netdb.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

// Largest reply accepted. Replies carry pages of up to 100 properties, far
// below this; the cap keeps a broken or hostile peer from making us allocate
// without bound. Bigger replies are dropped by the transport (the call then
// ends with DEADLINE_EXCEEDED).
#define CLIENT_RECV_MAX (16u << 20)
// Redial backoff for an instance that is down: quick first retry, then at most
// every 2 s so that a dead replica costs little.
#define CLIENT_RECONNECT_MIN_MS 100
#define CLIENT_RECONNECT_MAX_MS 2000
int nrpc_cp_socket_open(nng_socket *s, char *err, size_t errcap)
{
	int rv;
	if ((rv = nng_req0_open(s)) != 0) {
		snprintf(err, errcap, "open req0 socket: %s", nng_strerror(rv));
		return rv;
	}
	// Options go on before any dial: a context copies the resend time when
	// it opens, and a pipe takes the receive limit when it connects.
	//
	// Resend off: nng would otherwise send the same request again after
	// REQ_RESENDTIME, and the copy may reach another replica, doubling a
	// non-idempotent CreateProperty. Retries belong to the caller (or the
	// balancer, by nrpc_retry_safe). With resend off, nng 1.5.2 also fails a
	// receive whose connection dropped (NNG_ECONNRESET) instead of sending
	// the request again on the next connection.
	if ((rv = nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, CLIENT_RECV_MAX)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_RECONNMINT, CLIENT_RECONNECT_MIN_MS)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_RECONNMAXT, CLIENT_RECONNECT_MAX_MS)) != 0) {
		snprintf(err, errcap, "set socket options: %s", nng_strerror(rv));
		nng_close(*s);
	}
	return rv;
}

int nrpc_cp_resolve_dns(const nrpc_lb_dns_target *t, char (*urls)[LB_URL_MAX], size_t cap,
                        char *err, size_t errcap, void *arg)
{
	(void)arg;
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(t->host, t->port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errcap, "resolve %s: %s", t->host, gai_strerror(rc));
		return -1;
	}
	size_t n = 0;
	for (const struct addrinfo *ai = res; ai != NULL && n < cap; ai = ai->ai_next) {
		char host[NI_MAXHOST];
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, NULL, 0,
		                NI_NUMERICHOST) == 0 &&
		    nrpc_lb_addr_url(urls[n], LB_URL_MAX, t->scheme, host, t->port) == 0)
			n++;
	}
	freeaddrinfo(res);
	if (n == 0)
		snprintf(err, errcap, "resolve %s: no address", t->host);
	return n > 0 ? (int)n : -1;
}
