// The event relay's view of the event log (see outbox.h for the contract).
//
// Every statement runs with a session statement_timeout on this dedicated
// connection and is waited for with poll() up to that timeout plus a guard,
// so a silent network cannot block the relay thread for ever.
//
// outbox_prune() also deletes idempotency keys past their 24 h life: the
// relay leader is the one periodic housekeeper, and the table would
// otherwise grow without bound.
#include "store/outbox.h"

#include <errno.h>
#include <poll.h>

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "store/pgconn.h"
#include "store/rowmap.h"
#include "store/schema.h"

// Each outbox statement is small (at most one claim batch); 5 s means the
// database is in trouble, and the relay should retry rather than wait.
#define OUTBOX_STATEMENT_TIMEOUT_MS 5000
// Extra wait for the server's own timeout before the connection is dropped.
#define OUTBOX_GUARD_MS 1000
// Rows deleted per prune statement (short transactions, bounded WAL bursts),
// and statements per outbox_prune call (bounded time per call).
#define OUTBOX_PRUNE_BATCH       10000
#define OUTBOX_PRUNE_MAX_BATCHES 100

struct outbox {
	char *conninfo;
	PGconn *pg;   // NULL while disconnected: the next call reconnects
	bool leading; // this session holds the relay lock
};

static const char sql_claim[] =
    "WITH batch AS (SELECT ins_id FROM event_log WHERE seq IS NULL "
    "ORDER BY ins_id LIMIT $1::int FOR UPDATE), "
    "numbered AS (SELECT ins_id, row_number() OVER (ORDER BY ins_id) AS rn, "
    "count(*) OVER () AS n FROM batch), "
    "st AS (UPDATE relay_state SET last_seq = last_seq + (SELECT count(*) FROM numbered) "
    "WHERE id = 1 AND EXISTS (SELECT 1 FROM numbered) RETURNING last_seq), "
    "upd AS (UPDATE event_log e SET seq = st.last_seq - numbered.n + numbered.rn "
    "FROM numbered, st WHERE e.ins_id = numbered.ins_id RETURNING e.*) "
    "SELECT " ROWMAP_EVENT_COLS " FROM upd ORDER BY seq";

static const char sql_lag[] =
    "SELECT count(*), coalesce((" STORE_NOW_US_SQL " - min(occurred_at_us)) / 1000, 0) "
    "FROM event_log WHERE seq IS NULL";

// The oldest published rows by seq, deleted if older than the retention.
static const char sql_prune_events[] =
    "WITH old AS (SELECT ins_id, occurred_at_us FROM event_log WHERE seq IS NOT NULL "
    "ORDER BY seq LIMIT " STORE_STR(
        OUTBOX_PRUNE_BATCH) "), "
                            "del AS (DELETE FROM event_log e USING old WHERE e.ins_id = old.ins_id "
                            "AND old.occurred_at_us < " STORE_NOW_US_SQL
                            " - $1::bigint * 1000000 RETURNING 1) "
                            "SELECT count(*) FROM del";

static const char sql_prune_keys[] =
    "WITH old AS (SELECT owner_id, key FROM idempotency_keys WHERE created_at_us "
    "< " STORE_NOW_US_SQL " - " STORE_IDEM_TTL_US " ORDER BY created_at_us LIMIT " STORE_STR(
        OUTBOX_PRUNE_BATCH) "), "
                            "del AS (DELETE FROM idempotency_keys k USING old "
                            "WHERE k.owner_id = old.owner_id AND k.key = old.key RETURNING 1) "
                            "SELECT count(*) FROM del";

static void disconnect(outbox *o)
{
	PQfinish(o->pg);
	o->pg = NULL;
	o->leading = false;
}

// Runs one statement; returns its result (TUPLES_OK / COMMAND_OK) or NULL.
// A broken connection is closed (the next call reconnects).
static PGresult *run(outbox *o, const char *sql, int n, const char *const *vals)
{
	int64_t guard =
	    pgconn_now_us() + (int64_t)(OUTBOX_STATEMENT_TIMEOUT_MS + OUTBOX_GUARD_MS) * 1000;
	PGresult *last = NULL;
	if (!PQsendQueryParams(o->pg, sql, n, NULL, vals, NULL, NULL, 0))
		goto lost;
	for (;;) {
		while (PQisBusy(o->pg)) {
			if (pgconn_wait_readable(o->pg, guard) <= 0 || !PQconsumeInput(o->pg))
				goto lost;
		}
		PGresult *r = PQgetResult(o->pg);
		if (r == NULL)
			break;
		PQclear(last);
		last = r;
	}
	ExecStatusType st = PQresultStatus(last);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return last;
	const char *m = PQresultErrorField(last, PG_DIAG_MESSAGE_PRIMARY);
	OBS_LOG(OBS_WARN, "outbox statement failed", OBS_S("error", m ? m : ""));
	PQclear(last);
	if (PQstatus(o->pg) != CONNECTION_OK)
		disconnect(o);
	return NULL;
lost:
	OBS_LOG(OBS_WARN, "outbox connection lost");
	PQclear(last);
	disconnect(o);
	return NULL;
}

// 0 when connected (reconnecting if needed), -1 when the database is unreachable.
static int ensure(outbox *o)
{
	if (o->pg != NULL && PQstatus(o->pg) == CONNECTION_OK)
		return 0;
	disconnect(o);
	char err[256];
	int64_t deadline = pgconn_now_us() + (int64_t)PGCONN_CONNECT_MAX_MS * 1000;
	o->pg = pgconn_open(o->conninfo, deadline, err, sizeof err);
	if (o->pg == NULL) {
		OBS_LOG(OBS_WARN, "outbox connect failed", OBS_S("error", err));
		return -1;
	}
	PGresult *r =
	    run(o, "SET statement_timeout = " STORE_STR(OUTBOX_STATEMENT_TIMEOUT_MS), 0, NULL);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int outbox_open(outbox **out, const char *conninfo, char *err, size_t errcap)
{
	*out = NULL;
	outbox *o = calloc(1, sizeof *o);
	if (o == NULL || (o->conninfo = strdup(conninfo)) == NULL) {
		free(o);
		snprintf(err, errcap, "outbox: out of memory");
		return -1;
	}
	(void)ensure(o); // a failed first connect is retried by later calls
	*out = o;
	return 0;
}

void outbox_close(outbox *o)
{
	if (o == NULL)
		return;
	PQfinish(o->pg);
	free(o->conninfo);
	free(o);
}

int outbox_try_lead(outbox *o)
{
	if (ensure(o) != 0)
		return -1;
	if (o->leading)
		return 1;
	PGresult *r =
	    run(o, "SELECT pg_try_advisory_lock(" STORE_LOCK_ARGS(STORE_LOCK_RELAY) ")", 0, NULL);
	if (r == NULL)
		return -1;
	bool won = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!won)
		return 0;
	// Notifications sent before LISTEN are not seen: the new leader claims
	// once before it first waits.
	r = run(o, "LISTEN " STORE_EVENTS_CHANNEL, 0, NULL);
	if (r == NULL)
		return -1;
	PQclear(r);
	o->leading = true;
	return 1;
}

// Consumes every queued notification; true if there was one.
static bool drain(PGconn *pg)
{
	bool any = false;
	PGnotify *n;
	while ((n = PQnotifies(pg)) != NULL) {
		any = true;
		PQfreemem(n);
	}
	return any;
}

int outbox_wait(outbox *o, int timeout_ms, int wake_fd)
{
	if (ensure(o) != 0)
		return -1;
	int64_t deadline = pgconn_now_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		if (!PQconsumeInput(o->pg)) {
			disconnect(o);
			return -1;
		}
		if (drain(o->pg))
			return 1;
		struct pollfd fds[2] = {{.fd = PQsocket(o->pg), .events = POLLIN},
		                        {.fd = wake_fd, .events = POLLIN}};
		int64_t left_us = deadline - pgconn_now_us();
		if (left_us <= 0)
			return 0;
		int rv = poll(fds, wake_fd >= 0 ? 2 : 1, (int)((left_us + 999) / 1000));
		if (rv < 0 && errno != EINTR) {
			disconnect(o);
			return -1;
		}
		if (rv > 0 && wake_fd >= 0 && (fds[1].revents & POLLIN))
			return 2;
		if (rv > 0 && (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL))) {
			disconnect(o);
			return -1;
		}
	}
}

int outbox_notify(outbox *o)
{
	if (ensure(o) != 0)
		return -1;
	PGresult *r = run(o, "NOTIFY " STORE_EVENTS_CHANNEL, 0, NULL);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

void outbox_events_free(Property__V1__Event **events, size_t n)
{
	if (events == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		property__v1__event__free_unpacked(events[i], NULL);
	free(events);
}

int outbox_claim(outbox *o, size_t max, Property__V1__Event ***events)
{
	*events = NULL;
	if (max == 0)
		return 0;
	if (ensure(o) != 0)
		return -1;
	char lim[24];
	snprintf(lim, sizeof lim, "%zu", max);
	const char *vals[1] = {lim};
	PGresult *r = run(o, sql_claim, 1, vals);
	if (r == NULL)
		return -1;
	int rows = PQntuples(r);
	if (rows == 0) {
		PQclear(r);
		return 0;
	}
	Property__V1__Event **evs = calloc((size_t)rows, sizeof *evs);
	if (evs == NULL)
		goto fail;
	for (int i = 0; i < rows; i++) {
		if (rowmap_event(r, i, 0, &rowmap_malloc_allocator, &evs[i]) != 0) {
			outbox_events_free(evs, (size_t)i);
			goto fail;
		}
	}
	PQclear(r);
	*events = evs;
	return rows;
fail:
	// The seqs are committed: the rows are in the log and readable through
	// ReadEvents; only this publication is lost.
	OBS_LOG(OBS_ERROR, "outbox: out of memory building claimed events", OBS_I("rows", rows));
	PQclear(r);
	return -1;
}

int outbox_lag(outbox *o, int64_t *rows, int64_t *oldest_ms)
{
	*rows = 0;
	*oldest_ms = 0;
	if (ensure(o) != 0)
		return -1;
	PGresult *r = run(o, sql_lag, 0, NULL);
	if (r == NULL)
		return -1;
	*rows = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	*oldest_ms = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	PQclear(r);
	return 0;
}

// Runs a batched prune statement until it deletes less than a batch.
static int64_t prune_all(outbox *o, const char *sql, int n, const char *const *vals)
{
	int64_t total = 0;
	for (int i = 0; i < OUTBOX_PRUNE_MAX_BATCHES; i++) {
		PGresult *r = run(o, sql, n, vals);
		if (r == NULL)
			return -1;
		int64_t k = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		total += k;
		if (k < OUTBOX_PRUNE_BATCH)
			break;
	}
	return total;
}

int64_t outbox_prune(outbox *o, int64_t retention_s)
{
	if (ensure(o) != 0)
		return -1;
	char ret[24];
	snprintf(ret, sizeof ret, "%lld", (long long)retention_s);
	const char *vals[1] = {ret};
	int64_t events = prune_all(o, sql_prune_events, 1, vals);
	if (events < 0)
		return -1;
	if (prune_all(o, sql_prune_keys, 0, NULL) < 0)
		return -1;
	return events;
}
