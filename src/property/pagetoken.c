// property pagetoken: see pagetoken.h.
#include "property/pagetoken.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64url.h"
#include "base/bigend.h"
#include "base/hex.h"
#include "property/validate.h"

#define MAC_LEN 16

// Used only when no secret exists (--insecure-no-auth): tokens then protect
// against accidents, not against a caller who reads this source.
static const char builtin_key[] = "propertyd insecure page-token key v1";

void prop_token_key_set(prop_token_key *k, const uint8_t *key, size_t len)
{
	if (key == NULL || len == 0) {
		key = (const uint8_t *)builtin_key;
		len = sizeof(builtin_key) - 1;
	}
	// Domain separation: the same secret also signs bearer tokens, so the
	// page-token key is HMAC-SHA256(secret, label), never the secret itself.
	unsigned int out = 0;
	if (HMAC(EVP_sha256(), key, (int)len, (const uint8_t *)PROP_TOKEN_KEY_LABEL,
	         sizeof(PROP_TOKEN_KEY_LABEL) - 1, k->k, &out) == NULL)
		abort(); // OpenSSL cannot compute SHA-256: nothing sensible remains
	k->len = out;
}

// First 8 bytes of SHA-256 over the query's canonical encoding.
static uint64_t hash64(const void *data, size_t len)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	SHA256(data, len, md);
	return base_be64_get(md);
}

uint64_t prop_token_owner_hash(const char *owner)
{
	char buf[8 + 256];
	int n = snprintf(buf, sizeof(buf), "owner%c%s", 0, owner != NULL ? owner : "");
	// owner_id is at most 64 bytes (validated); a longer one is hashed truncated,
	// which only widens what a token matches, never what it reveals.
	size_t len = n < 0 ? 0 : ((size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return hash64(buf, len);
}

static void md_str(EVP_MD_CTX *c, const char *s)
{
	const char *v = s != NULL ? s : "";
	EVP_DigestUpdate(c, v, strlen(v) + 1); // with the NUL: "ab"+"c" differs from "a"+"bc"
}

static void md_u64(EVP_MD_CTX *c, uint64_t v)
{
	uint8_t b[8];
	base_be64_put(b, v);
	EVP_DigestUpdate(c, b, sizeof(b));
}

static void md_dbl(EVP_MD_CTX *c, double d)
{
	uint64_t v;
	memcpy(&v, &d, sizeof(v));
	md_u64(c, v);
}

uint64_t prop_token_search_hash(const prop_search_query *q)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c == NULL) {
		abort(); // out of memory, as everywhere else in the service
	}
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, "search", 7);
	md_str(c, q->city);
	md_str(c, q->country_code);
	md_u64(c, (uint64_t)q->min_price_cents);
	md_u64(c, (uint64_t)q->max_price_cents);
	md_u64(c, q->min_bedrooms);
	md_u64(c, q->has_bbox ? 1 : 0);
	if (q->has_bbox) {
		md_dbl(c, q->min_lat);
		md_dbl(c, q->min_lon);
		md_dbl(c, q->max_lat);
		md_dbl(c, q->max_lon);
	}
	md_u64(c, (uint64_t)(int64_t)q->status);
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	return base_be64_get(md);
}

static void mac(const prop_token_key *k, const uint8_t *data, size_t len, uint8_t out[MAC_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	HMAC(EVP_sha256(), k->k, (int)k->len, data, len, md, &mdlen);
	memcpy(out, md, MAC_LEN);
}

bool prop_token_encode(const prop_token_key *k, uint64_t query_hash, const prop_cursor *c,
                       char out[PROP_TOKEN_MAX])
{
	uint8_t raw[PROP_TOKEN_RAW];
	raw[0] = PROP_TOKEN_VERSION;
	base_be64_put(raw + 1, query_hash);
	base_be64_put(raw + 9, (uint64_t)c->key);
	if (!base_hex_uuid_parse(c->id, raw + 17)) {
		return false;
	}
	mac(k, raw, PROP_TOKEN_RAW - MAC_LEN, raw + PROP_TOKEN_RAW - MAC_LEN);

	base_b64url_encode(raw, PROP_TOKEN_RAW, out);
	return true;
}

bool prop_token_decode(const prop_token_key *k, uint64_t query_hash, const char *token,
                       prop_cursor *c)
{
	uint8_t raw[PROP_TOKEN_RAW], want[MAC_LEN];
	// Strict: one token, one spelling (no padding, zero trailing bits).
	if (token == NULL ||
	    base_b64url_decode(token, strlen(token), raw, sizeof raw) != PROP_TOKEN_RAW) {
		return false;
	}
	mac(k, raw, PROP_TOKEN_RAW - MAC_LEN, want);
	if (CRYPTO_memcmp(want, raw + PROP_TOKEN_RAW - MAC_LEN, MAC_LEN) != 0) {
		return false;
	}
	if (raw[0] != PROP_TOKEN_VERSION || base_be64_get(raw + 1) != query_hash) {
		return false;
	}
	c->key = (int64_t)base_be64_get(raw + 9);
	base_hex_uuid(raw + 17, c->id);
	return true;
}
