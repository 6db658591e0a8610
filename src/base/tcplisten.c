// base tcplisten: see tcplisten.h.
#include "base/tcplisten.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

int base_tcp_listen(const char *host, const char *port, int backlog, int *bound_port, char *err,
                    size_t errcap)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host != NULL && host[0] != '\0' ? host : NULL, port, &hints, &res);
	if (gai != 0) {
		snprintf(err, errcap, "cannot resolve: %s", gai_strerror(gai));
		return -1;
	}
	int fd = -1, e = 0;
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			e = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errcap, "cannot listen: %s", strerror(e));
		return -1;
	}
	if (bound_port != NULL)
		*bound_port = port_of(fd);
	return fd;
}

int base_hostport_split(const char *hostport, char *host, size_t hostcap, char *port,
                        size_t portcap)
{
	const char *colon = strrchr(hostport, ':');
	if (colon == NULL || (size_t)(colon - hostport) >= hostcap || colon[1] == '\0' ||
	    strlen(colon + 1) >= portcap)
		return -1;
	size_t hl = (size_t)(colon - hostport);
	const char *h = hostport;
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portcap, "%s", colon + 1);
	return 0;
}

int base_tcp_listen_url(const char *url, const char *want, int backlog, char *err, size_t errcap)
{
	const char *sep = strstr(url, "://");
	char host[256], port[8];
	if (base_hostport_split(sep != NULL ? sep + 3 : url, host, sizeof host, port,
	                        sizeof port) != 0) {
		snprintf(err, errcap, "%s: want %s", url, want);
		return -1;
	}
	bool any = host[0] == '\0' || strcmp(host, "*") == 0;
	char why[160];
	int fd = base_tcp_listen(any ? NULL : host, port, backlog, NULL, why, sizeof why);
	if (fd < 0)
		snprintf(err, errcap, "%s: %s", url, why);
	return fd;
}
