// cache_aredis destroyed in every awkward place: before the loop ran, from a
// reply callback, from on_failure, and from the NULL callback of a timed-out
// connection, with commands queued by the callbacks destroy runs.
#include <signal.h>
#include <stdlib.h>

#include "aredis_common.h"

// ---- destroy ------------------------------------------------------------------------------

typedef struct dctx {
	cache_aredis *a;
	int destroy_at; // index whose callback destroys the client
	int issue_at;   // index whose callback queues one more command
	res *xs;
	res extra;
	int n_done;
	int destroyed_after; // n_done when destroy returned
	bool destroying;
} dctx;

typedef struct dres {
	dctx *d;
	int i;
} dres;

// Destroys d->a, which stays set meanwhile: callbacks run by destroy queue a
// command on it (issue_at).
static void d_destroy(dctx *d)
{
	if (d->a == NULL || d->destroying)
		return;
	d->destroying = true;
	cache_aredis_destroy(d->a);
	d->a = NULL;
	d->destroyed_after = d->n_done;
}

static void d_record(const redisReply *r, void *arg)
{
	dres *e = arg;
	dctx *d = e->d;
	record(r, &d->xs[e->i]);
	d->n_done++;
	if (e->i == d->issue_at && d->a != NULL)
		cmd1(d->a, &d->extra, "PING");
	if (e->i == d->destroy_at)
		d_destroy(d);
}

static void d_on_failure(void *arg, const char *why)
{
	(void)why;
	d_destroy(arg);
}

#define D_N 1000
// mode 0: destroy before the loop ran; 1: from a reply callback; 2: from
// on_failure (frozen server); 3: from a NULL callback of a timed-out
// connection.
static void destroy_case(int mode, const cache_url *u, pid_t pid)
{
	dctx d = {.destroy_at = -1, .issue_at = -1};
	dres *es = calloc(D_N, sizeof(dres));
	cache_aredis_config cfg = {.url = u,
	                           .base = B,
	                           .connect_timeout_ms = CONNECT_MS,
	                           .command_timeout_ms = COMMAND_MS,
	                           .reconnect_min_ms = RECONNECT_MS,
	                           .on_failure = mode == 2 ? d_on_failure : NULL,
	                           .arg = &d};
	char err[256];

	d.xs = calloc(D_N, sizeof(res));
	if (es == NULL || d.xs == NULL || cache_aredis_create(&d.a, &cfg, err, sizeof(err)) != 0) {
		CHECK(false, "setup");
		free(es);
		free(d.xs);
		return;
	}
	if (mode == 1) {
		d.destroy_at = 10;
		d.issue_at = 20; // a command queued from a callback run by destroy
	} else if (mode == 3) {
		d.destroy_at = 5;
		d.issue_at = 3;
	}
	if (mode >= 2) {
		CHECK(ping_ok(d.a), "no PONG");
		kill(pid, SIGSTOP);
	}
	IN_CALL = true;
	for (int i = 0; i < D_N; i++) {
		const char *ping = "PING";
		es[i] = (dres){&d, i};
		cache_aredis_command(d.a, 1, &ping, NULL, d_record, &es[i]);
	}
	IN_CALL = false;
	if (mode == 0) {
		d.issue_at = 500;
		d_destroy(&d);
	} else {
		run_until(&d.n_done, D_N, WAIT_MS);
	}
	run_ms(20); // anything late would show now
	if (mode >= 2)
		kill(pid, SIGCONT);
	CHECK(d.a == NULL, "mode %d: not destroyed", mode);
	CHECK(d.destroyed_after == D_N, "mode %d: %d callbacks when destroy returned", mode,
	      d.destroyed_after);
	for (int i = 0; i < D_N; i++) {
		bool want_reply = mode == 1 && i <= 10;
		CHECK(d.xs[i].calls == 1, "mode %d: command %d called %d times", mode, i,
		      d.xs[i].calls);
		CHECK(want_reply ? d.xs[i].type == REDIS_REPLY_STATUS : d.xs[i].type == -1,
		      "mode %d: command %d type %d", mode, i, d.xs[i].type);
		if (check_failures() > 20)
			break;
	}
	if (d.issue_at >= 0)
		CHECK(d.extra.calls == 1 && d.extra.type == -1, "mode %d: extra %d %d", mode,
		      d.extra.calls, d.extra.type);
	free(es);
	free(d.xs);
}

void case_destroy(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, NULL, NULL);
	cache_url u = local_url(port, 0);

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	for (int mode = 0; mode < 4; mode++)
		destroy_case(mode, &u, pid);
	stop_redis(pid);
}
