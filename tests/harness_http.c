// Integration-test harness: a tiny HTTP/1.1 GET and a Prometheus sample reader.
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HTTP_TIMEOUT_S 5          // a local /metrics answers in milliseconds
#define HTTP_MAX       (8u << 20) // a metrics page is far smaller

int h_tcp_dial(const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {.tv_sec = HTTP_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

// Decodes a chunked body in place; returns its length or -1.
static long dechunk(char *b, size_t n)
{
	size_t in = 0, out = 0;
	for (;;) {
		char *end;
		if (in >= n)
			return -1;
		unsigned long len = strtoul(b + in, &end, 16);
		char *crlf = strstr(b + in, "\r\n");
		if (crlf == NULL || end == b + in)
			return -1;
		in = (size_t)(crlf - b) + 2;
		if (len == 0)
			return (long)out;
		if (in + len > n)
			return -1;
		memmove(b + out, b + in, len);
		out += len;
		in += len + 2;
	}
}

int h_http_get(const char *addr, const char *path, int *status, char **body)
{
	*status = 0;
	*body = NULL;
	int fd = h_tcp_dial(addr);
	if (fd < 0) {
		fprintf(stderr, "  http connect %s: %s\n", addr, strerror(errno));
		return -1;
	}
	char req[512];
	int rl = snprintf(req, sizeof(req),
	                  "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr);
	if (write(fd, req, (size_t)rl) != rl) {
		close(fd);
		return -1;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	while (buf != NULL) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n >= HTTP_MAX)
			break;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (nb == NULL)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	if (buf == NULL)
		return -1;
	buf[n] = '\0';
	char *hdr_end = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || hdr_end == NULL) {
		fprintf(stderr, "  http %s%s: malformed reply (%zu bytes)\n", addr, path, n);
		free(buf);
		return -1;
	}
	*status = atoi(buf + 9);
	*hdr_end = '\0';
	bool chunked = strcasestr(buf, "transfer-encoding: chunked") != NULL;
	char *b = hdr_end + 4;
	size_t blen = n - (size_t)(b - buf);
	memmove(buf, b, blen);
	buf[blen] = '\0';
	if (chunked) {
		long l = dechunk(buf, blen);
		if (l < 0) {
			free(buf);
			return -1;
		}
		buf[l] = '\0';
	}
	*body = buf;
	return 0;
}

bool h_metric(const char *body, const char *series, double *value)
{
	size_t sl = strlen(series);
	for (const char *line = body; line != NULL && *line;) {
		if (strncmp(line, series, sl) == 0 && line[sl] == ' ') {
			*value = strtod(line + sl + 1, NULL);
			return true;
		}
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	*value = 0;
	return false;
}

double h_metric_now(const h_proc *p, const char *series)
{
	int st;
	char *body;
	double v = 0;
	if (h_http_get(p->http_addr, "/metrics", &st, &body) != 0 || st != 200) {
		H_FAIL("GET /metrics on %s failed (status %d)", p->http_addr, st);
		if (body != NULL)
			free(body);
		return 0;
	}
	h_metric(body, series, &v);
	free(body);
	return v;
}
