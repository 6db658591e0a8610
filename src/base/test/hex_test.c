// base hex: digests and UUIDs in lower case, digit values in either case.
#include <string.h>

#include "base/hex.h"
#include "base/test/check.h"

int main(void)
{
	char out[64];
	base_hex_encode((const uint8_t *)"", 0, out);
	CHECK_STR(out, "");
	base_hex_encode((const uint8_t *)"\x00\x01\x7f\x80\xab\xff", 6, out);
	CHECK_STR(out, "00017f80abff");

	uint8_t b[16];
	for (int i = 0; i < 16; i++)
		b[i] = (uint8_t)(i * 17);
	char uuid[BASE_UUID_TEXT_LEN + 1];
	base_hex_uuid(b, uuid);
	CHECK_STR(uuid, "00112233-4455-6677-8899-aabbccddeeff");
	CHECK_EQ(strlen(uuid), BASE_UUID_TEXT_LEN);

	uint8_t back[16];
	CHECK(base_hex_uuid_parse(uuid, back) && memcmp(back, b, 16) == 0);
	CHECK(base_hex_uuid_parse("00112233-4455-6677-8899-AABBCCDDEEFF", back) &&
	      memcmp(back, b, 16) == 0);
	static const char *const bad[] = {
	    "",
	    "00112233-4455-6677-8899-aabbccddeef",   // short
	    "00112233-4455-6677-8899-aabbccddeeff0", // long
	    "001122334-455-6677-8899-aabbccddeeff",  // dash moved
	    "00112233_4455_6677_8899_aabbccddeeff",
	    "00112233-4455-6677-8899-aabbccddeefg",
	    "0011223344556677-8899-aabbccddeeff----",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(!base_hex_uuid_parse(bad[i], back), "\"%s\" parsed", bad[i]);

	for (int c = 0; c < 256; c++) {
		int want = c >= '0' && c <= '9'   ? c - '0'
		           : c >= 'a' && c <= 'f' ? c - 'a' + 10
		           : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                                  : -1;
		CHECK(base_hex_value((char)c) == want, "character %d", c);
	}
	return check_summary("base_hex");
}
