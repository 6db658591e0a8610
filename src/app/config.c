#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
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

// The flags that name a setting, by index into parse_args' out[].
enum flag { F_RPC, F_EVENTS, F_HTTP, F_DB, F_REDIS, F_SECRET, F_WORKERS, F_COUNT };

// Options: O_FLAG + an enum flag for those that take a value, then the switches.
enum { O_FLAG = 256, O_INSECURE = O_FLAG + F_COUNT };

static const struct option opts[] = {
    {"rpc-url", required_argument, NULL, O_FLAG + F_RPC},
    {"events-url", required_argument, NULL, O_FLAG + F_EVENTS},
    {"http-addr", required_argument, NULL, O_FLAG + F_HTTP},
    {"database-url", required_argument, NULL, O_FLAG + F_DB},
    {"redis-url", required_argument, NULL, O_FLAG + F_REDIS},
    {"auth-secret-file", required_argument, NULL, O_FLAG + F_SECRET},
    {"workers", required_argument, NULL, O_FLAG + F_WORKERS},
    {"insecure-no-auth", no_argument, NULL, O_INSECURE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

// The command line: each flag's value into flag[] (NULL: not given), in order,
// stopping at the first --help, --version or bad argument.
static app_config_result parse_args(app_config *cfg, const char *flag[F_COUNT], int argc,
                                    char **argv, char *err, size_t errcap)
{
	opterr = 0;
	optind = 0; // 0, not 1: glibc then also forgets a scan left inside a "-ab" group
	int ch;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (ch >= O_FLAG && ch < O_FLAG + F_COUNT) {
			flag[ch - O_FLAG] = optarg;
			continue;
		}
		switch (ch) {
		case O_INSECURE:
			cfg->insecure_no_auth = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return APP_CONFIG_EXIT;
		case 'V':
			printf("propertyd %s\n", PROPERTYD_VERSION);
			return APP_CONFIG_EXIT;
		case ':':
			snprintf(err, errcap, "option %s needs a value", argv[optind - 1]);
			return APP_CONFIG_ERROR;
		default:
			if (optopt > 0 && optopt < 256) // a short option, maybe inside "-ab"
				snprintf(err, errcap, "unknown option -%c (see --help)", optopt);
			else
				snprintf(err, errcap, "unknown option %s (see --help)",
				         argv[optind - 1]);
			return APP_CONFIG_ERROR;
		}
	}
	if (optind < argc) {
		snprintf(err, errcap, "unexpected argument %s (see --help)", argv[optind]);
		return APP_CONFIG_ERROR;
	}
	return APP_CONFIG_OK;
}

// nng's own URL parser reads past its copy of "tcp://@" (1.5.2): the
// listen URLs reach it only with a plain shape and no userinfo.
static int check_listen_url(const char *name, const char *u, char *err, size_t errcap)
{
	bool scheme = strncmp(u, "tcp://", 6) == 0 || strncmp(u, "tls+tcp://", 10) == 0 ||
	              strncmp(u, "ipc://", 6) == 0;
	bool clean = true;
	for (const char *c = u; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || *c == '@' || *c == '?' || *c == '#')
			clean = false;
	if (scheme && clean)
		return 0;
	snprintf(err, errcap,
	         "invalid %s %s: want tcp://host:port, tls+tcp://host:port or "
	         "ipc:///path",
	         name, u);
	return -1;
}

// The addresses: listen URLs, HTTP, PostgreSQL (required), Redis; and LOG_LEVEL.
static int load_urls(app_config *cfg, const char *const flag[F_COUNT], char *err, size_t errcap)
{
	cfg->rpc_url = pick(flag[F_RPC], "RPC_URL", "tcp://127.0.0.1:7700");
	cfg->events_url = pick(flag[F_EVENTS], "EVENTS_URL", "tcp://127.0.0.1:7701");
	cfg->http_addr = pick(flag[F_HTTP], "HTTP_ADDR", "127.0.0.1:7702");
	cfg->database_url = pick(flag[F_DB], "DATABASE_URL", NULL);
	cfg->redis_url = pick(flag[F_REDIS], "REDIS_URL", "redis://127.0.0.1:6379/0");
	cfg->log_level = pick(NULL, "LOG_LEVEL", "info");
	if (cfg->database_url == NULL) {
		snprintf(err, errcap,
		         "missing setting: --database-url or DATABASE_URL is required");
		return -1;
	}
	if (check_listen_url("RPC_URL", cfg->rpc_url, err, errcap) != 0 ||
	    check_listen_url("EVENTS_URL", cfg->events_url, err, errcap) != 0)
		return -1;
	return 0;
}

// An integer setting's text within lo..hi, or -1 with "invalid NAME TEXT: need RANGE".
static int int_setting(const char *name, const char *s, long lo, long hi, const char *range,
                       long *out, char *err, size_t errcap)
{
	if (parse_int(s, lo, hi, out) == 0)
		return 0;
	snprintf(err, errcap, "invalid %s %s: need %s", name, s, range);
	return -1;
}

#define STR_(x) #x
#define STR(x)  STR_(x)

// The thread counts, whose defaults follow the cores: WORKERS (2 x cores),
// DB_POOL_SIZE (2 x workers), IO_THREADS (cores, at most 64).
static int load_threads(app_config *cfg, const char *f_workers, char *err, size_t errcap)
{
	long v;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;
	const char *w = pick(f_workers, "WORKERS", NULL);
	cfg->workers = (int)(2 * cores);
	if (w != NULL) {
		if (int_setting("--workers/WORKERS", w, 1, MAX_WORKERS, "1.." STR(MAX_WORKERS), &v,
		                err, errcap) != 0)
			return -1;
		cfg->workers = (int)v;
	}
	const char *ps = pick(NULL, "DB_POOL_SIZE", NULL);
	cfg->db_pool_size = 2 * cfg->workers;
	if (ps != NULL) {
		if (int_setting("DB_POOL_SIZE", ps, 1, 1000, "1..1000", &v, err, errcap) != 0)
			return -1;
		cfg->db_pool_size = (int)v;
	}
	// One event loop per core: measured on 2 cores, two loops served cached
	// reads 22% faster than one, at less CPU per request.
	const char *io = pick(NULL, "IO_THREADS", NULL);
	cfg->io_threads = (int)(cores < 64 ? cores : 64);
	if (io != NULL) {
		if (int_setting("IO_THREADS", io, 1, 64, "1..64", &v, err, errcap) != 0)
			return -1;
		cfg->io_threads = (int)v;
	}
	return 0;
}

// The environment-only integer settings with a fixed default, in the order
// they are checked; each is stored into the int or unsigned field at off.
static const struct int_env {
	const char *env, *dflt;
	long lo, hi;
	const char *range;
	size_t off;
	bool is_unsigned;
} int_envs[] = {
    {"DB_BATCH_MAX", "32", 1, 256, "1..256", offsetof(app_config, db_batch_max), false},
    {"DB_BATCHES_IN_FLIGHT", "1", 1, 16, "1..16", offsetof(app_config, db_batches_in_flight),
     false},
    {"MAX_INFLIGHT_PER_CALLER", "64", 0, 100000, "0..100000 (0: no limit)",
     offsetof(app_config, max_inflight_per_caller), true},
    {"REFUSAL_RATE", "10000", 0, 10000000, "0..10000000 (0: no limit)",
     offsetof(app_config, refusal_rate), true},
    {"MAX_CONNECTIONS", "4096", 0, 1000000, "0..1000000 (0: no cap)",
     offsetof(app_config, max_connections), true},
    {"MAX_SUBSCRIBERS", "1024", 0, 1000000, "0..1000000 (0: no cap)",
     offsetof(app_config, max_subscribers), true},
    {"HTTP_MAX_CONNECTIONS", "64", 1, 1024, "1..1024", offsetof(app_config, http_max_connections),
     true},
    {"HTTP_TIMEOUT_MS", "5000", 100, 600000, "100..600000", offsetof(app_config, http_timeout_ms),
     false},
};

static int load_int_envs(app_config *cfg, char *err, size_t errcap)
{
	for (size_t i = 0; i < sizeof(int_envs) / sizeof(int_envs[0]); i++) {
		const struct int_env *e = &int_envs[i];
		const char *s = pick(NULL, e->env, e->dflt);
		long v;
		if (int_setting(e->env, s, e->lo, e->hi, e->range, &v, err, errcap) != 0)
			return -1;
		char *field = (char *)cfg + e->off;
		if (e->is_unsigned) {
			unsigned u = (unsigned)v;
			memcpy(field, &u, sizeof(u));
		} else {
			int n = (int)v;
			memcpy(field, &n, sizeof(n));
		}
	}
	return 0;
}

// A switch that is on unless its text is "0" or "false".
static bool env_on(const char *env, const char *dflt)
{
	const char *v = pick(NULL, env, dflt);
	return strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

// A duration setting (parse_duration_s), or -1 naming examples of the syntax.
static int duration_setting(const char *env, const char *dflt, const char *examples, int64_t *out,
                            char *err, size_t errcap)
{
	const char *s = pick(NULL, env, dflt);
	if (parse_duration_s(s, out) == 0)
		return 0;
	snprintf(err, errcap, "invalid %s %s: use e.g. %s, 3600 (whole seconds, at least 1)", env,
	         s, examples);
	return -1;
}

// The rest of the environment-only settings: switches, the RPC transport,
// the slow-query threshold and the durations.
static int load_env_rest(app_config *cfg, char *err, size_t errcap)
{
	cfg->db_no_prepare = env_on("DB_NO_PREPARE", "0");
	const char *tr = pick(NULL, "RPC_TRANSPORT", "loops");
	if (strcmp(tr, "loops") != 0 && strcmp(tr, "nng") != 0) {
		snprintf(err, errcap, "invalid RPC_TRANSPORT %s: need loops or nng", tr);
		return -1;
	}
	cfg->rpc_nng = strcmp(tr, "nng") == 0;
	long v;
	const char *sq = pick(NULL, "SLOW_QUERY_MS", "100");
	if (parse_int(sq, -1, 3600000, &v) != 0 || v == 0) {
		snprintf(err, errcap, "invalid SLOW_QUERY_MS %s: need 1..3600000, or -1 for never",
		         sq);
		return -1;
	}
	cfg->slow_query_ms = (int)v;
	if (duration_setting("EVENT_RETENTION", "7d", "7d, 12h", &cfg->event_retention_s, err,
	                     errcap) != 0 ||
	    duration_setting("TOKEN_MAX_LIFETIME", "24h", "24h, 30m", &cfg->token_max_lifetime_s,
	                     err, errcap) != 0)
		return -1;
	cfg->log_requests = env_on("LOG_REQUESTS", "1");
	cfg->observe = env_on("OBSERVE", "1");
	cfg->relay = env_on("RELAY", "1");
	return 0;
}

// The TLS files and allow-list, checked against the URLs (check_tls).
static int load_tls(app_config *cfg, char *err, size_t errcap)
{
	cfg->tls_cert_file = pick(NULL, "TLS_CERT_FILE", NULL);
	cfg->tls_key_file = pick(NULL, "TLS_KEY_FILE", NULL);
	cfg->tls_ca_file = pick(NULL, "TLS_CA_FILE", NULL);
	cfg->events_tls_ca_file = pick(NULL, "EVENTS_TLS_CA_FILE", cfg->tls_ca_file);
	cfg->tls_allowed_peers = pick(NULL, "TLS_ALLOWED_PEERS", NULL);
	return check_tls(cfg, err, errcap);
}

// The auth secret: the file named by the flag, else AUTH_SECRET itself;
// required, and long enough, unless --insecure-no-auth.
static int load_secret(app_config *cfg, const char *f_secret, char *err, size_t errcap)
{
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

// The steps run in this order, so that of several bad settings the same one
// is always reported first.
app_config_result app_config_load(app_config *cfg, int argc, char **argv, char *err, size_t errcap)
{
	const char *flag[F_COUNT] = {NULL};
	memset(cfg, 0, sizeof(*cfg));
	app_config_result r = parse_args(cfg, flag, argc, argv, err, errcap);
	if (r != APP_CONFIG_OK)
		return r;
	if (load_urls(cfg, flag, err, errcap) != 0 ||
	    load_threads(cfg, flag[F_WORKERS], err, errcap) != 0 ||
	    load_int_envs(cfg, err, errcap) != 0 || load_env_rest(cfg, err, errcap) != 0 ||
	    load_tls(cfg, err, errcap) != 0 || load_secret(cfg, flag[F_SECRET], err, errcap) != 0)
		return APP_CONFIG_ERROR;
	return APP_CONFIG_OK;
}

void app_config_free(app_config *cfg)
{
	free(cfg->secret);
	cfg->secret = NULL;
}
