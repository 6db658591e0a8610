// cache aredis: life cycle of a client (see aredis.h), its re-entrancy guard,
// and the wake event that delivers what is deferred: the failure callback and
// the NULL replies of commands that never reached hiredis. The connection is
// aredis_conn.c, the commands aredis_cmd.c (aredis_int.h says how they fit).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cache/aredis_int.h"

static void really_free(cache_aredis *a);

void cache_aredis_enter(cache_aredis *a)
{
	a->depth++;
}

void cache_aredis_leave(cache_aredis *a)
{
	if (--a->depth == 0 && a->closing)
		really_free(a);
}

static void wake(cache_aredis *a)
{
	event_active(a->wake, EV_TIMEOUT, 0);
}

// The req never reached hiredis: it gets NULL from the wake event (or from
// cache_aredis_destroy, which drains failq).
void cache_aredis_fail_fast(cache_aredis *a, req *q)
{
	list_push(&a->failq, q);
	if (!a->closing)
		wake(a);
}

void cache_aredis_note_failure(cache_aredis *a, const char *why)
{
	if (a->closing || a->failure_pending)
		return;
	snprintf(a->why, sizeof(a->why), "%s", why);
	a->failure_pending = true;
	wake(a);
}

// ---- loop callbacks -----------------------------------------------------------------------

// Fails the commands that never reached hiredis, then reports a failure.
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	cache_aredis *a = arg;
	size_t n = a->failq.n; // those queued meanwhile wait for the next round
	req *q;
	(void)fd;
	(void)what;
	cache_aredis_enter(a);
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
	cache_aredis_leave(a);
}

// ---- life cycle ---------------------------------------------------------------------------

int cache_aredis_create(cache_aredis **out, const cache_aredis_config *cfg, char *err,
                        size_t errcap)
{
	cache_aredis *a;

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
	a->connect_timer = evtimer_new(cfg->base, cache_aredis_on_connect_timer, a);
	a->cmd_timer = evtimer_new(cfg->base, cache_aredis_on_cmd_timer, a);
	a->wake = event_new(cfg->base, -1, 0, on_wake, a);
	if (a->connect_timer == NULL || a->cmd_timer == NULL || a->wake == NULL) {
		snprintf(err, errcap, "aredis: out of memory");
		really_free(a);
		return -1;
	}
	(void)cache_aredis_start_conn(a); // a failure is reported through on_failure
	*out = a;
	return 0;
}

static void really_free(cache_aredis *a)
{
	req *q;
	// Only commands queued against the rules after cache_aredis_destroy returned.
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

void cache_aredis_destroy(cache_aredis *a)
{
	redisAsyncContext *ac;
	req *q;

	if (a == NULL || a->closing)
		return;
	a->closing = true;
	a->failure_pending = false;
	cache_aredis_enter(a);
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
	cache_aredis_leave(a);
}

bool cache_aredis_connected(const cache_aredis *a)
{
	return a != NULL && a->ac != NULL && a->up;
}
