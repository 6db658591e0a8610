// store repo_batch: the SQL and parameters of a group commit -- many
// CreateProperty calls written by one statement in one transaction.
//
// One multi-row statement takes every column as a text array ($1..$14, in
// the order of the single create's parameters, see repo_sql.c), unnests them
// WITH ORDINALITY and does for each row what the single create does: the
// idempotency record (upserted), the property row and its property.created
// event. It returns one row per input row, in input order:
//   0 ord (1-based)   1 outcome 'created' | 'replay'
//   2 request_hash    3 property_id            (replay: the recorded ones)
//   4..19  the inserted row (ROWMAP_PROPERTY_COLS), NULL for a replay
//   20..35 a replay's property.created snapshot, NULL when not visible to
//          this statement (it committed after the statement began)
// Two rows with the same (owner, key) must not share a batch (PostgreSQL
// cannot upsert one row twice in a statement): the batcher keeps them apart.
//
// Pure: no I/O. Memory: store_repo_batch_args allocates with malloc; free with
// store_repo_batch_args_free.
#ifndef STORE_REPO_BATCH_H
#define STORE_REPO_BATCH_H

#include <stddef.h>

#include "store/repo_sql.h"

#define REPO_BATCH_NPARAMS      14
#define REPO_BATCH_COL_ROW      4
#define REPO_BATCH_COL_SNAPSHOT 20

const char *store_repo_batch_sql(void);

typedef struct store_repo_batch_args {
	char *v[REPO_BATCH_NPARAMS]; // text-format array literals, malloc'd
} store_repo_batch_args;

// The arrays for n creates, from their single-create parameters (store_repo_args
// of store_repo_args_create). 0, or -1 when out of memory (nothing left allocated).
int store_repo_batch_args_build(store_repo_batch_args *out, const store_repo_args *const *rows,
                                size_t n);
void store_repo_batch_args_free(store_repo_batch_args *a);

#endif
