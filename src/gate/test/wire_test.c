// gate wire: the encodings the gateway rewrites, checked against protobuf-c's
// own packing and unpacking of the same messages.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test/check.h"
#include "gate/wire.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

static void test_strip_and_restate(void)
{
	Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
	req.method = "/property.v1.PropertyService/GetProperty";
	uint8_t payload[3] = {0x0a, 0x01, 'x'};
	req.payload.data = payload;
	req.payload.len = sizeof payload;
	req.timeout_ms = 1234;
	Rpc__V1__Request__MetadataEntry e = RPC__V1__REQUEST__METADATA_ENTRY__INIT;
	e.key = "traceparent";
	e.value = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	Rpc__V1__Request__MetadataEntry *ents[1] = {&e};
	req.metadata = ents;
	req.n_metadata = 1;
	uint8_t in[512], out[600];
	size_t n = rpc__v1__request__pack(&req, in);
	size_t m = gate_env_strip_timeout(in, n, out);
	CHECK(m > 0 && m < n);
	Rpc__V1__Request *back = rpc__v1__request__unpack(NULL, m, out);
	CHECK(back != NULL && back->timeout_ms == 0);
	rpc__v1__request__free_unpacked(back, NULL);
	m += gate_env_put_timeout(out + m, 987654);
	size_t before = m;
	m += gate_env_put_meta(out + m, "x-request-id", 12, "gw-1", 4);
	CHECK(m - before == gate_env_meta_size(12, 4));
	back = rpc__v1__request__unpack(NULL, m, out);
	CHECK(back != NULL);
	if (back != NULL) {
		CHECK(back->timeout_ms == 987654);
		CHECK(strcmp(back->method, req.method) == 0);
		CHECK(back->payload.len == 3 && memcmp(back->payload.data, payload, 3) == 0);
		CHECK(back->n_metadata == 2);
		CHECK(back->n_metadata == 2 &&
		      strcmp(back->metadata[1]->key, "x-request-id") == 0 &&
		      strcmp(back->metadata[1]->value, "gw-1") == 0);
		CHECK(strcmp(back->metadata[0]->key, "traceparent") == 0);
		rpc__v1__request__free_unpacked(back, NULL);
	}
	static const uint8_t cut[] = {0x0a, 0x05, 'a', 'b'}; // a method field cut short
	CHECK(gate_env_strip_timeout(cut, sizeof cut, out) == 0);
}

static void test_reply_codes(void)
{
	Rpc__V1__Response r = RPC__V1__RESPONSE__INIT;
	uint8_t buf[256];
	r.code = 5;
	r.message = "not found";
	size_t n = rpc__v1__response__pack(&r, buf);
	CHECK(gate_resp_code(buf, n) == 5);
	r.code = 0;
	r.message = "";
	n = rpc__v1__response__pack(&r, buf);
	CHECK(gate_resp_code(buf, n) == 0);
	CHECK(gate_resp_code((const uint8_t *)"\x08", 1) == -1);

	Grpc__Health__V1__HealthCheckResponse h = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	uint8_t hb[16];
	for (int st = 1; st <= 2; st++) {
		h.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
		r.payload.data = hb;
		r.payload.len = grpc__health__v1__health_check_response__pack(&h, hb);
		n = rpc__v1__response__pack(&r, buf);
		CHECK(gate_health_status(buf, n) == st);
	}
	r.code = 14;
	n = rpc__v1__response__pack(&r, buf);
	CHECK(gate_health_status(buf, n) == -1);

	uint8_t q[64];
	size_t qn = gate_health_request(q, sizeof q, 500);
	Rpc__V1__Request *req = rpc__v1__request__unpack(NULL, qn, q);
	CHECK(req != NULL && strcmp(req->method, "/grpc.health.v1.Health/Check") == 0 &&
	      req->timeout_ms == 500);
	if (req != NULL)
		rpc__v1__request__free_unpacked(req, NULL);
	CHECK(gate_health_request(q, 8, 500) == 0);
}

int main(void)
{
	test_strip_and_restate();
	test_reply_codes();
	return check_summary("gate_wire");
}
