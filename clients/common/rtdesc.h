// rtdesc: protobuf-c descriptors built at run time from a serialized
// google.protobuf.FileDescriptorSet (what rpc.v1.Reflection answers,
// docs/contract.md §2.10), so that pbjson and protobuf-c's pack/unpack work
// on messages the program was not compiled with.
//
// Every message, enum and service of every file becomes a
// ProtobufCMessageDescriptor / ProtobufCEnumDescriptor /
// ProtobufCServiceDescriptor with a memory layout of its own (the one
// protoc-c would generate for it), message_init NULL (protobuf-c then
// initialises generically). Supported: proto3 and proto2 messages, every
// scalar type, enums, nested messages and enums, repeated (packed as proto3
// and [packed] say), maps, oneofs and proto3 `optional`. Not supported: groups
// (refused), extensions (ignored), proto2 default values of bytes fields.
//
// Ownership: the pool owns every descriptor and string it hands out, and the
// decoded set; they live until rtdesc_free(). A message unpacked or decoded
// with one of its descriptors must be freed before the pool. Not thread-safe
// while being built; read-only (any thread) afterwards.
#ifndef PDC_RTDESC_H
#define PDC_RTDESC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "descset.pb-c.h"

typedef struct rtdesc rtdesc;

// Builds the descriptors of fds[len]. Returns NULL with a one-line reason in
// err[errcap] (undecodable set, unknown type name, group field, ...).
rtdesc *rtdesc_load(const uint8_t *fds, size_t len, char *err, size_t errcap);
void rtdesc_free(rtdesc *r);

// Lookups by full name without a leading dot ("property.v1.Property"); NULL
// when absent.
const ProtobufCMessageDescriptor *rtdesc_message(const rtdesc *r, const char *name);
const ProtobufCEnumDescriptor *rtdesc_enum(const rtdesc *r, const char *name);
const ProtobufCServiceDescriptor *rtdesc_service(const rtdesc *r, const char *name);

// Every service of the set, in file order.
size_t rtdesc_service_count(const rtdesc *r);
const ProtobufCServiceDescriptor *rtdesc_service_at(const rtdesc *r, size_t i);

// The definitions behind a descriptor, by full name (no leading dot; NULL
// when absent); *proto3 (may be NULL) tells the file's syntax.
const Pdc__Descset__DescriptorProto *rtdesc_message_def(const rtdesc *r, const char *name,
                                                        int *proto3);
const Pdc__Descset__EnumDescriptorProto *rtdesc_enum_def(const rtdesc *r, const char *name);
const Pdc__Descset__ServiceDescriptorProto *rtdesc_service_def(const rtdesc *r, const char *name);

// The decoded set itself (for printing definitions, describe.h).
const Pdc__Descset__FileDescriptorSet *rtdesc_set(const rtdesc *r);

#endif
