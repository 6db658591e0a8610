// ProtobufCService over nrpc_client: one blocking call per invoke.
#include "nrpc/stub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stub {
	ProtobufCService base; // first: the stubs see only this
	nrpc_client *client;   // borrowed
	nrpc_call_opts opts;   // strings borrowed
} stub;

// The result of the closure running on this thread (NULL outside one).
static _Thread_local const nrpc_result *current;

const nrpc_result *nrpc_service_result(void)
{
	return current;
}

static void run_closure(ProtobufCClosure closure, void *data, const ProtobufCMessage *m,
                        const nrpc_result *res)
{
	const nrpc_result *outer = current; // a closure may call another stub
	current = res;
	if (closure != NULL)
		closure(m, data);
	current = outer;
}

static void invoke(ProtobufCService *service, unsigned method_index, const ProtobufCMessage *input,
                   ProtobufCClosure closure, void *closure_data)
{
	stub *s = (stub *)service;
	const ProtobufCServiceDescriptor *d = service->descriptor;
	nrpc_result res = {0};
	char msg[] = "out of memory in the nrpc stub";
	if (method_index >= d->n_methods) {
		res.code = NRPC_UNIMPLEMENTED;
		res.message = (char *)"no such method index";
		run_closure(closure, closure_data, NULL, &res);
		return;
	}
	const ProtobufCMethodDescriptor *md = &d->methods[method_index];
	char path[512];
	snprintf(path, sizeof path, "/%s/%s", d->name, md->name);
	size_t len = input != NULL ? protobuf_c_message_get_packed_size(input) : 0;
	uint8_t *buf = malloc(len > 0 ? len : 1);
	if (buf == NULL || (input != NULL && protobuf_c_message_pack(input, buf) != len) ||
	    nrpc_client_call_raw(s->client, path, buf, len, s->opts.metadata, s->opts.n_metadata,
	                         s->opts.timeout_ms, &res) != 0) {
		free(buf);
		nrpc_result local = {
		    .code = NRPC_RESOURCE_EXHAUSTED, .message = msg, .transport_error = true};
		run_closure(closure, closure_data, NULL, &local);
		return;
	}
	free(buf);
	ProtobufCMessage *out = NULL;
	if (res.code == NRPC_OK) {
		out = protobuf_c_message_unpack(md->output, NULL, res.payload_len, res.payload);
		if (out == NULL) {
			char *m = strdup("undecodable reply payload");
			if (m != NULL) {
				free(res.message);
				res.message = m;
			}
			res.code = NRPC_INTERNAL;
		}
	}
	run_closure(closure, closure_data, out, &res);
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	nrpc_result_free(&res);
}

static void destroy(ProtobufCService *service)
{
	free(service);
}

int nrpc_service_open(ProtobufCService **out, nrpc_client *c, const ProtobufCServiceDescriptor *d,
                      const nrpc_call_opts *opts)
{
	*out = NULL;
	stub *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	s->base.descriptor = d;
	s->base.invoke = invoke;
	s->base.destroy = destroy;
	s->client = c;
	if (opts != NULL)
		s->opts = *opts;
	*out = &s->base;
	return 0;
}
