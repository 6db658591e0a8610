// pl_secret: the HS256 secret propload mints tokens with: --auth-secret-file,
// else env AUTH_SECRET, else none (calls then carry no token, for servers run
// with --insecure-no-auth; or --token gives one fixed token). Owns its bytes.
#ifndef PL_SECRET_H
#define PL_SECRET_H

#include <stddef.h>
#include <stdint.h>

typedef struct pl_secret {
	uint8_t *data; // NULL when there is none
	size_t len;
} pl_secret;

int pl_secret_get(const char *file, const char *token, pl_secret *out, char *err, size_t errcap);
void pl_secret_free(pl_secret *s);

#endif
