// pdc_cli: helpers shared by the command-line clients (propctl, propload):
// reading bounded input, duration flags, the auth secret and tokens, client
// URLs, and printing an RPC error the same way everywhere.
//
// Errors: functions return 0 / a pointer on success and -1 / NULL with a
// one-line reason in err[errcap]. Everything returned is malloc'd for the
// caller. No state is kept; the functions read the environment and files and
// block only on that I/O.
#ifndef PDC_CLI_H
#define PDC_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/duration.h"
#include "nrpc/client.h"

// Default RPC URL of propertyd (docs/contract.md section 1), overridden by env
// PROPCTL_URL (a comma-separated list) and by --url flags. Several URLs, or a
// dns+tcp://HOST:PORT URL, make the client balance calls over the instances
// (nrpc/client.h, docs/balancing.md).
#define PDC_DEFAULT_URL "tcp://127.0.0.1:7700"
// Default /metrics address (docs/contract.md HTTP_ADDR).
#define PDC_DEFAULT_HTTP_ADDR "127.0.0.1:7702"
// Largest request JSON read from a file or stdin: the server refuses requests
// over 1 MiB, so anything much larger is a mistake.
#define PDC_MAX_INPUT (4u * 1024 * 1024)
// Largest secret file.
#define PDC_MAX_SECRET 4096
// Most URLs one client dials.
#define PDC_MAX_URLS 32
// A --help paragraph: what several URLs do (docs/balancing.md).
#define PDC_URL_HELP                                                                               \
	"Several URLs (--url repeated, or comma-separated in PROPCTL_URL): calls go\n"             \
	"round robin over the instances whose health check (every 500 ms) says\n"                  \
	"SERVING; dns+tcp://HOST:PORT (dns+tls+tcp://) stands for every address of\n"              \
	"HOST. A read whose instance dies is sent to another one; a write is not\n"                \
	"(14 UNAVAILABLE), except CreateProperty with an idempotency key.\n"

// The rule of every duration flag of the clients, for their --help: the
// syntax of base/duration.h; a bare number is in the flag's own unit.
#define PDC_DURATION_HELP                                                                          \
	"Durations: a number and a unit, us ms s m h d (250ms, 1.5s, 2m, 1h, 7d); a\n"             \
	"number without a unit is in the unit the flag's line names.\n"

// Reads the value of a duration flag (`flag`, e.g. "--timeout", for the
// message) in the base/duration.h syntax, a bare number being in `bare`, and
// checks min_us <= value <= max_us. Returns 0 with *out_us, or -1 with e.g.
// `--timeout: bad duration "5x": unknown unit (...)` or
// `--timeout 0ms: wants 1ms..10m` in err.
int pdc_duration_flag(const char *flag, const char *arg, base_dur_unit bare, int64_t min_us,
                      int64_t max_us, int64_t *out_us, char *err, size_t errcap);

// Reads all of f (at most `max` bytes) into a NUL-terminated string.
char *pdc_read_stream(FILE *f, size_t max, char *err, size_t errcap);

// The HS256 secret: the contents of `file` when non-NULL (one trailing
// newline, "\n" or "\r\n", is not part of it), else env AUTH_SECRET.
// *secret is malloc'd and NUL-terminated; *len excludes the NUL.
int pdc_secret_load(const char *file, uint8_t **secret, size_t *len, char *err, size_t errcap);

// Mints a token for `sub` valid `ttl_s` seconds from now.
char *pdc_token_mint(const uint8_t *secret, size_t len, const char *sub, int64_t ttl_s, char *err,
                     size_t errcap);

// The bearer token to send: `token` when given, else env PROPCTL_TOKEN, else
// one minted for `sub` (when given) from the secret (see pdc_secret_load).
// Returns 0 with *out NULL when there is nothing to send (no token, no sub).
int pdc_token_resolve(const char *token, const char *sub, const char *secret_file, int64_t ttl_s,
                      char **out, char *err, size_t errcap);

// Splits a comma-separated URL list (such as env PROPCTL_URL) into `buf`
// (copied) and fills urls[cap]; returns the count.
size_t pdc_split_urls(const char *list, char *buf, size_t bufcap, const char **urls, size_t cap);

// Prints `ERROR <CODE_NAME> (<n>): <message>` and one `  <field>: <description>`
// line per violation.
void pdc_print_rpc_error(FILE *f, const nrpc_result *res);

// Reads env `name` as a flag: unset, "", "0", "false", "no" are false; "1",
// "true", "yes" true; anything else is an error.
int pdc_env_flag(const char *name, bool *out, char *err, size_t errcap);

// The TLS settings of the environment: PROPCTL_TLS_CA (verify the server),
// PROPCTL_TLS_CERT and PROPCTL_TLS_KEY (present a client certificate, for
// mutual TLS; both or neither), PROPCTL_TLS_SERVER_NAME, and
// PROPCTL_TLS_INSECURE=1 (do not verify the server). Empty means unset.
int pdc_tls_from_env(nrpc_tls *tls, char *err, size_t errcap);

// Refuses (-1, reason in err) when a tls+tcp:// (or dns+tls+tcp://) URL of
// urls[n] would be dialed without a CA and without insecure_skip_verify:
// "<url>: tls+tcp:// needs a CA to verify the server (<ca_hint>); <insecure_hint>
// to skip verification".
int pdc_tls_check(const char *const *urls, size_t n, const nrpc_tls *tls, const char *ca_hint,
                  const char *insecure_hint, char *err, size_t errcap);
#define PDC_TLS_CA_HINT       "PROPCTL_TLS_CA"
#define PDC_TLS_INSECURE_HINT "set PROPCTL_TLS_INSECURE=1"

// Opens an RPC client for urls[n] (balancing over them when there are several,
// or a dns+ URL); tls+tcp:// URLs use pdc_tls_from_env and
// are refused without PROPCTL_TLS_CA or PROPCTL_TLS_INSECURE=1 (which makes
// nrpc warn on stderr). Returns 0, or -1 (settings) or an nng error with a
// reason in err.
int pdc_client_open(nrpc_client **out, const char *const *urls, size_t n, char *err, size_t errcap);

#endif
