// store_explain: with 100,000 realistically distributed rows, every query
// shape repo_pg issues (the production SQL and parameters, taken from
// repo_pg_*_stmt) is planned without a sequential scan of properties.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"
#include "store/migrate.h"
#include <event2/event.h>

#include "store/repo_pg.h"
#include "testutil.h"

#define SCHEMA "test_explain"
#define ROWS   "100000"

static char *conninfo;
static PGconn *admin;
static store_repo_pg *repo;

// 20 cities with their countries and centres; rows cluster around them and
// pick low indexes more often (big cities have more listings).
static const char load_sql[] =
    "SELECT setseed(0.42); "
    "INSERT INTO properties (owner_id, title, description, address, city, country_code, "
    "latitude, longitude, price_cents, currency, bedrooms, status, version, created_at_us, "
    "updated_at_us) "
    "SELECT 'owner-' || floor(power(random(), 2) * 5000)::int, 'Home ' || g, 'Nice.', "
    "g || ' Main Street', c.city, c.cc, c.lat + (random() - 0.5) * 0.4, "
    "c.lon + (random() - 0.5) * 0.4, (exp(random() * 4) * 5000000)::bigint, 'EUR', "
    "floor(random() * random() * 7)::int, "
    "CASE WHEN random() < 0.6 THEN 2 ELSE 1 + floor(random() * 5)::int END, 1, s.t, s.t "
    "FROM (SELECT g, floor(power(random(), 1.5) * 20)::int AS ci, "
    "(extract(epoch FROM now()) * 1000000)::bigint - (random() * 365 * 86400e6)::bigint AS t "
    "FROM generate_series(1, " ROWS ") g) s "
    "JOIN (VALUES (0, 'London', 'GB', 51.5, -0.12), (1, 'Paris', 'FR', 48.86, 2.35), "
    "(2, 'Berlin', 'DE', 52.52, 13.4), (3, 'Madrid', 'ES', 40.42, -3.7), "
    "(4, 'Rome', 'IT', 41.9, 12.5), (5, 'Lisbon', 'PT', 38.72, -9.14), "
    "(6, 'Porto', 'PT', 41.15, -8.61), (7, 'Lyon', 'FR', 45.76, 4.84), "
    "(8, 'Munich', 'DE', 48.14, 11.58), (9, 'Barcelona', 'ES', 41.39, 2.17), "
    "(10, 'Milan', 'IT', 45.46, 9.19), (11, 'Dublin', 'IE', 53.35, -6.26), "
    "(12, 'Vienna', 'AT', 48.21, 16.37), (13, 'Prague', 'CZ', 50.08, 14.44), "
    "(14, 'Warsaw', 'PL', 52.23, 21.01), (15, 'Amsterdam', 'NL', 52.37, 4.9), "
    "(16, 'Brussels', 'BE', 50.85, 4.35), (17, 'Zurich', 'CH', 47.37, 8.54), "
    "(18, 'Oslo', 'NO', 59.91, 10.75), (19, 'Faro', 'PT', 37.02, -7.93)) "
    "c(i, city, cc, lat, lon) ON c.i = s.ci; "
    "ANALYZE properties";

// Plans the statement with its parameters (and runs it, with analyze);
// returns the JSON plan (malloc'd).
static char *explain_with(const store_apg_stmt *s, const store_repo_args *a, bool analyze)
{
	size_t n = strlen(s->sql) + 48;
	char *sql = malloc(n);
	snprintf(sql, n, "EXPLAIN (%sFORMAT JSON) %s", analyze ? "ANALYZE, " : "", s->sql);
	PGresult *r = PQexecParams(admin, sql, a->n, NULL, a->v, NULL, NULL, 0);
	free(sql);
	char *plan = NULL;
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		plan = strdup(PQgetvalue(r, 0, 0));
	else
		fprintf(stderr, "EXPLAIN %s failed: %s", s->name, PQresultErrorMessage(r));
	PQclear(r);
	return plan;
}

static char *explain(const store_apg_stmt *s, const store_repo_args *a)
{
	return explain_with(s, a, false);
}

static void check_plan(const char *name, const store_apg_stmt *s, const store_repo_args *a)
{
	char *plan = explain(s, a);
	CHECK(plan != NULL, "%s: no plan", name);
	if (plan == NULL)
		return;
	int seq = strstr(plan, "\"Seq Scan\"") != NULL;
	CHECK(!seq, "%s: sequential scan\n%s", name, plan);
	// One line per case with the scan nodes used, for the reader of the log.
	printf("  %-22s", name);
	for (const char *p = plan; (p = strstr(p, "\"Node Type\": \"")) != NULL;) {
		p += strlen("\"Node Type\": \"");
		printf(" %.*s;", (int)strcspn(p, "\""), p);
	}
	const char *idx = plan;
	while ((idx = strstr(idx, "\"Index Name\": \"")) != NULL) {
		idx += strlen("\"Index Name\": \"");
		printf(" [%.*s]", (int)strcspn(idx, "\""), idx);
	}
	printf("\n");
	free(plan);
}

// A row in the middle of an owner's listing / of a search, for keyset pages.
static void cursor_of(const char *sql, prop_cursor *c)
{
	PGresult *r = tu_exec(admin, sql);
	c->key = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(c->id, sizeof c->id, "%s", PQgetvalue(r, 0, 1));
	PQclear(r);
}

static void test_owner_listing(void)
{
	store_repo_args a;
	const char *owner = "owner-7";
	check_plan("owner_first_page", store_repo_pg_list_stmt(repo, owner, NULL, 21, &a), &a);
	prop_cursor c;
	cursor_of("SELECT created_at_us, id FROM properties WHERE owner_id = 'owner-7' "
	          "ORDER BY created_at_us DESC, id DESC OFFSET 20 LIMIT 1",
	          &c);
	check_plan("owner_keyset_page", store_repo_pg_list_stmt(repo, owner, &c, 21, &a), &a);
	check_plan("owner_rare", store_repo_pg_list_stmt(repo, "owner-4999", NULL, 101, &a), &a);
}

// An idempotent replay's read of the first result (the property.created event).
static void test_created_snapshot(void)
{
	PQclear(tu_exec(admin, "INSERT INTO event_log (type, occurred_at_us, aggregate_id, "
	                       "owner_id, title, description, address, city, country_code, "
	                       "latitude, longitude, price_cents, currency, bedrooms, status, "
	                       "version, created_at_us, updated_at_us) "
	                       "SELECT 'property.created', created_at_us, id, owner_id, title, "
	                       "description, address, city, country_code, latitude, longitude, "
	                       "price_cents, currency, bedrooms, status, version, created_at_us, "
	                       "updated_at_us FROM properties; ANALYZE event_log"));
	PGresult *r = tu_exec(admin, "SELECT id FROM properties LIMIT 1");
	store_repo_args a = {0};
	store_repo_args_get(&a, PQgetvalue(r, 0, 0));
	check_plan("created_snapshot", store_repo_pg_stmt(repo, REPO_SQL_CREATED), &a);
	PQclear(r);
}

// The rows all nodes of an analyzed plan read: produced or removed by a
// filter, per loop as EXPLAIN reports them.
static double rows_read(const char *plan)
{
	static const char *const keys[] = {"\"Actual Rows\": ", "\"Rows Removed by Filter\": ",
	                                   "\"Rows Removed by Index Recheck\": "};
	double sum = 0;
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
		for (const char *p = plan; (p = strstr(p, keys[k])) != NULL;) {
			p += strlen(keys[k]);
			sum += strtod(p, NULL);
		}
	return sum;
}

// ReadEvents by type prefix, with 100,000 published events of one type and a
// few of a rare one at the start of the log: reading the rare type after
// those (nothing matches) or from the start, or a common prefix, touches a
// number of rows that follows the page, not the log (the statement runs).
static void test_events_by_type(void)
{
	PQclear(tu_exec(admin,
	                "UPDATE event_log SET type = 'property.deleted' "
	                "WHERE ins_id IN (SELECT ins_id FROM event_log ORDER BY ins_id "
	                "LIMIT 5); "
	                "INSERT INTO event_seq (seq, ins_id, type) SELECT "
	                "row_number() OVER (ORDER BY ins_id), ins_id, type FROM event_log; "
	                "UPDATE relay_state SET last_seq = (SELECT max(seq) FROM event_seq); "
	                "ANALYZE event_seq"));
	static const struct {
		const char *name, *prefix;
		uint64_t after;
		uint32_t limit;
		int want_rows;
	} cases[] = {
	    {"events_rare_none_left", "property.deleted", 10, 100, 0},
	    {"events_rare_from_start", "property.deleted", 0, 100, 5},
	    {"events_common", "property.", 1000, 100, 100},
	    {"events_no_type", "order.", 0, 100, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		store_repo_args a = {0};
		store_repo_args_events(&a, cases[i].after, cases[i].prefix, cases[i].limit);
		const store_apg_stmt *s = store_repo_pg_stmt(repo, REPO_SQL_READ_EVENTS_TYPED);
		check_plan(cases[i].name, s, &a);
		char *plan = explain_with(s, &a, true);
		CHECK(plan != NULL, "%s: no analyzed plan", cases[i].name);
		if (plan == NULL)
			continue;
		// Each type found gives at most limit rows, which pass through a few
		// nodes; the skip scan reads one per type. Walking the log would read
		// 100,000.
		double read = rows_read(plan);
		CHECK(read <= 20.0 * cases[i].limit + 50, "%s: the plan read %.0f rows\n%s",
		      cases[i].name, read, plan);
		printf("  %-22s %.0f rows read\n", cases[i].name, read);
		free(plan);
		PGresult *r = PQexecParams(admin, s->sql, a.n, NULL, a.v, NULL, NULL, 0);
		int rows = PQntuples(r) == 1 && PQgetisnull(r, 0, 2) ? 0 : PQntuples(r);
		CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && rows == cases[i].want_rows,
		      "%s: %d events, want %d (%s)", cases[i].name, rows, cases[i].want_rows,
		      PQresultErrorMessage(r));
		PQclear(r);
	}
}

typedef struct search_case {
	const char *name;
	prop_search_query q;
	int keyset; // second page
} search_case;

static void test_search_shapes(void)
{
	static const search_case cases[] = {
	    {"city_price",
	     {.city = "lisbon",
	      .country_code = "",
	      .min_price_cents = 10000000,
	      .max_price_cents = 50000000},
	     0},
	    {"city_price_keyset",
	     {.city = "lisbon",
	      .country_code = "",
	      .min_price_cents = 10000000,
	      .max_price_cents = 50000000},
	     1},
	    {"city", {.city = "Porto", .country_code = ""}, 0},
	    {"country", {.city = "", .country_code = "FR"}, 0},
	    {"country_keyset", {.city = "", .country_code = "FR"}, 1},
	    {"min_bedrooms", {.city = "", .country_code = "", .min_bedrooms = 3}, 0},
	    {"min_bedrooms_rare", {.city = "", .country_code = "", .min_bedrooms = 6}, 0},
	    {"bbox",
	     {.city = "",
	      .country_code = "",
	      .has_bbox = true,
	      .min_lat = 38.6,
	      .max_lat = 38.8,
	      .min_lon = -9.3,
	      .max_lon = -9.0},
	     0},
	    {"no_filter", {.city = "", .country_code = ""}, 0},
	    {"no_filter_keyset", {.city = "", .country_code = ""}, 1},
	    {"price_range",
	     {.city = "",
	      .country_code = "",
	      .min_price_cents = 20000000,
	      .max_price_cents = 30000000},
	     0},
	    {"status", {.city = "", .country_code = "", .status = 4}, 0},
	};
	prop_cursor mid;
	cursor_of("SELECT price_cents, id FROM properties ORDER BY price_cents, id "
	          "OFFSET 50000 LIMIT 1",
	          &mid);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		store_repo_args a;
		const store_apg_stmt *s = store_repo_pg_search_stmt(
		    repo, &cases[i].q, cases[i].keyset ? &mid : NULL, 21, &a);
		check_plan(cases[i].name, s, &a);
	}
}

int main(int argc, char **argv)
{
	static const tu_case cases[] = {
	    {"owner_listing", test_owner_listing},
	    {"search_shapes", test_search_shapes},
	    {"created_snapshot", test_created_snapshot},
	    {"events_by_type", test_events_by_type},
	};
	conninfo = tu_schema_conninfo(SCHEMA);
	char err[256];
	if (store_migrate_run(conninfo, err, sizeof err) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return 2;
	}
	admin = tu_connect(conninfo);
	PQclear(tu_exec(admin, load_sql));
	// The statements come from a real repo_pg; its pool never connects.
	obs_registry *reg = obs_registry_create();
	// Its loop never runs: the pool only registers statements.
	struct event_base *base = event_base_new();
	store_apg_config cfg = {
	    .conninfo = conninfo, .base = base, .connections = 1, .metrics = reg};
	store_apg *pool = NULL;
	store_repo_pg_config rc_cfg = {.pools = &pool, .bases = &base, .nshards = 1};
	if (store_apg_create(&pool, &cfg, err, sizeof err) != 0 ||
	    store_repo_pg_create(&repo, &rc_cfg, err, sizeof err) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return 2;
	}
	int rc = tu_run(cases, sizeof cases / sizeof cases[0], argc, argv);
	store_apg_destroy(pool);
	store_repo_pg_destroy(repo);
	event_base_free(base);
	obs_registry_destroy(reg);
	PQfinish(admin);
	tu_drop_schema(SCHEMA);
	free(conninfo);
	return rc;
}
