// rpc client_lb: the pure decisions of client-side balancing, kept apart from
// the sockets and threads of client_pool*.c so that they can be tested alone.
//
// Nothing here blocks, allocates, or keeps state: every function works on the
// arrays and buffers its caller passes (and owns). Safe from any thread.
//
// The model (gRPC's round_robin with health checking): every endpoint (one
// server address) is in one nrpc_lb_state. Calls go round robin over the READY
// ones; an endpoint enters READY only when a health check answered SERVING
// on its current connection.
#ifndef RPC_CLIENT_LB_H
#define RPC_CLIENT_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/client.h"

// Most endpoints of one client: a `tried` set is one uint64_t bit per slot.
#define LB_MAX_ENDPOINTS 64
// Longest endpoint URL ("tls+tcp://[v6 address]:port" fits easily).
#define LB_URL_MAX 288
// Longest host name of a dns+ URL (DNS names are at most 253 bytes).
#define LB_HOST_MAX 256

typedef enum nrpc_lb_state {
	LB_EMPTY = 0,  // no endpoint in this slot
	LB_CONNECTING, // no verdict yet: just dialed, or connected and not yet checked
	LB_READY,      // connected, and the last health check answered SERVING
	LB_DOWN,       // not connected, or the last check failed / said NOT_SERVING
	LB_RETIRING,   // dropped by DNS; closed once no call uses it
} nrpc_lb_state;

// Round robin: the first READY slot at or after *cursor (mod n) whose bit in
// `tried` is clear; *cursor moves past it. Returns the slot, or -1.
int nrpc_lb_pick(const nrpc_lb_state *st, size_t n, uint64_t tried, size_t *cursor);

// True when waiting may still produce a READY slot outside `tried`: some such
// slot is CONNECTING (a verdict is pending). False means fail fast.
bool nrpc_lb_pending(const nrpc_lb_state *st, size_t n, uint64_t tried);

// The health verdict from a probe's reply (an rpc.v1.Response envelope):
// true for code 0 with status SERVING, and for 12 UNIMPLEMENTED (a server
// without the health service is taken as serving, as gRPC does); false for
// anything else, undecodable bytes included.
bool nrpc_lb_probe_serving(const uint8_t *reply, size_t len);

// The probe request: grpc.health.v1.Health/Check of "" (the whole server) in
// an rpc.v1.Request envelope carrying timeout_ms. Packs into buf[cap] and
// returns the length, or 0 when cap is too small.
size_t nrpc_lb_probe_request(uint8_t *buf, size_t cap, uint32_t timeout_ms);

// A "dns+tcp://host:port" or "dns+tls+tcp://host:port" URL: every A/AAAA
// record of host, dialed with `scheme` ("tcp" or "tls+tcp").
typedef struct nrpc_lb_dns_target {
	char scheme[8];
	char host[LB_HOST_MAX];
	char port[8];
} nrpc_lb_dns_target;

// 1 and *t for a well-formed dns+ URL; 0 when url is not a dns+ URL; -1 for
// a malformed one (no port, a port outside 1..65535, an empty or bracketed
// host, a path).
int nrpc_lb_dns_parse(const char *url, nrpc_lb_dns_target *t);

// Writes "<scheme>://<addr>:<port>" into buf[cap], with [brackets] around an
// IPv6 address (one that contains ':'). Returns 0, or -1 when it does not fit.
int nrpc_lb_addr_url(char *buf, size_t cap, const char *scheme, const char *addr, const char *port);

// A DNS refresh of one name: have[nhave] are the URLs its endpoints dial now,
// got[ngot] the URLs of the new answer. Sets keep[i] for each have[i] still in
// the answer and add[j] for each got[j] not yet dialed (the first of
// duplicates only).
void nrpc_lb_merge(const char *const *have, size_t nhave, const char *const *got, size_t ngot,
                   bool *keep, bool *add);

// True when metadata md[n] carries a non-empty idempotency-key. Keys match
// exactly and the first entry counts, as on the server (docs/contract.md §2.5).
bool nrpc_lb_has_idempotency_key(const nrpc_meta *md, size_t n);

// Whether a call whose instance was lost may go to another one: always when
// it was never sent (`sent` false), else per nrpc_retry_safe().
bool nrpc_lb_may_retry(bool sent, const char *method, bool has_idempotency_key);

#endif
