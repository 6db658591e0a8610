// base bytebuf: bytes come out in the order they went in while the reader
// consumes in other steps than the writer appends; consumed room is reused
// before the buffer grows; reserve keeps the pending bytes.
#include <stdlib.h>
#include <string.h>

#include "base/bytebuf.h"
#include "base/test/check.h"

int main(void)
{
	base_bytebuf q = {0};
	CHECK(base_bytebuf_pending(&q) == 0);
	uint8_t next_in = 0, next_out = 0;
	for (int round = 0; round < 2000; round++) {
		uint8_t chunk[700];
		size_t k = (size_t)(round * 37) % sizeof chunk;
		for (size_t i = 0; i < k; i++)
			chunk[i] = next_in++;
		CHECK(base_bytebuf_add(&q, chunk, k) == 0);
		size_t take = (size_t)(round * 53) % 800;
		if (take > base_bytebuf_pending(&q))
			take = base_bytebuf_pending(&q);
		for (size_t i = 0; i < take; i++)
			CHECK(q.b[q.off + i] == next_out++, "byte %zu of round %d", i, round);
		q.off += take;
	}
	// Never more than about 700 pending at once: the room is reused.
	CHECK(q.cap <= 8192, "cap %zu", q.cap);

	// Reserve moves the pending bytes to the front before it grows.
	size_t pending = base_bytebuf_pending(&q);
	uint8_t first = q.b[q.off];
	CHECK(base_bytebuf_reserve(&q, q.cap - pending, 64) == 0);
	CHECK(q.off == 0 && q.len == pending && q.b[0] == first);
	size_t old_cap = q.cap;
	CHECK(base_bytebuf_reserve(&q, old_cap, 64) == 0 && q.cap >= pending + old_cap);
	CHECK(base_bytebuf_pending(&q) == pending && q.b[0] == first);

	base_bytebuf_clear(&q);
	CHECK(base_bytebuf_pending(&q) == 0);
	free(q.b);

	// A fresh buffer starts at the capacity asked for.
	base_bytebuf r = {0};
	CHECK(base_bytebuf_reserve(&r, 10, 64) == 0 && r.cap == 64);
	free(r.b);
	return check_summary("base_bytebuf");
}
