// base ssl: what the server's TLS (src/rpc/sptls.c) and the gateway's TLS to
// its backends (src/gate/tlsclient.c) both need from OpenSSL: an engine on a
// pair of memory BIOs, and the reason for a failed call as text.
//
// OpenSSL keeps a queue of errors per thread; a failed call leaves one or
// more there. base_ssl_error reads it and clears it, so a later call on this
// thread does not report an old reason. Any thread.
#ifndef BASE_SSL_H
#define BASE_SSL_H

#include <openssl/ssl.h>
#include <stddef.h>

// A new SSL of ctx reading its records from *rbio and writing them to *wbio,
// two memory BIOs (empty *rbio reads as "retry later", not as end of file).
// The SSL owns both BIOs: SSL_free frees them. NULL when out of memory (the
// error queue is then cleared).
SSL *base_ssl_mem_new(SSL_CTX *ctx, BIO **rbio, BIO **wbio);

// Writes the first queued error of this thread (or "unknown error" when the
// queue is empty) to buf[cap], clears the queue, and returns buf.
const char *base_ssl_error(char *buf, size_t cap);

#endif
