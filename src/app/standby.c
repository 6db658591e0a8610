// app standby: see standby.h.
#include "standby.h"

#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/server.h"
#include "rpc/v1/rpc.pb-c.h"

static const char health_method[] = "/grpc.health.v1.Health/Check";

struct app_standby {
	nrpc_server *srv;
};

static void answer(nrpc_call *call, const nrpc_envelope *env, void *arg)
{
	(void)arg;
	size_t ml = sizeof health_method - 1;
	if (env->method == NULL || env->method_len != ml ||
	    memcmp(env->method, health_method, ml) != 0) {
		nrpc_call_error(call, NRPC_UNAVAILABLE,
		                "database not reachable yet: this instance is not serving");
		nrpc_call_finish(call, NRPC_UNAVAILABLE, NULL);
		return;
	}
	Grpc__Health__V1__HealthCheckResponse h = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	h.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	uint8_t payload[8];
	Rpc__V1__Response r = RPC__V1__RESPONSE__INIT;
	r.payload.data = payload;
	r.payload.len = grpc__health__v1__health_check_response__pack(&h, payload);
	Rpc__V1__Response__MetadataEntry rid = RPC__V1__RESPONSE__METADATA_ENTRY__INIT;
	Rpc__V1__Response__MetadataEntry *md[1] = {&rid};
	rid.key = "x-request-id";
	rid.value = (char *)nrpc_call_request_id(call);
	r.metadata = md;
	r.n_metadata = 1;
	size_t n = rpc__v1__response__get_packed_size(&r);
	uint8_t *buf = nrpc_call_alloc(call, n);
	rpc__v1__response__pack(&r, buf);
	nrpc_call_finish_raw(call, NRPC_OK, buf, n);
}

app_standby *app_standby_start(const char *url, const nrpc_tls *tls, unsigned max_connections,
                               char *err, size_t errcap)
{
	app_standby *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	nrpc_server_config sc = {
	    .url = url,
	    .workers = 1,
	    .insecure_no_auth = true, // nothing is served: no token to check
	    .tls = tls,
	    .max_connections = max_connections,
	    .proxy = answer,
	};
	if (nrpc_server_create(&s->srv, &sc, err, errcap) != 0) {
		free(s);
		return NULL;
	}
	if (nrpc_server_start(s->srv, err, errcap) != 0) {
		nrpc_server_destroy(s->srv);
		free(s);
		return NULL;
	}
	return s;
}

void app_standby_stop(app_standby *s)
{
	if (s == NULL)
		return;
	nrpc_server_drain(s->srv, 0);
	nrpc_server_destroy(s->srv);
	free(s);
}
