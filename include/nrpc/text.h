// nrpc text: strict UTF-8 checks shared by the RPC layer and its services.
#ifndef NRPC_TEXT_H
#define NRPC_TEXT_H

#include <stdbool.h>
#include <stddef.h>

// True when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF). NUL bytes are valid UTF-8 here: callers that must
// refuse U+0000 check for it themselves.
bool nrpc_utf8_valid(const char *s, size_t n);

// Number of code points in valid UTF-8 s[0..n).
size_t nrpc_utf8_count(const char *s, size_t n);

#endif
