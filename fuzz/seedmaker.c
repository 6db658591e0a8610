// fuzz_seedmaker: writes the seed corpora of fuzz/corpus/<target>/ (run it
// with the corpus folder as its argument; see docs/fuzzing.md). Each seed is
// a small valid input, so that fuzzing starts from the paths real traffic
// takes. Deterministic: the same build writes the same files.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/jwt.h"
#include "property/pagetoken.h"
#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

// Must match envelope.c.
#define FUZZ_SECRET "propertyd-fuzz-secret-0123456789abcdef"
// Must match jwt.c.
#define JWT_SECRET "propertyd-fuzz-jwt-secret-0123456789"
#define NEVER      4102444800 // 2100-01-01: seeds' tokens outlive any run
#define UUID1      "0f8fad5b-d9cb-469f-a165-70867728950e"

static const char *root;

static void put(const char *target, const char *name, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0777) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void put_str(const char *target, const char *name, const char *s)
{
	put(target, name, s, strlen(s));
}

// A one-byte mode or selector, then the data.
static void put_sel(const char *target, const char *name, uint8_t sel, const void *data, size_t len)
{
	uint8_t *b = malloc(len + 1);
	b[0] = sel;
	memcpy(b + 1, data, len);
	put(target, name, b, len + 1);
	free(b);
}

static void put_sel_str(const char *target, const char *name, uint8_t sel, const char *s)
{
	put_sel(target, name, sel, s, strlen(s));
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(*len + 1);
	protobuf_c_message_pack(m, b);
	return b;
}

static char *bearer(const char *sub)
{
	char *t = nrpc_jwt_sign((const uint8_t *)FUZZ_SECRET, strlen(FUZZ_SECRET), sub, NEVER);
	size_t n = strlen(t) + 8;
	char *out = malloc(n);
	snprintf(out, n, "Bearer %s", t);
	free(t);
	return out;
}

// An rpc.v1.Request for `method` with `payload`, `auth` (or NULL) and an
// optional extra metadata pair, to fuzz/corpus/envelope and envscan.
static void envelope(const char *name, const char *method, const ProtobufCMessage *payload,
                     const char *auth, const char *k2, const char *v2, uint32_t timeout_ms)
{
	Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
	Rpc__V1__Request__MetadataEntry e[3], *ep[3];
	size_t n = 0;
	req.method = (char *)method;
	req.timeout_ms = timeout_ms;
	size_t plen = 0;
	uint8_t *p = payload != NULL ? pack(payload, &plen) : NULL;
	req.payload.data = p;
	req.payload.len = plen;
	if (auth != NULL) {
		rpc__v1__request__metadata_entry__init(&e[n]);
		e[n].key = "authorization";
		e[n].value = (char *)auth;
		ep[n] = &e[n];
		n++;
	}
	if (k2 != NULL) {
		rpc__v1__request__metadata_entry__init(&e[n]);
		e[n].key = (char *)k2;
		e[n].value = (char *)v2;
		ep[n] = &e[n];
		n++;
	}
	req.n_metadata = n;
	req.metadata = ep;
	size_t len;
	uint8_t *b = pack(&req.base, &len);
	put("envelope", name, b, len);
	put("envscan", name, b, len);
	free(b);
	free(p);
}

static void envelope_seeds(void)
{
	char *alice = bearer("alice");
	Grpc__Health__V1__HealthCheckRequest hc = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	envelope("health_all", "/grpc.health.v1.Health/Check", &hc.base, NULL, NULL, NULL, 0);
	hc.service = "property.v1.PropertyService";
	envelope("health_property", "/grpc.health.v1.Health/Check", &hc.base, NULL, "x-request-id",
	         "req-1", 1000);
	hc.service = "nope";
	envelope("health_unknown", "/grpc.health.v1.Health/Check", &hc.base, NULL, "traceparent",
	         "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0);

	Property__V1__Location loc = PROPERTY__V1__LOCATION__INIT;
	loc.address = "1 Main St";
	loc.city = "Lisbon";
	loc.country_code = "PT";
	loc.latitude = 38.72;
	loc.longitude = -9.14;
	Property__V1__CreatePropertyRequest cr = PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
	cr.title = "Flat with a view";
	cr.description = "Two rooms";
	cr.location = &loc;
	cr.price_cents = 25000000;
	cr.currency = "EUR";
	cr.bedrooms = 2;
	cr.status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_LISTED;
	envelope("create", "/property.v1.PropertyService/CreateProperty", &cr.base, alice,
	         "idempotency-key", "k-1", 5000);
	cr.title = "";
	cr.currency = "eur";
	envelope("create_invalid", "/property.v1.PropertyService/CreateProperty", &cr.base, alice,
	         NULL, NULL, 0);

	Property__V1__GetPropertyRequest gr = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	gr.id = UUID1;
	envelope("get", "/property.v1.PropertyService/GetProperty", &gr.base, alice, NULL, NULL, 0);

	Property__V1__Property p = PROPERTY__V1__PROPERTY__INIT;
	p.title = "Renamed";
	p.price_cents = 100;
	char *mask[] = {"title", "price_cents"};
	Property__V1__UpdatePropertyRequest ur = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	ur.id = UUID1;
	ur.expected_version = 1;
	ur.property = &p;
	ur.n_update_mask = 2;
	ur.update_mask = mask;
	envelope("update", "/property.v1.PropertyService/UpdateProperty", &ur.base, alice, NULL,
	         NULL, 0);

	Property__V1__DeletePropertyRequest dr = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	dr.id = UUID1;
	envelope("delete", "/property.v1.PropertyService/DeleteProperty", &dr.base, alice, NULL,
	         NULL, 0);

	Property__V1__ListPropertiesByOwnerRequest lr =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	lr.page_size = 2;
	envelope("list", "/property.v1.PropertyService/ListPropertiesByOwner", &lr.base, alice,
	         NULL, NULL, 0);
	// Page 2 of alice's listing: a token under the built-in key (the
	// service has no token key of its own in the target).
	prop_token_key k;
	prop_token_key_set(&k, NULL, 0);
	prop_cursor cur = {.key = 1700000000000001, .id = UUID1};
	char tok[PROP_TOKEN_MAX];
	prop_token_encode(&k, prop_token_owner_hash("alice"), &cur, tok);
	lr.page_token = tok;
	envelope("list_page2", "/property.v1.PropertyService/ListPropertiesByOwner", &lr.base,
	         alice, NULL, NULL, 0);

	Property__V1__BoundingBox bb = PROPERTY__V1__BOUNDING_BOX__INIT;
	bb.min_latitude = 38;
	bb.min_longitude = -10;
	bb.max_latitude = 39;
	bb.max_longitude = -9;
	Property__V1__SearchPropertiesRequest sr = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	sr.city = "lisbon";
	sr.country_code = "PT";
	sr.max_price_cents = 30000000;
	sr.min_bedrooms = 1;
	sr.bbox = &bb;
	sr.page_size = 5;
	envelope("search", "/property.v1.PropertyService/SearchProperties", &sr.base, alice, NULL,
	         NULL, 0);

	Property__V1__ReadEventsRequest er = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	er.limit = 10;
	er.type_prefix = "property.";
	envelope("read_events", "/property.v1.EventService/ReadEvents", &er.base, alice, NULL, NULL,
	         0);
	envelope("no_token", "/property.v1.EventService/ReadEvents", &er.base, NULL, NULL, NULL, 0);
	envelope("unknown_method", "/property.v1.PropertyService/Nope", NULL, alice, NULL, NULL, 0);

	// Payload seeds for pbscan: selector byte = index into its type table.
	size_t len;
	uint8_t *b = pack(&cr.base, &len);
	put_sel("pbscan", "create", 0, b, len);
	free(b);
	b = pack(&ur.base, &len);
	put_sel("pbscan", "update_strip", 0x81, b, len);
	free(b);
	b = pack(&sr.base, &len);
	put_sel("pbscan", "search", 5, b, len);
	free(b);
	b = pack(&er.base, &len);
	put_sel("pbscan", "read_events", 6, b, len);
	free(b);
	cr.title = "bad\xff utf8";
	b = pack(&cr.base, &len);
	put_sel("pbscan", "create_bad_utf8", 0, b, len);
	free(b);

	// propsub frames: "<type>\0<Event>"; the selector byte picks the state.
	Property__V1__Event ev = PROPERTY__V1__EVENT__INIT;
	ev.seq = 1;
	ev.id = UUID1;
	ev.type = "property.created";
	ev.aggregate_id = UUID1;
	ev.owner_id = "alice";
	ev.occurred_at_us = 1700000000000000;
	ev.property = &p;
	b = pack(&ev.base, &len);
	uint8_t frame[1024];
	memcpy(frame, "property.created", 17);
	memcpy(frame + 17, b, len);
	put_sel("propsub", "created_seq1", 0x01, frame, 17 + len);
	put_sel("propsub", "created_gap", 0x00, frame, 17 + len);
	put_sel("propsub", "from_now", 0x0a, frame, 17 + len);
	free(b);
	ev.seq = 7;
	ev.type = "property.deleted";
	b = pack(&ev.base, &len);
	memcpy(frame, "property.deleted", 17);
	memcpy(frame + 17, b, len);
	put_sel("propsub", "deleted_seq7", 0x62, frame, 17 + len);
	free(b);
	free(alice);
}

static void token_seeds(void)
{
	// pagetoken mode 0 uses this key and query hash (pagetoken.c).
	prop_token_key k;
	prop_token_key_set(&k, (const uint8_t *)"fuzz page-token key", 19);
	prop_cursor c = {.key = 42, .id = UUID1};
	char tok[PROP_TOKEN_MAX];
	prop_token_encode(&k, 0x0123456789abcdefULL, &c, tok);
	put_sel("pagetoken", "valid", 0, tok, strlen(tok));
	uint8_t cur[16 + 36] = {0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8};
	memcpy(cur + 16, "0F8FAD5B-D9CB-469F-A165-70867728950E", 36);
	put_sel("pagetoken", "cursor", 1, cur, sizeof(cur));
	put_sel("pagetoken", "key", 2, "a shared page-token secret", 26);

	char *t = nrpc_jwt_sign((const uint8_t *)JWT_SECRET, strlen(JWT_SECRET), "alice", NEVER);
	put_sel("jwt", "valid", 0, t, strlen(t));
	put_sel("jwt", "valid_capped", 4, t, strlen(t));
	free(t);
	t = nrpc_jwt_sign((const uint8_t *)"another secret of enough length!!", 33, "bob", NEVER);
	put_sel("jwt", "other_secret", 0, t, strlen(t));
	free(t);
	const char *parts = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}\n"
	                    "{\"sub\":\"alice\",\"exp\":1800000000,\"nbf\":1600000000}";
	put_sel("jwt", "parts", 1, parts, strlen(parts));
	parts = "{\"alg\":\"HS256\"}\n{\"sub\":\"alice\",\"exp\":1700000100.5}";
	put_sel("jwt", "parts_real_exp", 5, parts, strlen(parts));
	parts = "{\"alg\":\"none\"}\n{\"sub\":\"x\",\"exp\":1800000000}";
	put_sel("jwt", "parts_none", 1, parts, strlen(parts));
	uint8_t sg[8 + 5] = {0, 0, 0, 0, 0x70, 0, 0, 0};
	memcpy(sg + 8, "carol", 5);
	put_sel("jwt", "sign", 2, sg, sizeof(sg));
}

static void text_seeds(void)
{
	// pbjson: selector = type index (pbjson.c) | errcap bits | flag bit.
	put_sel_str(
	    "pbjson", "create", 5 | 0x60,
	    "{\"title\":\"Flat\",\"location\":{\"city\":\"Lisbon\",\"latitude\":38.7},"
	    "\"priceCents\":\"2500\",\"status\":\"PROPERTY_STATUS_LISTED\",\"bedrooms\":2}");
	put_sel_str("pbjson", "update", 7 | 0x80,
	            "{\"id\":\"" UUID1 "\",\"expected_version\":3,\"property\":{\"title\":\"x\"},"
	            "\"update_mask\":[\"title\"]}");
	put_sel_str("pbjson", "request_map", 14 | 0x40,
	            "{\"method\":\"/a/"
	            "b\",\"payload\":\"AAEC\",\"metadata\":{\"k\":\"v\"},\"timeoutMs\":5}");
	put_sel_str(
	    "pbjson", "search_bbox", 12,
	    "{\"bbox\":{\"min_latitude\":-1e3,\"max_longitude\":\"Infinity\"},\"status\":3}");
	put_sel_str(
	    "pbjson", "events", 2 | 0x20,
	    "{\"events\":[{\"seq\":\"18446744073709551615\",\"type\":\"t\"}],\"last_seq\":null}");

	const char *prom = "# HELP rpc_requests_total Requests.\n"
	                   "# TYPE rpc_requests_total counter\n"
	                   "rpc_requests_total{method=\"Get\",code=\"OK\"} 12\n"
	                   "rpc_requests_total{method=\"Get\",code=\"NOT_FOUND\"} 3 1700000000000\n"
	                   "rpc_latency_seconds_bucket{method=\"Get\",le=\"0.005\"} 4\n"
	                   "rpc_latency_seconds_bucket{method=\"Get\",le=\"0.1\"} 10\n"
	                   "rpc_latency_seconds_bucket{method=\"Get\",le=\"+Inf\"} 15\n"
	                   "rpc_latency_seconds_sum{method=\"Get\"} 0.9\n"
	                   "up 1\n";
	put_str("promtext", "scrape", prom);
	put_str("promtext", "escapes",
	        "x_bucket{a=\"q\\\"\\\\\\n\",le=\"1e-3\"} NaN\nx_bucket{le=\"+Inf\"} -Inf\n");

	static const char cfg1[] = "--database-url\0postgres://u@h/db\0--insecure-no-auth";
	put("config", "insecure", cfg1, sizeof(cfg1) - 1);
	static const char cfg2[] =
	    "DATABASE_URL=postgres:///x\0AUTH_SECRET=0123456789abcdef0123456789abcdef\0"
	    "EVENT_RETENTION=12h\0TOKEN_MAX_LIFETIME=30m\0WORKERS=4\0IO_THREADS=2\0"
	    "SLOW_QUERY_MS=-1\0REDIS_URL=redis://:pw@[::1]:6380/3";
	put("config", "env", cfg2, sizeof(cfg2) - 1);
	static const char cfg3[] = "--rpc-url=tls+tcp://0.0.0.0:7700\0--database-url\0x\0"
	                           "--workers\0008\0--insecure-no-auth\0DB_BATCH_MAX=1";
	put("config", "tls_refused", cfg3, sizeof(cfg3) - 1);
	static const char cfg4[] = "--help";
	put("config", "help", cfg4, sizeof(cfg4) - 1);

	const char *redis = "redis://user:p%40ss@cache.internal:6380/2";
	put_sel("urls", "redis", 0, redis, strlen(redis));
	redis = "redis://[::1]";
	put_sel("urls", "redis_v6", 0, redis, strlen(redis));
	put_sel("urls", "host_port", 1, "127.0.0.1:7702", 14);
	put_sel("urls", "host_port_v6", 1, "[::1]:0", 7);
	const char *list = "tcp://a:1, tls+tcp://b:2,ipc:///tmp/x";
	put_sel("urls", "list", 2, list, strlen(list));
	put_sel("urls", "nng_url", 3, "tls+tcp://[::1]:7700", 20);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	root = argv[1];
	envelope_seeds();
	token_seeds();
	text_seeds();
	return 0;
}
