// See repo_batch.h.
#include "store/repo_batch.h"

#include <stdlib.h>
#include <string.h>

#include "store/rowmap.h"
#include "store/schema.h"

// clang-format off
#define EXPIRED "k.created_at_us < excluded.created_at_us - " STORE_IDEM_TTL_US
static const char sql_create_batch[] =
    "WITH v AS ("
    "  SELECT t.*, gen_random_uuid() AS id, " STORE_NOW_US_SQL " AS us"
    "  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
    "              $7::float8[], $8::float8[], $9::bigint[], $10::text[], $11::int[],"
    "              $12::smallint[], $13::text[], $14::text[]) WITH ORDINALITY"
    "    AS t(o, ti, de, ad, ci, cc, la, lo, pr, cu, be, st, ky, hs, ord)), "
    "idem AS ("
    "  INSERT INTO idempotency_keys AS k (owner_id, key, request_hash, property_id, created_at_us)"
    "  SELECT v.o, v.ky, coalesce(v.hs, ''), v.id, v.us FROM v WHERE v.ky IS NOT NULL"
    "  ON CONFLICT (owner_id, key) DO UPDATE SET"
    "    request_hash = CASE WHEN " EXPIRED " THEN excluded.request_hash ELSE k.request_hash END,"
    "    property_id = CASE WHEN " EXPIRED " THEN excluded.property_id ELSE k.property_id END,"
    "    created_at_us = CASE WHEN " EXPIRED " THEN excluded.created_at_us"
    "                    ELSE k.created_at_us END"
    "  RETURNING k.owner_id, k.key, k.request_hash, k.property_id), "
    "ins AS ("
    "  INSERT INTO properties (" ROWMAP_PROPERTY_COLS ")"
    "  SELECT v.id, v.o, v.ti, v.de, v.ad, v.ci, v.cc, v.la, v.lo, v.pr, v.cu, v.be, v.st, 1,"
    "         v.us, v.us FROM v"
    "  WHERE v.ky IS NULL OR EXISTS (SELECT 1 FROM idem WHERE idem.property_id = v.id)"
    "  RETURNING " ROWMAP_PROPERTY_COLS "), "
    "ev AS ("
    "  INSERT INTO event_log (type, occurred_at_us, aggregate_id, " ROWMAP_PROPERTY_FIELDS ")"
    "  SELECT 'property.created', created_at_us, " ROWMAP_PROPERTY_COLS " FROM ins"
    "  RETURNING ins_id) "
    "SELECT v.ord, CASE WHEN ins.id IS NULL THEN 'replay' ELSE 'created' END,"
    "       idem.request_hash, idem.property_id, ins.*,"
    "       e.aggregate_id, e.owner_id, e.title, e.description, e.address, e.city,"
    "       e.country_code, e.latitude, e.longitude, e.price_cents, e.currency, e.bedrooms,"
    "       e.status, e.version, e.created_at_us, e.updated_at_us "
    "FROM v LEFT JOIN ins ON ins.id = v.id "
    "LEFT JOIN idem ON ins.id IS NULL AND idem.owner_id = v.o AND idem.key = v.ky "
    "LEFT JOIN event_log e ON e.aggregate_id = idem.property_id"
    "  AND e.type = 'property.created' "
    "ORDER BY v.ord";
#undef EXPIRED
// clang-format on

const char *store_repo_batch_sql(void)
{
	return sql_create_batch;
}

// Room for one element: quotes, a comma, and every byte escaped at worst.
static size_t element_room(const char *v)
{
	return v == NULL ? 5 : 2 * strlen(v) + 3;
}

// Appends one array element: NULL, or the value double-quoted with '"' and
// '\' escaped (the array input syntax), so any text survives.
static size_t put_element(char *dst, const char *v)
{
	size_t n = 0;
	if (v == NULL) {
		memcpy(dst, "NULL", 4);
		return 4;
	}
	dst[n++] = '"';
	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			dst[n++] = '\\';
		dst[n++] = *p;
	}
	dst[n++] = '"';
	return n;
}

int store_repo_batch_args_build(store_repo_batch_args *out, const store_repo_args *const *rows,
                                size_t n)
{
	memset(out, 0, sizeof *out);
	for (int col = 0; col < REPO_BATCH_NPARAMS; col++) {
		size_t room = 3;
		for (size_t i = 0; i < n; i++)
			room += element_room(rows[i]->v[col]) + 1;
		char *s = malloc(room);
		if (s == NULL) {
			store_repo_batch_args_free(out);
			return -1;
		}
		size_t len = 0;
		s[len++] = '{';
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				s[len++] = ',';
			len += put_element(s + len, rows[i]->v[col]);
		}
		s[len++] = '}';
		s[len] = '\0';
		out->v[col] = s;
	}
	return 0;
}

void store_repo_batch_args_free(store_repo_batch_args *a)
{
	for (int col = 0; col < REPO_BATCH_NPARAMS; col++) {
		free(a->v[col]);
		a->v[col] = NULL;
	}
}
