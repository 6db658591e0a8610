// obs http: a small HTTP/1.1 server on one thread of its own, for three GET
// endpoints.
//
// One poll() loop serves every connection without blocking: a connection
// has HTTP_TIMEOUT_MS (obs_http_set_limits) from accept to read its whole
// request head and take its reply, then it is closed, so a slow or silent
// client holds a descriptor for a bounded time only; at most max_conns
// connections are open, a connection beyond is answered 503 and closed at
// once. Each reply closes its connection (Connection: close): a scraper
// reconnects, and no idle keep-alive connection pins a slot.
//
// The callbacks run on the server thread only; obs_http_stop joins it, so no
// callback runs once it returns.
#include "obs/http.h"

#include "base/clock.h"
#include "base/tcplisten.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

// A DNS name is at most 253 bytes; add brackets, ':' and a port.
#define HOST_PORT_MAX 264
// A request head larger than this is refused (431): the endpoints take no
// parameters, and a scraper's head is a few hundred bytes.
#define HEAD_MAX 8192

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_CONTENT_TYPE    "text/plain; charset=utf-8"

typedef struct conn {
	int fd;                  // -1: free slot
	int64_t deadline_ms;     // CLOCK_MONOTONIC; closed when reached
	char head[HEAD_MAX + 1]; // the request head read so far
	size_t head_len;
	char *out; // the reply (malloc'd) once built, else NULL
	size_t out_len, out_off;
} conn;

struct obs_http {
	int listen_fd;
	int wake_fd; // eventfd: obs_http_stop -> the server thread
	int port;
	obs_registry *reg;
	obs_ready_fn ready;
	void *ready_arg;
	pthread_t thread;
	bool started;

	atomic_uint max_conns;
	atomic_int timeout_ms;
	atomic_int open;            // connections open now
	_Atomic uint64_t refused;   // connections refused (limit reached)
	_Atomic uint64_t timed_out; // connections closed at their deadline

	pthread_mutex_t collect_mu; // guards collect/collect_arg; serialises collect+render
	obs_collect_fn collect;
	void *collect_arg;

	conn *conns; // OBS_HTTP_MAX_CONNECTIONS_CAP slots, server thread only
};

// ---- replies ---------------------------------------------------------------------------------

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

// The whole reply in one malloc'd buffer; NULL when out of memory.
static char *reply(int status, const char *ctype, const char *body, size_t len, bool head_only,
                   size_t *out_len)
{
	char hdr[512];
	int n = snprintf(hdr, sizeof hdr,
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
	                 status, reason(status), ctype, len,
	                 status == 405 ? "Allow: GET, HEAD\r\n" : "");
	size_t blen = head_only ? 0 : len;
	char *r = malloc((size_t)n + blen);
	if (r == NULL)
		return NULL;
	memcpy(r, hdr, (size_t)n);
	if (blen > 0)
		memcpy(r + n, body, blen);
	*out_len = (size_t)n + blen;
	return r;
}

static char *text_reply(int status, const char *body, bool head_only, size_t *out_len)
{
	return reply(status, TEXT_CONTENT_TYPE, body, strlen(body), head_only, out_len);
}

// Routes a complete request head (NUL-terminated) to its reply.
static char *route(obs_http *h, char *head, size_t *out_len)
{
	char *sp1 = strchr(head, ' ');
	char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return text_reply(400, "bad request\n", false, out_len);
	*sp1 = '\0';
	*sp2 = '\0';
	char *path = sp1 + 1;
	path[strcspn(path, "?#")] = '\0';
	bool get = strcmp(head, "GET") == 0, head_only = strcmp(head, "HEAD") == 0;
	enum { HEALTHZ, READYZ, METRICS, NONE } r = NONE;
	if (strcmp(path, "/healthz") == 0)
		r = HEALTHZ;
	else if (strcmp(path, "/readyz") == 0)
		r = READYZ;
	else if (strcmp(path, "/metrics") == 0)
		r = METRICS;
	if (r == NONE)
		return text_reply(404, "not found\n", head_only, out_len);
	if (!get && !head_only)
		return text_reply(405, "method not allowed\n", false, out_len);
	switch (r) {
	case HEALTHZ:
		return text_reply(200, "ok\n", head_only, out_len);
	case READYZ:
		if (h->ready == NULL || h->ready(h->ready_arg) != 0)
			return text_reply(200, "ready\n", head_only, out_len);
		return text_reply(503, "not ready\n", head_only, out_len);
	case METRICS:
	case NONE:
		break;
	}
	char *body = NULL;
	pthread_mutex_lock(&h->collect_mu);
	if (h->collect != NULL)
		h->collect(h->collect_arg);
	size_t len = obs_registry_render(h->reg, &body);
	pthread_mutex_unlock(&h->collect_mu);
	char *out = reply(200, METRICS_CONTENT_TYPE, body != NULL ? body : "", body ? len : 0,
	                  head_only, out_len);
	free(body);
	return out;
}

// ---- connections -----------------------------------------------------------------------------

static void conn_close(obs_http *h, conn *c)
{
	close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	atomic_fetch_sub(&h->open, 1);
}

// Writes what it can; closes the connection when all is sent or on error.
static void conn_write(obs_http *h, conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; // poll for POLLOUT
		if (n <= 0)
			break;
		c->out_off += (size_t)n;
	}
	// A close right after the reply could reset it while unread request bytes
	// remain: say we are done sending first.
	shutdown(c->fd, SHUT_WR);
	conn_close(h, c);
}

static void conn_read(obs_http *h, conn *c)
{
	for (;;) {
		if (c->head_len == HEAD_MAX) {
			c->out = text_reply(431, "request head too large\n", false, &c->out_len);
			break;
		}
		ssize_t n =
		    recv(c->fd, c->head + c->head_len, HEAD_MAX - c->head_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(h, c); // the client went away before a whole head
			return;
		}
		c->head_len += (size_t)n;
		c->head[c->head_len] = '\0';
		if (strstr(c->head, "\r\n\r\n") != NULL || strstr(c->head, "\n\n") != NULL) {
			c->head[strcspn(c->head, "\r\n")] = '\0'; // the request line
			c->out = route(h, c->head, &c->out_len);
			break;
		}
	}
	if (c->out == NULL) {
		conn_close(h, c); // out of memory: nothing to say
		return;
	}
	c->out_off = 0;
	conn_write(h, c);
}

static void accept_all(obs_http *h)
{
	for (;;) {
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; // EAGAIN, or out of descriptors: retried on the next wakeup
		}
		conn *slot = NULL, *oldest = NULL;
		unsigned max = atomic_load(&h->max_conns);
		for (unsigned i = 0; i < max && slot == NULL; i++) {
			conn *c = &h->conns[i];
			if (c->fd < 0)
				slot = c;
			else if (c->out == NULL &&
			         (oldest == NULL || c->deadline_ms < oldest->deadline_ms))
				oldest = c;
		}
		if (slot == NULL && oldest != NULL) {
			// Full: the connection that has waited longest for its request
			// makes room (a slow client loses its slot before a new one is
			// turned away, so trickling heads cannot lock the port).
			atomic_fetch_add(&h->refused, 1);
			conn_close(h, oldest);
			slot = oldest;
		}
		if (slot == NULL) { // every slot is sending a reply
			static const char busy[] =
			    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: "
			    "0\r\nConnection: close\r\n\r\n";
			atomic_fetch_add(&h->refused, 1);
			if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				// best effort: the connection closes either way
			}
			close(fd);
			continue;
		}
		*slot =
		    (conn){.fd = fd, .deadline_ms = base_now_ms() + atomic_load(&h->timeout_ms)};
		atomic_fetch_add(&h->open, 1);
		conn_read(h, slot); // the request is often there already
	}
}

static void *serve_main(void *arg)
{
	obs_http *h = arg;
	struct pollfd pf[OBS_HTTP_MAX_CONNECTIONS_CAP + 2];
	conn *of[OBS_HTTP_MAX_CONNECTIONS_CAP];
	for (;;) {
		int64_t now = base_now_ms(), next = now + 1000;
		nfds_t n = 0;
		pf[n++] = (struct pollfd){.fd = h->wake_fd, .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = h->listen_fd, .events = POLLIN};
		size_t nc = 0;
		for (unsigned i = 0; i < OBS_HTTP_MAX_CONNECTIONS_CAP; i++) {
			conn *c = &h->conns[i];
			if (c->fd < 0)
				continue;
			if (now >= c->deadline_ms) {
				atomic_fetch_add(&h->timed_out, 1);
				conn_close(h, c);
				continue;
			}
			if (c->deadline_ms < next)
				next = c->deadline_ms;
			pf[n++] = (struct pollfd){.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
			of[nc++] = c;
		}
		int rv = poll(pf, n, (int)(next - now));
		if (rv < 0 && errno != EINTR)
			break;
		if (rv <= 0)
			continue;
		if (pf[0].revents != 0)
			break; // obs_http_stop
		for (size_t i = 0; i < nc; i++) {
			short ev = pf[i + 2].revents;
			conn *c = of[i];
			if (ev == 0 || c->fd < 0)
				continue;
			if (c->out != NULL)
				conn_write(h, c);
			else
				conn_read(h, c);
		}
		if (pf[1].revents != 0)
			accept_all(h);
	}
	for (unsigned i = 0; i < OBS_HTTP_MAX_CONNECTIONS_CAP; i++)
		if (h->conns[i].fd >= 0)
			conn_close(h, &h->conns[i]);
	return NULL;
}

// ---- start / stop ----------------------------------------------------------------------------

// "host:port" or "[v6]:port" with a decimal port 0..65535; the host may be
// empty (all interfaces). Splits into host[] (brackets removed) and *port.
static int split_host_port(const char *s, char host[HOST_PORT_MAX + 1], int *port)
{
	const char *colon = strrchr(s, ':');
	unsigned long p = 0;
	if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) > 5)
		return -1;
	for (const char *q = colon + 1; *q != '\0'; q++) {
		if (*q < '0' || *q > '9')
			return -1;
		p = p * 10 + (unsigned long)(*q - '0');
	}
	if (p > 65535)
		return -1;
	const char *h = s;
	size_t hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 2 || colon[-1] != ']')
			return -1;
		h++;
		hl -= 2;
	} else if (memchr(s, ':', hl) != NULL) {
		return -1; // an IPv6 address needs brackets
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

static int listen_port(const char *host, int port, int *bound, char *err, size_t errcap,
                       const char *addr)
{
	char ps[8], why[160];
	snprintf(ps, sizeof ps, "%d", port);
	int fd = base_tcp_listen(host, ps, 128, bound, why, sizeof why);
	if (fd < 0)
		snprintf(err, errcap, "http %s: %s", addr, why);
	return fd;
}

int obs_http_start(obs_http **out, const char *host_port, obs_registry *reg, obs_ready_fn ready,
                   void *ready_arg, char *err, size_t errcap)
{
	char host[HOST_PORT_MAX + 1];
	int port;
	if (host_port == NULL || strlen(host_port) > HOST_PORT_MAX ||
	    split_host_port(host_port, host, &port) != 0) {
		snprintf(err, errcap, "http address '%s' is not host:port",
		         host_port != NULL ? host_port : "(null)");
		return -1;
	}
	obs_http *h = calloc(1, sizeof(*h));
	conn *conns = calloc(OBS_HTTP_MAX_CONNECTIONS_CAP, sizeof(*conns));
	if (h == NULL || conns == NULL) {
		free(h);
		free(conns);
		snprintf(err, errcap, "http %s: out of memory", host_port);
		return -1;
	}
	for (unsigned i = 0; i < OBS_HTTP_MAX_CONNECTIONS_CAP; i++)
		conns[i].fd = -1;
	h->conns = conns;
	h->reg = reg;
	h->ready = ready;
	h->ready_arg = ready_arg;
	atomic_init(&h->max_conns, OBS_HTTP_DEFAULT_MAX_CONNECTIONS);
	atomic_init(&h->timeout_ms, OBS_HTTP_DEFAULT_TIMEOUT_MS);
	pthread_mutex_init(&h->collect_mu, NULL);
	h->listen_fd = -1;
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->wake_fd < 0) {
		snprintf(err, errcap, "http %s: eventfd: %s", host_port, strerror(errno));
	} else if ((h->listen_fd = listen_port(host, port, &h->port, err, errcap, host_port)) >=
	           0) {
		if (pthread_create(&h->thread, NULL, serve_main, h) == 0) {
			pthread_setname_np(h->thread, "pd-http");
			h->started = true;
			*out = h;
			return 0;
		}
		snprintf(err, errcap, "http %s: cannot start its thread", host_port);
	}
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	pthread_mutex_destroy(&h->collect_mu);
	free(h->conns);
	free(h);
	return -1;
}

void obs_http_set_limits(obs_http *h, unsigned max_connections, int timeout_ms)
{
	if (max_connections < 1)
		max_connections = 1;
	if (max_connections > OBS_HTTP_MAX_CONNECTIONS_CAP)
		max_connections = OBS_HTTP_MAX_CONNECTIONS_CAP;
	atomic_store(&h->max_conns, max_connections);
	atomic_store(&h->timeout_ms, timeout_ms > 0 ? timeout_ms : OBS_HTTP_DEFAULT_TIMEOUT_MS);
}

void obs_http_stats(const obs_http *h, int *open, uint64_t *refused, uint64_t *timed_out)
{
	obs_http *m = (obs_http *)h;
	*open = atomic_load(&m->open);
	*refused = atomic_load(&m->refused);
	*timed_out = atomic_load(&m->timed_out);
}

void obs_http_set_collect(obs_http *h, obs_collect_fn collect, void *arg)
{
	pthread_mutex_lock(&h->collect_mu);
	h->collect = collect;
	h->collect_arg = arg;
	pthread_mutex_unlock(&h->collect_mu);
}

int obs_http_port(const obs_http *h)
{
	return h->port;
}

void obs_http_stop(obs_http *h)
{
	if (h == NULL)
		return;
	uint64_t one = 1;
	if (write(h->wake_fd, &one, sizeof one) != (ssize_t)sizeof one) {
		// an eventfd write fails only on overflow: the thread is woken already
	}
	pthread_join(h->thread, NULL);
	close(h->listen_fd);
	close(h->wake_fd);
	pthread_mutex_destroy(&h->collect_mu);
	free(h->conns);
	free(h);
}
