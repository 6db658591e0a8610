// obs metrics: values, identity of series, exact rendering, escaping,
// programming errors abort, and lock-free updates from many threads.
#include "obs/metrics.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/test/check.h"

static int check_render(obs_registry *r, const char *want)
{
	char *got = NULL;
	size_t len = obs_registry_render(r, &got);
	int ok = len == strlen(want) && strcmp(got, want) == 0;
	if (!ok) {
		fprintf(stderr, "  render mismatch\n--- want\n%s--- got\n%s---\n", want, got);
	}
	free(got);
	return ok ? 0 : 1;
}

static int case_counter(void)
{
	obs_registry *r = obs_registry_create();
	obs_counter *a = obs_counter_get(r, "req_total", "Requests.", "code=\"0\"");
	obs_counter *b = obs_counter_get(r, "req_total", "Requests.", "code=\"5\"");
	obs_counter *none1 = obs_counter_get(r, "plain_total", "Plain.", NULL);
	obs_counter *none2 = obs_counter_get(r, "plain_total", "Plain.", "");
	int rc = 1;

	obs_counter_add(a, 2);
	obs_counter_add(a, 3);
	obs_counter_add(b, 1);
	if (a == b || obs_counter_get(r, "req_total", "other help", "code=\"0\"") != a ||
	    none1 != none2 || obs_counter_value(a) != 5 || obs_counter_value(b) != 1 ||
	    obs_counter_value(none1) != 0) {
		fprintf(stderr, "  counter identity or value wrong\n");
		goto out;
	}
	obs_counter_add(a, UINT64_C(1) << 40);
	rc = obs_counter_value(a) == (UINT64_C(1) << 40) + 5 ? 0 : 1;
out:
	obs_registry_destroy(r);
	return rc;
}

static int case_gauge(void)
{
	obs_registry *r = obs_registry_create();
	obs_gauge *g = obs_gauge_get(r, "pool_in_use", "In use.", NULL);
	int rc;

	obs_gauge_set(g, 3.5);
	obs_gauge_add(g, -1.25);
	obs_gauge_add(g, 10);
	rc =
	    obs_gauge_value(g) == 12.25 && obs_gauge_get(r, "pool_in_use", NULL, NULL) == g ? 0 : 1;
	obs_gauge_set(g, -0.5);
	rc |= obs_gauge_value(g) == -0.5 ? 0 : 1;
	obs_registry_destroy(r);
	return rc;
}

static int case_histogram_cumulative(void)
{
	static const double bounds[] = {1, 2, 4};
	obs_registry *r = obs_registry_create();
	obs_histogram *h = obs_histogram_get(r, "size_bytes", "Sizes.", NULL, bounds, 3);
	const double obs[] = {0.5, 1, 1.5, 2, 3, 4, 5, 100};
	int rc;

	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++) {
		obs_histogram_observe(h, obs[i]);
	}
	// Bounds are inclusive upper limits: 1 lands in le="1", 4 in le="4".
	rc = check_render(r, "# HELP size_bytes Sizes.\n"
	                     "# TYPE size_bytes histogram\n"
	                     "size_bytes_bucket{le=\"1\"} 2\n"
	                     "size_bytes_bucket{le=\"2\"} 4\n"
	                     "size_bytes_bucket{le=\"4\"} 6\n"
	                     "size_bytes_bucket{le=\"+Inf\"} 8\n"
	                     "size_bytes_sum 117\n"
	                     "size_bytes_count 8\n");
	obs_registry_destroy(r);
	return rc;
}

static int case_render_exact(void)
{
	static const double bounds[] = {0.1, 1};
	obs_registry *r = obs_registry_create();
	int rc;

	obs_counter_add(obs_counter_get(r, "rpc_requests_total", "Requests by method and code.",
	                                "method=\"/a.B/C\",code=\"0\""),
	                3);
	obs_gauge_set(obs_gauge_get(r, "db_pool_in_use", "In use \\ now\nand later.", NULL), 2.5);
	obs_counter_add(
	    obs_counter_get(r, "rpc_requests_total", "ignored", "method=\"/a.B/C\",code=\"5\""), 1);
	obs_histogram *h =
	    obs_histogram_get(r, "rpc_seconds", "Latency.", "method=\"x\"", bounds, 2);
	obs_histogram_observe(h, 0.0625);
	obs_histogram_observe(h, 0.5);
	obs_histogram_observe(h, 3);
	obs_gauge_get(r, "no_help", "", "a=\"q\\\"uote\\\\back\\nnl\"");
	rc = check_render(r, "# HELP rpc_requests_total Requests by method and code.\n"
	                     "# TYPE rpc_requests_total counter\n"
	                     "rpc_requests_total{method=\"/a.B/C\",code=\"0\"} 3\n"
	                     "rpc_requests_total{method=\"/a.B/C\",code=\"5\"} 1\n"
	                     "# HELP db_pool_in_use In use \\\\ now\\nand later.\n"
	                     "# TYPE db_pool_in_use gauge\n"
	                     "db_pool_in_use 2.5\n"
	                     "# HELP rpc_seconds Latency.\n"
	                     "# TYPE rpc_seconds histogram\n"
	                     "rpc_seconds_bucket{method=\"x\",le=\"0.1\"} 1\n"
	                     "rpc_seconds_bucket{method=\"x\",le=\"1\"} 2\n"
	                     "rpc_seconds_bucket{method=\"x\",le=\"+Inf\"} 3\n"
	                     "rpc_seconds_sum{method=\"x\"} 3.5625\n"
	                     "rpc_seconds_count{method=\"x\"} 3\n"
	                     "# TYPE no_help gauge\n"
	                     "no_help{a=\"q\\\"uote\\\\back\\nnl\"} 0\n");
	obs_registry_destroy(r);
	return rc;
}

static int case_render_special_values(void)
{
	obs_registry *r = obs_registry_create();
	int rc;

	obs_gauge_set(obs_gauge_get(r, "g", "G.", "k=\"inf\""), INFINITY);
	obs_gauge_set(obs_gauge_get(r, "g", "G.", "k=\"ninf\""), -INFINITY);
	obs_gauge_set(obs_gauge_get(r, "g", "G.", "k=\"nan\""), NAN);
	obs_gauge_set(obs_gauge_get(r, "g", "G.", "k=\"tenth\""), 0.1);
	obs_gauge_set(obs_gauge_get(r, "g", "G.", "k=\"tiny\""), 5e-05);
	obs_gauge_set(obs_gauge_get(r, "g", "G.", "k=\"third\""), 1.0 / 3.0);
	rc = check_render(r, "# HELP g G.\n"
	                     "# TYPE g gauge\n"
	                     "g{k=\"inf\"} +Inf\n"
	                     "g{k=\"ninf\"} -Inf\n"
	                     "g{k=\"nan\"} NaN\n"
	                     "g{k=\"tenth\"} 0.1\n"
	                     "g{k=\"tiny\"} 5e-05\n"
	                     "g{k=\"third\"} 0.3333333333333333\n");
	obs_registry_destroy(r);
	return rc;
}

static int case_empty_render(void)
{
	obs_registry *r = obs_registry_create();
	int rc = check_render(r, "");
	obs_registry_destroy(r);
	return rc;
}

static int case_label_escape(void)
{
	static const struct {
		const char *name, *in;
		size_t cap;
		const char *want;
	} cases[] = {
	    {"plain", "abc", 64, "abc"},
	    {"null", NULL, 64, ""},
	    {"quote_backslash_newline", "a\"b\\c\nd", 64, "a\\\"b\\\\c\\nd"},
	    {"utf8_kept", "caf\xC3\xA9", 64, "caf\xC3\xA9"},
	    {"invalid_utf8_replaced",
	     "a\xFF"
	     "b",
	     64,
	     "a\xEF\xBF\xBD"
	     "b"},
	    {"truncated_plain", "abcdef", 4, "abc"},
	    {"escape_not_split", "ab\"", 4, "ab"},
	    {"utf8_not_split", "a\xC3\xA9", 3, "a"},
	    {"cap_one", "abc", 1, ""},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'X', sizeof(buf));
		char *got = obs_label_escape(cases[i].in, buf, cases[i].cap);
		if (got != buf || strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "  label_escape/%s: got '%s' want '%s'\n", cases[i].name,
			        got, cases[i].want);
			return 1;
		}
	}
	// cap 0 writes nothing at all.
	buf[0] = 'X';
	CHECK(obs_label_escape("abc", buf, 0) == buf && buf[0] == 'X');
	return 0;
}

static int case_latency_bounds(void)
{
	CHECK(obs_latency_bounds_n == 17);
	CHECK(obs_latency_bounds[0] == 0.00005);
	CHECK(obs_latency_bounds[obs_latency_bounds_n - 1] == 10);
	for (size_t i = 1; i < obs_latency_bounds_n; i++) {
		CHECK(obs_latency_bounds[i] > obs_latency_bounds[i - 1]);
	}
	return 0;
}

// ---- programming errors abort ---------------------------------------------------------------

typedef void (*misuse_fn)(obs_registry *r);

static void bad_name(obs_registry *r)
{
	obs_counter_get(r, "1starts_with_digit", "", NULL);
}

static void bad_name_char(obs_registry *r)
{
	obs_counter_get(r, "has-dash", "", NULL);
}

static void type_mismatch(obs_registry *r)
{
	obs_counter_get(r, "x_total", "", NULL);
	obs_gauge_get(r, "x_total", "", NULL);
}

static void bad_labels(obs_registry *r)
{
	obs_counter_get(r, "y_total", "", "code=0");
}

static void trailing_comma(obs_registry *r)
{
	obs_counter_get(r, "y_total", "", "code=\"0\",");
}

static void le_on_histogram(obs_registry *r)
{
	obs_histogram_get(r, "h_seconds", "", "le=\"1\"", obs_latency_bounds, obs_latency_bounds_n);
}

static void bounds_mismatch(obs_registry *r)
{
	static const double other[] = {1, 2};
	obs_histogram_get(r, "h_seconds", "", NULL, obs_latency_bounds, obs_latency_bounds_n);
	obs_histogram_get(r, "h_seconds", "", "a=\"b\"", other, 2);
}

static void bounds_unsorted(obs_registry *r)
{
	static const double bad[] = {2, 1};
	obs_histogram_get(r, "h_seconds", "", NULL, bad, 2);
}

static int case_misuse_aborts(void)
{
	static const struct {
		const char *name;
		misuse_fn fn;
	} cases[] = {
	    {"bad_name", bad_name},
	    {"bad_name_char", bad_name_char},
	    {"type_mismatch", type_mismatch},
	    {"bad_labels", bad_labels},
	    {"trailing_comma", trailing_comma},
	    {"le_on_histogram", le_on_histogram},
	    {"bounds_mismatch", bounds_mismatch},
	    {"bounds_unsorted", bounds_unsorted},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			obs_registry *r = obs_registry_create();
			if (freopen("/dev/null", "w", stderr) == NULL) {
				_exit(2);
			}
			cases[i].fn(r);
			_exit(0); // reached only if misuse went unnoticed
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
			fprintf(stderr, "  misuse/%s: did not abort (status 0x%x)\n", cases[i].name,
			        (unsigned)st);
			return 1;
		}
	}
	return 0;
}

// ---- concurrency ----------------------------------------------------------------------------

#define N_THREADS 8
#define N_PER     100000

typedef struct worker {
	pthread_t tid;
	obs_registry *r;
} worker;

static void *hammer(void *arg)
{
	worker *w = arg;
	// Each thread looks the series up itself: lookups race with each other too.
	obs_counter *c = obs_counter_get(w->r, "hits_total", "Hits.", "k=\"v\"");
	obs_gauge *g = obs_gauge_get(w->r, "level", "Level.", NULL);
	obs_histogram *h = obs_histogram_get(w->r, "lat_seconds", "Lat.", NULL, obs_latency_bounds,
	                                     obs_latency_bounds_n);
	for (int i = 0; i < N_PER; i++) {
		obs_counter_add(c, 1);
		obs_gauge_add(g, 1.0);
		obs_histogram_observe(h, 0.001); // exactly representable sums are not needed: count
	}
	return NULL;
}

static int case_concurrent(void)
{
	worker w[N_THREADS];
	obs_registry *r = obs_registry_create();
	char *text = NULL;
	char want[128];
	int rc = 0;

	for (int i = 0; i < N_THREADS; i++) {
		w[i].r = r;
		pthread_create(&w[i].tid, NULL, hammer, &w[i]);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(w[i].tid, NULL);
	}
	const uint64_t total = (uint64_t)N_THREADS * N_PER;
	if (obs_counter_value(obs_counter_get(r, "hits_total", "", "k=\"v\"")) != total) {
		fprintf(stderr, "  counter lost increments\n");
		rc = 1;
	}
	if (obs_gauge_value(obs_gauge_get(r, "level", "", NULL)) != (double)total) {
		fprintf(stderr, "  gauge lost adds\n");
		rc = 1;
	}
	obs_registry_render(r, &text);
	snprintf(want, sizeof(want), "lat_seconds_count %llu\n", (unsigned long long)total);
	if (strstr(text, want) == NULL) {
		fprintf(stderr, "  histogram count wrong, want '%s'\n", want);
		rc = 1;
	}
	snprintf(want, sizeof(want), "lat_seconds_bucket{le=\"0.001\"} %llu\n",
	         (unsigned long long)total);
	if (strstr(text, want) == NULL) {
		fprintf(stderr, "  histogram bucket wrong, want '%s'\n", want);
		rc = 1;
	}
	free(text);
	obs_registry_destroy(r);
	return rc;
}

int main(void)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
	    {"counter", case_counter},
	    {"gauge", case_gauge},
	    {"histogram_cumulative", case_histogram_cumulative},
	    {"render_exact", case_render_exact},
	    {"render_special_values", case_render_special_values},
	    {"empty_render", case_empty_render},
	    {"label_escape", case_label_escape},
	    {"latency_bounds", case_latency_bounds},
	    {"misuse_aborts", case_misuse_aborts},
	    {"concurrent_8x100k", case_concurrent},
	};
	int failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int was = check_failures();
		int rc = cases[i].fn();
		bool bad = rc != 0 || check_failures() != was;
		printf("%s %s\n", bad ? "FAIL" : "ok  ", cases[i].name);
		failed += bad;
	}
	printf("%d of %zu cases failed\n", failed, sizeof(cases) / sizeof(cases[0]));
	return failed == 0 ? 0 : 1;
}
