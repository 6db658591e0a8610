// gate link: see link.h.
#include "link.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bigend.h"
#include "base/evwrite.h"
#include "tlsclient.h"

#define SP_PROTO_REQ 0x30
#define SP_PROTO_REP 0x31
#define MAX_REPLY    (16u << 20) // a reply longer than this closes the link
#define READ_CHUNK   (64 * 1024)
#define ID_INDEX     (GATE_LINK_MAX_INFLIGHT - 1) // low bits of an id: the slot

enum state { CONNECTING, UP, DOWN };

typedef struct slot {
	void *ctx; // NULL: free, or withdrawn
	uint32_t id;
} slot;

struct gate_link {
	struct event_base *base;
	int fd;
	enum state st;
	bool greeted;
	gate_link_ops ops;
	struct event *rev, *wev, *tmo;
	struct evbuffer *in, *out;   // plaintext: replies to parse, requests to send
	gate_tls_conn *tls;          // NULL: plain TCP
	struct evbuffer *cin, *cout; // with TLS: ciphertext read, to write
	slot slots[GATE_LINK_MAX_INFLIGHT];
	uint32_t free_idx[GATE_LINK_MAX_INFLIGHT];
	unsigned nfree;
	unsigned inflight;
	uint32_t seq; // the high bits of the next id
	int depth;    // > 0 while calling out (a close then waits)
	bool zombie;  // closed during a call-out: freed when it returns
};

static void link_free(gate_link *l);

static const uint8_t req_greeting[8] = {0, 'S', 'P', 0, 0, SP_PROTO_REQ, 0, 0};

// Fails every pending request and marks the link down.
static void go_down(gate_link *l, bool notify)
{
	if (l->st == DOWN)
		return;
	// A request reached the backend only once the connection (and its TLS
	// session) was up.
	bool was_up = l->st == UP && (l->tls == NULL || gate_tls_ready(l->tls));
	l->st = DOWN;
	event_del(l->rev);
	event_del(l->wev);
	event_del(l->tmo);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->depth++;
	for (unsigned i = 0; i < GATE_LINK_MAX_INFLIGHT; i++) {
		void *ctx = l->slots[i].ctx;
		if (ctx == NULL)
			continue;
		l->slots[i].ctx = NULL;
		l->free_idx[l->nfree++] = i;
		l->inflight--;
		l->ops.on_fail(ctx, was_up);
	}
	if (notify && l->ops.on_down != NULL)
		l->ops.on_down(l->ops.owner, was_up);
	l->depth--;
}

// Frees a link closed during a call-out, once the call-out returned. True
// when it did (the caller must not touch l again).
static bool reap(gate_link *l)
{
	if (l->depth > 0 || !l->zombie)
		return false;
	link_free(l);
	return true;
}

// With TLS: runs the engine over what was read and what is queued. False
// when the session failed (the link went down).
static bool pump(gate_link *l)
{
	if (l->tls == NULL)
		return true;
	if (gate_tls_pump(l->tls, l->cin, l->in, l->out, l->cout) == 0)
		return true;
	go_down(l, true);
	return false;
}

static void flush(gate_link *l)
{
	if (l->st != UP || !pump(l))
		return;
	struct evbuffer *wire = l->tls != NULL ? l->cout : l->out;
	if (base_ev_write(wire, l->fd, l->wev) != 0)
		go_down(l, true);
}

static void parse_frames(gate_link *l);

static void parse(gate_link *l)
{
	l->depth++;
	parse_frames(l);
	l->depth--;
}

static void parse_frames(gate_link *l)
{
	if (!l->greeted) {
		uint8_t g[8];
		if (evbuffer_copyout(l->in, g, 8) < 8)
			return;
		if (g[0] != 0 || g[1] != 'S' || g[2] != 'P' || g[3] != 0 || g[4] != 0 ||
		    g[5] != SP_PROTO_REP || g[6] != 0 || g[7] != 0) {
			go_down(l, true); // not an SP REP server
			return;
		}
		evbuffer_drain(l->in, 8);
		l->greeted = true;
	}
	while (l->st == UP && !l->zombie) {
		size_t avail = evbuffer_get_length(l->in);
		uint8_t lb[8];
		if (avail < 8 || evbuffer_copyout(l->in, lb, 8) < 8)
			return;
		uint64_t len = base_be64_get(lb);
		if (len < 4 || len > MAX_REPLY) {
			go_down(l, true);
			return;
		}
		if (avail < 8 + len)
			return;
		const uint8_t *m = evbuffer_pullup(l->in, (ev_ssize_t)(8 + len));
		if (m == NULL) {
			go_down(l, true);
			return;
		}
		m += 8;
		uint32_t id = base_be32_get(m);
		slot *s = &l->slots[id & ID_INDEX];
		if (s->ctx != NULL && s->id == id) {
			void *ctx = s->ctx;
			s->ctx = NULL;
			l->free_idx[l->nfree++] = id & ID_INDEX;
			l->inflight--;
			l->ops.on_reply(ctx, m + 4, (size_t)len - 4);
		} // else: withdrawn, or not ours: dropped
		evbuffer_drain(l->in, 8 + len);
	}
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	gate_link *l = arg;
	int n = evbuffer_read(l->tls != NULL ? l->cin : l->in, fd, READ_CHUNK);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		go_down(l, true);
		reap(l);
		return;
	}
	l->depth++;
	if (l->tls != NULL)
		flush(l); // decrypts into `in`; handshake records and queued requests go out
	l->depth--;
	parse(l);
	reap(l);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	gate_link *l = arg;
	if (l->st == CONNECTING) {
		int e = 0;
		socklen_t elen = sizeof e;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0 || e != 0) {
			go_down(l, true); // refused: nothing was sent
			reap(l);
			return;
		}
		event_del(l->tmo);
		l->st = UP;
		event_add(l->rev, NULL);
	}
	l->depth++;
	flush(l);
	l->depth--;
	reap(l);
}

void gate_link_flush(gate_link *l)
{
	l->depth++;
	flush(l);
	l->depth--;
	reap(l);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	go_down(arg, true);
	reap(arg);
}

gate_link *gate_link_open(struct event_base *base, const struct sockaddr *addr, socklen_t alen,
                          gate_tls *tls, const gate_link_ops *ops)
{
	gate_link *l = calloc(1, sizeof *l);
	if (l == NULL)
		return NULL;
	l->base = base;
	l->ops = *ops;
	if (tls != NULL) {
		l->tls = gate_tls_conn_new(tls);
		l->cin = evbuffer_new();
		l->cout = evbuffer_new();
		if (l->tls == NULL || l->cin == NULL || l->cout == NULL) {
			l->st = DOWN;
			l->fd = -1;
			link_free(l);
			return NULL;
		}
	}
	l->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	l->in = evbuffer_new();
	l->out = evbuffer_new();
	if (l->fd >= 0) {
		l->rev = event_new(base, l->fd, EV_READ | EV_PERSIST, on_read, l);
		l->wev = event_new(base, l->fd, EV_WRITE, on_write, l);
		l->tmo = evtimer_new(base, on_timeout, l);
	}
	if (l->fd < 0 || l->in == NULL || l->out == NULL || l->rev == NULL || l->wev == NULL ||
	    l->tmo == NULL) {
		l->st = DOWN;
		gate_link_close(l);
		return NULL;
	}
	for (unsigned i = 0; i < GATE_LINK_MAX_INFLIGHT; i++)
		l->free_idx[i] = GATE_LINK_MAX_INFLIGHT - 1 - i;
	l->nfree = GATE_LINK_MAX_INFLIGHT;
	int one = 1;
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	evbuffer_add(l->out, req_greeting, sizeof req_greeting);
	l->st = CONNECTING;
	if (connect(l->fd, addr, alen) != 0 && errno != EINPROGRESS) {
		// Refused at once (e.g. loopback): shows as down on the first use.
		close(l->fd);
		l->fd = -1;
		l->st = DOWN;
		return l;
	}
	struct timeval tv = {GATE_LINK_CONNECT_MS / 1000, (GATE_LINK_CONNECT_MS % 1000) * 1000};
	event_add(l->wev, NULL);
	event_add(l->tmo, &tv);
	return l;
}

bool gate_link_usable(const gate_link *l)
{
	return l->st != DOWN && l->nfree > 0;
}

bool gate_link_dead(const gate_link *l)
{
	return l->st == DOWN;
}

unsigned gate_link_inflight(const gate_link *l)
{
	return l->inflight;
}

uint32_t gate_link_send(gate_link *l, const uint8_t *head, size_t hlen, const uint8_t *tail,
                        size_t tlen, void *ctx)
{
	if (!gate_link_usable(l))
		return 0;
	uint32_t idx = l->free_idx[--l->nfree];
	l->seq++;
	uint32_t id = 0x80000000u | ((l->seq << 10) & 0x7FFFFC00u) | idx;
	l->slots[idx].ctx = ctx;
	l->slots[idx].id = id;
	l->inflight++;
	uint8_t hdr[12];
	base_be64_put(hdr, 4 + hlen + tlen);
	base_be32_put(hdr + 8, id);
	evbuffer_add(l->out, hdr, sizeof hdr);
	if (hlen > 0)
		evbuffer_add(l->out, head, hlen);
	if (tlen > 0)
		evbuffer_add(l->out, tail, tlen);
	return id;
}

void gate_link_cancel(gate_link *l, uint32_t id)
{
	slot *s = &l->slots[id & ID_INDEX];
	if (s->ctx == NULL || s->id != id)
		return;
	s->ctx = NULL;
	l->free_idx[l->nfree++] = id & ID_INDEX;
	l->inflight--;
}

void gate_link_close(gate_link *l)
{
	if (l == NULL || l->zombie)
		return;
	go_down(l, false);
	l->zombie = true;
	reap(l);
}

static void link_free(gate_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	if (l->rev)
		event_free(l->rev);
	if (l->wev)
		event_free(l->wev);
	if (l->tmo)
		event_free(l->tmo);
	if (l->in)
		evbuffer_free(l->in);
	if (l->cin)
		evbuffer_free(l->cin);
	if (l->cout)
		evbuffer_free(l->cout);
	gate_tls_conn_free(l->tls);
	if (l->out)
		evbuffer_free(l->out);
	free(l);
}
