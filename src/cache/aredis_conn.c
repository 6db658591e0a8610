// cache aredis connection: one hiredis async context at a time, attached to
// the client's loop. Connecting (with the optional resolver), the handshake
// (AUTH, SELECT) queued ahead of every command, queueing commands on hiredis,
// their replies (and the NOSCRIPT fallback to EVAL), the connect and command
// timers, and dropping a context on any failure.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>

#include "base/clock.h"
#include "cache/aredis_int.h"

// How soon a connect waiting for its host's address may be tried again.
#define AREDIS_RESOLVE_POLL_US 20000

static bool is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

// ---- the connection -----------------------------------------------------------------------

// When the oldest unanswered command started waiting: those queued while
// connecting are timed from the moment the connection came up.
static int64_t req_start(const cache_aredis *a, const req *q)
{
	return q->sent_us > a->up_us ? q->sent_us : a->up_us;
}

static void arm_cmd_timer(cache_aredis *a)
{
	struct timeval tv;
	if (!a->up || a->sent.head == NULL || evtimer_pending(a->cmd_timer, NULL))
		return;
	tv = us_tv(req_start(a, a->sent.head) + a->command_timeout_us - base_now_us());
	evtimer_add(a->cmd_timer, &tv);
}

// Drops the current context: its commands move to `dying` (hiredis calls
// them back with NULL: at once if we free it here outside its callbacks,
// else when the running callback returns, or right after this when hiredis
// itself is tearing it down), and on_failure is owed.
static void drop_conn(cache_aredis *a, const char *why, bool free_it)
{
	redisAsyncContext *ac = a->ac;
	int64_t t = base_now_us() + a->reconnect_min_us;

	if (ac == NULL)
		return;
	a->ac = NULL;
	a->up = false;
	ac->data = NULL;
	evtimer_del(a->connect_timer);
	evtimer_del(a->cmd_timer);
	if (t > a->next_attempt_us)
		a->next_attempt_us = t;
	list_move_all(&a->dying, &a->sent);
	cache_aredis_note_failure(a, why);
	if (free_it)
		redisAsyncFree(ac);
}

static void conn_error_text(const redisAsyncContext *ac, const char *what, char *buf, size_t cap)
{
	if (ac->err)
		snprintf(buf, cap, "%s: %s", what, ac->errstr != NULL ? ac->errstr : "error");
	else
		snprintf(buf, cap, "%s: closed by the server", what);
}

// The adapter's cleanup hook, wrapped: the context is going away.
static void on_cleanup(void *privdata)
{
	redisLibeventEvents *e = privdata;
	redisAsyncContext *ac = e->context;
	cache_aredis *a = ac->data;

	redisLibeventCleanup(privdata);
	if (a != NULL && a->ac == ac) {
		char why[256];
		cache_aredis_enter(a);
		conn_error_text(ac, "connection lost", why, sizeof(why));
		drop_conn(a, why, false);
		cache_aredis_leave(a);
	}
}

static void on_reply(redisAsyncContext *ac, void *rv, void *privdata);

// Queues q on the current context, as an argv command or (cmd != NULL) a
// formatted one. 0, or -1 when hiredis refused it.
int cache_aredis_send_req(cache_aredis *a, req *q, int argc, const char **argv, const size_t *lens,
                          const char *cmd, size_t cmd_len)
{
	int rc;
	if (cmd != NULL)
		rc = redisAsyncFormattedCommand(a->ac, on_reply, q, cmd, cmd_len);
	else
		rc = redisAsyncCommandArgv(a->ac, on_reply, q, argc, argv, lens);
	if (rc != REDIS_OK)
		return -1;
	q->sent_us = base_now_us();
	list_push(&a->sent, q);
	arm_cmd_timer(a);
	return 0;
}

// The address to connect to: *host stays the URL's host (a numeric address,
// or no resolver) or becomes addr. 0, or -1 when the name is not resolved
// yet (no failure) or cannot be (a failure was noted).
static int resolve_host(cache_aredis *a, const char **host, char *addr, size_t addrcap)
{
	char why[256];
	if (a->resolver == NULL)
		return 0;
	switch (base_resolve(a->resolver, *host, addr, addrcap, why, sizeof why)) {
	case BASE_RESOLVE_READY:
		*host = addr;
		break;
	case BASE_RESOLVE_PENDING: // not a failure: look again shortly
		a->next_attempt_us = base_now_us() + AREDIS_RESOLVE_POLL_US;
		return -1;
	case BASE_RESOLVE_FAILED:
		a->next_attempt_us = base_now_us() + a->reconnect_min_us;
		cache_aredis_note_failure(a, why);
		return -1;
	case BASE_RESOLVE_NUMERIC:
		break;
	}
	return 0;
}

// Queues AUTH (when the URL has a password) and SELECT on the new
// connection. 0, or -1 with the connection dropped.
static int queue_handshake(cache_aredis *a)
{
	char db[16];
	if (a->url.password[0] != '\0') {
		req *q = req_new(a, REQ_AUTH, NULL, NULL);
		const char *av[3] = {"AUTH", a->url.user, a->url.password};
		size_t lv[3] = {4, strlen(a->url.user), strlen(a->url.password)};
		int rc;
		if (a->url.user[0] != '\0') {
			rc = cache_aredis_send_req(a, q, 3, av, lv, NULL, 0);
		} else {
			av[1] = a->url.password;
			lv[1] = lv[2];
			rc = cache_aredis_send_req(a, q, 2, av, lv, NULL, 0);
		}
		if (rc != 0) {
			req_free(q);
			drop_conn(a, "connect: cannot queue AUTH", true);
			return -1;
		}
	}
	snprintf(db, sizeof(db), "%d", a->url.db);
	req *q = req_new(a, REQ_SELECT, NULL, NULL);
	const char *av[2] = {"SELECT", db};
	const size_t lv[2] = {6, strlen(db)};
	if (cache_aredis_send_req(a, q, 2, av, lv, NULL, 0) != 0) {
		req_free(q);
		drop_conn(a, "connect: cannot queue SELECT", true);
		return -1;
	}
	return 0;
}

// Starts a non-blocking connect and queues the handshake. 0 with a->ac set,
// or -1 (a failure was noted).
int cache_aredis_start_conn(cache_aredis *a)
{
	redisAsyncContext *ac;
	struct timeval tv;
	char why[256];

	const char *host = a->url.host;
	char addr[BASE_RESOLVE_ADDR_MAX];
	if (resolve_host(a, &host, addr, sizeof addr) != 0)
		return -1;
	a->next_attempt_us = base_now_us() + a->reconnect_min_us;
	ac = redisAsyncConnect(host, a->url.port);
	if (ac == NULL) {
		cache_aredis_note_failure(a, "connect: out of memory");
		return -1;
	}
	if (ac->err) {
		conn_error_text(ac, "connect", why, sizeof(why));
		redisAsyncFree(ac); // nothing attached, no callbacks yet
		cache_aredis_note_failure(a, why);
		return -1;
	}
	ac->data = a;
	if (redisLibeventAttach(ac, a->base) != REDIS_OK) {
		redisAsyncFree(ac);
		cache_aredis_note_failure(a, "connect: cannot attach to the loop");
		return -1;
	}
	ac->ev.cleanup = on_cleanup;
	a->ac = ac;
	a->up = false;
	tv = us_tv(a->connect_timeout_us);
	evtimer_add(a->connect_timer, &tv);
	return queue_handshake(a);
}

// A context to queue on: the current one, or a new attempt unless the
// back-off forbids it. 0 or -1.
int cache_aredis_ensure_conn(cache_aredis *a)
{
	if (a->ac != NULL)
		return 0;
	if (base_now_us() < a->next_attempt_us)
		return -1;
	return cache_aredis_start_conn(a);
}

static void handshake_reply(cache_aredis *a, const req *q, const redisReply *r)
{
	const char *what = q->kind == REQ_AUTH ? "AUTH" : "SELECT";
	if (r->type == REDIS_REPLY_ERROR) {
		char why[256];
		snprintf(why, sizeof(why), "%s: %.*s", what, (int)(r->len > 200 ? 200 : r->len),
		         r->str);
		drop_conn(a, why, true); // deferred by hiredis: we are in its callback
		return;
	}
	if (q->kind == REQ_SELECT) {
		a->up = true;
		a->up_us = base_now_us();
		evtimer_del(a->connect_timer);
		arm_cmd_timer(a);
	}
}

// NOSCRIPT: sends the same call as EVAL with the text. 0, or -1 (not sent).
static int resend_eval(cache_aredis *a, req *q)
{
	char head[64];
	size_t hl, tail_len = q->cmd_len - q->tail_off, len;
	char *cmd;
	int rc;

	hl = (size_t)snprintf(head, sizeof(head), "*%d\r\n$4\r\nEVAL\r\n$%zu\r\n", q->argc,
	                      q->script_len);
	len = hl + q->script_len + 2 + tail_len;
	cmd = malloc(len);
	if (cmd == NULL)
		return -1;
	memcpy(cmd, head, hl);
	memcpy(cmd + hl, q->script, q->script_len);
	memcpy(cmd + hl + q->script_len, "\r\n", 2);
	memcpy(cmd + hl + q->script_len + 2, q->cmd + q->tail_off, tail_len);
	rc = cache_aredis_send_req(a, q, 0, NULL, NULL, cmd, len);
	free(cmd);
	if (rc == 0)
		q->retried = true;
	return rc;
}

static void on_reply(redisAsyncContext *ac, void *rv, void *privdata)
{
	req *q = privdata;
	cache_aredis *a = q->a;
	const redisReply *r = rv;

	if (a == NULL) { // called back by cache_aredis_destroy already
		req_free(q);
		return;
	}
	cache_aredis_enter(a);
	list_remove(q);
	if (r == NULL && a->ac == ac) {
		// hiredis is tearing the context down (I/O error, EOF, refused).
		char why[256];
		conn_error_text(ac, "connection lost", why, sizeof(why));
		drop_conn(a, why, false);
	}
	if (r != NULL && a->ac == ac && (q->kind == REQ_AUTH || q->kind == REQ_SELECT)) {
		handshake_reply(a, q, r);
	} else if (r != NULL && a->ac == ac && q->kind == REQ_EVAL && !q->retried &&
	           is_noscript(r) && resend_eval(a, q) == 0) {
		q = NULL; // queued again, now as EVAL
	} else {
		deliver(q, r);
	}
	if (q != NULL)
		req_free(q);
	cache_aredis_leave(a);
}

// ---- loop callbacks -----------------------------------------------------------------------

void cache_aredis_on_connect_timer(evutil_socket_t fd, short what, void *arg)
{
	cache_aredis *a = arg;
	(void)fd;
	(void)what;
	cache_aredis_enter(a);
	if (a->ac != NULL && !a->up)
		drop_conn(a, "connect timeout", true);
	cache_aredis_leave(a);
}

void cache_aredis_on_cmd_timer(evutil_socket_t fd, short what, void *arg)
{
	cache_aredis *a = arg;
	(void)fd;
	(void)what;
	cache_aredis_enter(a);
	if (a->ac != NULL && a->up && a->sent.head != NULL) {
		int64_t due = req_start(a, a->sent.head) + a->command_timeout_us;
		if (base_now_us() >= due)
			drop_conn(a, "command timeout", true);
		else
			arm_cmd_timer(a); // the head changed since the timer was armed
	}
	cache_aredis_leave(a);
}
