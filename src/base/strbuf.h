// base strbuf: a growing NUL-terminated text buffer (rendered metrics, JSON).
//
// Zero-initialise one ({0}); the text is p[0..len) with a NUL after it once
// anything was put (p is NULL before). The caller owns p and frees it with
// free(). When memory runs out the text so far stays as it was, `failed` is
// set, and every later put does nothing: check once at the end.
#ifndef BASE_STRBUF_H
#define BASE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct base_strbuf {
	char *p;
	size_t len, cap;
	bool failed;
} base_strbuf;

// Appends s[0..n) (n may be 0: p then holds at least ""). False when the
// buffer has failed (now or before).
bool base_strbuf_put(base_strbuf *b, const char *s, size_t n);

#endif
