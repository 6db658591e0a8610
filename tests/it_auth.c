// it_auth: authentication and authorization (docs/contract.md section 3).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

typedef struct ctx {
	h_proc p;
	char owner_a[96], owner_b[96];
	char *auth_a, *auth_b;
	Property__V1__Property *prop_a; // created by A in setup
} ctx;

// One valid request per authenticated method, aimed at A's property.
typedef struct method_req {
	const char *method;
	const ProtobufCMessage *msg;
	const ProtobufCMessageDescriptor *out;
} method_req;

static void for_each_method(ctx *c, void (*fn)(ctx *c, const method_req *m, void *arg), void *arg)
{
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	Property__V1__GetPropertyRequest g = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	g.id = c->prop_a->id;
	Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
	np.title = "changed by an unauthenticated caller";
	char *mask[] = {"title"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	u.id = c->prop_a->id;
	u.property = &np;
	u.n_update_mask = 1;
	u.update_mask = mask;
	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = c->prop_a->id;
	Property__V1__ListPropertiesByOwnerRequest l =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	l.owner_id = c->owner_a;
	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = "Testville";
	Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	const method_req all[] = {
	    {M_CREATE, &cr.base, &property__v1__property__descriptor},
	    {M_GET, &g.base, &property__v1__property__descriptor},
	    {M_UPDATE, &u.base, &property__v1__property__descriptor},
	    {M_DELETE, &d.base, &property__v1__delete_property_response__descriptor},
	    {M_LIST, &l.base, &property__v1__list_properties_response__descriptor},
	    {M_SEARCH, &s.base, &property__v1__list_properties_response__descriptor},
	    {M_EVENTS, &e.base, &property__v1__read_events_response__descriptor},
	};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		fn(c, &all[i], arg);
}

struct bad_token {
	const char *name;
	char *auth; // NULL: no authorization metadata
};

static void expect_16(ctx *c, const method_req *m, void *arg)
{
	const struct bad_token *t = arg;
	nrpc_result r;
	h_md md = {.auth = t->auth};
	unsigned code = h_call(c->p.cli, m->method, m->msg, m->out, &md, NULL, &r);
	H_CHECK(code == 16, "%s with %s: code %u, want 16", m->method, t->name, code);
	if (code != 16)
		h_print_result(m->method, &r);
	nrpc_result_free(&r);
}

static void case_bad_tokens(void *arg)
{
	ctx *c = arg;
	char future[160], past[160], nosub[160], noexp[160];
	long long now = (long long)time(NULL);
	snprintf(future, sizeof(future), "{\"sub\":\"%s\",\"exp\":%lld}", c->owner_a, now + 600);
	snprintf(past, sizeof(past), "{\"sub\":\"%s\",\"exp\":%lld}", c->owner_a, now - 600);
	snprintf(nosub, sizeof(nosub), "{\"exp\":%lld}", now + 600);
	snprintf(noexp, sizeof(noexp), "{\"sub\":\"%s\"}", c->owner_a);
	static const char hs256[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char *raw = h_bearer(H_SECRET, c->owner_a, 600);
	struct bad_token toks[] = {
	    {"no token", NULL},
	    {"empty bearer", strdup("Bearer ")},
	    {"not bearer", strdup("Basic dXNlcjpwYXNz")},
	    {"token without Bearer", strdup(raw + 7)},
	    {"garbage", strdup("Bearer not-a-jwt")},
	    {"three garbage parts", strdup("Bearer a.b.c")},
	    {"bad signature", h_bearer("some-other-secret", c->owner_a, 600)},
	    {"expired", h_bearer(H_SECRET, c->owner_a, -120)},
	    {"expired (custom)", h_jwt_custom(H_SECRET, hs256, past)},
	    {"no sub", h_jwt_custom(H_SECRET, hs256, nosub)},
	    {"no exp", h_jwt_custom(H_SECRET, hs256, noexp)},
	    {"alg none", h_jwt_custom(NULL, "{\"alg\":\"none\",\"typ\":\"JWT\"}", future)},
	    {"alg HS512", h_jwt_custom(H_SECRET, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", future)},
	    {"payload not JSON", h_jwt_custom(H_SECRET, hs256, "not json")},
	    // Past TOKEN_MAX_LIFETIME (default 24 h): refused though well signed.
	    {"exp 48 h ahead", h_bearer(H_SECRET, c->owner_a, 48 * 3600)},
	};
	free(raw);
	for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
		for_each_method(c, expect_16, &toks[i]);
		free(toks[i].auth);
	}
	// A good custom token is accepted (proves h_jwt_custom signs like the server).
	char *good = h_jwt_custom(H_SECRET, hs256, future);
	unsigned code;
	Property__V1__Property *g = h_get(c->p.cli, good, c->prop_a->id, &code);
	H_CHECK(code == 0, "Get with a hand-made valid token: code %u", code);
	if (g != NULL) {
		H_CHECK(g->version == 1,
		        "A's property changed by unauthenticated calls: version %llu",
		        (unsigned long long)g->version);
		protobuf_c_message_free_unpacked(&g->base, NULL);
	}
	free(good);
	// Well inside the default maximum lifetime: accepted.
	char *day = h_bearer(H_SECRET, c->owner_a, 23 * 3600);
	g = h_get(c->p.cli, day, c->prop_a->id, &code);
	H_CHECK(code == 0, "Get with a token valid 23 h: code %u", code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
	free(day);
}

static void case_health_without_token(void *arg)
{
	ctx *c = arg;
	static const char *const names[] = {"", "property.v1.PropertyService",
	                                    "property.v1.EventService"};
	for (size_t i = 0; i < 3; i++) {
		unsigned code;
		int st = h_health(c->p.cli, names[i], &code);
		H_CHECK(code == 0 && st == 1, "Health \"%s\" without token: code %u status %d",
		        names[i], code, st);
	}
	unsigned code;
	h_health(c->p.cli, "no.such.Service", &code);
	H_CHECK(code == 5, "Health of an unknown service: code %u, want 5", code);
}

static void case_create_owner(void *arg)
{
	ctx *c = arg;
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, c->owner_b);
	nrpc_result r;
	h_md md = {.auth = c->auth_a};
	unsigned code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
	                       &md, NULL, &r);
	H_CHECK(code == 7, "Create by A with B's owner_id: code %u, want 7", code);
	nrpc_result_free(&r);

	Property__V1__Property *p = NULL;
	cr.owner_id = c->owner_a;
	code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &md,
	              (void **)&p, NULL);
	H_CHECK(code == 0, "Create by A with A's own owner_id: code %u", code);
	if (p != NULL) {
		H_CHECK(strcmp(p->owner_id, c->owner_a) == 0, "owner %s", p->owner_id);
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	// Empty owner_id takes sub.
	H_CHECK(strcmp(c->prop_a->owner_id, c->owner_a) == 0, "empty owner_id gave owner %s",
	        c->prop_a->owner_id);
}

static void case_update_delete_other_owner(void *arg)
{
	ctx *c = arg;
	Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
	np.title = "stolen";
	char *mask[] = {"title"};
	Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
	u.id = c->prop_a->id;
	u.property = &np;
	u.n_update_mask = 1;
	u.update_mask = mask;
	h_md md = {.auth = c->auth_b};
	unsigned code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor,
	                       &md, NULL, NULL);
	H_CHECK(code == 7, "Update of A's property by B: code %u, want 7", code);
	u.expected_version = 1;
	code = h_call(c->p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md, NULL,
	              NULL);
	H_CHECK(code == 7, "Update (expected_version 1) by B: code %u, want 7", code);
	Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
	d.id = c->prop_a->id;
	code = h_call(c->p.cli, M_DELETE, &d.base,
	              &property__v1__delete_property_response__descriptor, &md, NULL, NULL);
	H_CHECK(code == 7, "Delete of A's property by B: code %u, want 7", code);
	Property__V1__Property *g = h_get(c->p.cli, c->auth_a, c->prop_a->id, &code);
	H_CHECK(code == 0 && g != NULL && g->version == 1 &&
	            strcmp(g->title, c->prop_a->title) == 0,
	        "A's property after B's attempts: code %u", code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
}

static void case_reads_open(void *arg)
{
	ctx *c = arg;
	unsigned code;
	Property__V1__Property *g = h_get(c->p.cli, c->auth_b, c->prop_a->id, &code);
	H_CHECK(code == 0, "B's Get of A's property: code %u", code);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);

	Property__V1__ListPropertiesByOwnerRequest l =
	    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
	l.owner_id = c->owner_a;
	Property__V1__ListPropertiesResponse *lr = NULL;
	h_md md = {.auth = c->auth_b};
	code = h_call(c->p.cli, M_LIST, &l.base,
	              &property__v1__list_properties_response__descriptor, &md, (void **)&lr, NULL);
	H_CHECK(code == 0 && lr != NULL && lr->n_properties >= 1,
	        "B's List of A's properties: code %u", code);
	if (lr != NULL)
		protobuf_c_message_free_unpacked(&lr->base, NULL);

	Property__V1__SearchPropertiesRequest s = PROPERTY__V1__SEARCH_PROPERTIES_REQUEST__INIT;
	s.city = "Testville";
	s.page_size = 1;
	code = h_call(c->p.cli, M_SEARCH, &s.base,
	              &property__v1__list_properties_response__descriptor, &md, NULL, NULL);
	H_CHECK(code == 0, "B's Search: code %u", code);
	Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	e.limit = 1;
	code = h_call(c->p.cli, M_EVENTS, &e.base, &property__v1__read_events_response__descriptor,
	              &md, NULL, NULL);
	H_CHECK(code == 0, "B's ReadEvents: code %u", code);
}

static void case_insecure_no_auth(void *arg)
{
	(void)arg;
	h_proc p;
	h_opts o = {.args = {"--insecure-no-auth"}, .no_secret = true};
	if (h_start(&p, &o) != 0)
		return;
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	nrpc_result r;
	unsigned code =
	    h_call(p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, NULL, NULL, &r);
	H_CHECK(code == 3 && h_has_violation(&r, "owner_id"),
	        "insecure Create without owner_id: code %u, want 3 with violation owner_id", code);
	if (!(code == 3 && h_has_violation(&r, "owner_id")))
		h_print_result("Create", &r);
	nrpc_result_free(&r);

	char owner[96];
	h_owner(owner, sizeof(owner), "insecure");
	cr.owner_id = owner;
	Property__V1__Property *prop = NULL;
	code = h_call(p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, NULL,
	              (void **)&prop, NULL);
	H_CHECK(code == 0 && prop != NULL, "insecure Create with owner_id: code %u", code);
	if (prop != NULL) {
		// Update and Delete are not owner-checked (no caller identity), with or
		// without a token naming someone else.
		char *other = h_bearer(H_SECRET, "someone-else", 600);
		Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
		np.title = "updated without identity";
		char *mask[] = {"title"};
		Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
		u.id = prop->id;
		u.property = &np;
		u.n_update_mask = 1;
		u.update_mask = mask;
		Property__V1__Property *up = NULL;
		code = h_call(p.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, NULL,
		              (void **)&up, NULL);
		H_CHECK(code == 0 && up != NULL && up->version == 2,
		        "insecure Update without token: code %u", code);
		if (up != NULL)
			protobuf_c_message_free_unpacked(&up->base, NULL);
		Property__V1__DeletePropertyRequest d = PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
		d.id = prop->id;
		code =
		    h_call(p.cli, M_DELETE, &d.base,
		           &property__v1__delete_property_response__descriptor, NULL, NULL, NULL);
		H_CHECK(code == 0, "insecure Delete without token: code %u", code);
		free(other);
		protobuf_c_message_free_unpacked(&prop->base, NULL);
	}
	// "logged loudly": a warning (or worse) that names the mode.
	char *log = h_read_log(&p);
	bool loud = false;
	for (const char *l = log; l != NULL && *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s",
		         (int)(len < sizeof(line) ? len : sizeof(line) - 1), l);
		if (strcasestr(line, "insecure") != NULL &&
		    (strstr(line, "\"warn") != NULL || strstr(line, "\"error") != NULL))
			loud = true;
		l = end ? end + 1 : NULL;
	}
	H_CHECK(loud, "--insecure-no-auth is not logged as a warning");
	free(log);
	int rc = h_stop(&p);
	H_CHECK(rc == 0, "insecure instance exit status %d", rc);
	h_cleanup(&p);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"bad_tokens", case_bad_tokens},
	    {"health_without_token", case_health_without_token},
	    {"create_owner", case_create_owner},
	    {"update_delete_other_owner", case_update_delete_other_owner},
	    {"reads_open", case_reads_open},
	    {"insecure_no_auth", case_insecure_no_auth},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx c;
	memset(&c, 0, sizeof(c));
	h_owner(c.owner_a, sizeof(c.owner_a), "auth-a");
	h_owner(c.owner_b, sizeof(c.owner_b), "auth-b");
	c.auth_a = h_bearer(H_SECRET, c.owner_a, 600);
	c.auth_b = h_bearer(H_SECRET, c.owner_b, 600);
	if (h_start(&c.p, NULL) == 0) {
		c.prop_a = h_create(c.p.cli, c.auth_a, "");
		if (c.prop_a != NULL) {
			h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), &c, argc, argv);
			protobuf_c_message_free_unpacked(&c.prop_a->base, NULL);
		}
		rc = h_stop(&c.p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c.p);
	free(c.auth_a);
	free(c.auth_b);
	return h_status();
}
