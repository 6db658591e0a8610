// rpc sptls: see sptls.h.
#include "sptls.h"

#include <event2/buffer.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ssl.h"

#define RECORD_MAX 16384 // plaintext per SSL_write / SSL_read call: one TLS record

struct nrpc_sptls_ctx {
	SSL_CTX *ssl;
	nrpc_tls_stats *stats; // borrowed, may be NULL
	char *allowed;         // the list's copy, NULs between names; NULL: no list
	const char *names[NRPC_TLS_ALLOWED_COUNT];
	size_t nnames;
};

struct nrpc_sptls_conn {
	SSL *ssl;
	BIO *rbio, *wbio; // owned by ssl
	nrpc_tls_stats *stats;
	const nrpc_sptls_ctx *ctx; // for the allow-list: only read during the handshake
	bool ready;
	bool failed;
	bool not_listed;               // the verify callback refused the identity (allow-list)
	char peer[SPTLS_PEER_MAX + 1]; // "" when none
};

// Splits "a, b,c" into ctx->names; -1 on an empty name or too many.
static int parse_allowed(nrpc_sptls_ctx *x, const char *list, char *err, size_t errcap)
{
	size_t len = strlen(list);
	if (len > NRPC_TLS_ALLOWED_MAX || (x->allowed = malloc(len + 1)) == NULL) {
		snprintf(err, errcap, "TLS: allowed peers: list longer than %d bytes",
		         NRPC_TLS_ALLOWED_MAX);
		return -1;
	}
	memcpy(x->allowed, list, len + 1);
	char *p = x->allowed;
	for (;;) {
		char *end = strchr(p, ',');
		if (end != NULL)
			*end = '\0';
		while (*p == ' ')
			p++;
		size_t n = strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			p[--n] = '\0';
		if (n == 0 || n > SPTLS_PEER_MAX || x->nnames == NRPC_TLS_ALLOWED_COUNT) {
			snprintf(
			    err, errcap,
			    "TLS: allowed peers: want 1..%d comma-separated names of 1..%d bytes",
			    NRPC_TLS_ALLOWED_COUNT, SPTLS_PEER_MAX);
			return -1;
		}
		x->names[x->nnames++] = p;
		if (end == NULL)
			return 0;
		p = end + 1;
	}
}

static int verify_listed(int ok, X509_STORE_CTX *st);

int nrpc_sptls_ctx_create(nrpc_sptls_ctx **out, const nrpc_tls *tls, char *err, size_t errcap)
{
	*out = NULL;
	if (tls == NULL || tls->cert_file == NULL || tls->key_file == NULL) {
		snprintf(err, errcap,
		         "tls+tcp:// needs a certificate and key (TLS_CERT_FILE, "
		         "TLS_KEY_FILE)");
		return -1;
	}
	if (tls->allowed_peers != NULL && tls->ca_file == NULL) {
		snprintf(err, errcap,
		         "TLS: allowed peers need a CA to verify clients (TLS_CA_FILE)");
		return -1;
	}
	nrpc_sptls_ctx *x = calloc(1, sizeof *x);
	if (x == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	x->stats = tls->stats;
	if (tls->allowed_peers != NULL && parse_allowed(x, tls->allowed_peers, err, errcap) != 0) {
		nrpc_sptls_ctx_free(x);
		return -1;
	}
	char why[256];
	const char *what = "TLS";
	ERR_clear_error();
	SSL_CTX *c = x->ssl = SSL_CTX_new(TLS_server_method());
	if (c == NULL)
		goto fail;
	// TLS 1.2 or later: nng's mbedTLS speaks 1.2; OpenSSL offers 1.3 too.
	// No renegotiation and no resumption: every connection proves its
	// certificate in a full handshake, and no session state is kept.
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
	                           SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c, 0);
	what = tls->cert_file;
	if (SSL_CTX_use_certificate_chain_file(c, tls->cert_file) != 1)
		goto fail;
	what = tls->key_file;
	if (SSL_CTX_use_PrivateKey_file(c, tls->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c) != 1)
		goto fail;
	if (tls->ca_file != NULL) {
		what = tls->ca_file;
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(tls->ca_file);
		if (names == NULL || SSL_CTX_load_verify_locations(c, tls->ca_file, NULL) != 1) {
			if (names != NULL)
				sk_X509_NAME_pop_free(names, X509_NAME_free);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(c, names); // names the CA to the client
		// With an allow-list the identity is checked while the client's
		// certificate is verified: a refused one fails the handshake with an
		// alert, before the server's Finished.
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		                   x->allowed != NULL ? verify_listed : NULL);
	} else {
		SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	}
	*out = x;
	return 0;
fail:
	snprintf(err, errcap, "TLS: %s: %s", what, base_ssl_error(why, sizeof why));
	nrpc_sptls_ctx_free(x);
	return -1;
}

void nrpc_sptls_ctx_free(nrpc_sptls_ctx *x)
{
	if (x == NULL)
		return;
	SSL_CTX_free(x->ssl);
	free(x->allowed);
	free(x);
}

nrpc_sptls_conn *nrpc_sptls_conn_new(nrpc_sptls_ctx *x)
{
	nrpc_sptls_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->ssl = base_ssl_mem_new(x->ssl, &c->rbio, &c->wbio);
	if (c->ssl == NULL) {
		free(c);
		return NULL;
	}
	SSL_set_app_data(c->ssl, c); // for verify_listed
	SSL_set_accept_state(c->ssl);
	c->stats = x->stats;
	c->ctx = x;
	return c;
}

void nrpc_sptls_conn_free(nrpc_sptls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl); // frees both BIOs
	free(c);
}

bool nrpc_sptls_ready(const nrpc_sptls_conn *c)
{
	return c->ready;
}

const char *nrpc_sptls_peer(const nrpc_sptls_conn *c)
{
	return c->peer[0] != '\0' ? c->peer : NULL;
}

// Copies an ASN.1 string as the identity when it is 1..SPTLS_PEER_MAX bytes
// of UTF-8 text without control characters.
static bool take_name(nrpc_sptls_conn *c, const ASN1_STRING *s)
{
	unsigned char *u = NULL;
	int n = ASN1_STRING_to_UTF8(&u, s);
	bool ok = n > 0 && n <= SPTLS_PEER_MAX;
	for (int i = 0; ok && i < n; i++)
		if (u[i] < 0x20 || u[i] == 0x7f)
			ok = false;
	if (ok) {
		memcpy(c->peer, u, (size_t)n);
		c->peer[n] = '\0';
	}
	OPENSSL_free(u);
	return ok;
}

// The certificate's subject CN (the last one), else its first SAN DNS name.
static void take_identity(nrpc_sptls_conn *c, X509 *cert)
{
	c->peer[0] = '\0';
	if (cert == NULL)
		return;
	const X509_NAME *subj = X509_get_subject_name(cert);
	int last = -1;
	for (int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1); i >= 0;
	     i = X509_NAME_get_index_by_NID(subj, NID_commonName, i))
		last = i;
	if (last >= 0 && take_name(c, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last))))
		return;
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type == GEN_DNS) {
			take_name(c, g->d.dNSName);
			break;
		}
	}
	GENERAL_NAMES_free(sans);
}

static bool allowed(const nrpc_sptls_conn *c)
{
	const nrpc_sptls_ctx *x = c->ctx;
	if (x->allowed == NULL)
		return true;
	for (size_t i = 0; i < x->nnames; i++)
		if (strcmp(x->names[i], c->peer) == 0)
			return true;
	return false;
}

// OpenSSL's verification callback (allow-list only): once the chain of the
// client's certificate verified, its identity must be listed.
static int verify_listed(int ok, X509_STORE_CTX *st)
{
	if (!ok || X509_STORE_CTX_get_error_depth(st) != 0)
		return ok;
	SSL *ssl = X509_STORE_CTX_get_ex_data(st, SSL_get_ex_data_X509_STORE_CTX_idx());
	nrpc_sptls_conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	if (c == NULL)
		return 0;
	take_identity(c, X509_STORE_CTX_get_current_cert(st));
	if (c->peer[0] != '\0' && allowed(c))
		return 1;
	c->not_listed = true;
	X509_STORE_CTX_set_error(st, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

// Moves what the engine wrote (handshake records, alerts, sealed data) to `wire`.
static int drain_wbio(nrpc_sptls_conn *c, struct evbuffer *wire)
{
	size_t pending;
	while ((pending = BIO_ctrl_pending(c->wbio)) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(wire, (ev_ssize_t)pending, &v, 1) < 1)
			return -1;
		size_t want = v.iov_len < pending ? v.iov_len : pending;
		int n = BIO_read(c->wbio, v.iov_base, (int)(want < INT_MAX ? want : INT_MAX));
		if (n <= 0)
			return -1;
		v.iov_len = (size_t)n;
		if (evbuffer_commit_space(wire, &v, 1) != 0)
			return -1;
	}
	return 0;
}

static int refuse(nrpc_sptls_conn *c, struct evbuffer *wire, bool refused_peer)
{
	refused_peer = refused_peer || c->not_listed;
	if (!c->failed && !c->ready && c->stats != NULL)
		atomic_fetch_add(
		    refused_peer ? &c->stats->peer_refused : &c->stats->handshake_failed, 1);
	c->failed = true;
	ERR_clear_error();
	(void)drain_wbio(c, wire); // the alert, if any
	return -1;
}

int nrpc_sptls_feed(nrpc_sptls_conn *c, struct evbuffer *cipher, struct evbuffer *plain,
                    struct evbuffer *wire)
{
	if (c->failed)
		return -1;
	// Ciphertext into the engine: a memory BIO takes everything.
	struct evbuffer_iovec v[8];
	while (evbuffer_get_length(cipher) > 0) {
		int nv = evbuffer_peek(cipher, -1, NULL, v, 8);
		size_t moved = 0;
		for (int i = 0; i < nv && i < 8; i++) {
			if (v[i].iov_len > INT_MAX ||
			    BIO_write(c->rbio, v[i].iov_base, (int)v[i].iov_len) !=
			        (int)v[i].iov_len)
				return refuse(c, wire, false);
			moved += v[i].iov_len;
		}
		evbuffer_drain(cipher, moved);
	}
	if (!c->ready) {
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e != SSL_ERROR_WANT_READ)
				return refuse(c, wire, false);
			return drain_wbio(c, wire) == 0 ? 0 : refuse(c, wire, false);
		}
		// Verified (with an allow-list, listed too: verify_listed).
		X509 *cert = SSL_get0_peer_certificate(c->ssl);
		if (cert != NULL && SSL_get_verify_result(c->ssl) == X509_V_OK)
			take_identity(c, cert);
		else
			c->peer[0] = '\0';
		if (!allowed(c))
			return refuse(c, wire, true); // a second check: never admits less
		c->ready = true;
	}
	// Application data out of the engine, one record at a time.
	for (;;) {
		struct evbuffer_iovec iv;
		if (evbuffer_reserve_space(plain, RECORD_MAX, &iv, 1) < 1)
			return refuse(c, wire, false);
		int want = iv.iov_len < RECORD_MAX ? (int)iv.iov_len : RECORD_MAX;
		int n = SSL_read(c->ssl, iv.iov_base, want);
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);
			evbuffer_commit_space(plain, &iv, 0); // nothing read: give the space back
			if (e == SSL_ERROR_WANT_READ)
				break;
			return refuse(c, wire, false); // close_notify or an error
		}
		iv.iov_len = (size_t)n;
		if (evbuffer_commit_space(plain, &iv, 1) != 0)
			return refuse(c, wire, false);
	}
	return drain_wbio(c, wire) == 0 ? 0 : refuse(c, wire, false);
}

int nrpc_sptls_seal(nrpc_sptls_conn *c, struct evbuffer *plain, struct evbuffer *wire)
{
	if (c->failed)
		return -1;
	if (!c->ready)
		return 0;
	size_t left;
	while ((left = evbuffer_get_length(plain)) > 0) {
		size_t n = left < RECORD_MAX ? left : RECORD_MAX;
		const unsigned char *p = evbuffer_pullup(plain, (ev_ssize_t)n);
		if (p == NULL || SSL_write(c->ssl, p, (int)n) != (int)n) {
			c->failed = true;
			ERR_clear_error();
			return -1;
		}
		evbuffer_drain(plain, n);
	}
	if (drain_wbio(c, wire) != 0) {
		c->failed = true;
		return -1;
	}
	return 0;
}
