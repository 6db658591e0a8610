// print_sql: prints the SQL text of one of propertyd's repository statements
// (src/store/repo_sql.c, and the group-commit statement of
// src/store/repo_batch.c as prop_create_batch), so that bench/floors.sh and
// bench/batch_stmt.sh can run exactly what CreateProperty runs under pgbench.
//
//   print_sql NAME      e.g. prop_create; no argument: lists the names
//
// Prints the text on one line (it has no newlines) on stdout; exit status 2
// for an unknown name.
#include <stdio.h>
#include <string.h>

#include "store/repo_batch.h"
#include "store/repo_sql.h"

int main(int argc, char **argv)
{
	for (int i = 0; i < REPO_SQL_N; i++) {
		const char *name = store_repo_sql_name((store_repo_sql_id)i);
		if (argc < 2) {
			printf("%s %d\n", name, store_repo_sql_nparams((store_repo_sql_id)i));
		} else if (strcmp(argv[1], name) == 0) {
			printf("%s\n", store_repo_sql_text((store_repo_sql_id)i));
			return 0;
		}
	}
	// The group-commit statement: 14 array parameters (repo_batch.c).
	if (argc < 2) {
		printf("prop_create_batch 14\n");
		return 0;
	}
	if (strcmp(argv[1], "prop_create_batch") == 0) {
		printf("%s\n", store_repo_batch_sql());
		return 0;
	}
	fprintf(stderr, "print_sql: unknown statement %s (run without arguments for the list)\n",
	        argv[1]);
	return 2;
}
