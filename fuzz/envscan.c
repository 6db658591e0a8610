// fuzz_envscan: the wire pre-scan of rpc.v1.Request (src/rpc/envscan.h) on
// arbitrary bytes, against protobuf-c's own decoder.
//
// Checks beyond the sanitizers: when both the scan and protobuf-c accept the
// bytes, they count the same metadata entries and the limits hold for what
// was decoded (else the server's limits could be bypassed); a located
// x-request-id lies inside the buffer. With FUZZ_STRICT=1 the scan must also
// never call malformed what protobuf-c decodes.
#include "rpc/envscan.h"
#include "fuzz.h"
#include "rpc/v1/rpc.pb-c.h"

// The server's limits (include/nrpc/server.h), and small ones so that every
// outcome is reached with short inputs.
static const size_t limits[][3] = {{64, 128, 4096}, {2, 4, 8}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Rpc__V1__Request *req = rpc__v1__request__unpack(NULL, size, data);
	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		nrpc_envscan sc;
		enum nrpc_envscan_result res =
		    nrpc_envscan_request(data, size, limits[l][0], limits[l][1], limits[l][2], &sc);
		FUZZ_ASSERT(res <= ENVSCAN_VALUE_TOO_LONG, "result %d", (int)res);
		if (sc.rid != NULL) {
			FUZZ_ASSERT(sc.rid_len <= size, "rid_len %zu", sc.rid_len);
			FUZZ_ASSERT(sc.rid_len == 0 ||
			                (sc.rid >= data && sc.rid + sc.rid_len <= data + size),
			            "x-request-id outside the buffer");
		}
		// protobuf-c is more lenient than the scan in one known way: it keeps
		// only 32 bits of a 5-byte tag, so a field number above 2^29-1 (not
		// valid protobuf) decodes as another field; the scan refuses it. That
		// direction only refuses a request; the other would skip the limits.
		if (req == NULL || (res == ENVSCAN_MALFORMED && !fuzz_strict()))
			continue;
		FUZZ_ASSERT(res != ENVSCAN_MALFORMED,
		            "protobuf-c decodes what the scan calls malformed");
		FUZZ_ASSERT(sc.entries == req->n_metadata, "scan counted %zu entries, decoded %zu",
		            sc.entries, req->n_metadata);
		if (res != ENVSCAN_OK)
			continue;
		FUZZ_ASSERT(req->n_metadata <= limits[l][0], "%zu entries passed", req->n_metadata);
		for (size_t i = 0; i < req->n_metadata; i++) {
			const Rpc__V1__Request__MetadataEntry *e = req->metadata[i];
			FUZZ_ASSERT(e->key == NULL || strlen(e->key) <= limits[l][1], "key passed");
			FUZZ_ASSERT(e->value == NULL || strlen(e->value) <= limits[l][2],
			            "value passed");
		}
	}
	if (req != NULL)
		rpc__v1__request__free_unpacked(req, NULL);
	return 0;
}
