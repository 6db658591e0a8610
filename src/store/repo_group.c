// CreateProperty through the repository: creates that arrive on a shard
// within one pass of its loop are written by one statement (group commit,
// repo_batch.h), each caller getting its own outcome; a failed batch falls
// back to one statement per create. See repo_pg.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "store/pgconn.h"
#include "store/repo_pg_int.h"

static void got_created_snapshot(rq *q, const PGresult *res)
{
	if (PQntuples(res) == 0) { // only once the event log pruned it (EVENT_RETENTION)
		store_repo_fail(q, NRPC_NOT_FOUND,
		                "the result of this idempotency key is no longer available");
		return;
	}
	if (store_repo_map_property(q, res, 0, 0, q->out)) {
		*q->replayed = true;
		store_repo_end(q, NRPC_OK);
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
		if (store_repo_map_property(q, res, row, c->created, q->out))
			store_repo_end(q, NRPC_OK);
		return true; // the row and its event are in, whatever the mapping says
	}
	if (strcmp(PQgetvalue(res, row, c->hash), q->request_hash ? q->request_hash : "") != 0) {
		store_repo_fail(q, NRPC_ALREADY_EXISTS,
		                "idempotency key already used with a different request");
		return false;
	}
	if (!PQgetisnull(res, row, c->snapshot)) {
		if (store_repo_map_property(q, res, row, c->snapshot, q->out)) {
			*q->replayed = true;
			store_repo_end(q, NRPC_OK);
		}
		return false;
	}
	char *pid = prop_alloc(q->ctx, (size_t)PQgetlength(res, row, c->pid) + 1);
	strcpy(pid, PQgetvalue(res, row, c->pid));
	store_repo_args_get(&q->a, pid);
	store_repo_submit(q, &q->sh->stmts[REPO_SQL_CREATED], got_created_snapshot);
	return false;
}

static void got_single_create(rq *q, const PGresult *res)
{
	if (PQntuples(res) != 1) {
		store_repo_bad_row(q);
		return;
	}
	// create_outcome may end q (its memory is the caller's, and may be gone
	// when it returns): what comes after reads nothing of it.
	const store_repo_pg *r = q->sh->r;
	if (create_outcome(q, res, 0, &single_cols))
		store_repo_committed(r);
}

static void submit_single_create(rq *q)
{
	store_repo_submit(q, &q->sh->stmts[REPO_SQL_CREATE], got_single_create);
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
			store_repo_committed(sh->r);
	} else if (code == NRPC_OK || code == NRPC_UNAVAILABLE || code == NRPC_DEADLINE_EXCEEDED) {
		// No answer for each row (a lost connection, a deadline, a result of
		// the wrong shape): every member learns the same.
		for (size_t i = 0; i < b->n; i++) {
			if (code == NRPC_OK)
				store_repo_bad_row(b->members[i]);
			else
				store_repo_fail(b->members[i], code,
				                err != NULL ? err : nrpc_code_name(code));
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
			store_repo_fail(members[i], NRPC_RESOURCE_EXHAUSTED, "out of memory");
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
			store_repo_fail(members[i], NRPC_RESOURCE_EXHAUSTED, "out of memory");
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
			store_repo_fail(q, NRPC_DEADLINE_EXCEEDED,
			                "deadline exceeded before the write was sent");
		}
		if (n > 0)
			send_batch(sh, members, n);
	}
}

void store_repo_group_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct shard *sh = arg;
	(void)fd;
	(void)what;
	sh->flush_armed = false;
	flush(sh);
}

void store_repo_group_create(void *self, prop_ctx *ctx, const Property__V1__Property *p,
                             const char *idem_key, const char *request_hash,
                             Property__V1__Property **out, bool *replayed, prop_k k)
{
	store_repo_pg *r = self;
	rq *q = store_repo_rq_new(r, ctx, k);
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
