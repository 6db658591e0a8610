// base utf8: the one strict UTF-8 rule of the tree (RFC 3629; Unicode
// Table 3-7): no overlong forms, no surrogates (U+D800..U+DFFF), nothing
// above U+10FFFF, no sequence cut short. U+0000 is valid UTF-8 here: callers
// that must refuse it check for it themselves.
//
// Pure functions over caller-owned bytes; no allocation; any thread.
#ifndef BASE_UTF8_H
#define BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BASE_UTF8_SEQ_MAX 4 // bytes of the longest sequence

// Length (1..4) of the well-formed sequence at s[0..n), or 0 when the bytes
// there are not one (n == 0 included). It reads the bytes in order and stops
// at the first that cannot continue the sequence, so on NUL-terminated text
// n may be BASE_UTF8_SEQ_MAX: the NUL ends any sequence before the end.
size_t base_utf8_seq(const uint8_t *s, size_t n);

// True when s[0..n) is well-formed UTF-8; *ncp (may be NULL) then receives
// the number of code points. Runs of ASCII are checked eight bytes at a time.
bool base_utf8_valid(const uint8_t *s, size_t n, size_t *ncp);

#endif
