// store_repo: the event log read back (with retention), a deadline already
// passed, and a database that is down.
#include <string.h>
#include <unistd.h>

#include "repo_common.h"
#include "store/outbox.h"

// ---- events, deadlines, outages ---------------------------------------------------------

void test_read_events(void)
{
	tu_arena a;
	tu_arena_init(&a);
	prop_ctx ctx = tu_ctx(&a, 5000);
	Property__V1__Event **ev = NULL;
	size_t n = 0;
	uint64_t last = 99;
	// Nothing is published before the relay claims.
	nrpc_code rc = s_read_events(port, &ctx, 0, 100, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 0 && last == 0, "before claim: %d n=%zu last=%llu", rc, n,
	      (unsigned long long)last);
	store_outbox *o = NULL;
	char err[256];
	CHECK(store_outbox_open(&o, conninfo, err, sizeof err) == 0, "outbox: %s", err);
	int64_t total = tu_scalar(admin, "SELECT count(*) FROM event_log");
	int64_t updates =
	    tu_scalar(admin, "SELECT count(*) FROM event_log WHERE type = 'property.updated'");
	Property__V1__Event **claimed = NULL;
	int k;
	while ((k = store_outbox_claim(o, 1000, &claimed)) > 0)
		store_outbox_events_free(claimed, (size_t)k);
	store_outbox_close(o);

	rc = s_read_events(port, &ctx, 0, 1000, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && (int64_t)n == total && (int64_t)last == total,
	      "all: n=%zu last=%llu total=%lld", n, (unsigned long long)last, (long long)total);
	for (size_t i = 0; i < n; i++)
		CHECK(ev[i]->seq == i + 1 && ev[i]->property &&
		          strcmp(ev[i]->aggregate_id, ev[i]->property->id) == 0 &&
		          strcmp(ev[i]->owner_id, ev[i]->property->owner_id) == 0 &&
		          strlen(ev[i]->id) == 36 && ev[i]->occurred_at_us > 0,
		      "event %zu", i);
	rc = s_read_events(port, &ctx, 0, 1000, "property.updated", &ev, &n, &last);
	CHECK(rc == NRPC_OK && (int64_t)n == updates && (int64_t)last == total, "prefix: n=%zu", n);
	for (size_t i = 0; i < n; i++)
		CHECK(strcmp(ev[i]->type, "property.updated") == 0 &&
		          (i == 0 || ev[i]->seq > ev[i - 1]->seq),
		      "prefix event %zu", i);
	rc = s_read_events(port, &ctx, 5, 3, "property.", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 3 && ev[0]->seq == 6 && ev[2]->seq == 8, "window: n=%zu", n);
	rc = s_read_events(port, &ctx, (uint64_t)total, 10, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 0 && (int64_t)last == total, "after the end: n=%zu", n);

	// Retention: prune seqs 1..3 as store_outbox_prune does (the row and its pair).
	PQclear(tu_exec(admin, "WITH d AS (DELETE FROM event_seq WHERE seq <= 3 RETURNING ins_id) "
	                       "DELETE FROM event_log WHERE ins_id IN (SELECT ins_id FROM d)"));
	for (uint64_t after = 0; after < 3; after++) {
		ctx.err[0] = '\0';
		rc = s_read_events(port, &ctx, after, 10, "", &ev, &n, &last);
		char want[96];
		snprintf(want, sizeof want,
		         "events after seq %llu were pruned; the oldest kept is 4",
		         (unsigned long long)after);
		CHECK(rc == NRPC_OUT_OF_RANGE && strcmp(ctx.err, want) == 0,
		      "after %llu, before the gap: %d %s", (unsigned long long)after, rc, ctx.err);
	}
	// The same whatever the prefix: what was pruned is unknown.
	rc = s_read_events(port, &ctx, 0, 10, "property.deleted", &ev, &n, &last);
	CHECK(rc == NRPC_OUT_OF_RANGE, "prefix before the gap: %d", rc);
	rc = s_read_events(port, &ctx, 3, 2, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 2 && ev[0]->seq == 4 && (int64_t)last == total,
	      "at the gap edge: %d n=%zu", rc, n);
	rc = s_read_events(port, &ctx, 5, 3, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 3 && ev[0]->seq == 6, "after the gap: %d n=%zu", rc, n);
	// Limit 0: no event, but the newest seq and the retention check.
	rc = s_read_events(port, &ctx, 5, 0, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 0 && (int64_t)last == total, "limit 0: %d n=%zu", rc, n);
	rc = s_read_events(port, &ctx, 0, 0, "", &ev, &n, &last);
	CHECK(rc == NRPC_OUT_OF_RANGE, "limit 0 before the gap: %d", rc);
	// Everything pruned: only the newest seq is a valid position.
	PQclear(tu_exec(admin, "TRUNCATE event_seq, event_log"));
	ctx.err[0] = '\0';
	rc = s_read_events(port, &ctx, (uint64_t)total - 1, 10, "", &ev, &n, &last);
	CHECK(rc == NRPC_OUT_OF_RANGE && strstr(ctx.err, "were pruned") != NULL,
	      "empty log, behind: %d %s", rc, ctx.err);
	rc = s_read_events(port, &ctx, (uint64_t)total, 10, "", &ev, &n, &last);
	CHECK(rc == NRPC_OK && n == 0 && (int64_t)last == total, "empty log, at the end: %d", rc);
	tu_arena_reset(&a);
}

void test_deadline_passed(void)
{
	tu_arena a;
	tu_arena_init(&a);
	prop_ctx ctx = tu_ctx(&a, 0);
	ctx.deadline_us = tu_now_us() - 1;
	Property__V1__Property *out = NULL;
	nrpc_code rc = s_get(port, &ctx, "00000000-0000-4000-8000-000000000000", &out);
	CHECK(rc == NRPC_DEADLINE_EXCEEDED, "get: %d", rc);
	tu_arena_reset(&a);
}

void test_database_down(void)
{
	store_apg *p = NULL;
	store_repo_pg *r = NULL;
	char err[256];
	CHECK(open_repo("host=127.0.0.1 port=1 user=postgres", false, &p, &r, err, sizeof err) == 0,
	      "%s", err);
	usleep(300 * 1000); // the first connect fails: the pool knows the database is down
	prop_repo down = store_repo_pg_port(r);
	tu_arena a;
	tu_arena_init(&a);
	prop_ctx ctx = tu_ctx(&a, 1000);
	Property__V1__Property *out = NULL;
	bool replayed = false;
	prop_buf b;
	nrpc_code rc = s_get(down, &ctx, "00000000-0000-4000-8000-000000000000", &out);
	CHECK(rc == NRPC_UNAVAILABLE, "get: %d", rc);
	rc = s_create(down, &ctx, mk_simple(&b, "o"), NULL, NULL, &out, &replayed);
	CHECK(rc == NRPC_UNAVAILABLE, "create: %d", rc);
	prop_search_query q = {.city = "", .country_code = ""};
	prop_page page = {0};
	rc = s_search(down, &ctx, &q, NULL, 10, &page);
	CHECK(rc == NRPC_UNAVAILABLE, "search: %d", rc);
	tu_arena_reset(&a);
	close_repo(p, r);
}
