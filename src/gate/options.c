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

int gate_options_load(gate_options *o, int argc, char **argv, char *err, size_t errcap)
{
	memset(o, 0, sizeof *o);
	static const struct option longs[] = {{"listen", required_argument, NULL, 'l'},
	                                      {"backend", required_argument, NULL, 'b'},
	                                      {"backends-dns", required_argument, NULL, 'd'},
	                                      {"http-addr", required_argument, NULL, 'H'},
	                                      {"io-threads", required_argument, NULL, 'i'},
	                                      {"log-level", required_argument, NULL, 'L'},
	                                      {"help", no_argument, NULL, 'h'},
	                                      {"version", no_argument, NULL, 'V'},
	                                      {NULL, 0, NULL, 0}};
	const char *io = NULL;
	bool f_listen = false, f_backends = false, f_dns = false;
	optind = 1;
	opterr = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
		int rc = 0;
		switch (ch) {
		case 'l':
			f_listen = true;
			rc = add(optarg, o->listen, GATE_MAX_LISTEN, &o->nlisten, "--listen", err,
			         errcap);
			break;
		case 'b':
			f_backends = true;
			rc = add(optarg, o->backends, GATE_MAX_URLS, &o->nbackends, "--backend",
			         err, errcap);
			break;
		case 'd':
			f_dns = true;
			rc = add(optarg, o->dns, GATE_MAX_URLS, &o->ndns, "--backends-dns", err,
			         errcap);
			break;
		case 'H':
			o->http_addr = optarg;
			break;
		case 'i':
			io = optarg;
			break;
		case 'L':
			o->log_level = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		case 'V':
			printf("propgate %s\n", PROPERTYD_VERSION);
			return 1;
		case ':':
			snprintf(err, errcap, "%s needs a value (see --help)", argv[optind - 1]);
			return -1;
		default:
			snprintf(err, errcap, "unknown option %s (see --help)", argv[optind - 1]);
			return -1;
		}
		if (rc != 0)
			return -1;
	}
	if (optind < argc) {
		snprintf(err, errcap, "unexpected argument \"%s\" (see --help)", argv[optind]);
		return -1;
	}
	const char *e;
	if (!f_listen && (e = getenv("PROPGATE_LISTEN")) != NULL &&
	    split(e, &o->env_copies[0], o->listen, GATE_MAX_LISTEN, &o->nlisten, "PROPGATE_LISTEN",
	          err, errcap) != 0)
		return -1;
	if (!f_backends && (e = getenv("PROPGATE_BACKENDS")) != NULL &&
	    split(e, &o->env_copies[1], o->backends, GATE_MAX_URLS, &o->nbackends,
	          "PROPGATE_BACKENDS", err, errcap) != 0)
		return -1;
	if (!f_dns && (e = getenv("PROPGATE_BACKENDS_DNS")) != NULL &&
	    split(e, &o->env_copies[2], o->dns, GATE_MAX_URLS, &o->ndns, "PROPGATE_BACKENDS_DNS",
	          err, errcap) != 0)
		return -1;
	if (o->nlisten == 0)
		o->listen[o->nlisten++] = "tcp://127.0.0.1:7700";
	if (o->nbackends + o->ndns == 0) {
		snprintf(err, errcap,
		         "missing setting: --backend URL or --backends-dns HOST:PORT (or "
		         "PROPGATE_BACKENDS / PROPGATE_BACKENDS_DNS)");
		return -1;
	}
	if (o->http_addr == NULL)
		o->http_addr = getenv("PROPGATE_HTTP_ADDR");
	if (o->http_addr == NULL)
		o->http_addr = "127.0.0.1:7703";
	if (io == NULL)
		io = getenv("IO_THREADS");
	long v = 2;
	if (io != NULL && parse_int(io, "IO_THREADS", 1, 64, &v, err, errcap) != 0)
		return -1;
	o->io_threads = (int)v;
	v = 4096;
	if ((e = getenv("MAX_CONNECTIONS")) != NULL &&
	    parse_int(e, "MAX_CONNECTIONS", 0, 1000000, &v, err, errcap) != 0)
		return -1;
	o->max_connections = (unsigned)v;
	if (o->log_level == NULL)
		o->log_level = getenv("LOG_LEVEL");
	if (o->log_level == NULL)
		o->log_level = "info";
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

void gate_options_free(gate_options *o)
{
	for (size_t i = 0; i < sizeof o->env_copies / sizeof o->env_copies[0]; i++)
		free(o->env_copies[i]);
}
