// nrpc server test, part: the order of checks, the wire limits and the
// per-call memory bound, on raw envelopes (see server_test.c for the whole).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/ioloop.h"
#include "base/test/check.h"
#include "base/test/pbwrite.h"
#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/client.h"
#include "nrpc/jwt.h"
#include "nrpc/server.h"
#include "property/v1/property.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

#include "server_test.h"

// ---- order of checks, wire limits, memory -------------------------------------------------

static void wb_meta_str(check_pb *b, const char *key, const char *val)
{
	check_pb_meta(b, key, strlen(key), val, strlen(val));
}

// n unknown varint fields (field 15, value 1): 2 bytes each on the wire, tens
// of bytes each once protobuf-c has unpacked them.
static void wb_unknown(check_pb *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		check_pb_byte(b, 15 << 3);
		check_pb_byte(b, 1);
	}
}

// An envelope for Check of service "ok": method, payload, and then the
// metadata the caller adds. auth may be NULL.
static void wb_envelope(check_pb *b, const char *auth, const char *rid)
{
	static const uint8_t ok_payload[] = {0x0a, 0x02, 'o', 'k'};
	check_pb_field(b, 1, CHECK_M, strlen(CHECK_M));
	check_pb_field(b, 2, ok_payload, sizeof(ok_payload));
	if (auth)
		wb_meta_str(b, "authorization", auth);
	if (rid)
		wb_meta_str(b, "x-request-id", rid);
}

static const char *resp_meta(const Rpc__V1__Response *r, const char *key)
{
	for (size_t i = 0; r && i < r->n_metadata; i++)
		if (strcmp(r->metadata[i]->key, key) == 0)
			return r->metadata[i]->value;
	return NULL;
}

// Sends b raw; checks the code and, when want_rid, the echoed request id.
static void expect_raw(const char *what, check_pb *b, unsigned want, const char *want_rid,
                       const char *want_msg)
{
	Rpc__V1__Response *r = raw_call(b->p, b->n);
	CHECK(r && r->code == want, "%s: code %u (%s), want %u", what, r ? r->code : 999,
	      r ? r->message : "no reply", want);
	if (r && want_rid) {
		const char *rid = resp_meta(r, "x-request-id");
		CHECK(rid && strcmp(rid, want_rid) == 0, "%s: x-request-id %s, want %s", what,
		      rid ? rid : "(none)", want_rid);
	}
	if (r && want_msg)
		CHECK(strstr(r->message, want_msg) != NULL, "%s: message \"%s\" lacks \"%s\"", what,
		      r->message, want_msg);
	if (r)
		rpc__v1__response__free_unpacked(r, NULL);
	free(b->p);
	*b = (check_pb){0};
}

void test_order_of_checks(nrpc_client *c, const char *good)
{
	nrpc_result res;
	char auth[1024];
	snprintf(auth, sizeof(auth), "Bearer %s", good);
	static const uint8_t bad_payload[] = {0x0a, 0x10, 'x'};
	nrpc_meta none[1] = {{"x-request-id", "rid-order"}};
	nrpc_client_call_raw(c, CHECK_M, bad_payload, sizeof(bad_payload), none, 1, 0, &res);
	CHECK(res.code == 16, "garbage payload without token: %u (%s), want 16", res.code,
	      res.message);
	nrpc_result_free(&res);
	nrpc_meta bad_tok[1] = {{"authorization", "Bearer abc.def.ghi"}};
	nrpc_client_call_raw(c, CHECK_M, bad_payload, sizeof(bad_payload), bad_tok, 1, 0, &res);
	CHECK(res.code == 16, "garbage payload with a bad token: %u, want 16", res.code);
	nrpc_result_free(&res);
	nrpc_meta with[1] = {{"authorization", auth}};
	nrpc_client_call_raw(c, CHECK_M, bad_payload, sizeof(bad_payload), with, 1, 0, &res);
	CHECK(res.code == 3, "garbage payload with a valid token: %u, want 3", res.code);
	nrpc_result_free(&res);
	// Unknown method before the token.
	nrpc_client_call_raw(c, "/nope.Service/M", bad_payload, sizeof(bad_payload), none, 1, 0,
	                     &res);
	CHECK(res.code == 12, "unknown method without token: %u, want 12", res.code);
	nrpc_result_free(&res);
}

void test_wire_limits(const char *good)
{
	char auth[1024], key[200];
	snprintf(auth, sizeof(auth), "Bearer %s", good);
	check_pb b = {0};

	// 64 entries in all: fine; 65: refused, and the id is still echoed.
	wb_envelope(&b, auth, "rid-64");
	for (int i = 0; i < NRPC_MAX_METADATA - 2; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		wb_meta_str(&b, key, "v");
	}
	expect_raw("64 metadata entries", &b, 0, "rid-64", NULL);
	wb_envelope(&b, auth, "rid-65");
	for (int i = 0; i < NRPC_MAX_METADATA - 1; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		wb_meta_str(&b, key, "v");
	}
	expect_raw("65 metadata entries", &b, 3, "rid-65", "too many metadata entries");

	// Keys: 128 bytes fine, 129 refused.
	memset(key, 'k', sizeof(key));
	wb_envelope(&b, auth, "rid-key");
	check_pb_meta(&b, key, NRPC_MAX_META_KEY, "v", 1);
	expect_raw("128-byte key", &b, 0, "rid-key", NULL);
	wb_envelope(&b, auth, "rid-key");
	check_pb_meta(&b, key, NRPC_MAX_META_KEY + 1, "v", 1);
	expect_raw("129-byte key", &b, 3, "rid-key", "metadata key longer");

	// Values are measured in bytes, NULs included: "a\0" + 5000 bytes is refused
	// although strlen() would say 1.
	size_t vlen = 2 + 5000;
	char *val = malloc(vlen);
	memset(val, 'x', vlen);
	val[0] = 'a';
	val[1] = '\0';
	wb_envelope(&b, auth, "rid-val");
	check_pb_meta(&b, "x-note", 6, val, vlen);
	expect_raw("\"a\\0\" + 5000 bytes", &b, 3, "rid-val", "metadata value longer");
	wb_envelope(&b, auth, "rid-val");
	check_pb_meta(&b, "x-note", 6, val, NRPC_MAX_META_VALUE);
	expect_raw("4096-byte value", &b, 0, "rid-val", NULL);
	// Refused even without a token: the limits come before everything else.
	wb_envelope(&b, NULL, "rid-val");
	check_pb_meta(&b, "authorization", 13, val, vlen);
	expect_raw("long authorization value", &b, 3, "rid-val", "metadata value longer");
	free(val);

	// A metadata entry that is not length-delimited, or cut short: malformed.
	wb_envelope(&b, auth, NULL);
	check_pb_byte(&b, 3 << 3); // field 3 as a varint
	check_pb_byte(&b, 1);
	expect_raw("metadata as a varint", &b, 3, NULL, "not a valid rpc.v1.Request");
	wb_envelope(&b, auth, NULL);
	check_pb_byte(&b, 3 << 3 | 2);
	check_pb_byte(&b, 4);
	check_pb_byte(&b, 1 << 3 | 2);
	check_pb_byte(&b, 9); // key claims 9 bytes inside a 4-byte entry
	check_pb_byte(&b, 'a');
	check_pb_byte(&b, 'b');
	expect_raw("key longer than its entry", &b, 3, NULL, "not a valid rpc.v1.Request");
}

void test_memory(nrpc_client *c, const char *good)
{
	char auth[1024];
	snprintf(auth, sizeof(auth), "Bearer %s", good);
	// 900 KB of unknown fields in the envelope: within the 1 MiB transport limit and
	// the metadata limits, but its unpacked form needs more than the call's 8 MiB.
	check_pb b = {0};
	wb_envelope(&b, auth, "rid-mem");
	wb_unknown(&b, 450000);
	expect_raw("envelope whose unpacking needs > 8 MiB", &b, 8, "rid-mem",
	           "more memory than allowed");

	// The same in the payload: 8 with a valid token, 16 without one.
	check_pb p = {0};
	wb_unknown(&p, 450000);
	nrpc_result res;
	nrpc_meta md[2] = {{"authorization", auth}, {"x-request-id", "rid-pmem"}};
	nrpc_client_call_raw(c, CHECK_M, p.p, p.n, md, 2, 0, &res);
	CHECK(res.code == 8, "payload whose unpacking needs > 8 MiB: %u (%s), want 8", res.code,
	      res.message);
	nrpc_result_free(&res);
	nrpc_client_call_raw(c, CHECK_M, p.p, p.n, md + 1, 1, 0, &res);
	CHECK(res.code == 16, "big payload without token: %u, want 16", res.code);
	nrpc_result_free(&res);
	free(p.p);

	// A blocking handler that allocates past the cap: 8, not an abort.
	char svc[64];
	snprintf(svc, sizeof(svc), "alloc:%u", NRPC_MAX_CALL_MEMORY + 1);
	CHECK(call_service(c, CHECK_M, svc, good, 0, &res) == 8, "handler past the cap: %u (%s)",
	      res.code, res.message);
	nrpc_result_free(&res);
	// And the server is fine afterwards.
	CHECK(call_service(c, CHECK_M, "ok", good, 0, &res) == 0, "after memory tests: %u",
	      res.code);
	nrpc_result_free(&res);
}
