// obs log: one JSON object per line on stderr (or the fd set at start-up).
//
// Every line has "ts" (RFC 3339 UTC with microseconds), "level" and "msg",
// then the caller's fields in order. Strings are JSON-escaped; bytes that are
// not valid UTF-8 are replaced, so a line is always valid JSON. Lines are
// written with one write(2) each, so concurrent lines never interleave.
// Never log secrets or tokens: callers pass only what may be read by anyone.
//
// A line is at most OBS_LOG_LINE_MAX bytes: PIPE_BUF, the most a pipe accepts
// in one atomic write. A string that does not fit is cut at a character
// boundary and ends with "…"; fields that no longer fit are dropped and the
// line gets "truncated":true. Logging never allocates and never fails.
//
// obs_log_init() is called once by app before any thread starts; the level
// and fd are then read-only.
#ifndef OBS_LOG_H
#define OBS_LOG_H

#include <stddef.h>
#include <stdint.h>

#define OBS_LOG_LINE_MAX 4096

typedef enum obs_level { OBS_DEBUG = 0, OBS_INFO, OBS_WARN, OBS_ERROR } obs_level;

typedef enum obs_field_type { OBS_FT_STR, OBS_FT_INT, OBS_FT_DBL, OBS_FT_BOOL } obs_field_type;

typedef struct obs_field {
	const char *key;
	obs_field_type type;
	union {
		const char *s; // NULL is written as null
		int64_t i;
		double d;
		int b;
	} v;
} obs_field;

#define OBS_S(k, val) ((obs_field){.key = (k), .type = OBS_FT_STR, .v.s = (val)})
#define OBS_I(k, val) ((obs_field){.key = (k), .type = OBS_FT_INT, .v.i = (int64_t)(val)})
#define OBS_D(k, val) ((obs_field){.key = (k), .type = OBS_FT_DBL, .v.d = (double)(val)})
#define OBS_B(k, val) ((obs_field){.key = (k), .type = OBS_FT_BOOL, .v.b = !!(val)})

void obs_log_init(obs_level min_level, int fd);

// Parses a level name ("debug", "info", "warn" or "warning", "error"; any
// case) as read from a flag or the environment; NULL or anything else gives
// `dflt`. Pure: callable at any time.
obs_level obs_level_parse(const char *s, obs_level dflt);
int obs_log_enabled(obs_level lvl);
void obs_log_fields(obs_level lvl, const char *msg, const obs_field *fields, size_t n);

// OBS_LOG(OBS_INFO, "started", OBS_S("url", url), OBS_I("workers", n));
#define OBS_LOG(lvl, msg, ...)                                                                     \
	do {                                                                                       \
		if (obs_log_enabled(lvl)) {                                                        \
			const obs_field obs_f_[] = {OBS_S("", NULL), ##__VA_ARGS__};               \
			obs_log_fields((lvl), (msg), obs_f_ + 1,                                   \
			               sizeof(obs_f_) / sizeof(obs_f_[0]) - 1);                    \
		}                                                                                  \
	} while (0)

#endif
