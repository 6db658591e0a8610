// nrpc reflection: rpc.v1.Reflection (proto/rpc/v1/reflection.proto,
// docs/contract.md §2.10) on an nrpc server.
//
// ListServices answers the full names of the services registered on the
// server (this one included), in registration order, as they are when the
// call runs; GetFileDescriptorSet answers the serialized
// google.protobuf.FileDescriptorSet given at registration, as it is. Both
// methods are open (no token) and inline (never block).
#ifndef NRPC_REFLECTION_H
#define NRPC_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

#include "nrpc/server.h"

// Registers rpc.v1.Reflection on `s` (before nrpc_server_start()).
// fds[len] is borrowed: it must stay valid and unchanged until the server is
// destroyed (propertyd passes the bytes compiled into it, pd_fds). The small
// state this allocates is owned by the server (nrpc_server_adopt). Returns 0,
// NNG_ENOMEM or NNG_ESTATE.
int nrpc_reflection_register(nrpc_server *s, const uint8_t *fds, size_t len);

#endif
