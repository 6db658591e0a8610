// fuzz_jwt: HS256 token verification (include/nrpc/jwt.h). The first byte
// picks a mode, the rest is its input:
//   0: the rest is a token, verified as received (header, base64url and
//      signature checks on hostile text).
//   1: the rest is "<header JSON>\n<claims JSON>": the target encodes both
//      parts and signs them with the secret, so that every input reaches the
//      claim checks (sub, exp, nbf, lifetime) behind the signature.
//   2: the rest is "<8-byte exp><sub>": a token from nrpc_jwt_sign must
//      verify with its sub whenever the claims are acceptable.
// Always: on success sub is NUL-terminated, non-empty, at most
// NRPC_JWT_MAX_SUB bytes, and valid_until > now; on failure err holds a
// reason and sub is untouched.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/b64url.h"
#include "fuzz.h"
#include "nrpc/jwt.h"

#define SECRET     "propertyd-fuzz-jwt-secret-0123456789"
#define SECRET_LEN (sizeof(SECRET) - 1)
#define NOW        1700000000

// Verifies and checks the promises; returns the verdict.
static int verify(const char *token, int64_t max_lifetime, char *sub)
{
	char err[128];
	int64_t until = 0;
	memset(sub, 'x', NRPC_JWT_MAX_SUB + 1);
	int rc =
	    nrpc_jwt_verify_until((const uint8_t *)SECRET, SECRET_LEN, token, NOW, max_lifetime,
	                          sub, NRPC_JWT_MAX_SUB + 1, &until, err, sizeof(err));
	if (rc == 0) {
		size_t n = strnlen(sub, NRPC_JWT_MAX_SUB + 1);
		FUZZ_ASSERT(n > 0 && n <= NRPC_JWT_MAX_SUB, "sub of %zu bytes accepted", n);
		FUZZ_ASSERT(until > NOW, "valid_until %lld not after now", (long long)until);
		if (max_lifetime > 0)
			FUZZ_ASSERT(until <= NOW + max_lifetime + 1, "lifetime cap not applied");
	} else {
		FUZZ_ASSERT(rc == -1, "rc %d", rc);
		FUZZ_ASSERT(memchr(err, 0, sizeof(err)) != NULL && err[0] != '\0', "no reason");
		FUZZ_ASSERT(sub[0] == 'x', "sub written on failure");
	}
	return rc;
}

static void mode_signed_parts(const uint8_t *data, size_t size, int64_t max_lifetime)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (nl == NULL || size > 3000)
		return;
	size_t hlen = (size_t)(nl - data), clen = size - hlen - 1;
	char *tok = malloc(2 * size + 64);
	FUZZ_ASSERT(tok != NULL, "malloc");
	base_b64url_encode(data, hlen, tok);
	size_t o = strlen(tok);
	tok[o++] = '.';
	base_b64url_encode(nl + 1, clen, tok + o);
	o += strlen(tok + o);
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mlen = 0;
	HMAC(EVP_sha256(), SECRET, (int)SECRET_LEN, (const uint8_t *)tok, o, mac, &mlen);
	tok[o++] = '.';
	base_b64url_encode(mac, mlen, tok + o);
	char sub[NRPC_JWT_MAX_SUB + 1];
	verify(tok, max_lifetime, sub);
	free(tok);
}

static void mode_sign(const uint8_t *data, size_t size)
{
	if (size < 8)
		return;
	int64_t exp = 0;
	for (int i = 0; i < 8; i++)
		exp = (int64_t)(((uint64_t)exp << 8) | data[i]);
	char *subject = fuzz_cstr(data + 8, size - 8);
	char *tok = nrpc_jwt_sign((const uint8_t *)SECRET, SECRET_LEN, subject, exp);
	if (tok != NULL) {
		char sub[NRPC_JWT_MAX_SUB + 1];
		int rc = verify(tok, 0, sub);
		size_t n = strlen(subject);
		if (exp > NOW && n > 0 && n <= NRPC_JWT_MAX_SUB)
			FUZZ_ASSERT(rc == 0, "a signed token for sub '%s' exp %lld is refused",
			            subject, (long long)exp);
		if (rc == 0)
			FUZZ_ASSERT(strcmp(sub, subject) == 0, "sub changed");
		free(tok);
	}
	free(subject);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	// The top bits of the first byte pick a lifetime cap: none, 1 h, 1 day.
	static const int64_t caps[] = {0, 3600, 86400, 0};
	int64_t cap = caps[(data[0] >> 2) & 3];
	switch (data[0] & 3) {
	case 0: {
		char *tok = fuzz_cstr(data + 1, size - 1);
		char sub[NRPC_JWT_MAX_SUB + 1];
		verify(tok, cap, sub);
		free(tok);
		break;
	}
	case 1:
	case 3:
		mode_signed_parts(data + 1, size - 1, cap);
		break;
	default:
		mode_sign(data + 1, size - 1);
		break;
	}
	return 0;
}
