// it_envelope: one reply to every request: garbage bytes 3, unknown method
// 12, undecodable payload 3, passed deadline 4; x-request-id echoed or
// generated, and replaced when it is not UTF-8.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_envelope_common.h"
#include "nrpc/text.h"

void case_garbage_bytes(void *arg)
{
	ctx *c = arg;
	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
	} inputs[] = {
	    {"not protobuf", BYTES("\xff\xff\xff\xff garbage \x01\x02")},
	    {"truncated length", BYTES("\x0a\x7f"
	                               "/short")},
	    {"bad wire type", BYTES("\x0f\x01\x02\x03")},
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		Rpc__V1__Response *r = raw_envelope(c, inputs[i].bytes, inputs[i].len);
		if (r == NULL)
			continue;
		H_CHECK(r->code == 3, "%s: code %u, want 3", inputs[i].name, r->code);
		const char *rid = resp_md(r, "x-request-id");
		H_CHECK(rid != NULL && rid[0] != '\0', "%s: no x-request-id on the error reply",
		        inputs[i].name);
		rpc__v1__response__free_unpacked(r, NULL);
	}
	// An empty message decodes as an envelope with no method: an error, not a crash.
	Rpc__V1__Response *r = raw_envelope(c, "", 0);
	if (r != NULL) {
		H_CHECK(r->code == 3 || r->code == 12, "empty message: code %u, want 3 or 12",
		        r->code);
		rpc__v1__response__free_unpacked(r, NULL);
	}
}

void case_unknown_method(void *arg)
{
	ctx *c = arg;
	static const char *const methods[] = {
	    "/property.v1.PropertyService/NoSuchMethod",
	    "/no.such.Service/GetProperty",
	    "GetProperty",
	    "",
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		nrpc_result r;
		h_md md = {.auth = c->auth};
		unsigned code = h_call_raw(c->p.cli, methods[i], NULL, 0, &md, &r);
		H_CHECK(code == 12, "method \"%s\": code %u, want 12", methods[i], code);
		if (code != 12)
			h_print_result(methods[i], &r);
		nrpc_result_free(&r);
	}
}

void case_undecodable_payload(void *arg)
{
	ctx *c = arg;
	static const struct {
		const char *method;
		const char *bytes;
		size_t len;
	} inputs[] = {
	    {M_GET, BYTES("\xff\xff\xff\xff\xff")},
	    {M_CREATE, BYTES("\x12\x50"
	                     "short")}, // title claims 80 bytes, has 5
	    {M_LIST, BYTES("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
	                   "\x01")},   // varint too long
	    {M_EVENTS, BYTES("\x07")}, // wire type 7 does not exist
	    {M_HEALTH, BYTES("\x0a\x05"
	                     "ab")},
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		nrpc_result r;
		h_md md = {.auth = c->auth};
		unsigned code =
		    h_call_raw(c->p.cli, inputs[i].method, (const uint8_t *)inputs[i].bytes,
		               inputs[i].len, &md, &r);
		H_CHECK(code == 3, "%s with undecodable payload #%zu: code %u, want 3",
		        inputs[i].method, i, code);
		if (code != 3)
			h_print_result(inputs[i].method, &r);
		nrpc_result_free(&r);
	}
}

void case_request_id(void *arg)
{
	ctx *c = arg;
	Property__V1__GetPropertyRequest req = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	req.id = (char *)missing_id;
	nrpc_result r;
	h_md md = {.auth = c->auth, .req_id = "it-envelope-req-42"};
	unsigned code =
	    h_call(c->p.cli, M_GET, &req.base, &property__v1__property__descriptor, &md, NULL, &r);
	H_CHECK(code == 5, "Get of a missing id: %u", code);
	const char *rid = nrpc_result_metadata(&r, "x-request-id");
	H_CHECK(rid != NULL && strcmp(rid, "it-envelope-req-42") == 0,
	        "x-request-id not echoed on an error reply: %s", rid ? rid : "(none)");
	nrpc_result_free(&r);

	// Generated when absent, and different per request.
	char first[256] = "";
	for (int i = 0; i < 2; i++) {
		md.req_id = NULL;
		h_call(c->p.cli, M_GET, &req.base, &property__v1__property__descriptor, &md, NULL,
		       &r);
		rid = nrpc_result_metadata(&r, "x-request-id");
		H_CHECK(rid != NULL && rid[0] != '\0', "no x-request-id generated");
		if (rid != NULL && i == 0)
			snprintf(first, sizeof(first), "%s", rid);
		if (rid != NULL && i == 1)
			H_CHECK(strcmp(first, rid) != 0, "the same generated id twice: %s", rid);
		nrpc_result_free(&r);
	}

	// On an OK reply too (Health needs no token).
	Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	h_md hmd = {.req_id = "it-envelope-health"};
	code = h_call(c->p.cli, M_HEALTH, &hreq.base,
	              &grpc__health__v1__health_check_response__descriptor, &hmd, NULL, &r);
	rid = nrpc_result_metadata(&r, "x-request-id");
	H_CHECK(code == 0 && rid != NULL && strcmp(rid, "it-envelope-health") == 0,
	        "Health: code %u x-request-id %s", code, rid ? rid : "(none)");
	nrpc_result_free(&r);
}

void case_bad_utf8_request_id(void *arg)
{
	ctx *c = arg;
	static const char bad[] = "id-\xff\xfe-\xc3";
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = (char *)missing_id;
	uint8_t pl[128];
	size_t pn = property__v1__get_property_request__pack(&g, pl);
	Rpc__V1__Response *r = send_envelope(c, M_GET, pl, pn, bad, 0);
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_metadata; i++) {
		const char *v = r->metadata[i]->value;
		H_CHECK(nrpc_utf8_valid(v, strlen(v)), "metadata %s is not valid UTF-8",
		        r->metadata[i]->key);
		H_CHECK(strstr(v, "\xff\xfe") == NULL, "invalid bytes echoed in %s",
		        r->metadata[i]->key);
	}
	const char *rid = resp_md(r, "x-request-id");
	H_CHECK(rid != NULL && rid[0] != '\0', "no x-request-id on the reply (code %u)", r->code);
	H_CHECK(nrpc_utf8_valid(r->message, strlen(r->message)), "message not valid UTF-8");
	rpc__v1__response__free_unpacked(r, NULL);
}

void case_deadline(void *arg)
{
	ctx *c = arg;
	// The server either sees the 1 ms deadline as passed (4) or answers as usual.
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = (char *)missing_id;
	uint8_t pl[128];
	size_t pn = property__v1__get_property_request__pack(&g, pl);
	Rpc__V1__Response *r = send_envelope(c, M_GET, pl, pn, NULL, 1);
	if (r != NULL) {
		H_CHECK(r->code == 4 || r->code == 5, "Get with 1 ms deadline: code %u (%s)",
		        r->code, r->message);
		rpc__v1__response__free_unpacked(r, NULL);
	}
	char owner[96];
	h_owner(owner, sizeof(owner), "env");
	char *auth = h_bearer(H_SECRET, owner, 300);
	char *saved = c->auth;
	c->auth = auth;
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	size_t cn = property__v1__create_property_request__get_packed_size(&cr);
	uint8_t *cb = malloc(cn);
	property__v1__create_property_request__pack(&cr, cb);
	r = send_envelope(c, M_CREATE, cb, cn, NULL, 1);
	if (r != NULL) {
		H_CHECK(r->code == 4 || r->code == 0, "Create with 1 ms deadline: code %u (%s)",
		        r->code, r->message);
		rpc__v1__response__free_unpacked(r, NULL);
	}
	free(cb);
	c->auth = saved;
	free(auth);
}
