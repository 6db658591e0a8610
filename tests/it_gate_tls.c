// it_gate: mutual TLS on both hops (client to gateway, gateway to instance),
// with the certificates of scripts/dev-certs.sh (PD_DEV_CERTS); see it_gate.c.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "it_gate.h"
#include "nrpc/health.h"

// ---- mutual TLS on both hops ----------------------------------------------------------------

static int dev_certs(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/it_gate-certs-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		H_FAIL("mkdtemp: %s", strerror(errno));
		return -1;
	}
	return h_dev_certs(dir, "");
}

// A GetProperty of a missing id over tls+tcp:// `url` with the client
// certificate `name` (NULL: none); the code, or H_LOCAL_ERROR.
static unsigned tls_get(const char *url, const char *certs, const char *name, const char *auth,
                        bool *transport_error)
{
	nrpc_tls t = h_tls_client(certs, certs, name);
	nrpc_client *cli = NULL;
	char err[256];
	const char *urls[1] = {url};
	if (nrpc_client_open_tls(&cli, urls, 1, &t, err, sizeof err) != 0) {
		H_FAIL("client: %s", err);
		return H_LOCAL_ERROR;
	}
	Property__V1__GetPropertyRequest gr = PROPERTY__V1__GET_PROPERTY_REQUEST__INIT;
	gr.id = "00000000-0000-4000-8000-000000000003";
	h_md md = {.auth = auth, .timeout_ms = 1500};
	nrpc_result r;
	memset(&r, 0, sizeof r);
	unsigned code =
	    h_call(cli, M_GET, &gr.base, &property__v1__property__descriptor, &md, NULL, &r);
	*transport_error = r.transport_error;
	nrpc_result_free(&r);
	nrpc_client_close(cli);
	return code;
}

void mtls(void *arg)
{
	ctx *c = arg;
	char certs[64];
	h_step("development certificates");
	if (dev_certs(certs, sizeof certs) != 0)
		return;
	char env[3][320];
	snprintf(env[0], sizeof env[0], "TLS_CERT_FILE=%s/server.crt", certs);
	snprintf(env[1], sizeof env[1], "TLS_KEY_FILE=%s/server.key", certs);
	snprintf(env[2], sizeof env[2], "TLS_CA_FILE=%s/ca.crt", certs);
	h_step("an instance on tls+tcp:// that requires client certificates");
	h_proc tmpl = {0}, inst = {0};
	snprintf(tmpl.rpc_url, sizeof tmpl.rpc_url, "tls+tcp://127.0.0.1:%d", gate_free_port());
	snprintf(tmpl.events_url, sizeof tmpl.events_url, "tcp://127.0.0.1:%d", gate_free_port());
	snprintf(tmpl.http_addr, sizeof tmpl.http_addr, "127.0.0.1:%d", gate_free_port());
	h_opts o = {.ports = &tmpl, .no_wait = true, .env = {env[0], env[1], env[2]}};
	if (h_start(&inst, &o) != 0)
		return;
	bool ready = false;
	for (int i = 0; i < 200 && !ready; i++) {
		int st = 0;
		char *body = NULL;
		ready = h_http_get(inst.http_addr, "/readyz", &st, &body) == 0 && st == 200;
		free(body);
		if (!ready)
			h_sleep_ms(100);
	}
	H_CHECK(ready, "the TLS instance did not become ready");

	char benv[4][320];
	snprintf(benv[0], sizeof benv[0], "BACKEND_TLS_CA_FILE=%s/ca.crt", certs);
	snprintf(benv[1], sizeof benv[1], "BACKEND_TLS_CERT_FILE=%s/propgate.crt", certs);
	snprintf(benv[2], sizeof benv[2], "BACKEND_TLS_KEY_FILE=%s/propgate.key", certs);
	snprintf(benv[3], sizeof benv[3], "BACKEND_TLS_SERVER_NAME=localhost");
	const char *genv[] = {env[0], env[1], env[2], benv[0], benv[1], benv[2], benv[3], NULL};
	const char *backends[1] = {inst.rpc_url};
	gate_proc g = {0};
	snprintf(g.url, sizeof g.url, "tls+tcp://127.0.0.1:%d", gate_free_port());
	h_step("propgate: tls+tcp:// for callers and to the instance, with its own certificate");
	if (ready && gate_start_env(&g, backends, 1, true, "--backend", genv) == 0) {
		bool te = false;
		unsigned code = tls_get(g.url, certs, "client", c->auth, &te);
		H_CHECK(code == 5, "a caller with a certificate, through both hops: code %u", code);
		code = tls_get(g.url, certs, NULL, c->auth, &te);
		H_CHECK(code != 5 && code != 0 && te,
		        "a caller without a certificate: code %u, transport error %d", code, te);
		gate_stop(&g);
	}
	h_step("propgate without a client certificate: the instance refuses it");
	const char *genv2[] = {env[0], env[1], env[2], benv[0], benv[3], NULL};
	gate_proc g2 = {0};
	snprintf(g2.url, sizeof g2.url, "tls+tcp://127.0.0.1:%d", gate_free_port());
	if (ready && gate_start_env(&g2, backends, 1, false, "--backend", genv2) == 0) {
		char series[256];
		snprintf(series, sizeof series, "propgate_backend_up{backend=\"%.80s\"}",
		         inst.rpc_url + strlen("tls+tcp://"));
		for (int i = 0; i < 30 && gate_metric(&g2, series) != 0; i++)
			h_sleep_ms(100);
		H_CHECK(gate_metric(&g2, series) == 0,
		        "the instance took a gateway with no certificate");
		bool te = false;
		unsigned code = tls_get(g2.url, certs, "client", c->auth, &te);
		H_CHECK(code == 14, "through a gateway the instance refuses: code %u", code);
		gate_stop(&g2);
	}
	h_stop(&inst);
	h_cleanup(&inst);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", certs);
	if (system(cmd) != 0)
		H_FAIL("cannot remove %s", certs);
}
