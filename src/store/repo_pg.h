// store repo_pg: the property repository (src/property/ports.h) on PostgreSQL.
//
// Every call is one statement on a pooled connection (pgpool), one network
// round trip; a write and its event-log row (and idempotency record) commit
// together, and the relay is woken by NOTIFY at commit. See repo_sql.c for
// the SQL and the reasoning of each statement.
//
// Idempotent replay: a create whose (owner, key) was recorded less than 24 h
// ago with the same request hash returns the property's current state with
// *replayed set; if that property has since been deleted it returns
// NOT_FOUND (the key still protects against a second create).
//
// Errors: nrpc_code with a message in ctx->err (see pgerr.h for how database
// failures map). Threads: thread-safe; every call blocks up to ctx->deadline_us.
// Memory: results are allocated in ctx->alloc.
#ifndef STORE_REPO_PG_H
#define STORE_REPO_PG_H

#include <stddef.h>

#include "property/ports.h"
#include "store/pgpool.h"
#include "store/repo_sql.h"

typedef struct repo_pg repo_pg;

// Registers the statements on `pool` (borrowed; it must outlive the repo).
// 0, or -1 with a reason in err.
int repo_pg_create(repo_pg **out, pgpool *pool, char *err, size_t errcap);
void repo_pg_destroy(repo_pg *r);
// Sets a function called on the writing worker's thread after every write
// that committed (and so appended an event): app wakes the event relay with
// it. It must not block. Set before the repository is shared; NULL: none.
void repo_pg_on_commit(repo_pg *r, void (*fn)(void *arg), void *arg);

// The port for the domain; valid while r lives.
prop_repo repo_pg_port(repo_pg *r);

// The statement (and its parameters, in *args) that list_by_owner / search
// run for these inputs: for EXPLAIN tests of the production SQL.
// The registered statement `id` (tests EXPLAIN exactly what production runs).
const pgpool_stmt *repo_pg_stmt(repo_pg *r, repo_sql_id id);
const pgpool_stmt *repo_pg_list_stmt(repo_pg *r, const char *owner, const prop_cursor *after,
                                     uint32_t limit, repo_args *args);
const pgpool_stmt *repo_pg_search_stmt(repo_pg *r, const prop_search_query *q,
                                       const prop_cursor *after, uint32_t limit, repo_args *args);

#endif
