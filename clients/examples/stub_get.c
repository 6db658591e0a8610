// stub_get: GetProperty through protoc-c's generated stub over nrpc
// (include/nrpc/stub.h), the way a C service of the mesh would call
// propertyd.
//
// usage: stub_get [-u URL] PROPERTY_ID
// The token comes from env PROPCTL_TOKEN (sent as "authorization: Bearer ...").
// Prints the property's id, title and version; exit 0 on OK, 1 on an error
// reply, 2 when no reply came, 64 on a usage error.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nrpc/client.h"
#include "nrpc/status.h"
#include "nrpc/stub.h"
#include "property/v1/property.pb-c.h"

typedef struct outcome {
	int exit_status;
} outcome;

// Runs before the stub returns: print what came back.
static void on_property(const Property__V1__Property *p, void *data)
{
	outcome *o = data;
	const nrpc_result *r = nrpc_service_result();
	if (p == NULL) {
		fprintf(stderr, "ERROR %s (%u): %s\n", nrpc_code_name(r->code), r->code,
		        r->message);
		o->exit_status = r->transport_error ? 2 : 1;
		return;
	}
	printf("id: %s\ntitle: %s\nversion: %llu\n", p->id, p->title,
	       (unsigned long long)p->version);
	o->exit_status = 0;
}

int main(int argc, char **argv)
{
	const char *url = "tcp://127.0.0.1:7700";
	int i = 1;
	if (argc > 2 && strcmp(argv[1], "-u") == 0) {
		url = argv[2];
		i = 3;
	}
	if (argc != i + 1) {
		fprintf(stderr, "usage: stub_get [-u URL] PROPERTY_ID\n");
		return 64;
	}
	char err[256], auth[4200];
	nrpc_meta md[1];
	nrpc_call_opts opts = {.metadata = md, .timeout_ms = 5000};
	const char *token = getenv("PROPCTL_TOKEN");
	if (token != NULL && token[0] != '\0') {
		snprintf(auth, sizeof auth, "Bearer %s", token);
		md[0] = (nrpc_meta){"authorization", auth};
		opts.n_metadata = 1;
	}

	nrpc_client *c = NULL;
	const char *urls[] = {url};
	if (nrpc_client_open(&c, urls, 1, err, sizeof err) != 0) {
		fprintf(stderr, "stub_get: %s\n", err);
		return 2;
	}
	ProtobufCService *svc = NULL;
	if (nrpc_service_open(&svc, c, &property__v1__property_service__descriptor, &opts) != 0) {
		fprintf(stderr, "stub_get: out of memory\n");
		nrpc_client_close(c);
		return 1;
	}
	Property__V1__GetPropertyRequest req = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	req.id = argv[i];
	outcome o = {1};
	property__v1__property_service__get_property(svc, &req, on_property, &o);
	protobuf_c_service_destroy(svc);
	nrpc_client_close(c);
	return o.exit_status;
}
