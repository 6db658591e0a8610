// rpc client_pool: see client_pool.h.
//
// Layout: pool->ep[i] and pool->st[i] are slot i's endpoint and state (the
// state array is what client_lb's pure functions read). A slot is EMPTY or
// holds an endpoint until the pool closes, or until DNS drops its address and
// no call uses it (then the prober detaches it and closes its socket).
//
// Each call in flight is linked into its endpoint's list while it runs; when
// the endpoint's connection goes (pipe REM_POST), the callback marks each one
// lost and aborts its aio, and the calls post their nng operations only under
// the pool mutex after checking `lost`, so none can slip past the abort.
#include "client_pool.h"
#include "base/clock.h"
#include "base/nngclose.h"
#include "client_sock.h"
#include "tls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The prober wakes at least this often (and at once on a new connection).
#define PROBER_TICK_MS 100
#define PROBE_REQ_MAX  64

typedef struct cp_call {
	struct cp_call *next;
	nng_aio *aio; // NULL until the operation is about to be posted
	bool lost;    // the endpoint's connection went away under this call
} cp_call;

typedef struct cp_origin {
	char *url; // as configured
	bool dns;
	nrpc_lb_dns_target t;
	nrpc_tls tls; // dns+tls: server_name defaults to the host name
	bool has_tls;
} cp_origin;

typedef struct cp_ep {
	nrpc_cpool *pool;
	char url[LB_URL_MAX];
	size_t origin;
	int slot; // -1 before insertion and once detached
	nng_socket sock;
	uint32_t pipe;  // the current connection's pipe id; 0: not connected
	nng_time since; // dialed (or connection lost) at: the connect grace runs from here
	nng_time next_probe;
	bool probing;       // the probe aio is busy
	bool probe_recv;    // its phase: receiving (else sending)
	bool probe_stopped; // being freed: never abort it again
	nng_time probe_deadline;
	nng_ctx probe_ctx;
	nng_aio *probe_aio;
	cp_call *calls; // in flight on this endpoint
	unsigned inflight;
} cp_ep;

struct nrpc_cpool {
	pthread_mutex_t mu;
	pthread_cond_t ready_cv; // a state changed: callers waiting for a READY endpoint
	pthread_cond_t kick_cv;  // wakes the prober: a new connection, or stop
	cp_ep *ep[LB_MAX_ENDPOINTS];
	nrpc_lb_state st[LB_MAX_ENDPOINTS];
	size_t n; // slots 0..n-1 are in use or EMPTY
	size_t cursor;
	cp_origin *origins;
	size_t norigins;
	bool any_dns;
	char *tls_copy[4]; // the strings of the caller's nrpc_tls
	uint32_t probe_interval, probe_timeout, refresh;
	nrpc_cpool_resolver resolve;
	void *resolve_arg;
	uint8_t probe_req[PROBE_REQ_MAX];
	size_t probe_req_len;
	bool stopping;
	int refs; // the client's, plus one per detached endpoint still closing
	pthread_t prober;
	bool prober_started;
	nng_time next_refresh;
};

// ---- pool memory --------------------------------------------------------------------------

static void pool_free(nrpc_cpool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->ep[i]);
	for (size_t i = 0; i < p->norigins; i++)
		free(p->origins[i].url);
	free(p->origins);
	for (size_t i = 0; i < sizeof p->tls_copy / sizeof p->tls_copy[0]; i++)
		free(p->tls_copy[i]);
	pthread_cond_destroy(&p->kick_cv);
	pthread_cond_destroy(&p->ready_cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static void pool_unref(void *arg)
{
	nrpc_cpool *p = arg;
	pthread_mutex_lock(&p->mu);
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&p->mu);
	if (last)
		pool_free(p);
}

// A detached endpoint's socket is closed: it and its hold on the pool go.
static void ep_closed(void *arg)
{
	cp_ep *e = arg;
	nrpc_cpool *p = e->pool;
	free(e);
	pool_unref(p);
}

// Waits on cv (CLOCK_MONOTONIC) until `deadline`, an nng_clock() time.
// Returns false once it passed.
static bool wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, nng_time deadline)
{
	nng_time now = nng_clock();
	if (now >= deadline)
		return false;
	struct timespec ts = base_deadline_ts(CLOCK_MONOTONIC, (int64_t)(deadline - now));
	pthread_cond_timedwait(cv, mu, &ts);
	return true;
}

// ---- connection events and health checks (nng's threads) ----------------------------------

// Under p->mu: the endpoint's connection is gone. Every call on it, and its
// probe, is aborted; it takes no calls until a check on a new one says SERVING.
static void ep_lost(nrpc_cpool *p, cp_ep *e)
{
	e->pipe = 0;
	e->since = nng_clock();
	if (e->slot >= 0 && p->st[e->slot] != LB_RETIRING)
		p->st[e->slot] = LB_DOWN;
	for (cp_call *c = e->calls; c != NULL; c = c->next) {
		c->lost = true;
		if (c->aio != NULL)
			nng_aio_abort(c->aio, NNG_ECONNRESET);
	}
	if (e->probing && !e->probe_stopped)
		nng_aio_abort(e->probe_aio, NNG_ECONNRESET);
	pthread_cond_broadcast(&p->ready_cv);
}

static void on_pipe(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	cp_ep *e = arg;
	nrpc_cpool *p = e->pool;
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	pthread_mutex_lock(&p->mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		// One dialer per socket: a new pipe means the old one is gone, even
		// if its REM_POST has not come yet.
		if (e->pipe != 0 && e->pipe != id)
			ep_lost(p, e);
		e->pipe = id;
		e->next_probe = 0; // check it now
		if (e->slot >= 0 && p->st[e->slot] != LB_RETIRING)
			p->st[e->slot] = LB_CONNECTING;
		pthread_cond_signal(&p->kick_cv);
	} else if (ev == NNG_PIPE_EV_REM_POST && e->pipe == id) {
		ep_lost(p, e);
	}
	pthread_mutex_unlock(&p->mu);
}

static void probe_done(cp_ep *e, bool serving)
{
	nrpc_cpool *p = e->pool;
	pthread_mutex_lock(&p->mu);
	e->probing = false;
	e->next_probe = nng_clock() + p->probe_interval;
	if (e->slot >= 0 && p->st[e->slot] != LB_RETIRING && !p->stopping) {
		p->st[e->slot] = e->pipe != 0 && serving ? LB_READY : LB_DOWN;
		pthread_cond_broadcast(&p->ready_cv);
	}
	pthread_mutex_unlock(&p->mu);
}

// The probe's state machine: send, then (only then, nng 1.5.2 #1702) receive.
static void probe_cb(void *arg)
{
	cp_ep *e = arg;
	nng_aio *aio = e->probe_aio;
	int rv = nng_aio_result(aio);
	if (!e->probe_recv) {
		nng_time now = nng_clock();
		if (rv != 0 || now >= e->probe_deadline) {
			nng_msg *m = nng_aio_get_msg(aio); // a failed send hands it back
			if (rv != 0 && m != NULL)
				nng_msg_free(m);
			nng_aio_set_msg(aio, NULL);
			probe_done(e, false);
			return;
		}
		e->probe_recv = true;
		nng_aio_set_timeout(aio, (nng_duration)(e->probe_deadline - now));
		nng_ctx_recv(e->probe_ctx, aio);
		return;
	}
	bool serving = false;
	if (rv == 0) {
		nng_msg *m = nng_aio_get_msg(aio);
		nng_aio_set_msg(aio, NULL);
		serving = nrpc_lb_probe_serving(nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
	}
	probe_done(e, serving);
}

// The prober thread, without the mutex: sends one check (e->probing is set).
static void probe_start(nrpc_cpool *p, cp_ep *e)
{
	nng_msg *m = NULL;
	if (nng_msg_alloc(&m, p->probe_req_len) != 0) {
		probe_done(e, false);
		return;
	}
	memcpy(nng_msg_body(m), p->probe_req, p->probe_req_len);
	nng_aio_set_msg(e->probe_aio, m);
	nng_aio_set_timeout(e->probe_aio, (nng_duration)p->probe_timeout);
	nng_ctx_send(e->probe_ctx, e->probe_aio);
}

// ---- endpoints ----------------------------------------------------------------------------

static void ep_destroy_unused(cp_ep *e)
{
	if (e->probe_aio != NULL)
		nng_aio_free(e->probe_aio);
	nng_close(e->sock); // never connected through the pool: no pipe to wedge
	free(e);
}

// A new endpoint dialing url (non-blocking). NULL with *rv and err on failure.
static cp_ep *ep_create(nrpc_cpool *p, const char *url, size_t origin, int *rv, char *err,
                        size_t errcap)
{
	cp_ep *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		*rv = NNG_ENOMEM;
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	e->pool = p;
	e->origin = origin;
	e->slot = -1;
	e->since = nng_clock();
	snprintf(e->url, sizeof e->url, "%s", url);
	if ((*rv = nrpc_cp_socket_open(&e->sock, err, errcap)) != 0) {
		free(e);
		return NULL;
	}
	const cp_origin *o = &p->origins[origin];
	if ((*rv = nng_pipe_notify(e->sock, NNG_PIPE_EV_ADD_POST, on_pipe, e)) != 0 ||
	    (*rv = nng_pipe_notify(e->sock, NNG_PIPE_EV_REM_POST, on_pipe, e)) != 0 ||
	    (*rv = nng_ctx_open(&e->probe_ctx, e->sock)) != 0 ||
	    (*rv = nng_aio_alloc(&e->probe_aio, probe_cb, e)) != 0) {
		snprintf(err, errcap, "%s: %s", url, nng_strerror(*rv));
		ep_destroy_unused(e);
		return NULL;
	}
	if ((*rv = nrpc_tls_dial(e->sock, url, o->has_tls ? &o->tls : NULL, err, errcap)) != 0) {
		ep_destroy_unused(e);
		return NULL;
	}
	return e;
}

// Under p->mu: true when some endpoint dials url already.
static bool dialed(const nrpc_cpool *p, const char *url)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ep[i] != NULL && strcmp(p->ep[i]->url, url) == 0)
			return true;
	return false;
}

// Under p->mu: puts e into a free slot (CONNECTING). -1 when all are taken.
static int ep_insert(nrpc_cpool *p, cp_ep *e)
{
	size_t i = 0;
	while (i < p->n && p->ep[i] != NULL)
		i++;
	if (i == LB_MAX_ENDPOINTS)
		return -1;
	if (i == p->n)
		p->n++;
	p->ep[i] = e;
	p->st[i] = LB_CONNECTING;
	e->slot = (int)i;
	return 0;
}

// Dials url for origin o unless it is dialed already. Returns 0 (also when
// skipped), or an nng error with a reason in err.
static int ep_add(nrpc_cpool *p, const char *url, size_t o, char *err, size_t errcap)
{
	pthread_mutex_lock(&p->mu);
	bool have = dialed(p, url);
	pthread_mutex_unlock(&p->mu);
	if (have)
		return 0;
	int rv = 0;
	cp_ep *e = ep_create(p, url, o, &rv, err, errcap);
	if (e == NULL)
		return rv;
	pthread_mutex_lock(&p->mu);
	int full = ep_insert(p, e);
	pthread_mutex_unlock(&p->mu);
	if (full != 0) {
		snprintf(err, errcap, "more than %d server addresses", LB_MAX_ENDPOINTS);
		pthread_mutex_lock(&p->mu);
		e->probe_stopped = true;
		p->refs++; // released by ep_closed
		pthread_mutex_unlock(&p->mu);
		nng_aio_free(e->probe_aio);
		e->probe_aio = NULL;
		base_nng_close_all(&e->sock, 1, CP_CLOSE_BUDGET_MS, ep_closed, e);
		return NNG_EINVAL;
	}
	return 0;
}

// ---- DNS ----------------------------------------------------------------------------------

// Re-resolves origin o (prober thread): dials new addresses, retires vanished
// ones, revives retiring ones that came back. A failed answer changes nothing.
static void refresh_origin(nrpc_cpool *p, size_t o)
{
	char(*got)[LB_URL_MAX] = calloc(LB_MAX_ENDPOINTS, LB_URL_MAX);
	if (got == NULL)
		return;
	char err[256];
	int n =
	    p->resolve(&p->origins[o].t, got, LB_MAX_ENDPOINTS, err, sizeof err, p->resolve_arg);
	if (n > 0) {
		const char *gotp[LB_MAX_ENDPOINTS], *have[LB_MAX_ENDPOINTS];
		size_t slot[LB_MAX_ENDPOINTS] = {0}, nhave = 0;
		bool keep[LB_MAX_ENDPOINTS], add[LB_MAX_ENDPOINTS];
		for (int j = 0; j < n; j++)
			gotp[j] = got[j];
		pthread_mutex_lock(&p->mu);
		for (size_t i = 0; i < p->n; i++) {
			if (p->ep[i] != NULL && p->ep[i]->origin == o) {
				slot[nhave] = i;
				have[nhave++] = p->ep[i]->url;
			}
		}
		nrpc_lb_merge(have, nhave, gotp, (size_t)n, keep, add);
		for (size_t k = 0; k < nhave; k++) {
			nrpc_lb_state *s = &p->st[slot[k]];
			cp_ep *e = p->ep[slot[k]];
			if (!keep[k] && *s != LB_RETIRING) {
				*s = LB_RETIRING;
			} else if (keep[k] && *s == LB_RETIRING) {
				*s = LB_CONNECTING; // came back: checked again before use
				e->next_probe = 0;
				e->since = nng_clock();
			}
		}
		pthread_mutex_unlock(&p->mu);
		for (int j = 0; j < n; j++)
			if (add[j] && ep_add(p, got[j], o, err, sizeof err) != 0)
				break; // full, or out of memory: the next refresh tries again
	}
	free(got);
}

// ---- the prober thread --------------------------------------------------------------------

// Under p->mu: takes a RETIRING endpoint nobody uses out of its slot.
static cp_ep *detach(nrpc_cpool *p, size_t i)
{
	cp_ep *e = p->ep[i];
	p->ep[i] = NULL;
	p->st[i] = LB_EMPTY;
	e->slot = -1;
	e->probe_stopped = true;
	p->refs++; // released by ep_closed
	return e;
}

static void *prober_main(void *arg)
{
	nrpc_cpool *p = arg;
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		nng_time now = nng_clock();
		cp_ep *due[LB_MAX_ENDPOINTS], *gone[LB_MAX_ENDPOINTS];
		size_t ndue = 0, ngone = 0;
		for (size_t i = 0; i < p->n; i++) {
			cp_ep *e = p->ep[i];
			if (e == NULL)
				continue;
			if (p->st[i] == LB_RETIRING) {
				if (e->inflight == 0 && !e->probing)
					gone[ngone++] = detach(p, i);
				continue;
			}
			if (e->pipe == 0) {
				if (p->st[i] == LB_CONNECTING &&
				    now - e->since >= CPOOL_CONNECT_GRACE_MS) {
					p->st[i] =
					    LB_DOWN; // the dial keeps going in the background
					pthread_cond_broadcast(&p->ready_cv);
				}
				continue;
			}
			if (!e->probing && now >= e->next_probe) {
				e->probing = true;
				e->probe_recv = false;
				e->probe_deadline = now + p->probe_timeout;
				due[ndue++] = e;
			}
		}
		bool refresh = p->any_dns && now >= p->next_refresh;
		if (refresh)
			p->next_refresh = now + p->refresh;
		pthread_mutex_unlock(&p->mu);

		for (size_t k = 0; k < ndue; k++)
			probe_start(p, due[k]);
		for (size_t k = 0; k < ngone; k++) {
			nng_aio_free(gone[k]->probe_aio); // waits for its callback
			gone[k]->probe_aio = NULL;
			base_nng_close_all(&gone[k]->sock, 1, CP_CLOSE_BUDGET_MS, ep_closed,
			                   gone[k]);
		}
		for (size_t o = 0; refresh && o < p->norigins; o++)
			if (p->origins[o].dns)
				refresh_origin(p, o);

		pthread_mutex_lock(&p->mu);
		if (!p->stopping)
			wait_until(&p->kick_cv, &p->mu, nng_clock() + PROBER_TICK_MS);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

// ---- open and close -----------------------------------------------------------------------

bool nrpc_cpool_wanted(const char *const *urls, size_t n)
{
	if (n > 1)
		return true;
	return n == 1 && urls[0] != NULL && strncmp(urls[0], "dns+", 4) == 0;
}

static int copy_str(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst != NULL ? 0 : -1;
}

// Copies the configuration into p: TLS strings, origins (dns+ URLs parsed).
static int setup(nrpc_cpool *p, const nrpc_cpool_config *cfg, char *err, size_t errcap)
{
	nrpc_tls tls = {0};
	if (cfg->tls != NULL) {
		tls = *cfg->tls;
		if (copy_str(&p->tls_copy[0], cfg->tls->cert_file) != 0 ||
		    copy_str(&p->tls_copy[1], cfg->tls->key_file) != 0 ||
		    copy_str(&p->tls_copy[2], cfg->tls->ca_file) != 0 ||
		    copy_str(&p->tls_copy[3], cfg->tls->server_name) != 0)
			goto oom;
		tls.cert_file = p->tls_copy[0];
		tls.key_file = p->tls_copy[1];
		tls.ca_file = p->tls_copy[2];
		tls.server_name = p->tls_copy[3];
	}
	if ((p->origins = calloc(cfg->n, sizeof(*p->origins))) == NULL)
		goto oom;
	p->norigins = cfg->n;
	for (size_t i = 0; i < cfg->n; i++) {
		cp_origin *o = &p->origins[i];
		if (cfg->urls[i] == NULL) {
			snprintf(err, errcap, "server URL %zu is missing", i);
			return NNG_EINVAL;
		}
		if ((o->url = strdup(cfg->urls[i])) == NULL)
			goto oom;
		int d = nrpc_lb_dns_parse(o->url, &o->t);
		if (d < 0) {
			snprintf(err, errcap,
			         "%s: a dns+ URL is dns+tcp://HOST:PORT or dns+tls+tcp://HOST:PORT",
			         o->url);
			return NNG_EINVAL;
		}
		o->dns = d == 1;
		p->any_dns = p->any_dns || o->dns;
		o->has_tls = cfg->tls != NULL;
		o->tls = tls;
		// A name resolved into addresses is still the name the certificate
		// is for: verify it, unless the caller named another.
		if (o->dns && o->tls.server_name == NULL)
			o->tls.server_name = o->t.host;
	}
	return 0;
oom:
	snprintf(err, errcap, "out of memory");
	return NNG_ENOMEM;
}

// Dials every configured URL and every address of every dns+ name.
static int dial_all(nrpc_cpool *p, char *err, size_t errcap)
{
	char(*got)[LB_URL_MAX] = calloc(LB_MAX_ENDPOINTS, LB_URL_MAX);
	if (got == NULL) {
		snprintf(err, errcap, "out of memory");
		return NNG_ENOMEM;
	}
	int rv = 0;
	for (size_t o = 0; o < p->norigins && rv == 0; o++) {
		if (!p->origins[o].dns) {
			rv = ep_add(p, p->origins[o].url, o, err, errcap);
			continue;
		}
		int n = p->resolve(&p->origins[o].t, got, LB_MAX_ENDPOINTS, err, errcap,
		                   p->resolve_arg);
		if (n < 0)
			rv = NNG_EADDRINVAL;
		for (int j = 0; j < n && rv == 0; j++)
			rv = ep_add(p, got[j], o, err, errcap);
	}
	free(got);
	return rv;
}

int nrpc_cpool_open(nrpc_cpool **out, const nrpc_cpool_config *cfg, char *err, size_t errcap)
{
	*out = NULL;
	if (cfg->urls == NULL || cfg->n == 0) {
		snprintf(err, errcap, "no server URL given");
		return NNG_EINVAL;
	}
	nrpc_cpool *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errcap, "out of memory");
		return NNG_ENOMEM;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->ready_cv, &ca);
	pthread_cond_init(&p->kick_cv, &ca);
	pthread_condattr_destroy(&ca);
	p->refs = 1;
	p->probe_interval =
	    cfg->probe_interval_ms ? cfg->probe_interval_ms : CPOOL_PROBE_INTERVAL_MS;
	p->probe_timeout = cfg->probe_timeout_ms ? cfg->probe_timeout_ms : CPOOL_PROBE_TIMEOUT_MS;
	p->refresh = cfg->refresh_ms ? cfg->refresh_ms : CPOOL_REFRESH_MS;
	p->resolve = cfg->resolve != NULL ? cfg->resolve : nrpc_cp_resolve_dns;
	p->resolve_arg = cfg->resolve_arg;
	p->probe_req_len =
	    nrpc_lb_probe_request(p->probe_req, sizeof p->probe_req, p->probe_timeout);
	p->next_refresh = nng_clock() + p->refresh;
	int rv = setup(p, cfg, err, errcap);
	if (rv == 0)
		rv = dial_all(p, err, errcap);
	if (rv == 0 && pthread_create(&p->prober, NULL, prober_main, p) != 0) {
		snprintf(err, errcap, "cannot start the health-check thread");
		rv = NNG_ENOMEM;
	}
	if (rv != 0) {
		nrpc_cpool_close(p);
		return rv;
	}
	p->prober_started = true;
	*out = p;
	return 0;
}

void nrpc_cpool_close(nrpc_cpool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->kick_cv);
	pthread_cond_broadcast(&p->ready_cv);
	pthread_mutex_unlock(&p->mu);
	if (p->prober_started)
		pthread_join(p->prober, NULL);
	nng_socket socks[LB_MAX_ENDPOINTS];
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) {
		cp_ep *e = p->ep[i];
		if (e == NULL)
			continue;
		pthread_mutex_lock(&p->mu);
		e->probe_stopped = true;
		pthread_mutex_unlock(&p->mu);
		nng_aio_free(e->probe_aio); // cancels the check, waits for its callback
		e->probe_aio = NULL;
		socks[n++] = e->sock;
	}
	// Pipe callbacks may run while the sockets close: the pool stays until
	// every close is done (the client's reference goes in pool_unref).
	base_nng_close_all(socks, n, CP_CLOSE_BUDGET_MS, pool_unref, p);
}

// ---- calls --------------------------------------------------------------------------------

static void unlink_call(cp_ep *e, const cp_call *call)
{
	for (cp_call **pp = &e->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == call) {
			*pp = call->next;
			break;
		}
	}
	e->inflight--;
}

// Under p->mu: the next READY endpoint outside *tried, waiting (with `wait`)
// while a verdict is pending. Returns the slot, or -1 with *out set.
static int pick(nrpc_cpool *p, nng_time deadline, bool wait, uint64_t tried,
                nrpc_cpool_outcome *out)
{
	int i;
	while ((i = nrpc_lb_pick(p->st, p->n, tried, &p->cursor)) < 0) {
		if (p->stopping || !wait || !nrpc_lb_pending(p->st, p->n, tried)) {
			*out = CPOOL_NO_ENDPOINT;
			return -1;
		}
		if (!wait_until(&p->ready_cv, &p->mu, deadline)) {
			*out = CPOOL_NO_TIME;
			return -1;
		}
	}
	return i;
}

nrpc_cpool_outcome nrpc_cpool_attempt(nrpc_cpool *p, nng_msg *msg, nng_time deadline, bool wait,
                                      uint64_t *tried, nng_msg **reply, int *rv)
{
	cp_call call = {0};
	nng_aio *aio = NULL;
	nng_ctx ctx = NNG_CTX_INITIALIZER;
	bool ctx_open = false;
	nrpc_cpool_outcome out = CPOOL_ERROR;
	*reply = NULL;
	*rv = 0;

	pthread_mutex_lock(&p->mu);
	int i = pick(p, deadline, wait, *tried, &out);
	if (i < 0) {
		pthread_mutex_unlock(&p->mu);
		nng_msg_free(msg);
		return out;
	}
	cp_ep *e = p->ep[i];
	*tried |= UINT64_C(1) << i;
	call.next = e->calls;
	e->calls = &call;
	e->inflight++;
	pthread_mutex_unlock(&p->mu);

	if ((*rv = nng_aio_alloc(&aio, NULL, NULL)) != 0 ||
	    (*rv = nng_ctx_open(&ctx, e->sock)) != 0)
		goto done;
	ctx_open = true;
	nng_time now = nng_clock();
	if (now >= deadline) {
		out = CPOOL_NO_TIME;
		goto done;
	}
	nng_aio_set_timeout(aio, (nng_duration)(deadline - now));
	pthread_mutex_lock(&p->mu);
	call.aio = aio;
	bool lost = call.lost;
	if (!lost) {
		nng_aio_set_msg(aio, msg);
		msg = NULL; // the context owns it now, unless the send fails
		nng_ctx_send(ctx, aio);
	}
	pthread_mutex_unlock(&p->mu);
	if (lost) {
		out = CPOOL_LOST_UNSENT;
		goto done;
	}
	nng_aio_wait(aio);
	if ((*rv = nng_aio_result(aio)) != 0) {
		msg = nng_aio_get_msg(aio); // a failed send hands the message back
		nng_aio_set_msg(aio, NULL);
		pthread_mutex_lock(&p->mu);
		lost = call.lost;
		pthread_mutex_unlock(&p->mu);
		out = lost ? CPOOL_LOST_UNSENT : *rv == NNG_ETIMEDOUT ? CPOOL_TIMEOUT : CPOOL_ERROR;
		goto done;
	}
	// Only now post the receive (nng 1.5.2 #1702).
	pthread_mutex_lock(&p->mu);
	now = nng_clock();
	lost = call.lost;
	if (!lost && now < deadline) {
		nng_aio_set_timeout(aio, (nng_duration)(deadline - now));
		nng_ctx_recv(ctx, aio);
	}
	pthread_mutex_unlock(&p->mu);
	if (lost || now >= deadline) {
		out = lost ? CPOOL_LOST_SENT : CPOOL_TIMEOUT;
		goto done;
	}
	nng_aio_wait(aio);
	if ((*rv = nng_aio_result(aio)) == 0) {
		*reply = nng_aio_get_msg(aio);
		nng_aio_set_msg(aio, NULL);
		out = CPOOL_REPLY;
		goto done;
	}
	// With resend off, nng 1.5.2 itself fails a receive whose connection
	// dropped with NNG_ECONNRESET; our abort (lost) covers the rest.
	pthread_mutex_lock(&p->mu);
	lost = call.lost || *rv == NNG_ECONNRESET;
	pthread_mutex_unlock(&p->mu);
	out = lost ? CPOOL_LOST_SENT : *rv == NNG_ETIMEDOUT ? CPOOL_TIMEOUT : CPOOL_ERROR;

done:
	pthread_mutex_lock(&p->mu);
	unlink_call(e, &call); // no abort can reach the aio after this
	// A lost connection takes the endpoint out at once, before nng reports
	// the pipe gone; a check on the next connection brings it back.
	if ((out == CPOOL_LOST_SENT || out == CPOOL_LOST_UNSENT) && e->slot >= 0 &&
	    p->st[e->slot] == LB_READY) {
		p->st[e->slot] = LB_DOWN;
		pthread_cond_broadcast(&p->ready_cv);
	}
	pthread_mutex_unlock(&p->mu);
	if (msg != NULL)
		nng_msg_free(msg);
	if (aio != NULL)
		nng_aio_free(aio);
	if (ctx_open)
		nng_ctx_close(ctx); // abandons the request; a late reply is dropped
	return out;
}

size_t nrpc_cpool_view_get(nrpc_cpool *p, nrpc_cpool_view *out, size_t cap)
{
	pthread_mutex_lock(&p->mu);
	size_t used = p->n;
	for (size_t i = 0; i < used && i < cap; i++) {
		out[i].state = p->st[i];
		snprintf(out[i].url, sizeof out[i].url, "%s",
		         p->ep[i] != NULL ? p->ep[i]->url : "");
	}
	pthread_mutex_unlock(&p->mu);
	return used;
}
