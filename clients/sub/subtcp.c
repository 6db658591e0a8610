// See subtcp.h.
#include "subtcp.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/bigend.h"
#include "base/bytebuf.h"
#include "base/tcplisten.h"

#define SP_PROTO_PUB    0x20
#define SP_PROTO_SUB    0x21
#define RETRY_MIN_MS    100
#define RETRY_MAX_MS    2000
#define READ_CHUNK      65536
#define OPEN_SETTLE_MS  200 // open waits this long at most for connects to finish
#define SUBTCP_HOST_MAX 256
#define SUBTCP_PORT_MAX 8

static const uint8_t sub_greeting[8] = {0, 'S', 'P', 0, 0, SP_PROTO_SUB, 0, 0};

typedef enum { C_IDLE, C_CONNECTING, C_GREETING, C_ACTIVE } cstate;

typedef struct conn {
	char host[SUBTCP_HOST_MAX];
	char port[SUBTCP_PORT_MAX];
	int fd;
	cstate st;
	int64_t retry_at_ms;
	int backoff_ms;
	uint8_t greet[8]; // the PUB's greeting, as it arrives
	size_t greet_n;
	base_bytebuf in; // received bytes
} conn;

struct propsub_tcp {
	conn *c;
	size_t n;
	size_t max_msg;
	size_t next; // the connection looked at first for a buffered message
	struct pollfd *pfd;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool propsub_tcp_serves_all(const char *const *urls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (urls[i] == NULL || strncmp(urls[i], "tcp://", 6) != 0)
			return false;
	return n > 0;
}

// host and port of tcp://host:port ([v6] without its brackets). 0 or -1.
static int split_url(const char *url, conn *c)
{
	if (base_hostport_split(url + 6, c->host, sizeof c->host, c->port, sizeof c->port) != 0)
		return -1;
	return c->host[0] != '\0' ? 0 : -1;
}

// The connection failed (or never opened): dial again after the back-off.
static void conn_fail(conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_IDLE;
	base_bytebuf_clear(&c->in);
	c->greet_n = 0;
	c->retry_at_ms = mono_ms() + c->backoff_ms;
	c->backoff_ms = c->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : c->backoff_ms * 2;
}

static void send_greeting(conn *c)
{
	// 8 bytes on a fresh connection: the socket buffer always takes them.
	if (send(c->fd, sub_greeting, sizeof sub_greeting, MSG_NOSIGNAL) !=
	    (ssize_t)sizeof sub_greeting) {
		conn_fail(c);
		return;
	}
	c->st = C_GREETING;
}

static void dial(conn *c)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	if (getaddrinfo(c->host, c->port, &hints, &ai) != 0 || ai == NULL) {
		conn_fail(c);
		return;
	}
	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = c->fd < 0 ? -1 : connect(c->fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc == 0)
		send_greeting(c);
	else if (c->fd >= 0 && errno == EINPROGRESS)
		c->st = C_CONNECTING;
	else
		conn_fail(c);
}

static void on_connected(conn *c)
{
	int e = 0;
	socklen_t el = sizeof e;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
		conn_fail(c);
		return;
	}
	send_greeting(c);
}

static void read_greeting(conn *c)
{
	ssize_t r = recv(c->fd, c->greet + c->greet_n, sizeof c->greet - c->greet_n, 0);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_fail(c);
		return;
	}
	if (r < 0)
		return;
	c->greet_n += (size_t)r;
	if (c->greet_n < sizeof c->greet)
		return;
	const uint8_t *g = c->greet;
	if (g[0] != 0 || g[1] != 'S' || g[2] != 'P' || g[3] != 0 || g[4] != 0 ||
	    g[5] != SP_PROTO_PUB || g[6] != 0 || g[7] != 0) {
		conn_fail(c); // not an nng PUB peer
		return;
	}
	c->st = C_ACTIVE;
	c->backoff_ms = RETRY_MIN_MS;
}

static void read_messages(propsub_tcp *t, conn *c)
{
	size_t need = READ_CHUNK;
	size_t have = base_bytebuf_pending(&c->in);
	if (have >= 8) { // a message is under way: room for all of it
		uint64_t m = base_be64_get(c->in.b + c->in.off);
		if (m <= t->max_msg && 8 + m > have + need)
			need = (size_t)(8 + m - have);
	}
	if (base_bytebuf_reserve(&c->in, need, READ_CHUNK) != 0) {
		conn_fail(c);
		return;
	}
	ssize_t r = recv(c->fd, c->in.b + c->in.len, c->in.cap - c->in.len, 0);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_fail(c);
		return;
	}
	if (r > 0)
		c->in.len += (size_t)r;
}

// The next whole message buffered on c: true with *body and *len. A message
// over the limit closes the connection.
static bool take(propsub_tcp *t, conn *c, const uint8_t **body, size_t *len)
{
	if (c->st != C_ACTIVE || base_bytebuf_pending(&c->in) < 8)
		return false;
	uint64_t m = base_be64_get(c->in.b + c->in.off);
	if (m > t->max_msg) {
		conn_fail(c);
		return false;
	}
	if (base_bytebuf_pending(&c->in) < 8 + m)
		return false;
	*body = c->in.b + c->in.off + 8;
	*len = (size_t)m;
	c->in.off += 8 + (size_t)m;
	return true;
}

// Waits up to ms for the connections being opened to finish connecting and
// greet, so that a publisher counts this subscriber before the first
// propsub_run (as nng's background dialer would).
static void settle(propsub_tcp *t, int ms)
{
	int64_t until = mono_ms() + ms;
	for (;;) {
		size_t waiting = 0;
		for (size_t i = 0; i < t->n; i++) {
			conn *c = &t->c[i];
			waiting += c->st == C_CONNECTING;
			t->pfd[i] = (struct pollfd){.fd = c->st == C_CONNECTING ? c->fd : -1,
			                            .events = POLLOUT};
		}
		int64_t left = until - mono_ms();
		if (waiting == 0 || left <= 0)
			return;
		if (poll(t->pfd, t->n, (int)left) <= 0)
			return;
		for (size_t i = 0; i < t->n; i++)
			if (t->pfd[i].revents != 0)
				on_connected(&t->c[i]);
	}
}

int propsub_tcp_open(propsub_tcp **out, const char *const *urls, size_t n, size_t max_msg,
                     char *err, size_t errcap)
{
	propsub_tcp *t = calloc(1, sizeof *t);
	if (t == NULL || (t->c = calloc(n, sizeof *t->c)) == NULL ||
	    (t->pfd = calloc(n, sizeof *t->pfd)) == NULL) {
		snprintf(err, errcap, "propsub: out of memory");
		propsub_tcp_close(t);
		return -1;
	}
	t->n = n;
	t->max_msg = max_msg;
	for (size_t i = 0; i < n; i++) {
		t->c[i].fd = -1;
		t->c[i].backoff_ms = RETRY_MIN_MS;
	}
	for (size_t i = 0; i < n; i++) {
		if (split_url(urls[i], &t->c[i]) != 0) {
			snprintf(err, errcap, "propsub: events URL %s: want tcp://host:port",
			         urls[i]);
			propsub_tcp_close(t);
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++)
		dial(&t->c[i]);
	settle(t, OPEN_SETTLE_MS);
	*out = t;
	return 0;
}

// Handles what poll reported for connection i.
static void on_ready(propsub_tcp *t, size_t i, short re)
{
	conn *c = &t->c[i];
	if (re == 0)
		return;
	switch (c->st) {
	case C_CONNECTING:
		on_connected(c);
		break;
	case C_GREETING:
		read_greeting(c);
		break;
	case C_ACTIVE:
		read_messages(t, c);
		break;
	case C_IDLE:
		break;
	}
}

int propsub_tcp_recv(propsub_tcp *t, int timeout_ms, const uint8_t **body, size_t *len)
{
	int64_t until = mono_ms() + timeout_ms;
	for (;;) {
		for (size_t k = 0; k < t->n; k++) {
			size_t i = (t->next + k) % t->n;
			if (take(t, &t->c[i], body, len)) {
				t->next = i;
				return 0;
			}
		}
		int64_t now = mono_ms();
		int64_t wait = until - now;
		for (size_t i = 0; i < t->n; i++) {
			conn *c = &t->c[i];
			if (c->st == C_IDLE && c->retry_at_ms <= now)
				dial(c);
			if (c->st == C_IDLE && c->retry_at_ms - now < wait)
				wait = c->retry_at_ms - now;
			t->pfd[i] = (struct pollfd){
			    .fd = c->st == C_IDLE ? -1 : c->fd,
			    .events = (short)(c->st == C_CONNECTING ? POLLOUT : POLLIN)};
		}
		if (until - now <= 0)
			return 1;
		if (wait < 0)
			wait = 0;
		int rc = poll(t->pfd, t->n, (int)wait);
		if (rc < 0 && errno != EINTR)
			return 1;
		for (size_t i = 0; rc > 0 && i < t->n; i++)
			on_ready(t, i, t->pfd[i].revents);
	}
}

size_t propsub_tcp_connected(const propsub_tcp *t)
{
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++)
		k += t->c[i].st == C_ACTIVE;
	return k;
}

void propsub_tcp_close(propsub_tcp *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; t->c != NULL && i < t->n; i++) {
		if (t->c[i].fd >= 0)
			close(t->c[i].fd);
		free(t->c[i].in.b);
	}
	free(t->c);
	free(t->pfd);
	free(t);
}
