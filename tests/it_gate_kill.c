// it_gate: propgate while instances are killed with SIGKILL: readers,
// idempotent creators and plain creators of the test's own (kill9_under_load),
// and propload's own load (propload_kill9); see it_gate.c.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "it_gate.h"

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

void kill9_under_load(void *arg)
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

void propload_kill9(void *arg)
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
