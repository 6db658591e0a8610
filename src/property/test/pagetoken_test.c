// property_pagetoken: round trip, tampering, another query, another key, garbage.
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/test/check.h"
#include "property/pagetoken.h"

static const char secret[] = "the auth secret";
static const char secret2[] = "another secret";

int main(void)
{
	prop_token_key k, k2, kdef, kdef2, klong;
	prop_token_key_set(&k, (const uint8_t *)secret, strlen(secret));
	prop_token_key_set(&k2, (const uint8_t *)secret2, strlen(secret2));
	prop_token_key_set(&kdef, NULL, 0);
	prop_token_key_set(&kdef2, NULL, 0);
	uint8_t longkey[200];
	memset(longkey, 'k', sizeof(longkey));
	prop_token_key_set(&klong, longkey, sizeof(longkey));

	const prop_cursor cur = {.key = -1234567890123LL,
	                         .id = "123e4567-e89b-42d3-a456-426614174000"};
	uint64_t qa = prop_token_owner_hash("alice");
	uint64_t qb = prop_token_owner_hash("bob");
	prop_search_query s1 = {.city = "Paris", .country_code = "FR", .max_price_cents = 100};
	prop_search_query s2 = s1;
	s2.max_price_cents = 101;
	prop_search_query s3 = s1;
	s3.has_bbox = true;
	s3.max_lat = 1;
	if (qa == qb || prop_token_search_hash(&s1) == prop_token_search_hash(&s2) ||
	    prop_token_search_hash(&s1) == prop_token_search_hash(&s3) ||
	    prop_token_search_hash(&s1) !=
	        prop_token_search_hash(&(prop_search_query){
	            .city = "Paris", .country_code = "FR", .max_price_cents = 100})) {
		CHECK_FAIL("query hashes do not tell queries apart");
	}

	char tok[PROP_TOKEN_MAX];
	if (!prop_token_encode(&k, qa, &cur, tok)) {
		CHECK_FAIL("encode");
		return 1;
	}
	prop_cursor out;
	struct {
		const char *name;
		const prop_token_key *key;
		uint64_t q;
		const char *token;
		bool ok;
	} cases[] = {
	    {"round trip", &k, qa, tok, true},
	    {"another query", &k, qb, tok, false},
	    {"another key", &k2, qa, tok, false},
	    {"empty", &k, qa, "", false},
	    {"garbage", &k, qa, "hello", false},
	    {"not base64url", &k, qa,
	     "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", false},
	    {"standard base64 alphabet", &k, qa,
	     "++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&out, 0, sizeof(out));
		bool ok = prop_token_decode(cases[i].key, cases[i].q, cases[i].token, &out);
		if (ok != cases[i].ok) {
			CHECK_FAIL("%s: decode %d, want %d", cases[i].name, ok, cases[i].ok);
		}
		if (ok && (out.key != cur.key || strcmp(out.id, cur.id) != 0)) {
			CHECK_FAIL("%s: cursor %lld %s", cases[i].name, (long long)out.key, out.id);
		}
	}

	// Every single-character change is refused.
	size_t len = strlen(tok);
	if (len != 66) {
		CHECK_FAIL("token length %zu", len);
	}
	for (size_t i = 0; i < len; i++) {
		char t[PROP_TOKEN_MAX];
		memcpy(t, tok, len + 1);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		if (prop_token_decode(&k, qa, t, &out)) {
			CHECK_FAIL("tampered character %zu accepted", i);
		}
	}
	// Truncated and extended.
	char t[PROP_TOKEN_MAX + 2];
	memcpy(t, tok, len - 1);
	t[len - 1] = '\0';
	if (prop_token_decode(&k, qa, t, &out)) {
		CHECK_FAIL("truncated token accepted");
	}
	memcpy(t, tok, len);
	t[len] = 'A';
	t[len + 1] = '\0';
	if (prop_token_decode(&k, qa, t, &out)) {
		CHECK_FAIL("extended token accepted");
	}

	// The built-in key is the same in every instance; long keys work.
	if (!prop_token_encode(&kdef, qa, &cur, tok) || !prop_token_decode(&kdef2, qa, tok, &out)) {
		CHECK_FAIL("built-in key round trip");
	}
	if (prop_token_decode(&k, qa, tok, &out)) {
		CHECK_FAIL("built-in key token accepted under a secret");
	}
	if (!prop_token_encode(&klong, qa, &cur, tok) ||
	    !prop_token_decode(&klong, qa, tok, &out)) {
		CHECK_FAIL("long key round trip");
	}

	// Upper-case ids come back canonical; non-UUIDs cannot be encoded.
	prop_cursor up = {.key = 7, .id = "123E4567-E89B-42D3-A456-426614174000"};
	if (!prop_token_encode(&k, qa, &up, tok) || !prop_token_decode(&k, qa, tok, &out) ||
	    strcmp(out.id, cur.id) != 0) {
		CHECK_FAIL("upper-case id round trip");
	}
	prop_cursor bad = {.key = 7, .id = "not-a-uuid"};
	if (prop_token_encode(&k, qa, &bad, tok)) {
		CHECK_FAIL("non-UUID cursor encoded");
	}

	// The key is derived from the secret with a label, never the secret itself:
	// a MAC made with the raw secret (what signs bearer tokens) is refused.
	uint8_t want[32];
	unsigned wl = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)PROP_TOKEN_KEY_LABEL,
	     strlen(PROP_TOKEN_KEY_LABEL), want, &wl);
	if (k.len != 32 || wl != 32 || memcmp(k.k, want, 32) != 0)
		CHECK_FAIL("page-token key is not HMAC-SHA256(secret, label)");
	prop_token_key raw = {.len = strlen(secret)};
	memcpy(raw.k, secret, raw.len);
	if (!prop_token_encode(&raw, qa, &cur, tok) || prop_token_decode(&k, qa, tok, &out))
		CHECK_FAIL("a token sealed with the raw secret was accepted");

	return check_summary("property_pagetoken");
}
