// obs http: the three routes, 404/405, readiness flips, the collect hook, bad
// addresses, and start/stop on the same port repeatedly.
#include "obs/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

// Bounds a broken server so the test fails instead of hanging.
#define IO_TIMEOUT_SEC 10
#define RESP_MAX       (1 << 20)

typedef struct response {
	int status;
	char headers[4096];
	char *body; // malloc'd, NUL-terminated
} response;

// A tiny HTTP/1.1 client: one request with Connection: close, read to EOF.
static int fetch(int port, const char *method, const char *path, response *out)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = IO_TIMEOUT_SEC};
	char req[512];
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, rc = -1;

	memset(out, 0, sizeof(*out));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("  connect");
		goto out;
	}
	int n = snprintf(req, sizeof(req),
	                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
	                 method, path, port);
	if (write(fd, req, (size_t)n) != n) {
		perror("  write");
		goto out;
	}
	if ((buf = malloc(RESP_MAX + 1)) == NULL) {
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, RESP_MAX - len);
		if (r < 0) {
			perror("  read");
			goto out;
		}
		if (r == 0 || (len += (size_t)r) == RESP_MAX) {
			break;
		}
	}
	buf[len] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (end == NULL || sscanf(buf, "HTTP/1.1 %d", &out->status) != 1) {
		fprintf(stderr, "  malformed response: %.200s\n", buf);
		goto out;
	}
	size_t hl = (size_t)(end - buf);
	if (hl >= sizeof(out->headers)) {
		hl = sizeof(out->headers) - 1;
	}
	memcpy(out->headers, buf, hl);
	out->headers[hl] = '\0';
	out->body = strdup(end + 4);
	rc = out->body != NULL ? 0 : -1;
out:
	free(buf);
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

static int expect(int port, const char *method, const char *path, int status, const char *body,
                  const char *header)
{
	response r;
	int ok = fetch(port, method, path, &r) == 0 && r.status == status &&
	         (body == NULL || strcmp(r.body, body) == 0) &&
	         (header == NULL || strstr(r.headers, header) != NULL);
	if (!ok) {
		fprintf(stderr, "  %s %s: got %d '%s', want %d '%s' with header '%s'\n%s\n", method,
		        path, r.status, r.body != NULL ? r.body : "", status,
		        body != NULL ? body : "*", header != NULL ? header : "", r.headers);
	}
	free(r.body);
	return ok ? 0 : 1;
}

// A port that is free right now: bind to 0, read it back, close.
static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0) {
		port = ntohs(sa.sin_port);
	}
	if (fd >= 0) {
		close(fd);
	}
	return port;
}

typedef struct app {
	atomic_int ready;
	atomic_int collects;
	obs_gauge *refreshed;
} app;

static int is_ready(void *arg)
{
	return atomic_load(&((app *)arg)->ready);
}

static void collect(void *arg)
{
	app *a = arg;
	obs_gauge_set(a->refreshed, (double)(atomic_fetch_add(&a->collects, 1) + 1));
}

static int start(obs_http **h, int port, obs_registry *reg, app *a)
{
	char addr[64], err[256] = "";
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	if (obs_http_start(h, addr, reg, is_ready, a, err, sizeof(err)) != 0) {
		fprintf(stderr, "  start %s: %s\n", addr, err);
		return 1;
	}
	return 0;
}

static int case_routes(void)
{
	obs_registry *reg = obs_registry_create();
	app a = {.refreshed = obs_gauge_get(reg, "refreshed", "Collect calls.", NULL)};
	obs_http *h = NULL;
	int port = free_port();
	int fails = 0;

	obs_counter_add(obs_counter_get(reg, "hits_total", "Hits.", "k=\"v\""), 7);
	if (start(&h, port, reg, &a) != 0) {
		obs_registry_destroy(reg);
		return 1;
	}
	fails += obs_http_port(h) != port;
	fails += expect(port, "GET", "/healthz", 200, "ok\n", "Content-Type: text/plain");
	fails += expect(port, "GET", "/readyz", 503, "not ready\n", NULL);
	atomic_store(&a.ready, 1);
	fails += expect(port, "GET", "/readyz", 200, "ready\n", NULL);
	atomic_store(&a.ready, 0);
	fails += expect(port, "GET", "/readyz", 503, "not ready\n", NULL);

	// Without a collect hook: the registry as is.
	fails +=
	    expect(port, "GET", "/metrics", 200,
	           "# HELP refreshed Collect calls.\n# TYPE refreshed gauge\nrefreshed 0\n"
	           "# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total{k=\"v\"} 7\n",
	           "Content-Type: text/plain; version=0.0.4; charset=utf-8");
	obs_http_set_collect(h, collect, &a);
	fails +=
	    expect(port, "GET", "/metrics", 200,
	           "# HELP refreshed Collect calls.\n# TYPE refreshed gauge\nrefreshed 1\n"
	           "# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total{k=\"v\"} 7\n",
	           NULL);
	fails +=
	    expect(port, "GET", "/metrics", 200,
	           "# HELP refreshed Collect calls.\n# TYPE refreshed gauge\nrefreshed 2\n"
	           "# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total{k=\"v\"} 7\n",
	           NULL);
	fails += atomic_load(&a.collects) != 2;
	obs_http_set_collect(h, NULL, NULL);
	fails += expect(port, "GET", "/metrics", 200, NULL, NULL);
	fails += atomic_load(&a.collects) != 2;

	fails += expect(port, "GET", "/nope", 404, NULL, NULL);
	fails += expect(port, "GET", "/healthz/deeper", 404, NULL, NULL);
	fails += expect(port, "POST", "/healthz", 405, NULL, NULL);
	fails += expect(port, "HEAD", "/healthz", 200, "", NULL);

	obs_http_stop(h);
	obs_registry_destroy(reg);
	return fails != 0;
}

static int case_port_zero(void)
{
	obs_registry *reg = obs_registry_create();
	app a = {.ready = 1};
	obs_http *h = NULL;
	int fails = 0;

	if (start(&h, 0, reg, &a) != 0) {
		obs_registry_destroy(reg);
		return 1;
	}
	int port = obs_http_port(h);
	if (port <= 0) {
		fprintf(stderr, "  port 0: bound port unknown\n");
		fails++;
	} else {
		fails += expect(port, "GET", "/readyz", 200, "ready\n", NULL);
	}
	obs_http_stop(h);
	obs_registry_destroy(reg);
	return fails != 0;
}

static int case_bad_addresses(void)
{
	static const char *const bad[] = {
	    "",        "127.0.0.1",       "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000",
	    "[::1:80", "127.0.0.1:123456"};
	obs_registry *reg = obs_registry_create();
	obs_http *h = NULL;
	char err[256];
	int fails = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (obs_http_start(&h, bad[i], reg, NULL, NULL, err, sizeof(err)) == 0 ||
		    err[0] == '\0') {
			fprintf(stderr, "  '%s' accepted or no message\n", bad[i]);
			fails++;
		}
	}
	err[0] = '\0';
	if (obs_http_start(&h, NULL, reg, NULL, NULL, err, sizeof(err)) == 0 || err[0] == '\0') {
		fails++;
	}
	obs_registry_destroy(reg);
	return fails != 0;
}

static int case_port_in_use(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	obs_registry *reg = obs_registry_create();
	obs_http *h = NULL;
	char addr[64], err[256] = "";
	int fails = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		perror("  listen");
		fails++;
		goto out;
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	if (obs_http_start(&h, addr, reg, NULL, NULL, err, sizeof(err)) == 0) {
		fprintf(stderr, "  started on a port in use\n");
		obs_http_stop(h);
		fails++;
	} else if (strstr(err, addr) == NULL) {
		fprintf(stderr, "  message does not name the address: %s\n", err);
		fails++;
	}
out:
	if (fd >= 0) {
		close(fd);
	}
	obs_registry_destroy(reg);
	return fails != 0;
}

// The same address twice in one process: the second start fails cleanly and
// the first keeps serving.
static int case_twice_same_address(void)
{
	obs_registry *reg = obs_registry_create();
	app a = {.ready = 1};
	obs_http *h1 = NULL, *h2 = NULL;
	int port = free_port();
	char addr[64], err[256] = "";
	int fails = 0;

	if (start(&h1, port, reg, &a) != 0) {
		obs_registry_destroy(reg);
		return 1;
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	if (obs_http_start(&h2, addr, reg, NULL, NULL, err, sizeof(err)) == 0) {
		fprintf(stderr, "  second start on %s succeeded\n", addr);
		obs_http_stop(h2);
		fails++;
	}
	fails += expect(port, "GET", "/readyz", 200, "ready\n", NULL);
	obs_http_stop(h1);
	obs_registry_destroy(reg);
	return fails != 0;
}

static int case_restart_same_port(void)
{
	obs_registry *reg = obs_registry_create();
	app a = {.ready = 1};
	int port = free_port();
	int fails = 0;

	for (int round = 0; round < 3 && fails == 0; round++) {
		obs_http *h = NULL;
		if (start(&h, port, reg, &a) != 0) {
			fails++;
			break;
		}
		fails += expect(port, "GET", "/healthz", 200, "ok\n", NULL);
		fails += expect(port, "GET", "/metrics", 200, "", NULL);
		obs_http_stop(h);
	}
	obs_http_stop(NULL);
	obs_registry_destroy(reg);
	return fails != 0;
}

// ---- stop while requests are in flight -------------------------------------------------------

#define N_CLIENTS 4

typedef struct client {
	pthread_t tid;
	int port;
	atomic_int *done;
	int served; // responses read in full
} client;

// Fetches /metrics and /readyz until told to stop, ignoring failures (the
// server goes away under it on purpose).
static void *pound(void *arg)
{
	client *c = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
	struct timeval tv = {.tv_sec = IO_TIMEOUT_SEC};
	char buf[4096];

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	for (int i = 0; !atomic_load(c->done); i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		const char *req = i % 2 ? "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
		                        : "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
		if (fd < 0) {
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		// Keep-alive: several requests on one connection, pipelined.
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    write(fd, req, strlen(req)) > 0 && write(fd, req, strlen(req)) > 0 &&
		    read(fd, buf, sizeof(buf)) > 0) {
			c->served++;
		}
		close(fd);
	}
	return NULL;
}

static atomic_int collects_seen;
static atomic_int park;         // main asks the next collect to stay in flight
static atomic_int parked;       // a collect is in flight and waiting
static atomic_int stop_started; // main is about to call obs_http_stop
static atomic_int parked_done;  // the parked collect has returned

// Counts calls; on request, one call stays in flight across obs_http_stop and
// keeps writing to the registry afterwards. obs_http_stop must wait for it,
// or ASan sees the registry used after obs_registry_destroy.
static void counting_collect(void *arg)
{
	int zero = 0;

	atomic_fetch_add(&collects_seen, 1);
	if (atomic_load(&park) && atomic_compare_exchange_strong(&parked, &zero, 1)) {
		while (!atomic_load(&stop_started)) {
		}
		for (int i = 0; i < 200000; i++) {
			obs_gauge_add(arg, 1.0);
		}
		atomic_store(&parked_done, 1);
	}
}

// A connection that sent `head` (part of a request) and waits.
static int half_open(int port, const char *head)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = IO_TIMEOUT_SEC};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, head, strlen(head)) != (ssize_t)strlen(head)) {
		perror("  half-open connection");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

// True when the server closed fd (EOF, possibly after a reply) within the
// read timeout.
static bool closed_by_server(int fd)
{
	char b[512];
	for (;;) {
		ssize_t r = read(fd, b, sizeof b);
		if (r == 0)
			return true;
		if (r < 0)
			return false;
	}
}

// Slow clients: a request head that never completes is closed at the time
// limit; at the connection cap the longest-waiting one makes room, so
// trickling heads never lock out a real request.
static int case_limits(void)
{
	obs_registry *reg = obs_registry_create();
	app a = {.ready = 1};
	obs_http *h = NULL;
	int fails = 0;
	if (start(&h, 0, reg, &a) != 0) {
		obs_registry_destroy(reg);
		return 1;
	}
	int port = obs_http_port(h);
	obs_http_set_limits(h, 3, 400);
	int slow[5];
	for (int i = 0; i < 5; i++) {
		slow[i] = half_open(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
		fails += slow[i] < 0;
		usleep(20000); // distinct ages
	}
	// 5 slow ones on 3 slots: the two oldest were evicted.
	fails += expect(port, "GET", "/healthz", 200, "ok\n", NULL);
	int open = 0;
	uint64_t refused = 0, timed_out = 0;
	obs_http_stats(h, &open, &refused, &timed_out);
	if (refused < 3 || open > 3) {
		fprintf(stderr, "  limits: open %d refused %llu, want <= 3 and >= 3\n", open,
		        (unsigned long long)refused);
		fails++;
	}
	for (int i = 0; i < 5; i++) {
		if (slow[i] >= 0 && !closed_by_server(slow[i])) {
			fprintf(stderr, "  slow connection %d was not closed by the server\n", i);
			fails++;
		}
		if (slow[i] >= 0)
			close(slow[i]);
	}
	obs_http_stats(h, &open, &refused, &timed_out);
	if (timed_out == 0) {
		fprintf(stderr, "  no connection was closed at the time limit\n");
		fails++;
	}
	// An oversized head is refused with 431.
	char big[9000];
	memset(big, 'a', sizeof big);
	memcpy(big, "GET /", 5);
	big[sizeof big - 1] = '\0';
	int fd = half_open(port, big);
	char rep[64] = "";
	if (fd < 0 || read(fd, rep, sizeof rep - 1) <= 0 || strstr(rep, " 431 ") == NULL) {
		fprintf(stderr, "  an oversized head: '%s', want 431\n", rep);
		fails++;
	}
	if (fd >= 0)
		close(fd);
	fails += expect(port, "GET", "/readyz", 200, "ready\n", NULL);
	obs_http_stop(h);
	obs_registry_destroy(reg);
	return fails != 0;
}

static int case_stop_under_load(void)
{
	for (int round = 0; round < 5; round++) {
		obs_registry *reg = obs_registry_create();
		app a = {.ready = 1};
		obs_http *h = NULL;
		client c[N_CLIENTS];
		atomic_int done = 0;

		atomic_store(&park, 0);
		atomic_store(&parked, 0);
		atomic_store(&stop_started, 0);
		atomic_store(&parked_done, 0);
		if (start(&h, 0, reg, &a) != 0) {
			obs_registry_destroy(reg);
			return 1;
		}
		obs_http_set_collect(h, counting_collect, obs_gauge_get(reg, "g", "G.", NULL));
		for (int i = 0; i < N_CLIENTS; i++) {
			c[i] = (client){.port = obs_http_port(h), .done = &done};
			pthread_create(&c[i].tid, NULL, pound, &c[i]);
		}
		// Let some requests through (a count, not a time), then catch one
		// /metrics request in flight.
		while (atomic_load(&collects_seen) < 20 * (round + 1)) {
		}
		atomic_store(&park, 1);
		while (!atomic_load(&parked)) {
		}
		atomic_store(&stop_started, 1);
		obs_http_stop(h);
		int finished = atomic_load(&parked_done);
		// The registry goes at once: no handler may touch it any more.
		obs_registry_destroy(reg);
		atomic_store(&done, 1);
		for (int i = 0; i < N_CLIENTS; i++) {
			pthread_join(c[i].tid, NULL);
		}
		if (!finished) {
			fprintf(stderr,
			        "  round %d: obs_http_stop returned with a handler running\n",
			        round);
			return 1;
		}
	}
	return 0;
}

// With no argument every case runs except stop_under_load; with one, only
// that case. stop_under_load is its own CTest test (obs_http_stop_under_load):
// it takes longer and pounds the server from many threads.
int main(int argc, char **argv)
{
	// The raw test client writes to sockets the server may close mid-request
	// (stop_under_load): a write error, not a killed test.
	signal(SIGPIPE, SIG_IGN);
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
	    {"routes", case_routes},
	    {"port_zero", case_port_zero},
	    {"bad_addresses", case_bad_addresses},
	    {"port_in_use", case_port_in_use},
	    {"twice_same_address", case_twice_same_address},
	    {"restart_same_port", case_restart_same_port},
	    {"limits", case_limits},
	    {"stop_under_load", case_stop_under_load},
	};
	int failed = 0;

	int ran = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (argc > 1 ? strcmp(argv[1], cases[i].name) != 0
		             : strcmp(cases[i].name, "stop_under_load") == 0) {
			continue;
		}
		int rc = cases[i].fn();
		printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", cases[i].name);
		failed += rc != 0;
		ran++;
	}
	printf("%d of %d cases failed\n", failed, ran);
	if (ran == 0) {
		fprintf(stderr, "no case named '%s'\n", argv[1]);
		failed = 1;
	}
	nng_fini(); // lets nng's reaper free the servers, so leak checks see no residue
	return failed == 0 ? 0 : 1;
}
