// propctl list / describe: what a server serves, through its reflection
// service (docs/contract.md §2.10). Needs no token.
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "describe.h"
#include "propctl.h"
#include "reflect.h"

// Deadlines above ten minutes are a typo.
#define LIST_MAX_TIMEOUT_MS 600000

static const char list_usage[] =
    "usage: propctl list [SERVICE] [options]\n"
    "\n"
    "Without SERVICE prints the full names of the services the server serves,\n"
    "one a line; with SERVICE (full or short name) its methods as\n"
    "<service>.<method>. Asks the server's rpc.v1.Reflection service.\n"
    "\n"
    "  --url URL      RPC URL (repeatable, balanced; default env PROPCTL_URL, else\n"
    "                 " PDC_DEFAULT_URL ")\n"
    "  --timeout DUR  deadline of each call, default 5s (bare number: ms)\n"
    "\n" PDC_DURATION_HELP "\n"
    "exit status: 0 OK; 1 error reply or unknown SERVICE; 2 no answer; 64 usage error.\n";

static const char describe_usage[] =
    "usage: propctl describe [SYMBOL] [options]\n"
    "\n"
    "Prints a service, method, message or enum of the server as .proto text, its\n"
    "types fully qualified (.property.v1.Property). SYMBOL is a full name\n"
    "(property.v1.PropertyService, property.v1.PropertyService.GetProperty,\n"
    "property.v1.Location) or a service's short name. Without SYMBOL describes\n"
    "every service. Asks the server's rpc.v1.Reflection service.\n"
    "\n"
    "  --url URL      RPC URL (repeatable, balanced; default env PROPCTL_URL, else\n"
    "                 " PDC_DEFAULT_URL ")\n"
    "  --timeout DUR  deadline of each call, default 5s (bare number: ms)\n"
    "\n" PDC_DURATION_HELP "\n"
    "exit status: 0 OK; 1 error reply or unknown SYMBOL; 2 no answer; 64 usage error.\n";

typedef struct list_opts {
	const char *urls[PDC_MAX_URLS];
	size_t n_urls;
	long long timeout;
} list_opts;

// Returns -1 on a usage error, 1 after --help, else 0.
static int parse(int argc, char **argv, list_opts *o, const char *cmd, const char *usage)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (o->n_urls == PDC_MAX_URLS) {
				fprintf(stderr, "propctl %s: at most %d URLs\n", cmd, PDC_MAX_URLS);
				return -1;
			}
			o->urls[o->n_urls++] = optarg;
			break;
		case 't':
			o->timeout = propctl_timeout_ms(cmd, optarg, LIST_MAX_TIMEOUT_MS);
			if (o->timeout < 0)
				return -1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fputs(usage, stderr);
			return -1;
		}
	}
	if (argc - optind > 1) {
		fputs(usage, stderr);
		return -1;
	}
	return 0;
}

static nrpc_client *open_client(list_opts *o, const char *cmd)
{
	char urlbuf[4096], err[512];
	nrpc_client *cl = NULL;
	o->n_urls = propctl_urls(o->urls, o->n_urls, PDC_MAX_URLS, urlbuf, sizeof urlbuf);
	if (pdc_client_open(&cl, o->urls, o->n_urls, err, sizeof err) != 0) {
		fprintf(stderr, "propctl %s: %s\n", cmd, err);
		return NULL;
	}
	return cl;
}

// The exit status of a failed reflection call.
static int failed(const nrpc_result *res, const char *cmd, const char *err)
{
	if (res->code == 0) {
		fprintf(stderr, "propctl %s: %s\n", cmd, err);
		return PROPCTL_EXIT_FAIL;
	}
	pdc_print_rpc_error(stderr, res);
	return res->transport_error ? PROPCTL_EXIT_TRANSPORT : PROPCTL_EXIT_FAIL;
}

int propctl_list_main(int argc, char **argv)
{
	list_opts o = {.timeout = PROPCTL_DEFAULT_TIMEOUT_MS};
	int p = parse(argc, argv, &o, "list", list_usage);
	if (p != 0)
		return p > 0 ? PROPCTL_EXIT_OK : PROPCTL_EXIT_USAGE;
	const char *service = optind < argc ? argv[optind] : NULL;
	nrpc_client *cl = open_client(&o, "list");
	if (cl == NULL)
		return PROPCTL_EXIT_USAGE;
	int rc = PROPCTL_EXIT_OK;
	char err[512] = "";
	nrpc_result res = {0};
	if (service == NULL) {
		char **names = NULL;
		size_t n = 0;
		if (pdc_reflect_services(cl, (uint32_t)o.timeout, &names, &n, &res, err,
		                         sizeof err) != 0) {
			rc = failed(&res, "list", err);
		} else {
			for (size_t i = 0; i < n; i++)
				printf("%s\n", names[i]);
			pdc_reflect_free_names(names, n);
		}
	} else {
		pdc_rtdesc *r = pdc_reflect_load(cl, (uint32_t)o.timeout, &res, err, sizeof err);
		const ProtobufCServiceDescriptor *s =
		    r ? pdc_reflect_find_service(r, service) : NULL;
		if (r == NULL) {
			rc = failed(&res, "list", err);
		} else if (s == NULL) {
			fprintf(stderr, "propctl list: no service \"%s\" on the server\n", service);
			rc = PROPCTL_EXIT_FAIL;
		} else {
			for (unsigned i = 0; i < s->n_methods; i++)
				printf("%s.%s\n", s->name, s->methods[i].name);
		}
		pdc_rtdesc_free(r);
	}
	nrpc_result_free(&res);
	nrpc_client_close(cl);
	return rc;
}

int propctl_describe_main(int argc, char **argv)
{
	list_opts o = {.timeout = PROPCTL_DEFAULT_TIMEOUT_MS};
	int p = parse(argc, argv, &o, "describe", describe_usage);
	if (p != 0)
		return p > 0 ? PROPCTL_EXIT_OK : PROPCTL_EXIT_USAGE;
	const char *symbol = optind < argc ? argv[optind] : NULL;
	nrpc_client *cl = open_client(&o, "describe");
	if (cl == NULL)
		return PROPCTL_EXIT_USAGE;
	int rc = PROPCTL_EXIT_OK;
	char err[512] = "";
	nrpc_result res = {0};
	pdc_rtdesc *r = pdc_reflect_load(cl, (uint32_t)o.timeout, &res, err, sizeof err);
	if (r == NULL) {
		rc = failed(&res, "describe", err);
	} else if (symbol != NULL) {
		if (pdc_describe(stdout, r, symbol) != 0) {
			fprintf(stderr, "propctl describe: no symbol \"%s\" on the server\n",
			        symbol);
			rc = PROPCTL_EXIT_FAIL;
		}
	} else {
		for (size_t i = 0; i < pdc_rtdesc_service_count(r); i++)
			pdc_describe(stdout, r, pdc_rtdesc_service_at(r, i)->name);
	}
	pdc_rtdesc_free(r);
	nrpc_result_free(&res);
	nrpc_client_close(cl);
	return rc;
}
