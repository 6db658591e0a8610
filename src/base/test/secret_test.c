// base secret: the one rule for a secret file (server and clients): one
// trailing "\n" or "\r\n" dropped, a lone "\r" kept, NULs kept, the size
// bound counted before the newline is dropped, empty and unreadable refused.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/secret.h"
#include "base/test/check.h"

#define MAX 16

static char path[] = "/tmp/base-secret-test-XXXXXX";

static void put(const char *bytes, size_t n)
{
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL && fwrite(bytes, 1, n, f) == n && fclose(f) == 0, "write %s", path);
}

static void expect(const char *name, const char *file, size_t n, enum base_secret_result want,
                   const char *secret, size_t secret_len)
{
	uint8_t *out = (uint8_t *)"not touched";
	size_t len = 99;
	put(file, n);
	enum base_secret_result rc = base_secret_read(path, MAX, &out, &len);
	CHECK(rc == want, "%s: result %d, want %d", name, rc, want);
	if (rc == BASE_SECRET_OK && want == BASE_SECRET_OK) {
		CHECK(len == secret_len && memcmp(out, secret, len) == 0 && out[len] == '\0',
		      "%s: %zu bytes", name, len);
	} else {
		CHECK(out == NULL && len == 0, "%s: outputs set on failure", name);
	}
	if (rc == BASE_SECRET_OK)
		free(out);
}

int main(void)
{
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);

	expect("plain", "abc", 3, BASE_SECRET_OK, "abc", 3);
	expect("newline", "abc\n", 4, BASE_SECRET_OK, "abc", 3);
	expect("crlf", "abc\r\n", 5, BASE_SECRET_OK, "abc", 3);
	expect("one newline only", "abc\n\n", 5, BASE_SECRET_OK, "abc\n", 4);
	expect("lone cr kept", "abc\r", 4, BASE_SECRET_OK, "abc\r", 4);
	expect("cr cr lf", "abc\r\r\n", 6, BASE_SECRET_OK, "abc\r", 4);
	expect("NULs kept", "a\0b\n", 4, BASE_SECRET_OK, "a\0b", 3);
	expect("leading space kept", " abc", 4, BASE_SECRET_OK, " abc", 4);
	expect("at the bound", "0123456789abcdef", 16, BASE_SECRET_OK, "0123456789abcdef", 16);
	expect("over the bound", "0123456789abcdefg", 17, BASE_SECRET_TOO_LARGE, NULL, 0);
	expect("bound counts the newline", "0123456789abcdef\n", 17, BASE_SECRET_TOO_LARGE, NULL,
	       0);
	expect("empty", "", 0, BASE_SECRET_EMPTY, NULL, 0);
	expect("only a newline", "\n", 1, BASE_SECRET_EMPTY, NULL, 0);
	expect("only crlf", "\r\n", 2, BASE_SECRET_EMPTY, NULL, 0);

	unlink(path);
	uint8_t *out;
	size_t len;
	errno = 0;
	CHECK(base_secret_read(path, MAX, &out, &len) == BASE_SECRET_UNREADABLE &&
	      errno == ENOENT && out == NULL);
	CHECK(base_secret_read("/", MAX, &out, &len) == BASE_SECRET_UNREADABLE, "a directory");
	return check_summary("base_secret");
}
