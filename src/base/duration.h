// base duration: the one parser of durations written by people (command-line
// flags of the clients, propertyd's EVENT_RETENTION and TOKEN_MAX_LIFETIME).
//
// Syntax: a decimal number, optionally with a fraction, then a unit:
//   "90us"  "250ms"  "1.5s"  "2m"  "1h"  "7d"
// Units: us (microseconds), ms, s, m (minutes), h, d (days of 86400 s).
// A number without a unit is in `bare` (the unit the setting always used;
// each tool's help names it); BASE_DUR_REQUIRED refuses it. No sign, no
// spaces, no exponent; a fraction must come out as whole microseconds;
// values above BASE_DURATION_MAX_US are refused (no silent overflow).
//
// Pure function, no state; writes nothing but *out_us and err.
#ifndef BASE_DURATION_H
#define BASE_DURATION_H

#include <stddef.h>
#include <stdint.h>

// What a bare number means, as microseconds per unit (BASE_DUR_REQUIRED: a
// unit must be written).
typedef enum base_dur_unit {
	BASE_DUR_REQUIRED = 0,
	BASE_DUR_US = 1,
	BASE_DUR_MS = 1000,
	BASE_DUR_S = 1000000,
} base_dur_unit;

// The largest duration accepted: 100 years, far above any timeout or
// retention; a caller may convert any accepted value to int64 nanoseconds.
#define BASE_DURATION_MAX_US (100LL * 366 * 86400 * 1000000)

// Parses s into *out_us (microseconds, 0 allowed: callers check their range).
// Returns 0, or -1 with a one-line reason in err[errcap] (errcap may be 0)
// and *out_us untouched.
int base_duration_parse(const char *s, base_dur_unit bare, int64_t *out_us, char *err,
                        size_t errcap);

// Writes us (>= 0) into buf[cap] in the largest unit that holds it exactly
// ("250ms", "1500ms", "2m", "7d"), text this parser reads back; returns buf.
char *base_duration_format(int64_t us, char *buf, size_t cap);

#endif
