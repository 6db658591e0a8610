// base strbuf: appends of every size grow the buffer and keep the text
// NUL-terminated; an empty put still gives "".
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/test/check.h"

int main(void)
{
	base_strbuf b = {0};
	CHECK(base_strbuf_put(&b, "", 0) && b.p != NULL && b.len == 0 && b.p[0] == '\0');
	char want[5000];
	size_t n = 0;
	for (size_t step = 1; n + step < sizeof want; step += 37) {
		char chunk[300];
		for (size_t i = 0; i < step % sizeof chunk; i++)
			chunk[i] = (char)('a' + (n + i) % 26);
		size_t k = step % sizeof chunk;
		CHECK(base_strbuf_put(&b, chunk, k));
		memcpy(want + n, chunk, k);
		n += k;
		CHECK(b.len == n && b.cap > n && b.p[n] == '\0');
	}
	CHECK(memcmp(b.p, want, n) == 0);
	CHECK(!b.failed);
	free(b.p);

	base_strbuf f = {.failed = true};
	CHECK(!base_strbuf_put(&f, "x", 1) && f.p == NULL, "a failed buffer stays failed");
	return check_summary("base_strbuf");
}
