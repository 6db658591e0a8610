// it_envelope's shared helpers: see it_envelope_common.h.
#include "it_envelope_common.h"

#include <stdlib.h>
#include <string.h>

const char *const missing_id = "6a0d3f8e-1b2c-4d5e-8f90-a1b2c3d4e5f6";

// Sends a raw envelope and decodes the reply; NULL when no reply came.
Rpc__V1__Response *raw_envelope(ctx *c, const void *buf, size_t len)
{
	uint8_t *reply;
	size_t rl;
	if (h_raw_req(c->p.rpc_url, buf, len, RAW_TIMEOUT_MS, &reply, &rl) != 0) {
		H_FAIL("no reply to a raw request of %zu bytes", len);
		return NULL;
	}
	Rpc__V1__Response *r = rpc__v1__response__unpack(NULL, rl, reply);
	free(reply);
	H_CHECK(r != NULL, "the reply is not an rpc.v1.Response");
	return r;
}

const char *resp_md(const Rpc__V1__Response *r, const char *key)
{
	for (size_t i = 0; i < r->n_metadata; i++)
		if (strcmp(r->metadata[i]->key, key) == 0)
			return r->metadata[i]->value;
	return NULL;
}

// Packs an envelope of method/payload/metadata and sends it raw.
Rpc__V1__Response *send_envelope(ctx *c, const char *method, const uint8_t *payload, size_t plen,
                                 const char *req_id, uint32_t timeout_ms)
{
	Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
	Rpc__V1__Request__MetadataEntry e1 = RPC__V1__REQUEST__METADATA_ENTRY__INIT;
	Rpc__V1__Request__MetadataEntry e2 = RPC__V1__REQUEST__METADATA_ENTRY__INIT;
	Rpc__V1__Request__MetadataEntry *md[2] = {&e1, &e2};
	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = plen;
	req.timeout_ms = timeout_ms;
	e1.key = "authorization";
	e1.value = c->auth;
	req.n_metadata = 1;
	if (req_id != NULL) {
		e2.key = "x-request-id";
		e2.value = (char *)req_id;
		req.n_metadata = 2;
	}
	req.metadata = md;
	size_t n = rpc__v1__request__get_packed_size(&req);
	uint8_t *buf = malloc(n ? n : 1);
	rpc__v1__request__pack(&req, buf);
	Rpc__V1__Response *r = raw_envelope(c, buf, n);
	free(buf);
	return r;
}
