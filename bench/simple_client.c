// simple_client: the simplest possible closed-loop nng load client, the
// yardstick for propload's own overhead (bench/harness_check.sh).
//
//   simple_client URL C SECONDS [BYTES]
//
// C threads, each with its own req0 socket (one TCP connection each), send a
// BYTES-byte message (default 300) and block for the reply, in a loop, for
// SECONDS; resends off. Prints one line on stdout:
//   simple_client c=C rps=R p50_us=X p99_us=Y errors=E
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Latencies kept per thread: enough for SECONDS at any rate nng reaches here.
#define MAX_SAMPLES (4u * 1024 * 1024)

struct caller {
	const char *url;
	size_t bytes;
	uint64_t stop_at, calls, errors;
	uint32_t *lat; // µs
	size_t n;
	pthread_t thr;
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *loop(void *arg)
{
	struct caller *c = arg;
	nng_socket s;
	if (nng_req0_open(&s) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000) != 0 ||
	    nng_dial(s, c->url, NULL, 0) != 0) {
		c->errors++;
		return NULL;
	}
	char *buf = malloc(c->bytes);
	if (!buf)
		return NULL;
	memset(buf, 'x', c->bytes);
	while (now_ns() < c->stop_at) {
		uint64_t t0 = now_ns();
		void *reply = NULL;
		size_t len = 0;
		if (nng_send(s, buf, c->bytes, 0) != 0 ||
		    nng_recv(s, &reply, &len, NNG_FLAG_ALLOC) != 0) {
			c->errors++;
			continue;
		}
		nng_free(reply, len);
		c->calls++;
		if (c->n < MAX_SAMPLES)
			c->lat[c->n++] = (uint32_t)((now_ns() - t0) / 1000);
	}
	free(buf);
	nng_close(s);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: simple_client URL C SECONDS [BYTES]\n");
		return 2;
	}
	int n = atoi(argv[2]);
	double secs = atof(argv[3]);
	size_t bytes = argc > 4 ? (size_t)atol(argv[4]) : 300;
	if (n < 1 || n > 4096 || secs <= 0 || bytes == 0)
		return 2;
	struct caller *cs = calloc((size_t)n, sizeof(*cs));
	uint64_t t0 = now_ns(), stop = t0 + (uint64_t)(secs * 1e9);
	for (int i = 0; i < n; i++) {
		cs[i] = (struct caller){.url = argv[1], .bytes = bytes, .stop_at = stop};
		cs[i].lat = malloc(MAX_SAMPLES * sizeof(uint32_t));
		pthread_create(&cs[i].thr, NULL, loop, &cs[i]);
	}
	uint64_t calls = 0, errors = 0;
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(cs[i].thr, NULL);
		calls += cs[i].calls;
		errors += cs[i].errors;
		total += cs[i].n;
	}
	double elapsed = (double)(now_ns() - t0) / 1e9;
	uint32_t *all = malloc((total ? total : 1) * sizeof(uint32_t));
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		memcpy(all + k, cs[i].lat, cs[i].n * sizeof(uint32_t));
		k += cs[i].n;
		free(cs[i].lat);
	}
	qsort(all, total, sizeof(uint32_t), cmp_u32);
	printf("simple_client c=%d rps=%.0f p50_us=%u p99_us=%u errors=%llu\n", n,
	       (double)calls / elapsed, total ? all[total / 2] : 0,
	       total ? all[(size_t)((double)total * 0.99)] : 0, (unsigned long long)errors);
	free(all);
	free(cs);
	return errors ? 1 : 0;
}
