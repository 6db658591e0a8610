// pbjson: JSON <-> protobuf-c messages, driven only by descriptors.
//
// Works for any message type linked into the program: it reads the
// ProtobufCMessageDescriptor tables and nothing generated per message.
//
// The JSON follows the proto3 JSON mapping
// (https://protobuf.dev/programming-guides/proto3/#json):
//   - int64/uint64/sint64/fixed64/sfixed64: decoded from a JSON number or a
//     decimal string; encoded as a JSON string (53-bit safe for JavaScript).
//     A uint64 above 2^63-1 must be given as a string (the JSON parser keeps
//     numbers in a signed 64-bit integer).
//   - enums: decoded from the value name or its number; encoded as the name
//     (the number when the value has no name).
//   - bytes: standard base64, encoded with padding; decoding also accepts the
//     URL-safe alphabet and missing padding.
//   - float/double: numbers, or the strings "NaN", "Infinity", "-Infinity".
//   - maps (repeated `...Entry` messages with fields key=1, value=2): a JSON
//     object; a JSON array of {"key":..,"value":..} is accepted too.
//   - null for any field means "unset".
//   Field names: decoding accepts both the .proto name (`owner_id`) and the
//   lowerCamelCase JSON name (`ownerId`). Encoding writes the .proto name by
//   default, so what propctl prints matches the .proto files and docs/contract.md
//   (PBJSON_JSON_NAMES selects lowerCamelCase instead). An unknown field, a
//   field given twice (under both names), or a value of the wrong type is an
//   error that names the field by its path (`location.latitude`).
//
// Memory: pdc_pbjson_decode() builds the message exactly as protobuf-c's unpack
// does with the default allocator (every string, array, bytes buffer and
// submessage malloc'd; unset strings point to the field's default value), so
// the caller frees it with protobuf_c_message_free_unpacked(msg, NULL).
// pdc_pbjson_encode() returns a malloc'd string the caller frees.
//
// Pure functions: no state, thread-safe, no blocking.
#ifndef PBJSON_H
#define PBJSON_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

// Nesting deeper than this is refused by both directions (the protos nest 3
// levels; this only guards recursive message types and hostile input).
#define PBJSON_MAX_DEPTH 64

// Encode flags.
#define PBJSON_EMIT_DEFAULTS 0x1 // also write fields holding their default value
#define PBJSON_PRETTY        0x2 // two-space indentation and newlines
#define PBJSON_JSON_NAMES    0x4 // lowerCamelCase field names instead of .proto names

// Decodes a JSON object into a new message of type `d`. Returns the message,
// or NULL with a one-line reason in err[errcap] (errcap 0 allowed).
ProtobufCMessage *pdc_pbjson_decode(const ProtobufCMessageDescriptor *d, const char *json,
                                    char *err, size_t errcap);

// Encodes `m` as JSON. Returns a malloc'd NUL-terminated string, or NULL on
// allocation failure or nesting deeper than PBJSON_MAX_DEPTH. Pretty output
// ends with a newline; compact does not. Doubles are written in their
// shortest round-trip form, NaN and infinities as "NaN", "Infinity",
// "-Infinity"; bytes of a string that are not UTF-8 become U+FFFD.
char *pdc_pbjson_encode(const ProtobufCMessage *m, int flags);

#endif
