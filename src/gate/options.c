// gate options: see options.h.
#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: propgate --listen URL [--listen URL]... (--backend URL | --backends-dns HOST:PORT)...\n"
    "                [--http-addr HOST:PORT] [--io-threads N] [--log-level LEVEL]\n"
    "\n"
    "The rpc.v1 gateway: forwards every call to a healthy propertyd instance.\n"
    "\n"
    "  --listen URL            PROPGATE_LISTEN        where callers connect "
    "(tcp://127.0.0.1:7700;\n"
    "                                                 tls+tcp:// with TLS_CERT_FILE/TLS_KEY_FILE)\n"
    "  --backend URL           PROPGATE_BACKENDS      an instance, tcp://host:port or\n"
    "                                                 tls+tcp://host:port (repeatable)\n"
    "  --backends-dns H:P      PROPGATE_BACKENDS_DNS  every address of name H, port P, "
    "re-resolved\n"
    "                                                 each second (compose scaling)\n"
    "  --http-addr HOST:PORT   PROPGATE_HTTP_ADDR     /metrics, /healthz, /readyz "
    "(127.0.0.1:7703)\n"
    "  --io-threads N          IO_THREADS             event loops (2)\n"
    "  --log-level LEVEL       LOG_LEVEL              debug, info, warn, error (info)\n"
    "                          MAX_CONNECTIONS        callers' connections per listener (4096)\n"
    "                          TLS_CA_FILE            tls+tcp:// listeners require client "
    "certificates\n"
    "  -h, --help, --version\n"
    "Environment lists are comma-separated; flags replace the environment.\n";

// Splits a comma-separated list (copied into *copy) into out[cap].
static int split(const char *list, char **copy, const char **out, size_t cap, size_t *n,
                 const char *name, char *err, size_t errcap)
{
	*copy = strdup(list);
	if (*copy == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	char *save = NULL;
	for (char *t = strtok_r(*copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		if (*t == '\0')
			continue;
		if (*n >= cap) {
			snprintf(err, errcap, "%s: at most %zu entries", name, cap);
			return -1;
		}
		out[(*n)++] = t;
	}
	return 0;
}

static int add(const char *v, const char **out, size_t cap, size_t *n, const char *flag, char *err,
               size_t errcap)
{
	if (*n >= cap) {
		snprintf(err, errcap, "%s: given more than %zu times", flag, cap);
		return -1;
	}
	out[(*n)++] = v;
	return 0;
}

static int parse_int(const char *s, const char *name, long lo, long hi, long *v, char *err,
                     size_t errcap)
{
	char *end;
	long x = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || x < lo || x > hi) {
		snprintf(err, errcap, "%s: want a whole number from %ld to %ld, got \"%s\"", name,
		         lo, hi, s);
		return -1;
	}
	*v = x;
	return 0;
}

// The repeatable lists: each from its flags, else from its comma-separated
// variable (whose copy is env_copies[list]).
enum list { L_LISTEN, L_BACKENDS, L_DNS, L_COUNT };

static const struct list_setting {
	const char *flag, *env;
	size_t cap;
} lists[L_COUNT] = {
    {"--listen", "PROPGATE_LISTEN", GATE_MAX_LISTEN},
    {"--backend", "PROPGATE_BACKENDS", GATE_MAX_URLS},
    {"--backends-dns", "PROPGATE_BACKENDS_DNS", GATE_MAX_URLS},
};

// A list's entries and count in o.
static const char **list_in(gate_options *o, enum list l, size_t **n)
{
	switch (l) {
	case L_LISTEN:
		*n = &o->nlisten;
		return o->listen;
	case L_BACKENDS:
		*n = &o->nbackends;
		return o->backends;
	case L_DNS:
	case L_COUNT:
		break;
	}
	*n = &o->ndns;
	return o->dns;
}

// Options: O_LIST + an enum list for the repeatable ones.
enum { O_LIST = 256, O_HTTP = O_LIST + L_COUNT, O_IO, O_LOG, O_VERSION };

static const struct option longs[] = {{"listen", required_argument, NULL, O_LIST + L_LISTEN},
                                      {"backend", required_argument, NULL, O_LIST + L_BACKENDS},
                                      {"backends-dns", required_argument, NULL, O_LIST + L_DNS},
                                      {"http-addr", required_argument, NULL, O_HTTP},
                                      {"io-threads", required_argument, NULL, O_IO},
                                      {"log-level", required_argument, NULL, O_LOG},
                                      {"help", no_argument, NULL, 'h'},
                                      {"version", no_argument, NULL, O_VERSION},
                                      {NULL, 0, NULL, 0}};

// The command line, in order, stopping at the first --help, --version or bad
// argument: the lists (given[list]: the flag was used), --http-addr and
// --log-level into o, --io-threads into *io.
static gate_options_result parse_args(gate_options *o, bool given[L_COUNT], const char **io,
                                      int argc, char **argv, char *err, size_t errcap)
{
	optind = 1;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
		if (ch >= O_LIST && ch < O_LIST + L_COUNT) {
			enum list l = (enum list)(ch - O_LIST);
			size_t *n;
			const char **out = list_in(o, l, &n);
			given[l] = true;
			if (add(optarg, out, lists[l].cap, n, lists[l].flag, err, errcap) != 0)
				return GATE_OPTIONS_ERROR;
			continue;
		}
		switch (ch) {
		case O_HTTP:
			o->http_addr = optarg;
			break;
		case O_IO:
			*io = optarg;
			break;
		case O_LOG:
			o->log_level = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return GATE_OPTIONS_EXIT;
		case O_VERSION:
			printf("propgate %s\n", PROPERTYD_VERSION);
			return GATE_OPTIONS_EXIT;
		case ':':
			snprintf(err, errcap, "%s needs a value (see --help)", argv[optind - 1]);
			return GATE_OPTIONS_ERROR;
		default:
			snprintf(err, errcap, "unknown option %s (see --help)", argv[optind - 1]);
			return GATE_OPTIONS_ERROR;
		}
	}
	if (optind < argc) {
		snprintf(err, errcap, "unexpected argument \"%s\" (see --help)", argv[optind]);
		return GATE_OPTIONS_ERROR;
	}
	return GATE_OPTIONS_OK;
}

// The lists not given as flags from the environment; the default listener;
// at least one backend (or DNS name) required.
static int load_lists(gate_options *o, const bool given[L_COUNT], char *err, size_t errcap)
{
	for (int l = 0; l < L_COUNT; l++) {
		const char *e = given[l] ? NULL : getenv(lists[l].env);
		size_t *n;
		const char **out = list_in(o, (enum list)l, &n);
		if (e != NULL && split(e, &o->env_copies[l], out, lists[l].cap, n, lists[l].env,
		                       err, errcap) != 0)
			return -1;
	}
	if (o->nlisten == 0)
		o->listen[o->nlisten++] = "tcp://127.0.0.1:7700";
	if (o->nbackends + o->ndns == 0) {
		snprintf(err, errcap,
		         "missing setting: --backend URL or --backends-dns HOST:PORT (or "
		         "PROPGATE_BACKENDS / PROPGATE_BACKENDS_DNS)");
		return -1;
	}
	return 0;
}

// The numbers: IO_THREADS (flag first, 2), MAX_CONNECTIONS (4096).
static int load_numbers(gate_options *o, const char *io, char *err, size_t errcap)
{
	if (io == NULL)
		io = getenv("IO_THREADS");
	long v = 2;
	if (io != NULL && parse_int(io, "IO_THREADS", 1, 64, &v, err, errcap) != 0)
		return -1;
	o->io_threads = (int)v;
	v = 4096;
	const char *e = getenv("MAX_CONNECTIONS");
	if (e != NULL && parse_int(e, "MAX_CONNECTIONS", 0, 1000000, &v, err, errcap) != 0)
		return -1;
	o->max_connections = (unsigned)v;
	return 0;
}

// The TLS files, both sides; a tls+tcp:// listener needs a certificate and key.
static int load_tls(gate_options *o, char *err, size_t errcap)
{
	o->tls_cert_file = getenv("TLS_CERT_FILE");
	o->tls_key_file = getenv("TLS_KEY_FILE");
	o->tls_ca_file = getenv("TLS_CA_FILE");
	o->backend_ca_file = getenv("BACKEND_TLS_CA_FILE");
	o->backend_cert_file = getenv("BACKEND_TLS_CERT_FILE");
	o->backend_key_file = getenv("BACKEND_TLS_KEY_FILE");
	o->backend_server_name = getenv("BACKEND_TLS_SERVER_NAME");
	for (size_t i = 0; i < o->nlisten; i++)
		if (strncmp(o->listen[i], "tls+tcp://", 10) == 0 &&
		    (o->tls_cert_file == NULL || o->tls_key_file == NULL)) {
			snprintf(
			    err, errcap,
			    "missing setting: TLS_CERT_FILE and TLS_KEY_FILE are required for %s",
			    o->listen[i]);
			return -1;
		}
	return 0;
}

// A setting's flag if given, else its variable if set (even empty), else dflt.
static const char *flag_env_or(const char *flag, const char *env, const char *dflt)
{
	if (flag == NULL)
		flag = getenv(env);
	return flag != NULL ? flag : dflt;
}

// The steps run in this order, so that of several bad settings the same one
// is always reported first.
gate_options_result gate_options_load(gate_options *o, int argc, char **argv, char *err,
                                      size_t errcap)
{
	memset(o, 0, sizeof *o);
	const char *io = NULL;
	bool given[L_COUNT] = {false};
	gate_options_result r = parse_args(o, given, &io, argc, argv, err, errcap);
	if (r != GATE_OPTIONS_OK)
		return r;
	if (load_lists(o, given, err, errcap) != 0)
		return GATE_OPTIONS_ERROR;
	o->http_addr = flag_env_or(o->http_addr, "PROPGATE_HTTP_ADDR", "127.0.0.1:7703");
	if (load_numbers(o, io, err, errcap) != 0)
		return GATE_OPTIONS_ERROR;
	o->log_level = flag_env_or(o->log_level, "LOG_LEVEL", "info");
	if (load_tls(o, err, errcap) != 0)
		return GATE_OPTIONS_ERROR;
	return GATE_OPTIONS_OK;
}

void gate_options_free(gate_options *o)
{
	for (size_t i = 0; i < sizeof o->env_copies / sizeof o->env_copies[0]; i++)
		free(o->env_copies[i]);
}
