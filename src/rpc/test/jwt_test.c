// jwt_test: HS256 verification refuses everything but a well-formed, correctly
// signed, unexpired token with a subject; signing round-trips.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nrpc/jwt.h"

#define NOW 1700000000LL

static const char secret[] = "test-secret-0123456789";
static const char other_secret[] = "another-secret";

// Unpadded base64url of in[len] into out (NUL-terminated).
static void b64url(const void *in, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	while (n > 0 && out[n - 1] == '=') {
		n--;
	}
	out[n] = '\0';
	for (char *p = out; *p; p++) {
		if (*p == '+') {
			*p = '-';
		} else if (*p == '/') {
			*p = '_';
		}
	}
}

enum sig_mode {
	SIG_GOOD,  // HMAC with the right secret
	SIG_OTHER, // HMAC with another secret
	SIG_EMPTY, // no signature at all ("h.p.")
	SIG_FLIP,  // the right signature with its first character changed
};

// Builds header.payload.signature; the caller frees.
static char *make_token(const char *header, const char *payload, enum sig_mode mode)
{
	size_t cap = 4 * (strlen(header) + strlen(payload)) + 256;
	char *tok = calloc(1, cap);
	b64url(header, strlen(header), tok);
	strcat(tok, ".");
	b64url(payload, strlen(payload), tok + strlen(tok));
	const char *key = mode == SIG_OTHER ? other_secret : secret;
	unsigned char mac[32];
	unsigned mac_len = 0;
	HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)tok, strlen(tok), mac, &mac_len);
	strcat(tok, ".");
	if (mode != SIG_EMPTY) {
		char *sig = tok + strlen(tok);
		b64url(mac, mac_len, sig);
		if (mode == SIG_FLIP) {
			sig[0] = sig[0] == 'A' ? 'B' : 'A';
		}
	}
	return tok;
}

#define HS256     "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define CLAIMS_OK "{\"sub\":\"owner-1\",\"exp\":1700003600}"

struct jcase {
	const char *name;
	const char *header;
	const char *payload;
	enum sig_mode sig;
	const char *want_sub; // NULL: must be refused
	const char *want_err; // substring of the reason when refused (NULL: any)
};

static const struct jcase cases[] = {
    {"valid", HS256, CLAIMS_OK, SIG_GOOD, "owner-1", NULL},
    {"valid without typ", "{\"alg\":\"HS256\"}", CLAIMS_OK, SIG_GOOD, "owner-1", NULL},
    {"valid real exp", HS256, "{\"sub\":\"o\",\"exp\":1700000000.5}", SIG_GOOD, "o", NULL},
    {"valid nbf in the past", HS256, "{\"sub\":\"o\",\"exp\":1700003600,\"nbf\":1690000000}",
     SIG_GOOD, "o", NULL},
    {"valid utf-8 subject", HS256, "{\"sub\":\"\\u00e9l\\u00e8ve\",\"exp\":1700003600}", SIG_GOOD,
     "\xc3\xa9l\xc3\xa8ve", NULL},
    {"expired", HS256, "{\"sub\":\"o\",\"exp\":1699999999}", SIG_GOOD, NULL, "expired"},
    {"expires now", HS256, "{\"sub\":\"o\",\"exp\":1700000000}", SIG_GOOD, NULL, "expired"},
    {"exp missing", HS256, "{\"sub\":\"o\"}", SIG_GOOD, NULL, "expiry"},
    {"exp a string", HS256, "{\"sub\":\"o\",\"exp\":\"1700003600\"}", SIG_GOOD, NULL, "expiry"},
    {"nbf in the future", HS256, "{\"sub\":\"o\",\"exp\":1700003600,\"nbf\":1700000100}", SIG_GOOD,
     NULL, "not yet valid"},
    {"sub missing", HS256, "{\"exp\":1700003600}", SIG_GOOD, NULL, "subject"},
    {"sub not a string", HS256, "{\"sub\":42,\"exp\":1700003600}", SIG_GOOD, NULL, "subject"},
    {"sub empty", HS256, "{\"sub\":\"\",\"exp\":1700003600}", SIG_GOOD, NULL, "subject"},
    {"sub with NUL", HS256, "{\"sub\":\"a\\u0000b\",\"exp\":1700003600}", SIG_GOOD, NULL, NULL},
    {"alg none, empty signature", "{\"alg\":\"none\",\"typ\":\"JWT\"}", CLAIMS_OK, SIG_EMPTY, NULL,
     NULL},
    {"alg none, signed", "{\"alg\":\"none\"}", CLAIMS_OK, SIG_GOOD, NULL, "algorithm"},
    {"alg HS512", "{\"alg\":\"HS512\"}", CLAIMS_OK, SIG_GOOD, NULL, "algorithm"},
    {"alg RS256", "{\"alg\":\"RS256\"}", CLAIMS_OK, SIG_GOOD, NULL, "algorithm"},
    {"alg lower case", "{\"alg\":\"hs256\"}", CLAIMS_OK, SIG_GOOD, NULL, "algorithm"},
    {"alg missing", "{\"typ\":\"JWT\"}", CLAIMS_OK, SIG_GOOD, NULL, "algorithm"},
    {"alg not a string", "{\"alg\":256}", CLAIMS_OK, SIG_GOOD, NULL, "algorithm"},
    {"crit header", "{\"alg\":\"HS256\",\"crit\":[\"x\"]}", CLAIMS_OK, SIG_GOOD, NULL, NULL},
    {"duplicate alg", "{\"alg\":\"none\",\"alg\":\"HS256\"}", CLAIMS_OK, SIG_GOOD, NULL, NULL},
    {"bad signature", HS256, CLAIMS_OK, SIG_FLIP, NULL, "signature"},
    {"other secret", HS256, CLAIMS_OK, SIG_OTHER, NULL, "signature"},
    {"empty signature", HS256, CLAIMS_OK, SIG_EMPTY, NULL, NULL},
    {"header not JSON", "alg=HS256", CLAIMS_OK, SIG_GOOD, NULL, "header"},
    {"header an array", "[\"HS256\"]", CLAIMS_OK, SIG_GOOD, NULL, "header"},
    {"payload an array", HS256, "[\"sub\",\"exp\"]", SIG_GOOD, NULL, "claims"},
    {"payload not JSON", HS256, "sub=o", SIG_GOOD, NULL, "claims"},
};

// Tokens written out by hand: shapes make_token cannot produce.
struct rcase {
	const char *name;
	char *token; // built in main, freed after the check
};

static int check(const char *name, const char *token, const char *want_sub, const char *want_err,
                 const uint8_t *key, size_t key_len)
{
	char sub[NRPC_JWT_MAX_SUB + 1] = "untouched";
	char err[128] = "";
	int rc = nrpc_jwt_verify(key, key_len, token, NOW, sub, sizeof(sub), err, sizeof(err));
	if (want_sub != NULL) {
		if (rc != 0 || strcmp(sub, want_sub) != 0) {
			fprintf(stderr, "FAIL %s: rc=%d sub=%s err=%s\n", name, rc, sub, err);
			return 1;
		}
		return 0;
	}
	if (rc == 0) {
		fprintf(stderr, "FAIL %s: accepted (sub=%s)\n", name, sub);
		return 1;
	}
	if (strcmp(sub, "untouched") != 0) {
		fprintf(stderr, "FAIL %s: sub written on failure\n", name);
		return 1;
	}
	if (err[0] == '\0' || (want_err != NULL && strstr(err, want_err) == NULL)) {
		fprintf(stderr, "FAIL %s: reason \"%s\", want \"%s\"\n", name, err,
		        want_err != NULL ? want_err : "(any)");
		return 1;
	}
	// Reasons are short and never quote the token or the secret.
	if (strlen(err) > 64 || strstr(err, secret) != NULL ||
	    (strlen(token) >= 8 && strstr(err, token) != NULL) || strchr(err, '.') != NULL) {
		fprintf(stderr, "FAIL %s: reason leaks or is long: \"%s\"\n", name, err);
		return 1;
	}
	return 0;
}

static char *join3(const char *a, const char *b, const char *c, const char *d)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 1;
	char *s = malloc(n);
	snprintf(s, n, "%s%s%s%s", a, b, c, d);
	return s;
}

int main(void)
{
	const uint8_t *key = (const uint8_t *)secret;
	size_t key_len = strlen(secret);
	int failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *tok = make_token(cases[i].header, cases[i].payload, cases[i].sig);
		failed +=
		    check(cases[i].name, tok, cases[i].want_sub, cases[i].want_err, key, key_len);
		free(tok);
	}

	// Shapes: parts added, removed or damaged around a good token.
	char *good = make_token(HS256, CLAIMS_OK, SIG_GOOD);
	char *dot1 = strchr(good, '.');
	char *dot2 = strchr(dot1 + 1, '.');
	char *head = strndup(good, (size_t)(dot1 - good));
	char *body = strndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	const char *sig = dot2 + 1;

	struct rcase shapes[] = {
	    {"two parts", join3(head, ".", body, "")},
	    {"four parts", join3(good, ".", sig, "")},
	    {"empty header part", join3("", ".", body, ".x")},
	    {"empty payload part", join3(head, "..", sig, "")},
	    {"bad base64 in payload", join3(head, ".", "e*J9", ".x")},
	    {"padded signature", join3(good, "=", "", "")},
	    {"space in token", join3(" ", good, "", "")},
	    {"empty token", join3("", "", "", "")},
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		failed += check(shapes[i].name, shapes[i].token, NULL, NULL, key, key_len);
		free(shapes[i].token);
	}
	// The payload re-encoded with a non-zero trailing bit: same bytes, other text.
	{
		char *p = strdup(body);
		size_t n = strlen(p);
		if (n % 4 != 0) { // only when the last character carries spare bits
			const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                    "0123456789-_";
			size_t v = (size_t)(strchr(alpha, p[n - 1]) - alpha);
			p[n - 1] = alpha[v | 1];
			char *tok = join3(head, ".", p, ".");
			char *tok2 = join3(tok, sig, "", "");
			failed += check("non-canonical base64", tok2, NULL, NULL, key, key_len);
			free(tok);
			free(tok2);
		}
		free(p);
	}

	// Length cap: refused before parsing, with its own reason.
	{
		char *big = malloc(NRPC_JWT_MAX_TOKEN + 2);
		memset(big, 'A', NRPC_JWT_MAX_TOKEN + 1);
		big[NRPC_JWT_MAX_TOKEN + 1] = '\0';
		failed += check("token too long", big, NULL, "too long", key, key_len);
		free(big);
	}
	// A NULL token, an empty secret, a too small sub buffer.
	{
		char err[64] = "";
		if (nrpc_jwt_verify(key, key_len, NULL, NOW, NULL, 0, err, sizeof(err)) == 0) {
			fprintf(stderr, "FAIL NULL token accepted\n");
			failed++;
		}
		if (nrpc_jwt_verify((const uint8_t *)"", 0, good, NOW, NULL, 0, err, sizeof(err)) ==
		    0) {
			fprintf(stderr, "FAIL empty secret accepted\n");
			failed++;
		}
		char small[4];
		if (nrpc_jwt_verify(key, key_len, good, NOW, small, sizeof(small), err,
		                    sizeof(err)) == 0) {
			fprintf(stderr, "FAIL sub copied into a too small buffer\n");
			failed++;
		}
	}
	// A subject over NRPC_JWT_MAX_SUB bytes.
	{
		char claims[NRPC_JWT_MAX_SUB + 64];
		char longsub[NRPC_JWT_MAX_SUB + 2];
		memset(longsub, 's', sizeof(longsub) - 1);
		longsub[sizeof(longsub) - 1] = '\0';
		snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"exp\":1700003600}", longsub);
		char *tok = make_token(HS256, claims, SIG_GOOD);
		failed += check("sub too long", tok, NULL, "subject", key, key_len);
		free(tok);
		longsub[NRPC_JWT_MAX_SUB] = '\0'; // exactly the maximum is fine
		snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"exp\":1700003600}", longsub);
		tok = make_token(HS256, claims, SIG_GOOD);
		failed += check("sub at the maximum", tok, longsub, NULL, key, key_len);
		free(tok);
	}

	// Round trips through nrpc_jwt_sign.
	{
		char *tok = nrpc_jwt_sign(key, key_len, "owner-42", NOW + 60);
		if (tok == NULL) {
			fprintf(stderr, "FAIL sign returned NULL\n");
			failed++;
		} else {
			failed += check("sign then verify", tok, "owner-42", NULL, key, key_len);
			char sub[64], err[64];
			if (nrpc_jwt_verify(key, key_len, tok, NOW + 60, sub, sizeof(sub), err,
			                    sizeof(err)) == 0) {
				fprintf(stderr, "FAIL signed token valid at exp\n");
				failed++;
			}
			failed += check("signed token, other secret", tok, NULL, "signature",
			                (const uint8_t *)other_secret, strlen(other_secret));
			free(tok);
		}
		tok = nrpc_jwt_sign(key, key_len, "\"quoted\" \\ sub", NOW + 60);
		failed += check("sign escapes JSON", tok, "\"quoted\" \\ sub", NULL, key, key_len);
		free(tok);
	}

	// Maximum lifetime: exp at most max_lifetime_s after now; 0 = no limit.
	{
		const int64_t max = 24 * 3600;
		struct {
			const char *name;
			int64_t exp_delta, max;
			bool ok;
		} lt[] = {
		    {"lifetime exceeded", max + 1, max, false},
		    {"lifetime 48 h, limit 24 h", 2 * max, max, false},
		    {"lifetime exactly at the limit", max, max, true},
		    {"lifetime under the limit", 60, max, true},
		    {"no limit", 3650 * max, 0, true},
		};
		for (size_t i = 0; i < sizeof(lt) / sizeof(lt[0]); i++) {
			char *tok = nrpc_jwt_sign(key, key_len, "owner-42", NOW + lt[i].exp_delta);
			char sub[64] = "", err[64] = "";
			int64_t until = 0;
			int rc = tok == NULL
			             ? -2
			             : nrpc_jwt_verify_until(key, key_len, tok, NOW, lt[i].max, sub,
			                                     sizeof(sub), &until, err, sizeof(err));
			bool good_rc = lt[i].ok
			                   ? (rc == 0 && strcmp(sub, "owner-42") == 0 &&
			                      until == NOW + lt[i].exp_delta)
			                   : (rc == -1 && strstr(err, "too far ahead") != NULL &&
			                      sub[0] == '\0');
			if (!good_rc) {
				fprintf(stderr, "FAIL %s: rc %d err \"%s\"\n", lt[i].name, rc, err);
				failed++;
			}
			free(tok);
		}
	}

	free(head);
	free(body);
	free(good);
	printf("jwt_test: %s\n", failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
