// it_limits: connection caps and slow clients (docs/contract.md §1.2:
// MAX_CONNECTIONS, MAX_SUBSCRIBERS, HTTP_MAX_CONNECTIONS, HTTP_TIMEOUT_MS).
// 2,000 idle RPC connections and 500 half-sent HTTP requests are held open
// while calls keep being answered; connections beyond a cap are refused and
// counted; nothing of it outlives the clients.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define IDLE_RPC  2000 // idle, handshaken RPC connections (all admitted)
#define RPC_CAP   2050 // MAX_CONNECTIONS of the instance
#define OVER_CAP  100  // more connections beyond the cap
#define HALF_HTTP 500  // half-sent HTTP requests
#define SUB_CAP   5    // MAX_SUBSCRIBERS
#define SETTLE_MS 10000

typedef struct ctx {
	h_proc p;
	char owner[96];
	char *auth;
} ctx;

// An SP connection that completed its handshake (as a REQ, or a SUB) and then
// says nothing: the server keeps a pipe for it. Returns the fd or -1.
static int sp_idle(const char *url, uint8_t proto)
{
	if (strncmp(url, "tcp://", 6) != 0)
		return -1;
	int fd = h_tcp_dial(url + 6);
	if (fd < 0)
		return -1;
	const uint8_t hello[8] = {0, 'S', 'P', 0, 0, proto, 0, 0};
	uint8_t peer[8];
	if (write(fd, hello, sizeof hello) != (ssize_t)sizeof hello ||
	    read(fd, peer, sizeof peer) != (ssize_t)sizeof peer) {
		close(fd);
		return -1;
	}
	return fd;
}

// Calls still answered: a Health check and a Get of a real property.
static void calls_work(ctx *c, const char *id, const char *when)
{
	unsigned code = 0;
	int st = h_health(c->p.cli, "", &code);
	H_CHECK(st == 1, "Health %s: status %d code %u", when, st, code);
	Property__V1__Property *g = h_get(c->p.cli, c->auth, id, &code);
	H_CHECK(g != NULL && code == 0, "Get %s: code %u", when, code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
	int hs = 0;
	char *body = NULL;
	H_CHECK(h_http_get(c->p.http_addr, "/healthz", &hs, &body) == 0 && hs == 200,
	        "/healthz %s: %d", when, hs);
	free(body);
}

static double metric(ctx *c, const char *series)
{
	return h_metric_now(&c->p, series);
}

static void case_many_connections(void *arg)
{
	ctx *c = arg;
	Property__V1__Property *p = h_create(c->p.cli, c->auth, "");
	if (p == NULL)
		return;
	calls_work(c, p->id, "before");

	h_step("open idle RPC connections");
	int *idle = malloc(sizeof(int) * (IDLE_RPC + OVER_CAP));
	int *half = malloc(sizeof(int) * HALF_HTTP);
	int n_idle = 0, n_half = 0, refused = 0;
	for (int i = 0; i < IDLE_RPC; i++) {
		int fd = sp_idle(c->p.rpc_url, 0x30); // REQ
		if (fd >= 0)
			idle[n_idle++] = fd;
	}
	H_CHECK(n_idle == IDLE_RPC, "%d of %d idle RPC connections were made", n_idle, IDLE_RPC);
	h_step("half-sent HTTP requests");
	for (int i = 0; i < HALF_HTTP; i++) {
		int fd = h_tcp_dial(c->p.http_addr);
		static const char part[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
		if (fd >= 0 && write(fd, part, sizeof part - 1) == (ssize_t)sizeof part - 1)
			half[n_half++] = fd;
		else if (fd >= 0)
			close(fd);
	}
	H_CHECK(n_half == HALF_HTTP, "%d of %d half-sent HTTP requests", n_half, HALF_HTTP);

	h_step("calls while held");
	for (int i = 0; i < 20; i++)
		calls_work(c, p->id, "with idle connections held");
	double open = 0;
	for (int64_t end = h_now_ms() + SETTLE_MS; h_now_ms() < end; h_sleep_ms(100)) {
		open = metric(c, "propertyd_connections{listener=\"rpc\"}");
		if (open >= IDLE_RPC)
			break;
	}
	H_CHECK(open >= IDLE_RPC && open <= RPC_CAP, "propertyd_connections{rpc} %.0f, want %d..%d",
	        open, IDLE_RPC, RPC_CAP);

	h_step("connections beyond the cap");
	for (int i = 0; i < OVER_CAP; i++) {
		int fd = sp_idle(c->p.rpc_url, 0x30);
		if (fd >= 0)
			idle[n_idle++] = fd;
		else
			refused++;
	}
	double rpc_refused = 0;
	for (int64_t end = h_now_ms() + SETTLE_MS; h_now_ms() < end; h_sleep_ms(100)) {
		rpc_refused = metric(c, "propertyd_connections_refused_total{listener=\"rpc\"}");
		if (rpc_refused > 0)
			break;
	}
	H_CHECK(rpc_refused >= OVER_CAP - (RPC_CAP - IDLE_RPC) - 1,
	        "refused RPC connections counted: %.0f (at most %d of %d new ones fit)",
	        rpc_refused, RPC_CAP - IDLE_RPC, OVER_CAP);
	open = metric(c, "propertyd_connections{listener=\"rpc\"}");
	H_CHECK(open <= RPC_CAP, "propertyd_connections{rpc} %.0f above the cap %d", open, RPC_CAP);
	double http_refused = metric(c, "propertyd_connections_refused_total{listener=\"http\"}");
	H_CHECK(http_refused > 0, "half-sent HTTP requests beyond HTTP_MAX_CONNECTIONS: %.0f",
	        http_refused);

	h_step("subscribers beyond MAX_SUBSCRIBERS");
	int subs[SUB_CAP + 3], n_subs = 0;
	for (int i = 0; i < SUB_CAP + 3; i++) {
		int fd = sp_idle(c->p.events_url, 0x21); // SUB
		if (fd >= 0)
			subs[n_subs++] = fd;
	}
	double sub_refused = 0;
	for (int64_t end = h_now_ms() + SETTLE_MS; h_now_ms() < end; h_sleep_ms(100)) {
		sub_refused = metric(c, "propertyd_connections_refused_total{listener=\"events\"}");
		if (sub_refused >= 3)
			break;
	}
	H_CHECK(sub_refused >= 3, "subscribers refused beyond MAX_SUBSCRIBERS=%d: %.0f", SUB_CAP,
	        sub_refused);
	calls_work(c, p->id, "at every cap");

	h_step("release");
	for (int i = 0; i < n_idle; i++)
		close(idle[i]);
	for (int i = 0; i < n_half; i++)
		close(half[i]);
	for (int i = 0; i < n_subs; i++)
		close(subs[i]);
	free(idle);
	free(half);
	for (int64_t end = h_now_ms() + SETTLE_MS; h_now_ms() < end; h_sleep_ms(100)) {
		open = metric(c, "propertyd_connections{listener=\"rpc\"}");
		if (open <= 2)
			break;
	}
	H_CHECK(open <= 2, "RPC connections left after the clients closed: %.0f", open);
	calls_work(c, p->id, "after");
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

// Slow HTTP: a request head that never completes is closed at HTTP_TIMEOUT_MS.
static void case_http_timeout(void *arg)
{
	ctx *c = arg;
	int fd = h_tcp_dial(c->p.http_addr);
	if (fd < 0) {
		H_FAIL("connect to %s", c->p.http_addr);
		return;
	}
	static const char part[] = "GET /healthz HTTP/1.1\r\n";
	H_CHECK(write(fd, part, sizeof part - 1) == (ssize_t)sizeof part - 1, "write");
	int64_t t0 = h_now_ms();
	char b[256];
	ssize_t r;
	while ((r = read(fd, b, sizeof b)) > 0)
		;
	int64_t waited = h_now_ms() - t0;
	close(fd);
	H_CHECK(r == 0 && waited >= 500 && waited < 4000,
	        "a half-sent request was closed after %lld ms (read %zd), want ~1000",
	        (long long)waited, r);
	H_CHECK(metric(c, "propertyd_http_timeouts_total") >= 1, "the timeout was counted");
}

// A client that keeps sending what is refused (here: a bad token, 16) has its
// connection's reading paused beyond REFUSAL_RATE (here 200) refusals a second
// (after a burst of 64): every call is still answered, the pauses are counted, and another
// client's calls go on meanwhile.
static void case_refusal_throttle(void *arg)
{
	ctx *c = arg;
	nrpc_client *bad = h_client(c->p.rpc_url);
	if (bad == NULL)
		return;
	Property__V1__Property *p = h_create(c->p.cli, c->auth, c->owner);
	H_CHECK(p != NULL, "create");
	if (p == NULL) {
		nrpc_client_close(bad);
		return;
	}
	double before = metric(c, "propertyd_connections_throttled_total");
	int refused = 0, n = 600;
	for (int i = 0; i < n; i++) {
		Property__V1__GetPropertyRequest gr = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
		gr.id = p->id;
		h_md md = {.auth = "Bearer not-a-token", .timeout_ms = 5000};
		unsigned code = h_call(bad, M_GET, &gr.base, &property__v1__property__descriptor,
		                       &md, NULL, NULL);
		refused += code == 16;
		if (i % 100 == 0)
			calls_work(c, p->id, "while another client is refused");
	}
	H_CHECK(refused == n, "%d of %d bad-token calls answered 16", refused, n);
	double after = metric(c, "propertyd_connections_throttled_total");
	H_CHECK(after > before, "no pause counted for %d refusals in a row (%.0f -> %.0f)", n,
	        before, after);
	calls_work(c, p->id, "after the refusals");
	nrpc_client_close(bad);
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"http_timeout", case_http_timeout},
	    {"many_connections", case_many_connections},
	    {"refusal_throttle", case_refusal_throttle},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	// This test holds ~2,700 sockets itself.
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4000) {
		fprintf(stderr,
		        "FAIL: the open-file limit is %llu; this test needs 4000 (raise the hard "
		        "limit: ulimit -Hn)\n",
		        (unsigned long long)rl.rlim_cur);
		return 1;
	}
	ctx c;
	memset(&c, 0, sizeof(c));
	h_owner(c.owner, sizeof(c.owner), "limits");
	c.auth = h_bearer(H_SECRET, c.owner, 600);
	char cap[32], subcap[32];
	snprintf(cap, sizeof cap, "MAX_CONNECTIONS=%d", RPC_CAP);
	snprintf(subcap, sizeof subcap, "MAX_SUBSCRIBERS=%d", SUB_CAP);
	h_opts o = {.env = {cap, subcap, "HTTP_MAX_CONNECTIONS=16", "HTTP_TIMEOUT_MS=1000",
	                    "REFUSAL_RATE=200"}};
	if (h_start(&c.p, &o) == 0) {
		h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), &c, argc, argv);
		rc = h_stop(&c.p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c.p);
	free(c.auth);
	return h_status();
}
