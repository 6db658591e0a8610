// rpc.v1.Reflection over nrpc: the served service names and the embedded
// FileDescriptorSet (docs/contract.md §2.10).
#include "nrpc/reflection.h"

#include <nng/nng.h>
#include <stdlib.h>

#include "rpc/v1/reflection.pb-c.h"

// Borrowed pointers; the struct itself is owned by the server.
typedef struct reflection {
	const nrpc_server *server;
	const uint8_t *fds;
	size_t len;
} reflection;

static nrpc_code list_services(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                               void *arg)
{
	(void)in;
	const reflection *r = arg;
	size_t n = nrpc_server_service_count(r->server);
	Rpc__V1__ListServicesResponse *resp = nrpc_call_alloc(call, sizeof(*resp));
	rpc__v1__list_services_response__init(resp);
	resp->services = nrpc_call_alloc(call, (n > 0 ? n : 1) * sizeof(char *));
	for (size_t i = 0; i < n; i++)
		resp->services[i] = (char *)nrpc_server_service_at(r->server, i)->name;
	resp->n_services = n;
	*out = &resp->base;
	return NRPC_OK;
}

static nrpc_code get_fds(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                         void *arg)
{
	(void)in;
	const reflection *r = arg;
	Rpc__V1__GetFileDescriptorSetResponse *resp = nrpc_call_alloc(call, sizeof(*resp));
	rpc__v1__get_file_descriptor_set_response__init(resp);
	resp->file_descriptor_set.data = (uint8_t *)r->fds; // packed, never written
	resp->file_descriptor_set.len = r->len;
	*out = &resp->base;
	return NRPC_OK;
}

int nrpc_reflection_register(nrpc_server *s, const uint8_t *fds, size_t len)
{
	static const nrpc_method_impl impls[] = {
	    {.name = "ListServices", .handler = list_services, .flags = NRPC_OPEN | NRPC_INLINE},
	    {.name = "GetFileDescriptorSet", .handler = get_fds, .flags = NRPC_OPEN | NRPC_INLINE},
	};
	reflection *r = malloc(sizeof(*r));
	if (r == NULL)
		return NNG_ENOMEM;
	r->server = s;
	r->fds = fds;
	r->len = len;
	int rv = nrpc_server_adopt(s, r);
	if (rv != 0) {
		free(r);
		return rv;
	}
	// On failure r stays with the server, freed when it is destroyed.
	return nrpc_server_add_service(s, &rpc__v1__reflection__descriptor, impls,
	                               sizeof(impls) / sizeof(impls[0]), r);
}
