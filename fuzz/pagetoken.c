// fuzz_pagetoken: page tokens (src/property/pagetoken.h). The first byte
// picks a mode, the rest is its input:
//   0: the rest is a token string, decoded under a fixed key and query hash.
//      A token that decodes must carry a canonical UUID and re-encode to the
//      very same text ("one token, one spelling").
//   1: the rest is a cursor (8-byte key, 8-byte query hash, id text): encode,
//      then decode; the round trip must give the cursor back (the id in its
//      canonical form), and fail under another query hash. Encoding may
//      refuse only an id that is not a UUID.
//   2: the rest is an HMAC key of any length (prop_token_key_set) and an
//      owner: a token made under it decodes under it and under no other key.
#include <ctype.h>

#include "fuzz.h"
#include "property/pagetoken.h"
#include "property/validate.h"

#define QHASH 0x0123456789abcdefULL

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void check_round_trip(const prop_token_key *k, uint64_t qh, const prop_cursor *c)
{
	char tok[PROP_TOKEN_MAX];
	bool ok = prop_token_encode(k, qh, c, tok);
	FUZZ_ASSERT(ok == prop_uuid_valid(c->id), "encode %d for id '%s'", ok, c->id);
	if (!ok)
		return;
	FUZZ_ASSERT(strlen(tok) == (PROP_TOKEN_RAW * 8 + 5) / 6, "token length %zu", strlen(tok));
	prop_cursor back;
	FUZZ_ASSERT(prop_token_decode(k, qh, tok, &back), "own token refused: %s", tok);
	char canon[37];
	FUZZ_ASSERT(prop_uuid_canonical(c->id, canon), "canonical");
	FUZZ_ASSERT(back.key == c->key && strcmp(back.id, canon) == 0,
	            "round trip changed the cursor");
	FUZZ_ASSERT(!prop_token_decode(k, qh ^ 1, tok, &back), "token accepted for another query");
}

static void mode_decode(const uint8_t *data, size_t size)
{
	static prop_token_key k;
	static int init;
	if (!init) {
		prop_token_key_set(&k, (const uint8_t *)"fuzz page-token key", 19);
		init = 1;
	}
	char *tok = fuzz_cstr(data, size);
	prop_cursor c;
	if (prop_token_decode(&k, QHASH, tok, &c)) {
		FUZZ_ASSERT(prop_uuid_valid(c.id), "decoded id '%s' is not a UUID", c.id);
		for (const char *p = c.id; *p; p++)
			FUZZ_ASSERT(!isupper((unsigned char)*p), "decoded id not canonical");
		char again[PROP_TOKEN_MAX];
		FUZZ_ASSERT(prop_token_encode(&k, QHASH, &c, again), "re-encode");
		FUZZ_ASSERT(strcmp(again, tok) == 0, "two spellings of one token: %s and %s", tok,
		            again);
	}
	free(tok);
}

static void mode_cursor(const uint8_t *data, size_t size)
{
	if (size < 16)
		return;
	prop_token_key k;
	prop_token_key_set(&k, NULL, 0);
	prop_cursor c;
	memset(&c, 0, sizeof(c));
	c.key = (int64_t)be64(data);
	uint64_t qh = be64(data + 8);
	size_t n = size - 16 < sizeof(c.id) - 1 ? size - 16 : sizeof(c.id) - 1;
	memcpy(c.id, data + 16, n);
	c.id[n] = '\0';
	check_round_trip(&k, qh, &c);
}

static void mode_key(const uint8_t *data, size_t size)
{
	prop_token_key k, other;
	prop_token_key_set(&k, size > 0 ? data : NULL, size);
	FUZZ_ASSERT(k.len <= PROP_TOKEN_KEY_MAX, "key length %zu", k.len);
	prop_token_key_set(&other, (const uint8_t *)"another key", 11);
	char *owner = fuzz_cstr(data, size);
	uint64_t qh = prop_token_owner_hash(owner);
	free(owner);
	prop_cursor c = {.key = (int64_t)size, .id = "0f8fad5b-d9cb-469f-a165-70867728950e"};
	check_round_trip(&k, qh, &c);
	char tok[PROP_TOKEN_MAX];
	FUZZ_ASSERT(prop_token_encode(&k, qh, &c, tok), "encode");
	prop_cursor back;
	if (k.len != other.len || memcmp(k.k, other.k, k.len) != 0)
		FUZZ_ASSERT(!prop_token_decode(&other, qh, tok, &back),
		            "token accepted under another key");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		mode_decode(data + 1, size - 1);
		break;
	case 1:
		mode_cursor(data + 1, size - 1);
		break;
	default:
		mode_key(data + 1, size - 1);
		break;
	}
	return 0;
}
