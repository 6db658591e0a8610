// propertyd: wires the layers together and runs until SIGTERM/SIGINT.
//
// Start: config -> logs and metrics -> schema migrations (advisory lock) ->
// event loops, each with its PostgreSQL pipelines and Redis connection ->
// repository and cache -> property service -> RPC server -> event relay ->
// HTTP. Stop: NOT_SERVING, drain in-flight requests (10 s at most), stop the
// loops, flush the relay, tear down in reverse order, exit 0. A watchdog bounds the
// whole stop so a hung socket close can never keep the process alive.
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/config.h"
#include "app/observer.h"
#include "app/standby.h"
#include "base/ioloop.h"
#include "base/resolve.h"
#include "base/signals.h"
#include "cache/redis_cache.h"
#include "events/cachesync.h"
#include "events/relay.h"
#include "nrpc/health.h"
#include "nrpc/reflection.h"
#include "nrpc/server.h"
#include "obs/http.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "obs/process.h"
#include "pd_fds.h"
#include "property/handlers.h"
#include "property/service.h"
#include "store/apg.h"
#include "store/migrate.h"
#include "store/pgprobe.h"
#include "store/repo_pg.h"

#define DRAIN_MS        10000 // docs/contract.md: in-flight requests get at most 10 s
#define STOP_WATCHDOG_S 16    // drain + relay flush + closes, with margin
#define HEALTH_PROBE_MS 1000  // how often readiness follows PostgreSQL
#define HEALTH_PING_MS  800   // a probe slower than this counts as down
#define MIGRATE_RETRY_S 60    // PostgreSQL may still be starting (compose)
#define MAX_LOOPS       64

static const char *const services[] = {"property.v1.PropertyService", "property.v1.EventService"};

static const char *const methods[] = {
    "/property.v1.PropertyService/CreateProperty",
    "/property.v1.PropertyService/GetProperty",
    "/property.v1.PropertyService/UpdateProperty",
    "/property.v1.PropertyService/DeleteProperty",
    "/property.v1.PropertyService/ListPropertiesByOwner",
    "/property.v1.PropertyService/SearchProperties",
    "/property.v1.EventService/ReadEvents",
    "/grpc.health.v1.Health/Check",
    "/rpc.v1.Reflection/ListServices",
    "/rpc.v1.Reflection/GetFileDescriptorSet",
};

// Everything the process owns; the one place with process-wide state.
struct app {
	app_config cfg;
	obs_registry *metrics;
	base_ioloop *loops[MAX_LOOPS];
	unsigned nloops;
	base_resolver *resolver; // host names for the loops' connects
	store_apg *dbs[MAX_LOOPS];
	store_pgprobe *probe;
	store_repo_pg *repo;
	prop_handlers *handlers;
	cache_redis *cache;
	prop_service *svc;
	nrpc_health *health;
	app_observer *obs;
	nrpc_server *server;
	events_relay *relay;
	events_cachesync *cachesync;
	obs_http *http;
	pthread_t prober;
	bool prober_started;
	atomic_bool draining;
	atomic_bool stop_prober;
	obs_gauge *up_gauge;
	obs_gauge *inflight_gauge;
	obs_gauge *conn_open[3];      // propertyd_connections{listener=rpc|events|http}
	obs_counter *conn_refused[3]; // propertyd_connections_refused_total{listener}
	obs_counter *greet_timeouts;  // propertyd_connections_timed_out_total
	obs_counter *throttles;       // propertyd_connections_throttled_total
	obs_counter *http_timed_out;  // propertyd_http_timeouts_total
	nrpc_tls_stats tls_stats;     // refused TLS connections of the RPC socket
	obs_counter *tls_refused[2];  // propertyd_tls_refused_total{reason=handshake|peer}
	obs_process *proc;            // process_* families
	pthread_mutex_t kick_mu;      // guards kick_target against events_relay_stop
	events_relay *kick_target;    // the relay a committed write wakes, or NULL
};

static int ready(void *arg)
{
	struct app *a = arg;
	return !atomic_load(&a->draining) && nrpc_health_get(a->health, "") == NRPC_HEALTH_SERVING;
}

// Readiness follows PostgreSQL: NOT_SERVING while it is unreachable (Redis
// alone being down leaves the service SERVING: reads fall back to PostgreSQL).
static void *prober_main(void *arg)
{
	struct app *a = arg;
	bool was_up = true;
	while (!atomic_load(&a->stop_prober)) {
		char err[256];
		bool up =
		    store_pgprobe_check(a->probe, HEALTH_PING_MS, err, sizeof(err)) == NRPC_OK;
		if (!atomic_load(&a->draining))
			nrpc_health_set_all(a->health,
			                    up ? NRPC_HEALTH_SERVING : NRPC_HEALTH_NOT_SERVING);
		obs_gauge_set(a->up_gauge, up ? 1 : 0);
		if (up != was_up) {
			if (up)
				OBS_LOG(OBS_INFO, "database reachable again");
			else
				OBS_LOG(OBS_ERROR, "database unreachable", OBS_S("error", err));
			was_up = up;
		}
		for (int i = 0; i < HEALTH_PROBE_MS / 50 && !atomic_load(&a->stop_prober); i++)
			usleep(50 * 1000);
	}
	return NULL;
}

// The repository's commit hook: wake the event relay (never blocks).
static void kick_relay(void *arg)
{
	struct app *a = arg;
	pthread_mutex_lock(&a->kick_mu);
	events_relay_kick(a->kick_target);
	pthread_mutex_unlock(&a->kick_mu);
}

// Runs right before each /metrics render: gauges read from their owners.
// A monotonic total into its counter (collect runs under the HTTP server's
// collect lock, one at a time).
static void counter_to(obs_counter *c, uint64_t total)
{
	uint64_t now = obs_counter_value(c);
	if (total > now)
		obs_counter_add(c, total - now);
}

static void collect(void *arg)
{
	struct app *a = arg;
	int open = 0;
	uint64_t refused = 0, timed_out = 0;
	obs_process_collect(a->proc);
	if (a->server) {
		obs_gauge_set(a->inflight_gauge, nrpc_server_inflight(a->server));
		nrpc_server_connections(a->server, &open, &refused);
		obs_gauge_set(a->conn_open[0], open);
		counter_to(a->conn_refused[0], refused);
		counter_to(a->greet_timeouts, nrpc_server_greeting_timeouts(a->server));
		counter_to(a->throttles, nrpc_server_throttles(a->server));
	}
	if (a->relay) {
		events_relay_connections(a->relay, &open, &refused);
		obs_gauge_set(a->conn_open[1], open);
		counter_to(a->conn_refused[1], refused);
	}
	counter_to(a->tls_refused[0], atomic_load(&a->tls_stats.handshake_failed));
	counter_to(a->tls_refused[1], atomic_load(&a->tls_stats.peer_refused));
	if (a->http) {
		obs_http_stats(a->http, &open, &refused, &timed_out);
		obs_gauge_set(a->conn_open[2], open);
		counter_to(a->conn_refused[2], refused);
		counter_to(a->http_timed_out, timed_out);
	}
}

static void *watchdog_main(void *arg)
{
	(void)arg;
	sleep(STOP_WATCHDOG_S);
	OBS_LOG(OBS_ERROR, "shutdown watchdog fired: exiting without a full teardown");
	_exit(0);
}

// Applies the migrations, retrying while the database is unreachable; in
// the meantime a standby answers on RPC_URL (NOT_SERVING, see standby.h).
static int migrate_with_retry(struct app *a)
{
	char err[512];
	app_standby *sb = NULL;
	int rc = 0;
	for (int waited = 0;; waited++) {
		int applied = store_migrate_run(a->cfg.database_url, err, sizeof(err));
		if (applied >= 0)
			break;
		if (waited >= MIGRATE_RETRY_S) {
			fprintf(stderr, "propertyd: cannot apply schema migrations: %s\n", err);
			rc = -1;
			break;
		}
		if (waited == 0) {
			OBS_LOG(OBS_WARN, "database not ready, retrying migrations",
			        OBS_S("error", err));
			nrpc_tls tls = {.cert_file = a->cfg.tls_cert_file,
			                .key_file = a->cfg.tls_key_file,
			                .ca_file = a->cfg.tls_ca_file};
			char why[256];
			sb = app_standby_start(a->cfg.rpc_url, &tls, a->cfg.max_connections, why,
			                       sizeof why);
			if (sb == NULL)
				OBS_LOG(OBS_WARN, "no standby on the RPC URL meanwhile",
				        OBS_S("error", why));
		}
		sleep(1);
	}
	app_standby_stop(sb);
	return rc;
}

// Committed changes from the event log, whichever instance wrote them, to
// the cache (see events/cachesync.h).
static int apply_to_cache(void *arg, const store_outbox_change *ch, size_t n)
{
	struct app *a = arg;
	cache_log_change lc[CACHESYNC_BATCH];
	for (size_t i = 0; i < n && i < CACHESYNC_BATCH; i++)
		lc[i] = (cache_log_change){.id = ch[i].id,
		                           .owner = ch[i].owner,
		                           .version = ch[i].version,
		                           .deleted = ch[i].deleted};
	return cache_apply_log(a->cache, lc, n < CACHESYNC_BATCH ? n : CACHESYNC_BATCH);
}

// What the leader's relay published, to this instance's cache sync.
static void feed_cachesync(void *arg, const store_outbox_change *ch, size_t n)
{
	events_cachesync_feed(arg, ch, n);
}

// IO_THREADS event loops (not yet running), each with its own PostgreSQL
// pipelines: DB_POOL_SIZE connections shared out.
static int create_loops(struct app *a, struct event_base *bases[MAX_LOOPS])
{
	char err[512];
	a->nloops = (unsigned)a->cfg.io_threads;
	if (a->nloops > MAX_LOOPS)
		a->nloops = MAX_LOOPS;
	unsigned per_loop = (unsigned)a->cfg.db_pool_size / a->nloops;
	// Host names of DATABASE_URL and REDIS_URL are resolved here, never on a loop.
	if (base_resolver_start(&a->resolver, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "propertyd: %s\n", err);
		return -1;
	}
	for (unsigned i = 0; i < a->nloops; i++) {
		char name[24]; // the thread name keeps the first 15 bytes
		snprintf(name, sizeof name, "pd-io-%u", i);
		if (base_ioloop_create(&a->loops[i], name, err, sizeof err) != 0) {
			fprintf(stderr, "propertyd: %s\n", err);
			return -1;
		}
		bases[i] = base_ioloop_base(a->loops[i]);
		store_apg_config pc = {
		    .conninfo = a->cfg.database_url,
		    .base = bases[i],
		    .connections = per_loop > 0 ? per_loop : 1,
		    .slow_query_ms = a->cfg.slow_query_ms,
		    .no_prepare = a->cfg.db_no_prepare,
		    .metrics = a->metrics,
		    .resolver = a->resolver,
		};
		if (store_apg_create(&a->dbs[i], &pc, err, sizeof err) != 0) {
			fprintf(stderr, "propertyd: database: %s\n", err);
			return -1;
		}
	}
	return 0;
}

// The health probe, the repository over the loops' pipelines, and the cache
// with one Redis connection per loop.
static int create_repo_and_cache(struct app *a, struct event_base *const bases[MAX_LOOPS])
{
	char err[512];
	a->probe = store_pgprobe_create(a->cfg.database_url);
	store_repo_pg_config rc = {
	    .pools = a->dbs,
	    .bases = bases,
	    .nshards = a->nloops,
	    .batch_max = (unsigned)a->cfg.db_batch_max,
	    .batches_in_flight = (unsigned)a->cfg.db_batches_in_flight,
	    .on_commit = kick_relay,
	    .on_commit_arg = a,
	};
	if (a->probe == NULL || store_repo_pg_create(&a->repo, &rc, err, sizeof(err)) != 0) {
		fprintf(stderr, "propertyd: repository: %s\n", a->probe ? err : "out of memory");
		return -1;
	}
	if (cache_create(&a->cache, a->cfg.redis_url, a->metrics, err, sizeof(err)) != 0 ||
	    cache_attach_loops(a->cache, bases, a->nloops, a->resolver, err, sizeof(err)) != 0) {
		fprintf(stderr, "propertyd: cache: %s\n", err);
		return -1;
	}
	return 0;
}

// The request path: the event loops, the repository and the cache (both
// keep one shard per loop), then the loops running.
static int start_loops(struct app *a)
{
	char err[512];
	struct event_base *bases[MAX_LOOPS];
	if (create_loops(a, bases) != 0 || create_repo_and_cache(a, bases) != 0)
		return -1;
	for (unsigned i = 0; i < a->nloops; i++) {
		if (base_ioloop_start(a->loops[i], err, sizeof err) != 0) {
			fprintf(stderr, "propertyd: %s\n", err);
			return -1;
		}
	}
	return 0;
}

// Stops the loops, then completes what was still waiting on PostgreSQL or
// Redis (their callbacks run here, on this thread, answering UNAVAILABLE).
static void stop_loops(struct app *a)
{
	for (unsigned i = 0; i < a->nloops; i++)
		base_ioloop_stop(a->loops[i]);
	for (unsigned i = 0; i < a->nloops; i++) {
		store_apg_destroy(a->dbs[i]);
		a->dbs[i] = NULL;
	}
	if (a->cache)
		cache_detach_loops(a->cache);
}

// The connection families of the three listeners and of the RPC socket's TLS.
static void register_connection_metrics(struct app *a)
{
	static const char *const listeners[3] = {"listener=\"rpc\"", "listener=\"events\"",
	                                         "listener=\"http\""};
	for (int i = 0; i < 3; i++) {
		a->conn_open[i] = obs_gauge_get(
		    a->metrics, "propertyd_connections",
		    "Connections open on a listener (rpc, events, http)", listeners[i]);
		a->conn_refused[i] = obs_counter_get(
		    a->metrics, "propertyd_connections_refused_total",
		    "Connections closed at once because the listener's cap was reached "
		    "(MAX_CONNECTIONS, MAX_SUBSCRIBERS, HTTP_MAX_CONNECTIONS)",
		    listeners[i]);
	}
	a->greet_timeouts = obs_counter_get(
	    a->metrics, "propertyd_connections_timed_out_total",
	    "RPC connections closed because they did not send their greeting (after the TLS "
	    "handshake on tls+tcp://) within 10 s of being accepted",
	    NULL);
	a->throttles = obs_counter_get(
	    a->metrics, "propertyd_connections_throttled_total",
	    "Pauses of an RPC connection's reading because it drew refusals (8 RESOURCE_EXHAUSTED, "
	    "16 UNAUTHENTICATED) faster than REFUSAL_RATE a second, after a burst",
	    NULL);
	static const char *const tls_reasons[2] = {"reason=\"handshake\"", "reason=\"peer\""};
	for (int i = 0; i < 2; i++)
		a->tls_refused[i] = obs_counter_get(
		    a->metrics, "propertyd_tls_refused_total",
		    "tls+tcp:// RPC connections closed during the handshake: no or unverifiable "
		    "client certificate, or not TLS (handshake); an identity outside "
		    "TLS_ALLOWED_PEERS (peer)",
		    tls_reasons[i]);
}

// The registry and the families the app feeds itself (prober_main, collect).
static void register_metrics(struct app *a)
{
	a->metrics = obs_registry_create();
	a->up_gauge = obs_gauge_get(a->metrics, "propertyd_database_up",
	                            "1 when PostgreSQL answers the health probe", NULL);
	a->inflight_gauge = obs_gauge_get(a->metrics, "propertyd_requests_in_flight",
	                                  "RPC requests received and not yet answered", NULL);
	register_connection_metrics(a);
	a->proc = obs_process_register(a->metrics);
	a->http_timed_out = obs_counter_get(
	    a->metrics, "propertyd_http_timeouts_total",
	    "HTTP connections closed because their request did not arrive within HTTP_TIMEOUT_MS",
	    NULL);
	obs_gauge_set(obs_gauge_get(a->metrics, "propertyd_build_info", "Build information",
	                            "version=\"" PROPERTYD_VERSION "\""),
	              1);
}

// The property service over the repository and the cache, its health
// service and the per-call observer.
static int create_service(struct app *a)
{
	prop_service_config sc = {
	    .repo = store_repo_pg_port(a->repo),
	    .cache = cache_port(a->cache),
	    .token_key = a->cfg.secret,
	    .token_key_len = a->cfg.secret_len,
	    .metrics = a->metrics,
	};
	if (prop_service_create(&a->svc, &sc) != 0) {
		fprintf(stderr, "propertyd: cannot create the property service\n");
		return -1;
	}
	a->health = nrpc_health_create(services, sizeof(services) / sizeof(services[0]));
	a->obs = app_observer_create(a->metrics, methods, sizeof(methods) / sizeof(methods[0]),
	                             a->cfg.log_requests);
	if (a->health == NULL || a->obs == NULL) {
		fprintf(stderr, "propertyd: out of memory\n");
		return -1;
	}
	return 0;
}

// The RPC server on the loops with every service registered (not yet
// listening: serve_rpc). It keeps tls, which nrpc_server_start reads.
static int create_server(struct app *a, const nrpc_tls *tls)
{
	char err[512] = "";
	nrpc_server_config rc = {
	    .tls = tls,
	    .url = a->cfg.rpc_url,
	    .workers = a->cfg.workers,
	    .auth_secret = a->cfg.secret,
	    .auth_secret_len = a->cfg.secret_len,
	    .insecure_no_auth = a->cfg.insecure_no_auth,
	    .max_token_lifetime_s = a->cfg.token_max_lifetime_s,
	    .observer = a->cfg.observe ? app_observer_on_call : NULL,
	    .observer_arg = a->obs,
	    .max_inflight_per_caller = a->cfg.max_inflight_per_caller,
	    .refusal_rate = a->cfg.refusal_rate == 0 ? -1 : (int)a->cfg.refusal_rate,
	    .max_connections = a->cfg.max_connections,
	    .loops = a->loops,
	    .nloops = a->nloops,
	    .use_nng = a->cfg.rpc_nng,
	};
	if (nrpc_server_create(&a->server, &rc, err, sizeof(err)) != 0 ||
	    nrpc_health_register(a->health, a->server) != 0 ||
	    nrpc_reflection_register(a->server, pd_fds, pd_fds_len) != 0 ||
	    prop_handlers_register(&a->handlers, a->server, a->svc, a->loops, a->nloops) != 0) {
		fprintf(stderr, "propertyd: rpc server: %s\n", err);
		return -1;
	}
	return 0;
}

// The event relay (unless RELAY=0), which committed writes then wake, and
// the cache sync that applies the event log to the cache.
static int start_events(struct app *a)
{
	char err[512];
	// The event PUB socket: the same certificate, subscribers verified
	// against EVENTS_TLS_CA_FILE (default TLS_CA_FILE); nng serves it, so no
	// allow-list (docs/security.md). Read by events_relay_start only.
	nrpc_tls events_tls = {
	    .cert_file = a->cfg.tls_cert_file,
	    .key_file = a->cfg.tls_key_file,
	    .ca_file = a->cfg.events_tls_ca_file,
	};
	events_relay_config ec = {
	    .conninfo = a->cfg.database_url,
	    .pub_url = a->cfg.events_url,
	    .pub_tls = &events_tls,
	    .metrics = a->metrics,
	    .retention_s = a->cfg.event_retention_s,
	    .max_subscribers = a->cfg.max_subscribers,
	};
	// The cache sync first: the relay feeds it what it publishes.
	if (events_cachesync_start(&a->cachesync, a->cfg.database_url, apply_to_cache, a, err,
	                           sizeof(err)) != 0) {
		fprintf(stderr, "propertyd: cache sync: %s\n", err);
		return -1;
	}
	ec.published = feed_cachesync;
	ec.published_arg = a->cachesync;
	if (a->cfg.relay && events_relay_start(&a->relay, &ec, err, sizeof(err)) != 0) {
		fprintf(stderr, "propertyd: event relay: %s\n", err);
		return -1;
	}
	a->kick_target = a->relay;
	return 0;
}

// /metrics, /healthz and /readyz on HTTP_ADDR.
static int start_http(struct app *a)
{
	char err[512];
	if (obs_http_start(&a->http, a->cfg.http_addr, a->metrics, ready, a, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "propertyd: http: %s\n", err);
		return -1;
	}
	obs_http_set_limits(a->http, a->cfg.http_max_connections, a->cfg.http_timeout_ms);
	obs_http_set_collect(a->http, collect, a);
	return 0;
}

// Opens RPC_URL, then reports SERVING and starts following PostgreSQL.
static int serve_rpc(struct app *a)
{
	char err[512];
	if (nrpc_server_start(a->server, err, sizeof(err)) != 0) {
		fprintf(stderr, "propertyd: %s\n", err);
		return -1;
	}
	nrpc_health_set_all(a->health, NRPC_HEALTH_SERVING);
	if (pthread_create(&a->prober, NULL, prober_main, a) == 0)
		a->prober_started = true;
	return 0;
}

// The start sequence of the header comment; on -1 the message is printed and
// stop() tears down whatever was made.
static int start(struct app *a)
{
	register_metrics(a);
	if (migrate_with_retry(a) != 0 || start_loops(a) != 0 || create_service(a) != 0)
		return -1;
	// Read when the server starts listening (serve_rpc), so it lives here
	// until then; the stats are the app's and outlive the server.
	nrpc_tls tls = {
	    .cert_file = a->cfg.tls_cert_file,
	    .key_file = a->cfg.tls_key_file,
	    .ca_file = a->cfg.tls_ca_file,
	    .allowed_peers = a->cfg.tls_allowed_peers,
	    .stats = &a->tls_stats,
	};
	if (create_server(a, &tls) != 0 || start_events(a) != 0 || start_http(a) != 0 ||
	    serve_rpc(a) != 0)
		return -1;
	return 0;
}

static void stop(struct app *a)
{
	atomic_store(&a->draining, true);
	if (a->health)
		nrpc_health_set_all(a->health, NRPC_HEALTH_NOT_SERVING);
	if (a->server) {
		int left = nrpc_server_drain(a->server, DRAIN_MS);
		if (left > 0)
			OBS_LOG(OBS_WARN, "drain budget ran out", OBS_I("inflight", left));
	}
	stop_loops(a);
	atomic_store(&a->stop_prober, true);
	if (a->prober_started)
		pthread_join(a->prober, NULL);
	pthread_mutex_lock(&a->kick_mu);
	a->kick_target = NULL; // a late handler's commit must not touch a stopped relay
	pthread_mutex_unlock(&a->kick_mu);
	if (a->relay)
		events_relay_stop(a->relay); // flushes what is pending
	if (a->http)
		obs_http_stop(a->http);
	nrpc_server_destroy(a->server);
	prop_handlers_destroy(a->handlers);
	app_observer_destroy(a->obs);
	nrpc_health_destroy(a->health);
	prop_service_destroy(a->svc);
	events_cachesync_stop(a->cachesync);
	if (a->cache)
		cache_destroy(a->cache);
	if (a->repo)
		store_repo_pg_destroy(a->repo);
	store_pgprobe_destroy(a->probe);
	for (unsigned i = 0; i < a->nloops; i++)
		base_ioloop_destroy(a->loops[i]);
	base_resolver_stop(a->resolver); // after the loops: none asks any more
	obs_process_free(a->proc);
	obs_registry_destroy(a->metrics);
	app_config_free(&a->cfg);
}

int main(int argc, char **argv)
{
	static struct app a; // zero-initialised; the process's one owner of state
	pthread_mutex_init(&a.kick_mu, NULL);
	char err[512];
	app_config_result rc = app_config_load(&a.cfg, argc, argv, err, sizeof(err));
	if (rc != APP_CONFIG_OK) {
		if (rc == APP_CONFIG_ERROR)
			fprintf(stderr, "propertyd: %s\n", err);
		app_config_free(&a.cfg);
		return rc == APP_CONFIG_ERROR ? 2 : 0;
	}
	obs_log_init(obs_level_parse(a.cfg.log_level, OBS_INFO), 2);
	obs_process_raise_fd_limit();

	// Every thread created from here on inherits the mask; main waits below.
	sigset_t sigs;
	base_signals_init(&sigs);

	if (a.cfg.insecure_no_auth)
		OBS_LOG(OBS_WARN, "INSECURE: --insecure-no-auth is set; requests are accepted "
		                  "without tokens and nothing is owner-checked. Development only!");
	if (start(&a) != 0) {
		stop(&a);
		return 1;
	}
	OBS_LOG(OBS_INFO, "propertyd serving", OBS_S("version", PROPERTYD_VERSION),
	        OBS_S("rpc_url", a.cfg.rpc_url), OBS_S("events_url", a.cfg.events_url),
	        OBS_S("http_addr", a.cfg.http_addr), OBS_I("io_threads", a.cfg.io_threads),
	        OBS_I("db_pool_size", a.cfg.db_pool_size));

	// Not inside OBS_LOG: its arguments are evaluated only when the level is on.
	const char *signame = base_signals_wait(&sigs);
	OBS_LOG(OBS_INFO, "stopping", OBS_S("signal", signame));
	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog_main, NULL) == 0)
		pthread_detach(wd);
	stop(&a);
	OBS_LOG(OBS_INFO, "stopped");
	return 0;
}
