// rpc client_lb: see client_lb.h.
#include "client_lb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/retry.h"
#include "rpc/v1/rpc.pb-c.h"

#define HEALTH_CHECK  "/grpc.health.v1.Health/Check"
#define UNIMPLEMENTED 12u

int nrpc_lb_pick(const nrpc_lb_state *st, size_t n, uint64_t tried, size_t *cursor)
{
	if (n == 0)
		return -1;
	for (size_t k = 0; k < n; k++) {
		size_t i = (*cursor + k) % n;
		if (st[i] == LB_READY && (tried & (UINT64_C(1) << i)) == 0) {
			*cursor = (i + 1) % n;
			return (int)i;
		}
	}
	return -1;
}

bool nrpc_lb_pending(const nrpc_lb_state *st, size_t n, uint64_t tried)
{
	for (size_t i = 0; i < n; i++)
		if (st[i] == LB_CONNECTING && (tried & (UINT64_C(1) << i)) == 0)
			return true;
	return false;
}

bool nrpc_lb_probe_serving(const uint8_t *reply, size_t len)
{
	Rpc__V1__Response *rsp = rpc__v1__response__unpack(NULL, len, reply);
	if (rsp == NULL)
		return false;
	bool serving = rsp->code == UNIMPLEMENTED;
	if (rsp->code == 0) {
		Grpc__Health__V1__HealthCheckResponse *h =
		    grpc__health__v1__health_check_response__unpack(NULL, rsp->payload.len,
		                                                    rsp->payload.data);
		serving =
		    h != NULL &&
		    h->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
		if (h != NULL)
			grpc__health__v1__health_check_response__free_unpacked(h, NULL);
	}
	rpc__v1__response__free_unpacked(rsp, NULL);
	return serving;
}

size_t nrpc_lb_probe_request(uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
	// HealthCheckRequest{service: ""} packs to nothing: the payload is empty.
	Rpc__V1__Request req = RPC__V1__REQUEST__INIT;
	req.method = HEALTH_CHECK;
	req.timeout_ms = timeout_ms;
	size_t n = rpc__v1__request__get_packed_size(&req);
	if (n > cap)
		return 0;
	return rpc__v1__request__pack(&req, buf);
}

int nrpc_lb_dns_parse(const char *url, nrpc_lb_dns_target *t)
{
	static const struct {
		const char *prefix, *scheme;
	} forms[] = {{"dns+tcp://", "tcp"}, {"dns+tls+tcp://", "tls+tcp"}};
	const char *rest = NULL;
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		size_t n = strlen(forms[i].prefix);
		if (strncmp(url, forms[i].prefix, n) == 0) {
			rest = url + n;
			snprintf(t->scheme, sizeof t->scheme, "%s", forms[i].scheme);
		}
	}
	if (rest == NULL)
		return strncmp(url, "dns+", 4) == 0 ? -1 : 0;
	const char *colon = strrchr(rest, ':');
	if (colon == NULL || colon == rest || rest[0] == '[' || strchr(rest, '/') != NULL ||
	    (size_t)(colon - rest) >= sizeof t->host)
		return -1;
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535 ||
	    memchr(rest, ':', (size_t)(colon - rest)) != NULL)
		return -1;
	memcpy(t->host, rest, (size_t)(colon - rest));
	snprintf(t->port, sizeof t->port, "%ld", port);
	return 1;
}

int nrpc_lb_addr_url(char *buf, size_t cap, const char *scheme, const char *addr, const char *port)
{
	bool v6 = strchr(addr, ':') != NULL;
	int n = snprintf(buf, cap, v6 ? "%s://[%s]:%s" : "%s://%s:%s", scheme, addr, port);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static bool listed(const char *const *urls, size_t n, const char *url)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(urls[i], url) == 0)
			return true;
	return false;
}

void nrpc_lb_merge(const char *const *have, size_t nhave, const char *const *got, size_t ngot,
                   bool *keep, bool *add)
{
	for (size_t i = 0; i < nhave; i++)
		keep[i] = listed(got, ngot, have[i]);
	for (size_t j = 0; j < ngot; j++)
		add[j] = !listed(have, nhave, got[j]) && !listed(got, j, got[j]);
}

bool nrpc_lb_has_idempotency_key(const nrpc_meta *md, size_t n)
{
	// The server reads the first entry of a key (docs/contract.md §2.5).
	for (size_t i = 0; i < n; i++)
		if (md[i].key != NULL && strcmp(md[i].key, "idempotency-key") == 0)
			return md[i].value != NULL && md[i].value[0] != '\0';
	return false;
}

bool nrpc_lb_may_retry(bool sent, const char *method, bool has_idempotency_key)
{
	return !sent || nrpc_retry_safe(method, strlen(method), has_idempotency_key);
}
