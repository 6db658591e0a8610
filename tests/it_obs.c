// it_obs: observability from the outside (docs/contract.md section 7 and the
// "Observability and deployment" issue): /readyz while draining, slow-query
// log lines, the access-log line of one call, and the /metrics families.
// (That no secret or token reaches the log is it_http's no_secrets_in_log.)
//
// Every case starts its own propertyd, since each needs its own settings.
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "harness.h"

#define DRAIN_THREADS  8     // handlers queued behind one pool connection
#define DRAIN_SEED     20    // events in the log, so ReadEvents pages are full
#define DRAIN_WARM     3     // calls per thread before the signal, so all are busy
#define DRAIN_CALL_MS  15000 // longer than the drain budget
#define DRAIN_AFTER_MS 1500  // threads keep calling this long after the signal
#define DRAIN_LATE_MS  2000  // calls sent after the signal may go unanswered
#define EXIT_BUDGET_MS 14000 // 10 s drain plus relay flush and teardown
#define READYZ_POLL_MS 2     // /readyz is polled this often while draining
#define SLOW_ROWS      60    // properties with large descriptions for slow reads
#define SLOW_DESC_B    9000  // under PROP_DESCRIPTION_MAX_B (10000)
#define SLOW_ROUNDS    20    // bounded retries of the slow reads (not a timer)
#define MARKER_MAX     64
#define METRIC_CREATES 3

typedef struct ctx {
	char owner[96];
	char *auth;
} ctx;

// A marker unique to this run, for "this value must not appear" checks.
static void marker(char *buf, size_t cap, const char *tag)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)h_now_ms();
	snprintf(buf, cap, "%s-%d-%016llx", tag, (int)getpid(), (unsigned long long)r);
}

// ---- readyz_during_drain -----------------------------------------------------------------
typedef struct drain_ctx {
	h_proc p;
	const char *auth;
	atomic_llong signalled_at; // h_now_ms() of the SIGTERM, 0 before
	atomic_int warm;
} drain_ctx;

static void *drain_load_main(void *arg)
{
	drain_ctx *d = arg;
	nrpc_client *cli;
	char err[128];
	const char *url = d->p.rpc_url;
	if (nrpc_client_open(&cli, &url, 1, err, sizeof(err)) != 0) {
		H_FAIL("client: %s", err);
		atomic_fetch_add(&d->warm, 1);
		return NULL;
	}
	for (int i = 0;; i++) {
		int64_t sig = atomic_load(&d->signalled_at);
		if (sig != 0 && h_now_ms() - sig > DRAIN_AFTER_MS)
			break;
		h_md md = {.auth = d->auth, .timeout_ms = sig == 0 ? DRAIN_CALL_MS : DRAIN_LATE_MS};
		nrpc_result r;
		if (i % 2 == 0) {
			// Slow-ish: a full page of the event log.
			Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
			e.limit = 1000;
			h_call(cli, M_EVENTS, &e.base,
			       &property__v1__read_events_response__descriptor, &md, NULL, &r);
		} else {
			Property__V1__CreatePropertyRequest cr;
			Property__V1__Location loc;
			h_valid_create(&cr, &loc, "");
			h_call(cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &md,
			       NULL, &r);
		}
		bool gone = r.transport_error;
		nrpc_result_free(&r);
		if (i + 1 == DRAIN_WARM)
			atomic_fetch_add(&d->warm, 1);
		if (gone && sig != 0)
			break; // no longer listening: expected after SIGTERM
	}
	nrpc_client_close(cli);
	return NULL;
}

static void case_readyz_during_drain(void *arg)
{
	ctx *c = arg;
	drain_ctx *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		H_FAIL("out of memory");
		return;
	}
	d->auth = c->auth;
	// One PostgreSQL connection for 8 handlers: requests queue inside the
	// server, so the drain has work left when the signal arrives.
	h_opts o = {.env = {"DB_POOL_SIZE=1"}};
	if (h_start(&d->p, &o) != 0) {
		free(d);
		return;
	}
	for (int i = 0; i < DRAIN_SEED; i++) {
		Property__V1__Property *p = h_create(d->p.cli, c->auth, "");
		if (p != NULL)
			protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	int st = 0;
	char *body = NULL;
	int rc = h_http_get(d->p.http_addr, "/readyz", &st, &body);
	H_CHECK(rc == 0 && st == 200, "/readyz before SIGTERM: rc %d status %d", rc, st);
	free(body);

	pthread_t th[DRAIN_THREADS];
	for (int i = 0; i < DRAIN_THREADS; i++)
		pthread_create(&th[i], NULL, drain_load_main, d);
	for (int64_t end = h_now_ms() + 20000;
	     atomic_load(&d->warm) < DRAIN_THREADS && h_now_ms() < end;)
		h_sleep_ms(5);
	atomic_store(&d->signalled_at, h_now_ms());
	kill(d->p.pid, SIGTERM);

	// Poll /readyz until the HTTP server goes away or the process exits.
	int polls = 0, n503 = 0, n200_after_503 = 0, other = 0, last_other = 0;
	int exit_rc = -2;
	bool refused = false;
	for (int64_t end = h_now_ms() + EXIT_BUDGET_MS; h_now_ms() < end;) {
		exit_rc = h_wait_exit(&d->p, 0);
		if (exit_rc != -2)
			break;
		if (!refused) {
			rc = h_http_get(d->p.http_addr, "/readyz", &st, &body);
			if (rc != 0) {
				refused = true; // the HTTP server stopped: teardown is under way
			} else {
				polls++;
				if (st == 503)
					n503++;
				else if (st == 200 && n503 > 0)
					n200_after_503++;
				else if (st != 200) {
					other++;
					last_other = st;
				}
				free(body);
			}
		}
		h_sleep_ms(READYZ_POLL_MS);
	}
	if (exit_rc == -2)
		exit_rc = h_wait_exit(&d->p, 0);
	for (int i = 0; i < DRAIN_THREADS; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "  /readyz after SIGTERM: %d answers, %d of them 503; server %s\n", polls,
	        n503, refused ? "stopped listening before exit" : "listened until exit");
	H_CHECK(n503 > 0, "no 503 from /readyz while draining (%d answers before exit)", polls);
	H_CHECK(n200_after_503 == 0, "/readyz answered 200 %d times after a 503", n200_after_503);
	H_CHECK(other == 0, "/readyz answered %d times with neither 200 nor 503 (last %d)", other,
	        last_other);
	H_CHECK(exit_rc != -2, "propertyd still running %d ms after SIGTERM", EXIT_BUDGET_MS);
	H_CHECK(exit_rc == 0, "exit status %d after SIGTERM, want 0", exit_rc);
	h_stop(&d->p); // reaped already (or killed): scans the log
	h_cleanup(&d->p);
	free(d);
}

// ---- log parsing -------------------------------------------------------------------------
typedef void (*line_fn)(const char *raw, size_t len, json_t *obj, void *arg);

// Parses every line of the log as a JSON object with string ts, level and msg
// (failing the test for each that is not) and hands each to fn.
static void each_log_line(const char *log, line_fn fn, void *arg)
{
	int bad = 0;
	for (const char *l = log; *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (len > 0) {
			json_error_t je;
			json_t *o = json_loadb(l, len, 0, &je);
			const char *why = NULL;
			if (o == NULL)
				why = je.text;
			else if (!json_is_object(o))
				why = "not an object";
			else if (!json_is_string(json_object_get(o, "ts")))
				why = "no string \"ts\"";
			else if (!json_is_string(json_object_get(o, "level")))
				why = "no string \"level\"";
			else if (!json_is_string(json_object_get(o, "msg")))
				why = "no string \"msg\"";
			if (why != NULL) {
				if (bad++ < 5)
					H_FAIL("log line is not a JSON record (%s): %.*s", why,
					       (int)(len > 300 ? 300 : len), l);
			} else {
				fn(l, len, o, arg);
			}
			json_decref(o);
		}
		l = nl ? nl + 1 : l + len;
	}
	H_CHECK(bad == 0, "%d log lines are not JSON records", bad);
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

// ---- slow_query_logged -------------------------------------------------------------------
typedef struct slow_scan {
	const char *marker;
	int slow, bad_statement, bad_duration, leaked;
	char first_leak[512];
} slow_scan;

static void slow_line(const char *raw, size_t len, json_t *o, void *arg)
{
	slow_scan *s = arg;
	if (strcmp(jstr(o, "msg"), "slow query") != 0)
		return;
	s->slow++;
	const char *stmt = jstr(o, "statement");
	if (stmt == NULL || stmt[0] == '\0')
		s->bad_statement++;
	// The duration key is the module's choice ("duration_ms" today); any
	// "duration..." number will do.
	bool dur = false;
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		if (strncmp(k, "duration", 8) == 0 && json_is_number(v) &&
		    json_number_value(v) >= 0)
			dur = true;
	}
	if (!dur)
		s->bad_duration++;
	char *line = strndup(raw, len);
	if (line != NULL && strstr(line, s->marker) != NULL) {
		if (s->leaked++ == 0)
			snprintf(s->first_leak, sizeof(s->first_leak), "%.500s", line);
	}
	free(line);
}

static void create_marked(h_proc *p, const char *auth, const char *title, const char *desc)
{
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	cr.title = (char *)title;
	cr.description = (char *)desc;
	h_md md = {.auth = auth};
	nrpc_result r;
	unsigned code =
	    h_call(p->cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &md, NULL, &r);
	if (code != 0) {
		H_FAIL("CreateProperty with a marked title: code %u", code);
		h_print_result("CreateProperty", &r);
	}
	nrpc_result_free(&r);
}

// "slow query" lines in the log so far (a cheap scan; each_log_line checks them).
static int count_slow(const h_proc *p)
{
	char *log = h_read_log(p);
	if (log == NULL)
		return 0;
	int n = 0;
	for (const char *q = log; (q = strstr(q, "\"slow query\"")) != NULL; q++)
		n++;
	free(log);
	return n;
}

static void case_slow_query_logged(void *arg)
{
	ctx *c = arg;
	// SLOW_QUERY_MS=0 is refused at start (apg reads 0 as its default, 100 ms);
	// 1 ms is the lowest threshold, and reading pages of large rows takes longer
	// than that.
	h_opts o = {.env = {"SLOW_QUERY_MS=1", "LOG_LEVEL=info"}};
	h_proc p;
	if (h_start(&p, &o) != 0)
		return;
	char mark[MARKER_MAX], title[MARKER_MAX + 16];
	marker(mark, sizeof(mark), "it-obs-secret-title");
	snprintf(title, sizeof(title), "Flat %s", mark);
	char *desc = malloc(SLOW_DESC_B + 1);
	if (desc == NULL) {
		H_FAIL("out of memory");
		h_stop(&p);
		h_cleanup(&p);
		return;
	}
	// The description repeats the marker, so any echo of a value shows up.
	size_t ml = strlen(mark);
	for (size_t i = 0; i < SLOW_DESC_B; i++)
		desc[i] = i % (ml + 1) == ml ? ' ' : mark[i % (ml + 1)];
	desc[SLOW_DESC_B] = '\0';
	for (int i = 0; i < SLOW_ROWS; i++)
		create_marked(&p, c->auth, title, desc);

	slow_scan s = {.marker = mark};
	for (int round = 0; round < SLOW_ROUNDS && count_slow(&p) == 0; round++) {
		h_md md = {.auth = c->auth};
		Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
		e.limit = 1000;
		unsigned code =
		    h_call(p.cli, M_EVENTS, &e.base,
		           &property__v1__read_events_response__descriptor, &md, NULL, NULL);
		H_CHECK(code == 0, "ReadEvents: code %u", code);
		Property__V1__SearchPropertiesRequest sr =
		    PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
		sr.city = "Testville";
		sr.page_size = 100;
		code = h_call(p.cli, M_SEARCH, &sr.base,
		              &property__v1__list_properties_response__descriptor, &md, NULL, NULL);
		H_CHECK(code == 0, "SearchProperties: code %u", code);
	}
	int rc = h_stop(&p);
	H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	char *log = h_read_log(&p);
	if (log == NULL) {
		H_FAIL("no log");
	} else {
		each_log_line(log, slow_line, &s);
		fprintf(stderr, "  %d slow-query lines\n", s.slow);
		H_CHECK(s.slow > 0, "no \"slow query\" line with SLOW_QUERY_MS=1 after %d reads",
		        SLOW_ROUNDS);
		H_CHECK(s.bad_statement == 0, "%d slow-query lines without a \"statement\"",
		        s.bad_statement);
		H_CHECK(s.bad_duration == 0, "%d slow-query lines without a duration",
		        s.bad_duration);
		H_CHECK(s.leaked == 0, "%d slow-query lines carry a parameter value; first: %s",
		        s.leaked, s.first_leak);
		free(log);
	}
	free(desc);
	h_cleanup(&p);
}

// ---- request_log_fields ------------------------------------------------------------------
typedef struct rpc_scan {
	const char *rid;
	const char *tp;
	int matches, rpc_lines;
	char method[128], traceparent[128], status[32];
	json_int_t code;
	bool has_code, has_duration;
} rpc_scan;

static void rpc_line(const char *raw, size_t len, json_t *o, void *arg)
{
	(void)raw;
	(void)len;
	rpc_scan *s = arg;
	if (strcmp(jstr(o, "msg"), "rpc") != 0)
		return;
	s->rpc_lines++;
	const char *rid = jstr(o, "request_id");
	if (rid == NULL || strcmp(rid, s->rid) != 0)
		return;
	s->matches++;
	const char *m = jstr(o, "method");
	const char *tp = jstr(o, "traceparent");
	snprintf(s->method, sizeof(s->method), "%s", m ? m : "(none)");
	snprintf(s->traceparent, sizeof(s->traceparent), "%s", tp ? tp : "(none)");
	json_t *code = json_object_get(o, "code");
	s->has_code = json_is_integer(code);
	s->code = json_integer_value(code);
	json_t *dur = json_object_get(o, "duration_us");
	s->has_duration = json_is_integer(dur) && json_integer_value(dur) >= 0;
}

static void case_request_log_fields(void *arg)
{
	ctx *c = arg;
	// LOG_REQUESTS unset: the default (on) applies.
	h_opts o = {.env = {"LOG_REQUESTS", "LOG_LEVEL=info"}};
	h_proc p;
	if (h_start(&p, &o) != 0)
		return;
	char rid[MARKER_MAX];
	marker(rid, sizeof(rid), "it-obs-rid");
	uint8_t tid[16], sid[8];
	if (getrandom(tid, sizeof(tid), 0) != sizeof(tid) ||
	    getrandom(sid, sizeof(sid), 0) != sizeof(sid)) {
		memset(tid, 0x5a, sizeof(tid));
		memset(sid, 0xa5, sizeof(sid));
	}
	char tp[56];
	int n = snprintf(tp, sizeof(tp), "00-");
	for (size_t i = 0; i < sizeof(tid); i++)
		n += snprintf(tp + n, sizeof(tp) - (size_t)n, "%02x", tid[i]);
	n += snprintf(tp + n, sizeof(tp) - (size_t)n, "-");
	for (size_t i = 0; i < sizeof(sid); i++)
		n += snprintf(tp + n, sizeof(tp) - (size_t)n, "%02x", sid[i]);
	snprintf(tp + n, sizeof(tp) - (size_t)n, "-01");

	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = "5e5e5e5e-1111-4222-8333-944444444444";
	nrpc_meta md[] = {{"authorization", c->auth}, {"x-request-id", rid}, {"traceparent", tp}};
	nrpc_result r;
	memset(&r, 0, sizeof(r));
	ProtobufCMessage *out = NULL;
	if (nrpc_client_call(p.cli, M_GET, &g.base, &property__v1__property__descriptor, md,
	                     sizeof(md) / sizeof(md[0]), H_CALL_TIMEOUT, &out, &r) != 0) {
		H_FAIL("nrpc_client_call: local failure");
	} else {
		H_CHECK(r.code == 5, "Get of a missing id: code %u", r.code);
		const char *echo = nrpc_result_metadata(&r, "x-request-id");
		H_CHECK(echo != NULL && strcmp(echo, rid) == 0, "reply x-request-id %s, want %s",
		        echo ? echo : "(none)", rid);
	}
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	nrpc_result_free(&r);

	// Stopped first, so every line (the call's included) is written.
	int rc = h_stop(&p);
	H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	char *log = h_read_log(&p);
	if (log == NULL) {
		H_FAIL("no log");
	} else {
		rpc_scan s = {.rid = rid, .tp = tp};
		each_log_line(log, rpc_line, &s);
		H_CHECK(s.matches == 1,
		        "%d \"rpc\" lines with request_id %s, want 1 (%d rpc lines)", s.matches,
		        rid, s.rpc_lines);
		if (s.matches == 1) {
			H_CHECK(strcmp(s.method, M_GET) == 0, "method %s, want %s", s.method,
			        M_GET);
			H_CHECK(s.has_code && s.code == 5, "code %lld (integer: %d), want 5",
			        (long long)s.code, s.has_code);
			H_CHECK(s.has_duration, "no non-negative integer duration_us");
			H_CHECK(strcmp(s.traceparent, tp) == 0, "traceparent %s, want %s",
			        s.traceparent, tp);
		}
		free(log);
	}
	h_cleanup(&p);
}

// ---- metrics_families --------------------------------------------------------------------
// True when a sample line (not a comment) starts with prefix.
static bool has_sample(const char *body, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (const char *l = body; l != NULL && *l;) {
		if (*l != '#' && strncmp(l, prefix, pl) == 0)
			return true;
		l = strchr(l, '\n');
		if (l != NULL)
			l++;
	}
	return false;
}

// Sum of the samples whose line starts with prefix and contains `contains`.
static double sum_samples(const char *body, const char *prefix, const char *contains)
{
	size_t pl = strlen(prefix);
	double sum = 0;
	for (const char *l = body; l != NULL && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (*l != '#' && strncmp(l, prefix, pl) == 0) {
			char *line = strndup(l, len);
			const char *sp = line ? strrchr(line, ' ') : NULL;
			if (sp != NULL && strstr(line, contains) != NULL)
				sum += strtod(sp + 1, NULL);
			free(line);
		}
		l = nl ? nl + 1 : NULL;
	}
	return sum;
}

static char *get_metrics(const h_proc *p)
{
	int st;
	char *body;
	if (h_http_get(p->http_addr, "/metrics", &st, &body) != 0) {
		H_FAIL("GET /metrics failed");
		return NULL;
	}
	H_CHECK(st == 200, "/metrics status %d", st);
	return body;
}

static unsigned call_ok(h_proc *p, const char *auth, const char *method,
                        const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
                        void **out)
{
	h_md md = {.auth = auth};
	return h_call(p->cli, method, req, desc, &md, out, NULL);
}

// The calls the case makes: every property method, hits and misses.
static void metric_traffic(h_proc *p, const char *auth, const char *owner)
{
	Property__V1__Property *made[METRIC_CREATES] = {0};
	for (int i = 0; i < METRIC_CREATES; i++)
		made[i] = h_create(p->cli, auth, owner);
	if (made[0] == NULL || made[1] == NULL)
		goto done;
	unsigned code;
	for (int i = 0; i < 3; i++) { // the first read may fill the cache, the next hit it
		Property__V1__Property *g = h_get(p->cli, auth, made[0]->id, &code);
		H_CHECK(code == 0, "Get of a created property: code %u", code);
		if (g != NULL)
			protobuf_c_message_free_unpacked(&g->base, NULL);
	}
	Property__V1__Property *g =
	    h_get(p->cli, auth, "5e5e5e5e-1111-4222-8333-944444444444", &code);
	H_CHECK(code == 5, "Get of a missing id: code %u", code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);

	Property__V1__ListPropertiesByOwnerRequest l =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	l.owner_id = (char *)owner;
	code = call_ok(p, auth, M_LIST, &l.base,
	               &property__v1__list_properties_response__descriptor, NULL);
	H_CHECK(code == 0, "ListPropertiesByOwner: code %u", code);
	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = "Testville";
	code = call_ok(p, auth, M_SEARCH, &s.base,
	               &property__v1__list_properties_response__descriptor, NULL);
	H_CHECK(code == 0, "SearchProperties: code %u", code);

	Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
	np.title = "Renamed by it_obs";
	char *mask[] = {"title"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	u.id = made[0]->id;
	u.property = &np;
	u.n_update_mask = 1;
	u.update_mask = mask;
	code = call_ok(p, auth, M_UPDATE, &u.base, &property__v1__property__descriptor, NULL);
	H_CHECK(code == 0, "UpdateProperty: code %u", code);

	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = made[1]->id;
	code = call_ok(p, auth, M_DELETE, &d.base,
	               &property__v1__delete_property_response__descriptor, NULL);
	H_CHECK(code == 0, "DeleteProperty: code %u", code);
done:
	for (int i = 0; i < METRIC_CREATES; i++)
		if (made[i] != NULL)
			protobuf_c_message_free_unpacked(&made[i]->base, NULL);
}

typedef struct family {
	const char *type;   // "# TYPE <name> <type>" must be present
	const char *name;   // the family name
	const char *sample; // a sample line must start with this
} family;

static void case_metrics_families(void *arg)
{
	ctx *c = arg;
	h_proc p;
	if (h_start(&p, NULL) != 0)
		return;
	char *b0 = get_metrics(&p);
	double created0 = 0, updated0 = 0, deleted0 = 0;
	if (b0 != NULL) {
		h_metric(b0, "propertyd_properties_created_total", &created0);
		h_metric(b0, "propertyd_properties_updated_total", &updated0);
		h_metric(b0, "propertyd_properties_deleted_total", &deleted0);
	}
	free(b0);
	metric_traffic(&p, c->auth, c->owner);
	char *b = get_metrics(&p);
	if (b == NULL) {
		h_stop(&p);
		h_cleanup(&p);
		return;
	}
	static const family fams[] = {
	    {"counter", "propertyd_requests_total",
	     "propertyd_requests_total{method=\"" M_CREATE "\",code=\"0\"}"},
	    {"counter", "propertyd_requests_total",
	     "propertyd_requests_total{method=\"" M_GET "\",code=\"5\"}"},
	    {"histogram", "propertyd_request_duration_seconds",
	     "propertyd_request_duration_seconds_bucket{method=\"" M_GET "\",le=\""},
	    {"gauge", "propertyd_requests_in_flight", "propertyd_requests_in_flight "},
	    {"gauge", "propertyd_db_pool_in_use", "propertyd_db_pool_in_use "},
	    {"gauge", "propertyd_db_pool_idle", "propertyd_db_pool_idle "},
	    {"gauge", "propertyd_db_pool_size", "propertyd_db_pool_size "},
	    {"counter", "propertyd_db_pool_waits_total", "propertyd_db_pool_waits_total "},
	    {"histogram", "propertyd_db_query_duration_seconds",
	     "propertyd_db_query_duration_seconds_bucket{statement=\""},
	    {"counter", "propertyd_cache_requests_total", "propertyd_cache_requests_total{"},
	    {"counter", "propertyd_events_published_total", "propertyd_events_published_total"},
	    {"gauge", "propertyd_relay_lag_rows", "propertyd_relay_lag_rows "},
	    {"gauge", "propertyd_relay_leader", "propertyd_relay_leader "},
	    {"counter", "propertyd_properties_created_total",
	     "propertyd_properties_created_total "},
	    {"counter", "propertyd_properties_updated_total",
	     "propertyd_properties_updated_total "},
	    {"counter", "propertyd_properties_deleted_total",
	     "propertyd_properties_deleted_total "},
	    {"gauge", "propertyd_build_info", "propertyd_build_info{version=\""},
	};
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		char type[160];
		snprintf(type, sizeof(type), "# TYPE %s %s\n", fams[i].name, fams[i].type);
		H_CHECK(strstr(b, type) != NULL, "/metrics has no \"%.*s\"", (int)strlen(type) - 1,
		        type);
		H_CHECK(has_sample(b, fams[i].sample), "/metrics has no sample %s", fams[i].sample);
	}
	double hits = sum_samples(b, "propertyd_cache_requests_total{", "result=\"hit\"");
	double misses = sum_samples(b, "propertyd_cache_requests_total{", "result=\"miss\"");
	H_CHECK(hits > 0, "propertyd_cache_requests_total has no hit after repeated Gets");
	H_CHECK(misses > 0, "propertyd_cache_requests_total has no miss after a missing Get");
	double size = 0;
	H_CHECK(h_metric(b, "propertyd_db_pool_size", &size) && size >= 1,
	        "propertyd_db_pool_size %g, want >= 1", size);
	H_CHECK(sum_samples(b, "propertyd_build_info{", "version=\"") == 1,
	        "propertyd_build_info is not 1");
	double created1 = 0, updated1 = 0, deleted1 = 0;
	h_metric(b, "propertyd_properties_created_total", &created1);
	h_metric(b, "propertyd_properties_updated_total", &updated1);
	h_metric(b, "propertyd_properties_deleted_total", &deleted1);
	H_CHECK(created1 == created0 + METRIC_CREATES,
	        "propertyd_properties_created_total went from %g to %g, want +%d", created0,
	        created1, METRIC_CREATES);
	H_CHECK(updated1 == updated0 + 1,
	        "propertyd_properties_updated_total went from %g to %g, want +1", updated0,
	        updated1);
	H_CHECK(deleted1 == deleted0 + 1,
	        "propertyd_properties_deleted_total went from %g to %g, want +1", deleted0,
	        deleted1);
	free(b);
	int rc = h_stop(&p);
	H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	h_cleanup(&p);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"readyz_during_drain", case_readyz_during_drain},
	    {"slow_query_logged", case_slow_query_logged},
	    {"request_log_fields", case_request_log_fields},
	    {"metrics_families", case_metrics_families},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx c;
	memset(&c, 0, sizeof(c));
	h_owner(c.owner, sizeof(c.owner), "obs");
	c.auth = h_bearer(H_SECRET, c.owner, 600);
	h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), &c, argc, argv);
	free(c.auth);
	return h_status();
}
