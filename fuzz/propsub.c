// fuzz_propsub: propsub's live message framing (clients/sub/propsub.c): a
// PUB message is "<type>\0<serialized property.v1.Event>".
//
// The parser (on_message) and what it feeds (on_live: duplicates, gaps,
// delivery, the prefix match) are static, and reaching them through the
// public API would need a PUB socket, a ReadEvents server and ~100 ms of
// receive slice per input. So propsub.c is compiled into this target and its
// static functions are called directly on a subscriber built by hand, with
// no socket and no RPC client: retry_at is set far ahead, so a gap is never
// read from the log (try_sync returns at once) and stays a pending sync.
// Not reached here: propsub_open/run/close, ReadEvents and sync_log.
//
// The first input byte picks the subscriber's state (prefix, position,
// local filtering); the rest is the message body. Checks beyond the
// sanitizers: a delivered event comes in seq order above the previous
// position, which moves past it; a message counts as at most one of
// delivered, duplicate or malformed, and otherwise either moves the position
// (an event of another type, skipped in order) or leaves a sync pending (a
// gap); a known position never wraps back to 0; no ReadEvents call is made.
#include "../clients/sub/propsub.c"
#include "../clients/sub/subtcp.c"

#include "fuzz.h"

static uint64_t delivered_last;

static void on_event(const Property__V1__Event *ev, void *arg)
{
	(void)arg;
	FUZZ_ASSERT(ev->seq > delivered_last, "seq %llu delivered after %llu",
	            (unsigned long long)ev->seq, (unsigned long long)delivered_last);
	delivered_last = ev->seq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	static const char *const prefixes[] = {"", "property.", "property.created",
	                                       "property.updated"};
	const char *prefix = prefixes[data[0] & 3];
	propsub s;
	memset(&s, 0, sizeof(s));
	s.prefix = (char *)prefix;
	s.prefix_len = strlen(prefix);
	s.filter_locally = (data[0] & 4) != 0;
	s.on_event = on_event;
	s.next_known = (data[0] & 8) == 0;
	s.next = s.next_known ? (uint64_t)(data[0] >> 4) + 1 : 0;
	s.need_sync = false;
	s.retry_at = INT64_MAX; // never call ReadEvents: there is no client
	s.quiet_since = 0;
	atomic_init(&s.stop, false);
	delivered_last = s.next_known ? s.next - 1 : 0;

	// A found bug, fixed: an event with seq 2^64-1 moved the position to
	// seq + 1, which wrapped to 0 ("from now"); such events are now dropped.

	// A copy of exactly the message's bytes: a read past them is caught.
	uint8_t *m = malloc(size - 1 > 0 ? size - 1 : 1);
	FUZZ_ASSERT(m != NULL, "malloc");
	if (size > 1)
		memcpy(m, data + 1, size - 1);
	uint64_t next_before = s.next;
	on_message(&s, m, size - 1);
	free(m);

	uint64_t outcomes = s.st.delivered + s.st.duplicates + s.st.malformed;
	FUZZ_ASSERT(outcomes <= 1, "one message, %llu outcomes", (unsigned long long)outcomes);
	FUZZ_ASSERT(s.st.read_calls == 0, "ReadEvents called");
	if (s.st.delivered == 1)
		FUZZ_ASSERT(s.next == delivered_last + 1, "position %llu after delivering %llu",
		            (unsigned long long)s.next, (unsigned long long)delivered_last);
	if (outcomes == 0 && !s.need_sync)
		// Neither delivered, dropped nor malformed: an event that does not
		// match the prefix (skipped in order) or the first of a "from now".
		FUZZ_ASSERT(s.next > next_before, "a message vanished without a trace");
	FUZZ_ASSERT(s.next >= next_before || next_before == 0, "position went back");
	FUZZ_ASSERT(!s.next_known || s.next != 0, "the position wrapped to PROPSUB_FROM_NOW");
	return 0;
}
