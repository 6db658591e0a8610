// nrpc stubs: protoc-c's generated service stubs over an nrpc client.
//
// protoc-c generates, per method, a function such as
//   property__v1__property_service__get_property(ProtobufCService *service,
//       const Property__V1__GetPropertyRequest *input,
//       Property__V1__Property_Closure closure, void *closure_data);
// nrpc_service_open() makes the ProtobufCService those functions take: its
// invoke packs the input, makes one call "/<service>/<Method>" with
// nrpc_client_call_raw (docs/contract.md §2.3), and runs the closure once,
// on the calling thread, before the stub returns (nrpc calls block; there is
// no callback form).
//
// The closure receives the reply message, unpacked with the method's output
// descriptor, or NULL when the call did not answer OK; in both cases
// nrpc_service_result() gives the whole outcome (code, message, violations,
// reply metadata) while the closure runs. The message and the result belong
// to the adapter and are freed when the closure returns: copy what you keep.
//
// Threads: one service may be used by many threads at once (the client is
// thread-safe, and the result is kept per thread). The options are copied
// when the service is opened except the strings they point to, which are
// borrowed and must outlive the service.
#ifndef NRPC_STUB_H
#define NRPC_STUB_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "nrpc/client.h"

// Per-service call options: sent with every call of the service.
typedef struct nrpc_call_opts {
	const nrpc_meta *metadata; // entries (borrowed, with their strings), or NULL
	size_t n_metadata;
	uint32_t timeout_ms; // each call's deadline; 0: 5000
} nrpc_call_opts;

// Opens a service of descriptor `d` (e.g. &property__v1__property_service__descriptor)
// over client `c` (borrowed: it must outlive the service). opts may be NULL.
// Returns 0, or -1 on allocation failure. Free with protobuf_c_service_destroy()
// (which does not close the client).
int nrpc_service_open(ProtobufCService **out, nrpc_client *c, const ProtobufCServiceDescriptor *d,
                      const nrpc_call_opts *opts);

// The outcome of the call whose closure runs on this thread now; NULL outside
// a closure of an nrpc service. On a reply that could not be unpacked with
// the output descriptor, code is 13 INTERNAL. A failed allocation inside the
// adapter gives code 8 RESOURCE_EXHAUSTED with transport_error set.
const nrpc_result *nrpc_service_result(void);

#endif
