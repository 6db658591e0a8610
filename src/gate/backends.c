// gate backends: see backends.h.
#include "backends.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/ioloop.h"
#include "link.h"
#include "obs/log.h"
#include "wire.h"

struct gate_backends {
	gate_backend slots[GATE_MAX_BACKENDS];
	_Atomic unsigned n;
	int src_of[GATE_MAX_BACKENDS]; // the source that made each slot (resolver only)
	gate_source src[GATE_MAX_SOURCES];
	size_t nsrc;
	obs_registry *reg;
	struct gate_tls *tls;
	pthread_mutex_t mu; // the resolver's stop flag and wake-up
	pthread_cond_t cv;
	bool stop;
	bool thread_started;
	pthread_t thread;
	base_ioloop *loop0;
	struct event *tick; // loop 0's health timer
	uint8_t hreq[64];   // the Health/Check request
	size_t hreq_len;
};

static void set_up(gate_backend *b, bool up)
{
	bool was = atomic_exchange(&b->up, up);
	obs_gauge_set(b->g_up, up ? 1.0 : 0.0);
	if (was != up)
		obs_log_fields(up ? OBS_INFO : OBS_WARN, up ? "backend up" : "backend down",
		               (obs_field[]){OBS_S("backend", b->name)}, 1);
}

void gate_backend_down(gate_backend *b)
{
	set_up(b, false);
}

unsigned gate_backends_count(const gate_backends *bs)
{
	return atomic_load_explicit(&bs->n, memory_order_acquire);
}

gate_backend *gate_backends_at(gate_backends *bs, unsigned i)
{
	return &bs->slots[i];
}

unsigned gate_backends_healthy(const gate_backends *bs)
{
	unsigned n = gate_backends_count(bs), k = 0;
	for (unsigned i = 0; i < n; i++)
		if (atomic_load(&bs->slots[i].present) && atomic_load(&bs->slots[i].up))
			k++;
	return k;
}

// ---- sources and resolution -----------------------------------------------------------------

static int split_host_port(const char *hp, gate_source *s, char *err, size_t errcap)
{
	const char *colon = strrchr(hp, ':');
	if (colon == NULL || colon == hp || colon[1] == '\0' ||
	    strlen(colon + 1) >= sizeof s->port || (size_t)(colon - hp) >= sizeof s->host) {
		snprintf(err, errcap, "%s: want host:port", hp);
		return -1;
	}
	const char *h = hp;
	size_t hl = (size_t)(colon - hp);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	memcpy(s->host, h, hl);
	s->host[hl] = '\0';
	snprintf(s->port, sizeof s->port, "%s", colon + 1);
	for (const char *p = s->port; *p; p++)
		if (*p < '0' || *p > '9') {
			snprintf(err, errcap, "%s: the port must be a number", hp);
			return -1;
		}
	return 0;
}

// Strips an optional scheme from src; 1 for tls+tcp://, 0 for tcp:// or
// none, -1 for another one.
static int scheme(const char **src)
{
	if (strncmp(*src, "tls+tcp://", 10) == 0) {
		*src += 10;
		return 1;
	}
	if (strncmp(*src, "tcp://", 6) == 0)
		*src += 6;
	return strstr(*src, "://") != NULL ? -1 : 0;
}

struct gate_tls *gate_backends_tls(const gate_backends *bs, const gate_backend *b)
{
	return b->tls ? bs->tls : NULL;
}

int gate_backends_create(gate_backends **out, const char *const *urls, size_t nurls,
                         const char *const *dns, size_t ndns, struct gate_tls *tls,
                         obs_registry *reg, char *err, size_t errcap)
{
	*out = NULL;
	if (nurls + ndns == 0) {
		snprintf(err, errcap, "no backend: give --backend URL or --backends-dns HOST:PORT");
		return -1;
	}
	if (nurls + ndns > GATE_MAX_SOURCES) {
		snprintf(err, errcap, "too many backend sources (at most %d)", GATE_MAX_SOURCES);
		return -1;
	}
	gate_backends *bs = calloc(1, sizeof *bs);
	if (bs == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nurls + ndns; i++) {
		bool is_url = i < nurls;
		const char *s = is_url ? urls[i] : dns[i - nurls];
		const char *hp = s;
		int t = scheme(&hp);
		if (t < 0 || (is_url && hp == s)) {
			snprintf(err, errcap,
			         "%s: a backend must be tcp://host:port or tls+tcp://host:port", s);
			free(bs);
			return -1;
		}
		if (t == 1 && tls == NULL) {
			snprintf(err, errcap,
			         "%s: a tls+tcp:// backend needs BACKEND_TLS_CA_FILE to verify it",
			         s);
			free(bs);
			return -1;
		}
		gate_source *src = &bs->src[bs->nsrc];
		if (split_host_port(hp, src, err, errcap) != 0) {
			free(bs);
			return -1;
		}
		src->every_record = !is_url;
		src->tls = t == 1;
		bs->nsrc++;
	}
	bs->tls = tls;
	bs->reg = reg;
	pthread_mutex_init(&bs->mu, NULL);
	pthread_cond_init(&bs->cv, NULL);
	bs->hreq_len = gate_health_request(bs->hreq, sizeof bs->hreq, GATE_HEALTH_TIMEOUT_MS);
	*out = bs;
	return 0;
}

static void addr_name(const struct sockaddr *sa, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
		port = ntohs(s4->sin_port);
		snprintf(buf, cap, "%s:%u", ip, port);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
		port = ntohs(s6->sin6_port);
		snprintf(buf, cap, "[%s]:%u", ip, port);
	}
}

// The slot holding addr, made if new; -1 when the set is full.
static int slot_for(gate_backends *bs, const struct sockaddr *sa, socklen_t alen, int src)
{
	unsigned n = gate_backends_count(bs);
	for (unsigned i = 0; i < n; i++)
		if (bs->slots[i].alen == alen && memcmp(&bs->slots[i].addr, sa, alen) == 0 &&
		    bs->slots[i].tls == bs->src[src].tls)
			return (int)i;
	if (n >= GATE_MAX_BACKENDS) {
		obs_log_fields(OBS_WARN, "backend set full: address ignored",
		               (obs_field[]){OBS_I("max", GATE_MAX_BACKENDS)}, 1);
		return -1;
	}
	gate_backend *b = &bs->slots[n];
	memcpy(&b->addr, sa, alen);
	b->alen = alen;
	b->tls = bs->src[src].tls;
	addr_name(sa, b->name, sizeof b->name);
	char lab[128];
	snprintf(lab, sizeof lab, "backend=\"%s\"", b->name);
	b->calls = obs_counter_get(bs->reg, "propgate_backend_calls_total",
	                           "Calls answered by each backend.", lab);
	b->failed =
	    obs_counter_get(bs->reg, "propgate_backend_connection_failures_total",
	                    "Calls whose connection to the backend failed under them.", lab);
	b->errors = obs_counter_get(bs->reg, "propgate_backend_errors_total",
	                            "Replies of each backend with a status other than OK.", lab);
	b->latency = obs_histogram_get(bs->reg, "propgate_backend_latency_seconds",
	                               "Time from sending a call to a backend to its reply.", lab,
	                               obs_latency_bounds, obs_latency_bounds_n);
	b->g_up = obs_gauge_get(bs->reg, "propgate_backend_up",
	                        "1 while the backend is healthy and takes calls.", lab);
	atomic_store(&b->up, true); // until its first check says otherwise
	obs_gauge_set(b->g_up, 1.0);
	bs->src_of[n] = src;
	atomic_store_explicit(&bs->n, n + 1, memory_order_release);
	obs_log_fields(OBS_INFO, "backend added", (obs_field[]){OBS_S("backend", b->name)}, 1);
	return (int)n;
}

static void resolve_all(gate_backends *bs)
{
	bool seen[GATE_MAX_BACKENDS] = {false};
	bool resolved[GATE_MAX_SOURCES] = {false};
	for (size_t s = 0; s < bs->nsrc; s++) {
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *res = NULL;
		int rc = getaddrinfo(bs->src[s].host, bs->src[s].port, &hints, &res);
		if (rc != 0) {
			obs_log_fields(OBS_WARN, "cannot resolve backend",
			               (obs_field[]){OBS_S("host", bs->src[s].host),
			                             OBS_S("error", gai_strerror(rc))},
			               2);
			continue; // keep what it had: a resolver hiccup is not a vanished backend
		}
		resolved[s] = true;
		for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
			int i = slot_for(bs, ai->ai_addr, ai->ai_addrlen, (int)s);
			if (i >= 0)
				seen[i] = true;
			if (!bs->src[s].every_record)
				break;
		}
		freeaddrinfo(res);
	}
	unsigned n = gate_backends_count(bs);
	for (unsigned i = 0; i < n; i++) {
		if (!resolved[bs->src_of[i]])
			continue;
		bool was = atomic_exchange(&bs->slots[i].present, seen[i]);
		if (was && !seen[i])
			obs_log_fields(OBS_INFO, "backend gone from DNS",
			               (obs_field[]){OBS_S("backend", bs->slots[i].name)}, 1);
	}
}

static void *resolver_main(void *arg)
{
	gate_backends *bs = arg;
	pthread_mutex_lock(&bs->mu);
	while (!bs->stop) {
		struct timespec until = base_deadline_ts(CLOCK_REALTIME, GATE_RESOLVE_MS);
		while (!bs->stop && pthread_cond_timedwait(&bs->cv, &bs->mu, &until) != ETIMEDOUT)
			;
		if (bs->stop)
			break;
		pthread_mutex_unlock(&bs->mu);
		resolve_all(bs);
		pthread_mutex_lock(&bs->mu);
	}
	pthread_mutex_unlock(&bs->mu);
	return NULL;
}

// ---- health checks (loop 0) -----------------------------------------------------------------

static void health_reply(void *ctx, const uint8_t *body, size_t len)
{
	gate_backend *b = ctx;
	b->hid = 0;
	set_up(b, gate_health_status(body, len) == 1);
}

static void health_fail(void *ctx, bool sent)
{
	(void)sent;
	gate_backend *b = ctx;
	b->hid = 0;
	set_up(b, false);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gate_backends *bs = arg;
	static const gate_link_ops ops = {.on_reply = health_reply, .on_fail = health_fail};
	int64_t now = base_now_us();
	unsigned n = gate_backends_count(bs);
	for (unsigned i = 0; i < n; i++) {
		gate_backend *b = &bs->slots[i];
		if (!atomic_load(&b->present)) {
			gate_link_close(b->hlink); // nothing pending matters any more
			b->hlink = NULL;
			b->hid = 0;
			continue;
		}
		if (b->hid != 0) {
			if (now - b->hsent_us < (int64_t)GATE_HEALTH_TIMEOUT_MS * 1000)
				continue;
			// No answer in time: down, and a fresh connection for the next
			// check (the old one may be stuck behind a dead peer).
			gate_link_cancel(b->hlink, b->hid);
			b->hid = 0;
			gate_link_close(b->hlink);
			b->hlink = NULL;
			set_up(b, false);
		}
		if (b->hlink != NULL && gate_link_dead(b->hlink)) {
			gate_link_close(b->hlink);
			b->hlink = NULL;
		}
		if (b->hlink == NULL)
			b->hlink =
			    gate_link_open(base_ioloop_base(bs->loop0), (struct sockaddr *)&b->addr,
			                   b->alen, gate_backends_tls(bs, b), &ops);
		if (b->hlink == NULL)
			continue;
		b->hid = gate_link_send(b->hlink, bs->hreq, bs->hreq_len, NULL, 0, b);
		b->hsent_us = now;
		if (b->hid == 0)
			set_up(b, false); // refused at once
		else
			gate_link_flush(b->hlink);
	}
}

static void start_ticks(void *arg)
{
	gate_backends *bs = arg;
	bs->tick = event_new(base_ioloop_base(bs->loop0), -1, EV_PERSIST, on_tick, bs);
	struct timeval tv = {0, GATE_HEALTH_MS * 1000};
	if (bs->tick != NULL) {
		event_add(bs->tick, &tv);
		event_active(bs->tick, EV_TIMEOUT, 0); // the first round now
	}
}

static void stop_ticks(void *arg)
{
	gate_backends *bs = arg;
	if (bs->tick != NULL)
		event_free(bs->tick);
	bs->tick = NULL;
	unsigned n = gate_backends_count(bs);
	for (unsigned i = 0; i < n; i++) {
		gate_link_close(bs->slots[i].hlink);
		bs->slots[i].hlink = NULL;
	}
}

int gate_backends_start(gate_backends *bs, base_ioloop *loop0, char *err, size_t errcap)
{
	resolve_all(bs);
	bs->loop0 = loop0;
	if (pthread_create(&bs->thread, NULL, resolver_main, bs) != 0) {
		snprintf(err, errcap, "cannot start the resolver thread");
		return -1;
	}
	bs->thread_started = true;
	base_ioloop_call(loop0, start_ticks, bs);
	if (bs->tick == NULL) {
		snprintf(err, errcap, "cannot start the health checks");
		return -1;
	}
	return 0;
}

void gate_backends_destroy(gate_backends *bs)
{
	if (bs == NULL)
		return;
	if (bs->thread_started) {
		pthread_mutex_lock(&bs->mu);
		bs->stop = true;
		pthread_cond_signal(&bs->cv);
		pthread_mutex_unlock(&bs->mu);
		pthread_join(bs->thread, NULL);
	}
	if (bs->loop0 != NULL)
		base_ioloop_call(bs->loop0, stop_ticks, bs);
	pthread_mutex_destroy(&bs->mu);
	pthread_cond_destroy(&bs->cv);
	free(bs);
}
