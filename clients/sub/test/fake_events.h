// A fake propertyd for subscriber tests: an in-memory event log, PUB
// sockets (one per "instance") and a raw rep0 server answering
// EventService/ReadEvents from the log (rpc.v1 envelope, bearer token checked).
//
// The test decides what is published: an event can be appended to the log
// without being published (a lost message), or published twice.
// Threads: the RPC server runs on a thread of its own; everything else is
// called from the test's thread. The log is guarded by a mutex.
#ifndef FAKE_EVENTS_H
#define FAKE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_MAX_EVENTS 4096
#define FAKE_MAX_PUBS   2

typedef struct fake_events fake_events;

// Listens on ipc URLs unique to this process and `tag`; fills the URL arrays
// (valid until fake_close). Returns NULL on failure (printed).
fake_events *fake_open(const char *tag, size_t n_pubs, const char *token);
void fake_close(fake_events *f);

const char *const *fake_pub_urls(const fake_events *f);
const char *const *fake_rpc_urls(const fake_events *f);

// Appends an event of `type` to the log; returns its seq.
uint64_t fake_append(fake_events *f, const char *type);
// Publishes the logged event `seq` on PUB socket `pub` (type, 0x00, Event).
void fake_publish(fake_events *f, size_t pub, uint64_t seq);
// Sends raw bytes on PUB socket `pub` (for malformed-message cases).
void fake_publish_raw(fake_events *f, size_t pub, const void *data, size_t len);
// Waits (bounded: 10 s) until every PUB socket has at least one subscriber
// connected. Returns 0, or -1 on timeout.
int fake_wait_subscribers(fake_events *f);
// Retention: ReadEvents after a seq below `through` answers 11 OUT_OF_RANGE.
void fake_prune(fake_events *f, uint64_t through);
// ReadEvents calls answered so far.
unsigned fake_read_calls(fake_events *f);

#endif
