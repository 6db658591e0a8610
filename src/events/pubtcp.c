// See pubtcp.h.
#include "events/pubtcp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/bytebuf.h"
#include "base/clock.h"
#include "base/tcplisten.h"

#define SP_PROTO_PUB 0x20
#define SP_PROTO_SUB 0x21
#define IDLE_POLL_MS 1000

static const uint8_t pub_greeting[8] = {0, 'S', 'P', 0, 0, SP_PROTO_PUB, 0, 0};

typedef struct sub {
	int fd;
	bool greeted;
	uint8_t greet[8]; // the peer's greeting, as it arrives
	size_t greet_n;
	int64_t greet_by_ms; // closed if not greeted by then
	base_bytebuf out;
} sub;

struct events_pubtcp {
	int listen_fd;
	int wake_fd; // eventfd: a batch was queued, or stop
	unsigned max;
	nrpc_connlimit *cl;
	pthread_t thread;
	atomic_bool stop;
	_Atomic uint64_t dropped;

	pthread_mutex_t mu;
	base_bytebuf in; // under mu: batches not yet taken by the thread

	// The thread's own.
	sub *subs;
	size_t n_subs, cap_subs;
	base_bytebuf batch; // the batches taken from `in`
	struct pollfd *pfds;
};

bool events_pubtcp_serves(const char *url)
{
	return url != NULL && strncmp(url, "tcp://", 6) == 0;
}

static void sub_close(events_pubtcp *p, size_t i)
{
	close(p->subs[i].fd);
	free(p->subs[i].out.b);
	p->subs[i] = p->subs[--p->n_subs];
	atomic_fetch_sub(&p->cl->open, 1);
}

static void accept_all(events_pubtcp *p)
{
	for (;;) {
		int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; // EAGAIN, or a transient error (retried on the next wake)
		if (p->max > 0 && p->n_subs >= p->max) {
			atomic_fetch_add(&p->cl->refused, 1);
			close(fd);
			continue;
		}
		if (p->n_subs == p->cap_subs) {
			size_t cap = p->cap_subs ? 2 * p->cap_subs : 8;
			sub *s = realloc(p->subs, cap * sizeof *s);
			struct pollfd *f = realloc(p->pfds, (cap + 2) * sizeof *f);
			if (s != NULL)
				p->subs = s;
			if (f != NULL)
				p->pfds = f;
			if (s == NULL || f == NULL) {
				close(fd);
				continue;
			}
			p->cap_subs = cap;
		}
		// Each write is a whole claim, sent at once: Nagle would hold a
		// small one back until the previous one is acknowledged (up to the
		// peer's delayed ACK, 40 ms). nng's pipes set the same.
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		sub *s = &p->subs[p->n_subs++];
		*s = (sub){.fd = fd, .greet_by_ms = base_now_ms() + PUBTCP_GREET_MS};
		atomic_fetch_add(&p->cl->open, 1);
		atomic_fetch_add(&p->cl->admitted, 1);
		if (base_bytebuf_add(&s->out, pub_greeting, sizeof pub_greeting) != 0)
			sub_close(p, p->n_subs - 1);
	}
}

// Reads what the peer sent: its greeting, then nothing (ignored). False when
// the connection is to be closed.
static bool sub_read(sub *s)
{
	uint8_t buf[512];
	for (;;) {
		ssize_t n = recv(s->fd, buf, sizeof buf, 0);
		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		size_t k = 0;
		while (!s->greeted && k < (size_t)n) {
			s->greet[s->greet_n++] = buf[k++];
			if (s->greet_n == sizeof s->greet) {
				const uint8_t *g = s->greet;
				if (g[0] != 0 || g[1] != 'S' || g[2] != 'P' || g[3] != 0 ||
				    g[4] != 0 || g[5] != SP_PROTO_SUB || g[6] != 0 || g[7] != 0)
					return false; // not an nng SUB peer
				s->greeted = true;
			}
		}
	}
}

// Writes what is pending. False when the connection is to be closed.
static bool sub_write(sub *s)
{
	while (base_bytebuf_pending(&s->out) > 0) {
		ssize_t n =
		    send(s->fd, s->out.b + s->out.off, base_bytebuf_pending(&s->out), MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		s->out.off += (size_t)n;
	}
	base_bytebuf_clear(&s->out);
	return true;
}

// Takes the queued batches and hands them to every greeted subscriber with
// room for them.
static void fan_out(events_pubtcp *p)
{
	uint64_t v;
	while (read(p->wake_fd, &v, sizeof v) > 0)
		;
	pthread_mutex_lock(&p->mu);
	base_bytebuf t = p->in;
	p->in = p->batch;
	pthread_mutex_unlock(&p->mu);
	p->batch = t;
	if (base_bytebuf_pending(&p->batch) == 0)
		return;
	for (size_t i = 0; i < p->n_subs; i++) {
		sub *s = &p->subs[i];
		if (!s->greeted)
			continue;
		if (base_bytebuf_pending(&s->out) + base_bytebuf_pending(&p->batch) >
		        PUBTCP_BACKLOG_MAX ||
		    base_bytebuf_add(&s->out, p->batch.b + p->batch.off,
		                     base_bytebuf_pending(&p->batch)) != 0)
			atomic_fetch_add(&p->dropped, 1);
	}
	base_bytebuf_clear(&p->batch);
}

static bool any_pending(const events_pubtcp *p)
{
	for (size_t i = 0; i < p->n_subs; i++)
		if (base_bytebuf_pending(&p->subs[i].out) > 0)
			return true;
	return false;
}

// One pass: waits for I/O (at most until the next greeting deadline), then
// reads, accepts, fans out and writes.
static void pass(events_pubtcp *p, int timeout_ms)
{
	int64_t now = base_now_ms();
	for (size_t i = 0; i < p->n_subs; i++) {
		const sub *s = &p->subs[i];
		if (!s->greeted && s->greet_by_ms - now < timeout_ms)
			timeout_ms = (int)(s->greet_by_ms > now ? s->greet_by_ms - now : 0);
	}
	struct pollfd *f = p->pfds;
	f[0] = (struct pollfd){.fd = p->wake_fd, .events = POLLIN};
	f[1] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
	for (size_t i = 0; i < p->n_subs; i++)
		f[i + 2] = (struct pollfd){
		    .fd = p->subs[i].fd,
		    .events = (short)(POLLIN |
		                      (base_bytebuf_pending(&p->subs[i].out) > 0 ? POLLOUT : 0))};
	size_t n = p->n_subs; // accept_all may add some (and move the array)
	if (poll(f, n + 2, timeout_ms) < 0 && errno != EINTR)
		return;
	now = base_now_ms();
	// Back to front: closing moves the last subscriber into the closed one's slot.
	for (size_t i = n; i-- > 0;) {
		sub *s = &p->subs[i];
		short re = p->pfds[i + 2].revents;
		bool ok = true;
		if (re & (POLLIN | POLLHUP | POLLERR))
			ok = sub_read(s);
		if (ok && !s->greeted && now >= s->greet_by_ms)
			ok = false;
		if (!ok)
			sub_close(p, i);
	}
	if (p->pfds[1].revents & POLLIN)
		accept_all(p);
	if (p->pfds[0].revents & POLLIN)
		fan_out(p);
	for (size_t i = p->n_subs; i-- > 0;)
		if (base_bytebuf_pending(&p->subs[i].out) > 0 && !sub_write(&p->subs[i]))
			sub_close(p, i);
}

static void *pub_main(void *arg)
{
	events_pubtcp *p = arg;
	while (!atomic_load(&p->stop))
		pass(p, IDLE_POLL_MS);
	// Linger: what was queued before the stop still goes out, briefly.
	fan_out(p);
	int64_t until = base_now_ms() + PUBTCP_LINGER_MS;
	while (any_pending(p) && base_now_ms() < until)
		pass(p, 10);
	while (p->n_subs > 0)
		sub_close(p, p->n_subs - 1);
	return NULL;
}

int events_pubtcp_start(events_pubtcp **out, const char *url, unsigned max, nrpc_connlimit *cl,
                        char *err, size_t errcap)
{
	events_pubtcp *p = calloc(1, sizeof *p);
	if (p == NULL) {
		snprintf(err, errcap, "events socket: out of memory");
		return -1;
	}
	p->max = max;
	p->cl = cl;
	cl->limit = max;
	atomic_init(&cl->open, 0);
	atomic_init(&cl->refused, 0);
	atomic_init(&cl->admitted, 0);
	p->wake_fd = -1;
	p->pfds = calloc(2, sizeof *p->pfds);
	if (p->pfds == NULL || pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p->pfds);
		free(p);
		snprintf(err, errcap, "events socket: out of memory");
		return -1;
	}
	char why[256];
	if ((p->listen_fd = base_tcp_listen_url(url, "tcp://host:port", 128, why, sizeof why)) <
	    0) {
		snprintf(err, errcap, "events socket: %s", why);
		goto fail;
	}
	if ((p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, errcap, "events socket: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&p->thread, NULL, pub_main, p) != 0) {
		snprintf(err, errcap, "events socket: cannot start its thread");
		goto fail;
	}
	pthread_setname_np(p->thread, "pd-pub");
	*out = p;
	return 0;
fail:
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	pthread_mutex_destroy(&p->mu);
	free(p->pfds);
	free(p);
	return -1;
}

static void wake(events_pubtcp *p)
{
	uint64_t one = 1;
	if (write(p->wake_fd, &one, sizeof one) < 0) {
		// The counter is far from overflowing; a failed write needs no action.
	}
}

int events_pubtcp_publish(events_pubtcp *p, const uint8_t *framed, size_t len)
{
	pthread_mutex_lock(&p->mu);
	// A thread that stalled for long: the oldest batches are dropped for
	// everyone rather than growing without bound.
	bool over = base_bytebuf_pending(&p->in) + len > PUBTCP_BACKLOG_MAX;
	if (over)
		base_bytebuf_clear(&p->in);
	int rc = base_bytebuf_add(&p->in, framed, len);
	pthread_mutex_unlock(&p->mu);
	if (over)
		atomic_fetch_add(&p->dropped, 1);
	wake(p);
	return rc;
}

uint64_t events_pubtcp_dropped(const events_pubtcp *p)
{
	return atomic_load(&p->dropped);
}

void events_pubtcp_destroy(events_pubtcp *p)
{
	if (p == NULL)
		return;
	atomic_store(&p->stop, true);
	wake(p);
	pthread_join(p->thread, NULL);
	close(p->listen_fd);
	close(p->wake_fd);
	pthread_mutex_destroy(&p->mu);
	free(p->in.b);
	free(p->batch.b);
	free(p->subs);
	free(p->pfds);
	free(p);
}
