// nrpc over tls+tcp://: server certificates, client verification, mutual TLS.
// Certificates are made by tls_test.sh with the openssl command before this
// runs: argv[1] is that directory (server.crt/.key, client.crt/.key, other.crt).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grpc/health/v1/health.pb-c.h"
#include "nrpc/client.h"
#include "nrpc/health.h"
#include "nrpc/server.h"

static char dir[512];
static int failures;

static char *path(const char *name)
{
	static char buf[8][640];
	static int i;
	char *p = buf[i++ % 8];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

// One Health/Check through a fresh client; returns the status code.
static unsigned check(const char *url, const nrpc_tls *tls)
{
	nrpc_client *c;
	char err[256];
	if (nrpc_client_open_tls(&c, &url, 1, tls, err, sizeof(err)) != 0) {
		fprintf(stderr, "  (open: %s)\n", err);
		return 999;
	}
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	uint8_t buf[64];
	size_t n = grpc__health__v1__health_check_request__pack(&req, buf);
	nrpc_result res;
	nrpc_client_call_raw(c, "/grpc.health.v1.Health/Check", buf, n, NULL, 0, 1500, &res);
	unsigned code = res.code;
	nrpc_result_free(&res);
	nrpc_client_close(c);
	return code;
}

static nrpc_server *serve(const char *url, const nrpc_tls *tls, nrpc_health *h)
{
	nrpc_server_config cfg = {.url = url, .workers = 1, .insecure_no_auth = true, .tls = tls};
	char err[256];
	nrpc_server *s;
	if (nrpc_server_create(&s, &cfg, err, sizeof(err)) != 0 ||
	    nrpc_health_register(h, s) != 0 || nrpc_server_start(s, err, sizeof(err)) != 0) {
		fprintf(stderr, "server on %s: %s\n", url, err);
		exit(1);
	}
	return s;
}

#define EXPECT(name, cond)                                                                         \
	do {                                                                                       \
		if (cond) {                                                                        \
			printf("ok   %s\n", name);                                                 \
		} else {                                                                           \
			printf("FAIL %s\n", name);                                                 \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rpc_tls_test CERT_DIR\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	nrpc_health *h = nrpc_health_create(NULL, 0);
	nrpc_health_set_all(h, NRPC_HEALTH_SERVING);
	int port = 20000 + (int)(getpid() % 10000);
	char url1[64], url2[64];
	snprintf(url1, sizeof(url1), "tls+tcp://127.0.0.1:%d", port);
	snprintf(url2, sizeof(url2), "tls+tcp://127.0.0.1:%d", port + 1);

	// A TLS URL without a certificate is refused at start.
	{
		nrpc_server_config cfg = {.url = url1, .workers = 1, .insecure_no_auth = true};
		char err[256];
		nrpc_server *s;
		nrpc_server_create(&s, &cfg, err, sizeof(err));
		EXPECT("no_certificate_refused", nrpc_server_start(s, err, sizeof(err)) != 0);
		nrpc_server_destroy(s);
	}

	nrpc_tls server_tls = {.cert_file = path("server.crt"), .key_file = path("server.key")};
	nrpc_server *s1 = serve(url1, &server_tls, h);
	nrpc_tls trust = {.ca_file = path("server.crt"), .server_name = "localhost"};
	nrpc_tls wrong = {.ca_file = path("other.crt"), .server_name = "localhost"};
	EXPECT("verified_server", check(url1, &trust) == 0);
	EXPECT("unverified_dev_client", check(url1, NULL) == 0);
	EXPECT("wrong_ca_refused", check(url1, &wrong) != 0);
	EXPECT("plain_tcp_client_refused",
	       check(strchr(url1, 't') + 4 /* "tcp://..." */, NULL) != 0);

	// Mutual TLS: the server requires a client certificate signed by its CA.
	nrpc_tls mtls = {.cert_file = path("server.crt"),
	                 .key_file = path("server.key"),
	                 .ca_file = path("client.crt")};
	nrpc_server *s2 = serve(url2, &mtls, h);
	nrpc_tls client_with_cert = {.cert_file = path("client.crt"),
	                             .key_file = path("client.key"),
	                             .ca_file = path("server.crt"),
	                             .server_name = "localhost"};
	EXPECT("mtls_with_client_cert", check(url2, &client_with_cert) == 0);
	EXPECT("mtls_without_client_cert_refused", check(url2, &trust) != 0);

	nrpc_server_destroy(s1);
	nrpc_server_destroy(s2);
	nrpc_health_destroy(h);
	if (failures)
		return 1;
	puts("rpc_tls_test: all passed");
	return 0;
}
