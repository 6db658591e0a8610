// nrpc retry: see include/nrpc/retry.h.
#include "nrpc/retry.h"

#include <string.h>

static const char *const reads[] = {
    "/property.v1.PropertyService/GetProperty",
    "/property.v1.PropertyService/ListPropertiesByOwner",
    "/property.v1.PropertyService/SearchProperties",
    "/property.v1.EventService/ReadEvents",
    "/grpc.health.v1.Health/Check",
    "/rpc.v1.Reflection/ListServices",
    "/rpc.v1.Reflection/GetFileDescriptorSet",
};

static bool is(const char *method, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len == n && memcmp(method, name, n) == 0;
}

bool nrpc_retry_safe(const char *method, size_t len, bool has_idempotency_key)
{
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
		if (is(method, len, reads[i]))
			return true;
	return has_idempotency_key &&
	       is(method, len, "/property.v1.PropertyService/CreateProperty");
}
