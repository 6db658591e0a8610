// nrpc server over real nng sockets: envelope errors, auth, deadlines, size
// limits, garbage, concurrency and drain. The service under test is
// grpc.health.v1.Health whose Check handler is replaced by one that acts on
// the requested service name ("sleep:MS", "whoami", anything else echoes).
// Run twice by CTest: over nng (ipc://), and with "loops" over the server's
// own tcp:// transport on event loops (src/rpc/sptcp.h).
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
#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/client.h"
#include "nrpc/jwt.h"
#include "nrpc/server.h"
#include "property/v1/property.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

static const char secret[] = "test-secret-of-at-least-32-bytes-2f7a";
static char url[64];
// With "loops" on the command line, every case runs against the server's own
// tcp:// transport on two event loops instead of nng over ipc://.
static base_ioloop *loops[2];
static unsigned nloops;
static nrpc_code check(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out,
                       void *arg)
{
	(void)arg;
	const Grpc__Health__V1__HealthCheckRequest *req = (const void *)in;
	int ms;
	if (sscanf(req->service, "sleep:%d", &ms) == 1)
		usleep((useconds_t)ms * 1000);
	if (sscanf(req->service, "alloc:%d", &ms) == 1)
		memset(nrpc_call_alloc(call, (size_t)ms), 1, (size_t)ms); // past the call's cap
	if (strcmp(req->service, "whoami") == 0) {
		const char *sub = nrpc_call_subject(call);
		return nrpc_call_error(call, NRPC_NOT_FOUND, "%s", sub ? sub : "(none)");
	}
	if (strcmp(req->service, "invalid") == 0) {
		nrpc_call_violation(call, "title", "must not be empty");
		nrpc_call_violation(call, "location.city", "too long");
		return nrpc_call_error(call, NRPC_INVALID_ARGUMENT, "2 invalid fields");
	}
	Grpc__Health__V1__HealthCheckResponse *r = nrpc_call_alloc(call, sizeof(*r));
	grpc__health__v1__health_check_response__init(r);
	r->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	*out = &r->base;
	return NRPC_OK;
}

// A loopback TCP port free right now.
static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static nrpc_server *start_server(bool open_method)
{
	nrpc_server_config cfg = {
	    .url = url,
	    .workers = 4,
	    .auth_secret = (const uint8_t *)secret,
	    .auth_secret_len = strlen(secret),
	    .loops = loops,
	    .nloops = nloops,
	};
	char err[256];
	nrpc_server *s;
	if (nrpc_server_create(&s, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "create: %s\n", err);
		exit(1);
	}
	nrpc_method_impl impl = {
	    .name = "Check", .handler = check, .flags = open_method ? NRPC_OPEN : 0};
	nrpc_server_add_service(s, &grpc__health__v1__health__descriptor, &impl, 1, NULL);
	if (nrpc_server_start(s, err, sizeof(err)) != 0) {
		fprintf(stderr, "start: %s\n", err);
		exit(1);
	}
	return s;
}

static char *token(const char *sub, int64_t exp_delta)
{
	return nrpc_jwt_sign((const uint8_t *)secret, strlen(secret), sub, time(NULL) + exp_delta);
}

// A socket whose oversized request the server refused can hang nng_close
// forever, and leak its pipe, in nng 1.5.2 (#1543): such sockets are kept
// open (and reachable) until the process exits instead.
#define KEPT_MAX 4
static nng_socket kept[KEPT_MAX];
static int nkept;

// Sends raw bytes on a fresh req socket and returns the decoded Response.
static Rpc__V1__Response *raw_call(const void *buf, size_t len)
{
	nng_socket s;
	nng_msg *m;
	nng_req0_open(&s);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (nng_dial(s, url, NULL, 0) != 0) {
		nng_close(s);
		return NULL;
	}
	nng_msg_alloc(&m, 0);
	nng_msg_append(m, buf, len);
	Rpc__V1__Response *r = NULL;
	if (nng_sendmsg(s, m, 0) != 0) {
		nng_msg_free(m);
	} else if (nng_recvmsg(s, &m, 0) == 0) {
		r = rpc__v1__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
		nng_msg_free(m);
	}
	if (len > NRPC_MAX_MESSAGE && nkept < KEPT_MAX)
		kept[nkept++] = s;
	else
		nng_close(s);
	return r;
}

static unsigned call_service(nrpc_client *c, const char *method, const char *service,
                             const char *tok, uint32_t timeout_ms, nrpc_result *res)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	req.service = (char *)service;
	uint8_t buf[512];
	size_t n = grpc__health__v1__health_check_request__pack(&req, buf);
	char auth[1024];
	nrpc_meta md[2] = {{"x-request-id", "rid-123"}, {"authorization", auth}};
	snprintf(auth, sizeof(auth), "Bearer %s", tok ? tok : "");
	nrpc_client_call_raw(c, method, buf, n, md, tok ? 2 : 1, timeout_ms, res);
	return res->code;
}

static const char *CHECK_M = "/grpc.health.v1.Health/Check";

static void test_envelope(nrpc_client *c, const char *good)
{
	nrpc_result res;
	// Bytes that are not an rpc.v1.Request.
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	Rpc__V1__Response *r = raw_call(garbage, sizeof(garbage));
	CHECK(r && r->code == 3, "garbage envelope: code %u", r ? r->code : 999);
	CHECK(r && r->n_metadata >= 1 && strcmp(r->metadata[0]->key, "x-request-id") == 0,
	      "garbage envelope carries x-request-id");
	rpc__v1__response__free_unpacked(r, NULL);

	CHECK(call_service(c, "/nope.Service/Method", "", good, 0, &res) == 12,
	      "unknown service %u", res.code);
	nrpc_result_free(&res);
	CHECK(call_service(c, "/grpc.health.v1.Health/Nope", "", good, 0, &res) == 12,
	      "unknown method %u", res.code);
	nrpc_result_free(&res);
	CHECK(call_service(c, "garbage", "", good, 0, &res) == 12, "malformed method %u", res.code);
	nrpc_result_free(&res);

	// A payload that does not decode as HealthCheckRequest.
	static const uint8_t bad_payload[] = {0x0a, 0x10, 'x'};
	char auth[1024];
	snprintf(auth, sizeof(auth), "Bearer %s", good);
	nrpc_meta md[1] = {{"authorization", auth}};
	nrpc_client_call_raw(c, CHECK_M, bad_payload, sizeof(bad_payload), md, 1, 0, &res);
	CHECK(res.code == 3, "undecodable payload: %u", res.code);
	nrpc_result_free(&res);

	CHECK(call_service(c, CHECK_M, "ok", good, 0, &res) == 0, "good call: %u %s", res.code,
	      res.message);
	const char *rid = nrpc_result_metadata(&res, "x-request-id");
	CHECK(rid && strcmp(rid, "rid-123") == 0, "x-request-id echoed");
	nrpc_result_free(&res);

	CHECK(call_service(c, CHECK_M, "invalid", good, 0, &res) == 3, "violations code");
	CHECK(res.n_violations == 2 && strcmp(res.violation_fields[1], "location.city") == 0,
	      "violations carried");
	nrpc_result_free(&res);

	// A request id that is not UTF-8 is never echoed.
	Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	uint8_t pb[64];
	size_t pn = grpc__health__v1__health_check_request__pack(&hreq, pb);
	nrpc_meta bad[2] = {{"authorization", auth}, {"x-request-id", "\xff\xfe"}};
	nrpc_client_call_raw(c, CHECK_M, pb, pn, bad, 2, 0, &res);
	rid = nrpc_result_metadata(&res, "x-request-id");
	CHECK(res.code == 0 && rid && strcmp(rid, "\xff\xfe") != 0 && strlen(rid) == 36,
	      "bad request id replaced by a generated one");
	nrpc_result_free(&res);
}

static void test_auth(nrpc_client *c)
{
	struct {
		const char *name;
		char *tok;
		bool send;
		unsigned want;
	} cases[] = {
	    {"missing token", NULL, false, 16},
	    {"expired token", token("alice", -10), true, 16},
	    {"garbage token", strdup("abc.def.ghi"), true, 16},
	    {"other secret", nrpc_jwt_sign((const uint8_t *)"x", 1, "alice", time(NULL) + 60), true,
	     16},
	    {"valid token", token("alice", 60), true, 5 /* whoami answers NOT_FOUND with sub */},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		nrpc_result res;
		call_service(c, CHECK_M, "whoami", cases[i].send ? cases[i].tok : NULL, 0, &res);
		CHECK(res.code == cases[i].want, "%s: code %u (%s)", cases[i].name, res.code,
		      res.message);
		if (cases[i].want == 5)
			CHECK(strcmp(res.message, "alice") == 0, "%s: subject %s", cases[i].name,
			      res.message);
		nrpc_result_free(&res);
		free(cases[i].tok);
	}
}

static void test_deadline(nrpc_client *c, const char *good)
{
	nrpc_result res;
	call_service(c, CHECK_M, "sleep:400", good, 100, &res);
	CHECK(res.code == 4, "deadline passing in a handler: %u", res.code);
	nrpc_result_free(&res);
	// The server is still fine afterwards (the late reply went nowhere).
	usleep(400 * 1000);
	CHECK(call_service(c, CHECK_M, "ok", good, 0, &res) == 0, "after deadline: %u", res.code);
	nrpc_result_free(&res);
}

static void test_garbage_storm(nrpc_client *c, const char *good)
{
	// 2,000 random and truncated messages, then a valid call.
	Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
	req.method = (char *)CHECK_M;
	uint8_t valid[256];
	size_t vn = rpc__v1__request__pack(&req, valid);
	nng_socket s;
	nng_req0_open(&s);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
	nng_dial(s, url, NULL, 0);
	unsigned seed = 42;
	int answered = 0;
	for (int i = 0; i < 2000; i++) {
		uint8_t buf[300];
		size_t n = (size_t)(rand_r(&seed) % 300);
		if (i % 2 == 0) {
			for (size_t k = 0; k < n; k++)
				buf[k] = (uint8_t)rand_r(&seed);
		} else {
			n = n % (vn + 1);
			memcpy(buf, valid, n);
		}
		nng_msg *m;
		nng_msg_alloc(&m, 0);
		nng_msg_append(m, buf, n);
		if (nng_sendmsg(s, m, 0) != 0) {
			nng_msg_free(m);
			continue;
		}
		if (nng_recvmsg(s, &m, 0) == 0) {
			Rpc__V1__Response *r =
			    rpc__v1__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
			if (r) {
				answered++;
				rpc__v1__response__free_unpacked(r, NULL);
			}
			nng_msg_free(m);
		}
	}
	nng_close(s);
	CHECK(answered == 2000, "every garbage message answered: %d", answered);
	nrpc_result res;
	CHECK(call_service(c, CHECK_M, "ok", good, 0, &res) == 0, "valid after storm: %u",
	      res.code);
	nrpc_result_free(&res);
}

struct conc_arg {
	nrpc_client *c;
	const char *tok;
	atomic_int *ok;
	int calls;
};

static void *conc_main(void *p)
{
	struct conc_arg *a = p;
	for (int i = 0; i < a->calls; i++) {
		nrpc_result res;
		if (call_service(a->c, CHECK_M, "ok", a->tok, 0, &res) == 0)
			atomic_fetch_add(a->ok, 1);
		nrpc_result_free(&res);
	}
	return NULL;
}

static void test_oversize_and_concurrency(nrpc_client *c, const char *good)
{
	atomic_int ok = 0;
	struct conc_arg a = {c, good, &ok, 100};
	pthread_t t[16];
	for (int i = 0; i < 16; i++)
		pthread_create(&t[i], NULL, conc_main, &a);
	// Meanwhile: a 2 MiB request on its own socket is refused without harm.
	size_t big = 2u << 20;
	uint8_t *buf = calloc(1, big);
	Rpc__V1__Response *r = raw_call(buf, big);
	CHECK(r == NULL || r->code == 8, "oversized request refused");
	if (r)
		rpc__v1__response__free_unpacked(r, NULL);
	free(buf);
	for (int i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	CHECK(atomic_load(&ok) == 1600, "concurrent calls all OK: %d", atomic_load(&ok));
}

struct slow_arg {
	nrpc_client *c;
	const char *tok;
	unsigned code;
};

static void *slow_main(void *p)
{
	struct slow_arg *a = p;
	nrpc_result res;
	a->code = call_service(a->c, CHECK_M, "sleep:300", a->tok, 5000, &res);
	nrpc_result_free(&res);
	return NULL;
}

static void test_drain(nrpc_server *s, nrpc_client *c, const char *good)
{
	struct slow_arg a[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct slow_arg){c, good, 999};
		pthread_create(&t[i], NULL, slow_main, &a[i]);
	}
	usleep(100 * 1000);
	int left = nrpc_server_drain(s, 5000);
	CHECK(left == 0, "drain finished in-flight requests (%d left)", left);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(a[i].code == 0, "in-flight request %d answered during drain: %u", i,
		      a[i].code);
	}
}

// ---- order of checks, wire limits, memory -------------------------------------------------

// A growable byte buffer for hand-made protobuf (strings with NULs inside,
// unknown fields), which protobuf-c's packer cannot produce.
typedef struct wbuf {
	uint8_t *p;
	size_t n, cap;
} wbuf;

static void wb_byte(wbuf *b, uint8_t v)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->p = realloc(b->p, b->cap);
	}
	b->p[b->n++] = v;
}

static void wb_varint(wbuf *b, uint64_t v)
{
	while (v >= 0x80) {
		wb_byte(b, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	wb_byte(b, (uint8_t)v);
}

static void wb_bytes(wbuf *b, unsigned field, const void *data, size_t len)
{
	wb_varint(b, (uint64_t)field << 3 | 2);
	wb_varint(b, len);
	for (size_t i = 0; i < len; i++)
		wb_byte(b, ((const uint8_t *)data)[i]);
}

// One metadata entry (field 3) whose key and value may hold any bytes.
static void wb_meta(wbuf *b, const void *key, size_t klen, const void *val, size_t vlen)
{
	wbuf e = {0};
	wb_bytes(&e, 1, key, klen);
	wb_bytes(&e, 2, val, vlen);
	wb_bytes(b, 3, e.p, e.n);
	free(e.p);
}

static void wb_meta_str(wbuf *b, const char *key, const char *val)
{
	wb_meta(b, key, strlen(key), val, strlen(val));
}

// n unknown varint fields (field 15, value 1): 2 bytes each on the wire, tens
// of bytes each once protobuf-c has unpacked them.
static void wb_unknown(wbuf *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		wb_byte(b, 15 << 3);
		wb_byte(b, 1);
	}
}

// An envelope for Check of service "ok": method, payload, and then the
// metadata the caller adds. auth may be NULL.
static void wb_envelope(wbuf *b, const char *auth, const char *rid)
{
	static const uint8_t ok_payload[] = {0x0a, 0x02, 'o', 'k'};
	wb_bytes(b, 1, CHECK_M, strlen(CHECK_M));
	wb_bytes(b, 2, ok_payload, sizeof(ok_payload));
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
static void expect_raw(const char *what, wbuf *b, unsigned want, const char *want_rid,
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
	*b = (wbuf){0};
}

static void test_order_of_checks(nrpc_client *c, const char *good)
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

static void test_wire_limits(const char *good)
{
	char auth[1024], key[200];
	snprintf(auth, sizeof(auth), "Bearer %s", good);
	wbuf b = {0};

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
	wb_meta(&b, key, NRPC_MAX_META_KEY, "v", 1);
	expect_raw("128-byte key", &b, 0, "rid-key", NULL);
	wb_envelope(&b, auth, "rid-key");
	wb_meta(&b, key, NRPC_MAX_META_KEY + 1, "v", 1);
	expect_raw("129-byte key", &b, 3, "rid-key", "metadata key longer");

	// Values are measured in bytes, NULs included: "a\0" + 5000 bytes is refused
	// although strlen() would say 1.
	size_t vlen = 2 + 5000;
	char *val = malloc(vlen);
	memset(val, 'x', vlen);
	val[0] = 'a';
	val[1] = '\0';
	wb_envelope(&b, auth, "rid-val");
	wb_meta(&b, "x-note", 6, val, vlen);
	expect_raw("\"a\\0\" + 5000 bytes", &b, 3, "rid-val", "metadata value longer");
	wb_envelope(&b, auth, "rid-val");
	wb_meta(&b, "x-note", 6, val, NRPC_MAX_META_VALUE);
	expect_raw("4096-byte value", &b, 0, "rid-val", NULL);
	// Refused even without a token: the limits come before everything else.
	wb_envelope(&b, NULL, "rid-val");
	wb_meta(&b, "authorization", 13, val, vlen);
	expect_raw("long authorization value", &b, 3, "rid-val", "metadata value longer");
	free(val);

	// A metadata entry that is not length-delimited, or cut short: malformed.
	wb_envelope(&b, auth, NULL);
	wb_byte(&b, 3 << 3); // field 3 as a varint
	wb_byte(&b, 1);
	expect_raw("metadata as a varint", &b, 3, NULL, "not a valid rpc.v1.Request");
	wb_envelope(&b, auth, NULL);
	wb_byte(&b, 3 << 3 | 2);
	wb_byte(&b, 4);
	wb_byte(&b, 1 << 3 | 2);
	wb_byte(&b, 9); // key claims 9 bytes inside a 4-byte entry
	wb_byte(&b, 'a');
	wb_byte(&b, 'b');
	expect_raw("key longer than its entry", &b, 3, NULL, "not a valid rpc.v1.Request");
}

static void test_memory(nrpc_client *c, const char *good)
{
	char auth[1024];
	snprintf(auth, sizeof(auth), "Bearer %s", good);
	// 900 KB of unknown fields in the envelope: within the 1 MiB transport limit and
	// the metadata limits, but its unpacked form needs more than the call's 8 MiB.
	wbuf b = {0};
	wb_envelope(&b, auth, "rid-mem");
	wb_unknown(&b, 450000);
	expect_raw("envelope whose unpacking needs > 8 MiB", &b, 8, "rid-mem",
	           "more memory than allowed");

	// The same in the payload: 8 with a valid token, 16 without one.
	wbuf p = {0};
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

// ---- per-caller limit ------------------------------------------------------------------

static const char *GET_M = "/property.v1.PropertyService/GetProperty";
static pthread_mutex_t held_mtx = PTHREAD_MUTEX_INITIALIZER;
static nrpc_call *held[8];
static int nheld;

// GetProperty, asynchronous: id "hold" parks the call until released, any
// other id answers at once.
static void get_async(nrpc_call *call, const ProtobufCMessage *in, void *arg)
{
	(void)arg;
	const Property__V1__GetPropertyRequest *req = (const void *)in;
	if (strcmp(req->id, "hold") == 0) {
		pthread_mutex_lock(&held_mtx);
		held[nheld++] = call;
		pthread_mutex_unlock(&held_mtx);
		return;
	}
	Property__V1__Property *p = nrpc_call_alloc(call, sizeof(*p));
	property__v1__property__init(p);
	nrpc_call_finish(call, NRPC_OK, &p->base);
}

static unsigned call_get(nrpc_client *c, const char *id, const char *tok)
{
	Property__V1__GetPropertyRequest req = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	req.id = (char *)id;
	uint8_t buf[128];
	size_t n = property__v1__get_property_request__pack(&req, buf);
	char auth[1024];
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	nrpc_meta md[1] = {{"authorization", auth}};
	nrpc_result res;
	nrpc_client_call_raw(c, GET_M, buf, n, md, 1, 5000, &res);
	unsigned code = res.code;
	if (code != 0 && code != 8 && code != 5)
		fprintf(stderr, "  GetProperty %s: %u %s\n", id, code, res.message);
	nrpc_result_free(&res);
	return code;
}

static int held_count(void)
{
	pthread_mutex_lock(&held_mtx);
	int n = nheld;
	pthread_mutex_unlock(&held_mtx);
	return n;
}

struct hold_arg {
	nrpc_client *c;
	const char *tok;
	unsigned code;
};

static void *hold_main(void *p)
{
	struct hold_arg *a = p;
	a->code = call_get(a->c, "hold", a->tok);
	return NULL;
}

static void test_caller_limit(void)
{
	char url2[80];
	if (nloops > 0)
		snprintf(url2, sizeof(url2), "tcp://127.0.0.1:%d", free_port());
	else
		snprintf(url2, sizeof(url2), "ipc:///tmp/nrpc-server-test-limit-%d.ipc",
		         (int)getpid());
	nrpc_server_config cfg = {
	    .url = url2,
	    .workers = 2,
	    .auth_secret = (const uint8_t *)secret,
	    .auth_secret_len = strlen(secret),
	    .max_inflight_per_caller = 2,
	    .loops = loops,
	    .nloops = nloops,
	};
	char err[256];
	nrpc_server *s;
	if (nrpc_server_create(&s, &cfg, err, sizeof(err)) != 0) {
		CHECK(0, "create: %s", err);
		return;
	}
	nrpc_method_impl himpl = {.name = "Check", .handler = check, .flags = NRPC_OPEN};
	nrpc_method_impl pimpl = {.name = "GetProperty", .async_handler = get_async};
	nrpc_server_add_service(s, &grpc__health__v1__health__descriptor, &himpl, 1, NULL);
	nrpc_server_add_service(s, &property__v1__property_service__descriptor, &pimpl, 1, NULL);
	if (nrpc_server_start(s, err, sizeof(err)) != 0) {
		CHECK(0, "start: %s", err);
		nrpc_server_destroy(s);
		return;
	}
	const char *urls[] = {url2};
	nrpc_client *c;
	if (nrpc_client_open(&c, urls, 1, err, sizeof(err)) != 0) {
		CHECK(0, "client: %s", err);
		nrpc_server_destroy(s);
		return;
	}
	char *alice = token("alice", 600), *bob = token("bob", 600);
	struct hold_arg a[2] = {{c, alice, 999}, {c, alice, 999}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hold_main, &a[i]);
	for (int i = 0; i < 500 && held_count() < 2; i++) // both parked in the handler
		usleep(10 * 1000);
	CHECK(held_count() == 2, "two calls held: %d", held_count());
	CHECK(call_get(c, "now", alice) == 8, "third call of the same caller refused");
	CHECK(call_get(c, "now", bob) == 0, "another caller still served");
	nrpc_result res;
	CHECK(call_service(c, CHECK_M, "ok", NULL, 0, &res) == 0, "Health not limited: %u",
	      res.code);
	nrpc_result_free(&res);
	pthread_mutex_lock(&held_mtx);
	for (int i = 0; i < nheld; i++) {
		Property__V1__Property *p = nrpc_call_alloc(held[i], sizeof(*p));
		property__v1__property__init(p);
		nrpc_call_finish(held[i], NRPC_OK, &p->base);
	}
	nheld = 0;
	pthread_mutex_unlock(&held_mtx);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		CHECK(a[i].code == 0, "held call %d answered OK after release: %u", i, a[i].code);
	}
	// Released: the caller may use its whole share again, at once.
	for (int i = 0; i < 5; i++)
		CHECK(call_get(c, "now", alice) == 0, "call %d after release", i);
	pthread_create(&t[0], NULL, hold_main, &a[0]);
	pthread_create(&t[1], NULL, hold_main, &a[1]);
	for (int i = 0; i < 500 && held_count() < 2; i++)
		usleep(10 * 1000);
	CHECK(call_get(c, "now", alice) == 8, "limit holds again with two held");
	pthread_mutex_lock(&held_mtx);
	for (int i = 0; i < nheld; i++)
		nrpc_call_finish(held[i], NRPC_NOT_FOUND, NULL);
	nheld = 0;
	pthread_mutex_unlock(&held_mtx);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(call_get(c, "now", alice) == 0, "after errors too, the share is back");
	nrpc_client_close(c);
	nrpc_server_destroy(s);
	free(alice);
	free(bob);
	if (nloops == 0)
		unlink(url2 + strlen("ipc://"));
}

// The own transport closes a connection that does not greet in time, and
// keeps one that greeted and then idles.
static void test_greeting_timeout(void)
{
	if (nloops == 0)
		return; // nng's transport has its own handshake rules
	char url3[64];
	int port = free_port();
	snprintf(url3, sizeof url3, "tcp://127.0.0.1:%d", port);
	nrpc_server_config cfg = {
	    .url = url3,
	    .workers = 1,
	    .auth_secret = (const uint8_t *)secret,
	    .auth_secret_len = strlen(secret),
	    .loops = loops,
	    .nloops = nloops,
	    .greeting_timeout_ms = 200,
	};
	char err[256];
	nrpc_server *s;
	if (nrpc_server_create(&s, &cfg, err, sizeof err) != 0 ||
	    nrpc_server_start(s, err, sizeof err) != 0) {
		CHECK(0, "greeting server: %s", err);
		return;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int silent = socket(AF_INET, SOCK_STREAM, 0), greets = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(silent, (struct sockaddr *)&sa, sizeof sa) == 0, "connect");
	CHECK(connect(greets, (struct sockaddr *)&sa, sizeof sa) == 0, "connect");
	static const uint8_t req_greeting[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	CHECK(write(greets, req_greeting, sizeof req_greeting) == (ssize_t)sizeof req_greeting,
	      "greet");
	usleep(700 * 1000);
	uint8_t buf[16];
	// The silent one: the server's greeting (sent at accept), then the close.
	ssize_t n = recv(silent, buf, sizeof buf, MSG_DONTWAIT);
	if (n == 8)
		n = recv(silent, buf, sizeof buf, MSG_DONTWAIT);
	CHECK(n == 0 || (n < 0 && errno == ECONNRESET), "a silent connection is closed (%zd)", n);
	n = recv(greets, buf, sizeof buf, MSG_DONTWAIT);
	if (n == 8)
		n = recv(greets, buf, sizeof buf, MSG_DONTWAIT);
	CHECK(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
	      "a connection that greeted stays open (%zd)", n);
	close(silent);
	close(greets);
	nrpc_server_destroy(s);
}

int main(int argc, char **argv)
{
	char err0[256];
	if (argc > 1 && strcmp(argv[1], "loops") == 0) {
		for (unsigned i = 0; i < 2; i++) {
			if (base_ioloop_create(&loops[i], "test-io", err0, sizeof err0) != 0 ||
			    base_ioloop_start(loops[i], err0, sizeof err0) != 0) {
				fprintf(stderr, "loop: %s\n", err0);
				return 1;
			}
		}
		nloops = 2;
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
	} else {
		snprintf(url, sizeof(url), "ipc:///tmp/nrpc-server-test-%d.ipc", (int)getpid());
	}
	nrpc_server *s = start_server(false);
	const char *urls[] = {url};
	char err[256];
	nrpc_client *c;
	if (nrpc_client_open(&c, urls, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "client: %s\n", err);
		return 1;
	}
	char *good = token("alice", 600);
	test_envelope(c, good);
	test_auth(c);
	test_deadline(c, good);
	test_order_of_checks(c, good);
	test_wire_limits(good);
	test_memory(c, good);
	test_caller_limit();
	test_greeting_timeout();
	test_garbage_storm(c, good);
	test_oversize_and_concurrency(c, good);
	test_drain(s, c, good);
	nrpc_client_close(c);
	nrpc_server_destroy(s);
	free(good);
	if (nloops == 0)
		unlink(url + strlen("ipc://"));
	for (unsigned i = 0; i < nloops; i++)
		base_ioloop_destroy(loops[i]);
	return check_summary("rpc_server_test");
}
