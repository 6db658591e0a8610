#include "store/repo_sql.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/rowmap.h"
#include "store/schema.h"

// The properties columns qualified with "p." (for statements that join).
#define P_COLS                                                                                     \
	"p.id, p.owner_id, p.title, p.description, p.address, p.city, p.country_code, "            \
	"p.latitude, p.longitude, p.price_cents, p.currency, p.bedrooms, p.status, p.version, "    \
	"p.created_at_us, p.updated_at_us"

// The snapshot a property.created event holds, as a properties row: the
// first result of a create, which an idempotent replay returns.
#define E_CREATED_COLS                                                                             \
	"e.aggregate_id, e.owner_id, e.title, e.description, e.address, e.city, e.country_code, "  \
	"e.latitude, e.longitude, e.price_cents, e.currency, e.bedrooms, e.status, e.version, "    \
	"e.created_at_us, e.updated_at_us"

// Appends the event for the rows of CTE `src` (which has ROWMAP_PROPERTY_COLS)
// at time `at`. No NOTIFY here: PostgreSQL serializes the commits of
// notifying transactions (it halved the create rate); the repository's commit
// hook wakes the relay instead (repo_pg_on_commit, store_outbox_notify).
// clang-format off
#define EVENT_CTES(type, src, at)                                                                  \
    "ev AS ("                                                                                      \
        "INSERT INTO event_log (type, occurred_at_us, aggregate_id, " ROWMAP_PROPERTY_FIELDS ") "  \
        "SELECT '" type "', " at ", " ROWMAP_PROPERTY_COLS " FROM " src " "                        \
        "RETURNING ins_id) "
// clang-format on

// Create: one statement inserts the property, its event and (with a key) the
// idempotency record. The key row is upserted so that RETURNING always yields
// the record: ours (property_id = the new id) when the key was free or
// expired, else the earlier one, unchanged. A concurrent create with the same
// key waits on the key's index entry until the first commits, then takes the
// conflict path. Result: outcome ('created' | 'replay'), request_hash,
// property_id, then ROWMAP_PROPERTY_COLS (NULL when a replayed row is not
// visible to this statement's snapshot: committed after it began, or deleted).
// $1 owner $2 title $3 description $4 address $5 city $6 country $7 latitude
// $8 longitude $9 price $10 currency $11 bedrooms $12 status $13 key (NULL:
// none) $14 request hash.
// clang-format off
#define EXPIRED "k.created_at_us < excluded.created_at_us - " STORE_IDEM_TTL_US
static const char sql_create[] =
    "WITH v AS (SELECT gen_random_uuid() AS id, " STORE_NOW_US_SQL " AS us), "
    "idem AS ("
        "INSERT INTO idempotency_keys AS k "
            "(owner_id, key, request_hash, property_id, created_at_us) "
        "SELECT $1::text, $13::text, coalesce($14::text, ''), v.id, v.us FROM v "
        "WHERE $13::text IS NOT NULL "
        "ON CONFLICT (owner_id, key) DO UPDATE SET "
            "request_hash = CASE WHEN " EXPIRED " "
                "THEN excluded.request_hash ELSE k.request_hash END, "
            "property_id = CASE WHEN " EXPIRED " "
                "THEN excluded.property_id ELSE k.property_id END, "
            "created_at_us = CASE WHEN " EXPIRED " "
                "THEN excluded.created_at_us ELSE k.created_at_us END "
        "RETURNING request_hash, property_id), "
    "ins AS ("
        "INSERT INTO properties (" ROWMAP_PROPERTY_COLS ") "
        "SELECT v.id, $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::float8, "
            "$8::float8, $9::bigint, $10::text, $11::int, $12::smallint, 1, v.us, v.us FROM v "
        "WHERE $13::text IS NULL OR EXISTS (SELECT 1 FROM idem WHERE idem.property_id = v.id) "
        "RETURNING " ROWMAP_PROPERTY_COLS "), "
    EVENT_CTES("property.created", "ins", "created_at_us")
    "SELECT 'created', NULL::text, NULL::uuid, " ROWMAP_PROPERTY_COLS " FROM ins "
    "UNION ALL "
    "SELECT 'replay', idem.request_hash, idem.property_id, " E_CREATED_COLS " "
    "FROM idem JOIN v ON idem.property_id <> v.id "
    "LEFT JOIN event_log e ON e.aggregate_id = idem.property_id "
        "AND e.type = 'property.created'";
#undef EXPIRED
// clang-format on

// $1 property id: the state its create returned (see E_CREATED_COLS).
// clang-format off
static const char sql_created[] =
    "SELECT " E_CREATED_COLS " "
    "FROM event_log e "
    "WHERE e.aggregate_id = $1::uuid AND e.type = 'property.created'";
// clang-format on

// $1 id
static const char sql_get[] = "SELECT " ROWMAP_PROPERTY_COLS " FROM properties WHERE id = $1::uuid";

// Update and delete lock the row first (cur), so the checks see the latest
// committed version, then change it only if owner and version match. Result:
// no row: not found; else the row's owner and version, then the new state
// (NULL when a check failed and nothing changed).
#define LOCK_CTE                                                                                   \
	"cur AS (SELECT id, owner_id, version FROM properties WHERE id = $1::uuid FOR UPDATE)"
#define CHECKS                                                                                     \
	"p.id = cur.id AND ($2::text IS NULL OR cur.owner_id = $2::text) "                         \
	"AND ($3::bigint = 0 OR cur.version = $3::bigint)"
#define SET_IF(col, bit, val)                                                                      \
	col " = CASE WHEN ($4::int & " bit ") <> 0 THEN " val " ELSE p." col " END, "

// $1 id $2 owner (NULL: any) $3 expected version (0: any) $4 mask (enum
// prop_field) $5 title $6 description $7 address $8 city $9 country
// $10 latitude $11 longitude $12 price $13 currency $14 bedrooms $15 status
// clang-format off
static const char sql_update[] =
    "WITH " LOCK_CTE ", "
    "v AS (SELECT " STORE_NOW_US_SQL " AS us), "
    "upd AS ("
        "UPDATE properties p SET "
            SET_IF("title", "1", "$5::text")
            SET_IF("description", "2", "$6::text")
            SET_IF("address", "4", "$7::text")
            SET_IF("city", "4", "$8::text")
            SET_IF("country_code", "4", "$9::text")
            SET_IF("latitude", "4", "$10::float8")
            SET_IF("longitude", "4", "$11::float8")
            SET_IF("price_cents", "8", "$12::bigint")
            SET_IF("currency", "16", "$13::text")
            SET_IF("bedrooms", "32", "$14::int")
            SET_IF("status", "64", "$15::smallint")
            "version = p.version + 1, updated_at_us = v.us "
        "FROM cur, v "
        "WHERE " CHECKS " "
        "RETURNING " P_COLS "), "
    EVENT_CTES("property.updated", "upd", "updated_at_us")
    "SELECT cur.owner_id, cur.version, upd.* "
    "FROM cur LEFT JOIN upd ON true";
// clang-format on

// $1 id $2 owner (NULL: any) $3 expected version (0: any)
// clang-format off
static const char sql_delete[] =
    "WITH " LOCK_CTE ", "
    "v AS (SELECT " STORE_NOW_US_SQL " AS us), "
    "del AS ("
        "DELETE FROM properties p USING cur "
        "WHERE " CHECKS " "
        "RETURNING " P_COLS "), "
    "gone AS (SELECT v.us AS at, del.* FROM del, v), "
    EVENT_CTES("property.deleted", "gone", "at")
    "SELECT cur.owner_id, cur.version, del.* "
    "FROM cur LEFT JOIN del ON true";
// clang-format on

// $1 owner $2 limit [$3 created_at_us $4 id of the previous page's last row]
#define LIST_HEAD "SELECT " ROWMAP_PROPERTY_COLS " FROM properties WHERE owner_id = $1::text "
#define LIST_TAIL "ORDER BY created_at_us DESC, id DESC LIMIT $2::int"
static const char sql_list_first[] = LIST_HEAD LIST_TAIL;
static const char sql_list_after[] =
    LIST_HEAD "AND (created_at_us, id) < ($3::bigint, $4::uuid) " LIST_TAIL;

// $1 after seq $2 type prefix $3 limit. Always one row at least (relay_state):
// last_seq, the oldest seq still in the log (NULL when the log is empty: one
// probe of event_seq's primary key), then ROWMAP_EVENT_COLS (NULL when no
// event matched). The caller refuses an after_seq whose next event was pruned.
// Seqs are in event_seq (seq, ins_id), joined to the row; event_log's own seq
// column is a legacy one, hence the qualified s.seq (the same columns and
// order as ROWMAP_EVENT_COLS).
// clang-format off
static const char sql_read_events[] =
    "SELECT r.last_seq, (SELECT min(seq) FROM event_seq) AS oldest_seq, e.* "
    "FROM relay_state r LEFT JOIN LATERAL ("
        "SELECT s.seq, id, l.type, occurred_at_us, aggregate_id, " ROWMAP_PROPERTY_FIELDS " "
        "FROM event_seq s JOIN event_log l ON l.ins_id = s.ins_id "
        "WHERE s.seq > $1::bigint AND starts_with(l.type, $2::text) "
        "ORDER BY s.seq LIMIT $3::int) e ON true "
    "WHERE r.id = 1";
// clang-format on

// The same with a non-empty $2: the pairs come from the (type, seq) index, the
// first $3 after $1 of each type starting with $2 (the types found by a skip
// scan: one probe per distinct type from $2 on), merged by seq. The work
// follows the page, not the number of events after $1 of other types. (Each
// type's rows are read as the next $3 entries of the (type, seq) index after
// (type, $1), keeping those of the type: with "type = t.type ... ORDER BY
// seq" the planner may walk the seq index instead and filter on the type,
// which reads the whole log for a rare type.)
// clang-format off
static const char sql_read_events_typed[] =
    "WITH RECURSIVE t(type) AS ("
        "(SELECT type FROM event_seq WHERE type >= $2::text ORDER BY type LIMIT 1) "
        "UNION ALL "
        "SELECT (SELECT s.type FROM event_seq s WHERE s.type > t.type ORDER BY s.type LIMIT 1) "
        "FROM t WHERE starts_with(t.type, $2::text)), "
    "p AS (SELECT q.seq, q.ins_id FROM t CROSS JOIN LATERAL ("
        "SELECT s.type, s.seq, s.ins_id FROM event_seq s "
        "WHERE (s.type, s.seq) > (t.type, $1::bigint) ORDER BY s.type, s.seq LIMIT $3::int) q "
        "WHERE q.type = t.type AND starts_with(t.type, $2::text) ORDER BY q.seq LIMIT $3::int) "
    "SELECT r.last_seq, (SELECT min(seq) FROM event_seq) AS oldest_seq, e.* "
    "FROM relay_state r LEFT JOIN LATERAL ("
        "SELECT p.seq, id, l.type, occurred_at_us, aggregate_id, " ROWMAP_PROPERTY_FIELDS " "
        "FROM p JOIN event_log l ON l.ins_id = p.ins_id ORDER BY p.seq) e ON true "
    "WHERE r.id = 1";
// clang-format on

static const struct {
	const char *name;
	const char *sql;
	int nparams;
	bool heavy; // a scan: apg's heavy lane
} stmts[REPO_SQL_N] = {
    [REPO_SQL_CREATE] = {"prop_create", sql_create, 14},
    [REPO_SQL_GET] = {"prop_get", sql_get, 1},
    [REPO_SQL_CREATED] = {"prop_created", sql_created, 1},
    [REPO_SQL_UPDATE] = {"prop_update", sql_update, 15},
    [REPO_SQL_DELETE] = {"prop_delete", sql_delete, 3},
    [REPO_SQL_LIST_FIRST] = {"prop_list_first", sql_list_first, 2},
    [REPO_SQL_LIST_AFTER] = {"prop_list_after", sql_list_after, 4},
    [REPO_SQL_READ_EVENTS] = {"events_read", sql_read_events, 3, true},
    [REPO_SQL_READ_EVENTS_TYPED] = {"events_read_typed", sql_read_events_typed, 3, true},
};

bool store_repo_sql_heavy(store_repo_sql_id id)
{
	return stmts[id].heavy;
}

const char *store_repo_sql_name(store_repo_sql_id id)
{
	return stmts[id].name;
}

const char *store_repo_sql_text(store_repo_sql_id id)
{
	return stmts[id].sql;
}

int store_repo_sql_nparams(store_repo_sql_id id)
{
	return stmts[id].nparams;
}

// ---- search -----------------------------------------------------------------------------

// The longest search SQL (all filters) is about 700 bytes.
#define SEARCH_SQL_MAX 1536

char *store_repo_sql_search(unsigned bits, int *nparams)
{
	char *s = malloc(SEARCH_SQL_MAX);
	if (s == NULL)
		return NULL;
	size_t len = 0;
	int n = 0;
#define ADD(...) len += (size_t)snprintf(s + len, SEARCH_SQL_MAX - len, __VA_ARGS__)
	ADD("SELECT " ROWMAP_PROPERTY_COLS " FROM properties WHERE true");
	if (bits & REPO_S_CITY)
		ADD(" AND lower(city) = lower($%d::text)", ++n);
	if (bits & REPO_S_COUNTRY)
		ADD(" AND country_code = $%d::text", ++n);
	if (bits & REPO_S_MINPRICE)
		ADD(" AND price_cents >= $%d::bigint", ++n);
	if (bits & REPO_S_MAXPRICE)
		ADD(" AND price_cents <= $%d::bigint", ++n);
	if (bits & REPO_S_BEDROOMS)
		ADD(" AND bedrooms >= $%d::int", ++n);
	if (bits & REPO_S_BBOX) {
		// The GiST index finds candidates (its box test is fuzzy by 1e-6);
		// the BETWEENs make the edges exact and inclusive.
		int a = n + 1, b = n + 2, c = n + 3, d = n + 4;
		n += 4;
		ADD(" AND point(longitude, latitude) <@ box(point($%d::float8, $%d::float8), "
		    "point($%d::float8, $%d::float8))"
		    " AND longitude BETWEEN $%d::float8 AND $%d::float8"
		    " AND latitude BETWEEN $%d::float8 AND $%d::float8",
		    a, b, c, d, a, c, b, d);
	}
	if (bits & REPO_S_STATUS)
		ADD(" AND status = $%d::smallint", ++n);
	if (bits & REPO_S_AFTER) {
		ADD(" AND (price_cents, id) > ($%d::bigint, $%d::uuid)", n + 1, n + 2);
		n += 2;
	}
	ADD(" ORDER BY price_cents, id LIMIT $%d::int", ++n);
#undef ADD
	*nparams = n;
	return s;
}

static void arg_str(store_repo_args *a, const char *v)
{
	a->v[a->n++] = v;
}

static void arg_i64(store_repo_args *a, int64_t x)
{
	snprintf(a->num[a->n], sizeof a->num[0], "%" PRId64, x);
	a->v[a->n] = a->num[a->n];
	a->n++;
}

// %.17g round-trips every double exactly.
static void arg_dbl(store_repo_args *a, double x)
{
	snprintf(a->num[a->n], sizeof a->num[0], "%.17g", x);
	a->v[a->n] = a->num[a->n];
	a->n++;
}

unsigned store_repo_args_search(store_repo_args *a, const prop_search_query *q,
                                const prop_cursor *after, uint32_t limit)
{
	unsigned bits = 0;
	a->n = 0;
	if (q->city && q->city[0]) {
		bits |= REPO_S_CITY;
		arg_str(a, q->city);
	}
	if (q->country_code && q->country_code[0]) {
		bits |= REPO_S_COUNTRY;
		arg_str(a, q->country_code);
	}
	if (q->min_price_cents > 0) {
		bits |= REPO_S_MINPRICE;
		arg_i64(a, q->min_price_cents);
	}
	if (q->max_price_cents > 0) {
		bits |= REPO_S_MAXPRICE;
		arg_i64(a, q->max_price_cents);
	}
	if (q->min_bedrooms > 0) {
		bits |= REPO_S_BEDROOMS;
		arg_i64(a, q->min_bedrooms);
	}
	if (q->has_bbox) {
		bits |= REPO_S_BBOX;
		arg_dbl(a, q->min_lon);
		arg_dbl(a, q->min_lat);
		arg_dbl(a, q->max_lon);
		arg_dbl(a, q->max_lat);
	}
	if (q->status != 0) {
		bits |= REPO_S_STATUS;
		arg_i64(a, q->status);
	}
	if (after != NULL) {
		bits |= REPO_S_AFTER;
		arg_i64(a, after->key);
		arg_str(a, after->id);
	}
	arg_i64(a, limit);
	return bits;
}

store_repo_sql_id store_repo_args_list(store_repo_args *a, const char *owner,
                                       const prop_cursor *after, uint32_t limit)
{
	a->n = 0;
	arg_str(a, owner);
	arg_i64(a, limit);
	if (after == NULL)
		return REPO_SQL_LIST_FIRST;
	arg_i64(a, after->key);
	arg_str(a, after->id);
	return REPO_SQL_LIST_AFTER;
}

static const Property__V1__Location no_location = PROPERTY__V1__LOCATION__INIT;

static void arg_loc(store_repo_args *a, const Property__V1__Location *loc)
{
	if (loc == NULL)
		loc = &no_location;
	arg_str(a, loc->address);
	arg_str(a, loc->city);
	arg_str(a, loc->country_code);
	arg_dbl(a, loc->latitude);
	arg_dbl(a, loc->longitude);
}

void store_repo_args_create(store_repo_args *a, const Property__V1__Property *p,
                            const char *idem_key, const char *request_hash)
{
	a->n = 0;
	arg_str(a, p->owner_id);
	arg_str(a, p->title);
	arg_str(a, p->description);
	arg_loc(a, p->location);
	arg_i64(a, p->price_cents);
	arg_str(a, p->currency);
	arg_i64(a, p->bedrooms);
	arg_i64(a, p->status);
	arg_str(a, idem_key);
	arg_str(a, request_hash ? request_hash : "");
}

void store_repo_args_update(store_repo_args *a, const char *id, const char *owner,
                            uint64_t expected_version, unsigned mask,
                            const Property__V1__Property *values)
{
	a->n = 0;
	arg_str(a, id);
	arg_str(a, owner);
	arg_i64(a, (int64_t)expected_version);
	arg_i64(a, mask);
	arg_str(a, values->title);
	arg_str(a, values->description);
	arg_loc(a, values->location);
	arg_i64(a, values->price_cents);
	arg_str(a, values->currency);
	arg_i64(a, values->bedrooms);
	arg_i64(a, values->status);
}

void store_repo_args_delete(store_repo_args *a, const char *id, const char *owner,
                            uint64_t expected_version)
{
	a->n = 0;
	arg_str(a, id);
	arg_str(a, owner);
	arg_i64(a, (int64_t)expected_version);
}

void store_repo_args_get(store_repo_args *a, const char *id)
{
	a->n = 0;
	arg_str(a, id);
}

void store_repo_args_events(store_repo_args *a, uint64_t after_seq, const char *type_prefix,
                            uint32_t limit)
{
	a->n = 0;
	arg_i64(a, (int64_t)after_seq);
	arg_str(a, type_prefix ? type_prefix : "");
	arg_i64(a, limit);
}
