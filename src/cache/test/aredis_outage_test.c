// cache_aredis when its server fails: a frozen server (SIGSTOP), a killed and
// restarted one, and a port where nothing listens.
#include <signal.h>
#include <string.h>

#include "aredis_common.h"
#include "base/clock.h"

// A frozen server: commands fail within the command timeout, on_failure is
// called, a reconnect to the frozen server fails by the connect timeout, the
// back-off fails commands fast, and after SIGCONT commands succeed again.
#define FROZEN_N 100
void case_frozen(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, NULL, NULL);
	cache_url u = local_url(port, 0);
	fails f = {0};
	cache_aredis *a;
	res xs[FROZEN_N], x = {0};
	int64_t t0, worst = 0;

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	a = make(&u, &f);
	CHECK(ping_ok(a), "no PONG before freezing");
	kill(pid, SIGSTOP);
	memset(xs, 0, sizeof(xs));
	t0 = base_now_us();
	for (int i = 0; i < FROZEN_N; i++) {
		cmd1(a, &xs[i], "PING");
		if (i == FROZEN_N / 2)
			run_ms(20); // half of them sent later
	}
	run_until(&xs[FROZEN_N - 1].calls, 1, WAIT_MS);
	run_until(&f.n, 1, 1000);
	for (int i = 0; i < FROZEN_N; i++) {
		CHECK(xs[i].calls == 1 && xs[i].type == -1, "command %d: %d calls, type %d", i,
		      xs[i].calls, xs[i].type);
		if (xs[i].at_us - t0 > worst)
			worst = xs[i].at_us - t0;
	}
	CHECK(worst <= (COMMAND_MS + 100) * 1000, "a command took %lld ms",
	      (long long)worst / 1000);
	CHECK(f.n == 1 && strcmp(f.why, "command timeout") == 0, "on_failure: %d %s", f.n, f.why);
	printf("     frozen: the last NULL after %lld ms\n", (long long)worst / 1000);

	// Inside the back-off: fails fast.
	t0 = base_now_us();
	cmd1(a, &x, "PING");
	wait1(&x);
	CHECK(x.type == -1 && x.at_us - t0 < 50000, "not failed fast in the back-off");

	// After it: a new connection, whose handshake the frozen server never
	// answers.
	run_ms(RECONNECT_MS + 20);
	memset(&x, 0, sizeof(x));
	t0 = base_now_us();
	cmd1(a, &x, "PING");
	wait1(&x);
	run_until(&f.n, 2, 1000);
	CHECK(x.type == -1 && x.at_us - t0 <= (CONNECT_MS + 100) * 1000,
	      "connect to a frozen server: type %d after %lld ms", x.type,
	      (long long)(x.at_us - t0) / 1000);
	CHECK(f.n == 2 && strcmp(f.why, "connect timeout") == 0, "on_failure: %d %s", f.n, f.why);

	kill(pid, SIGCONT);
	CHECK(wait_ping(a), "no PONG after SIGCONT");
	CHECK(cache_aredis_connected(a), "not connected after SIGCONT");
	cache_aredis_destroy(a);
	stop_redis(pid);
}

// The server is killed (an idle connection notices), refused while down,
// and restarted on the same port: commands succeed again.
void case_restart(void)
{
	int port = free_port();
	pid_t pid = start_redis(port, NULL, NULL);
	cache_url u = local_url(port, 0);
	fails f = {0};
	cache_aredis *a;
	res x = {0};

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	a = make(&u, &f);
	CHECK(ping_ok(a), "no PONG at first");
	stop_redis(pid);
	run_until(&f.n, 1, WAIT_MS);
	CHECK(f.n == 1 && !cache_aredis_connected(a), "the closed connection went unnoticed");
	run_ms(RECONNECT_MS + 20);
	cmd1(a, &x, "PING");
	wait1(&x);
	CHECK(x.calls == 1 && x.type == -1, "PING with the server down: %d", x.type);
	pid = start_redis(port, NULL, NULL);
	CHECK(pid > 0, "no redis-server after the restart");
	CHECK(wait_ping(a), "no PONG after the restart");
	cache_aredis_destroy(a);
	stop_redis(pid);
}

// Nothing listens: every command fails (refused, then the back-off), never
// inside cache_aredis_command.
void case_closed_port(void)
{
	cache_url u = local_url(free_port(), 0);
	fails f = {0};
	cache_aredis *a = make(&u, &f);
	res xs[10];

	memset(xs, 0, sizeof(xs));
	for (int i = 0; i < 10; i++) {
		cmd1(a, &xs[i], "PING");
		if (i == 4)
			run_ms(RECONNECT_MS + 20);
	}
	run_until(&xs[9].calls, 1, WAIT_MS);
	for (int i = 0; i < 10; i++)
		CHECK(xs[i].calls == 1 && xs[i].type == -1, "command %d: %d %d", i, xs[i].calls,
		      xs[i].type);
	CHECK(f.n >= 1, "on_failure not called");
	cache_aredis_destroy(a);
}
