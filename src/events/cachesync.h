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
// Threads: one thread of its own, with its own direct PostgreSQL connection
// (like the relay's); apply runs on it and may block briefly. Memory: the
// changes passed to apply are valid during the call only.
#ifndef EVENTS_CACHESYNC_H
#define EVENTS_CACHESYNC_H

#include <stddef.h>

#include "store/outbox.h"

#define CACHESYNC_POLL_MS 50  // how often the log is read while it is quiet
#define CACHESYNC_BATCH   256 // changes per read and per apply

typedef struct events_cachesync events_cachesync;

// Applies n changes; returns 0 (taken) or -1 (recorded for later: the
// reader moves on either way).
typedef int (*events_cachesync_apply)(void *arg, const store_outbox_change *ch, size_t n);

// Starts the thread. 0, or -1 with a reason in err.
int events_cachesync_start(events_cachesync **out, const char *conninfo,
                           events_cachesync_apply apply, void *arg, char *err, size_t errcap);
// Stops and joins the thread (promptly: it sleeps in short slices). NULL: no-op.
void events_cachesync_stop(events_cachesync *s);

#endif
