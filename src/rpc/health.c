// grpc.health.v1.Health/Check over nrpc.
#include "nrpc/health.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"

#define HEALTH_MAX_SERVICES 16

struct nrpc_health {
	size_t n;
	char *names[HEALTH_MAX_SERVICES]; // names[0] is "" (the whole server)
	_Atomic int status[HEALTH_MAX_SERVICES];
};

nrpc_health *nrpc_health_create(const char *const *services, size_t n)
{
	if (n + 1 > HEALTH_MAX_SERVICES)
		return NULL;
	nrpc_health *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->names[0] = strdup("");
	for (size_t i = 0; i < n; i++)
		h->names[i + 1] = strdup(services[i]);
	h->n = n + 1;
	for (size_t i = 0; i < h->n; i++) {
		if (h->names[i] == NULL) {
			nrpc_health_destroy(h);
			return NULL;
		}
		atomic_init(&h->status[i], NRPC_HEALTH_NOT_SERVING);
	}
	return h;
}

void nrpc_health_destroy(nrpc_health *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < HEALTH_MAX_SERVICES; i++)
		free(h->names[i]);
	free(h);
}

static int find(const nrpc_health *h, const char *service)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->names[i], service) == 0)
			return (int)i;
	return -1;
}

int nrpc_health_set(nrpc_health *h, const char *service, enum nrpc_serving st)
{
	int i = find(h, service);
	if (i < 0)
		return -1;
	atomic_store(&h->status[i], (int)st);
	return 0;
}

void nrpc_health_set_all(nrpc_health *h, enum nrpc_serving st)
{
	for (size_t i = 0; i < h->n; i++)
		atomic_store(&h->status[i], (int)st);
}

enum nrpc_serving nrpc_health_get(const nrpc_health *h, const char *service)
{
	int i = find(h, service);
	if (i < 0)
		return NRPC_HEALTH_SERVICE_UNKNOWN;
	return (enum nrpc_serving)atomic_load(&((nrpc_health *)h)->status[i]);
}

static nrpc_code check(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *arg)
{
	const Grpc__Health__V1__HealthCheckRequest *req =
	    (const Grpc__Health__V1__HealthCheckRequest *)in;
	nrpc_health *h = arg;
	const char *svc = req->service ? req->service : "";
	enum nrpc_serving st = nrpc_health_get(h, svc);
	if (st == NRPC_HEALTH_SERVICE_UNKNOWN)
		return nrpc_call_error(call, NRPC_NOT_FOUND, "unknown service");
	Grpc__Health__V1__HealthCheckResponse *resp = nrpc_call_alloc(call, sizeof(*resp));
	grpc__health__v1__health_check_response__init(resp);
	resp->status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
	*out = &resp->base;
	return NRPC_OK;
}

int nrpc_health_register(nrpc_health *h, nrpc_server *s)
{
	static const nrpc_method_impl impls[] = {
	    {.name = "Check", .handler = check, .flags = NRPC_OPEN | NRPC_INLINE},
	};
	return nrpc_server_add_service(s, &grpc__health__v1__health__descriptor, impls, 1, h);
}
