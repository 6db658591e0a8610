// it_db_outage: PostgreSQL down (docs/contract.md sections 5 and 7): writes get 14
// UNAVAILABLE within the deadline, Health turns NOT_SERVING and /readyz 503,
// and the service recovers by itself when PostgreSQL returns. Needs PD_PG_CTL
// ("$PD_PG_CTL stop|start|status") controlling the PostgreSQL at DATABASE_URL.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "harness.h"

#define WRITE_TIMEOUT_MS 3000
#define NOT_SERVING_MS   15000 // the health probe notices within a few seconds
#define RECOVER_MS       30000 // PostgreSQL restart plus pool reconnect
#define PUBLISH_MS       30000 // the relay reconnects, numbers and publishes

typedef struct ctx {
	h_proc p;
	const char *ctl;
	char owner[96];
	char key[96]; // an idempotency key first used during the outage
	char *auth;
	bool stopped;
} ctx;

static int pg_ctl(ctx *c, const char *what)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "'%s' %s", c->ctl, what);
	h_step(strcmp(what, "stop") == 0 ? "PostgreSQL stop" : "PostgreSQL start");
	int64_t t0 = h_now_ms();
	int rc = system(cmd);
	fprintf(stderr, "  PostgreSQL %s took %lld ms\n", what, (long long)(h_now_ms() - t0));
	if (rc != 0)
		H_FAIL("%s failed (status %d)", cmd, rc);
	else if (strcmp(what, "stop") == 0)
		c->stopped = true;
	else if (strcmp(what, "start") == 0)
		c->stopped = false;
	return rc;
}

// A reply must arrive, with 14 (or 4: the deadline passed while unavailable).
static void expect_unavailable(const char *what, unsigned code, const nrpc_result *r)
{
	bool ok = !r->transport_error && (code == 14 || code == 4);
	H_CHECK(ok, "%s with PostgreSQL down: code %u%s, want a reply with 14 (or 4)", what, code,
	        r->transport_error ? " (no reply within the deadline)" : "");
	if (!ok)
		h_print_result(what, r);
}

static int http_status(ctx *c, const char *path)
{
	int st = 0;
	char *body = NULL;
	if (h_http_get(c->p.http_addr, path, &st, &body) != 0)
		st = -1;
	free(body);
	return st;
}

static int sub_open(nng_socket *s, const char *url)
{
	int rv;
	if ((rv = nng_sub0_open(s)) != 0 ||
	    (rv = nng_socket_set(*s, NNG_OPT_SUB_SUBSCRIBE, "property.", 9)) != 0 ||
	    (rv = nng_socket_set_int(*s, NNG_OPT_RECVBUF, 8192)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 100)) != 0 ||
	    (rv = nng_dial(*s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		H_FAIL("subscriber: %s", nng_strerror(rv));
		return -1;
	}
	return 0;
}

// Waits (bounded) for an event of `type` about `id` on the subscriber.
static bool sub_wait(nng_socket s, const char *type, const char *id, int ms)
{
	for (int64_t end = h_now_ms() + ms; h_now_ms() < end;) {
		nng_msg *m;
		if (nng_recvmsg(s, &m, 0) != 0)
			continue;
		const uint8_t *b = nng_msg_body(m);
		size_t len = nng_msg_len(m);
		const uint8_t *nul = memchr(b, 0, len);
		Property__V1__Event *e =
		    nul ? property__v1__event__unpack(NULL, len - (size_t)(nul - b) - 1, nul + 1)
		        : NULL;
		bool hit =
		    e != NULL && strcmp(e->aggregate_id, id) == 0 && strcmp(e->type, type) == 0;
		if (e != NULL)
			property__v1__event__free_unpacked(e, NULL);
		nng_msg_free(m);
		if (hit)
			return true;
	}
	return false;
}

static void case_outage_and_recovery(void *arg)
{
	ctx *c = arg;
	h_step("create and cache a property");
	Property__V1__Property *p = h_create(c->p.cli, c->auth, "");
	if (p == NULL)
		return;
	unsigned code;
	Property__V1__Property *g = h_get(c->p.cli, c->auth, p->id, &code); // cached now
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
	nng_socket sub;
	if (sub_open(&sub, c->p.events_url) != 0)
		goto out;
	h_sleep_ms(300); // the subscriber's pipe attaches
	if (pg_ctl(c, "stop") != 0)
		goto out_sub;

	h_step("calls with PostgreSQL down");
	h_md md = {.auth = c->auth, .timeout_ms = WRITE_TIMEOUT_MS};
	nrpc_result r;
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &md, NULL,
	              &r);
	expect_unavailable("Create", code, &r);
	nrpc_result_free(&r);

	Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
	np.title = "during outage";
	char *mask[] = {"title"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	u.id = p->id;
	u.property = &np;
	u.n_update_mask = 1;
	u.update_mask = mask;
	code =
	    h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md, NULL, &r);
	expect_unavailable("Update", code, &r);
	nrpc_result_free(&r);

	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = p->id;
	code = h_call(c->p.cli, M_DELETE, &d.base,
	              &property__v1__delete_property_response__descriptor, &md, NULL, &r);
	expect_unavailable("Delete", code, &r);
	nrpc_result_free(&r);

	// A read the cache cannot answer.
	Property__V1__GetPropertyRequest gr = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	gr.id = "7d7d7d7d-aaaa-4bbb-8ccc-dddddddddddd";
	code =
	    h_call(c->p.cli, M_GET, &gr.base, &property__v1__property__descriptor, &md, NULL, &r);
	expect_unavailable("Get of an uncached id", code, &r);
	nrpc_result_free(&r);
	Property__V1__ReadEventsRequest er = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	code = h_call(c->p.cli, M_EVENTS, &er.base, &property__v1__read_events_response__descriptor,
	              &md, NULL, &r);
	expect_unavailable("ReadEvents", code, &r);
	nrpc_result_free(&r);
	// Listings: from the cache (OK) or 14; always a reply.
	Property__V1__ListPropertiesByOwnerRequest lr =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	lr.owner_id = c->owner;
	code = h_call(c->p.cli, M_LIST, &lr.base,
	              &property__v1__list_properties_response__descriptor, &md, NULL, &r);
	H_CHECK(!r.transport_error && (code == 0 || code == 14 || code == 4),
	        "List with PostgreSQL down: code %u%s", code,
	        r.transport_error ? " (no reply)" : "");
	nrpc_result_free(&r);
	Property__V1__SearchPropertiesRequest sr = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	sr.city = "Testville";
	code = h_call(c->p.cli, M_SEARCH, &sr.base,
	              &property__v1__list_properties_response__descriptor, &md, NULL, &r);
	H_CHECK(!r.transport_error && (code == 0 || code == 14 || code == 4),
	        "Search with PostgreSQL down: code %u%s", code,
	        r.transport_error ? " (no reply)" : "");
	nrpc_result_free(&r);
	// An idempotent create that failed creates nothing: its key is free afterwards.
	h_md idem = {.auth = c->auth, .timeout_ms = WRITE_TIMEOUT_MS, .idem = c->key};
	code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &idem,
	              NULL, &r);
	expect_unavailable("Create with an idempotency key", code, &r);
	nrpc_result_free(&r);

	// A cached read may be answered; if so, with the last acknowledged state.
	gr.id = p->id;
	g = NULL;
	code = h_call(c->p.cli, M_GET, &gr.base, &property__v1__property__descriptor, &md,
	              (void **)&g, &r);
	H_CHECK((code == 0 && g != NULL && g->version == 1) ||
	            (!r.transport_error && (code == 14 || code == 4)),
	        "Get of a cached id with PostgreSQL down: code %u%s", code,
	        r.transport_error ? " (no reply)" : "");
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
	nrpc_result_free(&r);

	// Health and readiness follow.
	h_step("wait for NOT_SERVING");
	int st = -1;
	for (int64_t end = h_now_ms() + NOT_SERVING_MS; h_now_ms() < end;) {
		st = h_health(c->p.cli, "", &code);
		if (st == 2)
			break;
		h_sleep_ms(100);
	}
	H_CHECK(st == 2, "Health with PostgreSQL down: status %d, want NOT_SERVING (2)", st);
	int rs = http_status(c, "/readyz");
	H_CHECK(rs == 503, "/readyz with PostgreSQL down: %d, want 503", rs);
	rs = http_status(c, "/healthz");
	H_CHECK(rs == 200, "/healthz with PostgreSQL down: %d, want 200", rs);
	st = h_health(c->p.cli, "property.v1.PropertyService", &code);
	H_CHECK(code == 0 && st == 2,
	        "Health of property.v1.PropertyService: code %u status %d, "
	        "want NOT_SERVING",
	        code, st);

	if (pg_ctl(c, "start") != 0)
		goto out_sub;
	h_step("wait for SERVING");
	st = -1;
	for (int64_t end = h_now_ms() + RECOVER_MS; h_now_ms() < end;) {
		st = h_health(c->p.cli, "", &code);
		if (st == 1)
			break;
		h_sleep_ms(200);
	}
	H_CHECK(st == 1, "Health after PostgreSQL returned: status %d, want SERVING", st);
	rs = http_status(c, "/readyz");
	H_CHECK(rs == 200, "/readyz after PostgreSQL returned: %d", rs);
	// Writes work again without a restart (allow the pool a bounded time).
	h_step("create after recovery");
	Property__V1__Property *np2 = NULL;
	for (int64_t end = h_now_ms() + RECOVER_MS; np2 == NULL && h_now_ms() < end;) {
		h_md m2 = {.auth = c->auth};
		code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
		              &m2, (void **)&np2, NULL);
		if (np2 == NULL)
			h_sleep_ms(200);
	}
	H_CHECK(np2 != NULL, "Create after PostgreSQL returned: code %u", code);
	if (np2 != NULL) {
		// The event relay recovered too: the new property's event is published.
		h_step("wait for the create's event");
		H_CHECK(sub_wait(sub, "property.created", np2->id, PUBLISH_MS),
		        "the create after recovery (%s) was not published within %d ms", np2->id,
		        PUBLISH_MS);
		protobuf_c_message_free_unpacked(&np2->base, NULL);
	}
	// The idempotency key of the failed create works now, once.
	h_step("idempotency key, update and get after recovery");
	Property__V1__Property *k1 = NULL, *k2 = NULL;
	h_md m4 = {.auth = c->auth, .idem = c->key};
	code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &m4,
	              (void **)&k1, NULL);
	H_CHECK(code == 0 && k1 != NULL, "Create with the key after recovery: code %u", code);
	code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &m4,
	              (void **)&k2, NULL);
	H_CHECK(code == 0 && k1 != NULL && k2 != NULL && strcmp(k1->id, k2->id) == 0,
	        "retry with the key after recovery: code %u, a different property", code);
	if (k1 != NULL)
		protobuf_c_message_free_unpacked(&k1->base, NULL);
	if (k2 != NULL)
		protobuf_c_message_free_unpacked(&k2->base, NULL);
	Property__V1__Property *u2 = NULL;
	h_md m3 = {.auth = c->auth};
	code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &m3,
	              (void **)&u2, NULL);
	H_CHECK(code == 0 && u2 != NULL && u2->version == 2,
	        "Update after recovery: code %u (the failed update must not have applied)", code);
	if (u2 != NULL)
		protobuf_c_message_free_unpacked(&u2->base, NULL);
	g = h_get(c->p.cli, c->auth, p->id, &code);
	H_CHECK(code == 0 && g != NULL && g->version == 2, "Get after recovery: code %u", code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
out_sub:
	h_nng_close(sub); // events may still be arriving
out:
	if (c->stopped)
		pg_ctl(c, "start");
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"outage_and_recovery", case_outage_and_recovery},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx c;
	memset(&c, 0, sizeof(c));
	c.ctl = getenv("PD_PG_CTL");
	if (c.ctl == NULL || c.ctl[0] == '\0') {
		fprintf(stderr,
		        "FAIL: PD_PG_CTL is not set: this test stops and starts PostgreSQL "
		        "through it (scripts/test.sh provides it with a private cluster)\n");
		return 1;
	}
	h_owner(c.owner, sizeof(c.owner), "db");
	h_owner(c.key, sizeof(c.key), "db-key");
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
