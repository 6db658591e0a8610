// Integration-test harness: tokens, owner ids, typed and raw calls.
#include "harness.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define RAW_RECV_MAX (16u << 20) // replies are far smaller; bounds a broken peer

char *h_bearer(const char *secret, const char *sub, int64_t ttl_s)
{
	char *tok = nrpc_jwt_sign((const uint8_t *)secret, strlen(secret), sub,
	                          (int64_t)time(NULL) + ttl_s);
	if (tok == NULL) {
		fprintf(stderr, "nrpc_jwt_sign failed\n");
		abort();
	}
	size_t n = strlen(tok) + sizeof("Bearer ");
	char *b = malloc(n);
	if (b == NULL)
		abort();
	snprintf(b, n, "Bearer %s", tok);
	free(tok);
	return b;
}

static void b64url(const uint8_t *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = a[(v >> 18) & 63];
		out[o++] = a[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = a[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = a[v & 63];
	}
	out[o] = '\0';
}

char *h_jwt_custom(const char *secret, const char *header_json, const char *payload_json)
{
	size_t hl = strlen(header_json), pl = strlen(payload_json);
	size_t cap = 16 + (hl + pl + 64) * 2;
	char *b = malloc(cap);
	if (b == NULL)
		abort();
	strcpy(b, "Bearer ");
	char *p = b + strlen(b);
	b64url((const uint8_t *)header_json, hl, p);
	strcat(p, ".");
	b64url((const uint8_t *)payload_json, pl, p + strlen(p));
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned ml = 0;
	if (secret != NULL) {
		HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)p, strlen(p), mac,
		     &ml);
	}
	strcat(p, ".");
	b64url(mac, ml, p + strlen(p));
	return b;
}

void h_owner(char *buf, size_t cap, const char *tag)
{
	static atomic_uint counter;
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)time(NULL);
	snprintf(buf, cap, "it-%s-%d-%u-%08x", tag, (int)getpid(),
	         atomic_fetch_add(&counter, 1) + 1, r);
}

static size_t fill_md(const h_md *md, nrpc_meta *m)
{
	size_t n = 0;
	if (md == NULL)
		return 0;
	if (md->auth != NULL)
		m[n++] = (nrpc_meta){"authorization", md->auth};
	if (md->idem != NULL)
		m[n++] = (nrpc_meta){"idempotency-key", md->idem};
	if (md->req_id != NULL)
		m[n++] = (nrpc_meta){"x-request-id", md->req_id};
	return n;
}

static uint32_t timeout_of(const h_md *md)
{
	return md != NULL && md->timeout_ms != 0 ? md->timeout_ms : H_CALL_TIMEOUT;
}

unsigned h_call(nrpc_client *c, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *out_desc, const h_md *md, void **out,
                nrpc_result *res)
{
	nrpc_result local = {0};
	nrpc_result *r = res != NULL ? res : &local;
	nrpc_meta m[3];
	size_t n = fill_md(md, m);
	ProtobufCMessage *msg = NULL;
	memset(r, 0, sizeof(*r));
	if (nrpc_client_call(c, method, req, out_desc, m, n, timeout_of(md), &msg, r) != 0) {
		H_FAIL("nrpc_client_call %s: local failure", method);
		return H_LOCAL_ERROR;
	}
	unsigned code = r->code;
	if (code == 0 && msg == NULL && out_desc != NULL) {
		H_FAIL("%s: OK without a decodable reply", method);
		code = H_LOCAL_ERROR;
	}
	if (out != NULL)
		*out = msg;
	else if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
	if (r == &local)
		nrpc_result_free(&local);
	return code;
}

unsigned h_call_raw(nrpc_client *c, const char *method, const uint8_t *payload, size_t len,
                    const h_md *md, nrpc_result *res)
{
	nrpc_result local = {0};
	nrpc_result *r = res != NULL ? res : &local;
	nrpc_meta m[3];
	size_t n = fill_md(md, m);
	memset(r, 0, sizeof(*r));
	if (nrpc_client_call_raw(c, method, payload, len, m, n, timeout_of(md), r) != 0) {
		H_FAIL("nrpc_client_call_raw %s: local failure", method);
		return H_LOCAL_ERROR;
	}
	unsigned code = r->code;
	if (r == &local)
		nrpc_result_free(&local);
	return code;
}

bool h_has_violation(const nrpc_result *r, const char *field)
{
	for (size_t i = 0; i < r->n_violations; i++)
		if (strcmp(r->violation_fields[i], field) == 0)
			return true;
	return false;
}

void h_print_result(const char *what, const nrpc_result *r)
{
	fprintf(stderr, "  %s: code %u (%s)%s message \"%s\"", what, r->code,
	        nrpc_code_name(r->code), r->transport_error ? " [transport error]" : "",
	        r->message);
	for (size_t i = 0; i < r->n_violations; i++)
		fprintf(stderr, " [%s: %s]", r->violation_fields[i], r->violation_descriptions[i]);
	fputc('\n', stderr);
}

int h_raw_req(const char *url, const void *buf, size_t len, int timeout_ms, uint8_t **reply,
              size_t *reply_len)
{
	nng_socket s;
	int rv;
	*reply = NULL;
	*reply_len = 0;
	if ((rv = nng_req0_open(&s)) != 0)
		return -1;
	void *data = NULL;
	size_t sz = 0;
	// The dial blocks until connected, so the send below completes at once and the
	// receive timeout never cancels a queued send (nng 1.5.2 #1702).
	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, RAW_RECV_MAX)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms)) != 0 ||
	    (rv = nng_dial(s, url, NULL, 0)) != 0 || (rv = nng_send(s, (void *)buf, len, 0)) != 0 ||
	    (rv = nng_recv(s, &data, &sz, NNG_FLAG_ALLOC)) != 0) {
		fprintf(stderr, "  raw request to %s: %s\n", url, nng_strerror(rv));
		nng_close(s);
		return -1;
	}
	*reply = malloc(sz ? sz : 1);
	if (*reply != NULL) {
		memcpy(*reply, data, sz);
		*reply_len = sz;
	}
	nng_free(data, sz);
	nng_close(s);
	return *reply != NULL ? 0 : -1;
}

int h_health(nrpc_client *c, const char *service, unsigned *code)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	req.service = (char *)service;
	Grpc__Health__V1__HealthCheckResponse *resp = NULL;
	h_md md = {.timeout_ms = 1000};
	nrpc_result r;
	memset(&r, 0, sizeof(r));
	nrpc_meta m[1];
	*code = H_LOCAL_ERROR;
	if (nrpc_client_call(c, M_HEALTH, &req.base,
	                     &grpc__health__v1__health_check_response__descriptor, m,
	                     fill_md(&md, m), md.timeout_ms, (ProtobufCMessage **)&resp, &r) != 0)
		return -1;
	*code = r.code;
	int st = -1;
	if (r.code == 0 && resp != NULL)
		st = (int)resp->status;
	if (resp != NULL)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	nrpc_result_free(&r);
	return st;
}

void h_valid_create(Property__V1__CreatePropertyRequest *r, Property__V1__Location *loc,
                    const char *owner)
{
	property__v1__create_property_request__init(r);
	property__v1__location__init(loc);
	loc->address = "1 Integration Street";
	loc->city = "Testville";
	loc->country_code = "NL";
	loc->latitude = 52.37;
	loc->longitude = 4.89;
	r->owner_id = (char *)owner;
	r->title = "Integration test flat";
	r->description = "A flat created by the integration tests.";
	r->location = loc;
	r->price_cents = 25000000;
	r->currency = "EUR";
	r->bedrooms = 2;
	r->status = PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_LISTED;
}

Property__V1__Property *h_create(nrpc_client *c, const char *auth, const char *owner)
{
	Property__V1__CreatePropertyRequest req;
	Property__V1__Location loc;
	h_valid_create(&req, &loc, owner);
	Property__V1__Property *p = NULL;
	nrpc_result r;
	h_md md = {.auth = auth};
	unsigned code = h_call(c, M_CREATE, &req.base, &property__v1__property__descriptor, &md,
	                       (void **)&p, &r);
	if (code != 0) {
		H_FAIL("CreateProperty for %s: code %u", owner, code);
		h_print_result("CreateProperty", &r);
	}
	nrpc_result_free(&r);
	return p;
}

Property__V1__Property *h_get(nrpc_client *c, const char *auth, const char *id, unsigned *code)
{
	Property__V1__GetPropertyRequest req = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	req.id = (char *)id;
	Property__V1__Property *p = NULL;
	h_md md = {.auth = auth};
	*code = h_call(c, M_GET, &req.base, &property__v1__property__descriptor, &md, (void **)&p,
	               NULL);
	return p;
}

nrpc_client *h_client(const char *url)
{
	nrpc_client *c = NULL;
	char err[256];
	const char *urls[1] = {url};
	if (nrpc_client_open(&c, urls, 1, err, sizeof(err)) != 0) {
		H_FAIL("nrpc_client_open %s: %s", url, err);
		return NULL;
	}
	return c;
}
