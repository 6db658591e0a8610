// cache_aredis's shared helpers: see aredis_common.h.
#include "aredis_common.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"

struct event_base *B;
cache_url SHARED; // REDIS_URL with db 9

// ---- recording callbacks ------------------------------------------------------------------

long SEQ;
bool IN_CALL; // set around cache_aredis_command/cache_aredis_eval: no callback may run then

void record(const redisReply *r, void *arg)
{
	res *x = arg;
	x->calls++;
	x->seq = SEQ++;
	x->at_us = base_now_us();
	CHECK(!IN_CALL, "a callback ran inside cache_aredis_command");
	if (r == NULL) {
		x->type = -1;
		return;
	}
	x->type = r->type;
	x->integer = r->integer;
	x->elements = r->elements;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
	    r->type == REDIS_REPLY_ERROR) {
		x->len = r->len;
		memcpy(x->str, r->str, r->len < sizeof(x->str) ? r->len : sizeof(x->str) - 1);
	}
}

void cmd(cache_aredis *a, res *x, int argc, const char **argv)
{
	IN_CALL = true;
	cache_aredis_command(a, argc, argv, NULL, record, x);
	IN_CALL = false;
}

void cmd1(cache_aredis *a, res *x, const char *c)
{
	cmd(a, x, 1, &c);
}

void on_failure(void *arg, const char *why)
{
	fails *f = arg;
	f->n++;
	snprintf(f->why, sizeof(f->why), "%s", why);
}

// ---- the loop -----------------------------------------------------------------------------

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

// Runs the loop until *counter >= target or timeout_ms; returns the number of
// loop iterations (a 5 ms tick keeps them coming).
long run_until(const int *counter, int target, int timeout_ms)
{
	struct timeval tv = {0, 5000};
	struct event *t = event_new(B, -1, EV_PERSIST, tick, NULL);
	int64_t end = base_now_us() + (int64_t)timeout_ms * 1000;
	long iters = 0;

	event_add(t, &tv);
	while ((counter == NULL || *counter < target) && base_now_us() < end) {
		event_base_loop(B, EVLOOP_ONCE);
		iters++;
	}
	event_free(t);
	return iters;
}

void run_ms(int ms)
{
	run_until(NULL, 0, ms);
}

// Sum of calls of xs[0..n).
int calls(const res *xs, int n)
{
	int c = 0;
	for (int i = 0; i < n; i++)
		c += xs[i].calls;
	return c;
}

// Runs until the single command x is answered.
void wait1(res *x)
{
	run_until(&x->calls, 1, WAIT_MS);
}

cache_aredis *make(const cache_url *u, fails *f)
{
	cache_aredis_config cfg = {.url = u,
	                           .base = B,
	                           .connect_timeout_ms = CONNECT_MS,
	                           .command_timeout_ms = COMMAND_MS,
	                           .reconnect_min_ms = RECONNECT_MS,
	                           .on_failure = on_failure,
	                           .arg = f};
	cache_aredis *a = NULL;
	char err[256];
	if (cache_aredis_create(&a, &cfg, err, sizeof(err)) != 0)
		printf("cache_aredis_create: %s\n", err);
	return a;
}

bool ping_ok(cache_aredis *a)
{
	res x = {0};
	cmd1(a, &x, "PING");
	wait1(&x);
	return x.calls == 1 && x.type == REDIS_REPLY_STATUS && strcmp(x.str, "PONG") == 0;
}

// Pings every 50 ms until one succeeds.
bool wait_ping(cache_aredis *a)
{
	for (int i = 0; i < WAIT_MS / 50; i++) {
		if (ping_ok(a))
			return true;
		run_ms(50);
	}
	return false;
}

// ---- servers of our own -------------------------------------------------------------------

int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

// Starts redis-server on port, with one more option when opt != NULL
// ("--requirepass" makes val the password used to check it is up), and
// waits until it answers.
pid_t start_redis(int port, const char *opt, const char *val)
{
	char p[16];
	const char *password = opt != NULL && strcmp(opt, "--requirepass") == 0 ? val : NULL;
	pid_t pid;
	snprintf(p, sizeof(p), "%d", port);
	fflush(stdout); // or the child would write our buffered lines again
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the test
		execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save",
		       "", "--appendonly", "no", opt, val, (char *)NULL); // opt NULL ends the list
		_exit(127);
	}
	for (int i = 0; i < WAIT_MS / 50; i++) {
		cache_url u = {.port = port};
		redisContext *rc;
		snprintf(u.host, sizeof(u.host), "127.0.0.1");
		if (password != NULL)
			snprintf(u.password, sizeof(u.password), "%s", password);
		rc = raw_connect(&u);
		if (rc != NULL) {
			redisReply *r = redisCommand(rc, "PING");
			bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
			if (r != NULL)
				freeReplyObject(r);
			redisFree(rc);
			if (ok)
				return pid;
		}
		sleep_ms(50);
	}
	printf("redis-server did not start on port %d\n", port);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

void stop_redis(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGCONT);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

cache_url local_url(int port, int db)
{
	cache_url u = {.port = port, .db = db};
	snprintf(u.host, sizeof(u.host), "127.0.0.1");
	return u;
}
