// it_concurrency: optimistic concurrency, read-your-writes and idempotency
// under concurrent clients (docs/contract.md section 5).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define RACE_THREADS    32
#define RACE_ATTEMPTS   8 // per thread: 256 read-then-update attempts in all
#define RYW_ITERATIONS  200
#define IDEM_THREADS    10
#define MAX_VERSION     (RACE_THREADS * RACE_ATTEMPTS + 2)
#define EVENT_PAGE      1000
#define EVENT_WAIT_MS   10000 // bound on the relay numbering an event
#define EVENT_SETTLE_MS 500   // then a duplicate would have been numbered too

typedef struct ctx {
	h_proc p, q; // q: a second instance on the same PostgreSQL and Redis
	char owner[96];
	char *auth;
} ctx;

static nrpc_client *open_client(const char *url)
{
	nrpc_client *cli = NULL;
	char err[128];
	if (nrpc_client_open(&cli, &url, 1, err, sizeof(err)) != 0)
		H_FAIL("client open %s: %s", url, err);
	return cli;
}

// ---- version race ------------------------------------------------------------------------
struct race {
	ctx *c;
	const char *id;
	pthread_mutex_t mu;
	int winners_by_version[MAX_VERSION + 1];
	int wins, losses, other;
	int thread_no;
};

static void *race_main(void *arg)
{
	struct race *rc = arg;
	ctx *c = rc->c;
	nrpc_client *cli = open_client(c->p.rpc_url);
	if (cli == NULL)
		return NULL;
	h_md md = {.auth = c->auth};
	for (int a = 0; a < RACE_ATTEMPTS; a++) {
		unsigned code;
		Property__V1__Property *g = h_get(cli, c->auth, rc->id, &code);
		if (g == NULL) {
			H_FAIL("Get during the race: code %u", code);
			continue;
		}
		uint64_t seen = g->version;
		protobuf_c_message_free_unpacked(&g->base, NULL);
		Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
		np.bedrooms = (uint32_t)(seen % 1000);
		char *mask[] = {"bedrooms"};
		Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
		u.id = (char *)rc->id;
		u.expected_version = seen;
		u.property = &np;
		u.n_update_mask = 1;
		u.update_mask = mask;
		Property__V1__Property *up = NULL;
		code = h_call(cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md,
		              (void **)&up, NULL);
		pthread_mutex_lock(&rc->mu);
		if (code == 0 && up != NULL) {
			rc->wins++;
			if (up->version != seen + 1)
				H_FAIL("update from version %llu gave version %llu",
				       (unsigned long long)seen, (unsigned long long)up->version);
			if (up->version <= MAX_VERSION)
				rc->winners_by_version[up->version]++;
		} else if (code == 10) {
			rc->losses++;
		} else {
			rc->other++;
			H_FAIL("racing update: code %u, want 0 or 10", code);
		}
		pthread_mutex_unlock(&rc->mu);
		if (up != NULL)
			protobuf_c_message_free_unpacked(&up->base, NULL);
	}
	nrpc_client_close(cli);
	return NULL;
}

static void case_version_race(void *arg)
{
	ctx *c = arg;
	Property__V1__Property *p = h_create(c->p.cli, c->auth, "");
	if (p == NULL)
		return;
	struct race *rc = calloc(1, sizeof(*rc));
	rc->c = c;
	rc->id = p->id;
	pthread_mutex_init(&rc->mu, NULL);
	pthread_t th[RACE_THREADS];
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_create(&th[i], NULL, race_main, rc);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "  %d winners, %d losers (ABORTED), %d other\n", rc->wins, rc->losses,
	        rc->other);
	H_CHECK(rc->wins >= 1, "no update won");
	for (int v = 2; v <= rc->wins + 1 && v <= MAX_VERSION; v++)
		H_CHECK(rc->winners_by_version[v] == 1, "version %d has %d winners, want 1", v,
		        rc->winners_by_version[v]);
	for (int v = rc->wins + 2; v <= MAX_VERSION; v++)
		H_CHECK(rc->winners_by_version[v] == 0, "version %d beyond the last winner", v);
	unsigned code;
	Property__V1__Property *g = h_get(c->p.cli, c->auth, p->id, &code);
	H_CHECK(g != NULL && g->version == (uint64_t)(1 + rc->wins),
	        "final version %llu, want 1 + %d winners",
	        g ? (unsigned long long)g->version : 0ULL, rc->wins);
	if (g != NULL)
		protobuf_c_message_free_unpacked(&g->base, NULL);
	pthread_mutex_destroy(&rc->mu);
	free(rc);
	protobuf_c_message_free_unpacked(&p->base, NULL);
}

// ---- read-your-writes --------------------------------------------------------------------
// The version of `id` in the owner's listing (all pages), 0 when absent.
static uint64_t list_version(nrpc_client *cli, const char *auth, const char *owner, const char *id)
{
	uint64_t found = 0;
	char *token = NULL;
	h_md md = {.auth = auth};
	for (int pages = 0; pages < 20; pages++) {
		Property__V1__ListPropertiesByOwnerRequest l =
		    PROPERTY__V1__LIST_PROPERTIES_BY_OWNER_REQUEST__INIT;
		l.owner_id = (char *)owner;
		l.page_size = 100;
		l.page_token = token ? token : "";
		Property__V1__ListPropertiesResponse *lr = NULL;
		unsigned code = h_call(cli, M_LIST, &l.base,
		                       &property__v1__list_properties_response__descriptor, &md,
		                       (void **)&lr, NULL);
		free(token);
		token = NULL;
		if (code != 0 || lr == NULL) {
			H_FAIL("List: code %u", code);
			return 0;
		}
		for (size_t i = 0; i < lr->n_properties; i++)
			if (strcmp(lr->properties[i]->id, id) == 0)
				found = lr->properties[i]->version;
		if (found == 0 && lr->next_page_token[0] != '\0')
			token = strdup(lr->next_page_token);
		protobuf_c_message_free_unpacked(&lr->base, NULL);
		if (token == NULL)
			break;
	}
	free(token);
	return found;
}

// Writes through `w`, reads through `r` (the same or another instance).
static void ryw_loop(nrpc_client *w, nrpc_client *r, const char *what)
{
	char owner[96];
	h_owner(owner, sizeof(owner), "ryw");
	char *auth = h_bearer(H_SECRET, owner, 600);
	Property__V1__Property *p = h_create(w, auth, "");
	if (p == NULL) {
		free(auth);
		return;
	}
	int bad = 0;
	h_md md = {.auth = auth};
	for (int i = 0; i < RYW_ITERATIONS && bad < 5; i++) {
		char title[64];
		snprintf(title, sizeof(title), "ryw %s %d", what, i);
		Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
		np.title = title;
		char *mask[] = {"title"};
		Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
		u.id = p->id;
		u.property = &np;
		u.n_update_mask = 1;
		u.update_mask = mask;
		Property__V1__Property *up = NULL;
		unsigned code = h_call(w, M_UPDATE, &u.base, &property__v1__property__descriptor,
		                       &md, (void **)&up, NULL);
		if (code != 0 || up == NULL) {
			H_FAIL("%s iteration %d: Update code %u", what, i, code);
			bad++;
			continue;
		}
		Property__V1__Property *g = h_get(r, auth, p->id, &code);
		if (g == NULL || g->version != up->version || strcmp(g->title, title) != 0) {
			H_FAIL("%s iteration %d: Get after Update saw version %llu title \"%s\", "
			       "want %llu \"%s\" (stale read)",
			       what, i, g ? (unsigned long long)g->version : 0ULL,
			       g ? g->title : "-", (unsigned long long)up->version, title);
			bad++;
		}
		if (g != NULL)
			protobuf_c_message_free_unpacked(&g->base, NULL);
		uint64_t lv = list_version(r, auth, owner, p->id);
		if (lv != up->version) {
			H_FAIL("%s iteration %d: List after Update shows version %llu, want %llu",
			       what, i, (unsigned long long)lv, (unsigned long long)up->version);
			bad++;
		}
		protobuf_c_message_free_unpacked(&up->base, NULL);

		Property__V1__Property *np2 = h_create(w, auth, "");
		if (np2 == NULL) {
			bad++;
			continue;
		}
		if (list_version(r, auth, owner, np2->id) != 1) {
			H_FAIL("%s iteration %d: List after Create misses %s", what, i, np2->id);
			bad++;
		}
		if (i % 10 == 0) {
			Property__V1__DeletePropertyRequest d =
			    PROPERTY__V1__DELETE_PROPERTY_REQUEST__INIT;
			d.id = np2->id;
			code = h_call(w, M_DELETE, &d.base,
			              &property__v1__delete_property_response__descriptor, &md,
			              NULL, NULL);
			H_CHECK(code == 0, "Delete: code %u", code);
			g = h_get(r, auth, np2->id, &code);
			if (code != 5) {
				H_FAIL("%s iteration %d: Get after Delete: code %u, want 5", what,
				       i, code);
				bad++;
			}
			if (g != NULL)
				protobuf_c_message_free_unpacked(&g->base, NULL);
			if (list_version(r, auth, owner, np2->id) != 0) {
				H_FAIL("%s iteration %d: List after Delete still has %s", what, i,
				       np2->id);
				bad++;
			}
		}
		protobuf_c_message_free_unpacked(&np2->base, NULL);
	}
	protobuf_c_message_free_unpacked(&p->base, NULL);
	free(auth);
}

static void case_read_your_writes(void *arg)
{
	ctx *c = arg;
	ryw_loop(c->p.cli, c->p.cli, "one instance");
}

static void case_read_your_writes_two_instances(void *arg)
{
	ctx *c = arg;
	if (h_start(&c->q, NULL) != 0)
		return;
	// Warm both caches with reads on the reader first, then write on the other.
	ryw_loop(c->p.cli, c->q.cli, "write A read B");
	ryw_loop(c->q.cli, c->p.cli, "write B read A");
	int rc = h_stop(&c->q);
	H_CHECK(rc == 0, "second instance exit status %d", rc);
	h_cleanup(&c->q);
}

// One instance cannot reach Redis (its REDIS_URL is a closed port), the other
// can. A write through the first cannot invalidate Redis itself; the second
// must still stop serving the old cached version within the event relay's
// lag (it follows the log), not after the cache's 300 s TTL.
#define STALE_BOUND_MS 3000
static void case_writer_without_redis(void *arg)
{
	ctx *c = arg;
	h_opts o = {.env = {"REDIS_URL=redis://127.0.0.1:1/0"}};
	if (h_start(&c->q, &o) != 0)
		return;
	char owner[96];
	h_owner(owner, sizeof(owner), "noredis");
	char *auth = h_bearer(H_SECRET, owner, 600);
	h_md md = {.auth = auth};
	Property__V1__Property *p = h_create(c->p.cli, auth, "");
	unsigned code = 0;
	for (int i = 0; p != NULL && i < 3; i++) { // cached on the instance that has Redis
		Property__V1__Property *g = h_get(c->p.cli, auth, p->id, &code);
		if (g != NULL)
			protobuf_c_message_free_unpacked(&g->base, NULL);
	}
	Property__V1__Property *up = NULL;
	if (p != NULL) {
		Property__V1__Property np = PROPERTY__V1__PROPERTY__INIT;
		np.title = "written where Redis is out of reach";
		char *mask[] = {"title"};
		Property__V1__UpdatePropertyRequest u = PROPERTY__V1__UPDATE_PROPERTY_REQUEST__INIT;
		u.id = p->id;
		u.property = &np;
		u.n_update_mask = 1;
		u.update_mask = mask;
		code = h_call(c->q.cli, M_UPDATE, &u.base, &property__v1__property__descriptor, &md,
		              (void **)&up, NULL);
		H_CHECK(code == 0 && up != NULL, "Update through the instance without Redis: %u",
		        code);
	}
	if (up != NULL) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		uint64_t seen = 0;
		long took = 0;
		while (took < STALE_BOUND_MS) {
			Property__V1__Property *g = h_get(c->p.cli, auth, p->id, &code);
			seen = g != NULL ? g->version : 0;
			if (g != NULL)
				protobuf_c_message_free_unpacked(&g->base, NULL);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			took = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
			if (seen == up->version)
				break;
			usleep(20 * 1000);
		}
		H_CHECK(seen == up->version,
		        "the instance with Redis still served version %llu %ld ms after the "
		        "write (want %llu within %d ms)",
		        (unsigned long long)seen, took, (unsigned long long)up->version,
		        STALE_BOUND_MS);
		protobuf_c_message_free_unpacked(&up->base, NULL);
	}
	if (p != NULL)
		protobuf_c_message_free_unpacked(&p->base, NULL);
	free(auth);
	int rc = h_stop(&c->q);
	H_CHECK(rc == 0, "second instance exit status %d", rc);
	h_cleanup(&c->q);
}

// ---- idempotency -------------------------------------------------------------------------
struct idem {
	ctx *c;
	const char *key;
	const char *urls[2]; // threads alternate between these instances
	atomic_int next;
	pthread_mutex_t mu;
	char ids[IDEM_THREADS][40];
	int n_ok, n_aborted, n_other;
};

static void *idem_main(void *arg)
{
	struct idem *st = arg;
	int me = atomic_fetch_add(&st->next, 1);
	const char *url = st->urls[me % 2] != NULL ? st->urls[me % 2] : st->urls[0];
	nrpc_client *cli = open_client(url);
	if (cli == NULL)
		return NULL;
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	cr.title = "idempotent flat";
	h_md md = {.auth = st->c->auth, .idem = st->key};
	Property__V1__Property *p = NULL;
	unsigned code = h_call(cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &md,
	                       (void **)&p, NULL);
	pthread_mutex_lock(&st->mu);
	if (code == 0 && p != NULL)
		snprintf(st->ids[st->n_ok++], 40, "%s", p->id);
	else if (code == 10)
		st->n_aborted++;
	else {
		st->n_other++;
		H_FAIL("concurrent idempotent create: code %u, want 0 or 10", code);
	}
	pthread_mutex_unlock(&st->mu);
	if (p != NULL)
		protobuf_c_message_free_unpacked(&p->base, NULL);
	nrpc_client_close(cli);
	return NULL;
}

// Counts property.created events for `id` after seq `from` (pages through the log).
static int count_created_events(ctx *c, uint64_t from, const char *id, int *other_types)
{
	int n = 0;
	*other_types = 0;
	uint64_t after = from;
	h_md md = {.auth = c->auth};
	for (int pages = 0; pages < 1000; pages++) {
		Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
		e.after_seq = after;
		e.limit = EVENT_PAGE;
		Property__V1__ReadEventsResponse *er = NULL;
		unsigned code = h_call(c->p.cli, M_EVENTS, &e.base,
		                       &property__v1__read_events_response__descriptor, &md,
		                       (void **)&er, NULL);
		if (code != 0 || er == NULL) {
			H_FAIL("ReadEvents: code %u", code);
			return -1;
		}
		size_t got = er->n_events;
		for (size_t i = 0; i < got; i++) {
			const Property__V1__Event *ev = er->events[i];
			if (strcmp(ev->aggregate_id, id) == 0) {
				if (strcmp(ev->type, "property.created") == 0)
					n++;
				else
					(*other_types)++;
			}
			after = ev->seq;
		}
		protobuf_c_message_free_unpacked(&er->base, NULL);
		if (got == 0)
			break;
	}
	return n;
}

static uint64_t last_seq(ctx *c)
{
	Property__V1__ReadEventsRequest e = PROPERTY__V1__READ_EVENTS_REQUEST__INIT;
	e.limit = 1; // only last_seq matters
	Property__V1__ReadEventsResponse *er = NULL;
	h_md md = {.auth = c->auth};
	unsigned code =
	    h_call(c->p.cli, M_EVENTS, &e.base, &property__v1__read_events_response__descriptor,
	           &md, (void **)&er, NULL);
	uint64_t s = er != NULL ? er->last_seq : 0;
	H_CHECK(code == 0, "ReadEvents for last_seq: code %u", code);
	if (er != NULL)
		protobuf_c_message_free_unpacked(&er->base, NULL);
	return s;
}

static void case_idempotency(void *arg)
{
	ctx *c = arg;
	char key[96];
	h_owner(key, sizeof(key), "idem-key");
	uint64_t from = last_seq(c);
	struct idem *st = calloc(1, sizeof(*st));
	st->c = c;
	st->key = key;
	st->urls[0] = c->p.rpc_url;
	pthread_mutex_init(&st->mu, NULL);
	pthread_t th[IDEM_THREADS];
	for (int i = 0; i < IDEM_THREADS; i++)
		pthread_create(&th[i], NULL, idem_main, st);
	for (int i = 0; i < IDEM_THREADS; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "  %d OK, %d ABORTED, %d other\n", st->n_ok, st->n_aborted, st->n_other);
	H_CHECK(st->n_ok >= 1, "no concurrent create with the key succeeded");
	for (int i = 1; i < st->n_ok; i++)
		H_CHECK(strcmp(st->ids[i], st->ids[0]) == 0,
		        "OK replies carry different ids: %s %s", st->ids[0], st->ids[i]);
	if (st->n_ok == 0)
		goto out;

	// A later retry returns the same property.
	Property__V1__CreatePropertyRequest cr;
	Property__V1__Location loc;
	h_valid_create(&cr, &loc, "");
	cr.title = "idempotent flat";
	h_md md = {.auth = c->auth, .idem = key};
	Property__V1__Property *p = NULL;
	unsigned code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
	                       &md, (void **)&p, NULL);
	H_CHECK(code == 0 && p != NULL && strcmp(p->id, st->ids[0]) == 0,
	        "retry with the key: code %u id %s, want %s", code, p ? p->id : "-", st->ids[0]);
	if (p != NULL) {
		H_CHECK(p->version == 1, "retry reply version %llu",
		        (unsigned long long)p->version);
		protobuf_c_message_free_unpacked(&p->base, NULL);
	}
	// Also through the explicit owner_id (the same request as far as the owner goes).
	// The same key with a different body: 6.
	cr.title = "a different flat";
	code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &md, NULL,
	              NULL);
	H_CHECK(code == 6, "the key with another body: code %u, want 6", code);
	cr.title = "idempotent flat";
	cr.price_cents += 1;
	code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor, &md, NULL,
	              NULL);
	H_CHECK(code == 6, "the key with another price: code %u, want 6", code);

	// Another owner using the same key never gets this owner's property.
	{
		char other[96];
		h_owner(other, sizeof(other), "idem-other");
		char *oauth = h_bearer(H_SECRET, other, 600);
		cr.price_cents -= 1;
		h_md omd = {.auth = oauth, .idem = key};
		Property__V1__Property *op = NULL;
		code = h_call(c->p.cli, M_CREATE, &cr.base, &property__v1__property__descriptor,
		              &omd, (void **)&op, NULL);
		H_CHECK(op == NULL ||
		            (strcmp(op->id, st->ids[0]) != 0 && strcmp(op->owner_id, other) == 0),
		        "another owner with the same key got the first owner's property %s",
		        st->ids[0]);
		if (op != NULL)
			protobuf_c_message_free_unpacked(&op->base, NULL);
		free(oauth);
	}

	// Exactly one property.created for the id, nothing else.
	// The log numbers events a few milliseconds after the commit (publication may
	// lag the reply): wait for the event, then look once more for late duplicates.
	int other_types = 0, n = 0;
	for (int64_t end = h_now_ms() + EVENT_WAIT_MS; n == 0 && h_now_ms() < end;) {
		n = count_created_events(c, from, st->ids[0], &other_types);
		if (n == 0)
			h_sleep_ms(50);
	}
	h_sleep_ms(EVENT_SETTLE_MS);
	n = count_created_events(c, from, st->ids[0], &other_types);
	H_CHECK(n == 1 && other_types == 0,
	        "events for the idempotent property: %d created, %d other; want exactly 1 created",
	        n, other_types);
out:
	pthread_mutex_destroy(&st->mu);
	free(st);
}

// The same key through two instances at once: still one property.
static void case_idempotency_two_instances(void *arg)
{
	ctx *c = arg;
	if (h_start(&c->q, NULL) != 0)
		return;
	char key[96];
	h_owner(key, sizeof(key), "idem2-key");
	struct idem *st = calloc(1, sizeof(*st));
	st->c = c;
	st->key = key;
	st->urls[0] = c->p.rpc_url;
	st->urls[1] = c->q.rpc_url;
	pthread_mutex_init(&st->mu, NULL);
	pthread_t th[IDEM_THREADS];
	for (int i = 0; i < IDEM_THREADS; i++)
		pthread_create(&th[i], NULL, idem_main, st);
	for (int i = 0; i < IDEM_THREADS; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "  %d OK, %d ABORTED, %d other\n", st->n_ok, st->n_aborted, st->n_other);
	H_CHECK(st->n_ok >= 1, "no concurrent create with the key succeeded");
	for (int i = 1; i < st->n_ok; i++)
		H_CHECK(strcmp(st->ids[i], st->ids[0]) == 0,
		        "OK replies through two instances carry different ids: %s %s", st->ids[0],
		        st->ids[i]);
	pthread_mutex_destroy(&st->mu);
	free(st);
	int rc = h_stop(&c->q);
	H_CHECK(rc == 0, "second instance exit status %d", rc);
	h_cleanup(&c->q);
}

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"version_race", case_version_race},
	    {"read_your_writes", case_read_your_writes},
	    {"read_your_writes_two_instances", case_read_your_writes_two_instances},
	    {"writer_without_redis", case_writer_without_redis},
	    {"idempotency", case_idempotency},
	    {"idempotency_two_instances", case_idempotency_two_instances},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx *c = calloc(1, sizeof(*c));
	h_owner(c->owner, sizeof(c->owner), "conc");
	c->auth = h_bearer(H_SECRET, c->owner, 600);
	if (h_start(&c->p, NULL) == 0) {
		h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), c, argc, argv);
		rc = h_stop(&c->p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c->p);
	free(c->auth);
	free(c);
	return h_status();
}
