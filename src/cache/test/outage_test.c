// cache_outage: the adapter when Redis is unreachable, frozen (SIGSTOP),
// restarted empty, or away long enough for the pending set to overflow. The
// test runs redis-server instances of its own on free ports (it needs
// redis-server on PATH, not REDIS_URL).
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache/pending.h"
#include "cache/redis_cache.h"
#include "cache_sync.h"
#include "common.h"

// Bounds of the polling loops (not timing assertions: only "it happens").
#define WAIT_UP_MS 30000
#define POLL_MS    50

static int free_port(void)
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

static pid_t start_redis(int port)
{
	char p[16];
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
		       "", "--appendonly", "no", (char *)NULL);
		_exit(127);
	}
	// Wait until it answers.
	for (int i = 0; i < WAIT_UP_MS / POLL_MS; i++) {
		cache_url u = {.port = port};
		redisContext *rc;
		struct timeval tv = {0, 200000};
		snprintf(u.host, sizeof(u.host), "127.0.0.1");
		rc = redisConnectWithTimeout(u.host, port, tv);
		if (rc != NULL && !rc->err) {
			redisReply *r = redisCommand(rc, "PING");
			int ok = r != NULL;
			if (r != NULL)
				freeReplyObject(r);
			redisFree(rc);
			if (ok)
				return pid;
		} else if (rc != NULL) {
			redisFree(rc);
		}
		sleep_ms(POLL_MS);
	}
	printf("redis-server did not start on port %d\n", port);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void stop_redis(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGCONT);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static bool wait_up(cache_redis *c)
{
	for (int i = 0; i < WAIT_UP_MS / POLL_MS; i++) {
		if (cache_available(c))
			return true;
		sleep_ms(POLL_MS);
	}
	return false;
}

// The cache for the Redis on `port`, on a loop of its own; NULL on failure.
static cache_redis *make_cache(cache_rig *r, int port)
{
	char url[64], err[256];
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
	if (rig_open(r, url, NULL, err, sizeof(err)) != 0) {
		printf("cache_create: %s\n", err);
		return NULL;
	}
	return r->c;
}

static void case_closed_port(void)
{
	int port = free_port();
	cache_rig r;
	cache_redis *c = make_cache(&r, port);
	test_req q;
	Property__V1__Property p = prop("11111111-1111-1111-1111-111111111111", "x", 1), *g = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t gen = 0;

	CHECK(c != NULL, "create failed on a closed port");
	if (c == NULL)
		return;
	req_init(&q);
	CHECK(!cache_available(c), "available on a closed port");
	for (int i = 0; i < 100; i++) {
		cs_fill(&r, &q.ctx, &p);
		cs_write(&r, &q.ctx, &p);
		cs_write_deleted(&r, &q.ctx, p.id, 1, p.owner_id);
		cs_invalidate_owner(&r, &q.ctx, "o");
		cs_page_fill(&r, &q.ctx, "o", "k", 0, (const uint8_t *)"x", 1);
		CHECK(cs_get(&r, &q.ctx, p.id, &g) == PROP_CACHE_MISS, "get not a miss");
		CHECK(cs_page_get(&r, &q.ctx, "o", "k", &data, &len, &gen) == PROP_CACHE_MISS,
		      "page get not a miss");
	}
	arena_fini(&q.arena);
	rig_close(&r);
}

// Frozen Redis: a write that times out and one made while down are replayed
// before any hit is served.
static void case_frozen(void)
{
	int port = free_port();
	pid_t pid = start_redis(port);
	cache_rig r;
	cache_redis *c;
	test_req q;
	const char *id = "22222222-2222-2222-2222-222222222222";
	Property__V1__Property v1 = prop(id, "v1", 1), v2 = prop(id, "v2", 2), *g = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t gen = 0;

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	c = make_cache(&r, port);
	CHECK(c != NULL && cache_available(c), "cache not up at start");
	if (c == NULL) {
		stop_redis(pid);
		return;
	}
	req_init(&q);
	cs_write(&r, &q.ctx, &v1);
	cs_page_get(&r, &q.ctx, "o", "k", &data, &len, &gen);
	cs_page_fill(&r, &q.ctx, "o", "k", gen, (const uint8_t *)"page", 4);
	CHECK(cs_get(&r, &q.ctx, id, &g) == PROP_CACHE_HIT, "no hit before freezing");
	CHECK(cs_page_get(&r, &q.ctx, "o", "k", &data, &len, &gen) == PROP_CACHE_HIT,
	      "no page hit before freezing");

	kill(pid, SIGSTOP);
	cs_write(&r, &q.ctx, &v2); // times out: the cache goes down
	CHECK(!cache_available(c), "still available after a timed-out write");
	// While down: never sent, only the replay can deliver these.
	cs_write_deleted(&r, &q.ctx, id, 2, v2.owner_id);
	cs_invalidate_owner(&r, &q.ctx, "o");
	CHECK(cs_get(&r, &q.ctx, id, &g) == PROP_CACHE_MISS, "a hit while down");
	kill(pid, SIGCONT);

	CHECK(wait_up(c), "the cache did not come back");
	CHECK(cs_get(&r, &q.ctx, id, &g) == PROP_CACHE_GONE,
	      "the deletion made while down was not replayed");
	CHECK(cs_page_get(&r, &q.ctx, "o", "k", &data, &len, &gen) == PROP_CACHE_MISS,
	      "a stale page was served after the outage");
	arena_fini(&q.arena);
	rig_close(&r);
	stop_redis(pid);
}

static uint64_t errors(const cache_redis *c, enum cache_op op)
{
	return obs_counter_value(c->errors[op]);
}

// propertyd_cache_errors_total{op}: a tombstone that timed out counts under
// put_deleted (not put), and the loop's connection it took down under connect
// (not get).
static void case_frozen_counts(void)
{
	int port = free_port();
	pid_t pid = start_redis(port);
	cache_rig r;
	cache_redis *c;
	test_req q;

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	c = make_cache(&r, port);
	CHECK(c != NULL && cache_available(c), "cache not up at start");
	if (c == NULL) {
		stop_redis(pid);
		return;
	}
	req_init(&q);
	kill(pid, SIGSTOP);
	cs_write_deleted(&r, &q.ctx, "44444444-4444-4444-4444-444444444444", 3, "o");
	CHECK(!cache_available(c), "still available after a timed-out delete");
	// The client's failure is reported from a loop callback of its own; the
	// recovery thread makes no attempt of its own before CACHE_RECONNECT_MS.
	for (int i = 0; i < CACHE_RECONNECT_MS / 2 / 10 && errors(c, OP_CONNECT) == 0; i++)
		usleep(10 * 1000);
	CHECK(errors(c, OP_PUT_DELETED) == 1, "put_deleted errors %llu, want 1",
	      (unsigned long long)errors(c, OP_PUT_DELETED));
	CHECK(errors(c, OP_PUT) == 0, "put errors %llu, want 0",
	      (unsigned long long)errors(c, OP_PUT));
	CHECK(errors(c, OP_OWNER_INVALIDATE) == 1, "owner_invalidate errors %llu, want 1",
	      (unsigned long long)errors(c, OP_OWNER_INVALIDATE));
	CHECK(errors(c, OP_CONNECT) >= 1, "the lost connection was not counted under connect");
	CHECK(errors(c, OP_GET) == 0, "get errors %llu, want 0 (no get failed)",
	      (unsigned long long)errors(c, OP_GET));
	kill(pid, SIGCONT);
	arena_fini(&q.arena);
	rig_close(&r);
	stop_redis(pid);
}

// Redis restarted empty: the loop's connection from before is replaced (the
// client reconnects on the first command after the cache came back), and the
// cache serves again.
static void case_restart(void)
{
	int port = free_port();
	pid_t pid = start_redis(port);
	cache_rig r;
	cache_redis *c;
	test_req q;
	const char *id = "33333333-3333-3333-3333-333333333333";
	Property__V1__Property v1 = prop(id, "v1", 1), v2 = prop(id, "v2", 2), *g = NULL;

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	c = make_cache(&r, port);
	if (c == NULL) {
		stop_redis(pid);
		return;
	}
	req_init(&q);
	cs_write(&r, &q.ctx, &v1);
	stop_redis(pid);
	cs_write(&r, &q.ctx, &v2); // fails: down, v2 owed
	CHECK(!cache_available(c), "still available with Redis gone");
	pid = start_redis(port);
	CHECK(pid > 0, "no redis-server after the restart");
	CHECK(wait_up(c), "the cache did not come back after the restart");
	CHECK(cs_get(&r, &q.ctx, id, &g) == PROP_CACHE_MISS, "fenced key not a miss");
	cs_fill(&r, &q.ctx, &v1); // a late reader's fill: rejected by the fence
	CHECK(cs_get(&r, &q.ctx, id, &g) == PROP_CACHE_MISS, "v1 passed the fence");
	cs_fill(&r, &q.ctx, &v2); // a reader that loaded the current row
	CHECK(cs_get(&r, &q.ctx, id, &g) == PROP_CACHE_HIT && g != NULL && g->version == 2,
	      "no hit after the restart");
	CHECK(cache_available(c), "went down again on an old connection");
	arena_fini(&q.arena);
	rig_close(&r);
	stop_redis(pid);
}

// More writes lost than the pending set holds: the replay purges our keys
// (and bumps generations), then the cache comes back.
static void case_overflow(void)
{
	int port = free_port();
	pid_t pid = start_redis(port);
	cache_rig r;
	cache_redis *c;
	test_req q;
	const char *keep = "44444444-4444-4444-4444-444444444444";
	Property__V1__Property v1 = prop(keep, "v1", 1), *g = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t gen = 0, gen2 = 0;
	char id[40];

	CHECK(pid > 0, "no redis-server");
	if (pid <= 0)
		return;
	c = make_cache(&r, port);
	if (c == NULL) {
		stop_redis(pid);
		return;
	}
	req_init(&q);
	cs_write(&r, &q.ctx, &v1);
	cs_invalidate_owner(&r, &q.ctx, "o");
	cs_page_get(&r, &q.ctx, "o", "k", &data, &len, &gen);
	cs_page_fill(&r, &q.ctx, "o", "k", gen, (const uint8_t *)"page", 4);
	CHECK(cs_page_get(&r, &q.ctx, "o", "k", &data, &len, &gen2) == PROP_CACHE_HIT,
	      "no page hit before freezing");
	kill(pid, SIGSTOP);
	// Deletes of other owners' rows (owner-1): only the purge drops o's page.
	for (int i = 0; i <= CACHE_PENDING_CAP; i++) {
		snprintf(id, sizeof(id), "00000000-0000-0000-0000-%012d", i);
		cs_write_deleted(&r, &q.ctx, id, 1, "owner-1");
	}
	kill(pid, SIGCONT);
	CHECK(wait_up(c), "the cache did not come back after an overflow");
	CHECK(cs_get(&r, &q.ctx, keep, &g) == PROP_CACHE_MISS, "a key survived the purge");
	CHECK(cs_get(&r, &q.ctx, "00000000-0000-0000-0000-000000000007", &g) == PROP_CACHE_GONE,
	      "a kept tombstone was not replayed");
	CHECK(cs_page_get(&r, &q.ctx, "o", "k", &data, &len, &gen2) == PROP_CACHE_MISS &&
	          gen2 > gen,
	      "the purge kept a page or did not bump the generation (%llu -> %llu)",
	      (unsigned long long)gen, (unsigned long long)gen2);
	arena_fini(&q.arena);
	rig_close(&r);
	stop_redis(pid);
}

static const check_case CASES[] = {
    {"closed_port", case_closed_port},     {"frozen", case_frozen},
    {"frozen_counts", case_frozen_counts}, {"restart", case_restart},
    {"overflow", case_overflow},
};

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	check_run(CASES, sizeof(CASES) / sizeof(CASES[0]), NULL, NULL);
	return check_summary("cache_outage");
}
