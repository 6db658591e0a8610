// app config: propertyd's settings from flags, then environment, then defaults
// (docs/contract.md section 1).
//
// app_config_load() never exits: it returns APP_CONFIG_OK, or APP_CONFIG_ERROR
// with exactly one line of text in err naming the bad or missing setting, or
// APP_CONFIG_EXIT when --help/--version was printed. Strings point into argv,
// the environment, or cfg->secret (owned by cfg, freed by app_config_free).
#ifndef APP_CONFIG_H
#define APP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_SECRET 4096 // bytes of an auth secret file
#define CONFIG_MIN_SECRET 32   // shortest auth secret accepted, bytes

typedef struct app_config {
	const char *rpc_url;
	const char *events_url;
	const char *http_addr;
	const char *database_url;
	const char *redis_url;
	uint8_t *secret; // malloc'd copy, NULL under insecure mode
	size_t secret_len;
	int workers;
	bool insecure_no_auth;
	int db_pool_size;
	bool db_no_prepare;
	int io_threads;                   // IO_THREADS: event loops carrying the request path
	int db_batches_in_flight;         // DB_BATCHES_IN_FLIGHT: group commits per loop at once
	int db_batch_max;                 // DB_BATCH_MAX: creates per group commit (1: no batching)
	unsigned max_inflight_per_caller; // MAX_INFLIGHT_PER_CALLER (64; 0: no limit)
	unsigned refusal_rate;            // REFUSAL_RATE (10000; 0: no limit)
	bool rpc_nng;                  // RPC_TRANSPORT=nng: nng serves tcp:// too (default: loops)
	unsigned max_connections;      // MAX_CONNECTIONS: RPC connections (4096; 0: no cap)
	unsigned max_subscribers;      // MAX_SUBSCRIBERS: event PUB connections (1024; 0: no cap)
	unsigned http_max_connections; // HTTP_MAX_CONNECTIONS (64; at least 1)
	int http_timeout_ms;           // HTTP_TIMEOUT_MS: a request must arrive within (5000)
	int64_t event_retention_s;
	int64_t token_max_lifetime_s; // TOKEN_MAX_LIFETIME: furthest exp accepted (default 24 h)
	int slow_query_ms;
	const char *log_level;
	bool log_requests;         // one access-log line per request (LOG_REQUESTS, default on)
	bool observe;              // per-request metrics and logs at all (OBSERVE, default on)
	bool relay;                // may lead the event relay (RELAY, default on)
	const char *tls_cert_file; // TLS_CERT_FILE, TLS_KEY_FILE: for tls+tcp:// URLs
	const char *tls_key_file;
	const char *tls_ca_file; // TLS_CA_FILE: require and verify client certificates
	// EVENTS_TLS_CA_FILE: the CA of subscriber certificates on a tls+tcp://
	// EVENTS_URL (defaults to TLS_CA_FILE; one of them is required there).
	const char *events_tls_ca_file;
	// TLS_ALLOWED_PEERS: identities let into a tls+tcp:// RPC_URL
	// (comma-separated; needs TLS_CA_FILE and RPC_TRANSPORT=loops). NULL: all.
	const char *tls_allowed_peers;
} app_config;

// What app_config_load found.
typedef enum app_config_result {
	APP_CONFIG_OK,    // cfg holds every setting
	APP_CONFIG_ERROR, // a bad or missing setting: one line in err
	APP_CONFIG_EXIT,  // --help or --version was printed: nothing to run
} app_config_result;

app_config_result app_config_load(app_config *cfg, int argc, char **argv, char *err, size_t errcap);
void app_config_free(app_config *cfg);

#endif
