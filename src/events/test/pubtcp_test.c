// events pubtcp against real sockets: nng SUB sockets receive every message
// of a batch, whole and in order; a peer that is not SUB is closed; the cap
// refuses a connection beyond it; a subscriber that does not read loses
// batches (counted) while another one keeps getting all of them.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/bigend.h"
#include "base/test/check.h"
#include "events/pubtcp.h"

static char g_url[64];

// A port free now on 127.0.0.1.
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int port = -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static events_pubtcp *start(unsigned max, nrpc_connlimit *cl)
{
	snprintf(g_url, sizeof g_url, "tcp://127.0.0.1:%d", free_port());
	events_pubtcp *p = NULL;
	char err[256];
	int rc = events_pubtcp_start(&p, g_url, max, cl, err, sizeof err);
	CHECK(rc == 0, "start on %s: %s", g_url, err);
	return rc == 0 ? p : NULL;
}

static nng_socket sub_open(void)
{
	nng_socket s = NNG_SOCKET_INITIALIZER;
	CHECK(nng_sub0_open(&s) == 0);
	CHECK(nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0) == 0);
	CHECK(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 2000) == 0);
	CHECK(nng_dial(s, g_url, NULL, 0) == 0, "dial %s", g_url);
	return s;
}

// Frames messages "<prefix><i>" for i in [from, to).
static size_t frame(uint8_t *buf, const char *prefix, int from, int to)
{
	size_t off = 0;
	for (int i = from; i < to; i++) {
		int n = sprintf((char *)buf + off + 8, "%s%d", prefix, i);
		base_be64_put(buf + off, (uint64_t)n);
		off += 8 + (size_t)n;
	}
	return off;
}

// Takes what s has received within 100 ms.
static void drain(nng_socket s)
{
	char *m = NULL;
	size_t sz = 0;
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 100);
	while (nng_recv(s, &m, &sz, NNG_FLAG_ALLOC) == 0)
		nng_free(m, sz);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 2000);
}

// Publishes until the subscriber has greeted (a batch sent before that is
// not its to get); the caller drains the extra ones.
static void wait_joined(events_pubtcp *p, nng_socket s)
{
	uint8_t buf[64];
	size_t len = frame(buf, "hello", 0, 1);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 50);
	bool joined = false;
	for (int i = 0; i < 100 && !joined; i++) {
		events_pubtcp_publish(p, buf, len);
		char *m = NULL;
		size_t sz = 0;
		if (nng_recv(s, &m, &sz, NNG_FLAG_ALLOC) == 0) {
			nng_free(m, sz);
			joined = true;
		}
	}
	CHECK(joined, "the subscriber joined");
	drain(s);
}

static void expect(nng_socket s, const char *prefix, int from, int to)
{
	for (int i = from; i < to; i++) {
		char want[32], *m = NULL;
		size_t sz = 0;
		snprintf(want, sizeof want, "%s%d", prefix, i);
		int rv = nng_recv(s, &m, &sz, NNG_FLAG_ALLOC);
		CHECK(rv == 0, "message %s: %s", want, nng_strerror(rv));
		if (rv != 0)
			return;
		CHECK(sz == strlen(want) && memcmp(m, want, sz) == 0, "got %.*s, want %s", (int)sz,
		      m, want);
		nng_free(m, sz);
	}
}

static void batches_reach_every_subscriber(void)
{
	nrpc_connlimit cl;
	events_pubtcp *p = start(0, &cl);
	if (p == NULL)
		return;
	nng_socket a = sub_open(), b = sub_open();
	wait_joined(p, a);
	wait_joined(p, b);
	drain(a);
	uint8_t buf[4096];
	size_t len = frame(buf, "ev", 0, 50);
	CHECK_EQ(events_pubtcp_publish(p, buf, len), 0);
	len = frame(buf, "ev", 50, 60);
	CHECK_EQ(events_pubtcp_publish(p, buf, len), 0);
	expect(a, "ev", 0, 60);
	expect(b, "ev", 0, 60);
	CHECK_EQ(atomic_load(&cl.open), 2);
	nng_close(a);
	nng_close(b);
	events_pubtcp_destroy(p);
}

// A raw connection: sends `greeting`, returns the descriptor.
static int raw_peer(const uint8_t greeting[8])
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	a.sin_port = htons((uint16_t)atoi(strrchr(g_url, ':') + 1));
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
	CHECK(write(fd, greeting, 8) == 8);
	struct timeval tv = {.tv_sec = 3};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

// Reads until the peer's close (true) or the timeout (false); skips the PUB
// greeting. A close reads as EOF, or as a reset when the publisher closed
// before it had read our greeting (unread bytes make the kernel send RST).
static bool closed_by_peer(int fd)
{
	uint8_t buf[256];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			return true;
		if (n < 0)
			return errno == ECONNRESET;
	}
}

static void non_sub_peer_is_closed(void)
{
	nrpc_connlimit cl;
	events_pubtcp *p = start(0, &cl);
	if (p == NULL)
		return;
	const uint8_t req[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	int fd = raw_peer(req);
	CHECK(closed_by_peer(fd), "a REQ peer is closed");
	close(fd);
	events_pubtcp_destroy(p);
}

static void cap_refuses_beyond(void)
{
	nrpc_connlimit cl;
	events_pubtcp *p = start(1, &cl);
	if (p == NULL)
		return;
	nng_socket a = sub_open();
	wait_joined(p, a);
	const uint8_t subg[8] = {0, 'S', 'P', 0, 0, 0x21, 0, 0};
	int fd = raw_peer(subg);
	CHECK(closed_by_peer(fd), "the connection beyond the cap is closed");
	close(fd);
	CHECK_EQ(atomic_load(&cl.refused), 1);
	CHECK_EQ(atomic_load(&cl.open), 1);
	uint8_t buf[64];
	size_t len = frame(buf, "after", 0, 3);
	events_pubtcp_publish(p, buf, len);
	expect(a, "after", 0, 3);
	nng_close(a);
	events_pubtcp_destroy(p);
}

static void stalled_subscriber_loses_batches_alone(void)
{
	nrpc_connlimit cl;
	events_pubtcp *p = start(0, &cl);
	if (p == NULL)
		return;
	nng_socket a = sub_open();
	wait_joined(p, a);
	const uint8_t subg[8] = {0, 'S', 'P', 0, 0, 0x21, 0, 0};
	int stalled = raw_peer(subg); // greets, never reads
	// Batches of 64 KiB until the stalled peer's backlog overflows; `a`
	// reads everything meanwhile.
	static uint8_t big[70000];
	int sent = 0;
	for (int i = 0; i < 400 && events_pubtcp_dropped(p) == 0; i++) {
		size_t len = 0;
		for (int k = 0; k < 64; k++) {
			memset(big + len + 8, 'x', 1000);
			int n = sprintf((char *)big + len + 8, "m%d", sent + k);
			big[len + 8 + (size_t)n] = ' ';
			base_be64_put(big + len, 1000);
			len += 1008;
		}
		CHECK_EQ(events_pubtcp_publish(p, big, len), 0);
		for (int k = 0; k < 64; k++) {
			char *m = NULL, want[16];
			size_t sz = 0;
			int n = snprintf(want, sizeof want, "m%d ", sent + k);
			int rv = nng_recv(a, &m, &sz, NNG_FLAG_ALLOC);
			CHECK(rv == 0 && sz == 1000 && memcmp(m, want, (size_t)n) == 0,
			      "message %d to the reading subscriber", sent + k);
			if (rv == 0)
				nng_free(m, sz);
		}
		sent += 64;
	}
	CHECK(events_pubtcp_dropped(p) > 0, "the stalled subscriber's backlog overflowed");
	close(stalled);
	nng_close(a);
	events_pubtcp_destroy(p);
}

static void bad_urls(void)
{
	nrpc_connlimit cl;
	events_pubtcp *p = NULL;
	char err[256];
	CHECK(events_pubtcp_serves("tcp://127.0.0.1:1"));
	CHECK(!events_pubtcp_serves("tls+tcp://127.0.0.1:1"));
	CHECK(!events_pubtcp_serves("ipc:///tmp/x"));
	CHECK(events_pubtcp_start(&p, "tcp://127.0.0.1", 0, &cl, err, sizeof err) != 0);
	CHECK(strstr(err, "tcp://host:port") != NULL, "%s", err);
	CHECK(events_pubtcp_start(&p, "tcp://no.such.host.invalid:1", 0, &cl, err, sizeof err) !=
	      0);
	CHECK(p == NULL);
}

int main(int argc, char **argv)
{
	static const check_case cases[] = {
	    {"batches_reach_every_subscriber", batches_reach_every_subscriber},
	    {"non_sub_peer_is_closed", non_sub_peer_is_closed},
	    {"cap_refuses_beyond", cap_refuses_beyond},
	    {"stalled_subscriber_loses_batches_alone", stalled_subscriber_loses_batches_alone},
	    {"bad_urls", bad_urls},
	};
	check_run(cases, sizeof cases / sizeof cases[0], argc > 1 ? argv[1] : NULL, NULL);
	return check_summary("events_pubtcp");
}
