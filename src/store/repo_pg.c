// See repo_pg.h.
#include "store/repo_pg_int.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "store/repo_batch.h"
#include "store/rowmap.h"

void store_repo_committed(const store_repo_pg *r)
{
	if (r->on_commit != NULL)
		r->on_commit(r->on_commit_arg);
}

void store_repo_end(rq *q, nrpc_code rc)
{
	q->k(q->ctx, rc);
}

void store_repo_fail(rq *q, nrpc_code rc, const char *msg)
{
	snprintf(q->ctx->err, sizeof q->ctx->err, "%s", msg);
	store_repo_end(q, rc);
}

void store_repo_bad_row(rq *q)
{
	OBS_LOG(OBS_ERROR, "unreadable database row", OBS_S("statement", q->stmt_name));
	store_repo_fail(q, NRPC_INTERNAL, "internal error reading a row");
}

// ---- running one statement ---------------------------------------------------------------

static void rq_done(store_apg_query *aq, nrpc_code code, PGresult *res, const char *err)
{
	rq *q = aq->arg;
	if (code != NRPC_OK) {
		store_repo_fail(q, code, err != NULL ? err : nrpc_code_name(code));
		return;
	}
	q->on_result(q, res);
	PQclear(res);
}

void store_repo_submit(rq *q, const store_apg_stmt *s, void (*on_result)(rq *, const PGresult *))
{
	if (q->a.n != s->nparams) { // a programming error: never reaches the database
		OBS_LOG(OBS_ERROR, "statement parameter count mismatch",
		        OBS_S("statement", s->name));
		store_repo_fail(q, NRPC_INTERNAL, "internal error");
		return;
	}
	q->stmt_name = s->name;
	q->on_result = on_result;
	q->q.stmt = s;
	q->q.values = q->a.v;
	q->q.deadline_us = q->ctx->deadline_us;
	q->q.done = rq_done;
	q->q.arg = q;
	store_apg_submit(q->sh->db, &q->q);
}

rq *store_repo_rq_new(store_repo_pg *r, prop_ctx *ctx, prop_k k)
{
	rq *q = prop_alloc(ctx, sizeof *q);
	memset(q, 0, sizeof *q);
	q->sh = &r->shards[ctx->shard < r->nshards ? ctx->shard : 0];
	q->ctx = ctx;
	q->k = k;
	return q;
}

bool store_repo_map_property(rq *q, const PGresult *res, int row, int col,
                             Property__V1__Property **out)
{
	if (store_rowmap_property(res, row, col, q->ctx->alloc, out) != 0) {
		store_repo_bad_row(q);
		return false;
	}
	return true;
}

// ---- reads -------------------------------------------------------------------------------

static void got_row(rq *q, const PGresult *res)
{
	if (PQntuples(res) == 0) {
		store_repo_fail(q, NRPC_NOT_FOUND, "property not found");
		return;
	}
	if (store_repo_map_property(q, res, 0, 0, q->out))
		store_repo_end(q, NRPC_OK);
}

static void pg_get(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out,
                   prop_k k)
{
	rq *q = store_repo_rq_new(self, ctx, k);
	*out = NULL;
	q->out = out;
	store_repo_args_get(&q->a, id);
	store_repo_submit(q, &q->sh->stmts[REPO_SQL_GET], got_row);
}

static void got_page(rq *q, const PGresult *res)
{
	int n = PQntuples(res);
	prop_page *out = q->page;
	if (n > 0)
		out->items = prop_alloc(q->ctx, (size_t)n * sizeof *out->items);
	for (int i = 0; i < n; i++) {
		if (!store_repo_map_property(q, res, i, 0, &out->items[i]))
			return;
		out->n++;
	}
	store_repo_end(q, NRPC_OK);
}

static void pg_list(void *self, prop_ctx *ctx, const char *owner, const prop_cursor *after,
                    uint32_t limit, prop_page *out, prop_k k)
{
	rq *q = store_repo_rq_new(self, ctx, k);
	*out = (prop_page){0};
	q->page = out;
	// The cursor may live on the caller's stack: its values are copied into
	// q->a's buffers or point at the arena-held page token's fields.
	prop_cursor *cur = NULL;
	if (after != NULL) {
		cur = prop_alloc(ctx, sizeof *cur);
		*cur = *after;
	}
	store_repo_submit(q, &q->sh->stmts[store_repo_args_list(&q->a, owner, cur, limit)],
	                  got_page);
}

static void pg_search(void *self, prop_ctx *ctx, const prop_search_query *qry,
                      const prop_cursor *after, uint32_t limit, prop_page *out, prop_k k)
{
	rq *q = store_repo_rq_new(self, ctx, k);
	*out = (prop_page){0};
	q->page = out;
	prop_cursor *cur = NULL;
	if (after != NULL) {
		cur = prop_alloc(ctx, sizeof *cur);
		*cur = *after;
	}
	// String filters point into the request message (the arena); numbers
	// are formatted into q->a: nothing refers to the caller's stack.
	store_repo_submit(q, &q->sh->search[store_repo_args_search(&q->a, qry, cur, limit)],
	                  got_page);
}

static void got_events(rq *q, const PGresult *res)
{
	int rows = PQntuples(res);
	if (rows == 0) {
		store_repo_bad_row(q); // relay_state always has its row
		return;
	}
	uint64_t last = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	*q->last_seq = last;
	// Retention (docs/contract.md section 6): when the event right after after_seq
	// was pruned, the reader would silently miss events: 11 OUT_OF_RANGE.
	// Seqs start at 1 and are gap-free, so events were pruned iff the oldest
	// kept seq is above 1, or the log is empty while seqs were handed out.
	bool empty = PQgetisnull(res, 0, 1);
	uint64_t oldest = empty ? last + 1 : strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	if (oldest > 1 && q->after_seq < oldest - 1) {
		if (empty)
			snprintf(q->ctx->err, sizeof q->ctx->err,
			         "events after seq %" PRIu64
			         " were pruned; none is kept (last seq %" PRIu64 ")",
			         q->after_seq, last);
		else
			snprintf(q->ctx->err, sizeof q->ctx->err,
			         "events after seq %" PRIu64
			         " were pruned; the oldest kept is %" PRIu64,
			         q->after_seq, oldest);
		store_repo_end(q, NRPC_OUT_OF_RANGE);
		return;
	}
	if (!PQgetisnull(res, 0, 2)) {
		Property__V1__Event **ev = prop_alloc(q->ctx, (size_t)rows * sizeof *ev);
		for (int i = 0; i < rows; i++) {
			if (store_rowmap_event(res, i, 2, q->ctx->alloc, &ev[i]) != 0) {
				store_repo_bad_row(q);
				return;
			}
		}
		*q->events = ev;
		*q->n_events = (size_t)rows;
	}
	store_repo_end(q, NRPC_OK);
}

static void pg_read_events(void *self, prop_ctx *ctx, uint64_t after_seq, uint32_t limit,
                           const char *type_prefix, Property__V1__Event ***events, size_t *n,
                           uint64_t *last_seq, prop_k k)
{
	rq *q = store_repo_rq_new(self, ctx, k);
	*events = NULL;
	*n = 0;
	*last_seq = 0;
	q->events = events;
	q->n_events = n;
	q->last_seq = last_seq;
	q->after_seq = after_seq;
	store_repo_args_events(&q->a, after_seq, type_prefix, limit);
	bool typed = type_prefix != NULL && type_prefix[0] != '\0';
	store_repo_submit(q,
	                  &q->sh->stmts[typed ? REPO_SQL_READ_EVENTS_TYPED : REPO_SQL_READ_EVENTS],
	                  got_events);
}

// ---- update, delete ----------------------------------------------------------------------

// Columns 0 and 1 are the locked row's owner and version, then the changed
// row (NULL when a check failed).
static void got_checked(rq *q, const PGresult *res)
{
	if (PQntuples(res) == 0) {
		store_repo_fail(q, NRPC_NOT_FOUND, "property not found");
		return;
	}
	if (!PQgetisnull(res, 0, 2)) {
		store_repo_committed(q->sh->r);
		if (store_repo_map_property(q, res, 0, 2, q->out))
			store_repo_end(q, NRPC_OK);
		return;
	}
	if (q->owner != NULL && strcmp(q->owner, PQgetvalue(res, 0, 0)) != 0) {
		store_repo_fail(q, NRPC_PERMISSION_DENIED, "the property belongs to another owner");
		return;
	}
	if (q->expected_version != 0) {
		snprintf(q->ctx->err, sizeof q->ctx->err,
		         "version mismatch: expected %" PRIu64 ", current is %s",
		         q->expected_version, PQgetvalue(res, 0, 1));
		store_repo_end(q, NRPC_ABORTED);
		return;
	}
	store_repo_bad_row(q);
}

static void pg_update(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                      const char *owner, unsigned mask, const Property__V1__Property *values,
                      Property__V1__Property **out, prop_k k)
{
	rq *q = store_repo_rq_new(self, ctx, k);
	*out = NULL;
	q->out = out;
	q->owner = owner;
	q->expected_version = expected_version;
	store_repo_args_update(&q->a, id, owner, expected_version, mask, values);
	store_repo_submit(q, &q->sh->stmts[REPO_SQL_UPDATE], got_checked);
}

static void pg_remove(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                      const char *owner, Property__V1__Property **last, prop_k k)
{
	rq *q = store_repo_rq_new(self, ctx, k);
	*last = NULL;
	q->out = last;
	q->owner = owner;
	q->expected_version = expected_version;
	store_repo_args_delete(&q->a, id, owner, expected_version);
	store_repo_submit(q, &q->sh->stmts[REPO_SQL_DELETE], got_checked);
}

static const prop_repo_ops ops = {
    .create = store_repo_group_create,
    .get = pg_get,
    .update = pg_update,
    .remove = pg_remove,
    .list_by_owner = pg_list,
    .search = pg_search,
    .read_events = pg_read_events,
};

prop_repo store_repo_pg_port(store_repo_pg *r)
{
	return (prop_repo){.ops = &ops, .self = r};
}

// ---- life cycle --------------------------------------------------------------------------

// heavy: a scan (searches, event reads), in apg's heavy lane so that gets,
// owner pages and writes never wait behind it (store_apg_stmt.heavy).
static int add(struct shard *sh, store_apg_stmt *s, const char *name, const char *label,
               const char *sql, int nparams, bool heavy)
{
	s->name = name;
	s->label = label;
	s->sql = sql;
	s->nparams = nparams;
	s->heavy = heavy;
	return store_apg_register(sh->db, s);
}

static int shard_init(store_repo_pg *r, struct shard *sh, store_apg *db, struct event_base *base)
{
	sh->r = r;
	sh->db = db;
	sh->base = base;
	sh->flush_ev = event_new(base, -1, 0, store_repo_group_on_flush, sh);
	if (sh->flush_ev == NULL)
		return -1;
	for (int i = 0; i < REPO_SQL_N; i++) {
		store_repo_sql_id id = (store_repo_sql_id)i;
		if (add(sh, &sh->stmts[i], store_repo_sql_name(id), NULL, store_repo_sql_text(id),
		        store_repo_sql_nparams(id), store_repo_sql_heavy(id)) != 0)
			return -1;
	}
	// One prepared statement per filter combination, one metric family.
	for (unsigned b = 0; b < REPO_SEARCH_VARIANTS; b++)
		if (add(sh, &sh->search[b], r->search_names[b], "prop_search", r->search_sql[b],
		        r->search_nparams[b], true) != 0)
			return -1;
	return add(sh, &sh->batch, "prop_create_batch", NULL, store_repo_batch_sql(),
	           REPO_BATCH_NPARAMS, false);
}

int store_repo_pg_create(store_repo_pg **out, const store_repo_pg_config *cfg, char *err,
                         size_t errcap)
{
	*out = NULL;
	if (cfg->nshards == 0 || cfg->nshards > REPO_PG_MAX_SHARDS) {
		snprintf(err, errcap, "repo_pg: 1 to %d shards", REPO_PG_MAX_SHARDS);
		return -1;
	}
	store_repo_pg *r = calloc(1, sizeof *r);
	if (r == NULL)
		goto oom;
	r->nshards = cfg->nshards;
	r->batch_max = cfg->batch_max == 0 ? REPO_PG_DEFAULT_BATCH : cfg->batch_max;
	if (r->batch_max > REPO_PG_MAX_BATCH)
		r->batch_max = REPO_PG_MAX_BATCH;
	r->max_inflight =
	    cfg->batches_in_flight == 0 ? REPO_PG_DEFAULT_INFLIGHT : cfg->batches_in_flight;
	r->on_commit = cfg->on_commit;
	r->on_commit_arg = cfg->on_commit_arg;
	for (unsigned b = 0; b < REPO_SEARCH_VARIANTS; b++) {
		snprintf(r->search_names[b], sizeof r->search_names[b], "prop_search_%02x", b);
		r->search_sql[b] = store_repo_sql_search(b, &r->search_nparams[b]);
		if (r->search_sql[b] == NULL)
			goto oom;
	}
	r->shards = calloc(cfg->nshards, sizeof *r->shards);
	if (r->shards == NULL)
		goto oom;
	for (unsigned i = 0; i < cfg->nshards; i++) {
		if (shard_init(r, &r->shards[i], cfg->pools[i], cfg->bases[i]) != 0) {
			snprintf(err, errcap, "repo_pg: cannot register the statements");
			store_repo_pg_destroy(r);
			return -1;
		}
	}
	*out = r;
	return 0;
oom:
	snprintf(err, errcap, "repo_pg: out of memory");
	store_repo_pg_destroy(r);
	return -1;
}

void store_repo_pg_destroy(store_repo_pg *r)
{
	if (r == NULL)
		return;
	if (r->shards != NULL)
		for (unsigned i = 0; i < r->nshards; i++)
			if (r->shards[i].flush_ev != NULL)
				event_free(r->shards[i].flush_ev);
	free(r->shards);
	for (unsigned b = 0; b < REPO_SEARCH_VARIANTS; b++)
		free(r->search_sql[b]);
	free(r);
}

const store_apg_stmt *store_repo_pg_stmt(store_repo_pg *r, store_repo_sql_id id)
{
	return &r->shards[0].stmts[id];
}

const store_apg_stmt *store_repo_pg_list_stmt(store_repo_pg *r, const char *owner,
                                              const prop_cursor *after, uint32_t limit,
                                              store_repo_args *args)
{
	return &r->shards[0].stmts[store_repo_args_list(args, owner, after, limit)];
}

const store_apg_stmt *store_repo_pg_search_stmt(store_repo_pg *r, const prop_search_query *q,
                                                const prop_cursor *after, uint32_t limit,
                                                store_repo_args *args)
{
	return &r->shards[0].search[store_repo_args_search(args, q, after, limit)];
}
