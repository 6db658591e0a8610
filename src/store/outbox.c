// The event relay's view of the event log (see outbox.h for the contract).
//
// Every statement runs with a session statement_timeout on this dedicated
// connection and is waited for with poll() up to that timeout plus a guard,
// so a silent network cannot block the relay thread for ever.
//
// store_outbox_prune() also deletes idempotency keys past their 24 h life: the
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
// and statements per store_outbox_prune call (bounded time per call).
#define OUTBOX_PRUNE_BATCH       10000
#define OUTBOX_PRUNE_MAX_BATCHES 100
// Claimed ids looked at per claim when moving the floor over a run of them:
// bounds a claim's work after a long stall (the floor then moves this far
// per claim).
#define OUTBOX_RUN_MAX 10000

// ROWMAP_EVENT_COLS with seq taken from the (seq, ins_id) pairs under alias
// `s` (event_log keeps a legacy seq column, so a bare "seq" would be
// ambiguous). Same columns, same order.
#define OUTBOX_EVENT_COLS(s)                                                                       \
	s ".seq, id, type, occurred_at_us, aggregate_id, " ROWMAP_PROPERTY_FIELDS

struct store_outbox {
	char *conninfo;
	PGconn *pg;    // NULL while disconnected: the next call reconnects
	bool leading;  // this session holds the relay lock
	bool prepared; // the claim is prepared on this connection
};

// Session settings, on each (re)connect. Every outbox statement walks an
// index over a short range (above the floor, the oldest seqs, one row of
// relay_state), so sequential scans are ruled out for this session: the
// claim is prepared once, and a plan made while the tables were small (a new
// database, statistics not gathered yet) would otherwise go on scanning
// whole tables every few ms. That setting inflates plan costs past the JIT
// thresholds, and compiling the claim took about a second: no JIT either.
// clang-format off
static const char sql_session[] =
    "SELECT set_config('statement_timeout', '" STORE_STR(OUTBOX_STATEMENT_TIMEOUT_MS) "', false), "
        "set_config('enable_seqscan', 'off', false), "
        "set_config('jit', 'off', false)";
// clang-format on

// Claims the oldest unclaimed rows (by ins_id) above relay_state.floor_ins,
// numbers them after last_seq, records the pairs in event_seq and returns the
// events in seq order; in the same statement it moves the floor up and keeps
// the gap horizon (hz_ins, hz_xid) going (see the 0003 migration). Every part
// reads the one snapshot of the statement, which is also the one whose xmin
// decides whether the horizon is settled. Claims are serialized on the
// relay_state row; a claim that raced another one fails on event_seq's unique
// ins_id instead of numbering a row twice. relay_state is written only when
// something changed, so an idle relay writes nothing.
//   r:        the state, and whether every transaction older than hz_xid ended
//   head:     the last ins_id handed out so far
//   batch:    the unclaimed rows, at most $1 (each checked by one index probe)
//   run:      the floor moved over consecutive claimed ids (old pairs or batch)
//   d:        the new floor, horizon and how hz_xid changes (0 clear, 1 this
//             transaction's id, 2 keep)
// The lookups by ins_id are LATERAL ... LIMIT 1 so that each one stays an
// index probe whatever the statistics said when the claim was prepared.
// clang-format off
#define FLOOR "(SELECT floor_ins FROM r)"
static const char sql_claim[] =
    "WITH r AS ("
        "SELECT floor_ins, hz_ins, hz_xid, "
            "hz_xid IS NOT NULL AND pg_snapshot_xmin(pg_current_snapshot()) >= hz_xid AS settled "
        "FROM relay_state WHERE id = 1), "
    "head AS ("
        "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS h "
        "FROM event_log_ins_id_seq), "
    "batch AS ("
        "SELECT e.ins_id, e.type FROM event_log e "
        "LEFT JOIN LATERAL ("
            "SELECT true AS y FROM event_seq s WHERE s.ins_id = e.ins_id LIMIT 1) p ON true "
        "WHERE e.ins_id > " FLOOR " AND p.y IS NULL "
        "ORDER BY e.ins_id LIMIT $1::int), "
    "numbered AS ("
        "SELECT ins_id, type, row_number() OVER (ORDER BY ins_id) AS rn FROM batch), "
    "agg AS ("
        "SELECT count(*) AS n, max(ins_id) AS top FROM batch), "
    "run AS ("
        "SELECT " FLOOR " + count(*) AS to_ins "
        "FROM ("
            "SELECT u.ins_id, row_number() OVER (ORDER BY u.ins_id) AS k "
            "FROM ("
                "(SELECT s.ins_id FROM event_seq s "
                "WHERE s.ins_id > " FLOOR " "
                "ORDER BY s.ins_id LIMIT " STORE_STR(OUTBOX_RUN_MAX) ") "
                "UNION ALL "
                "SELECT ins_id FROM batch) u) w "
        "WHERE w.ins_id = " FLOOR " + w.k), "
    "c AS ("
        "SELECT r.*, head.h, agg.n, "
            "greatest(run.to_ins, "
                "CASE WHEN r.settled THEN "
                    "CASE WHEN agg.n < $1::int THEN r.hz_ins ELSE least(r.hz_ins, agg.top) END "
                "ELSE r.floor_ins END) AS fl "
        "FROM r, head, agg, run), "
    "d AS ("
        "SELECT c.*, "
            "CASE WHEN fl >= h THEN NULL "
                "WHEN settled OR hz_ins IS NULL OR hz_ins <= fl THEN h "
                "ELSE hz_ins END AS new_hz_ins, "
            "CASE WHEN fl >= h OR settled OR hz_ins IS NULL OR hz_ins <= fl THEN 0 "
                "WHEN hz_xid IS NULL THEN 1 "
                "ELSE 2 END AS xmode "
        "FROM c), "
    "st AS ("
        "UPDATE relay_state rs SET last_seq = rs.last_seq + d.n, "
            "floor_ins = greatest(rs.floor_ins, d.fl), "
            "hz_ins = d.new_hz_ins, "
            "hz_xid = CASE d.xmode WHEN 1 THEN pg_current_xact_id() WHEN 2 THEN d.hz_xid END "
        "FROM d "
        "WHERE rs.id = 1 AND (d.n > 0 "
            "OR d.fl <> d.floor_ins "
            "OR d.new_hz_ins IS DISTINCT FROM d.hz_ins "
            "OR d.xmode = 1 "
            "OR (d.xmode = 0 AND d.hz_xid IS NOT NULL)) "
        "RETURNING rs.last_seq), "
    "ins AS ("
        "INSERT INTO event_seq (seq, ins_id, type) "
        "SELECT st.last_seq - d.n + b.rn, b.ins_id, b.type FROM st, d, numbered b "
        "RETURNING seq, ins_id) "
    "SELECT " OUTBOX_EVENT_COLS("i") " "
    "FROM ins i CROSS JOIN LATERAL ("
        "SELECT * FROM event_log e WHERE e.ins_id = i.ins_id LIMIT 1) e "
    "ORDER BY i.seq";
#undef FLOOR
// clang-format on

// Rows above the floor without a pair: claimed by nobody yet.
// clang-format off
static const char sql_lag[] =
    "SELECT count(*), coalesce((" STORE_NOW_US_SQL " - min(occurred_at_us)) / 1000, 0) "
    "FROM event_log e "
    "WHERE e.ins_id > (SELECT floor_ins FROM relay_state WHERE id = 1) "
        "AND NOT EXISTS (SELECT 1 FROM event_seq s WHERE s.ins_id = e.ins_id)";
// clang-format on

// The oldest published events by seq, deleted if older than the retention:
// the row and its pair in one statement (a pair deleted alone would make the
// row unclaimed again). A pair whose row is gone is deleted too.
// clang-format off
static const char sql_prune_events[] =
    "WITH old AS ("
        "SELECT ins_id FROM event_seq ORDER BY seq LIMIT " STORE_STR(OUTBOX_PRUNE_BATCH) "), "
    "doomed AS ("
        "SELECT old.ins_id, e.ins_id IS NOT NULL AS has_row "
        "FROM old LEFT JOIN event_log e ON e.ins_id = old.ins_id "
        "WHERE e.ins_id IS NULL "
            "OR e.occurred_at_us < " STORE_NOW_US_SQL " - $1::bigint * 1000000), "
    "del AS ("
        "DELETE FROM event_log e USING doomed "
        "WHERE doomed.has_row AND e.ins_id = doomed.ins_id "
        "RETURNING e.ins_id), "
    "unpair AS ("
        "DELETE FROM event_seq s "
        "WHERE s.ins_id IN ("
            "SELECT ins_id FROM del "
            "UNION ALL "
            "SELECT ins_id FROM doomed WHERE NOT has_row) "
        "RETURNING 1) "
    "SELECT count(*) FROM unpair";
// clang-format on

// clang-format off
static const char sql_prune_keys[] =
    "WITH old AS ("
        "SELECT owner_id, key FROM idempotency_keys "
        "WHERE created_at_us < " STORE_NOW_US_SQL " - " STORE_IDEM_TTL_US " "
        "ORDER BY created_at_us LIMIT " STORE_STR(OUTBOX_PRUNE_BATCH) "), "
    "del AS ("
        "DELETE FROM idempotency_keys k USING old "
        "WHERE k.owner_id = old.owner_id AND k.key = old.key "
        "RETURNING 1) "
    "SELECT count(*) FROM del";
// clang-format on

static void disconnect(store_outbox *o)
{
	PQfinish(o->pg);
	o->pg = NULL;
	o->leading = false;
	o->prepared = false;
}

// Runs one statement; returns its result (TUPLES_OK / COMMAND_OK) or NULL.
// A broken connection is closed (the next call reconnects).
// With a name, runs the statement prepared under that name (sql is then
// ignored); with prepare, prepares sql under that name instead.
static PGresult *run_as(store_outbox *o, const char *name, const char *sql, int n,
                        const char *const *vals, bool prepare)
{
	int64_t guard =
	    store_pgconn_now_us() + (int64_t)(OUTBOX_STATEMENT_TIMEOUT_MS + OUTBOX_GUARD_MS) * 1000;
	PGresult *last = NULL;
	int sent;
	if (prepare)
		sent = PQsendPrepare(o->pg, name, sql, n, NULL);
	else if (name != NULL)
		sent = PQsendQueryPrepared(o->pg, name, n, vals, NULL, NULL, 0);
	else
		sent = PQsendQueryParams(o->pg, sql, n, NULL, vals, NULL, NULL, 0);
	if (!sent)
		goto lost;
	for (;;) {
		while (PQisBusy(o->pg)) {
			if (store_pgconn_wait_readable(o->pg, guard) <= 0 || !PQconsumeInput(o->pg))
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

static PGresult *run(store_outbox *o, const char *sql, int n, const char *const *vals)
{
	return run_as(o, NULL, sql, n, vals, false);
}

// 0 when connected (reconnecting if needed), -1 when the database is unreachable.
static int ensure(store_outbox *o)
{
	if (o->pg != NULL && PQstatus(o->pg) == CONNECTION_OK)
		return 0;
	disconnect(o);
	char err[256];
	int64_t deadline = store_pgconn_now_us() + (int64_t)PGCONN_CONNECT_MAX_MS * 1000;
	o->pg = store_pgconn_open(o->conninfo, deadline, err, sizeof err);
	if (o->pg == NULL) {
		OBS_LOG(OBS_WARN, "outbox connect failed", OBS_S("error", err));
		return -1;
	}
	PGresult *r = run(o, sql_session, 0, NULL);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int store_outbox_open(store_outbox **out, const char *conninfo, char *err, size_t errcap)
{
	*out = NULL;
	store_outbox *o = calloc(1, sizeof *o);
	if (o == NULL || (o->conninfo = strdup(conninfo)) == NULL) {
		free(o);
		snprintf(err, errcap, "outbox: out of memory");
		return -1;
	}
	(void)ensure(o); // a failed first connect is retried by later calls
	*out = o;
	return 0;
}

void store_outbox_close(store_outbox *o)
{
	if (o == NULL)
		return;
	PQfinish(o->pg);
	free(o->conninfo);
	free(o);
}

store_outbox_lead store_outbox_try_lead(store_outbox *o)
{
	if (ensure(o) != 0)
		return STORE_OUTBOX_LEAD_ERROR;
	if (o->leading)
		return STORE_OUTBOX_LEAD_HELD;
	PGresult *r =
	    run(o, "SELECT pg_try_advisory_lock(" STORE_LOCK_ARGS(STORE_LOCK_RELAY) ")", 0, NULL);
	if (r == NULL)
		return STORE_OUTBOX_LEAD_ERROR;
	bool won = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!won)
		return STORE_OUTBOX_LEAD_OTHER;
	// Notifications sent before LISTEN are not seen: the new leader claims
	// once before it first waits.
	r = run(o, "LISTEN " STORE_EVENTS_CHANNEL, 0, NULL);
	if (r == NULL)
		return STORE_OUTBOX_LEAD_ERROR;
	PQclear(r);
	o->leading = true;
	return STORE_OUTBOX_LEAD_HELD;
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

store_outbox_wake store_outbox_wait(store_outbox *o, int timeout_ms, int wake_fd)
{
	if (ensure(o) != 0)
		return STORE_OUTBOX_WAIT_ERROR;
	int64_t deadline = store_pgconn_now_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		if (!PQconsumeInput(o->pg)) {
			disconnect(o);
			return STORE_OUTBOX_WAIT_ERROR;
		}
		if (drain(o->pg))
			return STORE_OUTBOX_WAIT_NOTIFIED;
		struct pollfd fds[2] = {{.fd = PQsocket(o->pg), .events = POLLIN},
		                        {.fd = wake_fd, .events = POLLIN}};
		int64_t left_us = deadline - store_pgconn_now_us();
		if (left_us <= 0)
			return STORE_OUTBOX_WAIT_TIMEOUT;
		int rv = poll(fds, wake_fd >= 0 ? 2 : 1, (int)((left_us + 999) / 1000));
		if (rv < 0 && errno != EINTR) {
			disconnect(o);
			return STORE_OUTBOX_WAIT_ERROR;
		}
		if (rv > 0 && wake_fd >= 0 && (fds[1].revents & POLLIN))
			return STORE_OUTBOX_WAIT_KICKED;
		if (rv > 0 && (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL))) {
			disconnect(o);
			return STORE_OUTBOX_WAIT_ERROR;
		}
	}
}

int store_outbox_notify(store_outbox *o)
{
	if (ensure(o) != 0)
		return -1;
	PGresult *r = run(o, "NOTIFY " STORE_EVENTS_CHANNEL, 0, NULL);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

void store_outbox_events_free(Property__V1__Event **events, size_t n)
{
	if (events == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		property__v1__event__free_unpacked(events[i], NULL);
	free(events);
}

int store_outbox_claim(store_outbox *o, size_t max, Property__V1__Event ***events)
{
	*events = NULL;
	if (max == 0)
		return 0;
	if (ensure(o) != 0)
		return -1;
	char lim[24];
	snprintf(lim, sizeof lim, "%zu", max);
	const char *vals[1] = {lim};
	// The claim runs every few ms under load: prepared once per connection,
	// it is not parsed and planned each time (planning took longer than
	// running it).
	if (!o->prepared) {
		PGresult *p = run_as(o, "outbox_claim", sql_claim, 1, NULL, true);
		if (p == NULL)
			return -1;
		PQclear(p);
		o->prepared = true;
	}
	PGresult *r = run_as(o, "outbox_claim", NULL, 1, vals, false);
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
		if (store_rowmap_event(r, i, 0, &store_rowmap_malloc_allocator, &evs[i]) != 0) {
			store_outbox_events_free(evs, (size_t)i);
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

static const char sql_head[] = "SELECT last_seq FROM relay_state WHERE id = 1";

// $1 after seq $2 limit: the published changes, narrow, by the seq index.
static const char sql_changes[] =
    "SELECT s.seq, e.version, e.type = 'property.deleted', e.aggregate_id, e.owner_id "
    "FROM event_seq s JOIN event_log e ON e.ins_id = s.ins_id "
    "WHERE s.seq > $1::bigint ORDER BY s.seq LIMIT $2::int";

int store_outbox_head(store_outbox *o, uint64_t *last_seq)
{
	*last_seq = 0;
	if (ensure(o) != 0)
		return -1;
	PGresult *r = run(o, sql_head, 0, NULL);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1)
		*last_seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

void store_outbox_change_set(store_outbox_change *c, uint64_t seq, uint64_t version, bool deleted,
                             const char *id, const char *owner)
{
	c->seq = seq;
	c->version = version;
	c->deleted = deleted;
	snprintf(c->id, sizeof c->id, "%s", id);
	size_t olen = strlen(owner);
	if (olen < sizeof c->owner)
		memcpy(c->owner, owner, olen + 1);
	else
		c->owner[0] = '\0';
}

int store_outbox_changes(store_outbox *o, uint64_t after_seq, size_t max, store_outbox_change *out)
{
	char a[24], m[24];
	snprintf(a, sizeof a, "%llu", (unsigned long long)after_seq);
	snprintf(m, sizeof m, "%zu", max);
	const char *vals[2] = {a, m};
	if (ensure(o) != 0)
		return -1;
	PGresult *r = run(o, sql_changes, 2, vals);
	if (r == NULL)
		return -1;
	int n = PQntuples(r);
	for (int i = 0; i < n; i++)
		store_outbox_change_set(&out[i], strtoull(PQgetvalue(r, i, 0), NULL, 10),
		                        strtoull(PQgetvalue(r, i, 1), NULL, 10),
		                        PQgetvalue(r, i, 2)[0] == 't', PQgetvalue(r, i, 3),
		                        PQgetvalue(r, i, 4));
	PQclear(r);
	return n;
}

int store_outbox_lag(store_outbox *o, int64_t *rows, int64_t *oldest_ms)
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
static int64_t prune_all(store_outbox *o, const char *sql, int n, const char *const *vals)
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

int64_t store_outbox_prune(store_outbox *o, int64_t retention_s)
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
