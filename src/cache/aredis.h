// cache aredis: an asynchronous, pipelining Redis client on a libevent loop
// (hiredis 0.14 async API and its libevent adapter).
//
// One connection carries the commands of many concurrent requests: a command
// is appended to hiredis' output buffer and the loop writes whatever has
// accumulated in one go when the socket is writable; Redis answers in order,
// so replies are matched to callbacks in order too. No call ever blocks on a
// socket (see "Host names" for the one exception).
//
// Connection life cycle:
//  - cache_aredis_create starts a non-blocking connect at once. The first commands
//    on a connection are AUTH (only when the URL has a password; with a user
//    it is AUTH user password) and SELECT db (always, also for db 0), queued
//    ahead of every command so they share the first write. An error reply to
//    either fails the connection. The commands pipelined behind a failed
//    SELECT have already been sent and may have run in the server's current
//    database (0); their callbacks all get NULL, so no reply from the wrong
//    database is ever delivered. A SELECT only fails for a database the server
//    does not have or when it requires a password the URL lacks (then the
//    commands behind it were refused too): configuration errors.
//  - The connection is "up" (cache_aredis_connected) once SELECT was answered.
//    Connecting, up to and including the SELECT reply, must finish within
//    connect_timeout_ms, or the connection fails.
//  - Command timeout: replies come in order, so only the oldest unanswered
//    command matters. When it has waited more than command_timeout_ms the
//    connection is declared failed. A command's clock starts when it is
//    queued, or when the connection came up if it was queued while
//    connecting (those are bounded by the connect timeout first). A frozen
//    Redis therefore costs a caller at most about command_timeout_ms on an
//    established connection, connect_timeout_ms + command_timeout_ms at worst.
//  - On a failure (connect error or timeout, handshake error, command
//    timeout, the socket closed or broken) the connection is dropped, every
//    command sent or buffered on it gets its callback with NULL, and
//    on_failure is called (deferred to its own loop callback, once per
//    failure; failures within one loop iteration may be reported once).
//  - While disconnected, a command starts a new connection attempt and is
//    buffered behind its handshake, unless the back-off forbids an attempt:
//    no attempt starts within reconnect_min_ms of the previous attempt's start
//    nor within reconnect_min_ms of the previous failure. Inside that window a
//    command fails fast: its callback gets NULL from a loop callback of its
//    own (never inside cache_aredis_command). Nothing reconnects by itself: an idle
//    client stays disconnected until the next command.
//
// Callbacks: every command's callback runs exactly once, on the loop thread,
// never inside cache_aredis_command / cache_aredis_eval. A reply is owned by aredis and
// valid only during the callback; copy what you keep. A NULL reply means the
// command was not sent, or its connection failed or timed out before the
// reply came, or the client is being destroyed: the command may or may not
// have run on the server. Error replies (REDIS_REPLY_ERROR) are delivered as
// replies; they do not affect the connection (except during the handshake).
// A callback may call cache_aredis_command, cache_aredis_eval and cache_aredis_destroy.
//
// Threads: everything (calls and callbacks) happens on the thread running
// cfg->base; nothing is thread-safe. aredis uses no thread of its own.
//
// Ownership: the caller owns the aredis (cache_aredis_destroy) and the event base,
// which must outlive it. Arguments of cache_aredis_command / cache_aredis_eval are
// borrowed for the duration of the call only (copied into the output buffer).
//
// Host names: hiredis resolves the host synchronously when connecting; use an
// IP address or a name that resolves from a local source (the hosts file).
//
// Memory: an allocation failure noticed while queueing a command fails it
// (NULL reply, deferred). Only if the few dozen bytes that track a command
// cannot be allocated does the process abort: the callback could not be
// honoured otherwise.
//
// Not supported: SUBSCRIBE, PSUBSCRIBE, MONITOR (they change the connection's
// reply stream).
#ifndef CACHE_AREDIS_H
#define CACHE_AREDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "cache/redis_url.h"

struct event_base;

typedef struct cache_aredis cache_aredis;

typedef struct cache_aredis_config {
	// Host, port, user, password and database; copied by cache_aredis_create.
	const cache_url *url;
	// The loop that runs every call and callback; borrowed, must outlive the
	// client.
	struct event_base *base;
	// Bound of connect + AUTH + SELECT, > 0.
	int connect_timeout_ms;
	// Bound of the wait for the oldest unanswered command, > 0.
	int command_timeout_ms;
	// Minimal spacing of connection attempts, and the back-off after a
	// failure, >= 0.
	int reconnect_min_ms;
	// Called on the loop thread, from a loop callback of its own, when a
	// connection fails or times out (why: a short text, no secrets, valid
	// during the call). May be NULL. It may call any aredis function,
	// cache_aredis_destroy included. Never called by or after cache_aredis_destroy.
	void (*on_failure)(void *arg, const char *why);
	void *arg; // passed to on_failure
	// Resolves a host NAME off the loop (base/resolve.h): a connect goes to
	// the address it gave; while the name is being resolved no connect starts
	// (the command fails at once, as during a back-off). Borrowed; NULL:
	// hiredis resolves, blocking the loop.
	struct base_resolver *resolver;
} cache_aredis_config;

// Creates a client and starts connecting (non-blocking). Returns 0 and *out
// (owned by the caller), or -1 with a message in err[errcap] (a bad config or
// out of memory). A connect that fails at once is not an error: it is
// reported through on_failure and the back-off applies.
int cache_aredis_create(cache_aredis **out, const cache_aredis_config *cfg, char *err,
                        size_t errcap);

// Drops the connection and calls every pending callback (sent, buffered or
// failing fast) with NULL before returning, including callbacks of commands
// that those callbacks queue meanwhile. May be called from inside an aredis
// callback or on_failure; `a` must not be used once it returns. NULL is a
// no-op.
void cache_aredis_destroy(cache_aredis *a);

// Reply callback: reply NULL on any failure (see above); otherwise owned by
// aredis and valid only during the call.
typedef void (*cache_aredis_cb)(const redisReply *reply, void *arg);

// Queues one command: argc arguments argv[i] of lens[i] bytes (binary-safe;
// argc >= 1; lens NULL: NUL-terminated arguments). cb (not NULL) runs exactly once, later, with the
// reply or NULL.
void cache_aredis_command(cache_aredis *a, int argc, const char **argv, const size_t *lens,
                          cache_aredis_cb cb, void *arg);

// EVALSHA of `script` (NUL-terminated Lua text) with nkeys keys followed by
// nargs other arguments (args/lens hold nkeys + nargs entries; lens NULL:
// NUL-terminated arguments). The SHA1 is
// computed once per distinct script text and kept by the client (meant for a
// small fixed set of scripts: beyond AREDIS_SCRIPT_CACHE_MAX distinct texts,
// the SHA of the others is recomputed at each call). If Redis answers
// NOSCRIPT (its script cache was flushed or it restarted), the same call is
// sent once more as EVAL with the text and that reply is delivered instead.
// Same callback rules as cache_aredis_command.
#define AREDIS_SCRIPT_CACHE_MAX 64
void cache_aredis_eval(cache_aredis *a, const char *script, int nkeys, int nargs, const char **args,
                       const size_t *lens, cache_aredis_cb cb, void *arg);

// True when a connection is up (handshake answered) right now.
bool cache_aredis_connected(const cache_aredis *a);

#endif
