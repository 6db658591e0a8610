// it_cache_outage: Redis frozen (SIGSTOP) or down (docs/contract.md section 5):
// every method still works from PostgreSQL, nothing stale is served when it
// comes back, and the cache is used again afterwards. Needs PD_REDIS_CTL
// ("$PD_REDIS_CTL stop|start|pause|resume") controlling the Redis at REDIS_URL.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define CALL_MS        5000  // every call must be answered within the default deadline
#define RECOVER_MS     30000 // bound on the cache reconnecting after Redis restarts
#define PAUSED_ROUNDS  5     // updates while Redis is frozen
#define RESUMED_CHECKS 10    // reads over ~2 s after it resumes
#define SHORT_MS       500   // a deadline a frozen Redis must not eat
#define HIT_SERIES     "propertyd_cache_requests_total{family=\"property\",result=\"hit\"}"

typedef struct ctx {
	h_proc p;
	const char *ctl;
	char owner[96];
	char city[64];
	char *auth;
	bool paused, stopped; // what to undo at the end
} ctx;

static int redis_ctl(ctx *c, const char *what)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "'%s' %s", c->ctl, what);
	int rc = system(cmd);
	if (rc != 0)
		H_FAIL("%s failed (status %d)", cmd, rc);
	if (strcmp(what, "pause") == 0)
		c->paused = rc == 0;
	if (strcmp(what, "resume") == 0)
		c->paused = false;
	if (strcmp(what, "stop") == 0)
		c->stopped = rc == 0;
	if (strcmp(what, "start") == 0 && rc == 0)
		c->stopped = false;
	return rc;
}

static Property__V1__Property *create_in_city(ctx *c, const char *title)
{
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	loc.city = c->city;
	cr.title = (char *)title;
	Property__V1__Property *p = NULL;
	nrpc_result r;
	h_md md = {.auth = c->auth, .timeout_ms = CALL_MS};
	unsigned code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
	                       &md, (void **)&p, &r);
	H_CHECK(code == 0 && p != NULL, "Create \"%s\": code %u%s", title, code,
	        r.transport_error ? " (no reply)" : "");
	nrpc_result_free(&r);
	return p;
}

// Get with a deadline of `ms` must be answered OK before that deadline.
static void expect_get_within(ctx *c, const char *id, uint32_t ms)
{
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = (char *)id;
	Property__V1__Property *p = NULL;
	h_md md = {.auth = c->auth, .timeout_ms = ms};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned code = h_call(c->p.cli, M_GET, &g.base, &property__v1__property__descriptor, &md,
	                       (void **)&p, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long took = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	H_CHECK(code == 0 && p != NULL && took < (long)ms,
	        "Redis frozen: Get with a %u ms deadline: code %u after %ld ms", ms, code, took);
	if (p != NULL)
		protobuf_c_message_free_unpacked(&p->base, NULL);
}

// Get must answer OK with exactly this version and title.
static void expect_get(ctx *c, const char *id, uint64_t version, const char *title,
                       const char *when)
{
	unsigned code;
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = (char *)id;
	Property__V1__Property *p = NULL;
	h_md md = {.auth = c->auth, .timeout_ms = CALL_MS};
	code = h_call(c->p.cli, M_GET, &g.base, &property__v1__property__descriptor, &md,
	              (void **)&p, NULL);
	H_CHECK(code == 0 && p != NULL && p->version == version && strcmp(p->title, title) == 0,
	        "%s: Get: code %u, version %llu title \"%s\"; want version %llu \"%s\"", when, code,
	        p ? (unsigned long long)p->version : 0ULL, p ? p->title : "-",
	        (unsigned long long)version, title);
	if (p != NULL)
		protobuf_c_message_free_unpacked(&p->base, NULL);
}

static void expect_gone(ctx *c, const char *id, const char *when)
{
	unsigned code;
	Property__V1__Property *p = h_get(c->p.cli, c->auth, id, &code);
	H_CHECK(code == 5, "%s: Get of a deleted property: code %u, want 5", when, code);
	if (p != NULL)
		protobuf_c_message_free_unpacked(&p->base, NULL);
}

static Property__V1__Property *update_title(ctx *c, const char *id, const char *title)
{
	Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
	np.title = (char *)title;
	char *mask[] = {"title"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	u.id = (char *)id;
	u.property = &np;
	u.n_update_mask = 1;
	u.update_mask = mask;
	Property__V1__Property *p = NULL;
	h_md md = {.auth = c->auth, .timeout_ms = CALL_MS};
	unsigned code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor,
	                       &md, (void **)&p, NULL);
	H_CHECK(code == 0 && p != NULL, "Update to \"%s\": code %u", title, code);
	return p;
}

static void delete_id(ctx *c, const char *id)
{
	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = (char *)id;
	h_md md = {.auth = c->auth, .timeout_ms = CALL_MS};
	unsigned code =
	    h_call(c->p.cli, M_DELETE, &d.base, &property__v1__delete_property_response__descriptor,
	           &md, NULL, NULL);
	H_CHECK(code == 0, "Delete: code %u", code);
}

// Version of `id` in List (by owner) and Search (by city); 0 when absent.
static void listed_versions(ctx *c, const char *id, uint64_t *in_list, uint64_t *in_search)
{
	*in_list = *in_search = 0;
	h_md md = {.auth = c->auth, .timeout_ms = CALL_MS};
	Property__V1__ListPropertiesByOwnerRequest l =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	l.owner_id = c->owner;
	l.page_size = 100;
	Property__V1__ListPropertiesResponse *lr = NULL;
	unsigned code =
	    h_call(c->p.cli, M_LIST, &l.base, &property__v1__list_properties_response__descriptor,
	           &md, (void **)&lr, NULL);
	H_CHECK(code == 0, "List: code %u", code);
	for (size_t i = 0; lr != NULL && i < lr->n_properties; i++)
		if (strcmp(lr->properties[i]->id, id) == 0)
			*in_list = lr->properties[i]->version;
	if (lr != NULL)
		protobuf_c_message_free_unpacked(&lr->base, NULL);
	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = c->city;
	s.page_size = 100;
	lr = NULL;
	code = h_call(c->p.cli, M_SEARCH, &s.base,
	              &property__v1__list_properties_response__descriptor, &md, (void **)&lr, NULL);
	H_CHECK(code == 0, "Search: code %u", code);
	for (size_t i = 0; lr != NULL && i < lr->n_properties; i++)
		if (strcmp(lr->properties[i]->id, id) == 0)
			*in_search = lr->properties[i]->version;
	if (lr != NULL)
		protobuf_c_message_free_unpacked(&lr->base, NULL);
}

static void expect_listed(ctx *c, const char *id, uint64_t version, const char *when)
{
	uint64_t l, s;
	listed_versions(c, id, &l, &s);
	H_CHECK(l == version, "%s: List shows version %llu of %s, want %llu", when,
	        (unsigned long long)l, id, (unsigned long long)version);
	H_CHECK(s == version, "%s: Search shows version %llu of %s, want %llu", when,
	        (unsigned long long)s, id, (unsigned long long)version);
}

static void case_pause_resume(void *arg)
{
	ctx *c = arg;
	Property__V1__Property *p = create_in_city(c, "before pause");
	Property__V1__Property *r = create_in_city(c, "deleted while paused");
	if (p == NULL || r == NULL)
		goto out;
	// Warm the cache: property entries and the owner's list. The hit counter
	// proves the entries are really cached (else the test proves nothing).
	double h0 = h_metric_now(&c->p, HIT_SERIES);
	for (int i = 0; i < 2; i++) {
		expect_get(c, p->id, 1, "before pause", "warm-up");
		expect_get(c, r->id, 1, "deleted while paused", "warm-up");
		expect_listed(c, p->id, 1, "warm-up");
	}
	H_CHECK(h_metric_now(&c->p, HIT_SERIES) >= h0 + 2, "warm-up Gets were not cache hits (%s)",
	        HIT_SERIES);
	if (redis_ctl(c, "pause") != 0)
		goto out;
	// The first read after the freeze waits for Redis at most its command
	// timeout, then PostgreSQL answers: well inside a short deadline.
	expect_get_within(c, p->id, SHORT_MS);
	expect_get(c, p->id, 1, "before pause", "Redis paused");
	// Interleaved reads and writes while Redis is frozen: every cache fill and
	// invalidation sent now sits in Redis's socket buffers and runs, in some
	// order, when it resumes. None of them may bring back an old version.
	char title[64] = "before pause";
	uint64_t version = 1;
	for (int i = 0; i < PAUSED_ROUNDS; i++) {
		snprintf(title, sizeof(title), "updated while paused %d", i);
		Property__V1__Property *u = update_title(c, p->id, title);
		if (u != NULL) {
			H_CHECK(u->version == version + 1, "version %llu after update from %llu",
			        (unsigned long long)u->version, (unsigned long long)version);
			version = u->version;
			protobuf_c_message_free_unpacked(&u->base, NULL);
		}
		expect_get(c, p->id, version, title, "Redis paused, after Update");
	}
	expect_listed(c, p->id, version, "Redis paused, after Update");
	delete_id(c, r->id);
	expect_gone(c, r->id, "Redis paused, after Delete");
	Property__V1__Property *q = create_in_city(c, "created while paused");
	if (q != NULL) {
		expect_get(c, q->id, 1, "created while paused", "Redis paused, after Create");
		expect_listed(c, q->id, 1, "Redis paused, after Create");
	}
	redis_ctl(c, "resume");
	// Nothing stale: the cache held version 1 of p and r before the pause.
	for (int i = 0; i < RESUMED_CHECKS; i++) {
		expect_get(c, p->id, version, title, "Redis resumed");
		expect_gone(c, r->id, "Redis resumed");
		expect_listed(c, p->id, version, "Redis resumed");
		if (q != NULL)
			expect_listed(c, q->id, 1, "Redis resumed");
		h_sleep_ms(200);
	}
	// And the cache works again afterwards (with the fresh value).
	double h1 = h_metric_now(&c->p, HIT_SERIES);
	bool hits = false;
	for (int64_t end = h_now_ms() + RECOVER_MS; !hits && h_now_ms() < end;) {
		expect_get(c, p->id, version, title, "Redis resumed");
		hits = h_metric_now(&c->p, HIT_SERIES) > h1;
		if (!hits)
			h_sleep_ms(100);
	}
	H_CHECK(hits, "no cache hits within %d ms after Redis resumed", RECOVER_MS);
	if (q != NULL)
		protobuf_c_message_free_unpacked(&q->base, NULL);
out:
	if (c->paused)
		redis_ctl(c, "resume");
	if (p != NULL)
		protobuf_c_message_free_unpacked(&p->base, NULL);
	if (r != NULL)
		protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void case_stop_start(void *arg)
{
	ctx *c = arg;
	Property__V1__Property *p = create_in_city(c, "before stop");
	if (p == NULL)
		return;
	expect_get(c, p->id, 1, "before stop", "warm-up");
	expect_get(c, p->id, 1, "before stop", "warm-up");
	if (redis_ctl(c, "stop") != 0)
		goto out;
	expect_get(c, p->id, 1, "before stop", "Redis stopped");
	Property__V1__Property *u = update_title(c, p->id, "updated while stopped");
	if (u != NULL)
		protobuf_c_message_free_unpacked(&u->base, NULL);
	expect_get(c, p->id, 2, "updated while stopped", "Redis stopped, after Update");
	expect_listed(c, p->id, 2, "Redis stopped");
	Property__V1__Property *q = create_in_city(c, "created while stopped");
	if (q != NULL) {
		expect_get(c, q->id, 1, "created while stopped", "Redis stopped");
		protobuf_c_message_free_unpacked(&q->base, NULL);
	}
	unsigned hc;
	H_CHECK(h_health(c->p.cli, "", &hc) == 1, "Health with Redis down: not SERVING (code %u)",
	        hc);
	if (redis_ctl(c, "start") != 0)
		goto out;
	expect_get(c, p->id, 2, "updated while stopped", "Redis started");
	// The cache is used again: Gets of one id turn into hits (bounded wait for the
	// reconnect).
	bool hits = false;
	for (int64_t end = h_now_ms() + RECOVER_MS; !hits && h_now_ms() < end;) {
		double h0 = h_metric_now(&c->p, HIT_SERIES);
		expect_get(c, p->id, 2, "updated while stopped", "Redis started");
		expect_get(c, p->id, 2, "updated while stopped", "Redis started");
		hits = h_metric_now(&c->p, HIT_SERIES) > h0;
		if (!hits)
			h_sleep_ms(250);
	}
	H_CHECK(hits, "no cache hits within %d ms after Redis came back (%s)", RECOVER_MS,
	        HIT_SERIES);
	Property__V1__Property *u2 = update_title(c, p->id, "after restart");
	if (u2 != NULL)
		protobuf_c_message_free_unpacked(&u2->base, NULL);
	expect_get(c, p->id, 3, "after restart", "Redis started, after Update");
out:
	if (c->stopped)
		redis_ctl(c, "start");
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"pause_resume", case_pause_resume},
	    {"stop_start", case_stop_start},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx c;
	memset(&c, 0, sizeof(c));
	c.ctl = getenv("PD_REDIS_CTL");
	if (c.ctl == NULL || c.ctl[0] == '\0') {
		fprintf(stderr, "FAIL: PD_REDIS_CTL is not set: this test stops and freezes Redis "
		                "through it (scripts/test.sh provides it with a private Redis)\n");
		return 1;
	}
	h_owner(c.owner, sizeof(c.owner), "cache");
	snprintf(c.city, sizeof(c.city), "Cachetown %.40s", c.owner + 9);
	c.auth = h_bearer(H_SECRET, c.owner, 600);
	if (h_start(&c.p, NULL) == 0) {
		h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), &c, argc, argv);
		rc = h_stop(&c.p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c.p);
	free(c.auth);
	return h_status();
}
