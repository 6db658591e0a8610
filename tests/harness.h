// Integration-test harness: runs the real propertyd binary as a child process
// and talks to it over its public surfaces only (nng RPC, nng PUB, HTTP).
//
// What it promises:
//   - h_start() forks/execs propertyd on free loopback ports with AUTH_SECRET
//     set to H_SECRET, DATABASE_URL/REDIS_URL inherited, stderr captured to a
//     file, and waits (bounded, H_READY_WAIT_S) for Health/Check = SERVING.
//   - h_stop() sends SIGTERM and waits (bounded, H_STOP_WAIT_S); a child that
//     does not exit is SIGKILLed and the test fails. h_kill9() kills at once.
//   - Every stop scans the captured stderr for sanitizer reports and fails
//     the test when it finds one (under -DPROPERTYD_SANITIZE=ON propertyd is
//     sanitized too).
//   - Typed calls (h_call), tokens (h_bearer), HTTP GET (h_http_get) and a
//     Prometheus sample reader (h_metric).
//
// Failure accounting: the process-wide failure counter (the one piece of
// global mutable state, an atomic) is bumped by H_CHECK from any thread;
// h_run_cases() runs a table of named cases and returns the exit status.
//
// Threads: h_call/h_http_get block the calling thread and may be used from
// many threads at once; h_start/h_stop belong to the main thread.
#ifndef IT_HARNESS_H
#define IT_HARNESS_H

#include <nng/nng.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/client.h"
#include "nrpc/jwt.h"
#include "property/v1/events.pb-c.h"
#include "property/v1/property.pb-c.h"
#include "rpc/v1/rpc.pb-c.h"

#define H_SECRET       "it-test-secret-7f3a9c1e5b-d04e6a2c8f13"
#define H_READY_WAIT_S 20 // propertyd migrates and connects before SERVING
#define H_STOP_WAIT_S  14 // contract: drain at most 10 s, plus relay flush and teardown
#define H_CALL_TIMEOUT 5000
#define H_MAX_ARGS     16
#define H_URL_MAX      96

#define M_CREATE "/property.v1.PropertyService/CreateProperty"
#define M_GET    "/property.v1.PropertyService/GetProperty"
#define M_UPDATE "/property.v1.PropertyService/UpdateProperty"
#define M_DELETE "/property.v1.PropertyService/DeleteProperty"
#define M_LIST   "/property.v1.PropertyService/ListPropertiesByOwner"
#define M_SEARCH "/property.v1.PropertyService/SearchProperties"
#define M_EVENTS "/property.v1.EventService/ReadEvents"
#define M_HEALTH "/grpc.health.v1.Health/Check"

#define H_LOCAL_ERROR 999u // h_call's code when the harness itself failed

extern atomic_int h_failures;

void h_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define H_FAIL(...) h_fail_at(__FILE__, __LINE__, __VA_ARGS__)
// H_CHECK(cond, "printf format", args...): records a failure when cond is false.
#define H_CHECK(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond))                                                                       \
			h_fail_at(__FILE__, __LINE__, "check failed: " #cond ": " __VA_ARGS__);    \
	} while (0)

// ---- cases -------------------------------------------------------------------------------
typedef struct h_case {
	const char *name;
	void (*fn)(void *ctx);
} h_case;

// Checks argv[1] (the propertyd binary) and DATABASE_URL/REDIS_URL; returns 0,
// or the exit status to return at once. Call first.
int h_init(int argc, char **argv);
// Runs every case (argv[2..] may name a subset), prints PASS/FAIL per case;
// returns h_status(). A case still running after H_CASE_WATCHDOG_S (below the
// CTest limit) ends the test: the watchdog prints the case and its last step
// (h_step) and exits 1, so a hang names where it hung instead of timing out.
#define H_CASE_WATCHDOG_S 150
#define H_STR_(x)         #x
#define H_STR(x)          H_STR_(x)
int h_run_cases(const h_case *cases, size_t n, void *ctx, int argc, char **argv);
// Names what the running case does now (a string literal or one that outlives
// the case); printed with its time since the case began, and by the watchdog.
void h_step(const char *what);
// h_init + h_run_cases for tests whose cases need no shared context.
int h_main(const h_case *cases, size_t n, int argc, char **argv);
// The exit status so far: 0 when nothing failed.
int h_status(void);

// ---- the propertyd child -----------------------------------------------------------------
typedef struct h_opts {
	const char *args[H_MAX_ARGS]; // extra command-line arguments
	const char *env[H_MAX_ARGS];  // "K=V" sets, "K" unsets (in the child only)
	bool no_secret;               // do not set AUTH_SECRET
	bool no_wait;                 // do not wait for SERVING (config tests)
	bool no_urls;                 // do not pass --rpc-url/--events-url/--http-addr
	const struct h_proc *ports; // listen where this (stopped) child listened, not on new ports
} h_opts;

typedef struct h_proc {
	pid_t pid;  // 0 once reaped
	int status; // wait status once reaped
	char rpc_url[H_URL_MAX];
	char events_url[H_URL_MAX];
	char http_addr[H_URL_MAX];
	char log_path[256];
	char dir[128];       // private temp directory (log, secret files)
	nrpc_client *cli;    // dialed to rpc_url once started
	bool sanitizer_seen; // set by h_scan_log
} h_proc;

// The propertyd binary given on the test's command line (argv[1]), set by h_init.
const char *h_bin(void);

// Starts a child; returns 0 when it is SERVING (or, with no_wait, when it was
// spawned). On failure prints why (log tail included) and returns -1.
int h_start(h_proc *p, const h_opts *o);
// SIGTERM, bounded wait; returns the exit code (0..255), 128+signal when
// killed, or -1 when it had to be SIGKILLed (also a failure). Closes the client.
int h_stop(h_proc *p);
// SIGKILL and reap; closes the client.
void h_kill9(h_proc *p);
// Waits up to ms for the child to exit on its own; returns the exit code as
// h_stop does, or -2 if it is still running.
int h_wait_exit(h_proc *p, int ms);
// Scans the log for sanitizer reports (fails the test on one); removes the
// temp directory unless the test failed. Call after the child is gone.
void h_cleanup(h_proc *p);
// Prints the last lines of the child's log to stderr.
void h_log_tail(const h_proc *p, int lines);
// Reads the whole log (malloc'd, NUL-terminated) or NULL.
char *h_read_log(const h_proc *p);

// A client dialed to url (tcp://), or NULL after failing the test with why.
nrpc_client *h_client(const char *url);

// Runs scripts/dev-certs.sh (its path in env PD_DEV_CERTS, set by CTest) into
// dir with `extra` arguments (a shell-quoted string, may be ""): a CA, a
// server certificate, client certificates. 0, or -1 after failing the test.
int h_dev_certs(const char *dir, const char *extra);

// Client TLS settings for the certificates of h_dev_certs: the CA of
// ca_dir, the server name "localhost", and the client certificate `name`
// from cert_dir (name NULL: none). The paths live in the harness's buffers,
// which are reused after 8 more calls (a test keeps a few at a time).
nrpc_tls h_tls_client(const char *ca_dir, const char *cert_dir, const char *name);

// ---- calls -------------------------------------------------------------------------------
// A "Bearer <jwt>" string for sub, expiring ttl_s from now (negative: expired).
// malloc'd; never NULL (aborts the test on allocation failure).
char *h_bearer(const char *secret, const char *sub, int64_t ttl_s);

// "Bearer <header>.<payload>.<HS256 signature>" from raw JSON parts (for
// malformed-claim tests); secret NULL gives an empty signature. malloc'd.
char *h_jwt_custom(const char *secret, const char *header_json, const char *payload_json);

// A unique owner id for this run: "it-<tag>-<pid>-<n>-<random>".
void h_owner(char *buf, size_t cap, const char *tag);

typedef struct h_md {
	const char *auth;    // "Bearer ..." or NULL
	const char *idem;    // idempotency-key or NULL
	const char *req_id;  // x-request-id or NULL
	uint32_t timeout_ms; // 0: H_CALL_TIMEOUT
} h_md;

// Typed call. Returns the reply code (H_LOCAL_ERROR on harness failure). *out
// is the unpacked reply on OK (caller frees with protobuf_c_message_free_unpacked),
// else NULL. res may be NULL (then freed inside).
unsigned h_call(nrpc_client *c, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *out_desc, const h_md *md, void **out,
                nrpc_result *res);
// Raw payload call (for hand-built payloads).
unsigned h_call_raw(nrpc_client *c, const char *method, const uint8_t *payload, size_t len,
                    const h_md *md, nrpc_result *res);
bool h_has_violation(const nrpc_result *r, const char *field);
void h_print_result(const char *what, const nrpc_result *r);

// Raw envelope over a fresh req0 socket: sends bytes, waits for the reply
// bytes. Returns 0 and a malloc'd reply, or -1 on timeout/transport error.
int h_raw_req(const char *url, const void *buf, size_t len, int timeout_ms, uint8_t **reply,
              size_t *reply_len);

// Health/Check of "" (status, or -1 when the call failed).
int h_health(nrpc_client *c, const char *service, unsigned *code);

// A valid CreatePropertyRequest with static strings; owner may be "".
void h_valid_create(Property__V1__CreatePropertyRequest *r, Property__V1__Location *loc,
                    const char *owner);
// Create with a valid default body; returns the property or NULL (fails the test).
Property__V1__Property *h_create(nrpc_client *c, const char *auth, const char *owner);
Property__V1__Property *h_get(nrpc_client *c, const char *auth, const char *id, unsigned *code);

// A blocking TCP connection to "ipv4:port" with 5 s send/receive timeouts, or -1.
int h_tcp_dial(const char *addr);
// ---- HTTP --------------------------------------------------------------------------------
// GET http://addr/path; returns 0 and the status and malloc'd body, -1 on failure.
int h_http_get(const char *addr, const char *path, int *status, char **body);
// Value of the exact sample `series` (name{labels} as exposed) in a metrics
// body; returns false when absent.
bool h_metric(const char *body, const char *series, double *value);
// h_metric through a fresh GET of /metrics; absent series read as 0.
double h_metric_now(const h_proc *p, const char *series);

// ---- time --------------------------------------------------------------------------------
int64_t h_now_ms(void);
void h_sleep_ms(int ms);
// Closes an nng socket within BASE_NNG_CLOSE_BUDGET_MS: with messages still
// arriving nng 1.5.2's close can hang for ever (docs/dependencies.md).
void h_nng_close(nng_socket s);

#endif
