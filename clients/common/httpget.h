// pdc_http_get: a minimal blocking HTTP/1.0 GET over a plain TCP socket, for
// scraping propertyd's /metrics (propctl top, propload). No TLS, no
// redirects, no chunked encoding (HTTP/1.0 makes the server close instead).
//
// Blocks the calling thread for at most about timeout_ms per connect, send
// and receive step. Thread-safe; keeps nothing between calls.
#ifndef PDC_HTTPGET_H
#define PDC_HTTPGET_H

#include <stddef.h>

// A reply body larger than this is refused: a /metrics page is tens of KiB.
#define PDC_HTTP_MAX_BODY (16u * 1024 * 1024)

// GETs http://<hostport><path> ("127.0.0.1:7702", "/metrics"). Returns the
// HTTP status (200...) and, for any status, the body in *body (malloc'd,
// NUL-terminated, the caller frees) and its length in *len. Returns -1 with
// a reason in err[errcap] when no reply was read; *body is then NULL.
int pdc_http_get(const char *hostport, const char *path, int timeout_ms, char **body, size_t *len,
                 char *err, size_t errcap);

#endif
