// callers: the per-caller limit of requests in flight, and the pause a
// caller earns by drawing refusals faster than refusal_rate (the transport
// stops reading the connection that carried the refused request that long).
#include <stdint.h>
#include <stdio.h>

#include "base/test/check.h"
#include "callers.h"

int main(void)
{
	nrpc_callers t;
	CHECK(nrpc_callers_init(&t, 2) == 0);
	t.refusal_rate = 100; // a burst of 64, then one every 10 ms

	struct nrpc_caller_entry *a1, *a2, *a3, *b1;
	int64_t pause = -1;
	CHECK(nrpc_callers_acquire(&t, "alice", &a1, &pause) == CALLERS_ADMITTED && pause == 0);
	CHECK(nrpc_callers_acquire(&t, "alice", &a2, &pause) == CALLERS_ADMITTED && pause == 0);
	// At the limit: refused, and after the burst each refusal asks for a pause.
	int paused = 0, first_paused = -1;
	for (int i = 0; i < 100; i++) {
		CHECK(nrpc_callers_acquire(&t, "alice", &a3, &pause) == CALLERS_REFUSED);
		CHECK(a3 == NULL && pause >= 0);
		if (pause > 0 && first_paused < 0)
			first_paused = i;
		paused += pause > 0;
	}
	CHECK(first_paused >= 60 && first_paused <= 66); // the burst of 64 (timing slack)
	CHECK(paused >= 30);
	// Another caller is neither refused nor paused.
	CHECK(nrpc_callers_acquire(&t, "bob", &b1, &pause) == CALLERS_ADMITTED && pause == 0);
	// A released request makes room again; a caller gone to 0 starts afresh.
	nrpc_callers_release(&t, a1);
	CHECK(nrpc_callers_acquire(&t, "alice", &a1, &pause) == CALLERS_ADMITTED && pause == 0);
	nrpc_callers_release(&t, a1);
	nrpc_callers_release(&t, a2);
	CHECK(nrpc_callers_acquire(&t, "alice", &a1, &pause) == CALLERS_ADMITTED);
	CHECK(nrpc_callers_acquire(&t, "alice", &a2, &pause) == CALLERS_ADMITTED);
	CHECK(nrpc_callers_acquire(&t, "alice", &a3, &pause) == CALLERS_REFUSED && pause == 0);

	// refusal_rate 0: refusals never pause.
	t.refusal_rate = 0;
	for (int i = 0; i < 200; i++) {
		nrpc_callers_acquire(&t, "alice", &a3, &pause);
		CHECK(pause == 0);
	}
	nrpc_callers_release(&t, a1);
	nrpc_callers_release(&t, a2);
	nrpc_callers_release(&t, b1);
	nrpc_callers_fini(&t);
	return check_summary("rpc_callers_test");
}
