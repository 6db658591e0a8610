// propctl health: grpc.health.v1.Health/Check, printed as the status name.
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/client.h"
#include "propctl.h"

#define HEALTH_METHOD "/grpc.health.v1.Health/Check"
// Deadlines above a minute are a typo.
#define HEALTH_MAX_TIMEOUT_MS 60000

static const char usage[] =
    "usage: propctl health [--url URL]... [--service NAME] [--timeout DUR]\n"
    "\n"
    "Calls grpc.health.v1.Health/Check and prints the status: SERVING,\n"
    "NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN. With several instances (several\n"
    "URLs, or a dns+tcp://HOST:PORT URL: every address of HOST) checks each one\n"
    "and prints \"<url> <status>\" per instance (not balanced: every instance).\n"
    "\n"
    "  --url URL        RPC URL (repeatable; default env PROPCTL_URL, else\n"
    "                   " PDC_DEFAULT_URL ")\n"
    "  --service NAME   \"\" (the whole server, default), property.v1.PropertyService\n"
    "                   or property.v1.EventService\n"
    "  --timeout DUR    deadline, default 5s (bare number: ms)\n"
    "\n" PDC_DURATION_HELP "\n"
    "exit status: 0 SERVING (every instance); 1 any other status or an error reply;\n"
    "2 no answer from an instance (the reason is printed); 64 usage error.\n";

// Checks the one instance urls[0]; prints its status (after `label` when not
// NULL). Returns the exit status for it.
static int check_one(const char *url, const char *label, const char *service, long long timeout)
{
	char err[256];
	nrpc_client *cl = NULL;
	if (pdc_client_open(&cl, &url, 1, err, sizeof err) != 0) {
		fprintf(stderr, "propctl health: %s\n", err);
		return PROPCTL_EXIT_USAGE;
	}
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	req.service = (char *)service;
	ProtobufCMessage *out = NULL;
	nrpc_result res = {0};
	int rc = PROPCTL_EXIT_FAIL;
	if (nrpc_client_call(cl, HEALTH_METHOD, &req.base,
	                     &grpc__health__v1__health_check_response__descriptor, NULL, 0,
	                     (uint32_t)timeout, &out, &res) != 0) {
		fprintf(stderr, "propctl health: out of memory\n");
		goto done;
	}
	if (res.transport_error) {
		if (label != NULL)
			printf("%s NO_ANSWER\n", label);
		fprintf(stderr, "propctl health: no answer from %s: %s\n", url, res.message);
		rc = PROPCTL_EXIT_TRANSPORT;
		goto done;
	}
	if (res.code != 0 || out == NULL) {
		if (label != NULL)
			printf("%s ERROR\n", label);
		pdc_print_rpc_error(stderr, &res);
		goto done;
	}
	int status = ((Grpc__Health__V1__HealthCheckResponse *)out)->status;
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
	    &grpc__health__v1__health_check_response__serving_status__descriptor, status);
	if (label != NULL)
		printf("%s ", label);
	if (ev != NULL)
		printf("%s\n", ev->name);
	else
		printf("%d\n", status);
	if (status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
		rc = PROPCTL_EXIT_OK;
done:
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	nrpc_result_free(&res);
	nrpc_client_close(cl);
	return rc;
}

// The worse of two exit statuses: usage, then no answer, then not SERVING.
static int worse(int a, int b)
{
	static const int order[] = {PROPCTL_EXIT_OK, PROPCTL_EXIT_FAIL, PROPCTL_EXIT_TRANSPORT,
	                            PROPCTL_EXIT_USAGE};
	int ra = 0, rb = 0;
	for (int i = 0; i < 4; i++) {
		ra = order[i] == a ? i : ra;
		rb = order[i] == b ? i : rb;
	}
	return ra >= rb ? a : b;
}

int propctl_health_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"service", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *urls[PDC_MAX_URLS];
	size_t n_urls = 0;
	const char *service = "";
	long long timeout = PROPCTL_DEFAULT_TIMEOUT_MS;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "u:s:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (n_urls == PDC_MAX_URLS) {
				fprintf(stderr, "propctl health: at most %d URLs\n", PDC_MAX_URLS);
				return PROPCTL_EXIT_USAGE;
			}
			urls[n_urls++] = optarg;
			break;
		case 's':
			service = optarg;
			break;
		case 't':
			timeout = propctl_timeout_ms("health", optarg, HEALTH_MAX_TIMEOUT_MS);
			if (timeout < 0)
				return PROPCTL_EXIT_USAGE;
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
	char urlbuf[4096];
	n_urls = propctl_urls(urls, n_urls, PDC_MAX_URLS, urlbuf, sizeof urlbuf);

	char err[256];
	char **each = NULL;
	size_t n_each = 0;
	if (nrpc_urls_expand(urls, n_urls, &each, &n_each, err, sizeof err) != 0) {
		fprintf(stderr, "propctl health: %s\n", err);
		return PROPCTL_EXIT_USAGE;
	}
	// One instance: its status alone, as ever. Several: each one's, and the
	// worst outcome (no answer, then not SERVING) is the exit status.
	int rc = PROPCTL_EXIT_OK;
	for (size_t i = 0; i < n_each; i++)
		rc = worse(rc, check_one(each[i], n_each > 1 ? each[i] : NULL, service, timeout));
	nrpc_urls_free(each, n_each);
	return rc;
}
