// cache_redis: the adapter against a real Redis (REDIS_URL; its database is
// flushed). Each case starts from an empty database.
#include <pthread.h>
#include <stdlib.h>

#include "cache/redis_cache.h"
#include "cache_sync.h"
#include "common.h"
#include "obs/metrics.h"

static cache_rig R; // the cache, on an event loop of its own
static cache_redis *C;
static redisContext *RAW;
static obs_registry *M;

static void flush(void)
{
	redisReply *r = redisCommand(RAW, "FLUSHDB");
	if (r != NULL)
		freeReplyObject(r);
}

static int get(test_req *q, const char *id, Property__V1__Property **out)
{
	return cs_get(&R, &q->ctx, id, out);
}

static void case_round_trip(void)
{
	test_req q;
	Property__V1__Property p = prop("11111111-1111-1111-1111-111111111111", "flat", 1), *g;
	req_init(&q);
	CHECK(get(&q, p.id, &g) == PROP_CACHE_MISS, "absent key is not a miss");
	cs_fill(&R, &q.ctx, &p); // the reader that missed
	CHECK(get(&q, p.id, &g) == PROP_CACHE_HIT, "no hit after fill");
	if (g != NULL) {
		CHECK(strcmp(g->id, p.id) == 0 && strcmp(g->title, "flat") == 0 &&
		          g->version == 1 && g->price_cents == 123456 && g->bedrooms == 3 &&
		          strcmp(g->currency, "EUR") == 0 && g->updated_at_us == p.updated_at_us,
		      "fields differ after the round trip");
	}
	// The same through the write side.
	p = prop("11111111-1111-1111-1111-111111111112", "flat", 1);
	cs_write(&R, &q.ctx, &p);
	CHECK(get(&q, p.id, &g) == PROP_CACHE_HIT && g != NULL && strcmp(g->title, "flat") == 0 &&
	          g->version == 1,
	      "no hit after after_write");
	arena_fini(&q.arena);
}

static void case_version_order(void)
{
	test_req q;
	Property__V1__Property v2 = prop("22222222-2222-2222-2222-222222222222", "new", 2);
	Property__V1__Property v1 = prop(v2.id, "old", 1), v2b = prop(v2.id, "same", 2), *g;
	req_init(&q);
	cs_fill(&R, &q.ctx, &v2);
	cs_fill(&R, &q.ctx, &v1);
	cs_fill(&R, &q.ctx, &v2b);
	CHECK(get(&q, v2.id, &g) == PROP_CACHE_HIT && g != NULL && g->version == 2 &&
	          strcmp(g->title, "new") == 0,
	      "an older or same version replaced v2 (fill)");
	// after_write stores with the same version rule.
	cs_write(&R, &q.ctx, &v1);
	cs_write(&R, &q.ctx, &v2b);
	CHECK(get(&q, v2.id, &g) == PROP_CACHE_HIT && g != NULL && g->version == 2 &&
	          strcmp(g->title, "new") == 0,
	      "an older or same version replaced v2 (after_write)");
	arena_fini(&q.arena);
}

static void case_tombstone(void)
{
	test_req q;
	Property__V1__Property v1 = prop("33333333-3333-3333-3333-333333333333", "t", 1);
	Property__V1__Property v2 = prop(v1.id, "t", 2), *g;
	req_init(&q);
	cs_write(&R, &q.ctx, &v1);
	cs_write(&R, &q.ctx, &v2);
	cs_write_deleted(&R, &q.ctx, v1.id, 2, v1.owner_id); // the row at v2 was deleted
	CHECK(get(&q, v1.id, &g) == PROP_CACHE_GONE, "no tombstone over the row");
	cs_fill(&R, &q.ctx, &v2); // a reader that loaded the deleted row
	cs_fill(&R, &q.ctx, &v1);
	CHECK(get(&q, v1.id, &g) == PROP_CACHE_GONE, "a same/older fill replaced the tombstone");
	cs_write(&R, &q.ctx, &v2);
	CHECK(get(&q, v1.id, &g) == PROP_CACHE_GONE,
	      "a same-version after_write replaced the tombstone");
	arena_fini(&q.arena);
}

// The classic cache-aside race, provoked: a reader misses and loads v1, a
// writer commits v2 and writes it through, then the reader fills with v1.
static void case_fill_race(void)
{
	test_req reader, writer;
	Property__V1__Property v1 = prop("44444444-4444-4444-4444-444444444444", "v1", 1);
	Property__V1__Property v2 = prop(v1.id, "v2", 2), *g;
	req_init(&reader);
	req_init(&writer);
	CHECK(get(&reader, v1.id, &g) == PROP_CACHE_MISS, "reader did not miss");
	cs_write(&R, &writer.ctx, &v2);
	cs_fill(&R, &reader.ctx, &v1);
	CHECK(get(&reader, v1.id, &g) == PROP_CACHE_HIT && g != NULL && g->version == 2,
	      "the reader's late fill won over the writer");
	arena_fini(&reader.arena);
	arena_fini(&writer.arena);
}

static void case_fence(void)
{
	test_req q;
	const char *id = "55555555-5555-5555-5555-555555555555";
	Property__V1__Property v4 = prop(id, "v4", 4), v5 = prop(id, "v5", 5), *g;
	redisReply *r = redisCommand(RAW, "SET property:%s F5:", id);
	freeReplyObject(r);
	req_init(&q);
	CHECK(get(&q, id, &g) == PROP_CACHE_MISS, "a fence is not a miss");
	CHECK(raw_int(RAW, "EXISTS property:%s", id) == 1, "a fence was deleted as garbage");
	cs_fill(&R, &q.ctx, &v4);
	CHECK(get(&q, id, &g) == PROP_CACHE_MISS, "a fill older than the fence was stored");
	cs_fill(&R, &q.ctx, &v5);
	CHECK(get(&q, id, &g) == PROP_CACHE_HIT && g != NULL && g->version == 5,
	      "the fenced version itself was not stored");
	arena_fini(&q.arena);
}

static void case_owner_pages(void)
{
	test_req q;
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t g0, g1, g2;
	const uint8_t page[] = {0x0a, 0x03, 'a', 0x00, 'b'};
	req_init(&q);
	CHECK(cs_page_get(&R, &q.ctx, "o1", "20:", &data, &len, &g0) == PROP_CACHE_MISS,
	      "empty owner is not a miss");
	CHECK(g0 == 0, "absent generation is %llu", (unsigned long long)g0);
	// The race: a reader read g0 and loads; a writer invalidates; the
	// reader's page must not be stored.
	cs_invalidate_owner(&R, &q.ctx, "o1");
	cs_page_fill(&R, &q.ctx, "o1", "20:", g0, page, sizeof(page));
	CHECK(cs_page_get(&R, &q.ctx, "o1", "20:", &data, &len, &g1) == PROP_CACHE_MISS,
	      "a page of an old generation was stored");
	CHECK(g1 == g0 + 1, "generation %llu after invalidate", (unsigned long long)g1);
	cs_page_fill(&R, &q.ctx, "o1", "20:", g1, page, sizeof(page));
	cs_page_fill(&R, &q.ctx, "o1", "5:tok", g1, page, 0);
	CHECK(cs_page_get(&R, &q.ctx, "o1", "20:", &data, &len, &g2) == PROP_CACHE_HIT &&
	          len == sizeof(page) && memcmp(data, page, len) == 0 && g2 == g1,
	      "page round trip");
	CHECK(cs_page_get(&R, &q.ctx, "o1", "5:tok", &data, &len, &g2) == PROP_CACHE_HIT &&
	          len == 0,
	      "empty page round trip");
	CHECK(cs_page_get(&R, &q.ctx, "o2", "20:", &data, &len, &g2) == PROP_CACHE_MISS,
	      "another owner's page was served");
	cs_invalidate_owner(&R, &q.ctx, "o1");
	CHECK(cs_page_get(&R, &q.ctx, "o1", "20:", &data, &len, &g2) == PROP_CACHE_MISS &&
	          g2 == g1 + 1,
	      "a page survived invalidate");
	// A write of a real row invalidates its owner's pages too.
	cs_page_fill(&R, &q.ctx, "owner-1", "20:", 0, page, sizeof(page));
	CHECK(cs_page_get(&R, &q.ctx, "owner-1", "20:", &data, &len, &g2) == PROP_CACHE_HIT &&
	          g2 == 0,
	      "no page hit for owner-1");
	Property__V1__Property p = prop("12121212-1212-1212-1212-121212121212", "row", 1);
	cs_write(&R, &q.ctx, &p);
	CHECK(cs_page_get(&R, &q.ctx, "owner-1", "20:", &data, &len, &g2) == PROP_CACHE_MISS &&
	          g2 == 1,
	      "a page survived the after_write of its owner's row");
	arena_fini(&q.arena);
}

static void case_ttl(void)
{
	test_req q;
	const char *id = "66666666-6666-6666-6666-666666666666";
	const char *id2 = "77777777-7777-7777-7777-777777777777";
	Property__V1__Property p = prop(id, "ttl", 1);
	uint8_t *data;
	size_t len;
	uint64_t g;
	long long t;
	req_init(&q);
	for (int i = 0; i < 20; i++) { // jitter: every write draws its own
		p.version = (uint64_t)i + 1;
		if (i % 2 == 0)
			cs_write(&R, &q.ctx, &p);
		else
			cs_fill(&R, &q.ctx, &p);
		t = raw_int(RAW, "TTL property:%s", id);
		CHECK(t >= 270 && t <= 330, "property TTL %lld (%s)", t,
		      i % 2 == 0 ? "after_write" : "fill");
	}
	cs_write_deleted(&R, &q.ctx, id2, 1, "owner-1");
	t = raw_int(RAW, "TTL property:%s", id2);
	CHECK(t >= 270 && t <= 330, "tombstone TTL %lld", t);
	cs_page_get(&R, &q.ctx, "o3", "k", &data, &len, &g);
	cs_page_fill(&R, &q.ctx, "o3", "k", g, (const uint8_t *)"x", 1);
	t = raw_int(RAW, "TTL %s", "properties:owner:{o3}");
	CHECK(t >= 270 && t <= 330, "page hash TTL %lld", t);
	cs_invalidate_owner(&R, &q.ctx, "o3");
	t = raw_int(RAW, "TTL %s", "properties:owner:{o3}:gen");
	CHECK(t > 86000 && t <= 86400, "generation TTL %lld", t);
	arena_fini(&q.arena);
}

static void case_garbage(void)
{
	static const struct {
		const char *name, *cmd;
	} cases[] = {
	    {"plain text", "SET property:%s garbage"},
	    {"row with a bad body", "SET property:%s P1:\xff\xff\xff"},
	    {"row of another version", "SET property:%s P9:"},
	    {"tombstone with a body", "SET property:%s D1:x"},
	    {"a hash", "HSET property:%s f v"},
	};
	const char *id = "88888888-8888-8888-8888-888888888888";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		test_req q;
		Property__V1__Property p = prop(id, "good", 1), *g;
		redisReply *r = redisCommand(RAW, cases[i].cmd, id);
		freeReplyObject(r);
		req_init(&q);
		CHECK(get(&q, id, &g) == PROP_CACHE_MISS, "garbage (%s) is not a miss",
		      cases[i].name);
		if (i + 1 < sizeof(cases) / sizeof(cases[0]))
			CHECK(raw_int(RAW, "EXISTS property:%s", id) == 0,
			      "garbage (%s) was not deleted", cases[i].name);
		cs_fill(&R, &q.ctx, &p);
		CHECK(get(&q, id, &g) == PROP_CACHE_HIT, "no hit after garbage (%s)",
		      cases[i].name);
		CHECK(cache_available(C), "garbage (%s) took the cache down", cases[i].name);
		arena_fini(&q.arena);
		flush();
	}
}

static void case_bad_generation(void)
{
	test_req q;
	uint8_t *data;
	size_t len;
	uint64_t g;
	redisReply *r = redisCommand(RAW, "SET properties:owner:{o4}:gen notanumber");
	freeReplyObject(r);
	req_init(&q);
	CHECK(cs_page_get(&R, &q.ctx, "o4", "k", &data, &len, &g) == PROP_CACHE_MISS,
	      "bad generation not a miss");
	cs_invalidate_owner(&R, &q.ctx, "o4");
	CHECK(cache_available(C), "a bad generation took the cache down");
	cs_page_get(&R, &q.ctx, "o4", "k", &data, &len, &g);
	CHECK(g == 1, "generation after repair %llu", (unsigned long long)g);
	arena_fini(&q.arena);
}

// Writers of increasing versions (after_write, and readers' fills of them)
// and readers at once, from several threads (requests of one loop): the
// cache never goes back in version.
#define RACE_THREADS 4
#define RACE_ROUNDS  200
static void *race_worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	const char *id = "99999999-9999-9999-9999-999999999999";
	uint64_t seen = 0;
	for (int i = 1; i <= RACE_ROUNDS; i++) {
		test_req q;
		Property__V1__Property p = prop(id, "race", (uint64_t)(i * RACE_THREADS + t)), *g;
		req_init(&q);
		if (i % 2 == 0)
			cs_write(&R, &q.ctx, &p);
		else
			cs_fill(&R, &q.ctx, &p);
		if (get(&q, id, &g) == PROP_CACHE_HIT && g != NULL) {
			if (g->version < seen) {
				arena_fini(&q.arena);
				return (void *)1;
			}
			seen = g->version;
		}
		arena_fini(&q.arena);
	}
	return NULL;
}

static void case_concurrent(void)
{
	pthread_t th[RACE_THREADS];
	test_req q;
	Property__V1__Property *g;
	int bad = 0;
	for (int t = 0; t < RACE_THREADS; t++)
		pthread_create(&th[t], NULL, race_worker, (void *)(intptr_t)t);
	for (int t = 0; t < RACE_THREADS; t++) {
		void *rv;
		pthread_join(th[t], &rv);
		bad += rv != NULL;
	}
	CHECK(bad == 0, "%d reader(s) saw the version go back", bad);
	req_init(&q);
	CHECK(get(&q, "99999999-9999-9999-9999-999999999999", &g) == PROP_CACHE_HIT && g != NULL &&
	          g->version == RACE_ROUNDS * RACE_THREADS + RACE_THREADS - 1,
	      "final version is not the highest");
	arena_fini(&q.arena);
}

static void case_metrics(void)
{
	test_req q;
	Property__V1__Property *g;
	obs_counter *hit = obs_counter_get(M, "propertyd_cache_requests_total", "",
	                                   "family=\"property\",result=\"hit\"");
	obs_counter *miss = obs_counter_get(M, "propertyd_cache_requests_total", "",
	                                    "family=\"property\",result=\"miss\"");
	obs_gauge *up = obs_gauge_get(M, "propertyd_cache_up", "", NULL);
	uint64_t h0 = obs_counter_value(hit), m0 = obs_counter_value(miss);
	Property__V1__Property p = prop("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", "m", 1);
	req_init(&q);
	get(&q, p.id, &g);
	cs_fill(&R, &q.ctx, &p);
	get(&q, p.id, &g);
	CHECK(obs_counter_value(hit) == h0 + 1 && obs_counter_value(miss) == m0 + 1,
	      "hit/miss counters");
	CHECK(obs_gauge_value(up) == 1, "up gauge %g", obs_gauge_value(up));
	arena_fini(&q.arena);
}

static const check_case CASES[] = {
    {"round_trip", case_round_trip},
    {"version_order", case_version_order},
    {"tombstone", case_tombstone},
    {"fill_race", case_fill_race},
    {"fence", case_fence},
    {"owner_pages", case_owner_pages},
    {"ttl", case_ttl},
    {"garbage", case_garbage},
    {"bad_generation", case_bad_generation},
    {"concurrent", case_concurrent},
    {"metrics", case_metrics},
};

int main(void)
{
	const char *url = getenv("REDIS_URL");
	cache_url u;
	char err[256];

	if (url == NULL || url[0] == '\0') {
		printf("FAIL: REDIS_URL is not set (e.g. redis://127.0.0.1:6379/5); this test "
		       "flushes that database\n");
		return 1;
	}
	if (cache_url_parse(url, &u, err, sizeof(err)) != 0) {
		printf("FAIL: REDIS_URL: %s\n", err);
		return 1;
	}
	RAW = raw_connect(&u);
	if (RAW == NULL)
		return 1;
	M = obs_registry_create();
	if (rig_open(&R, url, M, err, sizeof(err)) != 0) {
		printf("FAIL: cache_create: %s\n", err);
		return 1;
	}
	C = R.c;
	if (!cache_available(C)) {
		CHECK_FAIL("cache not available against %s", url);
	}
	check_run(CASES, sizeof(CASES) / sizeof(CASES[0]), NULL, flush);
	flush();
	rig_close(&R);
	obs_registry_destroy(M);
	redisFree(RAW);
	return check_summary("cache_redis");
}
