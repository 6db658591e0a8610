// promtext_test: parsing a sample exposition, label matching and sums,
// histogram bucket collection, and quantile interpolation.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test/check.h"
#include "promtext.h"

static const char sample[] =
    "# HELP propertyd_requests_total Requests by method and code.\n"
    "# TYPE propertyd_requests_total counter\n"
    "propertyd_requests_total{method=\"/property.v1.PropertyService/GetProperty\",code=\"0\"} 90\n"
    "propertyd_requests_total{method=\"/property.v1.PropertyService/GetProperty\",code=\"5\"} 10\n"
    "propertyd_requests_total{method=\"/grpc.health.v1.Health/Check\",code=\"0\"} 3 1700000000000\n"
    "\n"
    "# TYPE propertyd_request_duration_seconds histogram\n"
    "propertyd_request_duration_seconds_bucket{method=\"/a.B/C\",le=\"0.001\"} 10\n"
    "propertyd_request_duration_seconds_bucket{method=\"/a.B/C\",le=\"0.01\"} 60\n"
    "propertyd_request_duration_seconds_bucket{method=\"/a.B/C\",le=\"0.1\"} 100\n"
    "propertyd_request_duration_seconds_bucket{method=\"/a.B/C\",le=\"+Inf\"} 100\n"
    "propertyd_request_duration_seconds_sum{method=\"/a.B/C\"} 1.5\n"
    "propertyd_request_duration_seconds_count{method=\"/a.B/C\"} 100\n"
    "propertyd_db_pool_in_use 3\n"
    "propertyd_db_pool_size   10\r\n"
    "propertyd_cache_requests_total{result=\"hit\"} 75\n"
    "propertyd_cache_requests_total{result=\"miss\"} 25\n"
    "odd_label{v=\"a \\\"quoted\\\" \\\\ back\\nslash\", } NaN\n"
    "propertyd_relay_lag_seconds -Inf\n"
    "big 1.5e+09\n";

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

static void parse_sample(void)
{
	pdc_promtext p;
	char err[128];
	if (pdc_promtext_parse(sample, strlen(sample), &p, err, sizeof err) != 0) {
		CHECK_FAIL("parse_sample: %s", err);
		return;
	}
	CHECK(p.n == 16, "sample_count");
	const char *get[] = {"method", "/property.v1.PropertyService/GetProperty", NULL};
	const char *get_ok[] = {"method", "/property.v1.PropertyService/GetProperty", "code", "0",
	                        NULL};
	CHECK(near(pdc_promtext_sum(&p, "propertyd_requests_total", get), 100), "sum_by_method");
	CHECK(near(pdc_promtext_sum(&p, "propertyd_requests_total", get_ok), 90),
	      "sum_by_method_code");
	CHECK(near(pdc_promtext_sum(&p, "propertyd_requests_total", NULL), 103), "sum_all");
	CHECK(pdc_promtext_sum(&p, "absent_metric", NULL) == 0, "sum_none");
	CHECK(near(pdc_promtext_sum(&p, "propertyd_db_pool_size", NULL), 10), "no_labels");
	const char *hit[] = {"result", "hit", NULL};
	CHECK(near(pdc_promtext_sum(&p, "propertyd_cache_requests_total", hit), 75), "cache_hit");
	CHECK(p.samples[13].n_labels == 1 &&
	          strcmp(pdc_promtext_label_value(&p.samples[13], "v"),
	                 "a \"quoted\" \\ back\nslash") == 0 &&
	          isnan(p.samples[13].value),
	      "escaped_label");
	CHECK(isinf(p.samples[14].value) && p.samples[14].value < 0, "neg_inf");
	CHECK(near(p.samples[15].value, 1.5e9), "exponent");

	pdc_promtext_bucket *b = NULL;
	const char *abc[] = {"method", "/a.B/C", NULL};
	size_t nb = pdc_promtext_buckets(&p, "propertyd_request_duration_seconds", abc, &b);
	CHECK(nb == 4 && b != NULL && isinf(b[3].le) && near(b[1].count, 60), "bucket_count");
	if (nb == 4) {
		// p50: rank 50 lies in (0.001, 0.01] holding 50 of them, 40 in: 0.001 + 0.009*0.8
		CHECK(near(pdc_promtext_quantile(0.5, b, nb), 0.001 + 0.009 * 40.0 / 50.0), "p50");
		// p99: rank 99 in (0.01, 0.1] holding 40, 39 in
		CHECK(near(pdc_promtext_quantile(0.99, b, nb), 0.01 + 0.09 * 39.0 / 40.0), "p99");
		// p5: in the first bucket, which starts at 0
		CHECK(near(pdc_promtext_quantile(0.05, b, nb), 0.001 * 5.0 / 10.0), "p05");
	}
	free(b);
	pdc_promtext_free(&p);
}

static void quantile_edges(void)
{
	pdc_promtext_bucket inf_only[] = {{0.1, 0}, {1, 0}, {INFINITY, 4}};
	CHECK(near(pdc_promtext_quantile(0.5, inf_only, 3), 1), "rank_in_inf_bucket");
	pdc_promtext_bucket empty[] = {{0.1, 0}, {INFINITY, 0}};
	CHECK(isnan(pdc_promtext_quantile(0.5, empty, 2)), "empty_is_nan");
	CHECK(isnan(pdc_promtext_quantile(0.5, NULL, 0)), "no_buckets_is_nan");
	pdc_promtext_bucket b[] = {{1, 10}, {2, 20}, {INFINITY, 20}};
	CHECK(near(pdc_promtext_quantile(1, b, 3), 2), "q1_top_bucket");
	CHECK(near(pdc_promtext_quantile(0, b, 3), 0), "q0");
}

typedef struct bad_case {
	const char *name;
	const char *text;
	const char *want;
} bad_case;

static void bad_input(void)
{
	static const bad_case bad[] = {
	    {"no_value", "metric_a\n", "line 1"},
	    {"bad_value", "# c\nmetric_a abc\n", "line 2: bad value"},
	    {"unterminated_label", "m{a=\"x} 1\n", "bad label value"},
	    {"label_without_equals", "m{a} 1\n", "expected '='"},
	    {"bad_name", "9m 1\n", "bad metric name"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		pdc_promtext p;
		char err[128] = "";
		int rc = pdc_promtext_parse(bad[i].text, strlen(bad[i].text), &p, err, sizeof err);
		if (rc == 0 || strstr(err, bad[i].want) == NULL || p.n != 0) {
			CHECK_FAIL("%s: rc %d err \"%s\"", bad[i].name, rc, err);
			if (rc == 0)
				pdc_promtext_free(&p);
		}
	}
}

int main(void)
{
	parse_sample();
	quantile_edges();
	bad_input();
	return check_summary("promtext_test");
}
