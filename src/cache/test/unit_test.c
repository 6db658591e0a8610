// cache unit tests: URL parsing, value encoding, the pending set. No server.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test/check.h"
#include "cache/pending.h"
#include "cache/recent.h"
#include "cache/redis_url.h"
#include "cache/value.h"

static void test_urls(void)
{
	static const struct {
		const char *name, *url;
		int ok;
		const char *host;
		int port, db;
		const char *user, *password;
	} cases[] = {
	    {"full", "redis://127.0.0.1:63799/5", 1, "127.0.0.1", 63799, 5, "", ""},
	    {"defaults", "redis://cachehost", 1, "cachehost", 6379, 0, "", ""},
	    {"trailing slash", "redis://h:1/", 1, "h", 1, 0, "", ""},
	    {"password", "redis://:s3cret@h:7000/2", 1, "h", 7000, 2, "", "s3cret"},
	    {"user and password", "redis://app:p%40ss@h/1", 1, "h", 6379, 1, "app", "p@ss"},
	    {"lone userinfo is a password", "redis://pw@h", 1, "h", 6379, 0, "", "pw"},
	    {"ipv6", "redis://[::1]:6380/3", 1, "::1", 6380, 3, "", ""},
	    {"other scheme", "http://h:1/0", 0, NULL, 0, 0, NULL, NULL},
	    {"no host", "redis://:6379/0", 0, NULL, 0, 0, NULL, NULL},
	    {"bad port", "redis://h:0/0", 0, NULL, 0, 0, NULL, NULL},
	    {"port too big", "redis://h:70000", 0, NULL, 0, 0, NULL, NULL},
	    {"db out of range", "redis://h/16", 0, NULL, 0, 0, NULL, NULL},
	    {"db junk", "redis://h/1x", 0, NULL, 0, 0, NULL, NULL},
	    {"bad escape", "redis://:%zz@h", 0, NULL, 0, 0, NULL, NULL},
	    {"unterminated ipv6", "redis://[::1:6379", 0, NULL, 0, 0, NULL, NULL},
	    {"null", NULL, 0, NULL, 0, 0, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cache_url u;
		char err[128] = "";
		int rc = cache_url_parse(cases[i].url, &u, err, sizeof(err));
		CHECK((rc == 0) == cases[i].ok, "url %s: rc %d (%s)", cases[i].name, rc, err);
		if (rc != 0 || !cases[i].ok) {
			CHECK(rc == 0 || err[0] != '\0', "url %s: no message", cases[i].name);
			continue;
		}
		CHECK(strcmp(u.host, cases[i].host) == 0, "url %s: host %s", cases[i].name, u.host);
		CHECK(u.port == cases[i].port, "url %s: port %d", cases[i].name, u.port);
		CHECK(u.db == cases[i].db, "url %s: db %d", cases[i].name, u.db);
		CHECK(strcmp(u.user, cases[i].user) == 0, "url %s: user %s", cases[i].name, u.user);
		CHECK(strcmp(u.password, cases[i].password) == 0, "url %s: password",
		      cases[i].name);
	}
}

static void test_values(void)
{
	static const struct {
		const char *name;
		const char *v;
		size_t len;
		int ok;
		cache_kind kind;
		unsigned long long version;
		size_t body_len;
	} cases[] = {
	    {"row", "P12:\x0a\x01x", 7, 1, CACHE_KIND_ROW, 12, 3},
	    {"row with a colon in the body", "P1::", 4, 1, CACHE_KIND_ROW, 1, 1},
	    {"tombstone", "D7:", 3, 1, CACHE_KIND_TOMB, 7, 0},
	    {"fence", "F18446744073709551615:", 22, 1, CACHE_KIND_FENCE, 18446744073709551615ULL,
	     0},
	    {"zero", "P0:a", 4, 1, CACHE_KIND_ROW, 0, 1},
	    {"tombstone with a body", "D7:x", 4, 0, 0, 0, 0},
	    {"fence with a body", "F7:x", 4, 0, 0, 0, 0},
	    {"unknown kind", "X1:", 3, 0, 0, 0, 0},
	    {"no digits", "P:abc", 5, 0, 0, 0, 0},
	    {"no colon", "P123", 4, 0, 0, 0, 0},
	    {"leading zero", "P01:a", 5, 0, 0, 0, 0},
	    {"overflow", "P18446744073709551616:", 22, 0, 0, 0, 0},
	    {"empty", "", 0, 0, 0, 0, 0},
	    {"plain garbage", "hello world", 11, 0, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cache_kind k;
		uint64_t ver;
		const uint8_t *body;
		size_t blen;
		int rc = cache_value_parse(cases[i].v, cases[i].len, &k, &ver, &body, &blen);
		CHECK((rc == 0) == cases[i].ok, "value %s: rc %d", cases[i].name, rc);
		if (rc != 0 || !cases[i].ok)
			continue;
		CHECK(k == cases[i].kind, "value %s: kind %d", cases[i].name, (int)k);
		CHECK(ver == cases[i].version, "value %s: version %llu", cases[i].name,
		      (unsigned long long)ver);
		CHECK(blen == cases[i].body_len, "value %s: body %zu", cases[i].name, blen);
	}
	{
		char h[CACHE_VALUE_HEADER_MAX];
		size_t n = cache_value_header(h, CACHE_KIND_FENCE, UINT64_MAX);
		CHECK(n == 22 && strcmp(h, "F18446744073709551615:") == 0, "header max: %s", h);
		n = cache_value_header(h, CACHE_KIND_TOMB, 3);
		CHECK(n == 3 && strcmp(h, "D3:") == 0, "header tomb: %s", h);
	}
}

static void test_pending(void)
{
	cache_pending *p = calloc(1, sizeof(*p));
	char id[32];

	cache_pending_clear(p);
	CHECK(cache_pending_empty(p), "pending: new set not empty");
	cache_pending_add(p, CACHE_PENDING_PROPERTY, "a", CACHE_KIND_FENCE, 3);
	cache_pending_add(p, CACHE_PENDING_PROPERTY, "a", CACHE_KIND_FENCE, 2);
	CHECK(p->n == 1 && p->e[0].version == 3, "pending: older version lowered the entry");
	cache_pending_add(p, CACHE_PENDING_PROPERTY, "a", CACHE_KIND_TOMB, 3);
	CHECK(p->n == 1 && p->e[0].kind == CACHE_KIND_TOMB, "pending: tombstone did not win");
	cache_pending_add(p, CACHE_PENDING_PROPERTY, "a", CACHE_KIND_FENCE, 3);
	CHECK(p->e[0].kind == CACHE_KIND_TOMB, "pending: fence replaced the tombstone");
	cache_pending_add(p, CACHE_PENDING_OWNER, "a", CACHE_KIND_FENCE, 0);
	cache_pending_add(p, CACHE_PENDING_OWNER, "a", CACHE_KIND_FENCE, 0);
	CHECK(p->n == 2, "pending: owner not merged (%zu)", p->n);
	for (int i = 0; p->n < CACHE_PENDING_CAP; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		cache_pending_add(p, CACHE_PENDING_PROPERTY, id, CACHE_KIND_FENCE, 1);
	}
	CHECK(!p->overflow, "pending: overflow before the cap");
	cache_pending_add(p, CACHE_PENDING_OWNER, "one too many", CACHE_KIND_FENCE, 0);
	CHECK(p->overflow && !cache_pending_empty(p), "pending: no overflow past the cap");
	cache_pending_clear(p);
	cache_pending_add(p, CACHE_PENDING_OWNER,
	                  "an owner id far longer than any the contract allows, over 72 bytes "
	                  "long.....",
	                  CACHE_KIND_FENCE, 0);
	CHECK(p->overflow, "pending: a long id was not turned into an overflow");
	free(p);
}

// The table of changes this instance delivered: taken once, only for the
// same id and version; an overwritten entry is just not found (applied again).
static void test_recent(void)
{
	cache_recent *r = malloc(sizeof *r);
	cache_recent_init(r);
	const char *a = "00000000-0000-4000-8000-00000000000a";
	const char *b = "00000000-0000-4000-8000-00000000000b";
	CHECK(!cache_recent_take(r, a, 1), "recent: empty table answered");
	cache_recent_add(r, a, 3);
	CHECK(!cache_recent_take(r, a, 2), "recent: another version answered");
	CHECK(!cache_recent_take(r, b, 3), "recent: another id answered");
	CHECK(cache_recent_take(r, a, 3), "recent: the delivered change not found");
	CHECK(!cache_recent_take(r, a, 3), "recent: taken twice");
	cache_recent_add(r, a, 0);
	CHECK(!cache_recent_take(r, a, 0), "recent: version 0 kept");
	// Many more entries than slots: nothing is wrongly answered.
	char id[40];
	for (unsigned i = 0; i < 3 * CACHE_RECENT_SLOTS; i++) {
		snprintf(id, sizeof id, "00000000-0000-4000-8000-%012u", i);
		cache_recent_add(r, id, 1);
	}
	snprintf(id, sizeof id, "00000000-0000-4000-8000-%012u", 3u * CACHE_RECENT_SLOTS + 7u);
	CHECK(!cache_recent_take(r, id, 1), "recent: never added, yet answered");
	cache_recent_fini(r);
	free(r);
}

int main(void)
{
	test_urls();
	test_values();
	test_pending();
	test_recent();
	return check_summary("cache_unit");
}
