// property_handlers: the RPC glue through a real nrpc server and client (over
// ipc://), with the in-memory fakes behind the service. Checks the mapping of
// outcomes to status codes, violations and messages, identity, metadata and
// the raw-payload scan.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/test/check.h"
#include "fakes.h"
#include "nrpc/client.h"
#include "nrpc/jwt.h"
#include "nrpc/server.h"
#include "property/handlers.h"

#define SVC "/property.v1.PropertyService/"

static const char secret[] = "handlers-test-secret-6b1e9f3c7a2d5e80";

typedef struct rig {
	char url[128];
	fake_repo repo;
	fake_cache cache;
	prop_service *svc;
	nrpc_server *server;
	base_ioloop *loop; // the use cases run here, as in propertyd
	prop_handlers *handlers;
	nrpc_client *client;
	char *alice; // "Bearer <token>"
	char *bob;
} rig;

static char *bearer(const char *sub)
{
	char *t = nrpc_jwt_sign((const uint8_t *)secret, strlen(secret), sub, time(NULL) + 600);
	size_t n = strlen(t) + 8;
	char *out = malloc(n);
	snprintf(out, n, "Bearer %s", t);
	free(t);
	return out;
}

static int rig_start(rig *r)
{
	char err[256];
	prop_service_config sc = {0};
	nrpc_server_config cfg = {0};
	snprintf(r->url, sizeof(r->url), "ipc:///tmp/property-handlers-test-%d.ipc", (int)getpid());
	fake_repo_init(&r->repo);
	fake_cache_init(&r->cache);
	sc.repo = fake_repo_port(&r->repo);
	sc.cache = fake_cache_port(&r->cache);
	if (prop_service_create(&r->svc, &sc) != 0) {
		return -1;
	}
	cfg.url = r->url;
	cfg.workers = 1;
	// One loop: the fakes are single-threaded, and every use case runs on it.
	if (base_ioloop_create(&r->loop, "handlers", err, sizeof(err)) != 0 ||
	    base_ioloop_start(r->loop, err, sizeof(err)) != 0) {
		printf("loop: %s\n", err);
		return -1;
	}
	cfg.auth_secret = (const uint8_t *)secret;
	cfg.auth_secret_len = strlen(secret);
	if (nrpc_server_create(&r->server, &cfg, err, sizeof(err)) != 0 ||
	    prop_handlers_register(&r->handlers, r->server, r->svc, &r->loop, 1) != 0 ||
	    nrpc_server_start(r->server, err, sizeof(err)) != 0) {
		printf("server: %s\n", err);
		return -1;
	}
	const char *urls[] = {r->url};
	if (nrpc_client_open(&r->client, urls, 1, err, sizeof(err)) != 0) {
		printf("client: %s\n", err);
		return -1;
	}
	r->alice = bearer("alice");
	r->bob = bearer("bob");
	return 0;
}

static void rig_stop(rig *r)
{
	nrpc_client_close(r->client);
	nrpc_server_drain(r->server, 1000);
	base_ioloop_destroy(r->loop);
	nrpc_server_destroy(r->server);
	prop_handlers_destroy(r->handlers);
	prop_service_destroy(r->svc);
	fake_cache_fini(&r->cache);
	fake_repo_fini(&r->repo);
	free(r->alice);
	free(r->bob);
	unlink(r->url + strlen("ipc://"));
}

// Calls with `auth` ("Bearer ..."), an optional idempotency key, and raw bytes.
static void call_raw(rig *r, const char *method, const char *auth, const char *idem,
                     const uint8_t *buf, size_t len, nrpc_result *res)
{
	nrpc_meta md[2] = {{"authorization", auth}, {"idempotency-key", idem}};
	char m[128];
	snprintf(m, sizeof(m), SVC "%s", method);
	if (nrpc_client_call_raw(r->client, m, buf, len, md, idem != NULL ? 2 : 1, 5000, res) !=
	    0) {
		abort();
	}
}

static void call_msg(rig *r, const char *method, const char *auth, const char *idem,
                     const ProtobufCMessage *req, nrpc_result *res)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len + 1);
	protobuf_c_message_pack(req, buf);
	call_raw(r, method, auth, idem, buf, len, res);
	free(buf);
}

static bool has_violation(const nrpc_result *res, const char *field)
{
	for (size_t i = 0; i < res->n_violations; i++) {
		if (strcmp(res->violation_fields[i], field) == 0) {
			return true;
		}
	}
	return false;
}

static Property__V1__Location paris = {PROTOBUF_C_MESSAGE_INIT(&property__v1__location__descriptor),
                                       "1 Rue",
                                       "Paris",
                                       "FR",
                                       48.85,
                                       2.35};

static Property__V1__CreatePropertyRequest create_req(const char *owner, const char *title)
{
	Property__V1__CreatePropertyRequest r = PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
	r.owner_id = (char *)owner;
	r.title = (char *)title;
	r.location = &paris;
	r.price_cents = 100;
	r.currency = "EUR";
	return r;
}

// Creates as alice; returns the new id (malloc'd) or NULL.
static char *create(rig *r, const char *idem)
{
	Property__V1__CreatePropertyRequest q = create_req("", "Flat");
	nrpc_result res;
	char *id = NULL;
	call_msg(r, "CreateProperty", r->alice, idem, &q.base, &res);
	CHECK(res.code == 0, "create: %u %s", res.code, res.message);
	if (res.code == 0) {
		Property__V1__Property *p =
		    property__v1__property__unpack(NULL, res.payload_len, res.payload);
		CHECK(p != NULL && strcmp(p->owner_id, "alice") == 0, "owner from token");
		if (p != NULL) {
			id = strdup(p->id);
			property__v1__property__free_unpacked(p, NULL);
		}
	}
	nrpc_result_free(&res);
	return id;
}

static void test_create(rig *r)
{
	nrpc_result res;

	// Two bad fields: both violations, the count in the message.
	Property__V1__CreatePropertyRequest q = create_req("", "");
	q.currency = "eur";
	call_msg(r, "CreateProperty", r->alice, NULL, &q.base, &res);
	CHECK(res.code == 3 && res.n_violations == 2 && has_violation(&res, "title") &&
	          has_violation(&res, "currency") &&
	          strcmp(res.message, "invalid argument: 2 invalid fields") == 0,
	      "two violations: %u %zu '%s'", res.code, res.n_violations, res.message);
	nrpc_result_free(&res);

	// One bad field: named in the message.
	q = create_req("", "Flat");
	q.bedrooms = 1001;
	call_msg(r, "CreateProperty", r->alice, NULL, &q.base, &res);
	CHECK(res.code == 3 && res.n_violations == 1 &&
	          strcmp(res.message, "invalid argument: bedrooms: must be at most 1000") == 0,
	      "one violation: '%s'", res.message);
	nrpc_result_free(&res);

	// An embedded NUL: a valid request followed by title = "ab\0c" (the last
	// occurrence of a field wins, so protobuf-c sees "ab").
	q = create_req("", "Flat");
	size_t len = protobuf_c_message_get_packed_size(&q.base);
	uint8_t *buf = malloc(len + 6);
	static const uint8_t nul_title[] = {0x12, 0x04, 'a', 'b', 0x00, 'c'};
	protobuf_c_message_pack(&q.base, buf);
	memcpy(buf + len, nul_title, sizeof(nul_title));
	call_raw(r, "CreateProperty", r->alice, NULL, buf, len + sizeof(nul_title), &res);
	CHECK(res.code == 3 && has_violation(&res, "title") &&
	          strcmp(res.message, "invalid argument: title: must not contain U+0000") == 0,
	      "embedded NUL: %u '%s'", res.code, res.message);
	nrpc_result_free(&res);
	free(buf);

	// Another owner's id: 7.
	q = create_req("bob", "Flat");
	call_msg(r, "CreateProperty", r->alice, NULL, &q.base, &res);
	CHECK(res.code == 7 && res.n_violations == 0, "create for another owner: %u", res.code);
	nrpc_result_free(&res);

	// The idempotency-key metadata reaches the repository.
	char *a = create(r, "k-1");
	char *b = create(r, "k-1");
	CHECK(a != NULL && b != NULL && strcmp(a, b) == 0, "idempotent replay");
	CHECK(strcmp(r->repo.last_idem_key, "k-1") == 0, "key passed");
	free(a);
	free(b);
}

static void test_get_update_delete(rig *r)
{
	nrpc_result res;
	char *id = create(r, NULL);
	if (id == NULL) {
		return;
	}
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = id;
	call_msg(r, "GetProperty", r->bob, NULL, &g.base, &res);
	CHECK(res.code == 0, "get by another caller: %u %s", res.code, res.message);
	nrpc_result_free(&res);

	g.id = "nope";
	call_msg(r, "GetProperty", r->bob, NULL, &g.base, &res);
	CHECK(res.code == 3 && has_violation(&res, "id"), "bad id: %u", res.code);
	nrpc_result_free(&res);

	g.id = "00000000-0000-4000-8000-999999999999";
	call_msg(r, "GetProperty", r->bob, NULL, &g.base, &res);
	CHECK(res.code == 5 && res.n_violations == 0 && strstr(res.message, "not found") != NULL,
	      "absent id: %u '%s'", res.code, res.message);
	nrpc_result_free(&res);

	// Update: the mask, the owner, success.
	Property__V1__Property v = PROPERTY__V1__PROPERTY__INIT;
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	char *immutable[] = {"id"};
	char *title[] = {"title"};
	v.title = "Renamed";
	u.id = id;
	u.property = &v;
	u.update_mask = immutable;
	u.n_update_mask = 1;
	call_msg(r, "UpdateProperty", r->alice, NULL, &u.base, &res);
	CHECK(res.code == 3 && has_violation(&res, "update_mask"), "immutable mask: %u", res.code);
	nrpc_result_free(&res);
	u.update_mask = title;
	call_msg(r, "UpdateProperty", r->bob, NULL, &u.base, &res);
	CHECK(res.code == 7, "update by another owner: %u", res.code);
	nrpc_result_free(&res);
	u.expected_version = 9;
	call_msg(r, "UpdateProperty", r->alice, NULL, &u.base, &res);
	CHECK(res.code == 10, "stale version: %u", res.code);
	nrpc_result_free(&res);
	u.expected_version = 1;
	call_msg(r, "UpdateProperty", r->alice, NULL, &u.base, &res);
	CHECK(res.code == 0, "update: %u %s", res.code, res.message);
	nrpc_result_free(&res);

	// Delete, then Get says 5.
	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = id;
	call_msg(r, "DeleteProperty", r->alice, NULL, &d.base, &res);
	CHECK(res.code == 0 && res.payload_len == 0, "delete: %u %s", res.code, res.message);
	nrpc_result_free(&res);
	g.id = id;
	call_msg(r, "GetProperty", r->alice, NULL, &g.base, &res);
	CHECK(res.code == 5, "get after delete: %u", res.code);
	nrpc_result_free(&res);
	free(id);
}

static void test_reads(rig *r)
{
	nrpc_result res;
	free(create(r, NULL)); // alice now has two: a page of one has a next page
	Property__V1__ListPropertiesByOwnerRequest l =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	l.owner_id = "alice";
	l.page_size = 1;
	call_msg(r, "ListPropertiesByOwner", r->bob, NULL, &l.base, &res);
	CHECK(res.code == 0, "list: %u %s", res.code, res.message);
	if (res.code == 0) {
		Property__V1__ListPropertiesResponse *lr =
		    property__v1__list_properties_response__unpack(NULL, res.payload_len,
		                                                   res.payload);
		CHECK(lr != NULL && lr->n_properties == 1 && lr->next_page_token[0] != '\0',
		      "list page");
		property__v1__list_properties_response__free_unpacked(lr, NULL);
	}
	nrpc_result_free(&res);

	l.page_token = "forged";
	call_msg(r, "ListPropertiesByOwner", r->bob, NULL, &l.base, &res);
	CHECK(res.code == 3 && has_violation(&res, "page_token"), "forged token: %u", res.code);
	nrpc_result_free(&res);

	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = "paris";
	call_msg(r, "SearchProperties", r->bob, NULL, &s.base, &res);
	CHECK(res.code == 0, "search: %u %s", res.code, res.message);
	nrpc_result_free(&res);

	Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	e.type_prefix = "property.created";
	nrpc_meta md[1] = {{"authorization", r->bob}};
	size_t len = property__v1__read_events_request__get_packed_size(&e);
	uint8_t *buf = malloc(len + 1);
	property__v1__read_events_request__pack(&e, buf);
	CHECK(nrpc_client_call_raw(r->client, "/property.v1.EventService/ReadEvents", buf, len, md,
	                           1, 5000, &res) == 0,
	      "read events call");
	free(buf);
	CHECK(res.code == 0, "read events: %u %s", res.code, res.message);
	if (res.code == 0) {
		Property__V1__ReadEventsResponse *er =
		    property__v1__read_events_response__unpack(NULL, res.payload_len, res.payload);
		CHECK(er != NULL && er->n_events >= 1 && er->last_seq >= er->n_events,
		      "events returned");
		property__v1__read_events_response__free_unpacked(er, NULL);
	}
	nrpc_result_free(&res);
}

int main(void)
{
	rig r;
	memset(&r, 0, sizeof(r));
	if (rig_start(&r) != 0) {
		printf("property_handlers: cannot start\n");
		return 1;
	}
	test_create(&r);
	test_get_update_delete(&r);
	test_reads(&r);
	rig_stop(&r);
	return check_summary("property_handlers");
}
