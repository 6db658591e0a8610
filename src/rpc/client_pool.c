// rpc client_pool: open and close of an endpoint set (see client_pool.h), the
// pool's memory and references, and the state view for tests. Endpoints are
// client_pool_ep.c, the prober thread client_pool_prober.c, the calls
// client_pool_call.c (client_pool_int.h says how they fit).
#include "base/clock.h"
#include "base/nngclose.h"
#include "client_pool_int.h"
#include "client_sock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

void nrpc_cpool_unref(void *arg)
{
	nrpc_cpool *p = arg;
	pthread_mutex_lock(&p->mu);
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&p->mu);
	if (last)
		pool_free(p);
}

// Waits on cv (CLOCK_MONOTONIC) until `deadline`, an nng_clock() time.
// Returns false once it passed.
bool nrpc_cpool_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, nng_time deadline)
{
	nng_time now = nng_clock();
	if (now >= deadline)
		return false;
	struct timespec ts = base_deadline_ts(CLOCK_MONOTONIC, (int64_t)(deadline - now));
	pthread_cond_timedwait(cv, mu, &ts);
	return true;
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
		nrpc_cp_origin *o = &p->origins[i];
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
			rv = nrpc_cpool_ep_add(p, p->origins[o].url, o, err, errcap);
			continue;
		}
		int n = p->resolve(&p->origins[o].t, got, LB_MAX_ENDPOINTS, err, errcap,
		                   p->resolve_arg);
		if (n < 0)
			rv = NNG_EADDRINVAL;
		for (int j = 0; j < n && rv == 0; j++)
			rv = nrpc_cpool_ep_add(p, got[j], o, err, errcap);
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
	pthread_mutex_init(&p->mu, NULL);
	base_cond_init_monotonic(&p->ready_cv);
	base_cond_init_monotonic(&p->kick_cv);
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
	if (rv == 0 && pthread_create(&p->prober, NULL, nrpc_cpool_prober_main, p) != 0) {
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
		nrpc_cp_ep *e = p->ep[i];
		if (e == NULL)
			continue;
		pthread_mutex_lock(&p->mu);
		e->probe_stopped = true;
		pthread_mutex_unlock(&p->mu);
		nng_aio_free(e->probe_aio); // cancels the check, waits for its callback
		e->probe_aio = NULL;
		// The REQ context keeps its last request for resending: freed now,
		// not by a socket close that may outlive its budget (and the process).
		nng_ctx_close(e->probe_ctx);
		socks[n++] = e->sock;
	}
	// Pipe callbacks may run while the sockets close: the pool stays until
	// every close is done (the client's reference goes in nrpc_cpool_unref).
	base_nng_close_all(socks, n, CP_CLOSE_BUDGET_MS, nrpc_cpool_unref, p);
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
