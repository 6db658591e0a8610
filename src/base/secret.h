// base secret: reading the HS256 secret from a file, with the one rule that
// propertyd (--auth-secret-file) and the clients (--secret-file) share, so
// that the same file gives the same key on both ends (docs/contract.md §1):
// the file holds at most `max` bytes; one trailing "\n" or "\r\n" is not part
// of the secret (a lone trailing "\r" is); every other byte is, NULs too; an
// empty secret is refused. Minimum lengths are the caller's rule.
//
// Ownership: *out is malloc'd for the caller (free it), with a NUL after the
// len bytes for callers that treat the secret as text.
#ifndef BASE_SECRET_H
#define BASE_SECRET_H

#include <stddef.h>
#include <stdint.h>

enum base_secret_result {
	BASE_SECRET_OK = 0,
	BASE_SECRET_UNREADABLE, // cannot open or read the file: errno says why
	BASE_SECRET_TOO_LARGE,  // more than max bytes (the trailing newline included)
	BASE_SECRET_EMPTY,      // nothing left once the newline is dropped
	BASE_SECRET_NO_MEMORY,
};

// Reads the secret in `path`. On BASE_SECRET_OK *out and *len are set; else
// *out is NULL and *len 0.
enum base_secret_result base_secret_read(const char *path, size_t max, uint8_t **out, size_t *len);

#endif
