// property pagetoken: opaque, tamper-proof, stateless page tokens.
//
// A token carries the keyset position of the last row of a page (prop_cursor)
// and a 64-bit hash of the query it belongs to, sealed with HMAC-SHA256
// (truncated to 16 bytes) under a key shared by every instance, derived from
// the shared secret with a label (PROP_TOKEN_KEY_LABEL): any instance
// decodes another's token, and a client can neither forge nor alter one, nor
// reuse it for another query. Layout before base64url (no padding):
//   version(1) | query hash(8, big-endian) | key(8, big-endian) | uuid(16) | mac(16)
//
// Pure; safe on any thread. No allocation.
#ifndef PROP_PAGETOKEN_H
#define PROP_PAGETOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "property/ports.h"

#define PROP_TOKEN_VERSION   1
#define PROP_TOKEN_RAW       49 // 1 + 8 + 8 + 16 + 16
#define PROP_TOKEN_MAX       72 // base64url of 49 bytes is 66 characters, plus NUL
#define PROP_TOKEN_KEY_MAX   32 // the derived key: one SHA-256 output
#define PROP_TOKEN_KEY_LABEL "propertyd/page-token/v1"

typedef struct prop_token_key {
	uint8_t k[PROP_TOKEN_KEY_MAX];
	size_t len;
} prop_token_key;

// Derives the key from the `len` bytes of the secret:
// HMAC-SHA256(secret, PROP_TOKEN_KEY_LABEL), so a page token's MAC never uses
// the secret that signs bearer tokens. NULL/0 selects a fixed built-in secret
// (for --insecure-no-auth, where no secret exists).
void prop_token_key_set(prop_token_key *k, const uint8_t *key, size_t len);

// Query hashes: the listing's owner; every search filter (not page_size).
uint64_t prop_token_owner_hash(const char *owner);
uint64_t prop_token_search_hash(const prop_search_query *q);

// Writes the NUL-terminated token into out[PROP_TOKEN_MAX]. Returns false when
// the cursor's id is not a UUID.
bool prop_token_encode(const prop_token_key *k, uint64_t query_hash, const prop_cursor *c,
                       char out[PROP_TOKEN_MAX]);

// Returns true and fills *c when `token` is well formed, carries a valid MAC
// under k, the current version, and `query_hash`.
bool prop_token_decode(const prop_token_key *k, uint64_t query_hash, const char *token,
                       prop_cursor *c);

#endif
