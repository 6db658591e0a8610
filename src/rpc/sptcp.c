// rpc sptcp: see sptcp.h.
#include "sptcp.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nng/nng.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/bigend.h"
#include "base/clock.h"
#include "base/evwrite.h"
#include "base/ioloop.h"
#include "base/ratelimit.h"
#include "base/tcplisten.h"
#include "serve.h"
#include "sptls.h"

#define SP_PROTO_REQ   0x30 // nng's REQ v0: the only peer REP talks to
#define SP_PROTO_REP   0x31
#define SP_MAX_HOPS    8           // nng's default max TTL of a backtrace
#define READ_CHUNK     (64 * 1024) // bytes read per readiness
#define FREE_CALLS_MAX 256         // call slots kept per loop for reuse

typedef struct conn conn;
typedef struct sloop sloop;

// One request's call slot; the nrpc_call must stay the first member.
typedef struct ncall {
	struct nrpc_call call;
	base_ioloop_task task; // delivery from another thread
	conn *cn;
	nng_msg *reply;
	uint8_t bt[SP_MAX_HOPS * 4]; // the request's backtrace, echoed in the reply
	size_t btlen;
	struct ncall *next_free;
} ncall;

struct conn {
	sloop *lp;
	int fd;
	int refs;     // 1 while open, +1 per call in flight, +1 while parsing or dirty
	int inflight; // calls received and not yet delivered
	struct event *rev, *wev;
	struct event *greet_ev;    // closes a connection that does not greet in time
	struct evbuffer *in, *out; // the SP byte stream (plaintext)
	// What goes over the socket: `out` itself on a plain connection; under
	// TLS `raw` holds ciphertext read and `wire` ciphertext to write.
	struct evbuffer *raw, *wire;
	nrpc_sptls_conn *tls; // NULL: plain tcp://; freed with the connection
	bool greeted;         // the peer's greeting was checked
	bool dead;            // closed: fd and events gone; freed with the last reference
	bool paused;          // not read while SPTCP_MAX_INFLIGHT calls are in flight
	bool throttled;       // not read until greet_ev fires: too many refusals
	int64_t refusal_tat;  // base_ratelimit state of the refusals it drew
	bool parsing;         // replies wait for the flush at the end of the parse
	bool dirty;           // on the loop's flush list
	conn *next_dirty;
	conn *prev, *next; // the loop's connections
};

struct sloop {
	nrpc_sptcp *t;
	base_ioloop *io;
	int index;
	struct event *flush_ev; // runs after the callbacks of this pass
	conn *dirty;            // connections with replies to write
	conn *conns;
	ncall *free;
	unsigned nfree;
};

struct nrpc_sptcp {
	struct nrpc_server *srv;
	int listen_fd;
	struct event *accept_ev; // on loop 0
	sloop *loops;
	unsigned nloops;
	unsigned next; // round robin (loop 0's thread only)
	nrpc_connlimit *cl;
	nrpc_sptls_ctx *tls; // tls+tcp:// only
	int greet_ms;        // a connection must greet within this
};

// Accepted connection on its way to another loop.
typedef struct handoff {
	base_ioloop_task task;
	sloop *lp;
	int fd;
} handoff;

static const uint8_t rep_greeting[8] = {0, 'S', 'P', 0, 0, SP_PROTO_REP, 0, 0};

static void conn_parse(conn *cn);
static void conn_flush(conn *cn);

// ---- call slots -----------------------------------------------------------------------------

static void deliver(struct nrpc_call *c, nng_msg *reply);

static ncall *ncall_get(sloop *lp)
{
	ncall *nc = lp->free;
	if (nc != NULL) {
		lp->free = nc->next_free;
		lp->nfree--;
		return nc;
	}
	nc = calloc(1, sizeof *nc);
	if (nc == NULL)
		return NULL;
	nrpc_call_seed(&nc->call);
	nc->call.c_deliver = deliver;
	nc->call.c_slot = nc;
	nc->call.c_server = lp->t->srv;
	nc->call.c_loop = lp->index;
	return nc;
}

static void ncall_put(sloop *lp, ncall *nc)
{
	if (lp->nfree >= FREE_CALLS_MAX) {
		free(nc);
		return;
	}
	nc->next_free = lp->free;
	lp->free = nc;
	lp->nfree++;
}

// ---- connections ----------------------------------------------------------------------------

// Frees the buffers and TLS state of a connection (any of them may be NULL).
static void conn_free(conn *cn)
{
	if (cn->wire != NULL && cn->wire != cn->out)
		evbuffer_free(cn->wire);
	if (cn->raw != NULL)
		evbuffer_free(cn->raw);
	if (cn->in != NULL)
		evbuffer_free(cn->in);
	if (cn->out != NULL)
		evbuffer_free(cn->out);
	nrpc_sptls_conn_free(cn->tls); // the peer identity of its calls goes with it
	free(cn);
}

static void conn_unref(conn *cn)
{
	if (--cn->refs > 0)
		return;
	conn_free(cn);
}

static void conn_close(conn *cn)
{
	if (cn->dead)
		return;
	cn->dead = true;
	event_free(cn->rev);
	event_free(cn->wev);
	event_free(cn->greet_ev);
	close(cn->fd);
	cn->fd = -1;
	if (cn->prev != NULL)
		cn->prev->next = cn->next;
	else
		cn->lp->conns = cn->next;
	if (cn->next != NULL)
		cn->next->prev = cn->prev;
	atomic_fetch_sub(&cn->lp->t->cl->open, 1);
	conn_unref(cn);
}

// Writes what the socket takes now; the rest waits for writability. Under
// TLS the plaintext is sealed first (once the handshake is done).
static void conn_flush(conn *cn)
{
	if (cn->dead)
		return;
	if (cn->tls != NULL && nrpc_sptls_seal(cn->tls, cn->out, cn->wire) != 0) {
		conn_close(cn);
		return;
	}
	if (base_ev_write(cn->wire, cn->fd, cn->wev) != 0)
		conn_close(cn);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sloop *lp = arg;
	while (lp->dirty != NULL) {
		conn *cn = lp->dirty;
		lp->dirty = cn->next_dirty;
		cn->dirty = false;
		conn_flush(cn);
		conn_unref(cn); // the flush list's reference
	}
}

// Queues a flush of cn for the end of this pass of the loop: the replies that
// become ready meanwhile (a batch of Redis answers, a read of many requests)
// leave together.
static void conn_mark_dirty(conn *cn)
{
	if (cn->dirty || cn->dead)
		return;
	cn->dirty = true;
	cn->refs++;
	cn->next_dirty = cn->lp->dirty;
	cn->lp->dirty = cn;
	event_active(cn->lp->flush_ev, EV_TIMEOUT, 0);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	conn *cn = arg;
	int n = evbuffer_read(cn->tls != NULL ? cn->raw : cn->in, fd, READ_CHUNK);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		conn_close(cn);
		return;
	}
	if (cn->tls != NULL && nrpc_sptls_feed(cn->tls, cn->raw, cn->in, cn->wire) != 0) {
		// Refused or broken: one try to hand the peer its alert, then close.
		if (evbuffer_get_length(cn->wire) > 0)
			(void)evbuffer_write(cn->wire, fd);
		conn_close(cn);
		return;
	}
	conn_parse(cn); // also flushes: the handshake's answer, or the greeting once done
}

// Serves the complete requests in the input buffer.
static void conn_parse(conn *cn)
{
	nrpc_sptcp *t = cn->lp->t;
	cn->refs++;
	cn->parsing = true;
	if (!cn->greeted) {
		uint8_t g[8];
		if (evbuffer_copyout(cn->in, g, 8) < 8)
			goto out;
		if (g[0] != 0 || g[1] != 'S' || g[2] != 'P' || g[3] != 0 || g[4] != 0 ||
		    g[5] != SP_PROTO_REQ || g[6] != 0 || g[7] != 0) {
			conn_close(cn); // not an nng REQ peer
			goto out;
		}
		evbuffer_drain(cn->in, 8);
		cn->greeted = true;
		event_del(cn->greet_ev);
	}
	while (!cn->dead) {
		if (nrpc_server_closing(t->srv)) {
			event_del(cn->rev); // draining: nothing new is read
			break;
		}
		if (cn->throttled)
			break; // reading resumes when greet_ev fires
		if (cn->inflight >= SPTCP_MAX_INFLIGHT) {
			event_del(cn->rev);
			cn->paused = true;
			break;
		}
		size_t avail = evbuffer_get_length(cn->in);
		uint8_t lb[8];
		if (avail < 8 || evbuffer_copyout(cn->in, lb, 8) < 8)
			break;
		uint64_t len = base_be64_get(lb);
		if (len > NRPC_MAX_MESSAGE) {
			conn_close(cn); // nng drops a peer that sends more than RECVMAXSZ
			break;
		}
		if (avail < 8 + len)
			break;
		const uint8_t *m = evbuffer_pullup(cn->in, (ev_ssize_t)(8 + len));
		if (m == NULL) {
			conn_close(cn);
			break;
		}
		m += 8;
		// The backtrace: 32-bit words up to the first with its top bit set
		// (the request id); the rest is the body.
		size_t bt = 0;
		bool ok = false;
		while (bt + 4 <= len && bt < sizeof(((ncall *)0)->bt)) {
			uint8_t top = m[bt];
			bt += 4;
			if (top & 0x80) {
				ok = true;
				break;
			}
		}
		if (!ok) {
			conn_close(cn); // nng kicks a peer speaking garbage
			break;
		}
		ncall *nc = ncall_get(cn->lp);
		if (nc == NULL) {
			conn_close(cn); // out of memory: the client's deadline answers
			break;
		}
		nc->cn = cn;
		// The connection outlives the call (it holds a reference per call).
		nc->call.c_peer = cn->tls != NULL ? nrpc_sptls_peer(cn->tls) : NULL;
		memcpy(nc->bt, m, bt);
		nc->btlen = bt;
		cn->refs++;
		cn->inflight++;
		nrpc_server_serve(t->srv, &nc->call, m + bt, (size_t)len - bt);
		evbuffer_drain(cn->in, 8 + len);
	}
out:
	cn->parsing = false;
	conn_flush(cn);
	conn_unref(cn);
}

static void resume(conn *cn)
{
	cn->paused = false;
	if (cn->throttled)
		return; // greet_ev resumes it
	event_add(cn->rev, NULL);
	event_active(cn->rev, EV_READ, 0); // parse what is buffered already
}

// Stops reading cn for wait_us; the greeting timer, idle once the peer
// greeted, resumes it (on_greet_timeout).
static void pause_conn(conn *cn, int64_t wait_us)
{
	if (wait_us <= 0 || cn->throttled || cn->dead)
		return;
	struct timeval tv = {(time_t)(wait_us / 1000000), (suseconds_t)(wait_us % 1000000)};
	if (evtimer_add(cn->greet_ev, &tv) != 0)
		return;
	cn->throttled = true;
	event_del(cn->rev);
	atomic_fetch_add(&cn->lp->t->cl->throttled, 1);
}

// A reply that refuses (8 or 16) counts against the connection's refusal
// rate (base/ratelimit.h), or, refused for its caller's share, the caller's
// (the pause the callers table computed): beyond it, reading pauses until the
// rate allows the next one, so a client that keeps sending what is refused
// costs a bounded share of its loop.
static void count_refusal(conn *cn, int64_t caller_pause_us)
{
	if (caller_pause_us > 0) {
		pause_conn(cn, caller_pause_us); // the caller is over its refusal rate
		return;
	}
	pause_conn(
	    cn, base_ratelimit_take(&cn->refusal_tat, cn->lp->t->cl->refusal_rate, base_now_us()));
}

// ---- replies --------------------------------------------------------------------------------

static void deliver_here(ncall *nc)
{
	conn *cn = nc->cn;
	sloop *lp = cn->lp;
	nng_msg *reply = nc->reply;
	if (reply != NULL && !cn->dead) {
		uint8_t hdr[8];
		size_t blen = nng_msg_len(reply);
		base_be64_put(hdr, nc->btlen + blen);
		evbuffer_add(cn->out, hdr, 8);
		evbuffer_add(cn->out, nc->bt, nc->btlen);
		evbuffer_add(cn->out, nng_msg_body(reply), blen);
		if (!cn->parsing)
			conn_mark_dirty(cn);
	}
	if (reply != NULL)
		nng_msg_free(reply);
	nc->reply = NULL;
	if (nc->call.c_code == NRPC_RESOURCE_EXHAUSTED || nc->call.c_code == NRPC_UNAUTHENTICATED)
		count_refusal(cn, nc->call.c_pause_us);
	nrpc_server_delivered(lp->t->srv);
	ncall_put(lp, nc);
	cn->inflight--;
	if (cn->paused && !cn->dead && cn->inflight < SPTCP_MAX_INFLIGHT / 2)
		resume(cn);
	conn_unref(cn);
}

static void deliver_task(base_ioloop_task *task)
{
	deliver_here((ncall *)(void *)((char *)task - offsetof(ncall, task)));
}

static void deliver(struct nrpc_call *c, nng_msg *reply)
{
	ncall *nc = c->c_slot;
	sloop *lp = nc->cn->lp;
	nc->reply = reply;
	if (base_ioloop_on_thread(lp->io)) {
		deliver_here(nc);
		return;
	}
	nc->task.fn = deliver_task;
	if (base_ioloop_try_post(lp->io, &nc->task))
		return;
	// The loop has stopped (shutdown): nothing runs on it any more, so this
	// thread may finish the call; the reply has no one left to take it.
	if (reply != NULL)
		nng_msg_free(reply);
	nrpc_server_delivered(lp->t->srv);
	nc->cn->inflight--;
	conn_unref(nc->cn); // no loop thread runs any more: this one may
	free(nc);
}

// A connection that has not greeted (nor finished its TLS handshake) in time;
// once greeted, the end of a refusal pause (count_refusal).
static void on_greet_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn *cn = arg;
	if (cn->dead)
		return;
	if (cn->greeted) {
		if (cn->throttled) {
			cn->throttled = false;
			if (!cn->paused && !nrpc_server_closing(cn->lp->t->srv)) {
				event_add(cn->rev, NULL);
				event_active(cn->rev, EV_READ, 0);
			}
		}
		return;
	}
	atomic_fetch_add(&cn->lp->t->cl->timed_out, 1);
	conn_close(cn);
}

// ---- accepting ------------------------------------------------------------------------------

static void conn_open(sloop *lp, int fd)
{
	struct event_base *base = base_ioloop_base(lp->io);
	conn *cn = calloc(1, sizeof *cn);
	bool tls_ok = true;
	if (cn != NULL) {
		cn->lp = lp;
		cn->fd = fd;
		cn->refs = 1;
		cn->in = evbuffer_new();
		cn->out = evbuffer_new();
		cn->wire = cn->out;
		if (lp->t->tls != NULL) {
			cn->raw = evbuffer_new();
			cn->wire = evbuffer_new();
			cn->tls = nrpc_sptls_conn_new(lp->t->tls);
			tls_ok = cn->raw != NULL && cn->wire != NULL && cn->tls != NULL;
		}
		cn->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, cn);
		cn->wev = event_new(base, fd, EV_WRITE, on_write, cn);
		cn->greet_ev = evtimer_new(base, on_greet_timeout, cn);
	}
	struct timeval greet = {lp->t->greet_ms / 1000, (lp->t->greet_ms % 1000) * 1000};
	if (cn == NULL || cn->in == NULL || cn->out == NULL || !tls_ok || cn->rev == NULL ||
	    cn->wev == NULL || cn->greet_ev == NULL || event_add(cn->rev, NULL) != 0 ||
	    evtimer_add(cn->greet_ev, &greet) != 0) {
		if (cn != NULL) {
			if (cn->rev)
				event_free(cn->rev);
			if (cn->wev)
				event_free(cn->wev);
			if (cn->greet_ev)
				event_free(cn->greet_ev);
			conn_free(cn);
		}
		close(fd);
		atomic_fetch_sub(&lp->t->cl->open, 1);
		return;
	}
	cn->next = lp->conns;
	if (lp->conns != NULL)
		lp->conns->prev = cn;
	lp->conns = cn;
	// Under TLS the greeting waits in `out` until the handshake is done.
	evbuffer_add(cn->out, rep_greeting, sizeof rep_greeting);
	conn_flush(cn);
}

static void handoff_task(base_ioloop_task *task)
{
	handoff *h = (handoff *)(void *)task;
	conn_open(h->lp, h->fd);
	free(h);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	nrpc_sptcp *t = arg;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; // EAGAIN; or out of descriptors: tried again on the next readiness
		nrpc_connlimit *cl = t->cl;
		if (cl->limit > 0 && atomic_load(&cl->open) >= (int)cl->limit) {
			atomic_fetch_add(&cl->refused, 1);
			close(fd);
			continue;
		}
		atomic_fetch_add(&cl->open, 1);
		atomic_fetch_add(&cl->admitted, 1);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		sloop *lp = &t->loops[t->next++ % t->nloops];
		if (lp->index == 0) {
			conn_open(lp, fd);
			continue;
		}
		handoff *h = malloc(sizeof *h);
		if (h == NULL) {
			close(fd);
			atomic_fetch_sub(&cl->open, 1);
			continue;
		}
		h->task.fn = handoff_task;
		h->lp = lp;
		h->fd = fd;
		if (!base_ioloop_try_post(lp->io, &h->task)) {
			free(h);
			close(fd);
			atomic_fetch_sub(&cl->open, 1);
		}
	}
}

// ---- start / stop ---------------------------------------------------------------------------

bool nrpc_sptcp_serves(const char *url)
{
	return strncmp(url, "tcp://", 6) == 0 || strncmp(url, "tls+tcp://", 10) == 0;
}

static int listen_on(const char *url, char *err, size_t errcap)
{
	if (!nrpc_sptcp_serves(url)) {
		snprintf(err, errcap, "%s: not a tcp:// or tls+tcp:// URL", url);
		return -1;
	}
	return base_tcp_listen_url(url, "tcp://host:port or tls+tcp://host:port", 1024, err,
	                           errcap);
}

static void setup_loop(void *arg)
{
	sloop *lp = arg;
	lp->flush_ev = event_new(base_ioloop_base(lp->io), -1, 0, on_flush, lp);
}

static void setup_accept(void *arg)
{
	nrpc_sptcp *t = arg;
	t->accept_ev = event_new(base_ioloop_base(t->loops[0].io), t->listen_fd,
	                         EV_READ | EV_PERSIST, on_accept, t);
	if (t->accept_ev != NULL)
		event_add(t->accept_ev, NULL);
}

int nrpc_sptcp_start(nrpc_sptcp **out, struct nrpc_server *srv, const char *url,
                     const nrpc_tls *tls, struct base_ioloop *const *loops, unsigned nloops,
                     nrpc_connlimit *cl, int greet_ms, char *err, size_t errcap)
{
	*out = NULL;
	if (nloops == 0) {
		snprintf(err, errcap, "no event loop for %s", url);
		return -1;
	}
	nrpc_sptcp *t = calloc(1, sizeof *t);
	sloop *ls = calloc(nloops, sizeof *ls);
	if (t == NULL || ls == NULL) {
		free(t);
		free(ls);
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	t->srv = srv;
	t->cl = cl;
	t->greet_ms = greet_ms > 0 ? greet_ms : 10000;
	t->loops = ls;
	t->nloops = nloops;
	t->listen_fd = -1;
	if (strncmp(url, "tls+", 4) == 0 && nrpc_sptls_ctx_create(&t->tls, tls, err, errcap) != 0) {
		free(ls);
		free(t);
		return -1;
	}
	t->listen_fd = listen_on(url, err, errcap);
	if (t->listen_fd < 0) {
		nrpc_sptls_ctx_free(t->tls);
		free(ls);
		free(t);
		return -1;
	}
	bool ok = true;
	for (unsigned i = 0; i < nloops; i++) {
		ls[i].t = t;
		ls[i].io = loops[i];
		ls[i].index = (int)i;
		base_ioloop_call(loops[i], setup_loop, &ls[i]);
		ok = ok && ls[i].flush_ev != NULL;
	}
	if (ok)
		base_ioloop_call(loops[0], setup_accept, t);
	if (!ok || t->accept_ev == NULL) {
		snprintf(err, errcap, "cannot register %s on the event loops", url);
		nrpc_sptcp_destroy(t);
		return -1;
	}
	*out = t;
	return 0;
}

static void teardown_loop(void *arg)
{
	sloop *lp = arg;
	nrpc_sptcp *t = lp->t;
	if (lp->index == 0 && t->accept_ev != NULL) {
		event_free(t->accept_ev);
		t->accept_ev = NULL;
	}
	while (lp->dirty != NULL) { // flushes that never ran
		conn *cn = lp->dirty;
		lp->dirty = cn->next_dirty;
		cn->dirty = false;
		conn_unref(cn);
	}
	while (lp->conns != NULL)
		conn_close(lp->conns); // freed now, or when their last call ends
	if (lp->flush_ev != NULL)
		event_free(lp->flush_ev);
	lp->flush_ev = NULL;
	while (lp->free != NULL) {
		ncall *nc = lp->free;
		lp->free = nc->next_free;
		free(nc);
	}
	lp->nfree = 0;
}

void nrpc_sptcp_destroy(nrpc_sptcp *t)
{
	if (t == NULL)
		return;
	for (unsigned i = 0; i < t->nloops; i++)
		if (t->loops[i].io != NULL)
			base_ioloop_call(t->loops[i].io, teardown_loop, &t->loops[i]);
	if (t->listen_fd >= 0)
		close(t->listen_fd);
	nrpc_sptls_ctx_free(t->tls); // connections still alive keep their own hold on it
	free(t->loops);
	free(t);
}
