// nrpc JWT: HS256 verify and sign (docs/contract.md section 3).
//
// Order of checks in nrpc_jwt_verify: length cap, shape (three non-empty
// base64url parts), header (a JSON object naming HS256), signature (HMAC-SHA256
// compared in constant time), and only then the claims (sub, exp, the maximum
// lifetime, nbf). The payload is never
// parsed before its signature is known good. Error texts are short and never
// quote the token or the secret.
#include "nrpc/jwt.h"

#include "base/b64url.h"

#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIG_LEN 32 // HMAC-SHA256 output, bytes

// Decoded parts are at most 3/4 of the token; the token is capped, so a stack
// buffer of the cap's size always fits one part.
#define PART_CAP NRPC_JWT_MAX_TOKEN

static void set_err(char *err, size_t errcap, const char *msg)
{
	if (err != NULL && errcap > 0) {
		snprintf(err, errcap, "%s", msg);
	}
}

static bool hmac_sha256(const uint8_t *secret, size_t secret_len, const char *data, size_t len,
                        uint8_t mac[SIG_LEN])
{
	static const uint8_t empty_key = 0; // HMAC() wants a non-NULL key pointer
	unsigned mac_len = 0;
	const uint8_t *key = secret_len > 0 ? secret : &empty_key;
	if (secret_len > INT32_MAX) {
		return false;
	}
	if (HMAC(EVP_sha256(), key, (int)secret_len, (const unsigned char *)data, len, mac,
	         &mac_len) == NULL) {
		return false;
	}
	return mac_len == SIG_LEN;
}

// Decodes one base64url part and parses it as a JSON object; NULL otherwise.
static json_t *decode_object(const char *part, size_t len)
{
	uint8_t buf[PART_CAP];
	long n = base_b64url_decode(part, len, buf, sizeof(buf));
	if (n <= 0) {
		return NULL;
	}
	json_t *obj = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	if (obj != NULL && !json_is_object(obj)) {
		json_decref(obj);
		obj = NULL;
	}
	return obj;
}

// The header must name HS256. "typ" is optional; "crit" names extensions we
// do not implement, so a header carrying it is refused (RFC 7515 4.1.11).
static const char *check_header(const json_t *hdr)
{
	const json_t *alg = json_object_get(hdr, "alg");
	if (!json_is_string(alg)) {
		return "token header has no algorithm";
	}
	if (strcmp(json_string_value(alg), "HS256") != 0 || json_string_length(alg) != 5) {
		return "unsupported token algorithm";
	}
	const json_t *typ = json_object_get(hdr, "typ");
	if (typ != NULL && !json_is_string(typ)) {
		return "malformed token header";
	}
	if (json_object_get(hdr, "crit") != NULL) {
		return "unsupported token header";
	}
	return NULL;
}

// A NumericDate claim as seconds; false when not a finite JSON number.
static bool claim_seconds(const json_t *v, double *out)
{
	if (json_is_integer(v)) {
		*out = (double)json_integer_value(v);
		return true;
	}
	if (json_is_real(v) && isfinite(json_real_value(v))) {
		*out = json_real_value(v);
		return true;
	}
	return false;
}

// Checks the claims; on success copies "sub" into sub[subcap].
static const char *check_claims(const json_t *claims, int64_t now, int64_t max_lifetime_s,
                                char *sub, size_t subcap, double *exp_out)
{
	const json_t *jsub = json_object_get(claims, "sub");
	if (jsub == NULL) {
		return "token has no subject";
	}
	if (!json_is_string(jsub)) {
		return "token subject is not a string";
	}
	size_t sub_len = json_string_length(jsub);
	const char *sub_val = json_string_value(jsub);
	if (sub_len == 0) {
		return "token subject is empty";
	}
	if (sub_len > NRPC_JWT_MAX_SUB || strlen(sub_val) != sub_len) {
		return "token subject is invalid";
	}
	if (sub == NULL || sub_len >= subcap) {
		return "token subject too long";
	}

	const json_t *jexp = json_object_get(claims, "exp");
	double exp = 0;
	if (jexp == NULL) {
		return "token has no expiry";
	}
	if (!claim_seconds(jexp, &exp)) {
		return "token expiry is not a number";
	}
	if (exp <= (double)now) {
		return "token expired";
	}
	// A token may live at most max_lifetime_s from now: one minted for longer
	// (or with a far-future exp) is refused whatever its other claims.
	if (max_lifetime_s > 0 && exp > (double)now + (double)max_lifetime_s) {
		return "expiry too far ahead";
	}

	const json_t *jnbf = json_object_get(claims, "nbf");
	double nbf = 0;
	if (jnbf != NULL) {
		if (!claim_seconds(jnbf, &nbf)) {
			return "token nbf is not a number";
		}
		if (nbf > (double)now) {
			return "token not yet valid";
		}
	}
	memcpy(sub, sub_val, sub_len + 1);
	*exp_out = exp;
	return NULL;
}

int nrpc_jwt_verify(const uint8_t *secret, size_t secret_len, const char *token, int64_t now,
                    char *sub, size_t subcap, char *err, size_t errcap)
{
	int64_t until;
	return nrpc_jwt_verify_until(secret, secret_len, token, now, 0, sub, subcap, &until, err,
	                             errcap);
}

int nrpc_jwt_verify_until(const uint8_t *secret, size_t secret_len, const char *token, int64_t now,
                          int64_t max_lifetime_s, char *sub, size_t subcap, int64_t *valid_until,
                          char *err, size_t errcap)
{
	double exp = 0;
	const char *why = NULL;
	json_t *hdr = NULL;
	json_t *claims = NULL;

	if (secret == NULL || secret_len == 0) {
		why = "no token secret configured";
		goto out;
	}
	if (token == NULL || token[0] == '\0') {
		why = "missing token";
		goto out;
	}
	size_t len = strnlen(token, NRPC_JWT_MAX_TOKEN + 1);
	if (len > NRPC_JWT_MAX_TOKEN) {
		why = "token too long";
		goto out;
	}

	// Exactly three parts: header.payload.signature, none empty.
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 =
	    dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (dot1 == NULL || dot2 == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
		why = "malformed token";
		goto out;
	}
	size_t hdr_len = (size_t)(dot1 - token);
	size_t pay_len = (size_t)(dot2 - dot1 - 1);
	size_t sig_len = len - (size_t)(dot2 + 1 - token);
	if (hdr_len == 0 || pay_len == 0 || sig_len == 0) {
		why = "malformed token";
		goto out;
	}

	if ((hdr = decode_object(token, hdr_len)) == NULL) {
		why = "malformed token header";
		goto out;
	}
	if ((why = check_header(hdr)) != NULL) {
		goto out;
	}

	uint8_t sig[SIG_LEN + 3]; // room to notice a longer signature
	uint8_t mac[SIG_LEN];
	long n = base_b64url_decode(dot2 + 1, sig_len, sig, sizeof(sig));
	if (n != SIG_LEN) {
		why = "bad signature";
		goto out;
	}
	if (!hmac_sha256(secret, secret_len, token, (size_t)(dot2 - token), mac)) {
		why = "cannot check signature";
		goto out;
	}
	if (CRYPTO_memcmp(sig, mac, SIG_LEN) != 0) {
		why = "bad signature";
		goto out;
	}

	if ((claims = decode_object(dot1 + 1, pay_len)) == NULL) {
		why = "malformed token claims";
		goto out;
	}
	why = check_claims(claims, now, max_lifetime_s, sub, subcap, &exp);
	if (why == NULL) {
		// Valid while now < exp (whole seconds, rounded up).
		*valid_until = exp >= 9.2e18 ? INT64_MAX : (int64_t)ceil(exp);
	}

out:
	json_decref(hdr);
	json_decref(claims);
	if (why != NULL) {
		set_err(err, errcap, why);
		return -1;
	}
	return 0;
}

char *nrpc_jwt_sign(const uint8_t *secret, size_t secret_len, const char *sub, int64_t exp)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char *out = NULL;
	char *claims_text = NULL;
	json_t *claims = NULL;

	if (sub == NULL || (secret == NULL && secret_len > 0)) {
		return NULL;
	}
	claims = json_pack("{s:s, s:I, s:I}", "sub", sub, "exp", (json_int_t)exp, "iat",
	                   (json_int_t)time(NULL));
	if (claims == NULL) {
		goto out;
	}
	claims_text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	if (claims_text == NULL) {
		goto out;
	}
	size_t h_len = base_b64url_len(sizeof(header) - 1);
	size_t c_len = base_b64url_len(strlen(claims_text));
	size_t s_len = base_b64url_len(SIG_LEN);
	out = malloc(h_len + 1 + c_len + 1 + s_len + 1);
	if (out == NULL) {
		goto out;
	}
	base_b64url_encode((const uint8_t *)header, sizeof(header) - 1, out);
	out[h_len] = '.';
	base_b64url_encode((const uint8_t *)claims_text, strlen(claims_text), out + h_len + 1);
	uint8_t mac[SIG_LEN];
	if (!hmac_sha256(secret, secret_len, out, h_len + 1 + c_len, mac)) {
		free(out);
		out = NULL;
		goto out;
	}
	out[h_len + 1 + c_len] = '.';
	base_b64url_encode(mac, SIG_LEN, out + h_len + 1 + c_len + 1);

out:
	free(claims_text);
	json_decref(claims);
	return out;
}
