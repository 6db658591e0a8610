// apg: the pool, its wait queue, deadlines and completions. The connections
// and their pipelines are in apg_conn.c; apg_int.h is what the two share.
#include "store/apg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/log.h"
#include "store/pgconn.h"

struct timeval store_apg_tv(int64_t us)
{
	if (us < 0)
		us = 0;
	struct timeval tv = {.tv_sec = (time_t)(us / 1000000),
	                     .tv_usec = (suseconds_t)(us % 1000000)};
	return tv;
}

// ---- deadline heap: every query queued or in flight (not yet completed) ---------------------

static void heap_set(store_apg *p, unsigned i, store_apg_query *q)
{
	p->heap[i] = q;
	q->priv.heap = i;
}

static void heap_up(store_apg *p, unsigned i)
{
	store_apg_query *q = p->heap[i];
	while (i > 0) {
		unsigned parent = (i - 1) / 2;
		if (p->heap[parent]->deadline_us <= q->deadline_us)
			break;
		heap_set(p, i, p->heap[parent]);
		i = parent;
	}
	heap_set(p, i, q);
}

static void heap_down(store_apg *p, unsigned i)
{
	store_apg_query *q = p->heap[i];
	for (;;) {
		unsigned child = 2 * i + 1;
		if (child >= p->heap_n)
			break;
		if (child + 1 < p->heap_n &&
		    p->heap[child + 1]->deadline_us < p->heap[child]->deadline_us)
			child++;
		if (p->heap[child]->deadline_us >= q->deadline_us)
			break;
		heap_set(p, i, p->heap[child]);
		i = child;
	}
	heap_set(p, i, q);
}

static void heap_push(store_apg *p, store_apg_query *q)
{
	heap_set(p, p->heap_n++, q);
	heap_up(p, p->heap_n - 1);
}

static void heap_remove(store_apg *p, store_apg_query *q)
{
	unsigned i = q->priv.heap;
	if (i == APG_HEAP_NONE)
		return;
	q->priv.heap = APG_HEAP_NONE;
	store_apg_query *last = p->heap[--p->heap_n];
	if (i == p->heap_n)
		return;
	heap_set(p, i, last);
	heap_up(p, i);
	heap_down(p, last->priv.heap);
}

// Keeps the deadline timer on the earliest deadline. A timer left on a later
// query's deadline only fires early and is re-armed.
static void arm_deadline(store_apg *p)
{
	if (p->heap_n == 0 || p->closing)
		return;
	int64_t at = p->heap[0]->deadline_us;
	if (at == p->deadline_at)
		return;
	p->deadline_at = at;
	struct timeval tv = store_apg_tv(at - store_pgconn_now_us());
	event_add(p->deadline_ev, &tv);
}

// ---- the wait queue ---------------------------------------------------------------------------

static struct store_apg_lane *lane_of(store_apg *p, const store_apg_query *q)
{
	return &p->lanes[q->stmt->heavy ? 1 : 0];
}

static void queue_push(store_apg *p, store_apg_query *q)
{
	struct store_apg_lane *l = lane_of(p, q);
	q->priv.next = NULL;
	q->priv.prev = l->tail;
	if (l->tail)
		l->tail->priv.next = q;
	else
		l->head = q;
	l->tail = q;
	p->queued++;
	obs_gauge_add(p->g_queue, 1);
	obs_counter_add(p->c_waits, 1);
	q->priv.queued_us = store_pgconn_now_us();
}

static void queue_unlink(store_apg *p, store_apg_query *q)
{
	struct store_apg_lane *l = lane_of(p, q);
	if (q->priv.prev)
		q->priv.prev->priv.next = q->priv.next;
	else
		l->head = q->priv.next;
	if (q->priv.next)
		q->priv.next->priv.prev = q->priv.prev;
	else
		l->tail = q->priv.prev;
	q->priv.next = q->priv.prev = NULL;
	p->queued--;
	obs_gauge_add(p->g_queue, -1);
	if (l->head == NULL)
		l->wait_us = 0; // drained: the next backlog is judged by its own waits
}

// A query left its lane after waiting there since queued_us (sent, or
// expired: it waited at least that long): the lane's average wait follows
// (weight 1/8), for shedding at submit.
static void lane_waited(store_apg *p, const store_apg_query *q, int64_t now)
{
	struct store_apg_lane *l = lane_of(p, q);
	l->wait_us += (now - q->priv.queued_us - l->wait_us) / 8;
}

// Any queued query (the short lane's first), or NULL.
static store_apg_query *queue_any(const store_apg *p)
{
	return p->lanes[0].head != NULL ? p->lanes[0].head : p->lanes[1].head;
}

// ---- completions ------------------------------------------------------------------------------

void store_apg_complete(store_apg *p, store_apg_query *q, nrpc_code code, PGresult *res,
                        const char *err)
{
	heap_remove(p, q);
	q->priv.state = APG_Q_DONE;
	q->priv.conn = NULL;
	q->priv.code = code;
	q->priv.res = res;
	snprintf(q->priv.err, sizeof q->priv.err, "%s", err ? err : "");
	q->priv.next = NULL;
	q->priv.prev = NULL;
	if (p->dtail)
		p->dtail->priv.next = q;
	else
		p->dhead = q;
	p->dtail = q;
	p->ndone++;
	if (!p->closing)
		event_active(p->done_ev, EV_TIMEOUT, 1);
}

// Hands the oldest completion to its callback.
static void deliver_one(store_apg *p)
{
	store_apg_query *q = p->dhead;
	p->dhead = q->priv.next;
	if (p->dhead == NULL)
		p->dtail = NULL;
	p->ndone--;
	q->priv.next = NULL;
	q->priv.state = APG_Q_IDLE;
	nrpc_code code = q->priv.code;
	PGresult *res = q->priv.res;
	q->priv.res = NULL;
	// The callback may free or resubmit q: nothing of q is read after it.
	q->done(q, code, code == NRPC_OK ? res : NULL, code == NRPC_OK ? NULL : q->priv.err);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_apg *p = arg;
	bool alive = true;
	p->alive = &alive;
	// Only those due now: completions added by the callbacks wait for the
	// next pass, so a callback that keeps resubmitting cannot starve the loop.
	for (unsigned n = p->ndone; n > 0 && p->dhead != NULL; n--) {
		deliver_one(p);
		if (!alive)
			return; // a callback destroyed the pool
	}
	p->alive = NULL;
	if (p->dhead != NULL)
		event_active(p->done_ev, EV_TIMEOUT, 1);
}

// ---- deadlines --------------------------------------------------------------------------------

static void expire(store_apg *p, store_apg_query *q)
{
	if (q->priv.state == APG_Q_QUEUED) {
		lane_waited(p, q, store_pgconn_now_us());
		queue_unlink(p, q);
		store_apg_complete(p, q, NRPC_DEADLINE_EXCEEDED, NULL,
		                   "deadline exceeded before the database call");
	} else if (q->priv.state == APG_Q_SENT) {
		store_apg_conn *c = q->priv.conn;
		store_apg_conn_abandon(c, q);
		store_apg_complete(p, q, NRPC_DEADLINE_EXCEEDED, NULL,
		                   "deadline exceeded in the database");
		store_apg_conn_check_cancel(c);
	} else {
		heap_remove(p, q); // not reached: only queued and sent queries are in the heap
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_apg *p = arg;
	p->deadline_at = 0;
	int64_t now = store_pgconn_now_us();
	while (p->heap_n > 0 && p->heap[0]->deadline_us <= now)
		expire(p, p->heap[0]);
	arm_deadline(p);
}

// ---- submit -----------------------------------------------------------------------------------

static bool registered(const store_apg *p, const store_apg_stmt *s)
{
	return s != NULL && s->slot < p->nstmts && p->stmts[s->slot] == s;
}

void store_apg_pump(store_apg *p)
{
	while (!p->closing) {
		// The older head first; a head that cannot go lets the other lane's.
		store_apg_query *a = p->lanes[0].head, *b = p->lanes[1].head;
		if (a != NULL && b != NULL && b->priv.queued_us < a->priv.queued_us) {
			a = b;
			b = p->lanes[0].head;
		}
		store_apg_query *q = a;
		store_apg_conn *c = a != NULL ? store_apg_conn_pick(p, a->stmt->heavy) : NULL;
		if (c == NULL && b != NULL) {
			q = b;
			c = store_apg_conn_pick(p, b->stmt->heavy);
		}
		if (c == NULL)
			return;
		int64_t now = store_pgconn_now_us();
		lane_waited(p, q, now);
		queue_unlink(p, q);
		obs_histogram_observe(p->h_wait, (double)(now - q->priv.queued_us) / 1e6);
		store_apg_conn_send(c, q);
	}
}

static bool any_ready(const store_apg *p)
{
	for (unsigned i = 0; i < p->nconn; i++)
		if (p->conns[i].state == APG_C_READY)
			return true;
	return false;
}

void store_apg_fail_queued_if_down(store_apg *p)
{
	if (!p->connect_failing || any_ready(p))
		return;
	for (store_apg_query *q; (q = queue_any(p)) != NULL;) {
		queue_unlink(p, q);
		store_apg_complete(p, q, NRPC_UNAVAILABLE, NULL, "database unavailable");
	}
}

void store_apg_submit(store_apg *p, store_apg_query *q)
{
	memset(&q->priv, 0, sizeof q->priv);
	q->priv.heap = APG_HEAP_NONE;
	if (q->done == NULL) {
		OBS_LOG(OBS_ERROR, "database query without a callback dropped");
		return;
	}
	if (p->closing) {
		store_apg_complete(p, q, NRPC_UNAVAILABLE, NULL, "database client shut down");
		return;
	}
	if (!registered(p, q->stmt)) {
		OBS_LOG(OBS_ERROR, "database query of an unregistered statement",
		        OBS_S("statement", q->stmt && q->stmt->name ? q->stmt->name : ""));
		store_apg_complete(p, q, NRPC_INTERNAL, NULL, "internal database error");
		return;
	}
	if (q->deadline_us <= store_pgconn_now_us()) {
		store_apg_complete(p, q, NRPC_DEADLINE_EXCEEDED, NULL,
		                   "deadline exceeded before the database call");
		return;
	}
	if (p->connect_failing && !any_ready(p)) {
		// Unreachable, and nothing connected: say so now rather than at
		// the deadline (reconnects go on in the background). A connection
		// that merely broke does not count: its reconnect may well succeed
		// at once, and queued queries wait for it.
		store_apg_complete(p, q, NRPC_UNAVAILABLE, NULL, "database unavailable");
		return;
	}
	if (lane_of(p, q)->head == NULL) {
		store_apg_conn *c = store_apg_conn_pick(p, q->stmt->heavy);
		if (c != NULL) {
			heap_push(p, q);
			arm_deadline(p);
			store_apg_conn_send(c, q);
			return;
		}
	}
	if (p->queued >= p->max_queued || p->heap_n >= p->heap_cap) {
		obs_counter_add(p->c_rejected, 1);
		store_apg_complete(p, q, NRPC_UNAVAILABLE, NULL, "database busy");
		return;
	}
	struct store_apg_lane *l = lane_of(p, q);
	if (l->head != NULL && q->deadline_us - store_pgconn_now_us() < l->wait_us) {
		// Others wait in this lane already, and lately a wait took longer
		// than this query has left: it would expire in the queue. Said now,
		// the caller's time and a queue slot are not spent on it.
		obs_counter_add(p->c_shed, 1);
		store_apg_complete(p, q, NRPC_DEADLINE_EXCEEDED, NULL,
		                   "deadline too near for the database queue");
		return;
	}
	q->priv.state = APG_Q_QUEUED;
	queue_push(p, q);
	heap_push(p, q);
	arm_deadline(p);
}

bool store_apg_healthy(const store_apg *p)
{
	return p->healthy;
}

unsigned store_apg_in_flight(const store_apg *p)
{
	return p->in_flight;
}

unsigned store_apg_queued(const store_apg *p)
{
	return p->queued;
}

// ---- statements -------------------------------------------------------------------------------

static bool valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return true;
}

const char *store_apg_label(const store_apg_stmt *s)
{
	return s->label ? s->label : s->name;
}

int store_apg_register(store_apg *p, store_apg_stmt *s)
{
	if (registered(p, s))
		return 0;
	if (!valid_name(s->name) || s->sql == NULL || s->nparams < 0 || p->nstmts >= APG_MAX_STMTS)
		return -1;
	for (unsigned i = 0; i < p->nstmts; i++) {
		if (strcmp(p->stmts[i]->name, s->name) == 0)
			return -1; // one name, one statement, on every connection
	}
	char value[128], labels[160];
	obs_label_escape(store_apg_label(s), value, sizeof value);
	snprintf(labels, sizeof labels, "statement=\"%s\"", value);
	s->duration = obs_histogram_get(p->reg, "propertyd_db_query_duration_seconds",
	                                "Time of one statement's round trip, by statement.", labels,
	                                obs_latency_bounds, obs_latency_bounds_n);
	s->slot = p->nstmts;
	p->stmts[p->nstmts++] = s;
	return 0;
}

// ---- create / destroy -------------------------------------------------------------------------

int store_apg_create(store_apg **out, const store_apg_config *cfg, char *err, size_t errcap)
{
	*out = NULL;
	if (cfg->conninfo == NULL || cfg->base == NULL || cfg->metrics == NULL ||
	    cfg->connections == 0) {
		snprintf(err, errcap,
		         "apg: conninfo, base, metrics and connections >= 1 are required");
		return -1;
	}
	store_apg *p = calloc(1, sizeof *p);
	if (p == NULL)
		goto oom;
	p->base = cfg->base;
	p->reg = cfg->metrics;
	p->nconn = cfg->connections;
	p->max_pipeline = cfg->max_pipeline ? cfg->max_pipeline : APG_DEFAULT_MAX_PIPELINE;
	p->max_queued = cfg->max_queued ? cfg->max_queued : APG_DEFAULT_MAX_QUEUED;
	p->stmt_timeout_ms = cfg->statement_timeout_ms == 0 ? APG_DEFAULT_STATEMENT_TIMEOUT
	                                                    : cfg->statement_timeout_ms;
	p->connect_ms =
	    cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : APG_DEFAULT_CONNECT_TIMEOUT_MS;
	p->slow_ms = cfg->slow_query_ms == 0 ? APG_DEFAULT_SLOW_MS : cfg->slow_query_ms;
	p->no_prepare = cfg->no_prepare;
	p->healthy = true;
	p->heap_cap = p->max_queued + p->nconn * p->max_pipeline;
	p->conninfo = strdup(cfg->conninfo);
	p->resolver = cfg->resolver;
	if (p->resolver != NULL)
		p->dns_host = store_apg_dns_host(cfg->conninfo);
	p->heap = calloc(p->heap_cap, sizeof *p->heap);
	p->conns = calloc(p->nconn, sizeof *p->conns);
	p->done_ev = event_new(p->base, -1, 0, on_done, p);
	p->deadline_ev = evtimer_new(p->base, on_deadline, p);
	if (p->conninfo == NULL || p->heap == NULL || p->conns == NULL || p->done_ev == NULL ||
	    p->deadline_ev == NULL)
		goto oom;

	obs_registry *r = p->reg;
	p->g_depth = obs_gauge_get(r, "propertyd_db_pipeline_depth",
	                           "Database queries sent and not answered yet.", NULL);
	p->g_queue = obs_gauge_get(r, "propertyd_db_queue_depth",
	                           "Database queries waiting for a connection.", NULL);
	// The pool families keep the names dashboards and alerts know: a
	// connection is "in use" while it has queries in flight.
	static const double wait_bounds[] = {0.0001, 0.0005, 0.001, 0.005, 0.01,
	                                     0.05,   0.1,    0.5,   1,     5};
	p->g_size =
	    obs_gauge_get(r, "propertyd_db_pool_size", "Database connections of the pools.", NULL);
	p->g_in_use = obs_gauge_get(r, "propertyd_db_pool_in_use",
	                            "Database connections with queries in flight.", NULL);
	p->g_idle = obs_gauge_get(r, "propertyd_db_pool_idle",
	                          "Database connections with nothing in flight.", NULL);
	p->c_waits = obs_counter_get(r, "propertyd_db_pool_waits_total",
	                             "Database queries that waited for room in a pipeline.", NULL);
	p->h_wait = obs_histogram_get(r, "propertyd_db_pool_wait_seconds",
	                              "Time database queries waited for room in a pipeline.", NULL,
	                              wait_bounds, sizeof wait_bounds / sizeof wait_bounds[0]);
	obs_gauge_add(p->g_size, p->nconn);
	obs_gauge_add(p->g_idle, p->nconn);
	p->c_reconnects = obs_counter_get(r, "propertyd_db_reconnects_total",
	                                  "Database connections opened by the pool.", NULL);
	p->c_rejected = obs_counter_get(r, "propertyd_db_queue_rejected_total",
	                                "Database queries refused: the wait queue was full.", NULL);
	p->c_cancels =
	    obs_counter_get(r, "propertyd_db_cancels_total",
	                    "Cancel requests sent for queries past their deadline.", NULL);
	p->c_shed = obs_counter_get(r, "propertyd_db_queue_shed_total",
	                            "Database queries refused at once: their deadline was nearer "
	                            "than the recent wait in the queue.",
	                            NULL);

	for (unsigned i = 0; i < p->nconn; i++) {
		if (store_apg_conn_init(p, &p->conns[i], i) != 0)
			goto oom;
	}
	for (unsigned i = 0; i < p->nconn; i++)
		store_apg_conn_start(&p->conns[i]);
	*out = p;
	return 0;
oom:
	if (p) {
		p->closing = true;
		for (unsigned i = 0; p->conns && i < p->nconn; i++)
			store_apg_conn_close(&p->conns[i]);
		if (p->done_ev)
			event_free(p->done_ev);
		if (p->deadline_ev)
			event_free(p->deadline_ev);
		free(p->conns);
		free(p->heap);
		free(p->conninfo);
		free(p->dns_host);
		free(p);
	}
	snprintf(err, errcap, "apg: out of memory");
	return -1;
}

void store_apg_destroy(store_apg *p)
{
	if (p == NULL)
		return;
	p->closing = true;
	if (p->alive != NULL) {
		*p->alive = false;
		p->alive = NULL;
	}
	for (unsigned i = 0; i < p->nconn; i++)
		store_apg_conn_close(&p->conns[i]);
	for (store_apg_query *q; (q = queue_any(p)) != NULL;) {
		queue_unlink(p, q);
		store_apg_complete(p, q, NRPC_UNAVAILABLE, NULL, "database client shut down");
	}
	// Callbacks that submit again add completions here; drain until none.
	while (p->dhead != NULL)
		deliver_one(p);
	obs_gauge_add(p->g_size, -(double)p->nconn);
	obs_gauge_add(p->g_idle, -(double)p->nconn);
	event_free(p->done_ev);
	event_free(p->deadline_ev);
	free(p->conns);
	free(p->heap);
	free(p->conninfo);
	free(p->dns_host);
	free(p);
}
