// pdc_methods: the RPC methods of the services in proto/, found by name.
//
// The registry is the generated service descriptors themselves
// (property.v1.PropertyService, property.v1.EventService,
// grpc.health.v1.Health): nothing is allocated and nothing is kept, so every
// call is thread-safe and never blocks.
#ifndef PDC_METHODS_H
#define PDC_METHODS_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

// Longest full method path ("/grpc.health.v1.Health/Check" is 28 bytes).
#define PDC_METHOD_PATH_MAX 128

typedef struct pdc_method {
	char path[PDC_METHOD_PATH_MAX]; // "/property.v1.PropertyService/GetProperty"
	const ProtobufCServiceDescriptor *service;
	const ProtobufCMethodDescriptor *method;
	const ProtobufCMessageDescriptor *input;  // the request message type
	const ProtobufCMessageDescriptor *output; // the reply message type
} pdc_method;

// Finds a method by its full path "/property.v1.PropertyService/GetProperty",
// "property.v1.PropertyService/GetProperty", "property.v1.PropertyService.GetProperty",
// "PropertyService.GetProperty", "PropertyService/GetProperty" or the bare name
// "GetProperty" (a bare name must be unique across services); a leading '.'
// (as in descriptors' type names) is taken like a leading '/'. Returns 0 and
// fills *out, or -1 when nothing (or more than one method) matches.
int pdc_method_find(const char *name, pdc_method *out);
// The same search over other services (reflect.h): at(list, i) is the i-th of
// n. *out then points into what `at` returns.
int pdc_method_find_in(const ProtobufCServiceDescriptor *(*at)(const void *list, size_t i),
                       const void *list, size_t n, const char *name, pdc_method *out);
// True when svc[0..n) (not NUL-terminated) names service s by its full name
// ("property.v1.PropertyService") or its short name ("PropertyService").
bool pdc_service_matches(const ProtobufCServiceDescriptor *s, const char *svc, size_t n);

// The number of known methods, and the i-th of them (0 <= i < count) in
// service order; returns -1 when i is out of range.
size_t pdc_method_count(void);
int pdc_method_at(size_t i, pdc_method *out);

#endif
