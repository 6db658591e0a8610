// cache aredis internals: the state of an aredis client (aredis.h) shared by
// the files that implement it, the small list and request helpers they all
// use (static inline), and what each file offers the others. Private to
// src/cache.
//
//   aredis.c        life cycle (create, destroy, the deferred final free),
//                   re-entrancy (enter/leave) and the deferred failures (the
//                   wake event: fail_fast, note_failure, on_failure);
//   aredis_conn.c   the connection: connect and handshake (AUTH, SELECT),
//                   queueing on hiredis, replies, NOSCRIPT fallback, the
//                   connect and command timers, dropping a context;
//   aredis_cmd.c    the commands: cache_aredis_command, cache_aredis_eval (EVALSHA with
//                   the script cache).
//
// Bookkeeping. Every command is a `req`. While hiredis holds it (as the
// privdata of a callback) it sits in exactly one list of the client:
//   sent   queued on the current context, in the order hiredis will answer;
//          the head is the oldest unanswered command (command timeout)
//   dying  queued on a context we gave up on (or that hiredis is tearing
//          down): hiredis calls on_reply for each of them with NULL shortly
// A req that never reached hiredis sits in `failq` until the wake event
// fails it. cache_aredis_destroy calls back every req of the three lists itself;
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
// loop entry point brackets its work with enter/leave; cache_aredis_destroy called
// inside one does all its work but leaves the final free to the outermost
// leave.
//
// Ownership: the client owns its reqs while they sit in failq or when hiredis
// never took them; a req handed to hiredis is freed by on_reply. The script
// cache's texts are the client's; a req's own_script and cmd are the req's.
#ifndef CACHE_AREDIS_INT_H
#define CACHE_AREDIS_INT_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>

#include <event2/util.h>
#include <hiredis/async.h>

#include "base/resolve.h"
#include "cache/aredis.h"

enum req_kind { REQ_USER, REQ_EVAL, REQ_AUTH, REQ_SELECT };

struct req_list {
	struct req *head, *tail;
	size_t n;
};

typedef struct req {
	struct req *prev, *next;
	struct req_list *list; // the list holding it, or NULL
	cache_aredis *a;       // NULL: already called back by cache_aredis_destroy
	cache_aredis_cb cb;    // NULL for the handshake
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

struct cache_aredis {
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

// ---- helpers ----

static inline struct timeval us_tv(int64_t us)
{
	struct timeval tv;
	if (us < 0)
		us = 0;
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	return tv;
}

static inline void list_push(struct req_list *l, req *q)
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

static inline void list_remove(req *q)
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

static inline req *list_pop(struct req_list *l)
{
	req *q = l->head;
	if (q != NULL)
		list_remove(q);
	return q;
}

// Appends all of `from` to `to`, in order.
static inline void list_move_all(struct req_list *to, struct req_list *from)
{
	req *q;
	while ((q = list_pop(from)) != NULL)
		list_push(to, q);
}

static inline req *req_new(cache_aredis *a, enum req_kind kind, cache_aredis_cb cb, void *arg)
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

static inline void req_free(req *q)
{
	free(q->cmd);
	free(q->own_script);
	free(q);
}

static inline void deliver(req *q, const redisReply *r)
{
	if (q->cb != NULL)
		q->cb(r, q->arg);
}

// ---- aredis.c ----
// Brackets a loop entry point (or destroy): the client is freed at the
// outermost leave once cache_aredis_destroy ran.
void cache_aredis_enter(cache_aredis *a);
void cache_aredis_leave(cache_aredis *a);
// The req never reached hiredis: it gets NULL from the wake event (or from
// cache_aredis_destroy, which drains failq).
void cache_aredis_fail_fast(cache_aredis *a, req *q);
// Owes on_failure(why), from the wake event (once per pending failure).
void cache_aredis_note_failure(cache_aredis *a, const char *why);

// ---- aredis_conn.c ----
// Starts a non-blocking connect and queues the handshake. 0 with a->ac set,
// or -1 (a failure was noted).
int cache_aredis_start_conn(cache_aredis *a);
// A context to queue on: the current one, or a new attempt unless the
// back-off forbids it. 0 or -1.
int cache_aredis_ensure_conn(cache_aredis *a);
// Queues q on the current context, as an argv command or (cmd != NULL) a
// formatted one. 0, or -1 when hiredis refused it.
int cache_aredis_send_req(cache_aredis *a, req *q, int argc, const char **argv, const size_t *lens,
                          const char *cmd, size_t cmd_len);
// The connect and command timers' callbacks (arg: the client).
void cache_aredis_on_connect_timer(evutil_socket_t fd, short what, void *arg);
void cache_aredis_on_cmd_timer(evutil_socket_t fd, short what, void *arg);

#endif
