// it_envelope: the rpc.v1 envelope (docs/contract.md section 2).
//
// Every request gets exactly one reply: garbage bytes 3, unknown method 12,
// undecodable payload 3, passed deadline 4; x-request-id echoed or generated
// (it_envelope_replies.c); an oversized request is refused without harm to
// other clients (it_envelope_oversized.c); the order of checks and metadata
// limits on the wire (it_envelope_wire.c); mutated envelopes
// (it_envelope_fuzz.c). Helpers: it_envelope_common.h. This file: the case
// table and main.
#include <stdlib.h>
#include <string.h>

#include "it_envelope_common.h"

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"garbage_bytes", case_garbage_bytes},
	    {"unknown_method", case_unknown_method},
	    {"undecodable_payload", case_undecodable_payload},
	    {"request_id", case_request_id},
	    {"bad_utf8_request_id", case_bad_utf8_request_id},
	    {"deadline", case_deadline},
	    {"order_of_checks", case_order_of_checks},
	    {"metadata_limits", case_metadata_limits},
	    {"oversized_request", case_oversized_request},
	    {"fuzz", case_fuzz},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx c;
	memset(&c, 0, sizeof(c));
	c.auth = h_bearer(H_SECRET, "it-envelope", 600);
	if (h_start(&c.p, NULL) == 0) {
		h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), &c, argc, argv);
		rc = h_stop(&c.p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c.p);
	free(c.auth);
	return h_status();
}
