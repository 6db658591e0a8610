// nrpc JWT: HS256 bearer tokens (docs/contract.md section 3).
//
// Only HS256 is accepted: "none", other algorithms, a bad signature, a token
// without "sub" or "exp", or an expired one are refused. Signatures are
// compared in constant time. Pure functions: no allocation is kept, thread-safe.
#ifndef NRPC_JWT_H
#define NRPC_JWT_H

#include <stddef.h>
#include <stdint.h>

#define NRPC_JWT_MAX_TOKEN 4096 // longer tokens are refused before any parsing
#define NRPC_JWT_MAX_SUB   256  // longest accepted "sub" claim, in bytes

// Verifies `token` (the part after "Bearer ") against `secret` at unix time
// `now`. On success returns 0 and copies the "sub" claim, NUL-terminated, into
// sub[subcap]. On failure returns -1 and writes a short human reason
// ("token expired", "bad signature", ...) into err[errcap]; sub is untouched.
// No maximum lifetime (see nrpc_jwt_verify_until).
int nrpc_jwt_verify(const uint8_t *secret, size_t secret_len, const char *token, int64_t now,
                    char *sub, size_t subcap, char *err, size_t errcap);

// The same, also enforcing a maximum lifetime and giving the unix time from
// which the token is expired. max_lifetime_s > 0 refuses a token whose exp lies
// more than max_lifetime_s seconds after `now` ("expiry too far ahead"; exp ==
// now + max_lifetime_s is accepted); 0 means no limit. On success
// *valid_until is set: the token verifies for every later now < *valid_until
// (exp - now only shrinks, so the lifetime check cannot fail later).
int nrpc_jwt_verify_until(const uint8_t *secret, size_t secret_len, const char *token, int64_t now,
                          int64_t max_lifetime_s, char *sub, size_t subcap, int64_t *valid_until,
                          char *err, size_t errcap);

// Signs a token with claims {"sub": sub, "exp": exp} (and "iat": now).
// Returns a malloc'd NUL-terminated string the caller frees, or NULL on
// allocation failure.
char *nrpc_jwt_sign(const uint8_t *secret, size_t secret_len, const char *sub, int64_t exp);

#endif
