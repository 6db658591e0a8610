// base ioloop: one event-loop thread (libevent) and a way to hand it work
// from any thread without allocating.
//
// The request path of propertyd runs on a few of these loops: the nng
// callback that decoded a request posts a task, and everything after that
// (Redis, PostgreSQL, the reply) happens on the loop's thread, driven by
// socket readiness. Nothing on a loop ever blocks on a socket.
//
// Posting: tasks are intrusive (the caller embeds a base_ioloop_task in its own
// state), kept in FIFO order, and run on the loop thread. A burst of posts
// costs one wake-up: the eventfd is written only when the queue goes from
// empty to non-empty, and the loop drains the whole queue at once.
//
// Threads: base_ioloop_post and base_ioloop_on_thread may be called from any thread;
// base_ioloop_base's event_base belongs to the loop thread (only code running on
// it may add or remove its events). create/start/stop/destroy from one
// owning thread.
//
// Memory: the loop owns its event_base and eventfd; tasks are the caller's
// and must stay valid until they have run.
#ifndef BASE_IOLOOP_H
#define BASE_IOLOOP_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;

typedef struct base_ioloop base_ioloop;

typedef struct base_ioloop_task {
	struct base_ioloop_task *next; // private to the loop
	void (*fn)(struct base_ioloop_task *t);
} base_ioloop_task;

// Creates a loop (not running yet). 0, or -1 with a reason in err.
int base_ioloop_create(base_ioloop **out, const char *name, char *err, size_t errcap);
// Starts the loop thread. 0, or -1 with a reason in err.
int base_ioloop_start(base_ioloop *l, char *err, size_t errcap);
// Runs fn on the loop thread, after the tasks posted before it. Tasks posted
// after base_ioloop_stop never run.
void base_ioloop_post(base_ioloop *l, base_ioloop_task *t);
// The same, but returns false (and queues nothing) once the loop is stopping
// or stopped, so the caller can complete the task itself.
bool base_ioloop_try_post(base_ioloop *l, base_ioloop_task *t);
// Runs fn(arg) on the loop thread and waits until it returned (for set-up and
// tear-down of loop-owned objects, never on the request path). Runs it
// directly when called on the loop thread or when the loop is not running.
void base_ioloop_call(base_ioloop *l, void (*fn)(void *arg), void *arg);
// True on the loop's own thread.
bool base_ioloop_on_thread(const base_ioloop *l);
// The loop's event_base (for adapters that register sockets and timers).
struct event_base *base_ioloop_base(base_ioloop *l);
// Stops the thread after the tasks already queued ran; joins it. Idempotent.
void base_ioloop_stop(base_ioloop *l);
// Stops and frees. NULL is a no-op.
void base_ioloop_destroy(base_ioloop *l);

#endif
