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
// decoded set; they live until pdc_rtdesc_free(). A message unpacked or decoded
// with one of its descriptors must be freed before the pool. Not thread-safe
// while being built; read-only (any thread) afterwards.
#ifndef PDC_RTDESC_H
#define PDC_RTDESC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "descset.pb-c.h"

typedef struct pdc_rtdesc pdc_rtdesc;

// Builds the descriptors of fds[len]. Returns NULL with a one-line reason in
// err[errcap] (undecodable set, unknown type name, group field, ...).
pdc_rtdesc *pdc_rtdesc_load(const uint8_t *fds, size_t len, char *err, size_t errcap);
void pdc_rtdesc_free(pdc_rtdesc *r);

// Lookups by full name without a leading dot ("property.v1.Property"); NULL
// when absent.
const ProtobufCMessageDescriptor *pdc_rtdesc_message(const pdc_rtdesc *r, const char *name);
const ProtobufCEnumDescriptor *pdc_rtdesc_enum(const pdc_rtdesc *r, const char *name);
const ProtobufCServiceDescriptor *pdc_rtdesc_service(const pdc_rtdesc *r, const char *name);

// Every service of the set, in file order.
size_t pdc_rtdesc_service_count(const pdc_rtdesc *r);
const ProtobufCServiceDescriptor *pdc_rtdesc_service_at(const pdc_rtdesc *r, size_t i);

// The definitions behind a descriptor, by full name (no leading dot; NULL
// when absent); *proto3 (may be NULL) tells the file's syntax.
const Pdc__Descset__DescriptorProto *pdc_rtdesc_message_def(const pdc_rtdesc *r, const char *name,
                                                            int *proto3);
const Pdc__Descset__EnumDescriptorProto *pdc_rtdesc_enum_def(const pdc_rtdesc *r, const char *name);
const Pdc__Descset__ServiceDescriptorProto *pdc_rtdesc_service_def(const pdc_rtdesc *r,
                                                                   const char *name);

// The decoded set itself (for printing definitions, describe.h).
const Pdc__Descset__FileDescriptorSet *pdc_rtdesc_set(const pdc_rtdesc *r);

#endif
