// store_repo: idempotent creates: replays, the key with another request, keys
// per owner and reused after 24 h, racers on one key.
#include <pthread.h>
#include <string.h>

#include "repo_common.h"

// ---- idempotency ------------------------------------------------------------------------

static nrpc_code create_key(tu_arena *a, const Property__V1__Property *in, const char *key,
                            const char *hash, Property__V1__Property **out, bool *replayed)
{
	prop_ctx ctx = tu_ctx(a, 5000);
	nrpc_code rc = s_create(port, &ctx, in, key, hash, out, replayed);
	if (rc != NRPC_OK)
		fprintf(stderr, "  (create with key: %d %s)\n", rc, ctx.err);
	return rc;
}

void test_idempotency(void)
{
	tu_arena a;
	tu_arena_init(&a);
	prop_buf b;
	Property__V1__Property *in = mk_simple(&b, "owner-idem");
	Property__V1__Property *first = NULL, *again = NULL, *other = NULL;
	bool replayed = false;
	nrpc_code rc = create_key(&a, in, "k1", "h1", &first, &replayed);
	CHECK(rc == NRPC_OK && first && !replayed, "first: %d", rc);
	if (first == NULL)
		goto out;
	rc = create_key(&a, in, "k1", "h1", &again, &replayed);
	CHECK(rc == NRPC_OK && again && replayed && same_row(again, first), "replay: %d", rc);
	CHECK(count_sql("SELECT count(*) FROM properties WHERE owner_id = '%s'", "owner-idem") == 1,
	      "one row");
	CHECK(events_of(first->id) == 1, "one event");
	rc = create_key(&a, in, "k1", "h2", &other, &replayed);
	CHECK(rc == NRPC_ALREADY_EXISTS && other == NULL, "other hash: %d", rc);
	// Keys belong to an owner.
	prop_buf b2;
	rc = create_key(&a, mk_simple(&b2, "owner-idem-2"), "k1", "h2", &other, &replayed);
	CHECK(rc == NRPC_OK && other && !replayed && strcmp(other->id, first->id) != 0,
	      "another owner: %d", rc);
	// After 24 h the key may be used again, for anything.
	PQclear(tu_exec(admin, "UPDATE idempotency_keys SET created_at_us = created_at_us - "
	                       "86400000001 WHERE owner_id = 'owner-idem' AND key = 'k1'"));
	rc = create_key(&a, in, "k1", "h3", &other, &replayed);
	CHECK(rc == NRPC_OK && other && !replayed && strcmp(other->id, first->id) != 0,
	      "expired key: %d", rc);
	rc = create_key(&a, in, "k1", "h3", &again, &replayed);
	CHECK(rc == NRPC_OK && again && replayed && other && strcmp(again->id, other->id) == 0,
	      "replay of the reused key: %d", rc);
	// Later changes do not change what a replay returns: the first result.
	prop_ctx ctx = tu_ctx(&a, 5000);
	Property__V1__Property *changed = NULL, *last = NULL;
	prop_buf b3;
	Property__V1__Property *values = mk_simple(&b3, "owner-idem");
	values->title = "changed since";
	if (other) {
		s_update(port, &ctx, other->id, 0, NULL, PROP_F_TITLE, values, &changed);
		CHECK(changed && changed->version == 2, "update before the replay");
	}
	rc = create_key(&a, in, "k1", "h3", &again, &replayed);
	CHECK(rc == NRPC_OK && again && replayed && other && same_row(again, other),
	      "replay after an update returns the first result: %d", rc);
	if (other)
		s_remove(port, &ctx, other->id, 0, NULL, &last);
	rc = create_key(&a, in, "k1", "h3", &again, &replayed);
	CHECK(rc == NRPC_OK && again && replayed && other && same_row(again, other),
	      "replay after a delete returns the first result: %d", rc);
	// Left: the first key's property; the reused key's one was deleted.
	CHECK(count_sql("SELECT count(*) FROM properties WHERE owner_id = '%s'", "owner-idem") == 1,
	      "the replay created nothing");
out:
	tu_arena_reset(&a);
}

enum { RACERS = 10 };

typedef struct racer {
	pthread_t t;
	pthread_barrier_t *start;
	nrpc_code rc;
	bool replayed;
	char id[37];
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	tu_arena a;
	tu_arena_init(&a);
	prop_buf b;
	Property__V1__Property *in = mk_simple(&b, "owner-race");
	Property__V1__Property *out = NULL;
	pthread_barrier_wait(r->start);
	prop_ctx ctx = tu_ctx(&a, 10000);
	r->rc = s_create(port, &ctx, in, "race-key", "same", &out, &r->replayed);
	if (out)
		snprintf(r->id, sizeof r->id, "%s", out->id);
	tu_arena_reset(&a);
	return NULL;
}

void test_idempotency_race(void)
{
	racer r[RACERS];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, RACERS);
	memset(r, 0, sizeof r);
	for (int i = 0; i < RACERS; i++) {
		r[i].start = &start;
		pthread_create(&r[i].t, NULL, race, &r[i]);
	}
	int firsts = 0;
	for (int i = 0; i < RACERS; i++) {
		pthread_join(r[i].t, NULL);
		CHECK(r[i].rc == NRPC_OK, "racer %d: %d", i, r[i].rc);
		CHECK(strcmp(r[i].id, r[0].id) == 0, "racer %d got another property", i);
		firsts += r[i].rc == NRPC_OK && !r[i].replayed;
	}
	pthread_barrier_destroy(&start);
	CHECK(firsts == 1, "%d creates were not replays", firsts);
	CHECK(count_sql("SELECT count(*) FROM properties WHERE owner_id = '%s'", "owner-race") == 1,
	      "rows");
	CHECK(count_sql("SELECT count(*) FROM event_log WHERE owner_id = '%s'", "owner-race") == 1,
	      "events");
}
