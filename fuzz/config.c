// fuzz_config: propertyd's configuration from argv and the environment
// (src/app/config.h). The input is a list of NUL-separated fields: a field
// "NAME=value" whose NAME is one of the settings' environment variables sets
// that variable (all are unset before each input); every other field is a
// command-line argument after argv[0].
//
// Checks beyond the sanitizers: app_config_load returns one of its enum's
// values; APP_CONFIG_ERROR comes with one line of text (unless the input
// brought the newline); with FUZZ_STRICT=1 a second call on the same argv gives
// the same verdict; APP_CONFIG_OK leaves every setting within its documented
// range and a secret of at least CONFIG_MIN_SECRET bytes unless
// --insecure-no-auth; the Redis URL chosen is then handed to the cache's
// parser, as propertyd does.
//
// Inputs naming /dev or /proc (a secret file such as /dev/stdin would block)
// are skipped. --help and --version print to stdout, which is /dev/null here.
#include <getopt.h>
#include <inttypes.h>
#include <unistd.h>

#include "app/config.h"
#include "cache/redis_url.h"
#include "fuzz.h"

#define MAX_FIELDS 32

static const char *const env_names[] = {
    "RPC_URL",
    "EVENTS_URL",
    "HTTP_ADDR",
    "DATABASE_URL",
    "REDIS_URL",
    "AUTH_SECRET",
    "WORKERS",
    "DB_POOL_SIZE",
    "DB_NO_PREPARE",
    "IO_THREADS",
    "DB_BATCH_MAX",
    "MAX_INFLIGHT_PER_CALLER",
    "SLOW_QUERY_MS",
    "LOG_LEVEL",
    "EVENT_RETENTION",
    "TOKEN_MAX_LIFETIME",
    "LOG_REQUESTS",
    "OBSERVE",
    "RELAY",
    "TLS_CERT_FILE",
    "TLS_KEY_FILE",
    "TLS_CA_FILE",
    "MAX_CONNECTIONS",
    "MAX_SUBSCRIBERS",
    "HTTP_MAX_CONNECTIONS",
    "HTTP_TIMEOUT_MS",
};
#define NENV (sizeof(env_names) / sizeof(env_names[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (freopen("/dev/null", "w", stdout) == NULL)
		abort();
	return 0;
}

// The environment variable a field sets, or -1.
static int env_index(const char *f)
{
	const char *eq = strchr(f, '=');
	if (eq == NULL)
		return -1;
	for (size_t i = 0; i < NENV; i++)
		if (strlen(env_names[i]) == (size_t)(eq - f) &&
		    memcmp(env_names[i], f, (size_t)(eq - f)) == 0)
			return (int)i;
	return -1;
}

static void check(const app_config *c)
{
	FUZZ_ASSERT(c->rpc_url && c->events_url && c->http_addr && c->database_url &&
	                c->redis_url && c->log_level,
	            "a setting is NULL");
	FUZZ_ASSERT(c->workers >= 1 && c->workers <= 1024, "workers %d", c->workers);
	FUZZ_ASSERT(c->db_pool_size >= 1, "db_pool_size %d", c->db_pool_size);
	FUZZ_ASSERT(c->io_threads >= 1 && c->io_threads <= 64, "io_threads %d", c->io_threads);
	FUZZ_ASSERT(c->db_batch_max >= 1 && c->db_batch_max <= 256, "db_batch_max %d",
	            c->db_batch_max);
	FUZZ_ASSERT(c->max_inflight_per_caller <= 100000, "max_inflight %u",
	            c->max_inflight_per_caller);
	FUZZ_ASSERT(c->slow_query_ms == -1 ||
	                (c->slow_query_ms >= 1 && c->slow_query_ms <= 3600000),
	            "slow_query_ms %d", c->slow_query_ms);
	FUZZ_ASSERT(c->event_retention_s > 0, "event_retention_s %lld",
	            (long long)c->event_retention_s);
	FUZZ_ASSERT(c->token_max_lifetime_s > 0, "token_max_lifetime_s %lld",
	            (long long)c->token_max_lifetime_s);
	if (!c->insecure_no_auth)
		FUZZ_ASSERT(c->secret != NULL && c->secret_len >= CONFIG_MIN_SECRET,
		            "secret of %zu bytes accepted", c->secret_len);
	cache_url u;
	char err[128];
	(void)cache_url_parse(c->redis_url, &u, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	char *argv[MAX_FIELDS + 2];
	int argc = 0;
	argv[argc++] = "propertyd";
	for (size_t i = 0; i < NENV; i++)
		unsetenv(env_names[i]);
	int skip = 0;
	for (size_t off = 0; off <= size && argc <= MAX_FIELDS && !skip;) {
		char *f = text + off;
		size_t n = strlen(f);
		if (strstr(f, "dev") != NULL || strstr(f, "proc") != NULL)
			skip = 1;
		int e = env_index(f);
		if (e >= 0)
			setenv(env_names[e], strchr(f, '=') + 1, 1);
		else if (n > 0 || off < size)
			argv[argc++] = f;
		off += n + 1;
	}
	argv[argc] = NULL;
	if (!skip) {
		app_config cfg;
		char err[256];
		memset(err, 0, sizeof(err));
		app_config_result rc = app_config_load(&cfg, argc, argv, err, sizeof(err));
		{
			// The same argv twice must give the same verdict (getopt's state
			// is reset by app_config_load itself).
			app_config again;
			char err2[256];
			memset(err2, 0, sizeof(err2));
			app_config_result rc2 =
			    app_config_load(&again, argc, argv, err2, sizeof(err2));
			app_config_free(&again);
			FUZZ_ASSERT(rc == rc2 && strcmp(err, err2) == 0,
			            "a second call disagrees: %d '%s', then %d '%s'", (int)rc, err,
			            (int)rc2, err2);
		}
		FUZZ_ASSERT(rc == APP_CONFIG_OK || rc == APP_CONFIG_ERROR || rc == APP_CONFIG_EXIT,
		            "rc %d", (int)rc);
		// One line, unless the input itself brought a newline (echoed).
		if (rc == APP_CONFIG_ERROR)
			FUZZ_ASSERT(err[0] != '\0' && (strchr(err, '\n') == NULL ||
			                               memchr(data, '\n', size) != NULL),
			            "not one line of reason: '%s'", err);
		if (rc == APP_CONFIG_OK)
			check(&cfg);
		app_config_free(&cfg);
	}
	free(text);
	return skip ? -1 : 0;
}
