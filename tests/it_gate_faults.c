// it_gate: backends that fail: one that never answers (deadline), the
// addresses of a name as backends, one of them refused (dns), and an instance
// whose database is unreachable (no_database); see it_gate.c.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "it_gate.h"
#include "nrpc/health.h"

// ---- a backend that never answers -----------------------------------------------------------

void deadline(void *arg)
{
	(void)arg;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 64) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) != 0) {
		H_FAIL("blackhole listener: %s", strerror(errno));
		return;
	}
	char url[H_URL_MAX];
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ntohs(a.sin_port));
	const char *backends[1] = {url};
	gate_proc g = {0};
	// Connections complete in the kernel's backlog; nothing ever answers.
	if (gate_start(&g, backends, 1, false) != 0) {
		close(lfd);
		return;
	}
	nrpc_client *cli = h_client(g.url);
	if (cli == NULL) {
		gate_stop(&g);
		close(lfd);
		return;
	}
	h_step("a call to a backend that never answers");
	Property__V1__GetPropertyRequest gr = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	gr.id = "00000000-0000-4000-8000-000000000000";
	h_md md = {.timeout_ms = 300};
	int64_t t0 = h_now_ms();
	nrpc_result r;
	memset(&r, 0, sizeof r);
	unsigned code =
	    h_call(cli, M_GET, &gr.base, &property__v1__property__descriptor, &md, NULL, &r);
	int64_t took = h_now_ms() - t0;
	// The caller's own timer and the gateway's answer race (both at 300 ms);
	// either way the caller has its 4 by then, and the gateway answered too.
	H_CHECK(code == 4, "code %u (transport error %d)", code, r.transport_error);
	H_CHECK(took < 300 + 700, "answered after %lld ms, deadline 300", (long long)took);
	for (int i = 0; i < 20 && gate_metric(&g, "propgate_deadline_exceeded_total") < 1; i++)
		h_sleep_ms(50);
	H_CHECK(gate_metric(&g, "propgate_deadline_exceeded_total") == 1,
	        "the gateway's own deadline answered %.0f calls",
	        gate_metric(&g, "propgate_deadline_exceeded_total"));
	nrpc_result_free(&r);
	h_step("once marked down: still tried (panic routing), answered 4 at the deadline");
	char series[256];
	backend_series(series, sizeof series, "propgate_backend_up", url);
	for (int i = 0; i < 40 && gate_metric(&g, series) != 0; i++)
		h_sleep_ms(100);
	H_CHECK(gate_metric(&g, series) == 0, "the silent backend is still shown up");
	md.timeout_ms = 500;
	memset(&r, 0, sizeof r);
	t0 = h_now_ms();
	code = h_call(cli, M_GET, &gr.base, &property__v1__property__descriptor, &md, NULL, &r);
	took = h_now_ms() - t0;
	H_CHECK(code == 4, "code %u", code);
	H_CHECK(took < 500 + 700, "answered after %lld ms, deadline 500", (long long)took);
	nrpc_result_free(&r);
	nrpc_client_close(cli);
	gate_stop(&g);
	close(lfd);
}

// --backends-dns: every address of a name becomes a backend; "localhost"
// has 127.0.0.1 (where the instance listens) and usually ::1 (refused:
// marked down, never called).
void dns(void *arg)
{
	ctx *c = arg;
	const char *port = strrchr(c->inst[0].rpc_url, ':') + 1;
	char name[64];
	snprintf(name, sizeof name, "localhost:%s", port);
	const char *backends[1] = {name};
	gate_proc g = {0};
	if (gate_start_args(&g, backends, 1, true, "--backends-dns") != 0)
		return;
	char series[128];
	snprintf(series, sizeof series, "propgate_backend_up{backend=\"127.0.0.1:%s\"}", port);
	H_CHECK(gate_metric(&g, series) == 1, "127.0.0.1:%s not up", port);
	nrpc_client *cli = h_client(g.url);
	if (cli == NULL) {
		gate_stop(&g);
		return;
	}
	h_sleep_ms(600); // a health round: an address nothing listens on is down by now
	for (int i = 0; i < 10; i++) {
		unsigned code = 0;
		Property__V1__Property *p =
		    h_get(cli, c->auth, "00000000-0000-4000-8000-000000000002", &code);
		H_CHECK(code == 5, "get through a DNS-named backend: code %u", code);
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	nrpc_client_close(cli);
	gate_stop(&g);
}

// An instance whose database is unreachable listens but reports NOT_SERVING
// (it retries its migrations meanwhile) and gets no calls.
void no_database(void *arg)
{
	ctx *c = arg;
	h_proc lost = {0};
	h_opts o = {.no_wait = true,
	            .env = {"DATABASE_URL=postgresql://postgres@127.0.0.1:1/none"}};
	h_step("an instance with an unreachable DATABASE_URL");
	if (h_start(&lost, &o) != 0)
		return;
	nrpc_client *direct = h_client(lost.rpc_url);
	int st = -1;
	if (direct != NULL) {
		for (int i = 0; i < 50 && st != 2; i++) {
			unsigned code = 0;
			st = h_health(direct, "", &code);
			if (st != 2)
				h_sleep_ms(100);
		}
		nrpc_client_close(direct);
	}
	H_CHECK(st == 2, "its Health/Check: status %d, want 2 NOT_SERVING", st);
	const char *backends[2] = {c->inst[0].rpc_url, lost.rpc_url};
	gate_proc g = {0};
	if (gate_start(&g, backends, 2, true) == 0) {
		char series[256];
		backend_series(series, sizeof series, "propgate_backend_up", lost.rpc_url);
		for (int i = 0; i < 30 && gate_metric(&g, series) != 0; i++)
			h_sleep_ms(100);
		H_CHECK(gate_metric(&g, series) == 0,
		        "the instance without a database is shown up");
		nrpc_client *cli = h_client(g.url);
		if (cli != NULL) {
			for (int i = 0; i < 20; i++) {
				unsigned code = 0;
				Property__V1__Property *p = h_get(
				    cli, c->auth, "00000000-0000-4000-8000-000000000004", &code);
				H_CHECK(code == 5, "get through the gateway: code %u", code);
				if (p != NULL)
					protobuf_c_message_free_unpacked(&p->base, NULL);
			}
			nrpc_client_close(cli);
		}
		backend_series(series, sizeof series, "propgate_backend_calls_total", lost.rpc_url);
		H_CHECK(gate_metric(&g, series) == 0,
		        "the instance without a database got %.0f calls", gate_metric(&g, series));
		gate_stop(&g);
	}
	h_kill9(&lost);
	h_cleanup(&lost);
}
