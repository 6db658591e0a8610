// it_stubs: protoc-c's generated service stubs over nrpc (include/nrpc/stub.h)
// against a real propertyd, and the reflection service (docs/contract.md
// §2.10) through them.
//
// Each stub call runs its closure before it returns; an error reply reaches
// the closure as NULL with the outcome in nrpc_service_result().
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "harness.h"
#include "nrpc/stub.h"
#include "rpc/v1/reflection.pb-c.h"

typedef struct ctx {
	h_proc p;
	char owner[96];
	char *auth;
	Property__V1__Property *prop;
} ctx;

// What a closure saw (copied: the message is freed when the closure returns).
typedef struct seen {
	int calls;
	bool got_message;
	unsigned code;
	bool transport_error;
	char title[256];
	char request_id[160];
	size_t n_services;
	char services[8][64];
	size_t fds_len;
	int health;
} seen;

static void note_result(seen *s)
{
	const nrpc_result *r = nrpc_service_result();
	H_CHECK(r != NULL, "no result inside the closure");
	if (r == NULL)
		return;
	s->code = r->code;
	s->transport_error = r->transport_error;
	const char *rid = nrpc_result_metadata(r, "x-request-id");
	snprintf(s->request_id, sizeof s->request_id, "%s", rid ? rid : "");
}

static void on_property(const Property__V1__Property *p, void *data)
{
	seen *s = data;
	s->calls++;
	s->got_message = p != NULL;
	if (p != NULL)
		snprintf(s->title, sizeof s->title, "%s", p->title);
	note_result(s);
}

static void on_services(const Rpc__V1__ListServicesResponse *r, void *data)
{
	seen *s = data;
	s->calls++;
	s->got_message = r != NULL;
	for (size_t i = 0; r != NULL && i < r->n_services && i < 8; i++)
		snprintf(s->services[i], sizeof s->services[i], "%s", r->services[i]);
	s->n_services = r != NULL ? r->n_services : 0;
	note_result(s);
}

static void on_fds(const Rpc__V1__GetFileDescriptorSetResponse *r, void *data)
{
	seen *s = data;
	s->calls++;
	s->got_message = r != NULL;
	s->fds_len = r != NULL ? r->file_descriptor_set.len : 0;
	note_result(s);
}

static void on_health(const Grpc__Health__V1__HealthCheckResponse *r, void *data)
{
	seen *s = data;
	s->calls++;
	s->got_message = r != NULL;
	s->health = r != NULL ? (int)r->status : -1;
	note_result(s);
}

static ProtobufCService *open_svc(ctx *c, const ProtobufCServiceDescriptor *d, const char *auth,
                                  const char *req_id)
{
	static _Thread_local nrpc_meta md[2];
	nrpc_call_opts o = {.metadata = md, .timeout_ms = 5000};
	if (auth != NULL)
		md[o.n_metadata++] = (nrpc_meta){"authorization", auth};
	if (req_id != NULL)
		md[o.n_metadata++] = (nrpc_meta){"x-request-id", req_id};
	ProtobufCService *s = NULL;
	H_CHECK(nrpc_service_open(&s, c->p.cli, d, &o) == 0, "nrpc_service_open failed");
	return s;
}

static void case_get_ok(void *arg)
{
	ctx *c = arg;
	ProtobufCService *svc =
	    open_svc(c, &property__v1__property_service__descriptor, c->auth, "stub-get-1");
	Property__V1__GetPropertyRequest req = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	req.id = c->prop->id;
	seen s = {0};
	property__v1__property_service__get_property(svc, &req, on_property, &s);
	H_CHECK(s.calls == 1, "closure ran %d times before the stub returned", s.calls);
	H_CHECK(s.got_message && s.code == 0, "code %u", s.code);
	H_CHECK(strcmp(s.title, c->prop->title) == 0, "title \"%s\"", s.title);
	H_CHECK(strcmp(s.request_id, "stub-get-1") == 0, "x-request-id \"%s\"", s.request_id);
	H_CHECK(nrpc_service_result() == NULL, "a result outside the closure");
	protobuf_c_service_destroy(svc);
}

static void case_errors(void *arg)
{
	ctx *c = arg;
	ProtobufCService *svc =
	    open_svc(c, &property__v1__property_service__descriptor, c->auth, NULL);
	Property__V1__GetPropertyRequest req = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	req.id = "6a0d3f8e-1b2c-4d5e-8f90-a1b2c3d4e5f6";
	seen s = {0};
	property__v1__property_service__get_property(svc, &req, on_property, &s);
	H_CHECK(s.calls == 1 && !s.got_message, "a message for a missing property");
	H_CHECK(s.code == NRPC_NOT_FOUND && !s.transport_error, "code %u", s.code);
	protobuf_c_service_destroy(svc);

	// Without a token: 16, the message NULL.
	svc = open_svc(c, &property__v1__property_service__descriptor, NULL, NULL);
	memset(&s, 0, sizeof s);
	req.id = c->prop->id;
	property__v1__property_service__get_property(svc, &req, on_property, &s);
	H_CHECK(s.calls == 1 && !s.got_message && s.code == NRPC_UNAUTHENTICATED, "code %u",
	        s.code);
	protobuf_c_service_destroy(svc);

	// Create with violations: 3, through the generic closure type.
	svc = open_svc(c, &property__v1__property_service__descriptor, c->auth, NULL);
	Property__V1__CreatePropertyRequest cr = PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
	memset(&s, 0, sizeof s);
	property__v1__property_service__create_property(svc, &cr, on_property, &s);
	H_CHECK(s.calls == 1 && !s.got_message && s.code == NRPC_INVALID_ARGUMENT, "code %u",
	        s.code);
	protobuf_c_service_destroy(svc);
}

static void case_unreachable(void *arg)
{
	(void)arg;
	nrpc_client *cl = NULL;
	char err[128];
	const char *urls[] = {"tcp://127.0.0.1:1"};
	H_CHECK(nrpc_client_open(&cl, urls, 1, err, sizeof err) == 0, "%s", err);
	nrpc_meta md[1] = {{"x-request-id", "nobody"}};
	nrpc_call_opts o = {.metadata = md, .n_metadata = 1, .timeout_ms = 300};
	ProtobufCService *svc = NULL;
	H_CHECK(nrpc_service_open(&svc, cl, &grpc__health__v1__health__descriptor, &o) == 0,
	        "open");
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	seen s = {0};
	grpc__health__v1__health__check(svc, &req, on_health, &s);
	H_CHECK(s.calls == 1 && !s.got_message && s.transport_error, "code %u", s.code);
	H_CHECK(s.code == NRPC_DEADLINE_EXCEEDED || s.code == NRPC_UNAVAILABLE, "code %u", s.code);
	protobuf_c_service_destroy(svc);
	nrpc_client_close(cl);
}

static void case_reflection(void *arg)
{
	ctx *c = arg;
	// Open methods: no token.
	ProtobufCService *svc = open_svc(c, &rpc__v1__reflection__descriptor, NULL, NULL);
	Rpc__V1__ListServicesRequest lr = RPC__V1__LIST_SERVICES_REQUEST__INIT;
	seen s = {0};
	rpc__v1__reflection__list_services(svc, &lr, on_services, &s);
	H_CHECK(s.got_message && s.code == 0, "ListServices code %u", s.code);
	const char *want[] = {"grpc.health.v1.Health", "rpc.v1.Reflection",
	                      "property.v1.PropertyService", "property.v1.EventService"};
	H_CHECK(s.n_services == 4, "%zu services", s.n_services);
	for (size_t i = 0; i < 4 && i < s.n_services; i++)
		H_CHECK(strcmp(s.services[i], want[i]) == 0, "service %zu is %s", i, s.services[i]);

	Rpc__V1__GetFileDescriptorSetRequest fr = RPC__V1__GET_FILE_DESCRIPTOR_SET_REQUEST__INIT;
	memset(&s, 0, sizeof s);
	rpc__v1__reflection__get_file_descriptor_set(svc, &fr, on_fds, &s);
	H_CHECK(s.got_message && s.code == 0 && s.fds_len > 1000,
	        "GetFileDescriptorSet code %u, %zu bytes", s.code, s.fds_len);
	protobuf_c_service_destroy(svc);

	svc = open_svc(c, &grpc__health__v1__health__descriptor, NULL, NULL);
	Grpc__Health__V1__HealthCheckRequest hr = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	memset(&s, 0, sizeof s);
	grpc__health__v1__health__check(svc, &hr, on_health, &s);
	H_CHECK(s.got_message && s.health == 1, "health %d", s.health);
	protobuf_c_service_destroy(svc);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"get_ok", case_get_ok},
	    {"errors", case_errors},
	    {"unreachable", case_unreachable},
	    {"reflection", case_reflection},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx c;
	memset(&c, 0, sizeof(c));
	h_owner(c.owner, sizeof(c.owner), "stubs");
	c.auth = h_bearer(H_SECRET, c.owner, 600);
	if (h_start(&c.p, NULL) == 0) {
		c.prop = h_create(c.p.cli, c.auth, "");
		if (c.prop != NULL) {
			h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), &c, argc, argv);
			protobuf_c_message_free_unpacked(&c.prop->base, NULL);
		}
		rc = h_stop(&c.p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c.p);
	free(c.auth);
	return h_status();
}
