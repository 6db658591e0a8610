// nrpc server test, part: the per-caller limit of requests in flight and the
// greeting timeout of the own transport (see server_test.c for the whole).
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

void test_caller_limit(void)
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
void test_greeting_timeout(void)
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
