#include "store/repo_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "store/rowmap.h"

struct repo_pg {
	pgpool *pool;
	pgpool_stmt stmts[REPO_SQL_N];
	pgpool_stmt search[REPO_SEARCH_VARIANTS];
	char search_names[REPO_SEARCH_VARIANTS][16];
	void (*on_commit)(void *arg); // after a committed write (wakes the relay)
	void *on_commit_arg;
};

void repo_pg_on_commit(repo_pg *r, void (*fn)(void *arg), void *arg)
{
	r->on_commit = fn;
	r->on_commit_arg = arg;
}

static void committed(const repo_pg *r)
{
	if (r->on_commit != NULL)
		r->on_commit(r->on_commit_arg);
}

int repo_pg_create(repo_pg **out, pgpool *pool, char *err, size_t errcap)
{
	*out = NULL;
	repo_pg *r = calloc(1, sizeof *r);
	if (r == NULL)
		goto oom;
	r->pool = pool;
	for (int i = 0; i < REPO_SQL_N; i++) {
		r->stmts[i].name = repo_sql_name((repo_sql_id)i);
		r->stmts[i].sql = repo_sql_text((repo_sql_id)i);
		r->stmts[i].nparams = repo_sql_nparams((repo_sql_id)i);
		if (pgpool_register(pool, &r->stmts[i]) != 0)
			goto full;
	}
	for (unsigned b = 0; b < REPO_SEARCH_VARIANTS; b++) {
		pgpool_stmt *s = &r->search[b];
		snprintf(r->search_names[b], sizeof r->search_names[b], "prop_search_%02x", b);
		s->name = r->search_names[b];
		s->sql = repo_sql_search(b, &s->nparams);
		if (s->sql == NULL)
			goto oom;
		if (pgpool_register(pool, s) != 0)
			goto full;
	}
	*out = r;
	return 0;
full:
	snprintf(err, errcap, "repo_pg: too many statements for the pool");
	repo_pg_destroy(r);
	return -1;
oom:
	snprintf(err, errcap, "repo_pg: out of memory");
	repo_pg_destroy(r);
	return -1;
}

void repo_pg_destroy(repo_pg *r)
{
	if (r == NULL)
		return;
	for (unsigned b = 0; b < REPO_SEARCH_VARIANTS; b++)
		free((char *)r->search[b].sql);
	free(r);
}

const pgpool_stmt *repo_pg_list_stmt(repo_pg *r, const char *owner, const prop_cursor *after,
                                     uint32_t limit, repo_args *args)
{
	return &r->stmts[repo_args_list(args, owner, after, limit)];
}

const pgpool_stmt *repo_pg_search_stmt(repo_pg *r, const prop_search_query *q,
                                       const prop_cursor *after, uint32_t limit, repo_args *args)
{
	return &r->search[repo_args_search(args, q, after, limit)];
}

// ---- helpers ----------------------------------------------------------------------------

static nrpc_code run(repo_pg *r, prop_ctx *ctx, const pgpool_stmt *s, const repo_args *a,
                     PGresult **res)
{
	if (a->n != s->nparams) { // a programming error: never reaches the database
		OBS_LOG(OBS_ERROR, "statement parameter count mismatch",
		        OBS_S("statement", s->name));
		snprintf(ctx->err, sizeof ctx->err, "internal error");
		return NRPC_INTERNAL;
	}
	return pgpool_query(r->pool, s, a->v, ctx->deadline_us, res, ctx->err, sizeof ctx->err);
}

static nrpc_code bad_row(prop_ctx *ctx, const char *statement)
{
	OBS_LOG(OBS_ERROR, "unreadable database row", OBS_S("statement", statement));
	snprintf(ctx->err, sizeof ctx->err, "internal error reading a row");
	return NRPC_INTERNAL;
}

static nrpc_code map_property(prop_ctx *ctx, const PGresult *res, int row, int col,
                              const char *statement, Property__V1__Property **out)
{
	if (rowmap_property(res, row, col, ctx->alloc, out) != 0)
		return bad_row(ctx, statement);
	return NRPC_OK;
}

// Maps every row of res (starting at column col) into a page in the arena.
static nrpc_code map_page(prop_ctx *ctx, const PGresult *res, int col, const char *statement,
                          prop_page *out)
{
	int n = PQntuples(res);
	if (n == 0)
		return NRPC_OK;
	out->items = prop_alloc(ctx, (size_t)n * sizeof *out->items);
	if (out->items == NULL)
		return bad_row(ctx, statement);
	for (int i = 0; i < n; i++) {
		nrpc_code rc = map_property(ctx, res, i, col, statement, &out->items[i]);
		if (rc != NRPC_OK)
			return rc;
		out->n++;
	}
	return NRPC_OK;
}

// ---- the port ---------------------------------------------------------------------------

// Reads one property row by id with statement `which` (the live row, or the
// snapshot its create returned).
static nrpc_code get_by(repo_pg *r, repo_sql_id which, prop_ctx *ctx, const char *id,
                        Property__V1__Property **out)
{
	repo_args a = {0};
	PGresult *res = NULL;
	*out = NULL;
	repo_args_get(&a, id);
	const pgpool_stmt *s = &r->stmts[which];
	nrpc_code rc = run(r, ctx, s, &a, &res);
	if (rc != NRPC_OK)
		return rc;
	if (PQntuples(res) == 0) {
		snprintf(ctx->err, sizeof ctx->err, "property not found");
		rc = NRPC_NOT_FOUND;
	} else {
		rc = map_property(ctx, res, 0, 0, s->name, out);
	}
	PQclear(res);
	return rc;
}

const pgpool_stmt *repo_pg_stmt(repo_pg *r, repo_sql_id id)
{
	return &r->stmts[id];
}

static nrpc_code pg_get(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out)
{
	return get_by(self, REPO_SQL_GET, ctx, id, out);
}

// A replay: the hash must match; the first result (the property.created
// snapshot, so later updates or a delete do not change what a retry sees) is
// read from the result or, when it committed after the create statement's
// snapshot, with a second query.
static nrpc_code replay(repo_pg *r, prop_ctx *ctx, const PGresult *res, const char *request_hash,
                        Property__V1__Property **out, bool *replayed)
{
	const char *s = r->stmts[REPO_SQL_CREATE].name;
	if (strcmp(PQgetvalue(res, 0, 1), request_hash ? request_hash : "") != 0) {
		snprintf(ctx->err, sizeof ctx->err,
		         "idempotency key already used with a different request");
		return NRPC_ALREADY_EXISTS;
	}
	nrpc_code rc = NRPC_OK;
	if (!PQgetisnull(res, 0, 3))
		rc = map_property(ctx, res, 0, 3, s, out);
	else
		rc = get_by(r, REPO_SQL_CREATED, ctx, PQgetvalue(res, 0, 2), out);
	if (rc == NRPC_NOT_FOUND) // only once the event log pruned it (EVENT_RETENTION)
		snprintf(ctx->err, sizeof ctx->err,
		         "the result of this idempotency key is no longer available");
	*replayed = rc == NRPC_OK;
	return rc;
}

static nrpc_code pg_create(void *self, prop_ctx *ctx, const Property__V1__Property *p,
                           const char *idem_key, const char *request_hash,
                           Property__V1__Property **out, bool *replayed)
{
	repo_pg *r = self;
	repo_args a = {0};
	PGresult *res = NULL;
	*out = NULL;
	*replayed = false;
	repo_args_create(&a, p, idem_key, request_hash);
	const pgpool_stmt *s = &r->stmts[REPO_SQL_CREATE];
	nrpc_code rc = run(r, ctx, s, &a, &res);
	if (rc != NRPC_OK)
		return rc;
	if (PQntuples(res) != 1)
		rc = bad_row(ctx, s->name);
	else if (strcmp(PQgetvalue(res, 0, 0), "created") == 0) {
		committed(r); // the row and its event are in, whatever the mapping says
		rc = map_property(ctx, res, 0, 3, s->name, out);
	} else {
		rc = replay(r, ctx, res, request_hash, out, replayed);
	}
	PQclear(res);
	return rc;
}

// The outcome of update and delete: columns 0 and 1 are the locked row's
// owner and version, then the changed row (NULL when a check failed).
static nrpc_code checked_write(prop_ctx *ctx, const PGresult *res, const char *statement,
                               const char *owner, uint64_t expected_version,
                               Property__V1__Property **out)
{
	if (PQntuples(res) == 0) {
		snprintf(ctx->err, sizeof ctx->err, "property not found");
		return NRPC_NOT_FOUND;
	}
	if (!PQgetisnull(res, 0, 2))
		return map_property(ctx, res, 0, 2, statement, out);
	if (owner != NULL && strcmp(owner, PQgetvalue(res, 0, 0)) != 0) {
		snprintf(ctx->err, sizeof ctx->err, "the property belongs to another owner");
		return NRPC_PERMISSION_DENIED;
	}
	if (expected_version != 0) {
		snprintf(ctx->err, sizeof ctx->err,
		         "version mismatch: expected %" PRIu64 ", current is %s", expected_version,
		         PQgetvalue(res, 0, 1));
		return NRPC_ABORTED;
	}
	return bad_row(ctx, statement);
}

// Runs an update or delete and applies its checks; a change that happened
// wakes the relay.
static nrpc_code run_checked(repo_pg *r, prop_ctx *ctx, repo_sql_id which, const repo_args *a,
                             const char *owner, uint64_t expected_version,
                             Property__V1__Property **out)
{
	PGresult *res = NULL;
	const pgpool_stmt *s = &r->stmts[which];
	*out = NULL;
	nrpc_code rc = run(r, ctx, s, a, &res);
	if (rc != NRPC_OK)
		return rc;
	rc = checked_write(ctx, res, s->name, owner, expected_version, out);
	if (rc == NRPC_OK)
		committed(r);
	PQclear(res);
	return rc;
}

static nrpc_code pg_update(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                           const char *owner, unsigned mask, const Property__V1__Property *values,
                           Property__V1__Property **out)
{
	repo_args a = {0};
	repo_args_update(&a, id, owner, expected_version, mask, values);
	return run_checked(self, ctx, REPO_SQL_UPDATE, &a, owner, expected_version, out);
}

static nrpc_code pg_remove(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                           const char *owner, Property__V1__Property **last)
{
	repo_args a = {0};
	repo_args_delete(&a, id, owner, expected_version);
	return run_checked(self, ctx, REPO_SQL_DELETE, &a, owner, expected_version, last);
}

// Runs a listing statement and maps its rows into a page.
static nrpc_code run_page(repo_pg *r, prop_ctx *ctx, const pgpool_stmt *s, const repo_args *a,
                          prop_page *out)
{
	PGresult *res = NULL;
	nrpc_code rc = run(r, ctx, s, a, &res);
	if (rc != NRPC_OK)
		return rc;
	rc = map_page(ctx, res, 0, s->name, out);
	PQclear(res);
	return rc;
}

static nrpc_code pg_list(void *self, prop_ctx *ctx, const char *owner, const prop_cursor *after,
                         uint32_t limit, prop_page *out)
{
	repo_args a = {0};
	*out = (prop_page){0};
	const pgpool_stmt *s = repo_pg_list_stmt(self, owner, after, limit, &a);
	return run_page(self, ctx, s, &a, out);
}

static nrpc_code pg_search(void *self, prop_ctx *ctx, const prop_search_query *q,
                           const prop_cursor *after, uint32_t limit, prop_page *out)
{
	repo_args a = {0};
	*out = (prop_page){0};
	const pgpool_stmt *s = repo_pg_search_stmt(self, q, after, limit, &a);
	return run_page(self, ctx, s, &a, out);
}

static nrpc_code pg_read_events(void *self, prop_ctx *ctx, uint64_t after_seq, uint32_t limit,
                                const char *type_prefix, Property__V1__Event ***events, size_t *n,
                                uint64_t *last_seq)
{
	repo_pg *r = self;
	repo_args a = {0};
	PGresult *res = NULL;
	*events = NULL;
	*n = 0;
	*last_seq = 0;
	repo_args_events(&a, after_seq, type_prefix, limit);
	const pgpool_stmt *s = &r->stmts[REPO_SQL_READ_EVENTS];
	nrpc_code rc = run(r, ctx, s, &a, &res);
	if (rc != NRPC_OK)
		return rc;
	int rows = PQntuples(res);
	if (rows == 0) {
		rc = bad_row(ctx, s->name); // relay_state always has its row
		goto done;
	}
	*last_seq = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	if (PQgetisnull(res, 0, 1))
		goto done; // no event matched
	*events = prop_alloc(ctx, (size_t)rows * sizeof **events);
	if (*events == NULL) {
		rc = bad_row(ctx, s->name);
		goto done;
	}
	for (int i = 0; i < rows; i++) {
		if (rowmap_event(res, i, 1, ctx->alloc, &(*events)[i]) != 0) {
			rc = bad_row(ctx, s->name);
			goto done;
		}
		(*n)++;
	}
done:
	PQclear(res);
	return rc;
}

static const prop_repo_ops ops = {
    .create = pg_create,
    .get = pg_get,
    .update = pg_update,
    .remove = pg_remove,
    .list_by_owner = pg_list,
    .search = pg_search,
    .read_events = pg_read_events,
};

prop_repo repo_pg_port(repo_pg *r)
{
	return (prop_repo){.ops = &ops, .self = r};
}
