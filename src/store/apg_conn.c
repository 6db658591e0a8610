// apg connections: the non-blocking connect, the pipeline (sending sync
// groups, reading their results in order), failures, reconnects and cancels.
#include "store/apg_int.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/resolve.h"
#include "obs/log.h"
#include "store/pgconn.h"
#include "store/pgerr.h"

#define SETUP_LABEL "apg_session_setup"

static unsigned ring_cap(const store_apg *p)
{
	return p->max_pipeline + 1; // the session setup rides in front of the first queries
}

static bool is_prepared(const store_apg_conn *c, unsigned slot)
{
	return (c->prepared[slot / 64] >> (slot % 64)) & 1u;
}

static void set_prepared(store_apg_conn *c, unsigned slot, bool on)
{
	uint64_t bit = (uint64_t)1 << (slot % 64);
	if (on)
		c->prepared[slot / 64] |= bit;
	else
		c->prepared[slot / 64] &= ~bit;
}

// The first line of libpq's last error (it may name the host, never the password).
static void first_line(const PGconn *pg, char *buf, size_t cap)
{
	const char *m = pg ? PQerrorMessage(pg) : "out of memory";
	snprintf(buf, cap, "%.*s", (int)strcspn(m, "\n"), m);
}

static void log_notice(void *arg, const PGresult *res)
{
	const store_apg_conn *c = arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	OBS_LOG(OBS_INFO, "database notice", OBS_I("conn", c->idx),
	        OBS_S("severity", sev ? sev : ""), OBS_S("message", msg ? msg : ""));
}

// ---- the ring ---------------------------------------------------------------------------------

static store_apg_entry *ring_push(store_apg_conn *c, unsigned *pos)
{
	*pos = (c->head + c->count) % ring_cap(c->p);
	c->count++;
	store_apg_entry *e = &c->ring[*pos];
	memset(e, 0, sizeof *e);
	e->sent_us = store_pgconn_now_us();
	e->ncmds = 1;
	return e;
}

// Drops the head entry (its results, if any, are the caller's or freed here).
static void ring_pop(store_apg_conn *c)
{
	store_apg *p = c->p;
	if (c->ring[c->head].stmt != NULL) {
		if (c->ring[c->head].stmt->heavy)
			c->nheavy--;
		if (--c->nq == 0) {
			obs_gauge_add(p->g_in_use, -1);
			obs_gauge_add(p->g_idle, 1);
		}
		p->in_flight--;
		obs_gauge_add(p->g_depth, -1);
	}
	c->head = (c->head + 1) % ring_cap(p);
	c->count--;
}

// Completes everything in flight with UNAVAILABLE and empties the ring.
static void fail_in_flight(store_apg_conn *c, const char *msg)
{
	while (c->count > 0) {
		store_apg_entry *e = &c->ring[c->head];
		PQclear(e->res);
		PQclear(e->err);
		if (e->q != NULL)
			store_apg_complete(c->p, e->q, NRPC_UNAVAILABLE, NULL, msg);
		ring_pop(c);
	}
}

// Closes the socket and forgets per-session state (prepared statements).
static void drop_session(store_apg_conn *c)
{
	if (c->rd) {
		event_free(c->rd);
		c->rd = NULL;
	}
	if (c->wr) {
		event_free(c->wr);
		c->wr = NULL;
	}
	if (c->cev) {
		event_free(c->cev);
		c->cev = NULL;
	}
	if (c->timer)
		event_del(c->timer);
	if (c->cancel_ev)
		event_del(c->cancel_ev);
	c->writing = false;
	PQfinish(c->pg);
	c->pg = NULL;
	c->cancel_us = 0;
	memset(c->prepared, 0, sizeof c->prepared);
	c->state = APG_C_DOWN;
}

// First retry at once, then APG_BACKOFF_MIN_MS doubling up to APG_BACKOFF_MAX_MS.
static void schedule_reconnect(store_apg_conn *c)
{
	int64_t ms = 0;
	if (c->fails > 0) {
		unsigned shift = c->fails - 1 < 16 ? c->fails - 1 : 16;
		ms = (int64_t)APG_BACKOFF_MIN_MS << shift;
		if (ms > APG_BACKOFF_MAX_MS)
			ms = APG_BACKOFF_MAX_MS;
	}
	c->fails++;
	struct timeval tv = store_apg_tv(ms * 1000);
	event_add(c->timer, &tv);
}

// The connection broke: in-flight queries fail, queued ones wait for another.
static void conn_fail(store_apg_conn *c, const char *what)
{
	store_apg *p = c->p;
	char msg[200];
	first_line(c->pg, msg, sizeof msg);
	OBS_LOG(OBS_WARN, "database connection lost", OBS_I("conn", c->idx), OBS_S("during", what),
	        OBS_I("in_flight", c->nq), OBS_S("error", msg));
	p->healthy = false;
	fail_in_flight(c, "database unavailable");
	drop_session(c);
	schedule_reconnect(c);
}

static void connect_failed(store_apg_conn *c, const char *why)
{
	char msg[200];
	if (why == NULL)
		first_line(c->pg, msg, sizeof msg);
	else
		snprintf(msg, sizeof msg, "%s", why);
	if (c->fails == 0) // once per outage, not once per retry
		OBS_LOG(OBS_WARN, "database connect failed", OBS_I("conn", c->idx),
		        OBS_S("error", msg));
	c->p->healthy = false;
	c->p->connect_failing = true;
	drop_session(c);
	schedule_reconnect(c);
	store_apg_fail_queued_if_down(c->p);
}

// ---- writing ----------------------------------------------------------------------------------

// Pushes libpq's output buffer; watches for writability while some is left.
// -1 when the connection failed (c is reset).
static int flush_out(store_apg_conn *c)
{
	int r = PQflush(c->pg);
	if (r < 0) {
		conn_fail(c, "write");
		return -1;
	}
	if (r > 0 && !c->writing) {
		event_add(c->wr, NULL);
		c->writing = true;
	} else if (r == 0 && c->writing) {
		event_del(c->wr);
		c->writing = false;
	}
	return 0;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_apg_conn *c = arg;
	flush_out(c);
}

store_apg_conn *store_apg_conn_pick(store_apg *p, bool heavy)
{
	store_apg_conn *best = NULL;
	for (unsigned i = 0; i < p->nconn; i++) {
		store_apg_conn *c = &p->conns[i];
		if (c->state != APG_C_READY || c->nq >= p->max_pipeline)
			continue;
		if (heavy && (c->nheavy > 0 || (i == 0 && p->nconn > 1)))
			continue;
		// A connection with no scan in flight first, then the fewest queries.
		if (best == NULL || (c->nheavy == 0) > (best->nheavy == 0) ||
		    ((c->nheavy == 0) == (best->nheavy == 0) && c->nq < best->nq))
			best = c;
	}
	return best;
}

void store_apg_conn_send(store_apg_conn *c, store_apg_query *q)
{
	store_apg *p = c->p;
	const store_apg_stmt *s = q->stmt;
	unsigned pos;
	store_apg_entry *e = ring_push(c, &pos);
	e->q = q;
	e->stmt = s;
	e->deadline_us = q->deadline_us;
	// A cancel request still on its way can stop this one too.
	e->exposed = c->cancel_us != 0 && e->sent_us - c->cancel_us < APG_CANCEL_EXPOSURE_MS * 1000;
	if (s->heavy)
		c->nheavy++;
	if (c->nq++ == 0) {
		obs_gauge_add(p->g_in_use, 1);
		obs_gauge_add(p->g_idle, -1);
	}
	p->in_flight++;
	obs_gauge_add(p->g_depth, 1);
	q->priv.state = APG_Q_SENT;
	q->priv.conn = c;
	q->priv.entry = pos;

	int ok = 1;
	if (p->no_prepare) {
		ok = PQsendQueryParams(c->pg, s->sql, s->nparams, NULL, q->values, NULL, NULL, 0);
	} else {
		if (!is_prepared(c, s->slot)) {
			// Marked now: the queries sent behind this one find it prepared.
			ok = PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL);
			e->prepare = true;
			e->ncmds = 2;
			set_prepared(c, s->slot, true);
		}
		ok =
		    ok && PQsendQueryPrepared(c->pg, s->name, s->nparams, q->values, NULL, NULL, 0);
	}
	if (!ok || !PQpipelineSync(c->pg)) {
		conn_fail(c, "send");
		return;
	}
	flush_out(c);
}

// The session's statement_timeout, in front of everything else on it.
static int send_setup(store_apg_conn *c)
{
	unsigned pos;
	ring_push(c, &pos);
	char ms[24];
	snprintf(ms, sizeof ms, "%d", c->p->stmt_timeout_ms);
	const char *v[1] = {ms};
	if (!PQsendQueryParams(c->pg, "SELECT set_config('statement_timeout', $1, false)", 1, NULL,
	                       v, NULL, NULL, 0) ||
	    !PQpipelineSync(c->pg)) {
		conn_fail(c, "session setup");
		return -1;
	}
	return flush_out(c);
}

// ---- cancel -----------------------------------------------------------------------------------

static void *cancel_main(void *arg)
{
	PGcancel *cn = arg;
	char buf[256];
	if (!PQcancel(cn, buf, (int)sizeof buf)) {
		buf[strcspn(buf, "\n")] = '\0';
		OBS_LOG(OBS_WARN, "database cancel request failed", OBS_S("error", buf));
	}
	PQfreeCancel(cn);
	return NULL;
}

// PQcancel opens a connection of its own and waits for it: on a detached
// thread that owns the PGcancel, so the loop never waits and the pool may be
// destroyed meanwhile.
static void send_cancel(store_apg_conn *c, store_apg_entry *head)
{
	store_apg *p = c->p;
	head->cancel_sent = true;
	c->cancel_us = store_pgconn_now_us();
	for (unsigned i = 0; i < c->count; i++)
		c->ring[(c->head + i) % ring_cap(p)].exposed = true;
	obs_counter_add(p->c_cancels, 1);
	OBS_LOG(OBS_INFO, "cancelling a query past its deadline", OBS_I("conn", c->idx),
	        OBS_S("statement", store_apg_label(head->stmt)),
	        OBS_I("overdue_us", store_pgconn_now_us() - head->deadline_us));
	PGcancel *cn = PQgetCancel(c->pg);
	if (cn == NULL)
		return;
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, cancel_main, cn) != 0) {
		OBS_LOG(OBS_WARN, "database cancel request not sent: no thread");
		PQfreeCancel(cn);
	}
	pthread_attr_destroy(&attr);
}

// Acts on (or arms the timer for) an overdue query at the head of c's pipeline.
static void cancel_check(store_apg_conn *c, bool fire)
{
	if (c->state != APG_C_READY || c->count == 0)
		return;
	store_apg_entry *e = &c->ring[c->head];
	if (e->q != NULL || e->stmt == NULL || e->cancel_sent)
		return;
	int64_t left = e->deadline_us + (int64_t)APG_CANCEL_GUARD_MS * 1000 - store_pgconn_now_us();
	if (fire && left <= 0) {
		send_cancel(c, e);
		return;
	}
	struct timeval tv = store_apg_tv(left);
	event_add(c->cancel_ev, &tv);
}

void store_apg_conn_check_cancel(store_apg_conn *c)
{
	cancel_check(c, false);
}

static void on_cancel_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cancel_check(arg, true);
}

void store_apg_conn_abandon(store_apg_conn *c, store_apg_query *q)
{
	c->ring[q->priv.entry].q = NULL;
}

// ---- reading ----------------------------------------------------------------------------------

// The head group's Sync arrived: completes its query. -1 when the connection
// is to be dropped (it is, and c is reset).
static int finish_head(store_apg_conn *c)
{
	store_apg *p = c->p;
	store_apg_entry e = c->ring[c->head];
	ring_pop(c);
	int64_t now = store_pgconn_now_us();
	int64_t dur_us = now - e.sent_us;
	const char *label = e.stmt ? store_apg_label(e.stmt) : SETUP_LABEL;
	if (e.stmt != NULL) {
		obs_histogram_observe(e.stmt->duration, (double)dur_us / 1e6);
		if (p->slow_ms >= 0 && dur_us > (int64_t)p->slow_ms * 1000)
			OBS_LOG(OBS_WARN, "slow query", OBS_S("statement", label),
			        OBS_I("duration_us", dur_us), OBS_B("overdue", e.q == NULL));
	}

	const char *state = e.err ? PQresultErrorField(e.err, PG_DIAG_SQLSTATE) : NULL;
	if (state != NULL && strcmp(state, "26000") == 0) {
		// Our prepared statements are gone (DEALLOCATE or DISCARD ran):
		// prepare again from the next query on.
		memset(c->prepared, 0, sizeof c->prepared);
	} else if (e.err != NULL && e.prepare && e.err_cmd == 0 &&
	           (state == NULL || strcmp(state, "42P05") != 0)) {
		set_prepared(c, e.stmt->slot, false); // its Parse failed
	}

	bool lost = false;
	if (e.q == NULL) {
		// The session setup, or a query that completed at its deadline.
		if (e.err != NULL && e.stmt == NULL) {
			char msg[APG_ERR_MAX];
			store_pgerr_from_result(e.err, c->pg, label, &lost, msg, sizeof msg);
		} else if (e.err != NULL) {
			lost = store_pgerr_classify(state).conn_lost;
		}
		PQclear(e.res);
	} else {
		nrpc_code code = NRPC_OK;
		char msg[APG_ERR_MAX] = "";
		PGresult *res = e.res;
		if (e.err != NULL) {
			code = store_pgerr_from_result(e.err, c->pg, label, &lost, msg, sizeof msg);
			if (code == NRPC_DEADLINE_EXCEEDED && e.exposed && now < e.deadline_us) {
				code =
				    NRPC_UNAVAILABLE; // hit by the cancel meant for another query
				snprintf(msg, sizeof msg, "database query cancelled, retry");
			}
			PQclear(res);
			res = NULL;
		} else if (res == NULL) {
			OBS_LOG(OBS_ERROR, "database statement gave no result",
			        OBS_S("statement", label));
			code = NRPC_INTERNAL;
			snprintf(msg, sizeof msg, "internal database error");
		}
		store_apg_complete(p, e.q, code, res, msg);
	}
	if (e.err == NULL) {
		c->fails = 0;
		p->healthy = true;
	}
	PQclear(e.err);
	if (lost) {
		conn_fail(c, "query");
		return -1;
	}
	cancel_check(c, false); // the new head may be overdue already
	return 0;
}

// Takes every complete result libpq has parsed. -1 when the connection failed.
static int read_results(store_apg_conn *c)
{
	while (c->count > 0 && !PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (PQstatus(c->pg) == CONNECTION_BAD) {
			PQclear(r);
			conn_fail(c, "read");
			return -1;
		}
		store_apg_entry *e = &c->ring[c->head];
		if (r == NULL) {
			// One command's results are over; more ends than commands
			// means libpq and we disagree about the pipeline.
			if (++e->cmd > e->ncmds) {
				conn_fail(c, "pipeline out of step");
				return -1;
			}
			continue;
		}
		switch (PQresultStatus(r)) {
		case PGRES_PIPELINE_SYNC:
			PQclear(r);
			if (finish_head(c) < 0)
				return -1;
			break;
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
			if (e->cmd + 1 == e->ncmds && e->res == NULL && e->err == NULL)
				e->res = r;
			else
				PQclear(r); // the Parse's result
			break;
		case PGRES_FATAL_ERROR:
			if (e->err == NULL) {
				e->err = r;
				e->err_cmd = e->cmd;
			} else {
				PQclear(r);
			}
			break;
		default:
			PQclear(r); // PGRES_PIPELINE_ABORTED: a command behind the error
			break;
		}
	}
	return 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_apg_conn *c = arg;
	store_apg *p = c->p;
	if (!PQconsumeInput(c->pg)) {
		conn_fail(c, "read");
		return;
	}
	if (read_results(c) < 0)
		return;
	if (c->writing && flush_out(c) < 0)
		return;
	store_apg_pump(p);
}

// ---- connecting -------------------------------------------------------------------------------

static void on_connect_io(evutil_socket_t fd, short what, void *arg);

static void watch_connect(store_apg_conn *c, short what)
{
	if (c->cev) {
		event_free(c->cev);
		c->cev = NULL;
	}
	int fd = PQsocket(c->pg);
	if (fd >= 0)
		c->cev = event_new(c->p->base, fd, what, on_connect_io, c);
	if (c->cev == NULL || event_add(c->cev, NULL) != 0)
		connect_failed(c, "cannot watch the socket");
}

static void conn_ready(store_apg_conn *c)
{
	store_apg *p = c->p;
	event_free(c->cev);
	c->cev = NULL;
	event_del(c->timer);
	if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg)) {
		connect_failed(c, NULL);
		return;
	}
	PQsetNoticeReceiver(c->pg, log_notice, c);
	int fd = PQsocket(c->pg);
	c->rd = event_new(p->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wr = event_new(p->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	if (c->rd == NULL || c->wr == NULL || event_add(c->rd, NULL) != 0) {
		connect_failed(c, "cannot watch the socket");
		return;
	}
	c->state = APG_C_READY;
	p->healthy = true;
	p->connect_failing = false;
	obs_counter_add(p->c_reconnects, 1);
	OBS_LOG(OBS_INFO, "database connected", OBS_I("conn", c->idx),
	        OBS_I("backend_pid", PQbackendPID(c->pg)));
	if (p->stmt_timeout_ms > 0 && send_setup(c) < 0)
		return;
	store_apg_pump(p);
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_apg_conn *c = arg;
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_OK:
		conn_ready(c);
		break;
	case PGRES_POLLING_FAILED:
		connect_failed(c, NULL);
		break;
	case PGRES_POLLING_READING:
		watch_connect(c, EV_READ);
		break;
	default:
		watch_connect(c, EV_WRITE);
		break;
	}
}

char *store_apg_dns_host(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	if (opts == NULL)
		return NULL;
	const char *host = NULL, *hostaddr = NULL;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
	}
	char *name = NULL;
	unsigned char buf[16];
	if (host != NULL && host[0] != '\0' && host[0] != '/' && strchr(host, ',') == NULL &&
	    (hostaddr == NULL || hostaddr[0] == '\0') && inet_pton(AF_INET, host, buf) != 1 &&
	    inet_pton(AF_INET6, host, buf) != 1)
		name = strdup(host);
	PQconninfoFree(opts);
	return name;
}

// How soon a connect waiting for its host's address looks again.
#define APG_RESOLVE_POLL_MS 20

void store_apg_conn_start(store_apg_conn *c)
{
	store_apg *p = c->p;
	// Our value first: a setting in the conninfo overrides it; then the
	// address resolved off the loop, which overrides the conninfo's.
	const char *keys[] = {"fallback_application_name", "dbname", NULL, NULL};
	const char *vals[] = {"propertyd", p->conninfo, NULL, NULL};
	char addr[BASE_RESOLVE_ADDR_MAX], why[160];
	if (p->dns_host != NULL) {
		switch (
		    base_resolve(p->resolver, p->dns_host, addr, sizeof addr, why, sizeof why)) {
		case BASE_RESOLVE_READY:
			keys[2] = "hostaddr";
			vals[2] = addr;
			break;
		case BASE_RESOLVE_PENDING: {
			// Not a failure: the name is being resolved; look again soon.
			c->state = APG_C_DOWN;
			struct timeval tv = store_apg_tv((int64_t)APG_RESOLVE_POLL_MS * 1000);
			event_add(c->timer, &tv);
			return;
		}
		case BASE_RESOLVE_FAILED:
			connect_failed(c, why);
			return;
		case BASE_RESOLVE_NUMERIC:
			break;
		}
	}
	c->pg = PQconnectStartParams(keys, vals, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		connect_failed(c, NULL);
		return;
	}
	c->state = APG_C_CONNECTING;
	struct timeval tv = store_apg_tv((int64_t)p->connect_ms * 1000);
	event_add(c->timer, &tv);
	watch_connect(c, EV_WRITE); // libpq: wait for writability before the first poll
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_apg_conn *c = arg;
	if (c->state == APG_C_DOWN)
		store_apg_conn_start(c);
	else if (c->state == APG_C_CONNECTING)
		connect_failed(c, "connect timed out");
}

int store_apg_conn_init(store_apg *p, store_apg_conn *c, unsigned idx)
{
	c->p = p;
	c->idx = idx;
	c->state = APG_C_DOWN;
	c->ring = calloc(ring_cap(p), sizeof *c->ring);
	c->timer = evtimer_new(p->base, on_timer, c);
	c->cancel_ev = evtimer_new(p->base, on_cancel_timer, c);
	return c->ring && c->timer && c->cancel_ev ? 0 : -1;
}

void store_apg_conn_close(store_apg_conn *c)
{
	fail_in_flight(c, "database client shut down");
	drop_session(c);
	if (c->timer) {
		event_free(c->timer);
		c->timer = NULL;
	}
	if (c->cancel_ev) {
		event_free(c->cancel_ev);
		c->cancel_ev = NULL;
	}
	free(c->ring);
	c->ring = NULL;
}
