// nrpc status codes: the gRPC status numbers, shared by every layer.
//
// This header has no dependency on the transport: the domain reports its
// outcomes with these codes and the RPC layer maps nothing further. The
// number-to-text table lives in one place, nrpc_code_name().
#ifndef NRPC_STATUS_H
#define NRPC_STATUS_H

typedef enum nrpc_code {
	NRPC_OK = 0,
	NRPC_CANCELLED = 1,
	NRPC_UNKNOWN = 2,
	NRPC_INVALID_ARGUMENT = 3,
	NRPC_DEADLINE_EXCEEDED = 4,
	NRPC_NOT_FOUND = 5,
	NRPC_ALREADY_EXISTS = 6,
	NRPC_PERMISSION_DENIED = 7,
	NRPC_RESOURCE_EXHAUSTED = 8,
	NRPC_FAILED_PRECONDITION = 9,
	NRPC_ABORTED = 10,
	NRPC_OUT_OF_RANGE = 11,
	NRPC_UNIMPLEMENTED = 12,
	NRPC_INTERNAL = 13,
	NRPC_UNAVAILABLE = 14,
	NRPC_DATA_LOSS = 15,
	NRPC_UNAUTHENTICATED = 16,
} nrpc_code;

#define NRPC_CODE_COUNT 17

// The canonical upper-case name ("NOT_FOUND"); "UNKNOWN" for numbers out of range.
const char *nrpc_code_name(unsigned code);

#endif
