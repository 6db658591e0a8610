// base nngclose: sockets are closed within the bound and `done` runs once,
// before the call returns; closed sockets refuse further use.
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>

#include "base/clock.h"
#include "base/nngclose.h"
#include "base/test/check.h"

static int done_calls;

static void on_done(void *arg)
{
	CHECK(arg == &done_calls);
	done_calls++;
}

int main(void)
{
	nng_socket s[3];
	CHECK(nng_pub0_open(&s[0]) == 0);
	CHECK(nng_rep0_open(&s[1]) == 0);
	CHECK(nng_pub0_open(&s[2]) == 0);
	CHECK(nng_listen(s[0], "inproc://base-nngclose", NULL, 0) == 0);

	int64_t t0 = base_now_ms();
	CHECK(base_nng_close_all(s, 2, 2000, on_done, &done_calls) == 0);
	CHECK_EQ(done_calls, 1);
	CHECK(base_nng_close(s[2], 2000) == 0);
	CHECK(base_now_ms() - t0 < 2000);
	for (int i = 0; i < 3; i++)
		CHECK(nng_close(s[i]) == NNG_ECLOSED, "socket %d still open", i);
	CHECK(base_nng_close_all(NULL, 0, 100, on_done, &done_calls) == 0);
	CHECK_EQ(done_calls, 2);
	nng_fini();
	return check_summary("base_nngclose");
}
