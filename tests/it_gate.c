// propgate, the gateway, in front of three real propertyd instances (and two
// fake backends of the test's own: one that reports NOT_SERVING, one that
// accepts connections and never answers).
//
//   forwards            create/get/list and every error shape come back as the
//                       instance sent them; x-request-id is kept or generated.
//   spreads             calls reach all three healthy instances, none the
//                       NOT_SERVING one.
//   kill9_under_load    readers, idempotent creators and plain creators run
//                       while one instance is killed with SIGKILL: no read and
//                       no idempotent create fails; a plain create fails only
//                       with 14, within its deadline. The instance restarted
//                       on its ports gets calls again within 2 s.
//   deadline            a backend that never answers: the call is answered 4
//                       at its deadline; once the health check marked it down,
//                       14 at once.
//
//   propload_kill9      propload's own load (reads and idempotent creates)
//                       through the gateway while an instance is killed: no
//                       call fails; plain creates: only 14s, within deadline.
//
// The propgate and propload binaries come from the environment (PROPGATE,
// PROPLOAD), set by CTest.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "gate_proc.h"
#include "harness.h"
#include "nrpc/health.h"
#include "nrpc/server.h"

#define NINST 3

typedef struct ctx {
	h_proc inst[NINST];
	fake notserving;
	gate_proc gate;
	nrpc_client *cli; // dialed to the gateway
	char *auth;
} ctx;

// ---- cases ----------------------------------------------------------------------------------

static void forwards(void *arg)
{
	ctx *c = arg;
	char owner[96];
	h_owner(owner, sizeof owner, "gate");
	char *auth = h_bearer(H_SECRET, owner, 600);
	h_step("create and read back through the gateway");
	Property__V1__Property *p = h_create(c->cli, auth, owner);
	H_CHECK(p != NULL, "create through the gateway");
	if (p != NULL) {
		unsigned code = 0;
		Property__V1__Property *g = h_get(c->cli, auth, p->id, &code);
		H_CHECK(code == 0 && g != NULL && strcmp(g->id, p->id) == 0, "get: code %u", code);
		if (g != NULL)
			protobuf_c_message_free_unpacked(&g->base, NULL);
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	Property__V1__ListPropertiesByOwnerRequest lr =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	lr.owner_id = owner;
	lr.page_size = 10;
	Property__V1__ListPropertiesResponse *list = NULL;
	h_md md = {.auth = auth};
	unsigned code =
	    h_call(c->cli, M_LIST, &lr.base, &property__v1__list_properties_response__descriptor,
	           &md, (void **)&list, NULL);
	H_CHECK(code == 0 && list != NULL && list->n_properties == 1, "list: code %u", code);
	if (list != NULL)
		protobuf_c_message_free_unpacked(&list->base, NULL);

	h_step("errors come back as the instance sent them");
	Property__V1__CreatePropertyRequest bad = PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
	bad.owner_id = owner;
	bad.title = "";
	nrpc_result r;
	memset(&r, 0, sizeof r);
	code =
	    h_call(c->cli, M_CREATE, &bad.base, &property__v1__property__descriptor, &md, NULL, &r);
	H_CHECK(code == 3 && h_has_violation(&r, "title"), "invalid create: code %u", code);
	nrpc_result_free(&r);
	unsigned gcode = 0;
	Property__V1__Property *none =
	    h_get(c->cli, auth, "00000000-0000-4000-8000-000000000000", &gcode);
	H_CHECK(none == NULL && gcode == 5, "missing property: code %u", gcode);
	h_md noauth = {0};
	Property__V1__GetPropertyRequest gr = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	gr.id = "00000000-0000-4000-8000-000000000000";
	code = h_call(c->cli, M_GET, &gr.base, &property__v1__property__descriptor, &noauth, NULL,
	              NULL);
	H_CHECK(code == 16, "no token through the gateway: code %u (the instance checks it)", code);

	h_step("x-request-id: kept when sent, generated when not");
	memset(&r, 0, sizeof r);
	h_md rid = {.auth = auth, .req_id = "it-gate-request-1"};
	code = h_call(c->cli, M_GET, &gr.base, &property__v1__property__descriptor, &rid, NULL, &r);
	const char *echoed = nrpc_result_metadata(&r, "x-request-id");
	H_CHECK(echoed != NULL && strcmp(echoed, "it-gate-request-1") == 0, "echoed id %s",
	        echoed ? echoed : "(none)");
	nrpc_result_free(&r);
	memset(&r, 0, sizeof r);
	code = h_call(c->cli, M_GET, &gr.base, &property__v1__property__descriptor, &md, NULL, &r);
	echoed = nrpc_result_metadata(&r, "x-request-id");
	H_CHECK(echoed != NULL && strlen(echoed) >= 8, "generated id %s",
	        echoed ? echoed : "(none)");
	nrpc_result_free(&r);
	free(auth);
}

static void spreads(void *arg)
{
	ctx *c = arg;
	char series[256];
	double before[NINST];
	for (int i = 0; i < NINST; i++) {
		backend_series(series, sizeof series, "propgate_backend_calls_total",
		               c->inst[i].rpc_url);
		before[i] = gate_metric(&c->gate, series);
	}
	int fake_before = atomic_load(&c->notserving.calls);
	h_step("90 calls through the gateway");
	for (int i = 0; i < 90; i++) {
		unsigned code = 0;
		Property__V1__Property *p =
		    h_get(c->cli, c->auth, "00000000-0000-4000-8000-000000000001", &code);
		H_CHECK(code == 5, "get of a missing id: code %u", code);
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	for (int i = 0; i < NINST; i++) {
		backend_series(series, sizeof series, "propgate_backend_calls_total",
		               c->inst[i].rpc_url);
		double got = gate_metric(&c->gate, series) - before[i];
		H_CHECK(got >= 10, "instance %d answered %.0f of 90 calls (round robin gives 30)",
		        i, got);
	}
	H_CHECK(atomic_load(&c->notserving.calls) == fake_before,
	        "the NOT_SERVING backend got %d calls",
	        atomic_load(&c->notserving.calls) - fake_before);
	backend_series(series, sizeof series, "propgate_backend_up", c->notserving.url);
	H_CHECK(gate_metric(&c->gate, series) == 0, "NOT_SERVING backend shown up");
}

// ---- kill -9 under load ---------------------------------------------------------------------

enum { W_READ, W_IDEM, W_PLAIN };

typedef struct worker {
	ctx *c;
	int kind;
	atomic_bool *stop;
	char ids[8][64]; // properties to read
	int nids;
	int ok, failed, unavailable, late;
	unsigned first_bad;
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	char owner[96];
	h_owner(owner, sizeof owner, "gate-load");
	char *auth = h_bearer(H_SECRET, owner, 600);
	for (unsigned n = 0; !atomic_load(w->stop); n++) {
		int64_t t0 = h_now_ms();
		unsigned code;
		h_md md = {.auth = auth, .timeout_ms = 3000};
		if (w->kind == W_READ) {
			Property__V1__GetPropertyRequest gr =
			    PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
			gr.id = w->ids[n % (unsigned)w->nids];
			code = h_call(w->c->cli, M_GET, &gr.base,
			              &property__v1__property__descriptor, &md, NULL, NULL);
		} else {
			char key[96];
			snprintf(key, sizeof key, "it-gate-%d-%u-%p", (int)getpid(), n, (void *)w);
			if (w->kind == W_IDEM)
				md.idem = key;
			Property__V1__CreatePropertyRequest cr =
			    PROPERTY__V1__CREATE_PROPERTY_REQUEST__INIT;
			Property__V1__Location loc = PROPERTY__V1__LOCATION__INIT;
			h_valid_create(&cr, &loc, owner);
			code = h_call(w->c->cli, M_CREATE, &cr.base,
			              &property__v1__property__descriptor, &md, NULL, NULL);
		}
		int64_t took = h_now_ms() - t0;
		if (code == 0)
			w->ok++;
		else {
			w->failed++;
			if (w->first_bad == 0)
				w->first_bad = code;
			if (code == 14)
				w->unavailable++;
		}
		if (took > 3000 + 1000)
			w->late++;
	}
	free(auth);
	return NULL;
}

static void kill9_under_load(void *arg)
{
	ctx *c = arg;
	char owner[96];
	h_owner(owner, sizeof owner, "gate-read");
	char *auth = h_bearer(H_SECRET, owner, 600);
	worker ws[7];
	atomic_bool stop = false;
	memset(ws, 0, sizeof ws);
	h_step("seed properties to read");
	for (int k = 0; k < 7; k++) {
		ws[k].c = c;
		ws[k].stop = &stop;
		ws[k].kind = k < 3 ? W_READ : k < 5 ? W_IDEM : W_PLAIN;
	}
	for (int i = 0; i < 8; i++) {
		Property__V1__Property *p = h_create(c->cli, auth, owner);
		if (p == NULL)
			break;
		for (int k = 0; k < 3; k++) {
			snprintf(ws[k].ids[i], sizeof ws[k].ids[i], "%s", p->id);
			ws[k].nids = i + 1;
		}
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	H_CHECK(ws[0].nids == 8, "seeded %d", ws[0].nids);
	pthread_t th[7];
	for (int k = 0; k < 7; k++)
		pthread_create(&th[k], NULL, work, &ws[k]);
	h_sleep_ms(1500);
	h_step("kill -9 instance 1");
	h_proc *victim = &c->inst[1];
	char rpc[H_URL_MAX];
	snprintf(rpc, sizeof rpc, "%s", victim->rpc_url);
	h_kill9(victim);
	h_cleanup(victim);
	h_sleep_ms(2000);
	atomic_store(&stop, true);
	for (int k = 0; k < 7; k++)
		pthread_join(th[k], NULL);
	for (int k = 0; k < 7; k++) {
		worker *w = &ws[k];
		const char *what = w->kind == W_READ   ? "read"
		                   : w->kind == W_IDEM ? "idempotent create"
		                                       : "plain create";
		H_CHECK(w->ok > 0, "%s worker made no call", what);
		H_CHECK(w->late == 0, "%s: %d calls outlived their deadline", what, w->late);
		if (w->kind != W_PLAIN)
			H_CHECK(w->failed == 0, "%s: %d of %d failed (first code %u)", what,
			        w->failed, w->ok + w->failed, w->first_bad);
		else
			H_CHECK(w->failed == w->unavailable,
			        "plain create: %d failed, %d of them 14", w->failed,
			        w->unavailable);
	}

	h_step("restart the killed instance on its ports");
	char series[256];
	backend_series(series, sizeof series, "propgate_backend_up", rpc);
	H_CHECK(gate_metric(&c->gate, series) == 0, "the killed instance is still shown up");
	h_opts o = {.ports = victim};
	if (h_start(victim, &o) != 0) {
		H_FAIL("cannot restart the instance");
		free(auth);
		return;
	}
	int64_t t0 = h_now_ms();
	backend_series(series, sizeof series, "propgate_backend_calls_total", rpc);
	double before = gate_metric(&c->gate, series);
	bool back = false;
	while (!back && h_now_ms() - t0 < 2000) {
		unsigned code = 0;
		Property__V1__Property *p = h_get(c->cli, auth, ws[0].ids[0], &code);
		H_CHECK(code == 0, "read while the instance comes back: code %u", code);
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
		back = gate_metric(&c->gate, series) > before;
		h_sleep_ms(20);
	}
	H_CHECK(back, "the restarted instance got no call within 2 s");
	free(auth);
}

// ---- propload through the gateway while an instance is killed -------------------------------

// Runs propload against the gateway for 4 s with `mix` (extra flags in
// `flags`, may be NULL), kills `victim` with SIGKILL 1.5 s in, and reads the
// summary: requests, errors, 14s, and the slowest call in ms.
static int propload_kill(ctx *c, h_proc *victim, const char *mix, const char *flags,
                         json_int_t *requests, json_int_t *errors, json_int_t *unavailable,
                         double *max_ms)
{
	const char *bin = getenv("PROPLOAD");
	if (bin == NULL || access(bin, X_OK) != 0) {
		H_FAIL("PROPLOAD must name the propload binary");
		return -1;
	}
	char out[128], cmd[1024];
	snprintf(out, sizeof out, "/tmp/it_gate-propload-%d.json", (int)getpid());
	snprintf(cmd, sizeof cmd,
	         "AUTH_SECRET='%s' '%s' -q -u '%s' --mix %s %s --owners 20 --prepare 40 -c 8 -d 4s "
	         "--timeout 3s --json '%s' >/dev/null 2>&1",
	         H_SECRET, bin, c->gate.url, mix, flags ? flags : "", out);
	FILE *run = popen(cmd, "r");
	if (run == NULL) {
		H_FAIL("popen propload: %s", strerror(errno));
		return -1;
	}
	h_sleep_ms(1500);
	h_kill9(victim);
	int st = pclose(run);
	H_CHECK(WIFEXITED(st), "propload did not exit normally (%d)", st);
	json_error_t jerr;
	json_t *j = json_load_file(out, 0, &jerr);
	unlink(out);
	if (j == NULL) {
		H_FAIL("propload's JSON: %s", jerr.text);
		return -1;
	}
	json_t *sum = json_object_get(j, "summary");
	*requests = json_integer_value(json_object_get(sum, "requests"));
	*errors = json_integer_value(json_object_get(sum, "errors"));
	*unavailable =
	    json_integer_value(json_object_get(json_object_get(sum, "codes"), "UNAVAILABLE"));
	*max_ms =
	    json_number_value(json_object_get(json_object_get(sum, "latency_us"), "max")) / 1000.0;
	json_decref(j);
	return 0;
}

static void propload_kill9(void *arg)
{
	ctx *c = arg;
	json_int_t n = 0, errs = 0, u14 = 0;
	double max_ms = 0;
	h_proc *victim = &c->inst[2];
	h_step("propload: reads and idempotent creates; kill -9 an instance");
	if (propload_kill(c, victim, "get=70,list=10,create=20", "--idempotent", &n, &errs, &u14,
	                  &max_ms) == 0) {
		H_CHECK(n > 100 && errs == 0, "%lld calls, %lld failed", (long long)n,
		        (long long)errs);
		H_CHECK(max_ms < 3000 + 1000, "slowest call %.0f ms (deadline 3 s)", max_ms);
	}
	h_cleanup(victim);
	h_step("restart it");
	h_opts o = {.ports = victim};
	if (h_start(victim, &o) != 0)
		return;
	char series[256];
	backend_series(series, sizeof series, "propgate_backend_up", victim->rpc_url);
	for (int i = 0; i < 30 && gate_metric(&c->gate, series) != 1; i++)
		h_sleep_ms(100);
	h_step("propload: plain creates (not safe to repeat); kill -9 it again");
	if (propload_kill(c, victim, "create=100", NULL, &n, &errs, &u14, &max_ms) == 0) {
		H_CHECK(n > 50 && errs == u14, "%lld calls, %lld failed, %lld of them 14",
		        (long long)n, (long long)errs, (long long)u14);
		H_CHECK(max_ms < 3000 + 1000, "slowest call %.0f ms (deadline 3 s)", max_ms);
		printf("  plain creates: %lld calls, %lld answered 14 (in flight on the killed "
		       "instance)\n",
		       (long long)n, (long long)u14);
	}
	h_cleanup(victim);
	if (h_start(victim, &o) != 0)
		H_FAIL("cannot restart the instance");
}

// ---- a backend that never answers -----------------------------------------------------------

static void deadline(void *arg)
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
static void dns(void *arg)
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
static void no_database(void *arg)
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

// ---- mutual TLS on both hops ----------------------------------------------------------------

static int dev_certs(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/it_gate-certs-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		H_FAIL("mkdtemp: %s", strerror(errno));
		return -1;
	}
	return h_dev_certs(dir, "");
}

// A GetProperty of a missing id over tls+tcp:// `url` with the client
// certificate `name` (NULL: none); the code, or H_LOCAL_ERROR.
static unsigned tls_get(const char *url, const char *certs, const char *name, const char *auth,
                        bool *transport_error)
{
	nrpc_tls t = h_tls_client(certs, certs, name);
	nrpc_client *cli = NULL;
	char err[256];
	const char *urls[1] = {url};
	if (nrpc_client_open_tls(&cli, urls, 1, &t, err, sizeof err) != 0) {
		H_FAIL("client: %s", err);
		return H_LOCAL_ERROR;
	}
	Property__V1__GetPropertyRequest gr = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	gr.id = "00000000-0000-4000-8000-000000000003";
	h_md md = {.auth = auth, .timeout_ms = 1500};
	nrpc_result r;
	memset(&r, 0, sizeof r);
	unsigned code =
	    h_call(cli, M_GET, &gr.base, &property__v1__property__descriptor, &md, NULL, &r);
	*transport_error = r.transport_error;
	nrpc_result_free(&r);
	nrpc_client_close(cli);
	return code;
}

static void mtls(void *arg)
{
	ctx *c = arg;
	char certs[64];
	h_step("development certificates");
	if (dev_certs(certs, sizeof certs) != 0)
		return;
	char env[3][320];
	snprintf(env[0], sizeof env[0], "TLS_CERT_FILE=%s/server.crt", certs);
	snprintf(env[1], sizeof env[1], "TLS_KEY_FILE=%s/server.key", certs);
	snprintf(env[2], sizeof env[2], "TLS_CA_FILE=%s/ca.crt", certs);
	h_step("an instance on tls+tcp:// that requires client certificates");
	h_proc tmpl = {0}, inst = {0};
	snprintf(tmpl.rpc_url, sizeof tmpl.rpc_url, "tls+tcp://127.0.0.1:%d", gate_free_port());
	snprintf(tmpl.events_url, sizeof tmpl.events_url, "tcp://127.0.0.1:%d", gate_free_port());
	snprintf(tmpl.http_addr, sizeof tmpl.http_addr, "127.0.0.1:%d", gate_free_port());
	h_opts o = {.ports = &tmpl, .no_wait = true, .env = {env[0], env[1], env[2]}};
	if (h_start(&inst, &o) != 0)
		return;
	bool ready = false;
	for (int i = 0; i < 200 && !ready; i++) {
		int st = 0;
		char *body = NULL;
		ready = h_http_get(inst.http_addr, "/readyz", &st, &body) == 0 && st == 200;
		free(body);
		if (!ready)
			h_sleep_ms(100);
	}
	H_CHECK(ready, "the TLS instance did not become ready");

	char benv[4][320];
	snprintf(benv[0], sizeof benv[0], "BACKEND_TLS_CA_FILE=%s/ca.crt", certs);
	snprintf(benv[1], sizeof benv[1], "BACKEND_TLS_CERT_FILE=%s/propgate.crt", certs);
	snprintf(benv[2], sizeof benv[2], "BACKEND_TLS_KEY_FILE=%s/propgate.key", certs);
	snprintf(benv[3], sizeof benv[3], "BACKEND_TLS_SERVER_NAME=localhost");
	const char *genv[] = {env[0], env[1], env[2], benv[0], benv[1], benv[2], benv[3], NULL};
	const char *backends[1] = {inst.rpc_url};
	gate_proc g = {0};
	snprintf(g.url, sizeof g.url, "tls+tcp://127.0.0.1:%d", gate_free_port());
	h_step("propgate: tls+tcp:// for callers and to the instance, with its own certificate");
	if (ready && gate_start_env(&g, backends, 1, true, "--backend", genv) == 0) {
		bool te = false;
		unsigned code = tls_get(g.url, certs, "client", c->auth, &te);
		H_CHECK(code == 5, "a caller with a certificate, through both hops: code %u", code);
		code = tls_get(g.url, certs, NULL, c->auth, &te);
		H_CHECK(code != 5 && code != 0 && te,
		        "a caller without a certificate: code %u, transport error %d", code, te);
		gate_stop(&g);
	}
	h_step("propgate without a client certificate: the instance refuses it");
	const char *genv2[] = {env[0], env[1], env[2], benv[0], benv[3], NULL};
	gate_proc g2 = {0};
	snprintf(g2.url, sizeof g2.url, "tls+tcp://127.0.0.1:%d", gate_free_port());
	if (ready && gate_start_env(&g2, backends, 1, false, "--backend", genv2) == 0) {
		char series[256];
		snprintf(series, sizeof series, "propgate_backend_up{backend=\"%.80s\"}",
		         inst.rpc_url + strlen("tls+tcp://"));
		for (int i = 0; i < 30 && gate_metric(&g2, series) != 0; i++)
			h_sleep_ms(100);
		H_CHECK(gate_metric(&g2, series) == 0,
		        "the instance took a gateway with no certificate");
		bool te = false;
		unsigned code = tls_get(g2.url, certs, "client", c->auth, &te);
		H_CHECK(code == 14, "through a gateway the instance refuses: code %u", code);
		gate_stop(&g2);
	}
	h_stop(&inst);
	h_cleanup(&inst);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", certs);
	if (system(cmd) != 0)
		H_FAIL("cannot remove %s", certs);
}

int main(int argc, char **argv)
{
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	static ctx c;
	const char *backends[NINST + 1];
	for (int i = 0; i < NINST; i++) {
		if (h_start(&c.inst[i], &(h_opts){0}) != 0)
			return 1;
		backends[i] = c.inst[i].rpc_url;
	}
	if (fake_start(&c.notserving, NRPC_HEALTH_NOT_SERVING) != 0)
		return 1;
	backends[NINST] = c.notserving.url;
	if (gate_start(&c.gate, backends, NINST + 1, true) != 0)
		return 1;
	// The first health round has run once every real instance shows up.
	char series[256];
	for (int i = 0; i < 40; i++) {
		backend_series(series, sizeof series, "propgate_backend_up", c.notserving.url);
		if (gate_metric(&c.gate, series) == 0)
			break;
		h_sleep_ms(50);
	}
	if ((c.cli = h_client(c.gate.url)) == NULL)
		return 1;
	char owner[96];
	h_owner(owner, sizeof owner, "gate-spread");
	c.auth = h_bearer(H_SECRET, owner, 600);
	static const h_case cases[] = {
	    {"forwards", forwards},
	    {"spreads", spreads},
	    {"kill9_under_load", kill9_under_load},
	    {"deadline", deadline},
	    {"dns", dns},
	    {"mtls", mtls},
	    {"no_database", no_database},
	    {"propload_kill9", propload_kill9},
	};
	h_run_cases(cases, sizeof cases / sizeof cases[0], &c, argc, argv);
	nrpc_client_close(c.cli);
	gate_stop(&c.gate);
	fake_stop(&c.notserving);
	for (int i = 0; i < NINST; i++) {
		if (c.inst[i].pid > 0)
			h_stop(&c.inst[i]);
		h_cleanup(&c.inst[i]);
	}
	free(c.auth);
	return h_status();
}
