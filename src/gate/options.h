// gate options: propgate's settings from flags, then the environment, then
// defaults (docs/gateway.md lists them).
//
// gate_options_load() never exits: it returns GATE_OPTIONS_OK,
// GATE_OPTIONS_EXIT when --help or --version was printed, or
// GATE_OPTIONS_ERROR with one line naming the bad setting in err. Strings
// point into argv, the environment, or buffers owned by the options (freed
// by gate_options_free).
#ifndef GATE_OPTIONS_H
#define GATE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#define GATE_MAX_LISTEN 8
#define GATE_MAX_URLS   32

typedef struct gate_options {
	const char *listen[GATE_MAX_LISTEN]; // --listen / PROPGATE_LISTEN
	size_t nlisten;
	const char *backends[GATE_MAX_URLS]; // --backend / PROPGATE_BACKENDS
	size_t nbackends;
	const char *dns[GATE_MAX_URLS]; // --backends-dns / PROPGATE_BACKENDS_DNS
	size_t ndns;
	const char *http_addr;     // --http-addr / PROPGATE_HTTP_ADDR
	int io_threads;            // --io-threads / IO_THREADS
	unsigned max_connections;  // MAX_CONNECTIONS per listener (4096; 0: no cap)
	const char *log_level;     // --log-level / LOG_LEVEL
	const char *tls_cert_file; // TLS_CERT_FILE, TLS_KEY_FILE: tls+tcp:// listeners
	const char *tls_key_file;
	const char *tls_ca_file; // TLS_CA_FILE: require client certificates
	// tls+tcp:// backends: BACKEND_TLS_CA_FILE verifies them (required for
	// one); BACKEND_TLS_CERT_FILE/_KEY_FILE: the gateway's client certificate;
	// BACKEND_TLS_SERVER_NAME: the name their certificates must carry.
	const char *backend_ca_file;
	const char *backend_cert_file;
	const char *backend_key_file;
	const char *backend_server_name;
	char *env_copies[3]; // comma-separated environment lists, split in place
} gate_options;

// What gate_options_load found.
typedef enum gate_options_result {
	GATE_OPTIONS_OK,    // o holds every setting
	GATE_OPTIONS_ERROR, // a bad or missing setting: one line in err
	GATE_OPTIONS_EXIT,  // --help or --version was printed: nothing to run
} gate_options_result;

gate_options_result gate_options_load(gate_options *o, int argc, char **argv, char *err,
                                      size_t errcap);
void gate_options_free(gate_options *o);

#endif
