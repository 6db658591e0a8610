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
#include "server_test.h"

const char secret[] = "test-secret-of-at-least-32-bytes-2f7a";
char url[64];
// With "loops" on the command line, every case runs against the server's own
// tcp:// transport on two event loops instead of nng over ipc://.
base_ioloop *loops[2];
unsigned nloops;
nrpc_code check(nrpc_call *call, const ProtobufCMessage *in, ProtobufCMessage **out, void *arg)
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
int free_port(void)
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

char *token(const char *sub, int64_t exp_delta)
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
Rpc__V1__Response *raw_call(const void *buf, size_t len)
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

unsigned call_service(nrpc_client *c, const char *method, const char *service, const char *tok,
                      uint32_t timeout_ms, nrpc_result *res)
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

const char *CHECK_M = "/grpc.health.v1.Health/Check";

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
