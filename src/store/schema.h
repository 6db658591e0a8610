// store schema: names and numbers that the SQL of several store modules share
// with each other and with the migrations (src/store/migrations).
#ifndef STORE_SCHEMA_H
#define STORE_SCHEMA_H

// store_outbox_notify() sends on this channel after events were appended (never
// inside the writing transaction); the leader's outbox LISTENs on it. The
// payload is empty: it only means "look".
#define STORE_EVENTS_CHANNEL "propertyd_events"

// Session advisory locks, pg_advisory_lock(STORE_LOCK_CLASS, <purpose>), the
// same in every instance: the class is "prop" in ASCII (0x70726f70).
#define STORE_LOCK_CLASS      1886547824
#define STORE_LOCK_MIGRATIONS 1
#define STORE_LOCK_RELAY      2

#define STORE_STR_(x) #x
#define STORE_STR(x)  STORE_STR_(x)
// "1886547824, 1": the arguments of pg_advisory_lock for a purpose.
#define STORE_LOCK_ARGS(purpose) STORE_STR(STORE_LOCK_CLASS) ", " STORE_STR(purpose)

// How long an idempotency key is remembered (docs/contract.md section 5: 24 h).
#define STORE_IDEM_TTL_US "86400000000"

// Unix microseconds, as every statement computes "now" (once per statement:
// clock_timestamp() is volatile, so a CTE holding it is evaluated once).
// extract() returns numeric since PostgreSQL 14, so the product is exact.
#define STORE_NOW_US_SQL "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"

#endif
