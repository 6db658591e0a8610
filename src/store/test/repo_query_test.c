// store_repo: reads of many rows: an owner's list walked page by page, and
// search, every result compared to a filter computed here.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo_common.h"

static int cmp_list(const void *x, const void *y) // created_at_us DESC, id DESC
{
	const Property__V1__Property *a = *(Property__V1__Property *const *)x;
	const Property__V1__Property *b = *(Property__V1__Property *const *)y;
	if (a->created_at_us != b->created_at_us)
		return a->created_at_us > b->created_at_us ? -1 : 1;
	return -strcmp(a->id, b->id);
}

void test_list_walk(void)
{
	enum { N = 45, PAGE = 20 };
	tu_arena a;
	tu_arena_init(&a);
	Property__V1__Property *all[N];
	for (int i = 0; i < N; i++) {
		prop_buf b;
		all[i] = create_ok(&a, mk_simple(&b, "owner-walk"));
		if (all[i] == NULL)
			goto out;
	}
	qsort(all, N, sizeof all[0], cmp_list);
	prop_cursor cur = {0};
	int seen = 0, pages = 0;
	const size_t want_sizes[] = {PAGE, PAGE, N - 2 * PAGE, 0};
	for (;;) {
		prop_ctx ctx = tu_ctx(&a, 5000);
		prop_page page = {0};
		nrpc_code rc =
		    s_list_by_owner(port, &ctx, "owner-walk", pages ? &cur : NULL, PAGE, &page);
		CHECK(rc == NRPC_OK, "page %d: %d %s", pages, rc, ctx.err);
		if (rc != NRPC_OK || pages >= 4)
			break;
		CHECK(page.n == want_sizes[pages], "page %d has %zu rows", pages, page.n);
		for (size_t i = 0; i < page.n && seen < N; i++, seen++)
			CHECK(strcmp(page.items[i]->id, all[seen]->id) == 0, "row %d out of order",
			      seen);
		pages++;
		if (page.n < PAGE)
			break;
		cur.key = page.items[page.n - 1]->created_at_us;
		snprintf(cur.id, sizeof cur.id, "%s", page.items[page.n - 1]->id);
	}
	CHECK(seen == N && pages == 3, "walked %d rows in %d pages", seen, pages);
out:
	tu_arena_reset(&a);
}

// ---- search: every result compared to a filter computed here ----------------------------

enum { SN = 45 };
static Property__V1__Property *srows[SN];

static int cmp_search(const void *x, const void *y) // price_cents ASC, id ASC
{
	const Property__V1__Property *a = *(Property__V1__Property *const *)x;
	const Property__V1__Property *b = *(Property__V1__Property *const *)y;
	if (a->price_cents != b->price_cents)
		return a->price_cents < b->price_cents ? -1 : 1;
	return strcmp(a->id, b->id);
}

static int matches(const Property__V1__Property *p, const prop_search_query *q)
{
	const Property__V1__Location *l = p->location;
	if (q->city[0] && strcasecmp(l->city, q->city) != 0)
		return 0;
	if (q->country_code[0] && strcmp(l->country_code, q->country_code) != 0)
		return 0;
	if (p->price_cents < q->min_price_cents)
		return 0;
	if (q->max_price_cents && p->price_cents > q->max_price_cents)
		return 0;
	if (p->bedrooms < q->min_bedrooms)
		return 0;
	if (q->has_bbox && (l->latitude < q->min_lat || l->latitude > q->max_lat ||
	                    l->longitude < q->min_lon || l->longitude > q->max_lon))
		return 0;
	if (q->status && (int)p->status != q->status)
		return 0;
	return 1;
}

// Walks every page of q (page size `page`) and compares with the expectation.
static void walk_search(tu_arena *a, const char *name, const prop_search_query *q, uint32_t page,
                        int want_min)
{
	Property__V1__Property *want[SN] = {0};
	int nw = 0;
	for (int i = 0; i < SN; i++)
		if (matches(srows[i], q))
			want[nw++] = srows[i];
	CHECK(nw >= want_min, "%s: the fixture matches only %d rows", name, nw);
	qsort(want, (size_t)nw, sizeof want[0], cmp_search);
	prop_cursor cur = {0};
	int seen = 0, pages = 0;
	for (; pages < SN + 2; pages++) {
		prop_ctx ctx = tu_ctx(a, 5000);
		prop_page pg = {0};
		nrpc_code rc = s_search(port, &ctx, q, pages ? &cur : NULL, page, &pg);
		CHECK(rc == NRPC_OK, "%s page %d: %d %s", name, pages, rc, ctx.err);
		if (rc != NRPC_OK)
			return;
		CHECK(pg.n <= page, "%s: page too long", name);
		for (size_t i = 0; i < pg.n; i++, seen++)
			CHECK(seen < nw && strcmp(pg.items[i]->id, want[seen]->id) == 0,
			      "%s: row %d differs", name, seen);
		if (pg.n < page)
			break;
		cur.key = pg.items[pg.n - 1]->price_cents;
		snprintf(cur.id, sizeof cur.id, "%s", pg.items[pg.n - 1]->id);
	}
	CHECK(seen == nw, "%s: saw %d of %d", name, seen, nw);
}

void test_search(void)
{
	static const char *const cities[] = {"Lisbon", "LISBON", "lisbon", "Porto", "Faro"};
	static const char *const ccs[] = {"PT", "ES", "FR"};
	tu_arena a;
	tu_arena_init(&a);
	PQclear(tu_exec(admin, "TRUNCATE properties"));
	for (int i = 0; i < SN; i++) {
		prop_buf b;
		// Prices repeat (i % 9) so the id breaks ties; coordinates land on
		// the bbox edges below for some rows.
		double lat = 38.0 + (i % 5) * 0.5, lon = -9.0 + (i % 4) * 0.5;
		srows[i] =
		    create_ok(&a, mk(&b, "owner-search", "S", cities[i % 5], ccs[i % 3], lat, lon,
		                     100000 + (i % 9) * 1000, (uint32_t)(i % 6), 1 + i % 5));
		if (srows[i] == NULL)
			goto out;
	}
	const prop_search_query all = {.city = "", .country_code = ""};
	prop_search_query q = all;
	walk_search(&a, "no_filter_pages_of_20", &q, 20, SN);
	q.country_code = "PT";
	walk_search(&a, "country", &q, 4, 10);
	q = all, q.city = "lIsBoN";
	walk_search(&a, "city_ignores_case", &q, 5, 20);
	q.min_price_cents = 103000, q.max_price_cents = 106000;
	walk_search(&a, "city_price", &q, 3, 5);
	q = all, q.min_bedrooms = 3;
	walk_search(&a, "bedrooms", &q, 7, 10);
	q = all, q.has_bbox = true, q.min_lat = 38.5, q.max_lat = 39.5, q.min_lon = -8.5,
	q.max_lon = -8.0;
	walk_search(&a, "bbox_edges_included", &q, 6, 10);
	q.status = 2;
	walk_search(&a, "bbox_status", &q, 2, 1);
	q = all, q.city = "porto", q.country_code = "ES", q.min_bedrooms = 1, q.status = 0;
	walk_search(&a, "city_country_bedrooms", &q, 2, 1);
	q = all, q.max_price_cents = 100000;
	walk_search(&a, "max_price_inclusive", &q, 20, 5);
	q = all, q.city = "Nowhere";
	walk_search(&a, "nothing", &q, 20, 0);
out:
	tu_arena_reset(&a);
}
