// nrpc server: life cycle (create, start, drain, destroy), the method table,
// and the counters its owner reads. The path of one call is dispatch.c, the
// worker threads workers.c, the proxy mode proxy.c, the nng rep0 transport
// server_nng.c and the own SP-over-TCP transport sptcp.c (server_int.h says
// how they fit).
//
// Start picks the transport: the own one on the owner's event loops when
// loops are given and the URL is one it serves, nng rep0 otherwise. Either way
// a fixed pool of workers runs the blocking handlers.
#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "server_int.h"

#define DRAIN_QUIET_MS  100  // a drain ends once no request arrived for this long
#define DRAIN_SLICE_MS  5    // how often a drain looks at its counters
#define DRAIN_GOAWAY_MS 1000 // longest a drain answers new arrivals UNAVAILABLE

// ---- method table ----------------------------------------------------------------------

const struct nrpc_method *nrpc_server_find_method(const nrpc_server *s, const char *path)
{
	// "/pkg.Service/Method": split at the last '/'.
	if (path == NULL || path[0] != '/')
		return NULL;
	const char *slash = strrchr(path, '/');
	if (slash == path)
		return NULL;
	size_t svc_len = (size_t)(slash - path - 1);
	for (size_t i = 0; i < s->nservices; i++) {
		const struct nrpc_service *sv = &s->services[i];
		if (strlen(sv->desc->name) != svc_len ||
		    memcmp(sv->desc->name, path + 1, svc_len) != 0)
			continue;
		const ProtobufCMethodDescriptor *md =
		    protobuf_c_service_descriptor_get_method_by_name(sv->desc, slash + 1);
		if (md == NULL)
			return NULL;
		return &sv->methods[md - sv->desc->methods];
	}
	return NULL;
}

int nrpc_server_add_service(nrpc_server *s, const ProtobufCServiceDescriptor *desc,
                            const nrpc_method_impl *impls, size_t n, void *arg)
{
	if (s->started || s->nservices == NRPC_MAX_SERVICES)
		return NNG_ESTATE;
	struct nrpc_method *ms = calloc(desc->n_methods, sizeof(*ms));
	if (ms == NULL)
		return NNG_ENOMEM;
	for (unsigned i = 0; i < desc->n_methods; i++) {
		ms[i].md = &desc->methods[i];
		snprintf(ms[i].path, sizeof(ms[i].path), "/%s/%s", desc->name,
		         desc->methods[i].name);
		ms[i].arg = arg;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(impls[k].name, desc->methods[i].name) == 0) {
				ms[i].handler = impls[k].handler;
				ms[i].async_handler = impls[k].async_handler;
				ms[i].flags = impls[k].flags;
			}
		}
	}
	s->services[s->nservices].desc = desc;
	s->services[s->nservices].methods = ms;
	s->nservices++;
	return 0;
}

size_t nrpc_server_service_count(const nrpc_server *s)
{
	return s->nservices;
}

const ProtobufCServiceDescriptor *nrpc_server_service_at(const nrpc_server *s, size_t i)
{
	return i < s->nservices ? s->services[i].desc : NULL;
}

int nrpc_server_adopt(nrpc_server *s, void *mem)
{
	if (s->started || s->nadopted == NRPC_MAX_SERVICES)
		return NNG_ESTATE;
	s->adopted[s->nadopted++] = mem;
	return 0;
}

// ---- life cycle ------------------------------------------------------------------------

int nrpc_server_create(nrpc_server **out, const nrpc_server_config *cfg, char *err, size_t errcap)
{
	if (cfg->workers <= 0 || cfg->url == NULL) {
		snprintf(err, errcap, "workers must be positive and url set");
		return NNG_EINVAL;
	}
	if (!cfg->insecure_no_auth && (cfg->auth_secret == NULL || cfg->auth_secret_len == 0)) {
		snprintf(err, errcap, "an auth secret is required unless insecure_no_auth is set");
		return NNG_EINVAL;
	}
	nrpc_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NNG_ENOMEM;
	s->cfg = *cfg;
	if (cfg->auth_secret_len > 0) {
		s->secret = malloc(cfg->auth_secret_len);
		if (s->secret == NULL) {
			free(s);
			return NNG_ENOMEM;
		}
		memcpy(s->secret, cfg->auth_secret, cfg->auth_secret_len);
		s->cfg.auth_secret = s->secret;
	}
	s->call_memory = cfg->max_call_memory ? cfg->max_call_memory : NRPC_MAX_CALL_MEMORY;
	s->memory.b_limit =
	    cfg->max_memory_in_flight ? cfg->max_memory_in_flight : NRPC_MAX_MEMORY_IN_FLIGHT;
	atomic_init(&s->memory.b_used, 0);
	if (nrpc_callers_init(&s->callers, cfg->max_inflight_per_caller) != 0) {
		free(s->secret);
		free(s);
		return NNG_ENOMEM;
	}
	pthread_mutex_init(&s->mtx, NULL);
	pthread_cond_init(&s->cv, NULL);
	nrpc_tokcache_init(&s->tokens);
	*out = s;
	return 0;
}

static int start_own_transport(nrpc_server *s, char *err, size_t errcap)
{
	int rv = nrpc_server_workers_start(s, err, errcap);
	if (rv != 0)
		return rv;
	s->conns.limit = s->cfg.max_connections;
	s->conns.refusal_rate = s->cfg.refusal_rate == 0  ? NRPC_DEFAULT_REFUSAL_RATE
	                        : s->cfg.refusal_rate < 0 ? 0
	                                                  : (unsigned)s->cfg.refusal_rate;
	s->callers.refusal_rate = s->conns.refusal_rate;
	int greet_ms =
	    s->cfg.greeting_timeout_ms > 0 ? s->cfg.greeting_timeout_ms : NRPC_GREETING_TIMEOUT_MS;
	if (nrpc_sptcp_start(&s->tcp, s, s->cfg.url, s->cfg.tls, s->cfg.loops, s->cfg.nloops,
	                     &s->conns, greet_ms, err, errcap) != 0)
		return NNG_EADDRINUSE;
	s->started = true;
	return 0;
}

int nrpc_server_start(nrpc_server *s, char *err, size_t errcap)
{
	int rv;
	if (s->cfg.nloops > 0 && !s->cfg.use_nng && nrpc_sptcp_serves(s->cfg.url))
		return start_own_transport(s, err, errcap);
	if ((rv = nrpc_server_nng_open(s, err, errcap)) != 0)
		return rv;
	if ((rv = nrpc_server_workers_start(s, err, errcap)) != 0)
		return rv;
	s->started = true;
	nrpc_server_nng_recv_all(s);
	return 0;
}

uint64_t nrpc_server_greeting_timeouts(const nrpc_server *s)
{
	return atomic_load(&((nrpc_server *)s)->conns.timed_out);
}

uint64_t nrpc_server_throttles(const nrpc_server *s)
{
	return atomic_load(&((nrpc_server *)s)->conns.throttled);
}

void nrpc_server_connections(const nrpc_server *s, int *open, uint64_t *refused)
{
	nrpc_connlimit *cl = &((nrpc_server *)s)->conns;
	*open = atomic_load(&cl->open);
	*refused = atomic_load(&cl->refused);
}

int nrpc_server_inflight(const nrpc_server *s)
{
	return atomic_load(&((nrpc_server *)s)->inflight);
}

// Sleeps in small slices until nothing is in flight or `deadline_us` passes.
static void wait_idle(nrpc_server *s, int64_t deadline_us)
{
	while (atomic_load(&s->inflight) > 0 && base_now_us() < deadline_us)
		nanosleep(&(struct timespec){0, DRAIN_SLICE_MS * 1000000L}, NULL);
}

int nrpc_server_drain(nrpc_server *s, int drain_ms)
{
	if (atomic_exchange(&s->draining, true))
		return atomic_load(&s->inflight);
	int64_t deadline = base_now_us() + (int64_t)drain_ms * 1000;

	// Phase 1: requests already received finish, and requests still
	// arriving get UNAVAILABLE. (The listener stays open: closing it would
	// also close every connection, with the replies still owed on them.) It
	// ends when nothing is in flight and nothing arrived for DRAIN_QUIET_MS.
	// Callers that keep sending cannot hold the drain open: after
	// DRAIN_GOAWAY_MS of answering UNAVAILABLE it stops receiving anyway.
	int64_t goaway_end = base_now_us() + (int64_t)DRAIN_GOAWAY_MS * 1000;
	if (goaway_end > deadline)
		goaway_end = deadline;
	for (;;) {
		wait_idle(s, deadline);
		if (atomic_load(&s->inflight) > 0 || base_now_us() >= goaway_end)
			break;
		uint64_t seen = atomic_load(&s->arrivals);
		int64_t quiet_end = base_now_us() + DRAIN_QUIET_MS * 1000;
		while (atomic_load(&s->arrivals) == seen && base_now_us() < quiet_end &&
		       base_now_us() < goaway_end)
			nanosleep(&(struct timespec){0, DRAIN_SLICE_MS * 1000000L}, NULL);
		if (atomic_load(&s->arrivals) == seen && atomic_load(&s->inflight) == 0)
			break;
	}
	// Phase 2: stop receiving. A context that just received a request keeps
	// it and answers it.
	atomic_store(&s->closing, true);
	nrpc_server_nng_stop_receiving(s);
	wait_idle(s, deadline);
	int left = atomic_load(&s->inflight);
	nrpc_server_workers_stop(s);
	return left;
}

void nrpc_server_destroy(nrpc_server *s)
{
	if (s == NULL)
		return;
	if (s->started)
		nrpc_server_drain(s, 0);
	nrpc_server_workers_stop(s);
	// Stop every aio first (waits out a running callback), then the workers:
	// a worker finishing a handler sends through a stopped aio, which fails
	// at once and hands the message back.
	nrpc_server_nng_stop(s);
	nrpc_server_workers_join(s);
	nrpc_sptcp_destroy(s->tcp);
	nrpc_server_nng_free(s);
	for (size_t i = 0; i < s->nservices; i++)
		free(s->services[i].methods);
	for (size_t i = 0; i < s->nadopted; i++)
		free(s->adopted[i]);
	free(s->threads);
	free(s->slots);
	free(s->secret);
	pthread_mutex_destroy(&s->mtx);
	pthread_cond_destroy(&s->cv);
	nrpc_tokcache_fini(&s->tokens);
	nrpc_callers_fini(&s->callers);
	free(s);
}