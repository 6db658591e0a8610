// client_lb_test: the pure decisions of client-side balancing (client_lb.h):
// round robin over READY endpoints, the fail-fast rule, health verdicts,
// dns+ URL parsing, the DNS merge, and the retry rule as the client applies it.
#include <stdio.h>
#include <string.h>

#include "client_lb.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

static int failed;

#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failed++;                                                                  \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static void test_pick(void)
{
	nrpc_lb_state st[4] = {LB_READY, LB_DOWN, LB_READY, LB_READY};
	size_t cur = 0;
	int seq[6];
	for (int k = 0; k < 6; k++)
		seq[k] = nrpc_lb_pick(st, 4, 0, &cur);
	// 0, 2, 3, 0, 2, 3: every READY slot in turn, the DOWN one skipped.
	EXPECT(seq[0] == 0 && seq[1] == 2 && seq[2] == 3 && seq[3] == 0 && seq[4] == 2 &&
	           seq[5] == 3,
	       "got %d %d %d %d %d %d", seq[0], seq[1], seq[2], seq[3], seq[4], seq[5]);

	// Tried slots are skipped; all tried: none.
	cur = 0;
	EXPECT(nrpc_lb_pick(st, 4, 1u << 0, &cur) == 2, "skip tried 0");
	EXPECT(nrpc_lb_pick(st, 4, (1u << 0) | (1u << 2) | (1u << 3), &cur) == -1,
	       "all READY tried");

	// No READY slot at all, and an empty set.
	nrpc_lb_state none[3] = {LB_CONNECTING, LB_DOWN, LB_RETIRING};
	cur = 1;
	EXPECT(nrpc_lb_pick(none, 3, 0, &cur) == -1, "nothing READY");
	EXPECT(cur == 1, "the cursor moves only on a pick");
	EXPECT(nrpc_lb_pick(st, 0, 0, &cur) == -1, "empty set");

	// A cursor past the end (after slots were emptied) wraps.
	cur = 9;
	EXPECT(nrpc_lb_pick(st, 4, 0, &cur) == 2, "wrap: 9 %% 4 = 1, next READY is 2");

	// Slot 63 is reachable in the tried mask.
	nrpc_lb_state big[LB_MAX_ENDPOINTS];
	for (size_t i = 0; i < LB_MAX_ENDPOINTS; i++)
		big[i] = LB_DOWN;
	big[63] = LB_READY;
	cur = 0;
	EXPECT(nrpc_lb_pick(big, LB_MAX_ENDPOINTS, 0, &cur) == 63, "slot 63");
	EXPECT(nrpc_lb_pick(big, LB_MAX_ENDPOINTS, UINT64_C(1) << 63, &cur) == -1, "slot 63 tried");
}

static void test_pending(void)
{
	nrpc_lb_state st[3] = {LB_DOWN, LB_CONNECTING, LB_READY};
	EXPECT(nrpc_lb_pending(st, 3, 0), "a CONNECTING slot: wait");
	EXPECT(!nrpc_lb_pending(st, 3, 1u << 1), "the CONNECTING slot was tried: fail fast");
	nrpc_lb_state down[2] = {LB_DOWN, LB_RETIRING};
	EXPECT(!nrpc_lb_pending(down, 2, 0), "all down: fail fast");
}

// An rpc.v1.Response with `code` and, for code 0, a HealthCheckResponse.
static size_t reply(uint8_t *buf, size_t cap, unsigned code, int status)
{
	uint8_t payload[16];
	Grpc__Health__V1__HealthCheckResponse h = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	h.status = status;
	Rpc__V1__Response r = RPC__V1__RESPONSE__INIT;
	r.code = code;
	if (code == 0) {
		r.payload.data = payload;
		r.payload.len = grpc__health__v1__health_check_response__pack(&h, payload);
	}
	if (rpc__v1__response__get_packed_size(&r) > cap)
		return 0;
	return rpc__v1__response__pack(&r, buf);
}

static void test_probe(void)
{
	uint8_t buf[64];
	size_t n = reply(buf, sizeof buf, 0, 1);
	EXPECT(nrpc_lb_probe_serving(buf, n), "SERVING");
	n = reply(buf, sizeof buf, 0, 2);
	EXPECT(!nrpc_lb_probe_serving(buf, n), "NOT_SERVING");
	n = reply(buf, sizeof buf, 0, 0);
	EXPECT(!nrpc_lb_probe_serving(buf, n), "UNKNOWN");
	n = reply(buf, sizeof buf, 0, 3);
	EXPECT(!nrpc_lb_probe_serving(buf, n), "SERVICE_UNKNOWN");
	n = reply(buf, sizeof buf, 12, 0);
	EXPECT(nrpc_lb_probe_serving(buf, n),
	       "12 UNIMPLEMENTED: no health service, taken as serving");
	n = reply(buf, sizeof buf, 14, 0);
	EXPECT(!nrpc_lb_probe_serving(buf, n), "14 UNAVAILABLE (draining)");
	n = reply(buf, sizeof buf, 5, 0);
	EXPECT(!nrpc_lb_probe_serving(buf, n), "5 NOT_FOUND");
	const uint8_t junk[] = {0xff, 0xff, 0xff};
	EXPECT(!nrpc_lb_probe_serving(junk, sizeof junk), "undecodable reply");

	// The request: Health/Check with the timeout, and an empty payload.
	uint8_t req[64];
	size_t len = nrpc_lb_probe_request(req, sizeof req, 1000);
	Rpc__V1__Request *r = len > 0 ? rpc__v1__request__unpack(NULL, len, req) : NULL;
	EXPECT(r != NULL && strcmp(r->method, "/grpc.health.v1.Health/Check") == 0 &&
	           r->timeout_ms == 1000 && r->payload.len == 0,
	       "probe request");
	if (r != NULL)
		rpc__v1__request__free_unpacked(r, NULL);
	EXPECT(nrpc_lb_probe_request(req, 4, 1000) == 0, "too small a buffer");
}

static void test_dns_parse(void)
{
	nrpc_lb_dns_target t;
	EXPECT(nrpc_lb_dns_parse("dns+tcp://props.internal:7700", &t) == 1 &&
	           strcmp(t.scheme, "tcp") == 0 && strcmp(t.host, "props.internal") == 0 &&
	           strcmp(t.port, "7700") == 0,
	       "dns+tcp");
	EXPECT(nrpc_lb_dns_parse("dns+tls+tcp://props:443", &t) == 1 &&
	           strcmp(t.scheme, "tls+tcp") == 0 && strcmp(t.host, "props") == 0 &&
	           strcmp(t.port, "443") == 0,
	       "dns+tls+tcp");
	EXPECT(nrpc_lb_dns_parse("tcp://127.0.0.1:7700", &t) == 0, "plain tcp");
	EXPECT(nrpc_lb_dns_parse("ipc:///tmp/x", &t) == 0, "ipc");
	static const char *const bad[] = {
	    "dns+tcp://props",       "dns+tcp://:7700",      "dns+tcp://props:0",
	    "dns+tcp://props:65536", "dns+tcp://props:77x",  "dns+tcp://props:",
	    "dns+tcp://[::1]:7700",  "dns+tcp://a:b:7700",   "dns+tcp://props:7700/x",
	    "dns+ipc:///tmp/x",      "dns+udp://props:7700",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		EXPECT(nrpc_lb_dns_parse(bad[i], &t) == -1, "%s must be refused", bad[i]);
	char longname[LB_HOST_MAX + 32] = "dns+tcp://";
	memset(longname + 10, 'a', LB_HOST_MAX);
	strcpy(longname + 10 + LB_HOST_MAX, ":1");
	EXPECT(nrpc_lb_dns_parse(longname, &t) == -1, "host over LB_HOST_MAX");
}

static void test_addr_url(void)
{
	char buf[LB_URL_MAX];
	EXPECT(nrpc_lb_addr_url(buf, sizeof buf, "tcp", "10.0.0.7", "7700") == 0 &&
	           strcmp(buf, "tcp://10.0.0.7:7700") == 0,
	       "v4: %s", buf);
	EXPECT(nrpc_lb_addr_url(buf, sizeof buf, "tls+tcp", "fd00::7", "7700") == 0 &&
	           strcmp(buf, "tls+tcp://[fd00::7]:7700") == 0,
	       "v6: %s", buf);
	EXPECT(nrpc_lb_addr_url(buf, 8, "tcp", "10.0.0.7", "7700") == -1, "does not fit");
}

static void test_merge(void)
{
	const char *have[] = {"tcp://a:1", "tcp://b:1", "tcp://c:1"};
	const char *got[] = {"tcp://b:1", "tcp://d:1", "tcp://d:1", "tcp://c:1"};
	bool keep[3], add[4];
	nrpc_lb_merge(have, 3, got, 4, keep, add);
	EXPECT(!keep[0] && keep[1] && keep[2], "a vanished, b and c stay");
	EXPECT(!add[0] && add[1] && !add[2] && !add[3], "d added once");
	nrpc_lb_merge(have, 3, NULL, 0, keep, add);
	EXPECT(!keep[0] && !keep[1] && !keep[2], "an empty answer drops all (the pool never "
	                                         "applies one)");
	nrpc_lb_merge(NULL, 0, got, 2, keep, add);
	EXPECT(add[0] && add[1], "first answer: all new");
}

static void test_retry_rule(void)
{
	nrpc_meta with[] = {{"authorization", "Bearer x"}, {"idempotency-key", "k1"}};
	nrpc_meta empty[] = {{"idempotency-key", ""}, {"idempotency-key", "k2"}};
	nrpc_meta upper[] = {{"Idempotency-Key", "k1"}};
	EXPECT(nrpc_lb_has_idempotency_key(with, 2), "key present");
	EXPECT(!nrpc_lb_has_idempotency_key(empty, 2), "the first entry counts, and it is empty");
	EXPECT(!nrpc_lb_has_idempotency_key(upper, 1), "keys match exactly (lower case)");
	EXPECT(!nrpc_lb_has_idempotency_key(NULL, 0), "no metadata");

	const char *create = "/property.v1.PropertyService/CreateProperty";
	const char *update = "/property.v1.PropertyService/UpdateProperty";
	const char *get = "/property.v1.PropertyService/GetProperty";
	EXPECT(nrpc_lb_may_retry(true, get, false), "a read is retried");
	EXPECT(!nrpc_lb_may_retry(true, create, false), "a sent create without a key is not");
	EXPECT(nrpc_lb_may_retry(true, create, true), "a sent create with a key is");
	EXPECT(!nrpc_lb_may_retry(true, update, true), "a sent update is not, key or no key");
	EXPECT(nrpc_lb_may_retry(false, update, false),
	       "a call never sent always may go elsewhere");
}

int main(void)
{
	test_pick();
	test_pending();
	test_probe();
	test_dns_parse();
	test_addr_url();
	test_merge();
	test_retry_rule();
	if (failed == 0)
		printf("ok client_lb\n");
	return failed == 0 ? 0 : 1;
}
