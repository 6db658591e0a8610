// See redis_cache.h: the life cycle (create, destroy, the loops' clients) and
// the metrics. The port's operations are in async_ops.c.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cache/cache_impl.h"
#include "obs/log.h"

#include "cache/aredis.h"

// ---- lifecycle ---------------------------------------------------------------------------

static void register_metrics(cache_redis *c, obs_registry *m)
{
	static const char *const fam[FAM_N] = {"property", "owner_list"};
	static const char REQ[] = "propertyd_cache_requests_total";
	static const char REQ_HELP[] = "Cache lookups by family and result.";
	char labels[128];

	for (int f = 0; f < FAM_N; f++) {
		snprintf(labels, sizeof(labels), "family=\"%s\",result=\"hit\"", fam[f]);
		c->hit[f] = obs_counter_get(m, REQ, REQ_HELP, labels);
		snprintf(labels, sizeof(labels), "family=\"%s\",result=\"miss\"", fam[f]);
		c->miss[f] = obs_counter_get(m, REQ, REQ_HELP, labels);
	}
	for (int o = 0; o < OP_N; o++) {
		snprintf(labels, sizeof(labels), "op=\"%s\"", cache_op_names[o]);
		c->errors[o] =
		    obs_counter_get(m, "propertyd_cache_errors_total",
		                    "Redis errors by operation (each one is a miss).", labels);
	}
	c->up_gauge =
	    obs_gauge_get(m, "propertyd_cache_up",
	                  "1 while the Redis cache is serving, 0 while it is down.", NULL);
}

static void free_cache(cache_redis *c)
{
	cache_conn_close(&c->log_conn);
	if (c->own_metrics != NULL)
		obs_registry_destroy(c->own_metrics);
	memset(c->url.password, 0, sizeof(c->url.password));
	free(c);
}

int cache_create(cache_redis **out, const char *redis_url, obs_registry *metrics, char *err,
                 size_t errcap)
{
	cache_redis *c;
	int locks = 0;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	if (cache_url_parse(redis_url, &c->url, err, errcap) != 0)
		goto fail;
	if (metrics == NULL)
		metrics = c->own_metrics = obs_registry_create();
	register_metrics(c, metrics);
	obs_gauge_set(c->up_gauge, 0);

	pthread_mutex_init(&c->mu, NULL);
	base_cond_init_monotonic(&c->bg_cv);
	cache_recent_init(&c->recent);
	locks = 1;

	// The background thread tries at once; waiting for that attempt (within
	// CACHE_START_WAIT_MS) lets a healthy Redis serve from the first request,
	// while a host name whose resolver stalls (getaddrinfo cannot be
	// bounded) or a Redis that does not answer cannot hold up the start.
	if (pthread_create(&c->bg, NULL, cache_bg_main, c) != 0) {
		snprintf(err, errcap, "cache: cannot start its thread");
		goto fail;
	}
	pthread_setname_np(c->bg, "pd-cache-bg");
	struct timespec dl = base_deadline_ts(CLOCK_MONOTONIC, CACHE_START_WAIT_MS);
	pthread_mutex_lock(&c->mu);
	while (!c->first_tried && !base_ts_passed(CLOCK_MONOTONIC, &dl))
		pthread_cond_timedwait(&c->bg_cv, &c->mu, &dl);
	pthread_mutex_unlock(&c->mu);
	if (!atomic_load(&c->up))
		OBS_LOG(OBS_WARN, "redis cache unavailable at start; retrying in the background",
		        OBS_S("host", c->url.host), OBS_I("port", c->url.port));
	*out = c;
	return 0;
fail:
	if (locks) {
		pthread_cond_destroy(&c->bg_cv);
		pthread_mutex_destroy(&c->mu);
		cache_recent_fini(&c->recent);
	}
	free_cache(c);
	return -1;
}

void cache_destroy(cache_redis *c)
{
	if (c == NULL)
		return;
	cache_detach_loops(c);
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_cond_broadcast(&c->bg_cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->bg, NULL);
	pthread_cond_destroy(&c->bg_cv);
	pthread_mutex_destroy(&c->mu);
	cache_recent_fini(&c->recent);
	free_cache(c);
}

// A loop's connection failed or timed out: counted under "connect" (the
// commands it failed are counted under their own operations).
static void client_failed(void *arg, const char *why)
{
	cache_mark_down(arg, OP_CONNECT, NULL, why);
}

int cache_attach_loops(cache_redis *c, struct event_base *const *bases, unsigned n,
                       struct base_resolver *resolver, char *err, size_t errcap)
{
	c->shards = calloc(n, sizeof *c->shards);
	if (c->shards == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	c->nshards = n;
	for (unsigned i = 0; i < n; i++) {
		cache_aredis_config ac = {
		    .url = &c->url,
		    .base = bases[i],
		    .connect_timeout_ms = CACHE_COMMAND_TIMEOUT_MS,
		    .command_timeout_ms = CACHE_COMMAND_TIMEOUT_MS,
		    // Well inside the recovery cycle: a client the cache comes back to is
		    // past its back-off by then.
		    .reconnect_min_ms = CACHE_RECONNECT_MS / 5,
		    .on_failure = client_failed,
		    .arg = c,
		    .resolver = resolver,
		};
		c->shards[i].seed = (unsigned)base_now_us() ^ (i * 2654435761u);
		if (cache_aredis_create(&c->shards[i].client, &ac, err, errcap) != 0)
			return -1;
	}
	return 0;
}

void cache_detach_loops(cache_redis *c)
{
	for (unsigned i = 0; i < c->nshards; i++)
		cache_aredis_destroy(c->shards[i].client);
	free(c->shards);
	c->shards = NULL;
	c->nshards = 0;
}

bool cache_available(cache_redis *c)
{
	return atomic_load(&c->up);
}
