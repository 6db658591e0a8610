// propctl top: a live view of propertyd's /metrics, refreshed every interval.
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "httpget.h"
#include "promtext.h"
#include "propctl.h"
#include "top_view.h"

// A scrape slower than this is reported as a failure.
#define TOP_SCRAPE_TIMEOUT_MS 3000
// Intervals below 50 ms would measure little; beyond an hour are a typo.
#define TOP_MIN_INTERVAL_US 50000
#define TOP_MAX_INTERVAL_US 3600000000LL

static const char usage[] =
    "usage: propctl top [--http-addr HOST:PORT] [--interval DUR] [--once]\n"
    "\n"
    "Shows requests/s, error ratio and p50/p99 latency per method, database\n"
    "pool use, cache hit ratio, relay lag and leadership, from the service's\n"
    "Prometheus /metrics, refreshed every interval (Ctrl-C stops).\n"
    "\n"
    "  --http-addr HOST:PORT   metrics address (default env PROPCTL_HTTP_ADDR,\n"
    "                          else " PDC_DEFAULT_HTTP_ADDR ")\n"
    "  --interval DUR          refresh period, default 1s (bare number: seconds)\n"
    "  --once                  print one snapshot (two scrapes one interval\n"
    "                          apart) and exit, without clearing the screen\n"
    "\n" PDC_DURATION_HELP "\n"
    "exit status: 0 (--once printed, or stopped); 2 /metrics unreachable;\n"
    "64 usage error.\n";

// One scrape into *p; prints why and returns -1 on failure.
static int scrape(const char *addr, pdc_promtext *p)
{
	char err[256];
	char *body = NULL;
	size_t len = 0;
	int status =
	    pdc_http_get(addr, "/metrics", TOP_SCRAPE_TIMEOUT_MS, &body, &len, err, sizeof err);
	if (status < 0) {
		fprintf(stderr, "propctl top: %s\n", err);
		return -1;
	}
	if (status != 200) {
		fprintf(stderr, "propctl top: GET http://%s/metrics: HTTP %d\n", addr, status);
		free(body);
		return -1;
	}
	int rc = pdc_promtext_parse(body, len, p, err, sizeof err);
	free(body);
	if (rc != 0)
		fprintf(stderr, "propctl top: /metrics: %s\n", err);
	return rc;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
	while (nanosleep(&ts, &ts) != 0)
		;
}

int propctl_top_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"http-addr", required_argument, NULL, 'a'},
	    {"interval", required_argument, NULL, 'i'},
	    {"once", no_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *addr = getenv("PROPCTL_HTTP_ADDR");
	if (addr == NULL || addr[0] == '\0')
		addr = PDC_DEFAULT_HTTP_ADDR;
	double interval = 1;
	int once = 0, c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "a:i:oh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'i': {
			char err[256];
			int64_t us;
			if (pdc_duration_flag("--interval", optarg, BASE_DUR_S, TOP_MIN_INTERVAL_US,
			                      TOP_MAX_INTERVAL_US, &us, err, sizeof err) != 0) {
				fprintf(stderr, "propctl top: %s\n", err);
				return PROPCTL_EXIT_USAGE;
			}
			interval = (double)us / 1e6;
			break;
		}
		case 'o':
			once = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return PROPCTL_EXIT_OK;
		default:
			fputs(usage, stderr);
			return PROPCTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return PROPCTL_EXIT_USAGE;
	}
	int tty = !once && isatty(STDOUT_FILENO);
	pdc_promtext prev, cur;
	if (scrape(addr, &prev) != 0)
		return PROPCTL_EXIT_TRANSPORT;
	for (;;) {
		sleep_s(interval);
		if (scrape(addr, &cur) != 0) {
			pdc_promtext_free(&prev);
			return PROPCTL_EXIT_TRANSPORT;
		}
		if (tty)
			fputs("\033[H\033[2J", stdout); // home, clear screen
		top_render(stdout, &prev, &cur, interval, addr);
		fflush(stdout);
		pdc_promtext_free(&prev);
		prev = cur;
		if (once)
			break;
	}
	pdc_promtext_free(&prev);
	return PROPCTL_EXIT_OK;
}
