// base b64url: RFC 4648's test vectors in both encodings, round trips of
// every length, and the strictness that gives each byte string one spelling.
#include <string.h>

#include "base/b64url.h"
#include "base/test/check.h"

static const struct {
	const char *raw, *std, *url;
} vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
    {"\xfb\xff\xbf", "+/+/", "-_-_"},
};

static void check_decode_any(const char *in, const char *want)
{
	uint8_t out[64];
	long n = base_b64_decode_any(in, strlen(in), out, sizeof out);
	if (want == NULL)
		CHECK(n == -1, "\"%s\" accepted", in);
	else
		CHECK(n == (long)strlen(want) && memcmp(out, want, (size_t)n) == 0, "\"%s\": %ld",
		      in, n);
}

int main(void)
{
	char text[64];
	uint8_t out[64];
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		const uint8_t *raw = (const uint8_t *)vectors[i].raw;
		size_t len = strlen(vectors[i].raw);
		base_b64_encode(raw, len, text);
		CHECK_STR(text, vectors[i].std);
		CHECK_EQ(base_b64_len(len), strlen(vectors[i].std));
		base_b64url_encode(raw, len, text);
		CHECK_STR(text, vectors[i].url);
		CHECK_EQ(base_b64url_len(len), strlen(vectors[i].url));
		CHECK_EQ(
		    base_b64url_decode(vectors[i].url, strlen(vectors[i].url), out, sizeof out),
		    len);
		check_decode_any(vectors[i].std, vectors[i].raw);
		check_decode_any(vectors[i].url, vectors[i].raw);
	}
	for (size_t len = 0; len < 40; len++) {
		uint8_t raw[40];
		for (size_t i = 0; i < len; i++)
			raw[i] = (uint8_t)(i * 97 + len);
		base_b64url_encode(raw, len, text);
		CHECK(base_b64url_decode(text, strlen(text), out, sizeof out) == (long)len &&
		          memcmp(out, raw, len) == 0,
		      "url round trip of %zu bytes", len);
		base_b64_encode(raw, len, text);
		CHECK(base_b64_decode_any(text, strlen(text), out, sizeof out) == (long)len &&
		          memcmp(out, raw, len) == 0,
		      "std round trip of %zu bytes", len);
		CHECK(base_b64url_decode(text, strlen(text), out, sizeof out) == -1 || len % 3 == 0,
		      "padding accepted by the strict URL decoder (%zu bytes)", len);
	}
	// One spelling: non-zero trailing bits, impossible lengths, foreign characters.
	CHECK_EQ(base_b64url_decode("Zh", 2, out, sizeof out), -1);
	CHECK_EQ(base_b64url_decode("Z", 1, out, sizeof out), -1);
	CHECK_EQ(base_b64url_decode("Zm9v+", 5, out, sizeof out), -1);
	CHECK_EQ(base_b64url_decode("Zm8=", 4, out, sizeof out), -1);
	CHECK_EQ(base_b64url_decode("Zm9vYmFy", 8, out, 5), -1); // does not fit
	check_decode_any("Zh==", NULL);
	check_decode_any("Zg=", NULL);   // padding must complete the group
	check_decode_any("Zg===", NULL); // at most two
	check_decode_any("=", NULL);
	check_decode_any("Zm 9v", NULL);
	check_decode_any("Zm9v\n", NULL);
	return check_summary("base_b64");
}
