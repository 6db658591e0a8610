// nrpc status names: the one number-to-text table of the gRPC status codes.
#include "nrpc/status.h"

// Indexed by code; the names are gRPC's canonical ones.
static const char *const code_names[NRPC_CODE_COUNT] = {
    [NRPC_OK] = "OK",
    [NRPC_CANCELLED] = "CANCELLED",
    [NRPC_UNKNOWN] = "UNKNOWN",
    [NRPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [NRPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [NRPC_NOT_FOUND] = "NOT_FOUND",
    [NRPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [NRPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [NRPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
    [NRPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
    [NRPC_ABORTED] = "ABORTED",
    [NRPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
    [NRPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
    [NRPC_INTERNAL] = "INTERNAL",
    [NRPC_UNAVAILABLE] = "UNAVAILABLE",
    [NRPC_DATA_LOSS] = "DATA_LOSS",
    [NRPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *nrpc_code_name(unsigned code)
{
	if (code >= NRPC_CODE_COUNT) {
		return "UNKNOWN";
	}
	return code_names[code];
}
