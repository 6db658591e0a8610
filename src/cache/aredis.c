// See aredis.h.
//
// Bookkeeping. Every command is a `req`. While hiredis holds it (as the
// privdata of a callback) it sits in exactly one list of the client:
//   sent   queued on the current context, in the order hiredis will answer;
//          the head is the oldest unanswered command (command timeout)
//   dying  queued on a context we gave up on (or that hiredis is tearing
//          down): hiredis calls on_reply for each of them with NULL shortly
// A req that never reached hiredis sits in `failq` until the wake event
// fails it. aredis_destroy calls back every req of the three lists itself;
// those held by hiredis are then marked orphans (a == NULL) and only freed
// when hiredis hands them back. A context we drop gets ac->data = NULL, so
// its remaining hooks never touch the client.
//
// hiredis 0.14 facts relied on: callbacks are never run from inside
// redisAsyncCommand*; redisAsyncFree runs the pending callbacks with NULL,
// then the adapter's cleanup hook, then frees; called from inside a reply
// callback of the same context it only marks it and the freeing happens when
// that callback returns; a connection error takes the same path (NULL
// callbacks, cleanup). The cleanup hook is the last thing hiredis calls for a
// context (we install no connect or disconnect callback), so it is where an
// idle connection closed by the server is noticed.
//
// Re-entrancy: user code (callbacks, on_failure) may destroy the client. Every
// loop entry point brackets its work with enter/leave; aredis_destroy called
// inside one does all its work but leaves the final free to the outermost
// leave.
#include "cache/aredis.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <openssl/evp.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/resolve.h"

// How soon a connect waiting for its host's address may be tried again.
#define AREDIS_RESOLVE_POLL_US 20000

enum req_kind { REQ_USER, REQ_EVAL, REQ_AUTH, REQ_SELECT };

struct req_list {
	struct req *head, *tail;
	size_t n;
};

typedef struct req {
	struct req *prev, *next;
	struct req_list *list; // the list holding it, or NULL
	aredis *a;             // NULL: already called back by aredis_destroy
	aredis_cb cb;          // NULL for the handshake
	void *arg;
	int64_t sent_us;
	enum req_kind kind;
	// REQ_EVAL: the EVALSHA command as sent (RESP), the offset of its
	// numkeys argument, and the script text for the EVAL fallback.
	bool retried;
	int argc;
	char *cmd;
	size_t cmd_len, tail_off;
	const char *script; // the client's cached copy, or own_script
	size_t script_len;
	char *own_script;
} req;

struct script {
	char *text;
	size_t len;
	char sha[41];
};

struct aredis {
	cache_url url;
	struct event_base *base;
	int64_t connect_timeout_us, command_timeout_us, reconnect_min_us;
	void (*on_failure)(void *arg, const char *why);
	void *arg;

	redisAsyncContext *ac; // the current context, NULL when disconnected
	bool up;               // the handshake of ac was answered
	int64_t up_us;
	int64_t next_attempt_us;        // back-off: no connect attempt before this
	struct base_resolver *resolver; // borrowed, or NULL

	struct req_list sent, dying, failq;
	struct event *connect_timer, *cmd_timer, *wake;
	bool failure_pending; // on_failure owed, from the wake event
	char why[256];

	int depth; // loop entry points (and destroy) currently running
	bool closing;

	struct script scripts[AREDIS_SCRIPT_CACHE_MAX];
	int n_scripts;
};

// ---- small helpers ------------------------------------------------------------------------

static struct timeval us_tv(int64_t us)
{
	struct timeval tv;
	if (us < 0)
		us = 0;
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	return tv;
}

static void list_push(struct req_list *l, req *q)
{
	q->list = l;
	q->next = NULL;
	q->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
	l->n++;
}

static void list_remove(req *q)
{
	struct req_list *l = q->list;
	if (l == NULL)
		return;
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		l->head = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	else
		l->tail = q->prev;
	l->n--;
	q->prev = q->next = NULL;
	q->list = NULL;
}

static req *list_pop(struct req_list *l)
{
	req *q = l->head;
	if (q != NULL)
		list_remove(q);
	return q;
}

// Appends all of `from` to `to`, in order.
static void list_move_all(struct req_list *to, struct req_list *from)
{
	req *q;
	while ((q = list_pop(from)) != NULL)
		list_push(to, q);
}

static req *req_new(aredis *a, enum req_kind kind, aredis_cb cb, void *arg)
{
	req *q = calloc(1, sizeof(*q));
	if (q == NULL)
		abort(); // see aredis.h: a callback could not be honoured
	q->a = a;
	q->kind = kind;
	q->cb = cb;
	q->arg = arg;
	return q;
}

static void req_free(req *q)
{
	free(q->cmd);
	free(q->own_script);
	free(q);
}

static void deliver(req *q, const redisReply *r)
{
	if (q->cb != NULL)
		q->cb(r, q->arg);
}

static void really_free(aredis *a);

static void enter(aredis *a)
{
	a->depth++;
}

static void leave(aredis *a)
{
	if (--a->depth == 0 && a->closing)
		really_free(a);
}

static void wake(aredis *a)
{
	event_active(a->wake, EV_TIMEOUT, 0);
}

// The req never reached hiredis: it gets NULL from the wake event (or from
// aredis_destroy, which drains failq).
static void fail_fast(aredis *a, req *q)
{
	list_push(&a->failq, q);
	if (!a->closing)
		wake(a);
}

static void note_failure(aredis *a, const char *why)
{
	if (a->closing || a->failure_pending)
		return;
	snprintf(a->why, sizeof(a->why), "%s", why);
	a->failure_pending = true;
	wake(a);
}

static bool is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

// ---- the connection -----------------------------------------------------------------------

// When the oldest unanswered command started waiting: those queued while
// connecting are timed from the moment the connection came up.
static int64_t req_start(const aredis *a, const req *q)
{
	return q->sent_us > a->up_us ? q->sent_us : a->up_us;
}

static void arm_cmd_timer(aredis *a)
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
static void drop_conn(aredis *a, const char *why, bool free_it)
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
	note_failure(a, why);
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
	aredis *a = ac->data;

	redisLibeventCleanup(privdata);
	if (a != NULL && a->ac == ac) {
		char why[256];
		enter(a);
		conn_error_text(ac, "connection lost", why, sizeof(why));
		drop_conn(a, why, false);
		leave(a);
	}
}

static void on_reply(redisAsyncContext *ac, void *rv, void *privdata);

// Queues q on the current context, as an argv command or (cmd != NULL) a
// formatted one. 0, or -1 when hiredis refused it.
static int send_req(aredis *a, req *q, int argc, const char **argv, const size_t *lens,
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

// Starts a non-blocking connect and queues the handshake. 0 with a->ac set,
// or -1 (a failure was noted).
static int start_conn(aredis *a)
{
	redisAsyncContext *ac;
	struct timeval tv;
	char why[256], db[16];

	const char *host = a->url.host;
	char addr[BASE_RESOLVE_ADDR_MAX];
	if (a->resolver != NULL) {
		switch (base_resolve(a->resolver, host, addr, sizeof addr, why, sizeof why)) {
		case BASE_RESOLVE_READY:
			host = addr;
			break;
		case BASE_RESOLVE_PENDING: // not a failure: look again shortly
			a->next_attempt_us = base_now_us() + AREDIS_RESOLVE_POLL_US;
			return -1;
		case BASE_RESOLVE_FAILED:
			a->next_attempt_us = base_now_us() + a->reconnect_min_us;
			note_failure(a, why);
			return -1;
		case BASE_RESOLVE_NUMERIC:
			break;
		}
	}
	a->next_attempt_us = base_now_us() + a->reconnect_min_us;
	ac = redisAsyncConnect(host, a->url.port);
	if (ac == NULL) {
		note_failure(a, "connect: out of memory");
		return -1;
	}
	if (ac->err) {
		conn_error_text(ac, "connect", why, sizeof(why));
		redisAsyncFree(ac); // nothing attached, no callbacks yet
		note_failure(a, why);
		return -1;
	}
	ac->data = a;
	if (redisLibeventAttach(ac, a->base) != REDIS_OK) {
		redisAsyncFree(ac);
		note_failure(a, "connect: cannot attach to the loop");
		return -1;
	}
	ac->ev.cleanup = on_cleanup;
	a->ac = ac;
	a->up = false;
	tv = us_tv(a->connect_timeout_us);
	evtimer_add(a->connect_timer, &tv);

	if (a->url.password[0] != '\0') {
		req *q = req_new(a, REQ_AUTH, NULL, NULL);
		const char *av[3] = {"AUTH", a->url.user, a->url.password};
		size_t lv[3] = {4, strlen(a->url.user), strlen(a->url.password)};
		int rc;
		if (a->url.user[0] != '\0') {
			rc = send_req(a, q, 3, av, lv, NULL, 0);
		} else {
			av[1] = a->url.password;
			lv[1] = lv[2];
			rc = send_req(a, q, 2, av, lv, NULL, 0);
		}
		if (rc != 0) {
			req_free(q);
			drop_conn(a, "connect: cannot queue AUTH", true);
			return -1;
		}
	}
	snprintf(db, sizeof(db), "%d", a->url.db);
	{
		req *q = req_new(a, REQ_SELECT, NULL, NULL);
		const char *av[2] = {"SELECT", db};
		const size_t lv[2] = {6, strlen(db)};
		if (send_req(a, q, 2, av, lv, NULL, 0) != 0) {
			req_free(q);
			drop_conn(a, "connect: cannot queue SELECT", true);
			return -1;
		}
	}
	return 0;
}

// A context to queue on: the current one, or a new attempt unless the
// back-off forbids it. 0 or -1.
static int ensure_conn(aredis *a)
{
	if (a->ac != NULL)
		return 0;
	if (base_now_us() < a->next_attempt_us)
		return -1;
	return start_conn(a);
}

static void handshake_reply(aredis *a, const req *q, const redisReply *r)
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
static int resend_eval(aredis *a, req *q)
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
	rc = send_req(a, q, 0, NULL, NULL, cmd, len);
	free(cmd);
	if (rc == 0)
		q->retried = true;
	return rc;
}

static void on_reply(redisAsyncContext *ac, void *rv, void *privdata)
{
	req *q = privdata;
	aredis *a = q->a;
	const redisReply *r = rv;

	if (a == NULL) { // called back by aredis_destroy already
		req_free(q);
		return;
	}
	enter(a);
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
	leave(a);
}

// ---- loop callbacks -----------------------------------------------------------------------

static void on_connect_timer(evutil_socket_t fd, short what, void *arg)
{
	aredis *a = arg;
	(void)fd;
	(void)what;
	enter(a);
	if (a->ac != NULL && !a->up)
		drop_conn(a, "connect timeout", true);
	leave(a);
}

static void on_cmd_timer(evutil_socket_t fd, short what, void *arg)
{
	aredis *a = arg;
	(void)fd;
	(void)what;
	enter(a);
	if (a->ac != NULL && a->up && a->sent.head != NULL) {
		int64_t due = req_start(a, a->sent.head) + a->command_timeout_us;
		if (base_now_us() >= due)
			drop_conn(a, "command timeout", true);
		else
			arm_cmd_timer(a); // the head changed since the timer was armed
	}
	leave(a);
}

// Fails the commands that never reached hiredis, then reports a failure.
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	aredis *a = arg;
	size_t n = a->failq.n; // those queued meanwhile wait for the next round
	req *q;
	(void)fd;
	(void)what;
	enter(a);
	if (a->failure_pending && !a->closing) {
		char why[sizeof(a->why)];
		memcpy(why, a->why, sizeof(why));
		a->failure_pending = false;
		if (a->on_failure != NULL)
			a->on_failure(a->arg, why);
	}
	while (n-- > 0 && (q = list_pop(&a->failq)) != NULL) {
		deliver(q, NULL);
		req_free(q);
	}
	leave(a);
}

// ---- life cycle ---------------------------------------------------------------------------

int aredis_create(aredis **out, const aredis_config *cfg, char *err, size_t errcap)
{
	aredis *a;

	*out = NULL;
	if (cfg == NULL || cfg->url == NULL || cfg->base == NULL) {
		snprintf(err, errcap, "aredis: url and base are required");
		return -1;
	}
	if (cfg->connect_timeout_ms <= 0 || cfg->command_timeout_ms <= 0 ||
	    cfg->reconnect_min_ms < 0) {
		snprintf(err, errcap, "aredis: timeouts must be > 0 and reconnect_min_ms >= 0");
		return -1;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errcap, "aredis: out of memory");
		return -1;
	}
	a->url = *cfg->url;
	a->base = cfg->base;
	a->resolver = cfg->resolver;
	a->connect_timeout_us = (int64_t)cfg->connect_timeout_ms * 1000;
	a->command_timeout_us = (int64_t)cfg->command_timeout_ms * 1000;
	a->reconnect_min_us = (int64_t)cfg->reconnect_min_ms * 1000;
	a->on_failure = cfg->on_failure;
	a->arg = cfg->arg;
	a->connect_timer = evtimer_new(cfg->base, on_connect_timer, a);
	a->cmd_timer = evtimer_new(cfg->base, on_cmd_timer, a);
	a->wake = event_new(cfg->base, -1, 0, on_wake, a);
	if (a->connect_timer == NULL || a->cmd_timer == NULL || a->wake == NULL) {
		snprintf(err, errcap, "aredis: out of memory");
		really_free(a);
		return -1;
	}
	(void)start_conn(a); // a failure is reported through on_failure
	*out = a;
	return 0;
}

static void really_free(aredis *a)
{
	req *q;
	// Only commands queued against the rules after aredis_destroy returned.
	while ((q = list_pop(&a->failq)) != NULL) {
		deliver(q, NULL);
		req_free(q);
	}
	if (a->connect_timer != NULL)
		event_free(a->connect_timer);
	if (a->cmd_timer != NULL)
		event_free(a->cmd_timer);
	if (a->wake != NULL)
		event_free(a->wake);
	for (int i = 0; i < a->n_scripts; i++)
		free(a->scripts[i].text);
	memset(a->url.password, 0, sizeof(a->url.password));
	free(a);
}

void aredis_destroy(aredis *a)
{
	redisAsyncContext *ac;
	req *q;

	if (a == NULL || a->closing)
		return;
	a->closing = true;
	a->failure_pending = false;
	enter(a);
	ac = a->ac;
	a->ac = NULL;
	a->up = false;
	if (ac != NULL)
		ac->data = NULL;
	evtimer_del(a->connect_timer);
	evtimer_del(a->cmd_timer);
	event_del(a->wake);
	// Callbacks may queue more meanwhile: those land in failq, drained too.
	for (;;) {
		q = list_pop(&a->sent);
		if (q == NULL)
			q = list_pop(&a->dying);
		if (q != NULL) {
			q->a = NULL; // hiredis still holds it: on_reply frees it
			deliver(q, NULL);
			continue;
		}
		q = list_pop(&a->failq);
		if (q == NULL)
			break;
		deliver(q, NULL);
		req_free(q);
	}
	if (ac != NULL)
		redisAsyncFree(ac); // deferred by hiredis inside its callback
	leave(a);
}

bool aredis_connected(const aredis *a)
{
	return a != NULL && a->ac != NULL && a->up;
}

// ---- commands -----------------------------------------------------------------------------

void aredis_command(aredis *a, int argc, const char **argv, const size_t *lens, aredis_cb cb,
                    void *arg)
{
	req *q = req_new(a, REQ_USER, cb, arg);

	if (a->closing || argc < 1 || argv == NULL || ensure_conn(a) != 0 ||
	    send_req(a, q, argc, argv, lens, NULL, 0) != 0)
		fail_fast(a, q);
}

// The script's SHA1 (hex), from the cache or computed (and cached if room);
// *text: the client's copy of the text when cached, else NULL. 0 or -1.
static int script_sha(aredis *a, const char *script, size_t len, char sha[41], const char **text)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	for (int i = 0; i < a->n_scripts; i++) {
		const struct script *s = &a->scripts[i];
		if (s->len == len && memcmp(s->text, script, len) == 0) {
			memcpy(sha, s->sha, 41);
			*text = s->text;
			return 0;
		}
	}
	if (EVP_Digest(script, len, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
		return -1;
	base_hex_encode(md, 20, sha);
	*text = NULL;
	if (a->n_scripts < AREDIS_SCRIPT_CACHE_MAX) {
		struct script *s = &a->scripts[a->n_scripts];
		s->text = malloc(len + 1);
		if (s->text != NULL) {
			memcpy(s->text, script, len + 1);
			s->len = len;
			memcpy(s->sha, sha, 41);
			a->n_scripts++;
			*text = s->text;
		}
	}
	return 0;
}

static size_t bulk_size(size_t len)
{
	char tmp[32];
	return (size_t)snprintf(tmp, sizeof(tmp), "$%zu\r\n", len) + len + 2;
}

static char *put_bulk(char *p, const char *s, size_t len)
{
	p += sprintf(p, "$%zu\r\n", len);
	memcpy(p, s, len);
	p += len;
	memcpy(p, "\r\n", 2);
	return p + 2;
}

// Formats EVALSHA sha nkeys args... into q->cmd (RESP), remembering where the
// numkeys argument starts. 0 or -1.
static int format_evalsha(req *q, const char *sha, int nkeys, int n, const char **args,
                          const size_t *lens)
{
	char head[96], nk[16];
	size_t hl, total, nkl;
	char *p;

	nkl = (size_t)snprintf(nk, sizeof(nk), "%d", nkeys);
	hl = (size_t)snprintf(head, sizeof(head), "*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n", n + 3,
	                      sha);
	total = hl + bulk_size(nkl);
	for (int i = 0; i < n; i++)
		total += bulk_size(lens != NULL ? lens[i] : strlen(args[i]));
	q->cmd = malloc(total + 1); // + 1: sprintf's terminator
	if (q->cmd == NULL)
		return -1;
	memcpy(q->cmd, head, hl);
	p = put_bulk(q->cmd + hl, nk, nkl);
	for (int i = 0; i < n; i++)
		p = put_bulk(p, args[i], lens != NULL ? lens[i] : strlen(args[i]));
	q->cmd_len = total;
	q->tail_off = hl;
	q->argc = n + 3;
	return 0;
}

void aredis_eval(aredis *a, const char *script, int nkeys, int nargs, const char **args,
                 const size_t *lens, aredis_cb cb, void *arg)
{
	req *q = req_new(a, REQ_EVAL, cb, arg);
	char sha[41];
	const char *text = NULL;
	size_t len;

	if (a->closing || script == NULL || nkeys < 0 || nargs < 0 || nkeys > INT_MAX - 3 - nargs ||
	    (nkeys + nargs > 0 && args == NULL))
		goto fail;
	len = strlen(script);
	if (script_sha(a, script, len, sha, &text) != 0)
		goto fail;
	if (text == NULL) {
		q->own_script = malloc(len + 1);
		if (q->own_script == NULL)
			goto fail;
		memcpy(q->own_script, script, len + 1);
		text = q->own_script;
	}
	q->script = text;
	q->script_len = len;
	if (format_evalsha(q, sha, nkeys, nkeys + nargs, args, lens) != 0)
		goto fail;
	if (ensure_conn(a) != 0 || send_req(a, q, 0, NULL, NULL, q->cmd, q->cmd_len) != 0)
		goto fail;
	return;
fail:
	fail_fast(a, q);
}
