// it_property: the property methods' behaviour (docs/contract.md sections 4 and 5):
// every validation rule with its code and violation field
// (it_property_create.c, it_property_update.c), the create/get/update/delete
// life cycle, NOT_FOUND, optimistic concurrency, verbatim storage
// (it_property_lifecycle.c). Helpers: it_property_common.h. This file: the
// case table and main.
#include <stdlib.h>
#include <string.h>

#include "it_property_common.h"

int main(int argc, char **argv)
{
	static const h_case cases[] = {
	    {"create_validation", case_create_validation},
	    {"create_many_violations", case_create_many_violations},
	    {"create_raw_strings", case_create_raw_strings},
	    {"bad_ids", case_bad_ids},
	    {"update_validation", case_update_validation},
	    {"lifecycle", case_lifecycle},
	    {"missing_ids", case_missing_ids},
	    {"version_mismatch", case_version_mismatch},
	    {"verbatim_strings", case_verbatim_strings},
	    {"status_default", case_status_default},
	};
	int rc = h_init(argc, argv);
	if (rc != 0)
		return rc;
	ctx c;
	memset(&c, 0, sizeof(c));
	h_owner(c.owner, sizeof(c.owner), "prop");
	c.auth = h_bearer(H_SECRET, c.owner, 600);
	if (h_start(&c.p, NULL) == 0) {
		h_run_cases(cases, sizeof(cases) / sizeof(cases[0]), &c, argc, argv);
		rc = h_stop(&c.p);
		H_CHECK(rc == 0, "exit status after SIGTERM %d", rc);
	}
	h_cleanup(&c.p);
	free(c.auth);
	return h_status();
}
