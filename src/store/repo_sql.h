// store repo_sql: the SQL text of every repository statement and the
// parameters each call binds. Pure functions, no I/O: repo_pg runs them, and
// the EXPLAIN test plans exactly the same text with the same parameters.
//
// Every value reaches PostgreSQL as a bound parameter ($n, text format);
// the only SQL ever assembled at run time is the search's WHERE clause, from
// fixed fragments chosen by which filters are set.
#ifndef STORE_REPO_SQL_H
#define STORE_REPO_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "property/ports.h"

typedef enum store_repo_sql_id {
	REPO_SQL_CREATE,
	REPO_SQL_GET,
	REPO_SQL_CREATED, // a create's first result, for idempotent replays
	REPO_SQL_UPDATE,
	REPO_SQL_DELETE,
	REPO_SQL_LIST_FIRST, // owner listing, first page
	REPO_SQL_LIST_AFTER, // owner listing, keyset page
	REPO_SQL_READ_EVENTS,
	REPO_SQL_READ_EVENTS_TYPED,
	REPO_SQL_N
} store_repo_sql_id;

// Whether the statement is a scan, for apg's heavy lane (store_apg_stmt.heavy).
bool store_repo_sql_heavy(store_repo_sql_id id);
const char *store_repo_sql_name(store_repo_sql_id id);
const char *store_repo_sql_text(store_repo_sql_id id);
int store_repo_sql_nparams(store_repo_sql_id id);

// Search filter bits: one prepared statement per combination.
enum store_repo_search_bit {
	REPO_S_CITY = 1u << 0,
	REPO_S_COUNTRY = 1u << 1,
	REPO_S_MINPRICE = 1u << 2,
	REPO_S_MAXPRICE = 1u << 3,
	REPO_S_BEDROOMS = 1u << 4,
	REPO_S_BBOX = 1u << 5,
	REPO_S_STATUS = 1u << 6,
	REPO_S_AFTER = 1u << 7, // a keyset cursor
};
#define REPO_SEARCH_VARIANTS 256

// The search SQL for `bits`, malloc'd (the caller frees), or NULL (out of
// memory); *nparams is the number of its parameters.
char *store_repo_sql_search(unsigned bits, int *nparams);

// Bound parameters of one call; values point into `num` or into the inputs,
// which must outlive the args.
#define REPO_ARGS_MAX 16
typedef struct store_repo_args {
	int n;
	const char *v[REPO_ARGS_MAX];
	char num[REPO_ARGS_MAX][32];
} store_repo_args;

// Parameters of a create ($1..$14, see repo_sql.c). p->location may be NULL.
void store_repo_args_create(store_repo_args *a, const Property__V1__Property *p,
                            const char *idem_key, const char *request_hash);
// Parameters of an update ($1..$15); values->location may be NULL.
void store_repo_args_update(store_repo_args *a, const char *id, const char *owner,
                            uint64_t expected_version, unsigned mask,
                            const Property__V1__Property *values);
// Parameters of a delete ($1..$3).
void store_repo_args_delete(store_repo_args *a, const char *id, const char *owner,
                            uint64_t expected_version);
// Parameters of a get ($1) and of an event read ($1..$3).
void store_repo_args_get(store_repo_args *a, const char *id);
void store_repo_args_events(store_repo_args *a, uint64_t after_seq, const char *type_prefix,
                            uint32_t limit);

// Parameters of a search; returns its filter bits (the statement to run).
unsigned store_repo_args_search(store_repo_args *a, const prop_search_query *q,
                                const prop_cursor *after, uint32_t limit);
// Parameters of an owner listing; returns REPO_SQL_LIST_FIRST or _AFTER.
store_repo_sql_id store_repo_args_list(store_repo_args *a, const char *owner,
                                       const prop_cursor *after, uint32_t limit);

#endif
