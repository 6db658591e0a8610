// pbjson_fields: descriptor facts shared by pbjson's decoder and encoder.
// Internal to pbjson; pure functions.
#ifndef PBJSON_FIELDS_H
#define PBJSON_FIELDS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

// The member at byte offset `off` of a message struct.
#define PBJSON_AT(type, msg, off) ((type *)((char *)(msg) + (off)))

// True for a map's entry type: protobuf-c keeps no map flag, so a map is
// recognised as a generated `...Entry` message with exactly `key` = 1 and
// `value` = 2 (what protoc generates for map<K, V>).
int pdc_pbjson_is_map_entry(const ProtobufCMessageDescriptor *d);

// Initialises a new message of type d (sizeof_message bytes): with the
// descriptor's message_init when it has one (generated code), else as
// protobuf-c does for descriptors built at run time (rtdesc.h): zeroes, the
// descriptor, and each non-repeated field's default value.
void pdc_pbjson_message_init(const ProtobufCMessageDescriptor *d, void *m);

// The size of one value of type t in a message struct (an element of a
// repeated field too), as protobuf-c lays it out.
size_t pdc_pbjson_elem_size(ProtobufCType t);

#endif
