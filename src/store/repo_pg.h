// store repo_pg: the property repository (src/property/ports.h) on
// PostgreSQL, asynchronous: statements go through apg (libpq pipelines on
// the event loops), so no thread waits for the database.
//
// Shards: one apg pool per event loop. A call runs on the shard its
// ctx->shard names, on that loop's thread, and its continuation runs there.
//
// Writes: update and delete are one statement each; a write and its
// event-log row commit together. Creates are group-committed: concurrent
// creates of one shard are gathered while earlier batches of that shard are
// still in flight and written by one multi-row statement (repo_batch.h), up
// to batch_max rows. With nothing in flight a create goes at once, so a
// lone create waits for nobody. Every caller gets its own outcome (created,
// replay, ALREADY_EXISTS); if a batch fails as a whole for a reason that is
// not the database's availability (a constraint, say), its creates are
// retried one by one, so one bad row never fails the others. A create whose
// deadline passed before its batch was sent is answered DEADLINE_EXCEEDED
// and never written.
//
// Idempotent replay: a create whose (owner, key) was recorded less than 24 h
// ago with the same request hash returns the create's first result (its
// property.created snapshot) with *replayed set; another hash is
// ALREADY_EXISTS. See repo_sql.c and repo_batch.c for the SQL.
//
// Errors: nrpc_code with a message in ctx->err (pgerr.h maps database
// failures). Memory: results are allocated in ctx->alloc; a batch's
// parameters are malloc'd and freed when it completes.
#ifndef STORE_REPO_PG_H
#define STORE_REPO_PG_H

#include <stddef.h>

#include "property/ports.h"
#include "store/apg.h"
#include "store/repo_sql.h"

struct event_base;

#define REPO_PG_MAX_SHARDS       64
#define REPO_PG_MAX_BATCH        256
#define REPO_PG_DEFAULT_BATCH    32 // creates per statement at most
#define REPO_PG_DEFAULT_INFLIGHT 1  // batches in flight per shard before creates gather

typedef struct store_repo_pg store_repo_pg;

typedef struct store_repo_pg_config {
	store_apg *const *pools;         // one per shard, borrowed
	struct event_base *const *bases; // the loop of each shard, borrowed
	unsigned nshards;                // 1..REPO_PG_MAX_SHARDS
	unsigned batch_max;              // 0: REPO_PG_DEFAULT_BATCH; 1 disables batching
	unsigned batches_in_flight;      // 0: REPO_PG_DEFAULT_INFLIGHT
	void (*on_commit)(void *arg);    // after every committed write (wakes the relay); any
	void *on_commit_arg;             //   loop thread; must not block. NULL: none
} store_repo_pg_config;

// Registers the statements with every pool. Call before the loops run (or on
// the loop of a single shard). 0, or -1 with a reason in err.
int store_repo_pg_create(store_repo_pg **out, const store_repo_pg_config *cfg, char *err,
                         size_t errcap);
// After the loops stopped and the pools are destroyed.
void store_repo_pg_destroy(store_repo_pg *r);

// The port for the domain; valid while r lives.
prop_repo store_repo_pg_port(store_repo_pg *r);

// The statements of shard 0 that a call with these inputs runs (and its
// parameters, in *args): for EXPLAIN tests of exactly the production SQL.
const store_apg_stmt *store_repo_pg_stmt(store_repo_pg *r, store_repo_sql_id id);
const store_apg_stmt *store_repo_pg_list_stmt(store_repo_pg *r, const char *owner,
                                              const prop_cursor *after, uint32_t limit,
                                              store_repo_args *args);
const store_apg_stmt *store_repo_pg_search_stmt(store_repo_pg *r, const prop_search_query *q,
                                                const prop_cursor *after, uint32_t limit,
                                                store_repo_args *args);

#endif
