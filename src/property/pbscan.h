// property pbscan: finds bad strings in a serialized protobuf message.
//
// protobuf-c hands strings over as NUL-terminated char*, so a string holding
// U+0000 arrives truncated and the rest is invisible (PostgreSQL cannot store
// U+0000 either). pbscan walks the wire bytes of the request instead: varint
// tags, length-delimited fields, recursing into sub-messages known from the
// descriptor, and reports every string field whose bytes contain 0x00 or are
// not strict UTF-8, named by its field path ("location.city").
//
// Pure and allocation-free; safe on any thread. The buffer is borrowed.
#ifndef PROP_PBSCAN_H
#define PROP_PBSCAN_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "property/validate.h"

// Our messages nest at most three deep (Update > Property > Location); anything
// deeper is not one of them, and recursion must stay bounded on hostile input.
#define PBSCAN_MAX_DEPTH 8

// Adds a violation per bad string field of the message `desc` serialized in
// buf[len]. A path starting with `strip_prefix` (e.g. "property.", may be
// NULL) is reported without it. Returns 0, or -1 when the bytes are not
// well-formed wire format (base/pbwire.h) or nest too deep (the violations
// found so far stay).
int prop_pbscan_strings(const uint8_t *buf, size_t len, const ProtobufCMessageDescriptor *desc,
                        const char *strip_prefix, prop_violations *vs);

#endif
