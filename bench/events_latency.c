// events_latency: how long after its commit a subscriber gets each event
// (bench/events.sh).
//
//   events_latency -e EVENTS_URL [-e ...] -r RPC_URL [-r ...] [-t PREFIX]
//                  [-d SECONDS] [-n COUNT] [--idle SECONDS] [--token T]
//
// Subscribes through propsub (include/propsub.h) from "now" and, for every
// event delivered, records (receive wall clock in µs - event.occurred_at_us)
// in a log-linear histogram. occurred_at_us is taken by PostgreSQL inside the
// writing statement (clock_timestamp()), before the commit, so the figure is
// commit + NOTIFY + relay (seq assignment, publish) + nng delivery + decode.
// Same host, same clock: no skew to correct; a negative difference (clock
// stepped back) counts as 0 and is reported.
//
// Stops after -d seconds (default 60), after -n events, after --idle seconds
// without an event once the first one arrived, or on SIGINT/SIGTERM. Prints
// one line of key=value pairs on stdout:
//   events=N rate_eps=R window_s=W p50_us= p90_us= p99_us= p999_us= max_us=
//   mean_us= reread=N gaps_read_calls=N read_errors=N duplicates=N negative=N
// where rate_eps is N over the window from the first to the last event.
//
// Token for ReadEvents (gap filling): --token, else one minted from env
// AUTH_SECRET (sub "events_latency", valid 23 hours), else none.
//
// Threads: main only (propsub calls on_event on the thread that runs it);
// the signal handler only calls propsub_stop (async-signal-safe).
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nrpc/jwt.h"
#include "propsub.h"

#define MAX_URLS 16 // more instances than anyone benchmarks on one machine
// Histogram: values in µs; SUB_BITS sub-buckets per power of two bound the
// relative error by 2^-SUB_BITS (0.8%); MAX_EXP powers cover up to 2^40 µs
// (12 days), so nothing real overflows (it would land in the last bucket).
#define SUB_BITS     7
#define SUB_COUNT    (1u << SUB_BITS)
#define MAX_EXP      40
#define HIST_BUCKETS ((MAX_EXP - SUB_BITS + 1) * SUB_COUNT)
#define SLICE_MS     200         // how often --idle and -d are checked
#define TOKEN_TTL_S  (23 * 3600) // longer than any run, under TOKEN_MAX_LIFETIME (24 h)
#define TOKEN_SUB    "events_latency"

typedef struct hist {
	uint64_t b[HIST_BUCKETS];
	uint64_t n;
	uint64_t max;
	double sum;
} hist;

typedef struct state {
	hist h;
	uint64_t negative;
	int64_t first_us, last_us; // receive times of the first and last event
	uint64_t limit;            // stop after this many events (0: none)
	propsub *sub;
} state;

static propsub *volatile g_sub;
static volatile sig_atomic_t g_stopped; // a signal asked to stop

static unsigned bucket_of(uint64_t v)
{
	if (v < SUB_COUNT)
		return (unsigned)v;
	unsigned exp = 63u - (unsigned)__builtin_clzll(v); // >= SUB_BITS
	if (exp > MAX_EXP)
		return HIST_BUCKETS - 1;
	unsigned sub = (unsigned)(v >> (exp - SUB_BITS)) & (SUB_COUNT - 1);
	return (exp - SUB_BITS + 1) * SUB_COUNT + sub;
}

// The upper bound of bucket i, as a representative value.
static uint64_t bucket_value(unsigned i)
{
	if (i < SUB_COUNT)
		return i;
	unsigned exp = i / SUB_COUNT + SUB_BITS - 1;
	uint64_t sub = i % SUB_COUNT;
	return ((SUB_COUNT + sub + 1) << (exp - SUB_BITS)) - 1;
}

static void hist_add(hist *h, uint64_t v)
{
	h->b[bucket_of(v)]++;
	h->n++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
}

static uint64_t hist_pct(const hist *h, double p)
{
	if (h->n == 0)
		return 0;
	uint64_t want = (uint64_t)((double)h->n * p / 100.0 + 0.5);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = bucket_value(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_event(const Property__V1__Event *ev, void *arg)
{
	state *s = arg;
	int64_t t = now_us();
	int64_t d = t - ev->occurred_at_us;
	if (d < 0) {
		s->negative++;
		d = 0;
	}
	hist_add(&s->h, (uint64_t)d);
	if (s->first_us == 0)
		s->first_us = t;
	s->last_us = t;
	if (s->limit > 0 && s->h.n >= s->limit)
		propsub_stop(s->sub);
}

static void on_signal(int sig)
{
	(void)sig;
	g_stopped = 1;
	if (g_sub != NULL)
		propsub_stop(g_sub);
}

static const char usage[] =
    "usage: events_latency -e EVENTS_URL [-e ...] -r RPC_URL [-r ...] [-t PREFIX]\n"
    "                      [-d SECONDS] [-n COUNT] [--idle SECONDS] [--token T]\n"
    "  -t PREFIX   event types (default \"property.\")\n"
    "  -d SECONDS  run at most this long (default 60)\n"
    "  -n COUNT    stop after COUNT events\n"
    "  --idle S    stop S seconds after the last event (once one arrived)\n"
    "  --token T   bearer token for ReadEvents (default: minted from AUTH_SECRET)\n";

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"events-url", required_argument, NULL, 'e'},
	    {"rpc-url", required_argument, NULL, 'r'},
	    {"type", required_argument, NULL, 't'},
	    {"duration", required_argument, NULL, 'd'},
	    {"count", required_argument, NULL, 'n'},
	    {"idle", required_argument, NULL, 'i'},
	    {"token", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *ev_urls[MAX_URLS], *rpc_urls[MAX_URLS];
	size_t n_ev = 0, n_rpc = 0;
	const char *prefix = "property.", *token = NULL;
	double duration_s = 60, idle_s = 0, count = 0;
	int c;
	while ((c = getopt_long(argc, argv, "e:r:t:d:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
		case 'r':
			if ((c == 'e' ? n_ev : n_rpc) == MAX_URLS) {
				fprintf(stderr, "events_latency: at most %d URLs of each kind\n",
				        MAX_URLS);
				return 2;
			}
			if (c == 'e')
				ev_urls[n_ev++] = optarg;
			else
				rpc_urls[n_rpc++] = optarg;
			break;
		case 't':
			prefix = optarg;
			break;
		case 'd':
		case 'n':
		case 'i':
			if (parse_num(optarg, 0, 1e12,
			              c == 'd'   ? &duration_s
			              : c == 'n' ? &count
			                         : &idle_s) != 0) {
				fprintf(stderr, "events_latency: bad number %s\n", optarg);
				return 2;
			}
			break;
		case 'k':
			token = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc || n_ev == 0 || n_rpc == 0) {
		fputs(usage, stderr);
		return 2;
	}

	char *minted = NULL;
	const char *secret = getenv("AUTH_SECRET");
	if (token == NULL && secret != NULL && secret[0] != '\0') {
		minted = nrpc_jwt_sign((const uint8_t *)secret, strlen(secret), TOKEN_SUB,
		                       (int64_t)time(NULL) + TOKEN_TTL_S);
		if (minted == NULL) {
			fprintf(stderr, "events_latency: out of memory\n");
			return 1;
		}
		token = minted;
	}

	state *s = calloc(1, sizeof *s); // the histogram is ~0.3 MB: not on the stack
	if (s == NULL) {
		free(minted);
		fprintf(stderr, "events_latency: out of memory\n");
		return 1;
	}
	s->limit = (uint64_t)count;
	propsub_config cfg = {
	    .event_urls = ev_urls,
	    .n_event_urls = n_ev,
	    .rpc_urls = rpc_urls,
	    .n_rpc_urls = n_rpc,
	    .token = token,
	    .type_prefix = prefix,
	    .from_seq = PROPSUB_FROM_NOW,
	    .on_event = on_event,
	    .arg = s,
	};
	char err[256];
	// nng's threads start in propsub_open and inherit the mask: with the
	// signals blocked there, the handler runs on this thread only.
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	int rc = propsub_open(&s->sub, &cfg, err, sizeof err);
	if (rc == 0) {
		g_sub = s->sub;
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		fprintf(stderr, "events_latency: %s\n", err);
		free(s);
		free(minted);
		return 1;
	}
	fprintf(stderr, "events_latency: subscribed to \"%s\"\n", prefix);

	int64_t start = mono_ms(), end = start + (int64_t)(duration_s * 1000);
	int64_t idle_ms = (int64_t)(idle_s * 1000);
	int64_t last_mono = 0; // when the newest event arrived (0: none yet)
	int status = 0;
	for (;;) {
		int64_t left = end - mono_ms();
		if (left <= 0 || g_stopped)
			break;
		uint64_t before = s->h.n;
		if (propsub_run(s->sub, (int)(left < SLICE_MS ? left : SLICE_MS)) != 0) {
			fprintf(stderr, "events_latency: the event socket failed\n");
			status = 1;
			break;
		}
		if (s->limit > 0 && s->h.n >= s->limit)
			break;
		if (s->h.n != before)
			last_mono = mono_ms();
		if (idle_ms > 0 && last_mono > 0 && mono_ms() - last_mono >= idle_ms)
			break;
	}
	g_sub = NULL;
	propsub_stats st;
	propsub_get_stats(s->sub, &st);
	double window_s = (double)(s->last_us - s->first_us) / 1e6;
	const hist *h = &s->h;
	printf("events=%" PRIu64 " rate_eps=%.0f window_s=%.2f p50_us=%" PRIu64 " p90_us=%" PRIu64
	       " p99_us=%" PRIu64 " p999_us=%" PRIu64 " max_us=%" PRIu64 " mean_us=%.0f"
	       " reread=%" PRIu64 " read_calls=%" PRIu64 " read_errors=%" PRIu64
	       " duplicates=%" PRIu64 " negative=%" PRIu64 "\n",
	       h->n, window_s > 0 ? (double)h->n / window_s : 0.0, window_s, hist_pct(h, 50),
	       hist_pct(h, 90), hist_pct(h, 99), hist_pct(h, 99.9), h->max,
	       h->n > 0 ? h->sum / (double)h->n : 0.0, st.reread, st.read_calls, st.read_errors,
	       st.duplicates, s->negative);
	fflush(stdout);
	propsub_close(s->sub);
	free(s);
	free(minted);
	return status;
}
