// propctl: dispatch to the subcommands, shared option helpers.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "propctl.h"
#ifdef PROPCTL_HAVE_WATCH
#include "watch.h"
#endif

static const char usage[] =
    "usage: propctl <command> [options]\n"
    "\n"
    "The command-line client of propertyd.\n"
    "\n"
    "commands:\n"
    "  health   check the service (grpc.health.v1.Health/Check)\n"
    "  token    mint an HS256 bearer token\n"
    "  call     call any method with a JSON request, print the JSON reply\n"
    "  list     list the server's services, or a service's methods (reflection)\n"
    "  describe print a service, method or message as .proto text (reflection)\n"
    "  top      live view of the service's /metrics\n"
#ifdef PROPCTL_HAVE_WATCH
    "  watch    follow the event stream\n"
#endif
    "\n"
    "`propctl <command> --help` describes each command.\n"
    "\n"
    "options:\n"
    "  -h, --help      this text\n"
    "  -V, --version   print the version\n"
    "\n"
    "environment:\n"
    "  PROPCTL_URL     comma-separated RPC URLs (default " PDC_DEFAULT_URL "); with\n"
    "                  several, or dns+tcp://HOST:PORT, calls are balanced over the\n"
    "                  healthy instances (docs/balancing.md)\n"
    "  PROPCTL_TOKEN   bearer token for call\n"
    "  AUTH_SECRET     HS256 secret to mint tokens (token, call --sub)\n"
    "  PROPCTL_TLS_CA  CA file to verify a tls+tcp:// server (required, or:)\n"
    "  PROPCTL_TLS_INSECURE=1  do not verify the server (development; warns)\n"
    "  PROPCTL_TLS_CERT, PROPCTL_TLS_KEY  client certificate (mutual TLS)\n"
    "  PROPCTL_TLS_SERVER_NAME  expected server name\n"
    "\n"
    "exit status:\n"
    "  0   success (health: SERVING)\n"
    "  1   the server answered with an error (health: not SERVING)\n"
    "  2   no answer: unreachable, timed out\n"
    "  64  usage error or bad input; nothing was sent\n";

size_t propctl_urls(const char **urls, size_t n_flag, size_t cap, char *buf, size_t bufcap)
{
	if (n_flag > 0)
		return n_flag;
	const char *env = getenv("PROPCTL_URL");
	size_t n = pdc_split_urls(env, buf, bufcap, urls, cap);
	if (n == 0) {
		urls[0] = PDC_DEFAULT_URL;
		n = 1;
	}
	return n;
}

long long propctl_parse_positive(const char *s, long long max)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > max)
		return -1;
	return v;
}

long long propctl_timeout_ms(const char *cmd, const char *arg, long long max_ms)
{
	char err[256];
	int64_t us;
	if (pdc_duration_flag("--timeout", arg, BASE_DUR_MS, 1000, max_ms * 1000, &us, err,
	                      sizeof err) != 0) {
		fprintf(stderr, "propctl %s: %s\n", cmd, err);
		return -1;
	}
	return (us + 999) / 1000;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return PROPCTL_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage, stdout);
		return PROPCTL_EXIT_OK;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("propctl %s\n", PROPERTYD_VERSION);
		return PROPCTL_EXIT_OK;
	}
	if (strcmp(cmd, "health") == 0)
		return propctl_health_main(argc - 1, argv + 1);
	if (strcmp(cmd, "token") == 0)
		return propctl_token_main(argc - 1, argv + 1);
	if (strcmp(cmd, "call") == 0)
		return propctl_call_main(argc - 1, argv + 1);
	if (strcmp(cmd, "list") == 0)
		return propctl_list_main(argc - 1, argv + 1);
	if (strcmp(cmd, "describe") == 0)
		return propctl_describe_main(argc - 1, argv + 1);
	if (strcmp(cmd, "top") == 0)
		return propctl_top_main(argc - 1, argv + 1);
#ifdef PROPCTL_HAVE_WATCH
	if (strcmp(cmd, "watch") == 0)
		return propctl_watch_main(argc - 1, argv + 1);
#endif
	fprintf(stderr, "propctl: unknown command \"%s\"\n\n%s", cmd, usage);
	return PROPCTL_EXIT_USAGE;
}
