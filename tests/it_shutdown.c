// it_shutdown: SIGTERM drains in-flight requests (docs/contract.md section 1):
// every request sent before the signal gets a reply (any code), the process
// exits 0 within the drain budget.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define THREADS         8
#define WARM_CALLS      3     // calls per thread before the signal, so all are busy
#define CALL_TIMEOUT    15000 // longer than the drain budget: a missing reply shows as such
#define EXIT_BUDGET_MS  12000 // 10 s drain plus relay flush and teardown
#define AFTER_SIGNAL_MS 1500  // threads keep calling this long after the signal
#define LATE_TIMEOUT    2000  // calls sent after the signal may go unanswered

typedef struct ctx {
	h_proc p;
	char owner[96];
	char *auth;
	atomic_llong signalled_at; // h_now_ms() of the SIGTERM, 0 before
	atomic_int warm;
	pthread_mutex_t mu;
	int before_total, before_replied, after_total, after_replied;
	char first_missing[256];
} ctx;

static void *load_main(void *arg)
{
	ctx *c = arg;
	nrpc_client *cli;
	char err[128];
	const char *url = c->p.rpc_url;
	if (nrpc_client_open(&cli, &url, 1, err, sizeof(err)) != 0) {
		H_FAIL("client: %s", err);
		return NULL;
	}
	char *desc = malloc(9001);
	memset(desc, 'd', 9000);
	desc[9000] = '\0';
	for (int i = 0;; i++) {
		int64_t sig = atomic_load(&c->signalled_at);
		int64_t start = h_now_ms();
		if (sig != 0 && start - sig > AFTER_SIGNAL_MS)
			break;
		nrpc_result r;
		h_md md = {.auth = c->auth, .timeout_ms = sig == 0 ? CALL_TIMEOUT : LATE_TIMEOUT};
		unsigned code;
		if (i % 2 == 0) {
			// Slow-ish: a full page of the event log (properties included).
			Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
			e.limit = 1000;
			code =
			    h_call(cli, M_EVENTS, &e.base,
			           &property__v1__read_events_response__descriptor, &md, NULL, &r);
		} else {
			Property__V1__CreatePropertyRequest cr;
			Property__V1__Location loc;
			h_valid_create(&cr, &loc, "");
			cr.description = desc;
			code = h_call(cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
			              &md, NULL, &r);
		}
		bool replied = !r.transport_error;
		bool before = sig == 0;
		pthread_mutex_lock(&c->mu);
		if (before) {
			c->before_total++;
			c->before_replied += replied;
			if (!replied && c->first_missing[0] == '\0')
				snprintf(c->first_missing, sizeof(c->first_missing),
				         "call %d (%s) sent %lld ms before SIGTERM: code %u %s", i,
				         i % 2 == 0 ? "ReadEvents" : "CreateProperty",
				         (long long)(atomic_load(&c->signalled_at) - start), code,
				         r.message);
		} else {
			c->after_total++;
			c->after_replied += replied;
		}
		pthread_mutex_unlock(&c->mu);
		nrpc_result_free(&r);
		if (i + 1 == WARM_CALLS)
			atomic_fetch_add(&c->warm, 1);
		if (!replied && !before)
			break; // the server is gone or no longer listening: expected after SIGTERM
	}
	free(desc);
	nrpc_client_close(cli);
	return NULL;
}

static void case_sigterm_under_load(void *arg)
{
	ctx *c = arg;
	// One PostgreSQL connection for 8 handlers: requests queue inside the server,
	// so several are surely in flight when the signal arrives.
	h_opts o = {.env = {"DB_POOL_SIZE=1"}};
	if (h_start(&c->p, &o) != 0)
		return;
	// Enough events in the log that ReadEvents pages are full.
	for (int i = 0; i < 20; i++) {
		Property__V1__Property *p = h_create(c->p.cli, c->auth, "");
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, load_main, c);
	for (int64_t end = h_now_ms() + 20000; atomic_load(&c->warm) < THREADS && h_now_ms() < end;)
		h_sleep_ms(5);
	atomic_store(&c->signalled_at, h_now_ms());
	kill(c->p.pid, SIGTERM);
	int64_t t0 = h_now_ms();
	int rc = h_wait_exit(&c->p, EXIT_BUDGET_MS);
	int64_t took = h_now_ms() - t0;
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr,
	        "  before SIGTERM: %d calls, %d replied; after: %d calls, %d replied; "
	        "exit after %lld ms\n",
	        c->before_total, c->before_replied, c->after_total, c->after_replied,
	        (long long)took);
	H_CHECK(rc != -2, "propertyd still running %d ms after SIGTERM", EXIT_BUDGET_MS);
	H_CHECK(rc == 0, "exit status %d after SIGTERM, want 0", rc);
	H_CHECK(c->before_replied == c->before_total,
	        "%d of %d requests sent before SIGTERM got no reply; first: %s",
	        c->before_total - c->before_replied, c->before_total, c->first_missing);
	char *log = h_read_log(&c->p);
	if (log != NULL) {
		H_CHECK(strstr(log, "watchdog fired") == NULL, "the shutdown watchdog fired");
		H_CHECK(strstr(log, "drain budget ran out") == NULL, "the drain budget ran out");
		free(log);
	}
	h_stop(&c->p); // reaped already (or killed): scans the log
	h_cleanup(&c->p);
}

static void case_sigint_idle(void *arg)
{
	ctx *c = arg;
	h_proc p;
	if (h_start(&p, NULL) != 0)
		return;
	(void)c;
	kill(p.pid, SIGINT);
	int rc = h_wait_exit(&p, EXIT_BUDGET_MS);
	H_CHECK(rc == 0, "exit status %d after SIGINT, want 0", rc);
	h_stop(&p);
	h_cleanup(&p);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"sigterm_under_load", case_sigterm_under_load},
	    {"sigint_idle", case_sigint_idle},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx *c = calloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	h_owner(c->owner, sizeof(c->owner), "shut");
	c->auth = h_bearer(H_SECRET, c->owner, 600);
	h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), c, argc, argv);
	pthread_mutex_destroy(&c->mu);
	free(c->auth);
	free(c);
	return h_status();
}
