#include "httpget.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// Host names and ports are short; longer input is a usage error.
#define HOSTPORT_MAX 256
// The request line plus headers.
#define REQUEST_MAX 1024

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int rc;
	do {
		rc = poll(&p, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	return rc;
}

static int split_hostport(const char *hostport, char *host, char *port)
{
	if (strlen(hostport) >= HOSTPORT_MAX)
		return -1;
	const char *colon = strrchr(hostport, ':');
	if (colon == NULL || colon[1] == '\0')
		return -1;
	const char *h = hostport;
	size_t hl = (size_t)(colon - hostport);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { // [::1]:7702
		h++;
		hl -= 2;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int dial(const char *hostport, int timeout_ms, char *err, size_t errcap)
{
	char host[HOSTPORT_MAX], port[HOSTPORT_MAX];
	if (split_hostport(hostport, host, port) != 0) {
		snprintf(err, errcap, "bad address \"%s\" (want HOST:PORT)", hostport);
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errcap, "%s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	snprintf(err, errcap, "%s: no address", hostport);
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		int e = errno;
		if (e == EINPROGRESS && wait_fd(fd, POLLOUT, timeout_ms) > 0) {
			socklen_t el = sizeof e;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
				break;
		} else if (e == EINPROGRESS) {
			e = ETIMEDOUT;
		}
		snprintf(err, errcap, "connect %s: %s", hostport, strerror(e));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int send_all(int fd, const char *buf, size_t n, int timeout_ms)
{
	while (n > 0) {
		if (wait_fd(fd, POLLOUT, timeout_ms) <= 0)
			return -1;
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

// Reads until the peer closes; *out holds everything, NUL-terminated.
static int recv_all(int fd, int timeout_ms, char **out, size_t *outlen, char *err, size_t errcap)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		goto oom;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > PDC_HTTP_MAX_BODY) {
				snprintf(err, errcap, "reply larger than %u bytes",
				         PDC_HTTP_MAX_BODY);
				free(buf);
				return -1;
			}
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL)
				goto oom;
			buf = nb;
			cap *= 2;
		}
		int pr = wait_fd(fd, POLLIN, timeout_ms);
		if (pr == 0) {
			snprintf(err, errcap, "timed out reading the reply");
			free(buf);
			return -1;
		}
		ssize_t r = pr < 0 ? -1 : recv(fd, buf + len, cap - len - 1, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0) {
			snprintf(err, errcap, "read: %s", strerror(errno));
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
oom:
	free(buf);
	snprintf(err, errcap, "out of memory");
	return -1;
}

int pdc_http_get(const char *hostport, const char *path, int timeout_ms, char **body, size_t *len,
                 char *err, size_t errcap)
{
	*body = NULL;
	*len = 0;
	char req[REQUEST_MAX];
	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: propctl\r\n"
	                 "Accept: text/plain\r\nConnection: close\r\n\r\n",
	                 path, hostport);
	if (n < 0 || (size_t)n >= sizeof req) {
		snprintf(err, errcap, "request too long");
		return -1;
	}
	int fd = dial(hostport, timeout_ms, err, errcap);
	if (fd < 0)
		return -1;
	char *raw = NULL;
	size_t rawlen = 0;
	int status = -1;
	if (send_all(fd, req, (size_t)n, timeout_ms) != 0) {
		snprintf(err, errcap, "send to %s failed", hostport);
		goto out;
	}
	if (recv_all(fd, timeout_ms, &raw, &rawlen, err, errcap) != 0)
		goto out;
	int major = 0, minor = 0;
	if (sscanf(raw, "HTTP/%d.%d %d", &major, &minor, &status) != 3) {
		snprintf(err, errcap, "not an HTTP reply from %s", hostport);
		status = -1;
		goto out;
	}
	char *hdr_end = strstr(raw, "\r\n\r\n");
	size_t skip = hdr_end ? (size_t)(hdr_end - raw) + 4 : rawlen;
	if (hdr_end == NULL) {
		char *lf = strstr(raw, "\n\n");
		skip = lf ? (size_t)(lf - raw) + 2 : rawlen;
	}
	memmove(raw, raw + skip, rawlen - skip + 1);
	*body = raw;
	*len = rawlen - skip;
	raw = NULL;
out:
	free(raw);
	close(fd);
	return status;
}
