// propctl_top: `propctl top --once` against a fake /metrics server that
// serves two scrapes; the rates, error ratio, quantiles and gauges printed
// must follow from the deltas. Also: a non-200 reply and a malformed page
// exit 2.
//
// usage: propctl_top_test /path/to/propctl
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_REPLIES 2

typedef struct fake_http {
	int lfd;
	const char *replies[MAX_REPLIES]; // full HTTP replies, one per connection
	size_t n;
} fake_http;

static const char scrape1[] =
    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    "# TYPE propertyd_requests_total counter\n"
    "propertyd_requests_total{method=\"/property.v1.PropertyService/GetProperty\",code=\"0\"} 100\n"
    "propertyd_requests_total{method=\"/grpc.health.v1.Health/Check\",code=\"0\"} 7\n"
    "propertyd_request_duration_seconds_bucket{method=\"/property.v1.PropertyService/"
    "GetProperty\",le=\"0.001\"} 0\n"
    "propertyd_request_duration_seconds_bucket{method=\"/property.v1.PropertyService/"
    "GetProperty\",le=\"0.01\"} 0\n"
    "propertyd_request_duration_seconds_bucket{method=\"/property.v1.PropertyService/"
    "GetProperty\",le=\"0.1\"} 0\n"
    "propertyd_request_duration_seconds_bucket{method=\"/property.v1.PropertyService/"
    "GetProperty\",le=\"+Inf\"} 0\n"
    "propertyd_cache_requests_total{family=\"property\",result=\"hit\"} 5\n"
    "propertyd_cache_requests_total{family=\"property\",result=\"miss\"} 5\n";

static const char scrape2[] =
    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    "propertyd_requests_total{method=\"/property.v1.PropertyService/GetProperty\",code=\"0\"} 190\n"
    "propertyd_requests_total{method=\"/property.v1.PropertyService/GetProperty\",code=\"5\"} 10\n"
    "propertyd_requests_total{method=\"/grpc.health.v1.Health/Check\",code=\"0\"} 7\n"
    "propertyd_request_duration_seconds_bucket{method=\"/property.v1.PropertyService/"
    "GetProperty\",le=\"0.001\"} 10\n"
    "propertyd_request_duration_seconds_bucket{method=\"/property.v1.PropertyService/"
    "GetProperty\",le=\"0.01\"} 60\n"
    "propertyd_request_duration_seconds_bucket{method=\"/property.v1.PropertyService/"
    "GetProperty\",le=\"0.1\"} 100\n"
    "propertyd_request_duration_seconds_bucket{method=\"/property.v1.PropertyService/"
    "GetProperty\",le=\"+Inf\"} 100\n"
    "propertyd_cache_requests_total{family=\"property\",result=\"hit\"} 35\n"
    "propertyd_cache_requests_total{family=\"property\",result=\"miss\"} 15\n"
    "propertyd_db_pool_in_use 3\npropertyd_db_pool_size 10\n"
    "propertyd_relay_leader 1\npropertyd_relay_lag_rows 2\npropertyd_relay_lag_seconds 0.25\n";

static const char not_found[] = "HTTP/1.0 404 Not Found\r\n\r\nno\n";
static const char garbage[] = "HTTP/1.0 200 OK\r\n\r\nthis is { not prometheus\n";

typedef struct top_case {
	const char *name;
	const char *replies[MAX_REPLIES];
	int want_exit;
	// Each: "a|b|c" = one output line holds a, b and c in that order.
	const char *want[10];
} top_case;

static const top_case cases[] = {
    {"two_scrapes",
     {scrape1, scrape2},
     0,
     {"/property.v1.PropertyService/GetProperty|1000.0|10.0%|8.20|97.75",
      "/grpc.health.v1.Health/Check|0.0|-", "TOTAL|1000.0|10.0%", "/grpc.health.v1.Health/Check",
      "leader: yes", "pool: 3/10 in use", "75.0%", "relay lag: 2 rows, 0.250 s", NULL}},
    {"http_404", {not_found, NULL}, 2, {"HTTP 404", NULL}},
    {"malformed_page", {garbage, NULL}, 2, {"/metrics: line 1", NULL}},
};

// True when one line of `text` holds every '|'-separated part of `want`, in order.
static int has_line(const char *text, const char *want)
{
	char parts[256];
	for (const char *line = text; *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[512];
		snprintf(buf, sizeof buf, "%.*s", (int)len, line);
		snprintf(parts, sizeof parts, "%s", want);
		const char *at = buf;
		char *save = NULL;
		for (char *p = strtok_r(parts, "|", &save); p != NULL && at != NULL;
		     p = strtok_r(NULL, "|", &save)) {
			at = strstr(at, p);
			if (at != NULL)
				at += strlen(p);
		}
		if (at != NULL)
			return 1;
		line += len + (eol != NULL);
	}
	return 0;
}

static void *serve(void *arg)
{
	fake_http *h = arg;
	for (size_t i = 0; i < h->n; i++) {
		int fd = accept(h->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		char req[2048];
		size_t got = 0;
		while (got < sizeof req - 1) {
			ssize_t r = recv(fd, req + got, sizeof req - 1 - got, 0);
			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n") != NULL)
				break;
		}
		size_t len = strlen(h->replies[i]);
		if (send(fd, h->replies[i], len, MSG_NOSIGNAL) != (ssize_t)len)
			fprintf(stderr, "fake server: short send\n");
		close(fd);
	}
	return NULL;
}

static int run_case(const char *propctl, const top_case *c)
{
	fake_http h = {.n = 0};
	for (size_t i = 0; i < MAX_REPLIES && c->replies[i]; i++)
		h.replies[h.n++] = c->replies[i];
	h.lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	if (h.lfd < 0 || bind(h.lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(h.lfd, 4) != 0 || getsockname(h.lfd, (struct sockaddr *)&sa, &sl) != 0) {
		printf("FAIL %s: cannot listen\n", c->name);
		return 0;
	}
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
	pthread_t th;
	pthread_create(&th, NULL, serve, &h);

	FILE *out = tmpfile();
	pid_t pid = out ? fork() : -1;
	if (pid == 0) {
		dup2(fileno(out), 1);
		dup2(fileno(out), 2);
		execl(propctl, propctl, "top", "--once", "--interval", "0.1", "--http-addr", addr,
		      (char *)NULL);
		_exit(127);
	}
	int ws = 0, st = -1;
	if (pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws))
		st = WEXITSTATUS(ws);
	shutdown(h.lfd, SHUT_RDWR); // ends accept() when fewer scrapes came
	pthread_join(th, NULL);
	close(h.lfd);

	char text[8192] = "";
	if (out != NULL) {
		rewind(out);
		text[fread(text, 1, sizeof text - 1, out)] = '\0';
		fclose(out);
	}
	if (st != c->want_exit) {
		printf("FAIL %s: exit %d, want %d\n%s\n", c->name, st, c->want_exit, text);
		return 0;
	}
	for (size_t i = 0; c->want[i] != NULL; i++)
		if (!has_line(text, c->want[i])) {
			printf("FAIL %s: output lacks \"%s\":\n%s\n", c->name, c->want[i], text);
			return 0;
		}
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s /path/to/propctl\n", argv[0]);
		return 2;
	}
	size_t n = sizeof cases / sizeof cases[0], passed = 0;
	for (size_t i = 0; i < n; i++)
		passed += (size_t)run_case(argv[1], &cases[i]);
	printf("%zu passed, %zu failed\n", passed, n - passed);
	return passed == n ? 0 : 1;
}
