#include "tls.h"

#include <nng/supplemental/tls/tls.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool nrpc_tls_url(const char *url)
{
	return strncmp(url, "tls+", 4) == 0;
}

// A configuration for `mode` from t; the caller frees it (the listener or
// dialer keeps its own hold).
static int build(nng_tls_config **out, nng_tls_mode mode, const nrpc_tls *t, char *err,
                 size_t errcap)
{
	if (mode == NNG_TLS_MODE_SERVER && t->allowed_peers != NULL) {
		// Failing closed: nng 1.5.2 cannot tell who the peer is.
		snprintf(err, errcap,
		         "TLS: allowed peers need the event-loop transport (nng cannot name the "
		         "peer)");
		return NNG_ENOTSUP;
	}
	nng_tls_config *cfg;
	int rv = nng_tls_config_alloc(&cfg, mode);
	if (rv != 0) {
		snprintf(err, errcap, "TLS: %s", nng_strerror(rv));
		return rv;
	}
	const char *what = NULL;
	if (t->cert_file && t->key_file) {
		// nng wants certificate and key as PEM text: read both files.
		char *pem[2] = {NULL, NULL};
		const char *paths[2] = {t->cert_file, t->key_file};
		for (int i = 0; i < 2 && rv == 0; i++) {
			FILE *f = fopen(paths[i], "rb");
			long n = -1;
			if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
			    n < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
			    (pem[i] = calloc(1, (size_t)n + 1)) != NULL &&
			    fread(pem[i], 1, (size_t)n, f) == (size_t)n) {
				rv = 0;
			} else {
				rv = NNG_EINVAL;
				what = paths[i];
			}
			if (f)
				fclose(f);
		}
		if (rv == 0 && (rv = nng_tls_config_own_cert(cfg, pem[0], pem[1], NULL)) != 0)
			what = t->cert_file;
		free(pem[0]);
		free(pem[1]);
	} else if (mode == NNG_TLS_MODE_SERVER) {
		rv = NNG_EINVAL;
		what = "a certificate and key (TLS_CERT_FILE, TLS_KEY_FILE)";
	}
	bool skip = mode == NNG_TLS_MODE_CLIENT && t->insecure_skip_verify;
	if (rv == 0 && t->ca_file && !skip) {
		if ((rv = nng_tls_config_ca_file(cfg, t->ca_file)) != 0)
			what = t->ca_file;
		else
			rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	} else if (rv == 0) {
		// A server without a CA does not ask for client certificates. A
		// client gets here only with insecure_skip_verify (nrpc_tls_dial
		// refuses a client without a CA): it does not verify the server.
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
	}
	if (rv == 0 && t->server_name && mode == NNG_TLS_MODE_CLIENT)
		rv = nng_tls_config_server_name(cfg, t->server_name);
	if (rv != 0) {
		snprintf(err, errcap, "TLS: %s: %s", what ? what : "configuration",
		         nng_strerror(rv));
		nng_tls_config_free(cfg);
		return rv;
	}
	*out = cfg;
	return 0;
}

int nrpc_tls_listen(nng_socket s, const char *url, const nrpc_tls *tls, char *err, size_t errcap)
{
	int rv;
	if (!nrpc_tls_url(url)) {
		if ((rv = nng_listen(s, url, NULL, 0)) != 0)
			snprintf(err, errcap, "cannot listen on %s: %s", url, nng_strerror(rv));
		return rv;
	}
	if (tls == NULL) {
		snprintf(err, errcap, "%s needs TLS_CERT_FILE and TLS_KEY_FILE", url);
		return NNG_EINVAL;
	}
	nng_tls_config *cfg;
	nng_listener l;
	if ((rv = build(&cfg, NNG_TLS_MODE_SERVER, tls, err, errcap)) != 0)
		return rv;
	if ((rv = nng_listener_create(&l, s, url)) == 0 &&
	    (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) == 0)
		rv = nng_listener_start(l, 0);
	nng_tls_config_free(cfg);
	if (rv != 0)
		snprintf(err, errcap, "cannot listen on %s: %s", url, nng_strerror(rv));
	return rv;
}

int nrpc_tls_dial(nng_socket s, const char *url, const nrpc_tls *tls, char *err, size_t errcap)
{
	int rv;
	if (!nrpc_tls_url(url)) {
		if ((rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0)
			snprintf(err, errcap, "dial %s: %s", url, nng_strerror(rv));
		return rv;
	}
	// Refuse rather than hand the bearer token to whoever answers.
	if (tls == NULL || (tls->ca_file == NULL && !tls->insecure_skip_verify)) {
		snprintf(err, errcap,
		         "%s: tls+tcp:// needs a CA to verify the server (ca_file in nrpc_tls); "
		         "set insecure_skip_verify to skip verification",
		         url);
		return NNG_EINVAL;
	}
	nng_tls_config *cfg;
	nng_dialer d;
	if ((rv = build(&cfg, NNG_TLS_MODE_CLIENT, tls, err, errcap)) != 0)
		return rv;
	// Once per process: a load generator dials the same URL from many sockets.
	static atomic_bool warned;
	if (tls->insecure_skip_verify && !atomic_exchange(&warned, true))
		fprintf(stderr,
		        "warning: %s: the TLS server is NOT verified (insecure_skip_verify): "
		        "whoever answers gets the bearer token\n",
		        url);
	if ((rv = nng_dialer_create(&d, s, url)) == 0 &&
	    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) == 0)
		rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	nng_tls_config_free(cfg);
	if (rv != 0)
		snprintf(err, errcap, "dial %s: %s", url, nng_strerror(rv));
	return rv;
}
