#include "store/pgpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/log.h"
#include "store/pgconn.h"
#include "store/pgerr.h"

#define PREP_WORDS (PGPOOL_MAX_STMTS / 64)

struct pgpool_conn {
	PGconn *pg;                    // NULL: not connected; opened by the next acquire
	bool busy;                     // held by a caller (guarded by the pool mutex)
	bool broken;                   // the last exec lost the connection; closed at release
	bool fatal;                    // the server sent FATAL while idle (terminated backend)
	uint64_t prepared[PREP_WORDS]; // slots prepared on this connection
};

struct pgpool {
	char *conninfo;
	bool no_prepare;
	int wait_ms;
	int slow_ms;
	obs_registry *reg;
	atomic_uint next_slot;
	atomic_bool healthy;
	pgpool_stmt set_timeout; // the first statement of every pipeline
	pgpool_stmt probe;       // the readiness probe (pgpool_ping)

	pthread_mutex_t mu;
	pthread_cond_t freed; // signalled when a connection is released
	unsigned waiters;
	unsigned in_use;
	unsigned n;
	pgpool_conn *conns;

	obs_gauge *g_size, *g_in_use, *g_idle;
	obs_counter *c_waits, *c_timeouts, *c_reconnects;
	obs_histogram *h_wait;
};

static int64_t ms_to_us(int ms)
{
	return (int64_t)ms * 1000;
}

int pgpool_create(pgpool **out, const pgpool_config *cfg, char *err, size_t errcap)
{
	*out = NULL;
	if (cfg->size == 0 || cfg->conninfo == NULL || cfg->metrics == NULL) {
		snprintf(err, errcap, "pgpool: size, conninfo and metrics are required");
		return -1;
	}
	pgpool *p = calloc(1, sizeof *p);
	if (p == NULL)
		goto oom;
	p->conns = calloc(cfg->size, sizeof *p->conns);
	p->conninfo = strdup(cfg->conninfo);
	if (p->conns == NULL || p->conninfo == NULL)
		goto oom;
	p->n = cfg->size;
	p->no_prepare = cfg->no_prepare;
	p->wait_ms = cfg->wait_ms > 0 ? cfg->wait_ms : PGPOOL_DEFAULT_WAIT_MS;
	p->slow_ms = cfg->slow_query_ms == 0 ? PGPOOL_DEFAULT_SLOW_MS : cfg->slow_query_ms;
	p->reg = cfg->metrics;
	atomic_init(&p->next_slot, 0);
	atomic_init(&p->healthy, true);

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->freed, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&p->mu, NULL);

	obs_registry *r = p->reg;
	p->g_size = obs_gauge_get(r, "propertyd_db_pool_size", "Connections in the pool.", NULL);
	p->g_in_use = obs_gauge_get(r, "propertyd_db_pool_in_use", "Pool connections held.", NULL);
	p->g_idle = obs_gauge_get(r, "propertyd_db_pool_idle", "Pool connections free.", NULL);
	p->c_waits = obs_counter_get(r, "propertyd_db_pool_waits_total",
	                             "Acquires that had to wait for a connection.", NULL);
	p->c_timeouts = obs_counter_get(r, "propertyd_db_pool_timeouts_total",
	                                "Acquires that gave up: pool exhausted.", NULL);
	p->c_reconnects = obs_counter_get(r, "propertyd_db_reconnects_total",
	                                  "Database connections opened by the pool.", NULL);
	p->h_wait = obs_histogram_get(r, "propertyd_db_pool_wait_seconds",
	                              "Time to acquire a pool connection.", NULL,
	                              obs_latency_bounds, obs_latency_bounds_n);
	obs_gauge_set(p->g_size, p->n);
	obs_gauge_set(p->g_in_use, 0);
	obs_gauge_set(p->g_idle, p->n);

	p->set_timeout.name = "pd_set_timeout";
	p->set_timeout.sql = "SELECT set_config('statement_timeout', $1, true)";
	p->set_timeout.nparams = 1;
	pgpool_register(p, &p->set_timeout);
	// A statement of its own: a pipeline must not Parse one name twice.
	p->probe.name = "pd_probe";
	p->probe.sql = "SELECT 1";
	p->probe.nparams = 0;
	pgpool_register(p, &p->probe);
	*out = p;
	return 0;
oom:
	if (p) {
		free(p->conns);
		free(p->conninfo);
		free(p);
	}
	snprintf(err, errcap, "pgpool: out of memory");
	return -1;
}

void pgpool_destroy(pgpool *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->n; i++)
		PQfinish(p->conns[i].pg);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->freed);
	free(p->conns);
	free(p->conninfo);
	free(p);
}

int pgpool_register(pgpool *p, pgpool_stmt *s)
{
	unsigned slot = atomic_fetch_add(&p->next_slot, 1);
	if (slot >= PGPOOL_MAX_STMTS)
		return -1;
	char labels[128];
	snprintf(labels, sizeof labels, "statement=\"%s\"", s->name);
	s->slot = slot;
	s->duration = obs_histogram_get(p->reg, "propertyd_db_query_duration_seconds",
	                                "Time of one statement's round trip, by statement.", labels,
	                                obs_latency_bounds, obs_latency_bounds_n);
	return 0;
}

// ---- acquire / release ------------------------------------------------------------------

static pgpool_conn *take_free(pgpool *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (!p->conns[i].busy) {
			p->conns[i].busy = true;
			p->in_use++;
			obs_gauge_set(p->g_in_use, p->in_use);
			obs_gauge_set(p->g_idle, p->n - p->in_use);
			return &p->conns[i];
		}
	}
	return NULL;
}

static void give_back(pgpool *p, pgpool_conn *c)
{
	pthread_mutex_lock(&p->mu);
	c->busy = false;
	p->in_use--;
	obs_gauge_set(p->g_in_use, p->in_use);
	obs_gauge_set(p->g_idle, p->n - p->in_use);
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->mu);
}

static void drop_conn(pgpool_conn *c)
{
	PQfinish(c->pg);
	c->pg = NULL;
	c->broken = false;
	c->fatal = false;
	memset(c->prepared, 0, sizeof c->prepared);
}

static struct timespec to_timespec(int64_t us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
	return ts;
}

// Waits for a free connection until `limit_us`. Called with the mutex held.
static pgpool_conn *wait_free(pgpool *p, int64_t limit_us)
{
	if (p->waiters >= PGPOOL_MAX_WAITERS)
		return NULL;
	p->waiters++;
	obs_counter_add(p->c_waits, 1);
	pgpool_conn *c = NULL;
	struct timespec ts = to_timespec(limit_us);
	while ((c = take_free(p)) == NULL) {
		int rv = pthread_cond_timedwait(&p->freed, &p->mu, &ts);
		if (rv == ETIMEDOUT) {
			c = take_free(p);
			break;
		}
	}
	p->waiters--;
	return c;
}

// libpq reports a server message that arrives outside a query (the FATAL
// of a terminated backend, before the EOF that follows it) as a notice.
static void on_notice(void *arg, const PGresult *res)
{
	pgpool_conn *c = arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	if (sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
		c->fatal = true;
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	OBS_LOG(OBS_INFO, "database notice", OBS_S("severity", sev ? sev : ""),
	        OBS_S("message", msg ? msg : ""));
}

// Makes sure c->pg is open and idle: reads whatever the server sent while the
// connection sat in the pool (a terminated backend shows up here as EOF) and
// reconnects when it is bad.
static nrpc_code ensure_connected(pgpool *p, pgpool_conn *c, int64_t deadline_us, char *err,
                                  size_t errcap)
{
	if (c->pg != NULL) {
		pgconn_drain_idle(c->pg);
		if (c->fatal || PQstatus(c->pg) != CONNECTION_OK ||
		    PQtransactionStatus(c->pg) != PQTRANS_IDLE)
			drop_conn(c);
	}
	if (c->pg != NULL)
		return NRPC_OK;
	c->pg = pgconn_open(p->conninfo, deadline_us, err, errcap);
	if (c->pg == NULL) {
		atomic_store(&p->healthy, false);
		OBS_LOG(OBS_WARN, "database connect failed", OBS_S("error", err));
		snprintf(err, errcap, "database unavailable");
		return NRPC_UNAVAILABLE;
	}
	PQsetNoticeReceiver(c->pg, on_notice, c);
	obs_counter_add(p->c_reconnects, 1);
	return NRPC_OK;
}

nrpc_code pgpool_acquire(pgpool *p, int64_t deadline_us, pgpool_conn **out, char *err,
                         size_t errcap)
{
	*out = NULL;
	int64_t start = pgconn_now_us();
	if (deadline_us <= start) {
		snprintf(err, errcap, "deadline exceeded before the database call");
		return NRPC_DEADLINE_EXCEEDED;
	}
	int64_t limit = start + ms_to_us(p->wait_ms);
	if (limit > deadline_us)
		limit = deadline_us;

	pthread_mutex_lock(&p->mu);
	pgpool_conn *c = take_free(p);
	if (c == NULL)
		c = wait_free(p, limit);
	pthread_mutex_unlock(&p->mu);
	obs_histogram_observe(p->h_wait, (double)(pgconn_now_us() - start) / 1e6);
	if (c == NULL) {
		obs_counter_add(p->c_timeouts, 1);
		snprintf(err, errcap, "database pool exhausted");
		return NRPC_UNAVAILABLE;
	}
	nrpc_code rc = ensure_connected(p, c, deadline_us, err, errcap);
	if (rc != NRPC_OK) {
		give_back(p, c);
		return rc;
	}
	*out = c;
	return NRPC_OK;
}

void pgpool_release(pgpool *p, pgpool_conn *c)
{
	if (c == NULL)
		return;
	if (c->pg != NULL && (c->broken || PQstatus(c->pg) != CONNECTION_OK ||
	                      PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF ||
	                      PQtransactionStatus(c->pg) != PQTRANS_IDLE))
		drop_conn(c);
	give_back(p, c);
}

int pgpool_conn_pid(const pgpool_conn *c)
{
	return c && c->pg ? PQbackendPID(c->pg) : 0;
}

bool pgpool_healthy(pgpool *p)
{
	return atomic_load(&p->healthy);
}

// ---- exec: one pipeline per statement ---------------------------------------------------

static bool is_prepared(const pgpool_conn *c, unsigned slot)
{
	return (c->prepared[slot / 64] >> (slot % 64)) & 1u;
}

static void mark_prepared(pgpool_conn *c, unsigned slot)
{
	c->prepared[slot / 64] |= (uint64_t)1 << (slot % 64);
}

// Queues s on the pipeline (preceded by its Parse on first use). Returns the
// number of commands queued (each yields one result), or -1.
static int send_stmt(pgpool *p, pgpool_conn *c, const pgpool_stmt *s, const char *const *values,
                     bool *prepping)
{
	*prepping = false;
	if (p->no_prepare)
		return PQsendQueryParams(c->pg, s->sql, s->nparams, NULL, values, NULL, NULL, 0)
		           ? 1
		           : -1;
	int n = 0;
	if (!is_prepared(c, s->slot)) {
		if (!PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL))
			return -1;
		*prepping = true;
		n++;
	}
	if (!PQsendQueryPrepared(c->pg, s->name, s->nparams, values, NULL, NULL, 0))
		return -1;
	return n + 1;
}

// The next result of the pipeline, waiting (bounded) for the server.
// 0 with *out (NULL marks the end of one command's results), -1 on a lost
// connection or when guard_us passed (*timed_out).
static int next_result(PGconn *pg, int64_t guard_us, PGresult **out, bool *timed_out)
{
	while (PQisBusy(pg)) {
		int rv = pgconn_wait_readable(pg, guard_us);
		if (rv == 0) {
			*timed_out = true;
			return -1;
		}
		if (rv < 0 || !PQconsumeInput(pg))
			return -1;
	}
	*out = PQgetResult(pg);
	return 0;
}

typedef struct pipe_state {
	int cmd;             // index of the command whose results are being read
	int stmt_cmd;        // index of the statement's execute
	int prep_timeout;    // index of the set_timeout Parse, or -1
	int prep_stmt;       // index of the statement's Parse, or -1
	PGresult *stmt_res;  // the statement's result
	PGresult *first_err; // the first error result
	bool synced;
} pipe_state;

static void pipe_take(pgpool_conn *c, const pgpool_stmt *timeout_stmt, const pgpool_stmt *s,
                      pipe_state *st, PGresult *r)
{
	ExecStatusType es = PQresultStatus(r);
	if (es == PGRES_PIPELINE_SYNC) {
		st->synced = true;
	} else if (es == PGRES_FATAL_ERROR && st->first_err == NULL) {
		st->first_err = r;
		return;
	} else if (es == PGRES_COMMAND_OK && st->cmd == st->prep_timeout) {
		mark_prepared(c, timeout_stmt->slot);
	} else if (es == PGRES_COMMAND_OK && st->cmd == st->prep_stmt) {
		mark_prepared(c, s->slot);
	} else if (st->cmd == st->stmt_cmd && st->stmt_res == NULL &&
	           (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK)) {
		st->stmt_res = r;
		return;
	}
	PQclear(r);
}

nrpc_code pgpool_exec(pgpool *p, pgpool_conn *c, const pgpool_stmt *s, const char *const *values,
                      int64_t deadline_us, PGresult **res, char *err, size_t errcap)
{
	*res = NULL;
	int64_t start = pgconn_now_us();
	if (deadline_us <= start) {
		snprintf(err, errcap, "deadline exceeded before the database call");
		return NRPC_DEADLINE_EXCEEDED;
	}
	int64_t left_ms = (deadline_us - start) / 1000;
	if (left_ms < 1)
		left_ms = 1;
	if (left_ms > PGPOOL_STATEMENT_MAX_MS)
		left_ms = PGPOOL_STATEMENT_MAX_MS;
	char ms[24];
	snprintf(ms, sizeof ms, "%lld", (long long)left_ms);
	const char *tv[1] = {ms};

	pipe_state st = {.prep_timeout = -1, .prep_stmt = -1};
	bool timed_out = false, prepping = false;
	nrpc_code rc = NRPC_OK;
	if (!PQenterPipelineMode(c->pg))
		goto lost;
	int n1 = send_stmt(p, c, &p->set_timeout, tv, &prepping);
	if (n1 < 0)
		goto lost;
	st.prep_timeout = prepping ? 0 : -1;
	int n2 = send_stmt(p, c, s, values, &prepping);
	if (n2 < 0 || !PQpipelineSync(c->pg))
		goto lost;
	st.prep_stmt = prepping ? n1 : -1;
	st.stmt_cmd = n1 + n2 - 1;

	int64_t guard = deadline_us + ms_to_us(PGPOOL_GUARD_MS);
	while (!st.synced) {
		PGresult *r = NULL;
		if (next_result(c->pg, guard, &r, &timed_out) < 0)
			goto lost;
		if (r == NULL) {
			// A command's results are done. More NULLs than commands means
			// libpq gave up on the connection.
			if (++st.cmd > st.stmt_cmd + 1 || PQstatus(c->pg) == CONNECTION_BAD)
				goto lost;
			continue;
		}
		pipe_take(c, &p->set_timeout, s, &st, r);
		if (PQstatus(c->pg) == CONNECTION_BAD)
			goto lost;
	}
	if (!PQexitPipelineMode(c->pg))
		goto lost;
	if (st.first_err != NULL) {
		bool conn_lost = false;
		rc = pgerr_from_result(st.first_err, c->pg, s->name, &conn_lost, err, errcap);
		// Our record of prepared statements disagrees with the server's
		// (something ran DISCARD, or a Parse we did not see): start afresh.
		const char *state = PQresultErrorField(st.first_err, PG_DIAG_SQLSTATE);
		bool stale = state && (strcmp(state, "26000") == 0 || strcmp(state, "42P05") == 0);
		c->broken = conn_lost || stale;
	} else if (st.stmt_res == NULL) {
		OBS_LOG(OBS_ERROR, "database statement gave no result",
		        OBS_S("statement", s->name));
		snprintf(err, errcap, "internal database error");
		rc = NRPC_INTERNAL;
	}
	goto done;
lost:
	c->broken = true;
	if (timed_out) {
		OBS_LOG(OBS_WARN, "database did not answer by the deadline",
		        OBS_S("statement", s->name));
		snprintf(err, errcap, "deadline exceeded in the database");
		rc = NRPC_DEADLINE_EXCEEDED;
	} else {
		bool conn_lost = true;
		rc = pgerr_from_result(st.first_err, c->pg, s->name, &conn_lost, err, errcap);
		if (rc != NRPC_DEADLINE_EXCEEDED) {
			rc = NRPC_UNAVAILABLE;
			snprintf(err, errcap, "database unavailable");
		}
	}
done:
	PQclear(st.first_err);
	if (rc == NRPC_OK) {
		*res = st.stmt_res;
		atomic_store(&p->healthy, true);
	} else {
		PQclear(st.stmt_res);
		if (rc == NRPC_UNAVAILABLE)
			atomic_store(&p->healthy, false);
	}
	int64_t dur_us = pgconn_now_us() - start;
	obs_histogram_observe(s->duration, (double)dur_us / 1e6);
	if (p->slow_ms >= 0 && dur_us > ms_to_us(p->slow_ms))
		OBS_LOG(OBS_WARN, "slow query", OBS_S("statement", s->name),
		        OBS_I("duration_us", dur_us));
	return rc;
}

nrpc_code pgpool_query(pgpool *p, const pgpool_stmt *s, const char *const *values,
                       int64_t deadline_us, PGresult **res, char *err, size_t errcap)
{
	pgpool_conn *c = NULL;
	*res = NULL;
	nrpc_code rc = pgpool_acquire(p, deadline_us, &c, err, errcap);
	if (rc != NRPC_OK)
		return rc;
	rc = pgpool_exec(p, c, s, values, deadline_us, res, err, errcap);
	pgpool_release(p, c);
	return rc;
}

nrpc_code pgpool_ping(pgpool *p, int timeout_ms, char *err, size_t errcap)
{
	int64_t deadline = pgconn_now_us() + ms_to_us(timeout_ms);
	pthread_mutex_lock(&p->mu);
	pgpool_conn *c = take_free(p);
	pthread_mutex_unlock(&p->mu);
	if (c == NULL) {
		if (pgpool_healthy(p))
			return NRPC_OK;
		snprintf(err, errcap, "database unavailable");
		return NRPC_UNAVAILABLE;
	}
	nrpc_code rc = ensure_connected(p, c, deadline, err, errcap);
	if (rc != NRPC_OK) {
		give_back(p, c);
		return rc;
	}
	PGresult *r = NULL;
	rc = pgpool_exec(p, c, &p->probe, NULL, deadline, &r, err, errcap);
	PQclear(r);
	pgpool_release(p, c);
	return rc;
}
