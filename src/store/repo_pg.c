// See repo_pg.h.
#include "store/repo_pg.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "store/pgconn.h"
#include "store/repo_batch.h"
#include "store/rowmap.h"

struct rq;

struct shard {
	store_repo_pg *r;
	store_apg *db;
	struct event_base *base;
	store_apg_stmt stmts[REPO_SQL_N];
	store_apg_stmt search[REPO_SEARCH_VARIANTS];
	store_apg_stmt batch;
	struct rq *pend_head, *pend_tail; // creates waiting for a batch
	size_t npend;
	unsigned inflight; // batches sent, not answered
	struct event *flush_ev;
	bool flush_armed;
};

struct store_repo_pg {
	struct shard *shards;
	unsigned nshards;
	unsigned batch_max;
	unsigned max_inflight;
	char search_names[REPO_SEARCH_VARIANTS][16];
	char *search_sql[REPO_SEARCH_VARIANTS];
	int search_nparams[REPO_SEARCH_VARIANTS];
	void (*on_commit)(void *arg);
	void *on_commit_arg;
};

// One call of the port, in the request arena.
typedef struct rq {
	store_apg_query q;
	store_repo_args a;
	struct shard *sh;
	prop_ctx *ctx;
	prop_k k;
	void (*on_result)(struct rq *rq, const PGresult *res); // maps an OK result, ends
	const char *stmt_name;
	// outputs and what checking them needs
	Property__V1__Property **out;
	bool *replayed;
	const char *request_hash;
	const char *idem_key;
	const char *owner;
	uint64_t expected_version;
	prop_page *page;
	Property__V1__Event ***events;
	size_t *n_events;
	uint64_t *last_seq;
	uint64_t after_seq; // read_events: refuse when the event after it was pruned
	struct rq *next;    // in the shard's pending creates
} rq;

// A group commit in flight (malloc'd: it outlives no request, but belongs to
// none).
typedef struct batch {
	store_apg_query q;
	store_repo_batch_args args;
	struct shard *sh;
	size_t n;
	rq *members[];
} batch;

static void committed(const store_repo_pg *r)
{
	if (r->on_commit != NULL)
		r->on_commit(r->on_commit_arg);
}

static void end(rq *q, nrpc_code rc)
{
	q->k(q->ctx, rc);
}

static void fail(rq *q, nrpc_code rc, const char *msg)
{
	snprintf(q->ctx->err, sizeof q->ctx->err, "%s", msg);
	end(q, rc);
}

static void bad_row(rq *q)
{
	OBS_LOG(OBS_ERROR, "unreadable database row", OBS_S("statement", q->stmt_name));
	fail(q, NRPC_INTERNAL, "internal error reading a row");
}

// ---- running one statement ---------------------------------------------------------------

static void rq_done(store_apg_query *aq, nrpc_code code, PGresult *res, const char *err)
{
	rq *q = aq->arg;
	if (code != NRPC_OK) {
		fail(q, code, err != NULL ? err : nrpc_code_name(code));
		return;
	}
	q->on_result(q, res);
	PQclear(res);
}

static void submit(rq *q, const store_apg_stmt *s, void (*on_result)(rq *, const PGresult *))
{
	if (q->a.n != s->nparams) { // a programming error: never reaches the database
		OBS_LOG(OBS_ERROR, "statement parameter count mismatch",
		        OBS_S("statement", s->name));
		fail(q, NRPC_INTERNAL, "internal error");
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

static rq *rq_new(store_repo_pg *r, prop_ctx *ctx, prop_k k)
{
	rq *q = prop_alloc(ctx, sizeof *q);
	memset(q, 0, sizeof *q);
	q->sh = &r->shards[ctx->shard < r->nshards ? ctx->shard : 0];
	q->ctx = ctx;
	q->k = k;
	return q;
}

static bool map_property(rq *q, const PGresult *res, int row, int col, Property__V1__Property **out)
{
	if (store_rowmap_property(res, row, col, q->ctx->alloc, out) != 0) {
		bad_row(q);
		return false;
	}
	return true;
}

// ---- reads -------------------------------------------------------------------------------

static void got_row(rq *q, const PGresult *res)
{
	if (PQntuples(res) == 0) {
		fail(q, NRPC_NOT_FOUND, "property not found");
		return;
	}
	if (map_property(q, res, 0, 0, q->out))
		end(q, NRPC_OK);
}

static void pg_get(void *self, prop_ctx *ctx, const char *id, Property__V1__Property **out,
                   prop_k k)
{
	rq *q = rq_new(self, ctx, k);
	*out = NULL;
	q->out = out;
	store_repo_args_get(&q->a, id);
	submit(q, &q->sh->stmts[REPO_SQL_GET], got_row);
}

static void got_page(rq *q, const PGresult *res)
{
	int n = PQntuples(res);
	prop_page *out = q->page;
	if (n > 0)
		out->items = prop_alloc(q->ctx, (size_t)n * sizeof *out->items);
	for (int i = 0; i < n; i++) {
		if (!map_property(q, res, i, 0, &out->items[i]))
			return;
		out->n++;
	}
	end(q, NRPC_OK);
}

static void pg_list(void *self, prop_ctx *ctx, const char *owner, const prop_cursor *after,
                    uint32_t limit, prop_page *out, prop_k k)
{
	rq *q = rq_new(self, ctx, k);
	*out = (prop_page){0};
	q->page = out;
	// The cursor may live on the caller's stack: its values are copied into
	// q->a's buffers or point at the arena-held page token's fields.
	prop_cursor *cur = NULL;
	if (after != NULL) {
		cur = prop_alloc(ctx, sizeof *cur);
		*cur = *after;
	}
	submit(q, &q->sh->stmts[store_repo_args_list(&q->a, owner, cur, limit)], got_page);
}

static void pg_search(void *self, prop_ctx *ctx, const prop_search_query *qry,
                      const prop_cursor *after, uint32_t limit, prop_page *out, prop_k k)
{
	rq *q = rq_new(self, ctx, k);
	*out = (prop_page){0};
	q->page = out;
	prop_cursor *cur = NULL;
	if (after != NULL) {
		cur = prop_alloc(ctx, sizeof *cur);
		*cur = *after;
	}
	// String filters point into the request message (the arena); numbers
	// are formatted into q->a: nothing refers to the caller's stack.
	submit(q, &q->sh->search[store_repo_args_search(&q->a, qry, cur, limit)], got_page);
}

static void got_events(rq *q, const PGresult *res)
{
	int rows = PQntuples(res);
	if (rows == 0) {
		bad_row(q); // relay_state always has its row
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
		end(q, NRPC_OUT_OF_RANGE);
		return;
	}
	if (!PQgetisnull(res, 0, 2)) {
		Property__V1__Event **ev = prop_alloc(q->ctx, (size_t)rows * sizeof *ev);
		for (int i = 0; i < rows; i++) {
			if (store_rowmap_event(res, i, 2, q->ctx->alloc, &ev[i]) != 0) {
				bad_row(q);
				return;
			}
		}
		*q->events = ev;
		*q->n_events = (size_t)rows;
	}
	end(q, NRPC_OK);
}

static void pg_read_events(void *self, prop_ctx *ctx, uint64_t after_seq, uint32_t limit,
                           const char *type_prefix, Property__V1__Event ***events, size_t *n,
                           uint64_t *last_seq, prop_k k)
{
	rq *q = rq_new(self, ctx, k);
	*events = NULL;
	*n = 0;
	*last_seq = 0;
	q->events = events;
	q->n_events = n;
	q->last_seq = last_seq;
	q->after_seq = after_seq;
	store_repo_args_events(&q->a, after_seq, type_prefix, limit);
	bool typed = type_prefix != NULL && type_prefix[0] != '\0';
	submit(q, &q->sh->stmts[typed ? REPO_SQL_READ_EVENTS_TYPED : REPO_SQL_READ_EVENTS],
	       got_events);
}

// ---- update, delete ----------------------------------------------------------------------

// Columns 0 and 1 are the locked row's owner and version, then the changed
// row (NULL when a check failed).
static void got_checked(rq *q, const PGresult *res)
{
	if (PQntuples(res) == 0) {
		fail(q, NRPC_NOT_FOUND, "property not found");
		return;
	}
	if (!PQgetisnull(res, 0, 2)) {
		committed(q->sh->r);
		if (map_property(q, res, 0, 2, q->out))
			end(q, NRPC_OK);
		return;
	}
	if (q->owner != NULL && strcmp(q->owner, PQgetvalue(res, 0, 0)) != 0) {
		fail(q, NRPC_PERMISSION_DENIED, "the property belongs to another owner");
		return;
	}
	if (q->expected_version != 0) {
		snprintf(q->ctx->err, sizeof q->ctx->err,
		         "version mismatch: expected %" PRIu64 ", current is %s",
		         q->expected_version, PQgetvalue(res, 0, 1));
		end(q, NRPC_ABORTED);
		return;
	}
	bad_row(q);
}

static void pg_update(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                      const char *owner, unsigned mask, const Property__V1__Property *values,
                      Property__V1__Property **out, prop_k k)
{
	rq *q = rq_new(self, ctx, k);
	*out = NULL;
	q->out = out;
	q->owner = owner;
	q->expected_version = expected_version;
	store_repo_args_update(&q->a, id, owner, expected_version, mask, values);
	submit(q, &q->sh->stmts[REPO_SQL_UPDATE], got_checked);
}

static void pg_remove(void *self, prop_ctx *ctx, const char *id, uint64_t expected_version,
                      const char *owner, Property__V1__Property **last, prop_k k)
{
	rq *q = rq_new(self, ctx, k);
	*last = NULL;
	q->out = last;
	q->owner = owner;
	q->expected_version = expected_version;
	store_repo_args_delete(&q->a, id, owner, expected_version);
	submit(q, &q->sh->stmts[REPO_SQL_DELETE], got_checked);
}

// ---- create ------------------------------------------------------------------------------

static void got_created_snapshot(rq *q, const PGresult *res)
{
	if (PQntuples(res) == 0) { // only once the event log pruned it (EVENT_RETENTION)
		fail(q, NRPC_NOT_FOUND,
		     "the result of this idempotency key is no longer available");
		return;
	}
	if (map_property(q, res, 0, 0, q->out)) {
		*q->replayed = true;
		end(q, NRPC_OK);
	}
}

// Where a create's outcome sits in a result row (the single and the batch
// statement differ only in column positions).
typedef struct create_cols {
	int outcome, hash, pid, created, snapshot;
} create_cols;

static const create_cols single_cols = {0, 1, 2, 3, 3};
static const create_cols batch_cols = {1, 2, 3, REPO_BATCH_COL_ROW, REPO_BATCH_COL_SNAPSHOT};

// A create's outcome from row `row`. A replay must match the recorded hash;
// its first result is the property.created snapshot, read from the row or,
// when it committed after the statement's snapshot, by a second query.
// Returns true when the row was a create that committed.
static bool create_outcome(rq *q, const PGresult *res, int row, const create_cols *c)
{
	if (strcmp(PQgetvalue(res, row, c->outcome), "created") == 0) {
		if (map_property(q, res, row, c->created, q->out))
			end(q, NRPC_OK);
		return true; // the row and its event are in, whatever the mapping says
	}
	if (strcmp(PQgetvalue(res, row, c->hash), q->request_hash ? q->request_hash : "") != 0) {
		fail(q, NRPC_ALREADY_EXISTS,
		     "idempotency key already used with a different request");
		return false;
	}
	if (!PQgetisnull(res, row, c->snapshot)) {
		if (map_property(q, res, row, c->snapshot, q->out)) {
			*q->replayed = true;
			end(q, NRPC_OK);
		}
		return false;
	}
	char *pid = prop_alloc(q->ctx, (size_t)PQgetlength(res, row, c->pid) + 1);
	strcpy(pid, PQgetvalue(res, row, c->pid));
	store_repo_args_get(&q->a, pid);
	submit(q, &q->sh->stmts[REPO_SQL_CREATED], got_created_snapshot);
	return false;
}

static void got_single_create(rq *q, const PGresult *res)
{
	if (PQntuples(res) != 1) {
		bad_row(q);
		return;
	}
	// create_outcome may end q (its memory is the caller's, and may be gone
	// when it returns): what comes after reads nothing of it.
	const store_repo_pg *r = q->sh->r;
	if (create_outcome(q, res, 0, &single_cols))
		committed(r);
}

static void submit_single_create(rq *q)
{
	submit(q, &q->sh->stmts[REPO_SQL_CREATE], got_single_create);
}

static void schedule_flush(struct shard *sh)
{
	if (!sh->flush_armed) {
		sh->flush_armed = true;
		event_active(sh->flush_ev, EV_TIMEOUT, 0);
	}
}

static void batch_done(store_apg_query *aq, nrpc_code code, PGresult *res, const char *err)
{
	batch *b = aq->arg;
	struct shard *sh = b->sh;
	bool any = false;
	sh->inflight--;
	store_repo_batch_args_free(&b->args);
	if (code == NRPC_OK && (size_t)PQntuples(res) == b->n) {
		for (size_t i = 0; i < b->n; i++)
			any |= create_outcome(b->members[i], res, (int)i, &batch_cols);
		if (any)
			committed(sh->r);
	} else if (code == NRPC_OK || code == NRPC_UNAVAILABLE || code == NRPC_DEADLINE_EXCEEDED) {
		// No answer for each row (a lost connection, a deadline, a result of
		// the wrong shape): every member learns the same.
		for (size_t i = 0; i < b->n; i++) {
			if (code == NRPC_OK)
				bad_row(b->members[i]);
			else
				fail(b->members[i], code, err != NULL ? err : nrpc_code_name(code));
		}
	} else {
		// The statement failed as a whole (a constraint of one row, say) and
		// wrote nothing: each create again on its own, for its own outcome.
		for (size_t i = 0; i < b->n; i++)
			submit_single_create(b->members[i]);
	}
	PQclear(res);
	free(b);
	schedule_flush(sh);
}

static bool same_key(const rq *a, const rq *b)
{
	return a->idem_key != NULL && b->idem_key != NULL &&
	       strcmp(a->idem_key, b->idem_key) == 0 && strcmp(a->a.v[0], b->a.v[0]) == 0;
}

// Takes the next batch off the pending list: at most batch_max creates whose
// deadline has not passed, no two with the same (owner, key). Expired ones
// are moved to *expired.
static size_t take_batch(struct shard *sh, rq **members, rq **expired)
{
	size_t n = 0;
	int64_t now = store_pgconn_now_us();
	rq **link = &sh->pend_head;
	while (*link != NULL && n < sh->r->batch_max) {
		rq *q = *link;
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			dup = same_key(members[i], q);
		if (dup) {
			link = &q->next; // stays for a later batch
			continue;
		}
		*link = q->next;
		sh->npend--;
		if (q->ctx->deadline_us <= now) {
			q->next = *expired;
			*expired = q;
			continue;
		}
		members[n++] = q;
	}
	sh->pend_tail = NULL;
	for (rq *p = sh->pend_head; p != NULL; p = p->next)
		sh->pend_tail = p;
	return n;
}

static void send_batch(struct shard *sh, rq **members, size_t n)
{
	const store_repo_args *rows[REPO_PG_MAX_BATCH];
	batch *b = malloc(sizeof *b + n * sizeof(rq *));
	int64_t deadline = 0;
	if (b == NULL) {
		for (size_t i = 0; i < n; i++)
			fail(members[i], NRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	b->sh = sh;
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		b->members[i] = members[i];
		rows[i] = &members[i]->a;
		if (members[i]->ctx->deadline_us > deadline)
			deadline = members[i]->ctx->deadline_us;
	}
	if (store_repo_batch_args_build(&b->args, rows, n) != 0) {
		free(b);
		for (size_t i = 0; i < n; i++)
			fail(members[i], NRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	memset(&b->q, 0, sizeof b->q);
	b->q.stmt = &sh->batch;
	b->q.values = (const char *const *)b->args.v;
	b->q.deadline_us = deadline;
	b->q.done = batch_done;
	b->q.arg = b;
	sh->inflight++;
	store_apg_submit(sh->db, &b->q);
}

// Sends what is pending: while fewer than max_inflight batches are out, or
// while a full batch is waiting.
static void flush(struct shard *sh)
{
	store_repo_pg *r = sh->r;
	rq *members[REPO_PG_MAX_BATCH];
	while (sh->npend > 0 && (sh->inflight < r->max_inflight || sh->npend >= r->batch_max)) {
		rq *expired = NULL;
		size_t n = take_batch(sh, members, &expired);
		while (expired != NULL) {
			rq *q = expired;
			expired = q->next;
			fail(q, NRPC_DEADLINE_EXCEEDED,
			     "deadline exceeded before the write was sent");
		}
		if (n > 0)
			send_batch(sh, members, n);
	}
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct shard *sh = arg;
	(void)fd;
	(void)what;
	sh->flush_armed = false;
	flush(sh);
}

static void pg_create(void *self, prop_ctx *ctx, const Property__V1__Property *p,
                      const char *idem_key, const char *request_hash, Property__V1__Property **out,
                      bool *replayed, prop_k k)
{
	store_repo_pg *r = self;
	rq *q = rq_new(r, ctx, k);
	*out = NULL;
	*replayed = false;
	q->out = out;
	q->replayed = replayed;
	q->request_hash = request_hash;
	q->idem_key = idem_key;
	store_repo_args_create(&q->a, p, idem_key, request_hash);
	if (r->batch_max <= 1) {
		submit_single_create(q);
		return;
	}
	struct shard *sh = q->sh;
	if (sh->pend_tail != NULL)
		sh->pend_tail->next = q;
	else
		sh->pend_head = q;
	sh->pend_tail = q;
	sh->npend++;
	// Not at once: the creates that arrive in this loop pass join the batch.
	schedule_flush(sh);
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
	sh->flush_ev = event_new(base, -1, 0, on_flush, sh);
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
