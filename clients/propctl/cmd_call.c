// propctl call: any method, JSON in, JSON out.
//
// The request JSON is turned into the method's request message by pbjson
// (driven by the method's descriptor), sent with nrpc, and the reply printed
// as pretty JSON with every field, defaults included.
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "methods.h"
#include "nrpc/client.h"
#include "pbjson.h"
#include "propctl.h"
#include "reflect.h"

// Metadata entries a user may add with --meta (plus authorization and
// idempotency-key); the server bounds metadata too.
#define CALL_MAX_META 32
// Deadlines above ten minutes are a typo.
#define CALL_MAX_TIMEOUT_MS 600000

static const char usage[] =
    "usage: propctl call METHOD JSON [options]\n"
    "       propctl call --list\n"
    "\n"
    "Sends JSON (\"-\" or \"@-\": standard input; \"@FILE\": the file) as METHOD's\n"
    "request and\n"
    "prints the reply as JSON with every field. METHOD is a full path\n"
    "(/property.v1.PropertyService/GetProperty), Service.Method or a bare\n"
    "method name (GetProperty). Field names may be the .proto names\n"
    "(owner_id) or lowerCamelCase (ownerId); the reply uses the .proto names.\n"
    "64-bit integers are printed as strings and accepted as numbers or strings;\n"
    "enums as names (numbers accepted); bytes as base64.\n"
    "\n"
    "  --url URL              RPC URL (repeatable; default env PROPCTL_URL, else\n"
    "                         " PDC_DEFAULT_URL ")\n"
    "  --token T              bearer token (default env PROPCTL_TOKEN)\n"
    "  --sub OWNER            without a token: mint one for OWNER from env\n"
    "                         AUTH_SECRET or --secret-file\n"
    "  --secret-file FILE     the HS256 secret, for --sub\n"
    "  --timeout DUR          deadline, default 5s (bare number: ms)\n"
    "  --meta KEY=VALUE       request metadata (repeatable); also --metadata\n"
    "  -H 'KEY: VALUE'        the same, written as a header (like grpcurl)\n"
    "  --idempotency-key K    idempotency-key metadata (CreateProperty)\n"
    "  --compact              print the reply on one line\n"
    "  -v, --verbose          print the reply metadata on stderr\n"
    "  --list                 list the known methods and their message types\n"
    "  --reflect              resolve METHOD and its messages through the server's\n"
    "                         reflection service instead of the ones propctl was\n"
    "                         built with (for services it does not know; also\n"
    "                         env PROPCTL_REFLECT=1)\n"
    "\n" PDC_URL_HELP "\n" PDC_DURATION_HELP "\n"
    "On an error reply prints to stderr\n"
    "  ERROR <CODE_NAME> (<n>): <message>\n"
    "  followed by one line \"  <field>: <description>\" per field violation.\n"
    "\n"
    "exit status: 0 OK; 1 error reply; 2 no answer (unreachable, timed out);\n"
    "64 usage error, unknown method or bad JSON (nothing was sent).\n";

typedef struct call_opts {
	const char *urls[PDC_MAX_URLS];
	size_t n_urls;
	nrpc_meta meta[CALL_MAX_META + 2];
	size_t n_meta;
	const char *token, *sub, *secret_file, *idem;
	long long timeout;
	int compact, verbose, list, reflect;
} call_opts;

static void list_methods(void)
{
	size_t n = pdc_method_count();
	for (size_t i = 0; i < n; i++) {
		pdc_method m;
		if (pdc_method_at(i, &m) == 0)
			printf("%-50s %s -> %s\n", m.path, m.input->name, m.output->name);
	}
}

// One --meta KEY=VALUE (header: -H 'KEY: VALUE', spaces after the colon skipped) into
// o->meta, splitting arg in place; -1 (after printing why) on a usage error.
static int add_meta(call_opts *o, bool header, char *arg)
{
	char *eq = strchr(arg, header ? ':' : '=');
	if (eq == NULL || eq == arg) {
		fprintf(stderr, header ? "propctl call: -H wants 'KEY: VALUE'\n"
		                       : "propctl call: --meta wants KEY=VALUE\n");
		return -1;
	}
	if (header)
		while (eq[1] == ' ' || eq[1] == '\t')
			memmove(eq + 1, eq + 2, strlen(eq + 2) + 1);
	if (o->n_meta == CALL_MAX_META) {
		fprintf(stderr, "propctl call: at most %d --meta\n", CALL_MAX_META);
		return -1;
	}
	*eq = '\0'; // argv is ours to split
	o->meta[o->n_meta].key = arg;
	o->meta[o->n_meta++].value = eq + 1;
	return 0;
}

static const struct option call_flags[] = {
    {"url", required_argument, NULL, 'u'},
    {"token", required_argument, NULL, 'T'},
    {"sub", required_argument, NULL, 's'},
    {"secret-file", required_argument, NULL, 'f'},
    {"timeout", required_argument, NULL, 't'},
    {"meta", required_argument, NULL, 'm'},
    {"metadata", required_argument, NULL, 'm'},
    {"header", required_argument, NULL, 'H'},
    {"idempotency-key", required_argument, NULL, 'i'},
    {"compact", no_argument, NULL, 'c'},
    {"verbose", no_argument, NULL, 'v'},
    {"list", no_argument, NULL, 'l'},
    {"reflect", no_argument, NULL, 'r'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

// Parses the flags into *o; returns -1 (after printing why) on a usage error,
// 1 when --help was printed, 0 otherwise.
static int parse_flags(int argc, char **argv, call_opts *o)
{
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "u:vhH:", call_flags, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (o->n_urls == PDC_MAX_URLS) {
				fprintf(stderr, "propctl call: at most %d URLs\n", PDC_MAX_URLS);
				return -1;
			}
			o->urls[o->n_urls++] = optarg;
			break;
		case 'T':
			o->token = optarg;
			break;
		case 's':
			o->sub = optarg;
			break;
		case 'f':
			o->secret_file = optarg;
			break;
		case 't':
			o->timeout = propctl_timeout_ms("call", optarg, CALL_MAX_TIMEOUT_MS);
			if (o->timeout < 0)
				return -1;
			break;
		case 'm':
		case 'H':
			if (add_meta(o, c == 'H', optarg) != 0)
				return -1;
			break;
		case 'i':
			o->idem = optarg;
			break;
		case 'c':
			o->compact = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'l':
			o->list = 1;
			break;
		case 'r':
			o->reflect = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fputs(usage, stderr);
			return -1;
		}
	}
	return 0;
}

// Reads the JSON argument ("-" or "@-" is stdin, "@FILE" a file); returns
// malloc'd text or NULL.
static char *request_text(const char *arg)
{
	char err[256];
	if (arg[0] == '@' && strcmp(arg, "@-") != 0) {
		FILE *f = fopen(arg + 1, "rb");
		char *s = f != NULL ? pdc_read_stream(f, PDC_MAX_INPUT, err, sizeof err) : NULL;
		if (f == NULL)
			fprintf(stderr, "propctl call: %s: %s\n", arg + 1, strerror(errno));
		else if (s == NULL)
			fprintf(stderr, "propctl call: %s: %s\n", arg + 1, err);
		if (f != NULL)
			fclose(f);
		return s;
	}
	if (strcmp(arg, "-") != 0 && strcmp(arg, "@-") != 0) {
		char *s = strdup(arg);
		if (s == NULL)
			fprintf(stderr, "propctl call: out of memory\n");
		return s;
	}
	char *s = pdc_read_stream(stdin, PDC_MAX_INPUT, err, sizeof err);
	if (s == NULL)
		fprintf(stderr, "propctl call: stdin: %s\n", err);
	return s;
}

static int print_reply(const ProtobufCMessage *out, const nrpc_result *res, const call_opts *o)
{
	if (o->verbose)
		for (size_t i = 0; i < res->n_metadata; i++)
			fprintf(stderr, "%s: %s\n", res->metadata_keys[i], res->metadata_values[i]);
	int flags = PBJSON_EMIT_DEFAULTS | (o->compact ? 0 : PBJSON_PRETTY);
	char *json = pdc_pbjson_encode(out, flags);
	if (json == NULL) {
		fprintf(stderr, "propctl call: out of memory\n");
		return PROPCTL_EXIT_FAIL;
	}
	fputs(json, stdout);
	if (o->compact)
		fputc('\n', stdout);
	free(json);
	return PROPCTL_EXIT_OK;
}

// One call in progress: what it has resolved, built and received, freed by call_free.
// The steps below return 0 to go on, else the exit status (with the reason on stderr).
typedef struct call_run {
	char err[512];
	char urlbuf[4096]; // the URLs from the environment
	char *text, *token, *auth;
	ProtobufCMessage *req, *out;
	nrpc_client *cl;
	nrpc_result res;
	pdc_rtdesc *rd; // with --reflect: m's descriptors live in it
	pdc_method m;
} call_run;

static void call_free(call_run *r)
{
	if (r->out != NULL)
		protobuf_c_message_free_unpacked(r->out, NULL);
	if (r->req != NULL)
		protobuf_c_message_free_unpacked(r->req, NULL);
	nrpc_result_free(&r->res);
	nrpc_client_close(r->cl);
	pdc_rtdesc_free(r->rd); // after every message of its types
	free(r->text);
	free(r->token);
	free(r->auth);
}

// The status of a failed call: no answer, or an error reply.
static int rpc_failure(const nrpc_result *res)
{
	pdc_print_rpc_error(stderr, res);
	return res->transport_error ? PROPCTL_EXIT_TRANSPORT : PROPCTL_EXIT_FAIL;
}

// METHOD through the server's reflection service into r->m (its descriptors in r->rd);
// opens r->cl for it.
static int reflect_method(call_run *r, const call_opts *o, const char *name)
{
	if (pdc_client_open(&r->cl, o->urls, o->n_urls, r->err, sizeof r->err) != 0) {
		fprintf(stderr, "propctl call: %s\n", r->err);
		return PROPCTL_EXIT_USAGE;
	}
	r->err[0] = '\0';
	r->rd = pdc_reflect_load(r->cl, (uint32_t)o->timeout, &r->res, r->err, sizeof r->err);
	if (r->rd == NULL) {
		if (r->res.code != 0)
			return rpc_failure(&r->res);
		fprintf(stderr, "propctl call: reflection: %s\n", r->err);
		return PROPCTL_EXIT_FAIL;
	}
	nrpc_result_free(&r->res);
	if (pdc_reflect_find_method(r->rd, name, &r->m) != 0) {
		fprintf(stderr,
		        "propctl call: the server has no method \"%s\", or more than one "
		        "(see propctl list)\n",
		        name);
		return PROPCTL_EXIT_USAGE;
	}
	return 0;
}

// The URLs (flags, else the environment) into o, and METHOD into r->m: the built-in
// descriptors, or with --reflect (or PROPCTL_REFLECT=1) the server's.
static int resolve_method(call_run *r, call_opts *o, const char *name)
{
	bool env_reflect = false;
	if (pdc_env_flag("PROPCTL_REFLECT", &env_reflect, r->err, sizeof r->err) != 0) {
		fprintf(stderr, "propctl call: %s\n", r->err);
		return PROPCTL_EXIT_USAGE;
	}
	o->n_urls = propctl_urls(o->urls, o->n_urls, PDC_MAX_URLS, r->urlbuf, sizeof r->urlbuf);
	if (o->reflect || env_reflect)
		return reflect_method(r, o, name);
	if (pdc_method_find(name, &r->m) != 0) {
		fprintf(stderr, "propctl call: unknown or ambiguous method \"%s\" (see --list)\n",
		        name);
		return PROPCTL_EXIT_USAGE;
	}
	return 0;
}

// The JSON argument into the request message r->req.
static int build_request(call_run *r, const char *json_arg)
{
	if ((r->text = request_text(json_arg)) == NULL)
		return PROPCTL_EXIT_USAGE;
	r->req = pdc_pbjson_decode(r->m.input, r->text, r->err, sizeof r->err);
	if (r->req == NULL) {
		fprintf(stderr, "propctl call: bad %s: %s\n", r->m.input->name, r->err);
		return PROPCTL_EXIT_USAGE;
	}
	return 0;
}

// The authorization (given or minted token) and idempotency-key metadata into o->meta.
static int add_call_meta(call_run *r, call_opts *o)
{
	if (pdc_token_resolve(o->token, o->sub, o->secret_file, PROPCTL_DEFAULT_TTL_S, &r->token,
	                      r->err, sizeof r->err) != 0) {
		fprintf(stderr, "propctl call: %s\n", r->err);
		return PROPCTL_EXIT_USAGE;
	}
	if (r->token != NULL) {
		if (asprintf(&r->auth, "Bearer %s", r->token) < 0) {
			r->auth = NULL;
			fprintf(stderr, "propctl call: out of memory\n");
			return PROPCTL_EXIT_USAGE;
		}
		o->meta[o->n_meta].key = "authorization";
		o->meta[o->n_meta++].value = r->auth;
	}
	if (o->idem != NULL) {
		o->meta[o->n_meta].key = "idempotency-key";
		o->meta[o->n_meta++].value = o->idem;
	}
	return 0;
}

// Sends r->req (opening r->cl unless reflection did) and prints the reply; the exit status.
static int send_call(call_run *r, const call_opts *o)
{
	if (r->cl == NULL &&
	    pdc_client_open(&r->cl, o->urls, o->n_urls, r->err, sizeof r->err) != 0) {
		fprintf(stderr, "propctl call: %s\n", r->err);
		return PROPCTL_EXIT_USAGE;
	}
	if (nrpc_client_call(r->cl, r->m.path, r->req, r->m.output, o->meta, o->n_meta,
	                     (uint32_t)o->timeout, &r->out, &r->res) != 0) {
		fprintf(stderr, "propctl call: out of memory\n");
		return PROPCTL_EXIT_FAIL;
	}
	if (r->res.code != 0 || r->out == NULL)
		return rpc_failure(&r->res);
	return print_reply(r->out, &r->res, o);
}

int propctl_call_main(int argc, char **argv)
{
	call_opts o = {.timeout = PROPCTL_DEFAULT_TIMEOUT_MS};
	int p = parse_flags(argc, argv, &o);
	if (p != 0)
		return p > 0 ? PROPCTL_EXIT_OK : PROPCTL_EXIT_USAGE;
	if (o.list) {
		list_methods();
		return PROPCTL_EXIT_OK;
	}
	if (argc - optind != 2) {
		fputs(usage, stderr);
		return PROPCTL_EXIT_USAGE;
	}
	const char *name = argv[optind], *json_arg = argv[optind + 1];
	call_run r = {0};
	int rc = resolve_method(&r, &o, name);
	if (rc == 0)
		rc = build_request(&r, json_arg);
	if (rc == 0)
		rc = add_call_meta(&r, &o);
	if (rc == 0)
		rc = send_call(&r, &o);
	call_free(&r);
	return rc;
}
