// propgate: the rpc.v1 gateway of the mesh. Callers dial one URL; each call
// goes to a healthy propertyd instance (docs/gateway.md).
//
// Threads: main (start, then waits for SIGTERM/SIGINT), IO_THREADS event
// loops (callers' connections, backend connections, health checks on loop 0),
// the backend resolver, the HTTP endpoint's thread, and nng's threads for
// tls+tcp:// listeners. Start: loops -> backends (first resolution, health
// checks) -> forwarder -> listeners -> HTTP. Stop: drain the listeners, then
// tear down in reverse order.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "base/ioloop.h"
#include "base/signals.h"
#include "forward.h"
#include "nrpc/server.h"
#include "obs/http.h"
#include "obs/log.h"
#include "obs/process.h"
#include "options.h"
#include "tlsclient.h"

#define MAX_LOOPS 64
#define DRAIN_MS  5000

typedef struct gate {
	gate_options opt;
	base_ioloop *loops[MAX_LOOPS];
	unsigned nloops;
	obs_registry *reg;
	obs_process *proc;
	gate_tls *backend_tls; // for tls+tcp:// backends, or NULL
	gate_backends *bs;
	gate_forward *fw;
	nrpc_server *srv[GATE_MAX_LISTEN];
	size_t nsrv;
	obs_http *http;
	obs_counter *calls[17]; // by status code
	obs_histogram *duration;
} gate;

static void observe(const nrpc_call_summary *s, void *arg)
{
	gate *g = arg;
	obs_counter_add(g->calls[s->code < 17 ? s->code : 2], 1);
	obs_histogram_observe(g->duration, (double)s->duration_us / 1e6);
}

static int ready(void *arg)
{
	gate *g = arg;
	return gate_backends_healthy(g->bs) > 0;
}

static void collect(void *arg)
{
	gate *g = arg;
	obs_process_collect(g->proc);
}

// The registry: process families, calls by status code, call durations.
static void register_metrics(gate *g)
{
	g->reg = obs_registry_create();
	g->proc = obs_process_register(g->reg);
	for (unsigned c = 0; c < 17; c++) {
		char lab[32];
		snprintf(lab, sizeof lab, "code=\"%u\"", c);
		g->calls[c] =
		    obs_counter_get(g->reg, "propgate_calls_total",
		                    "Calls answered by the gateway, by status code.", lab);
	}
	g->duration = obs_histogram_get(g->reg, "propgate_call_duration_seconds",
	                                "Time from receiving a call to sending its answer.", NULL,
	                                obs_latency_bounds, obs_latency_bounds_n);
}

// IO_THREADS event loops, each started as it is made.
static int start_loops(gate *g)
{
	char err[512];
	g->nloops = (unsigned)g->opt.io_threads;
	for (unsigned i = 0; i < g->nloops; i++) {
		char name[24];
		snprintf(name, sizeof name, "gate-io%u", i);
		if (base_ioloop_create(&g->loops[i], name, err, sizeof err) != 0 ||
		    base_ioloop_start(g->loops[i], err, sizeof err) != 0) {
			OBS_LOG(OBS_ERROR, "cannot start the event loops", OBS_S("error", err));
			return -1;
		}
	}
	return 0;
}

// TLS to the backends (when BACKEND_TLS_CA_FILE is set), the backends and
// their health checks, and the forwarding of calls to them.
static int start_backends(gate *g)
{
	char err[512];
	if (g->opt.backend_ca_file != NULL &&
	    gate_tls_create(&g->backend_tls, g->opt.backend_ca_file, g->opt.backend_cert_file,
	                    g->opt.backend_key_file, g->opt.backend_server_name, err,
	                    sizeof err) != 0) {
		OBS_LOG(OBS_ERROR, "cannot set up TLS to backends", OBS_S("error", err));
		return -1;
	}
	if (gate_backends_create(&g->bs, g->opt.backends, g->opt.nbackends, g->opt.dns, g->opt.ndns,
	                         g->backend_tls, g->reg, err, sizeof err) != 0 ||
	    gate_backends_start(g->bs, g->loops[0], err, sizeof err) != 0) {
		OBS_LOG(OBS_ERROR, "cannot start the backends", OBS_S("error", err));
		return -1;
	}
	if (gate_forward_create(&g->fw, g->loops, g->nloops, g->bs, g->reg, err, sizeof err) != 0) {
		OBS_LOG(OBS_ERROR, "cannot start forwarding", OBS_S("error", err));
		return -1;
	}
	return 0;
}

// A server listening on each --listen URL, proxying every call.
static int start_listeners(gate *g)
{
	char err[512];
	nrpc_tls tls = {.cert_file = g->opt.tls_cert_file,
	                .key_file = g->opt.tls_key_file,
	                .ca_file = g->opt.tls_ca_file};
	for (size_t i = 0; i < g->opt.nlisten; i++) {
		nrpc_server_config sc = {
		    .url = g->opt.listen[i],
		    .workers = 1,
		    .insecure_no_auth = true, // tokens are checked by the instances
		    .tls = &tls,
		    .observer = observe,
		    .observer_arg = g,
		    .max_connections = g->opt.max_connections,
		    .loops = g->loops,
		    .nloops = g->nloops,
		    .proxy = gate_forward_proxy,
		    .proxy_arg = g->fw,
		};
		int rv = nrpc_server_create(&g->srv[g->nsrv], &sc, err, sizeof err);
		if (rv == 0)
			g->nsrv++;
		if (rv != 0 || nrpc_server_start(g->srv[g->nsrv - 1], err, sizeof err) != 0) {
			OBS_LOG(OBS_ERROR, "cannot listen", OBS_S("url", g->opt.listen[i]),
			        OBS_S("error", err));
			return -1;
		}
	}
	return 0;
}

// Metrics, loops, backends, listeners, then /metrics /healthz /readyz; on -1
// the reason is logged and stop() tears down whatever was made.
static int start(gate *g)
{
	char err[512];
	register_metrics(g);
	if (start_loops(g) != 0 || start_backends(g) != 0 || start_listeners(g) != 0)
		return -1;
	if (obs_http_start(&g->http, g->opt.http_addr, g->reg, ready, g, err, sizeof err) != 0) {
		OBS_LOG(OBS_ERROR, "cannot start the HTTP endpoint", OBS_S("error", err));
		return -1;
	}
	obs_http_set_collect(g->http, collect, g);
	return 0;
}

static void stop(gate *g)
{
	for (size_t i = 0; i < g->nsrv; i++)
		nrpc_server_drain(g->srv[i], DRAIN_MS);
	if (g->http != NULL)
		obs_http_stop(g->http);
	gate_forward_destroy(g->fw); // calls still waiting on a backend are answered 14
	gate_backends_destroy(g->bs);
	gate_tls_free(g->backend_tls);
	for (size_t i = 0; i < g->nsrv; i++)
		nrpc_server_destroy(g->srv[i]);
	for (unsigned i = 0; i < g->nloops; i++)
		base_ioloop_destroy(g->loops[i]);
	obs_process_free(g->proc);
	if (g->reg != NULL)
		obs_registry_destroy(g->reg);
	gate_options_free(&g->opt);
}

int main(int argc, char **argv)
{
	static gate g; // the process's one owner of state
	char err[512];
	gate_options_result rc = gate_options_load(&g.opt, argc, argv, err, sizeof err);
	if (rc != GATE_OPTIONS_OK) {
		if (rc == GATE_OPTIONS_ERROR)
			fprintf(stderr, "propgate: %s\n", err);
		gate_options_free(&g.opt);
		return rc == GATE_OPTIONS_ERROR ? 2 : 0;
	}
	obs_log_init(obs_level_parse(g.opt.log_level, OBS_INFO), 2);
	obs_process_raise_fd_limit();
	sigset_t sigs;
	base_signals_init(&sigs);
	if (start(&g) != 0) {
		stop(&g);
		return 1;
	}
	OBS_LOG(OBS_INFO, "propgate serving", OBS_S("version", PROPERTYD_VERSION),
	        OBS_S("listen", g.opt.listen[0]), OBS_S("http_addr", g.opt.http_addr),
	        OBS_I("backends", gate_backends_count(g.bs)), OBS_I("io_threads", g.nloops));
	// Not inside OBS_LOG: its arguments are evaluated only when the level is on.
	const char *signame = base_signals_wait(&sigs);
	OBS_LOG(OBS_INFO, "stopping", OBS_S("signal", signame));
	stop(&g);
	OBS_LOG(OBS_INFO, "stopped");
	return 0;
}
