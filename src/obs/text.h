// obs text: helpers shared by the log writer and the metrics renderer
// (internal to src/obs; not for other modules). Both check UTF-8 with
// base/utf8.h (base_utf8_seq) and write OBS_TEXT_REPLACEMENT for a bad byte.
//
// Pure functions on caller-owned buffers: no allocation, no state, callable
// from any thread.
#ifndef OBS_TEXT_H
#define OBS_TEXT_H

#include <stddef.h>

// U+FFFD REPLACEMENT CHARACTER, written in place of every invalid byte.
#define OBS_TEXT_REPLACEMENT     "\xEF\xBF\xBD"
#define OBS_TEXT_REPLACEMENT_LEN 3

// Room for any double obs_text_double() writes: "-1.2345678901234567e-308"
// plus the NUL, rounded up.
#define OBS_TEXT_DOUBLE_CAP 32

// Writes `v` into buf (at least OBS_TEXT_DOUBLE_CAP bytes) as the shortest of
// %.15g, %.16g, %.17g that reads back as exactly `v`, so 0.1 prints as "0.1"
// and no precision is lost. NaN and infinities are written as `nan` and
// `inf`/`-inf` (callers that need another spelling check isfinite first).
// Returns the length written.
size_t obs_text_double(char *buf, double v, const char *nan, const char *inf, const char *ninf);

#endif
