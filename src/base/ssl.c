// base ssl: see ssl.h.
#include "base/ssl.h"

#include <openssl/err.h>
#include <stdio.h>

SSL *base_ssl_mem_new(SSL_CTX *ctx, BIO **rbio, BIO **wbio)
{
	SSL *ssl = SSL_new(ctx);
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	if (ssl == NULL || r == NULL || w == NULL) {
		BIO_free(r);
		BIO_free(w);
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	BIO_set_mem_eof_return(r, -1);
	SSL_set_bio(ssl, r, w);
	*rbio = r;
	*wbio = w;
	return ssl;
}

const char *base_ssl_error(char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();
	if (e == 0)
		snprintf(buf, cap, "unknown error");
	else
		ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
	return buf;
}
