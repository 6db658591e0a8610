// events cachesync: every instance follows the published event log and hands
// each committed change -- whichever instance wrote it -- to a function that
// invalidates the cache (app wires it to cache_apply_log).
//
// Why: a writer invalidates Redis itself right after its commit, but if it
// crashed in between, or could not reach Redis while another instance can,
// that entry would stay stale until its TTL. Following the log bounds it by
// the relay's lag plus CACHESYNC_POLL_MS, on every instance that serves from
// Redis. It starts from the log's head at start-up (older changes were
// invalidated by their writers or are older than anything this instance
// could have cached) and never goes back.
//
// The leader's relay hands this instance's cache sync the changes it has just
// published (events_cachesync_feed): while they continue the cursor without a
// gap they are applied as they are, and the log is not read; a gap, a feed
// too large, or CACHESYNC_POLL_MS without a feed sends the thread back to
// the log. Instances that do not lead read the log as before.
//
// Threads: one thread of its own, with its own direct PostgreSQL connection
// (like the relay's); apply runs on it and may block briefly. Memory: the
// changes passed to apply are valid during the call only.
#ifndef EVENTS_CACHESYNC_H
#define EVENTS_CACHESYNC_H

#include <stddef.h>

#include "store/outbox.h"

#define CACHESYNC_POLL_MS  50   // how often the log is read while it is quiet
#define CACHESYNC_BATCH    256  // changes per read and per apply
#define CACHESYNC_FEED_MAX 1024 // fed changes kept until the thread takes them

typedef struct events_cachesync events_cachesync;

// Applies n changes; returns 0 (taken) or -1 (recorded for later: the
// reader moves on either way).
typedef int (*events_cachesync_apply)(void *arg, const store_outbox_change *ch, size_t n);

// Starts the thread. 0, or -1 with a reason in err.
int events_cachesync_start(events_cachesync **out, const char *conninfo,
                           events_cachesync_apply apply, void *arg, char *err, size_t errcap);
// Hands over n published changes in seq order (copied); any thread, never
// blocks for long. More than CACHESYNC_FEED_MAX waiting: dropped (the
// thread reads them from the log). s NULL: no-op.
void events_cachesync_feed(events_cachesync *s, const store_outbox_change *ch, size_t n);
// Stops and joins the thread (promptly: it sleeps in short slices). NULL: no-op.
void events_cachesync_stop(events_cachesync *s);

#endif
