#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/secret.h"
#include "nrpc/tls.h"

#define MAX_WORKERS 1024 // far beyond what a handful of cores can use

static const char usage[] =
    "usage: propertyd [options]\n"
    "  --rpc-url URL           RPC_URL       nng listen URL (tcp://127.0.0.1:7700)\n"
    "  --events-url URL        EVENTS_URL    event PUB URL (tcp://127.0.0.1:7701)\n"
    "  --http-addr HOST:PORT   HTTP_ADDR     /metrics /healthz /readyz (127.0.0.1:7702)\n"
    "  --database-url URL      DATABASE_URL  libpq connection string (required)\n"
    "  --redis-url URL         REDIS_URL     Redis server (redis://127.0.0.1:6379/0)\n"
    "  --auth-secret-file F    AUTH_SECRET   HS256 secret, at least 32 bytes (the env var holds\n"
    "                                        the secret itself)\n"
    "  --workers N             WORKERS       request handlers (2 x cores)\n"
    "  --insecure-no-auth                    accept requests without tokens (development only)\n"
    "  --help, --version\n"
    "environment only: DB_POOL_SIZE (2 x workers), DB_NO_PREPARE (0),\n"
    "  IO_THREADS (cores: event loops of the request path), DB_BATCH_MAX (32: creates per group "
    "commit),\n"
    "  EVENT_RETENTION (7d), TOKEN_MAX_LIFETIME (24h), SLOW_QUERY_MS (100; -1 never), LOG_LEVEL "
    "(info), LOG_REQUESTS (1),\n"
    "  MAX_INFLIGHT_PER_CALLER (64; requests of one token subject in flight, 0 = no limit),\n"
    "  REFUSAL_RATE (10000; refusals a second one RPC connection may draw before its reading\n"
    "    pauses, 0 = no limit),\n"
    "  RPC_TRANSPORT (loops: tcp:// and tls+tcp:// served on the event loops; nng: by nng,\n"
    "  as ipc:// always is),\n"
    "  MAX_CONNECTIONS (4096; RPC connections, 0 = no cap), MAX_SUBSCRIBERS (1024; event\n"
    "  stream connections, 0 = no cap), HTTP_MAX_CONNECTIONS (64), HTTP_TIMEOUT_MS (5000;\n"
    "  a whole HTTP request must arrive within it),\n"
    "  OBSERVE (1; 0 = no per-request metrics or logs, for overhead benchmarks),\n"
    "  RELAY (1; 0 = this instance never leads the event relay),\n"
    "  TLS_CERT_FILE, TLS_KEY_FILE (for tls+tcp://), TLS_CA_FILE (mutual TLS; required for a\n"
    "  tls+tcp:// EVENTS_URL unless EVENTS_TLS_CA_FILE names the subscribers' CA),\n"
    "  TLS_ALLOWED_PEERS (client certificate identities let into a tls+tcp:// RPC_URL,\n"
    "  comma-separated; needs TLS_CA_FILE and RPC_TRANSPORT=loops)\n";

static const char *pick(const char *flag, const char *env, const char *dflt)
{
	if (flag != NULL)
		return flag;
	const char *v = getenv(env);
	return (v != NULL && v[0] != '\0') ? v : dflt;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

// A positive whole number of seconds in the shared duration syntax
// (base/duration.h): "7d", "12h", "30m", "45s", "1.5h" or plain seconds.
static int parse_duration_s(const char *s, int64_t *out)
{
	int64_t us;
	if (base_duration_parse(s, BASE_DUR_S, &us, NULL, 0) != 0 || us < 1000000 ||
	    us % 1000000 != 0)
		return -1;
	*out = us / 1000000;
	return 0;
}

// TLS_ALLOWED_PEERS: 1..NRPC_TLS_ALLOWED_COUNT names, none empty (spaces
// around a name do not count), at most NRPC_TLS_ALLOWED_MAX bytes in all.
static bool allowed_peers_ok(const char *list)
{
	if (strlen(list) > NRPC_TLS_ALLOWED_MAX)
		return false;
	size_t names = 0;
	for (const char *p = list;; p++) {
		size_t chars = 0;
		for (; *p != ',' && *p != '\0'; p++)
			chars += *p != ' ';
		if (chars == 0 || ++names > NRPC_TLS_ALLOWED_COUNT)
			return false;
		if (*p == '\0')
			return true;
	}
}

// The TLS settings against the URLs that use them (docs/security.md).
static int check_tls(const app_config *cfg, char *err, size_t errcap)
{
	bool rpc_tls = strncmp(cfg->rpc_url, "tls+", 4) == 0;
	bool ev_tls = strncmp(cfg->events_url, "tls+", 4) == 0;
	if ((rpc_tls || ev_tls) && (cfg->tls_cert_file == NULL || cfg->tls_key_file == NULL)) {
		snprintf(err, errcap,
		         "missing setting: TLS_CERT_FILE and TLS_KEY_FILE are required "
		         "for a tls+tcp:// %s",
		         rpc_tls ? "--rpc-url" : "--events-url");
		return -1;
	}
	// The stream carries full property records and has no token: TLS
	// without client certificates would let anyone subscribe.
	if (ev_tls && cfg->events_tls_ca_file == NULL) {
		snprintf(err, errcap,
		         "missing setting: a tls+tcp:// --events-url needs TLS_CA_FILE (or "
		         "EVENTS_TLS_CA_FILE): subscribers must present client certificates");
		return -1;
	}
	if (cfg->tls_allowed_peers == NULL)
		return 0;
	if (!allowed_peers_ok(cfg->tls_allowed_peers)) {
		snprintf(err, errcap,
		         "invalid TLS_ALLOWED_PEERS: want 1..%d comma-separated identities, none "
		         "empty, at most %d bytes",
		         NRPC_TLS_ALLOWED_COUNT, NRPC_TLS_ALLOWED_MAX);
		return -1;
	}
	if (!rpc_tls || cfg->tls_ca_file == NULL || cfg->rpc_nng) {
		snprintf(err, errcap,
		         "TLS_ALLOWED_PEERS needs a tls+tcp:// --rpc-url, TLS_CA_FILE and "
		         "RPC_TRANSPORT=loops (nng cannot tell who the peer is)");
		return -1;
	}
	return 0;
}

// The file's secret by the rule the clients share (base/secret.h): a trailing
// newline (as editors and `echo` write) is not part of it.
static int read_secret_file(app_config *cfg, const char *path, char *err, size_t errcap)
{
	switch (base_secret_read(path, CONFIG_MAX_SECRET, &cfg->secret, &cfg->secret_len)) {
	case BASE_SECRET_OK:
		return 0;
	case BASE_SECRET_UNREADABLE:
		snprintf(err, errcap, "cannot read --auth-secret-file %s: %s", path,
		         strerror(errno));
		return -1;
	case BASE_SECRET_TOO_LARGE:
		snprintf(err, errcap, "--auth-secret-file %s is larger than %d bytes", path,
		         CONFIG_MAX_SECRET);
		return -1;
	case BASE_SECRET_EMPTY:
		snprintf(err, errcap, "--auth-secret-file %s is empty", path);
		return -1;
	case BASE_SECRET_NO_MEMORY:
		break;
	}
	snprintf(err, errcap, "out of memory");
	return -1;
}

int app_config_load(app_config *cfg, int argc, char **argv, char *err, size_t errcap)
{
	enum { O_RPC = 256, O_EVENTS, O_HTTP, O_DB, O_REDIS, O_SECRET, O_WORKERS, O_INSECURE };
	static const struct option opts[] = {
	    {"rpc-url", required_argument, NULL, O_RPC},
	    {"events-url", required_argument, NULL, O_EVENTS},
	    {"http-addr", required_argument, NULL, O_HTTP},
	    {"database-url", required_argument, NULL, O_DB},
	    {"redis-url", required_argument, NULL, O_REDIS},
	    {"auth-secret-file", required_argument, NULL, O_SECRET},
	    {"workers", required_argument, NULL, O_WORKERS},
	    {"insecure-no-auth", no_argument, NULL, O_INSECURE},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *f_rpc = NULL, *f_events = NULL, *f_http = NULL, *f_db = NULL, *f_redis = NULL;
	const char *f_secret = NULL, *f_workers = NULL;
	memset(cfg, 0, sizeof(*cfg));
	opterr = 0;
	optind = 0; // 0, not 1: glibc then also forgets a scan left inside a "-ab" group
	int ch;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (ch) {
		case O_RPC:
			f_rpc = optarg;
			break;
		case O_EVENTS:
			f_events = optarg;
			break;
		case O_HTTP:
			f_http = optarg;
			break;
		case O_DB:
			f_db = optarg;
			break;
		case O_REDIS:
			f_redis = optarg;
			break;
		case O_SECRET:
			f_secret = optarg;
			break;
		case O_WORKERS:
			f_workers = optarg;
			break;
		case O_INSECURE:
			cfg->insecure_no_auth = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		case 'V':
			printf("propertyd %s\n", PROPERTYD_VERSION);
			return 1;
		case ':':
			snprintf(err, errcap, "option %s needs a value", argv[optind - 1]);
			return -1;
		default:
			if (optopt > 0 && optopt < 256) // a short option, maybe inside "-ab"
				snprintf(err, errcap, "unknown option -%c (see --help)", optopt);
			else
				snprintf(err, errcap, "unknown option %s (see --help)",
				         argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errcap, "unexpected argument %s (see --help)", argv[optind]);
		return -1;
	}
	cfg->rpc_url = pick(f_rpc, "RPC_URL", "tcp://127.0.0.1:7700");
	cfg->events_url = pick(f_events, "EVENTS_URL", "tcp://127.0.0.1:7701");
	cfg->http_addr = pick(f_http, "HTTP_ADDR", "127.0.0.1:7702");
	cfg->database_url = pick(f_db, "DATABASE_URL", NULL);
	cfg->redis_url = pick(f_redis, "REDIS_URL", "redis://127.0.0.1:6379/0");
	cfg->log_level = pick(NULL, "LOG_LEVEL", "info");
	if (cfg->database_url == NULL) {
		snprintf(err, errcap,
		         "missing setting: --database-url or DATABASE_URL is required");
		return -1;
	}
	// nng's own URL parser reads past its copy of "tcp://@" (1.5.2): the
	// listen URLs reach it only with a plain shape and no userinfo.
	const char *const lurls[2] = {cfg->rpc_url, cfg->events_url};
	static const char *const lnames[2] = {"RPC_URL", "EVENTS_URL"};
	for (int i = 0; i < 2; i++) {
		const char *u = lurls[i];
		bool scheme = strncmp(u, "tcp://", 6) == 0 || strncmp(u, "tls+tcp://", 10) == 0 ||
		              strncmp(u, "ipc://", 6) == 0;
		bool clean = true;
		for (const char *c = u; *c != '\0'; c++)
			if ((unsigned char)*c <= ' ' || *c == '@' || *c == '?' || *c == '#')
				clean = false;
		if (!scheme || !clean) {
			snprintf(err, errcap,
			         "invalid %s %s: want tcp://host:port, tls+tcp://host:port or "
			         "ipc:///path",
			         lnames[i], u);
			return -1;
		}
	}

	long v;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	const char *w = pick(f_workers, "WORKERS", NULL);
	if (w == NULL) {
		cfg->workers = (int)(2 * (cores > 0 ? cores : 1));
	} else if (parse_int(w, 1, MAX_WORKERS, &v) != 0) {
		snprintf(err, errcap, "invalid --workers/WORKERS %s: need 1..%d", w, MAX_WORKERS);
		return -1;
	} else {
		cfg->workers = (int)v;
	}
	const char *ps = pick(NULL, "DB_POOL_SIZE", NULL);
	cfg->db_pool_size = 2 * cfg->workers;
	if (ps != NULL) {
		if (parse_int(ps, 1, 1000, &v) != 0) {
			snprintf(err, errcap, "invalid DB_POOL_SIZE %s: need 1..1000", ps);
			return -1;
		}
		cfg->db_pool_size = (int)v;
	}
	const char *np = pick(NULL, "DB_NO_PREPARE", "0");
	cfg->db_no_prepare = strcmp(np, "0") != 0 && strcmp(np, "false") != 0;
	// One event loop per core: measured on 2 cores, two loops served cached
	// reads 22% faster than one, at less CPU per request.
	const char *io = pick(NULL, "IO_THREADS", NULL);
	if (io == NULL) {
		cfg->io_threads = (int)(cores > 0 ? (cores < 64 ? cores : 64) : 1);
	} else if (parse_int(io, 1, 64, &v) != 0) {
		snprintf(err, errcap, "invalid IO_THREADS %s: need 1..64", io);
		return -1;
	} else {
		cfg->io_threads = (int)v;
	}
	const char *bm = pick(NULL, "DB_BATCH_MAX", "32");
	if (parse_int(bm, 1, 256, &v) != 0) {
		snprintf(err, errcap, "invalid DB_BATCH_MAX %s: need 1..256", bm);
		return -1;
	}
	cfg->db_batch_max = (int)v;
	const char *bf = pick(NULL, "DB_BATCHES_IN_FLIGHT", "1");
	if (parse_int(bf, 1, 16, &v) != 0) {
		snprintf(err, errcap, "invalid DB_BATCHES_IN_FLIGHT %s: need 1..16", bf);
		return -1;
	}
	cfg->db_batches_in_flight = (int)v;
	const char *mi = pick(NULL, "MAX_INFLIGHT_PER_CALLER", "64");
	if (parse_int(mi, 0, 100000, &v) != 0) {
		snprintf(err, errcap,
		         "invalid MAX_INFLIGHT_PER_CALLER %s: need 0..100000 (0: no limit)", mi);
		return -1;
	}
	cfg->max_inflight_per_caller = (unsigned)v;
	const char *rr = pick(NULL, "REFUSAL_RATE", "10000");
	if (parse_int(rr, 0, 10000000, &v) != 0) {
		snprintf(err, errcap, "invalid REFUSAL_RATE %s: need 0..10000000 (0: no limit)",
		         rr);
		return -1;
	}
	cfg->refusal_rate = (unsigned)v;
	static const struct {
		const char *env, *dflt;
		long lo, hi;
		const char *why;
	} caps[] = {
	    {"MAX_CONNECTIONS", "4096", 0, 1000000, "0..1000000 (0: no cap)"},
	    {"MAX_SUBSCRIBERS", "1024", 0, 1000000, "0..1000000 (0: no cap)"},
	    {"HTTP_MAX_CONNECTIONS", "64", 1, 1024, "1..1024"},
	    {"HTTP_TIMEOUT_MS", "5000", 100, 600000, "100..600000"},
	};
	long capv[4];
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		const char *cv = pick(NULL, caps[i].env, caps[i].dflt);
		if (parse_int(cv, caps[i].lo, caps[i].hi, &capv[i]) != 0) {
			snprintf(err, errcap, "invalid %s %s: need %s", caps[i].env, cv,
			         caps[i].why);
			return -1;
		}
	}
	cfg->max_connections = (unsigned)capv[0];
	const char *tr = pick(NULL, "RPC_TRANSPORT", "loops");
	if (strcmp(tr, "loops") != 0 && strcmp(tr, "nng") != 0) {
		snprintf(err, errcap, "invalid RPC_TRANSPORT %s: need loops or nng", tr);
		return -1;
	}
	cfg->rpc_nng = strcmp(tr, "nng") == 0;
	cfg->max_subscribers = (unsigned)capv[1];
	cfg->http_max_connections = (unsigned)capv[2];
	cfg->http_timeout_ms = (int)capv[3];
	const char *sq = pick(NULL, "SLOW_QUERY_MS", "100");
	if (parse_int(sq, -1, 3600000, &v) != 0 || v == 0) {
		snprintf(err, errcap, "invalid SLOW_QUERY_MS %s: need 1..3600000, or -1 for never",
		         sq);
		return -1;
	}
	cfg->slow_query_ms = (int)v;
	const char *er = pick(NULL, "EVENT_RETENTION", "7d");
	if (parse_duration_s(er, &cfg->event_retention_s) != 0) {
		snprintf(err, errcap,
		         "invalid EVENT_RETENTION %s: use e.g. 7d, 12h, 3600 (whole seconds, at "
		         "least 1)",
		         er);
		return -1;
	}
	const char *tl = pick(NULL, "TOKEN_MAX_LIFETIME", "24h");
	if (parse_duration_s(tl, &cfg->token_max_lifetime_s) != 0) {
		snprintf(err, errcap,
		         "invalid TOKEN_MAX_LIFETIME %s: use e.g. 24h, 30m, 3600 (whole seconds, "
		         "at least 1)",
		         tl);
		return -1;
	}
	const char *lr = pick(NULL, "LOG_REQUESTS", "1");
	cfg->log_requests = strcmp(lr, "0") != 0 && strcmp(lr, "false") != 0;
	const char *ob = pick(NULL, "OBSERVE", "1");
	cfg->observe = strcmp(ob, "0") != 0 && strcmp(ob, "false") != 0;
	cfg->tls_cert_file = pick(NULL, "TLS_CERT_FILE", NULL);
	cfg->tls_key_file = pick(NULL, "TLS_KEY_FILE", NULL);
	cfg->tls_ca_file = pick(NULL, "TLS_CA_FILE", NULL);
	cfg->events_tls_ca_file = pick(NULL, "EVENTS_TLS_CA_FILE", cfg->tls_ca_file);
	cfg->tls_allowed_peers = pick(NULL, "TLS_ALLOWED_PEERS", NULL);
	if (check_tls(cfg, err, errcap) != 0)
		return -1;
	const char *rl = pick(NULL, "RELAY", "1");
	cfg->relay = strcmp(rl, "0") != 0 && strcmp(rl, "false") != 0;

	if (f_secret != NULL) {
		if (read_secret_file(cfg, f_secret, err, errcap) != 0)
			return -1;
	} else {
		const char *env = getenv("AUTH_SECRET");
		if (env != NULL && env[0] != '\0') {
			size_t n = strlen(env);
			cfg->secret = malloc(n);
			if (cfg->secret == NULL) {
				snprintf(err, errcap, "out of memory");
				return -1;
			}
			memcpy(cfg->secret, env, n);
			cfg->secret_len = n;
		}
	}
	if (cfg->secret == NULL && !cfg->insecure_no_auth) {
		snprintf(err, errcap,
		         "missing setting: --auth-secret-file or AUTH_SECRET is required "
		         "(or --insecure-no-auth for development)");
		return -1;
	}
	// HS256 with a short key can be brute-forced offline from one token. Under
	// --insecure-no-auth no token is checked, so no secret is needed at all.
	if (cfg->secret != NULL && !cfg->insecure_no_auth && cfg->secret_len < CONFIG_MIN_SECRET) {
		snprintf(err, errcap, "%s is too short: %zu bytes, need at least %d",
		         f_secret != NULL ? "--auth-secret-file" : "AUTH_SECRET", cfg->secret_len,
		         CONFIG_MIN_SECRET);
		return -1;
	}
	return 0;
}

void app_config_free(app_config *cfg)
{
	free(cfg->secret);
	cfg->secret = NULL;
}
