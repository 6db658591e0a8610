// gate tlsclient: see tlsclient.h.
#include "tlsclient.h"

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ssl.h"

#define CHUNK 16384

struct gate_tls {
	SSL_CTX *ctx;
	char *server_name;
};

struct gate_tls_conn {
	SSL *ssl;
	BIO *rbio, *wbio; // owned by ssl
	bool ready;
};

static void ssl_reason(char *err, size_t errcap, const char *what, const char *file)
{
	char buf[160];
	snprintf(err, errcap, "%s %s: %s", what, file, base_ssl_error(buf, sizeof buf));
}

int gate_tls_create(gate_tls **out, const char *ca_file, const char *cert_file,
                    const char *key_file, const char *server_name, char *err, size_t errcap)
{
	*out = NULL;
	if (ca_file == NULL) {
		snprintf(err, errcap,
		         "a CA file to verify backends is required for tls+tcp:// backends");
		return -1;
	}
	if ((cert_file == NULL) != (key_file == NULL)) {
		snprintf(err, errcap, "a client certificate needs both its file and its key");
		return -1;
	}
	gate_tls *t = calloc(1, sizeof *t);
	if (t == NULL || (t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		free(t);
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1) {
		ssl_reason(err, errcap, "cannot load the CA file", ca_file);
		gate_tls_free(t);
		return -1;
	}
	if (cert_file != NULL &&
	    (SSL_CTX_use_certificate_chain_file(t->ctx, cert_file) != 1 ||
	     SSL_CTX_use_PrivateKey_file(t->ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(t->ctx) != 1)) {
		ssl_reason(err, errcap, "cannot use the client certificate", cert_file);
		gate_tls_free(t);
		return -1;
	}
	if (server_name != NULL && (t->server_name = strdup(server_name)) == NULL) {
		gate_tls_free(t);
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	*out = t;
	return 0;
}

void gate_tls_free(gate_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t->server_name);
	free(t);
}

gate_tls_conn *gate_tls_conn_new(gate_tls *t)
{
	gate_tls_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->ssl = base_ssl_mem_new(t->ctx, &c->rbio, &c->wbio);
	if (c->ssl == NULL) {
		free(c);
		return NULL;
	}
	SSL_set_connect_state(c->ssl);
	if (t->server_name != NULL) {
		SSL_set_tlsext_host_name(c->ssl, t->server_name);
		SSL_set1_host(c->ssl, t->server_name);
	}
	return c;
}

void gate_tls_conn_free(gate_tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl); // frees both BIOs
	free(c);
}

bool gate_tls_ready(const gate_tls_conn *c)
{
	return c->ready;
}

// SSL_get_error's verdict: 0 to wait for more bytes, -1 to give up.
static int wait_or_fail(gate_tls_conn *c, int r)
{
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	ERR_clear_error();
	return -1;
}

int gate_tls_pump(gate_tls_conn *c, struct evbuffer *cipher_in, struct evbuffer *plain_in,
                  struct evbuffer *plain_out, struct evbuffer *cipher_out)
{
	int rc = 0;
	while (evbuffer_get_length(cipher_in) > 0) {
		size_t n = evbuffer_get_contiguous_space(cipher_in);
		const unsigned char *p = evbuffer_pullup(cipher_in, (ev_ssize_t)n);
		int w = BIO_write(c->rbio, p, (int)n);
		if (w <= 0) {
			rc = -1;
			break;
		}
		evbuffer_drain(cipher_in, (size_t)w);
	}
	if (rc == 0 && !c->ready) {
		int r = SSL_do_handshake(c->ssl);
		if (r == 1)
			c->ready = true;
		else
			rc = wait_or_fail(c, r);
	}
	if (rc == 0 && c->ready) {
		unsigned char buf[CHUNK];
		for (;;) {
			int r = SSL_read(c->ssl, buf, sizeof buf);
			if (r > 0) {
				evbuffer_add(plain_in, buf, (size_t)r);
				continue;
			}
			rc = wait_or_fail(c, r); // a close_notify is the end too
			break;
		}
	}
	while (rc == 0 && c->ready && evbuffer_get_length(plain_out) > 0) {
		size_t n = evbuffer_get_contiguous_space(plain_out);
		if (n > CHUNK)
			n = CHUNK;
		const unsigned char *p = evbuffer_pullup(plain_out, (ev_ssize_t)n);
		int r = SSL_write(c->ssl, p, (int)n);
		if (r <= 0) {
			rc = wait_or_fail(c, r) == 0 ? 0 : -1;
			break;
		}
		evbuffer_drain(plain_out, (size_t)r);
	}
	char out[CHUNK];
	int r;
	while ((r = BIO_read(c->wbio, out, sizeof out)) > 0)
		evbuffer_add(cipher_out, out, (size_t)r);
	return rc;
}
