// Id pool and its file: see ids.h.
#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pl_ids_add(pl_ids *p, const char *id, uint32_t owner)
{
	size_t len = strlen(id);
	if (len == 0 || len >= PL_ID_LEN || p->n >= PL_IDS_MAX)
		return -1;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		char(*nid)[PL_ID_LEN] = realloc(p->id, cap * sizeof(*p->id));
		if (!nid)
			return -1;
		p->id = nid;
		uint32_t *no = realloc(p->owner, cap * sizeof(*p->owner));
		if (!no)
			return -1;
		p->owner = no;
		p->cap = cap;
	}
	memcpy(p->id[p->n], id, len + 1);
	p->owner[p->n] = owner;
	p->n++;
	return 0;
}

int pl_ids_load(pl_ids *p, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[256];
	unsigned long lineno = 0;
	int rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char id[PL_ID_LEN + 1];
		unsigned long owner = 0;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		int got = sscanf(line, "%40s %lu", id, &owner);
		if (got < 1 || strlen(id) >= PL_ID_LEN || owner > UINT32_MAX ||
		    pl_ids_add(p, id, (uint32_t)owner) != 0) {
			snprintf(err, errcap, "%s:%lu: expected \"<id> <owner-index>\"", path,
			         lineno);
			rc = -1;
			break;
		}
	}
	fclose(f);
	if (rc == 0 && p->n == 0) {
		snprintf(err, errcap, "%s: no ids", path);
		rc = -1;
	}
	return rc;
}

int pl_ids_save(const pl_ids *p, const char *path, char *err, size_t errcap)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < p->n; i++)
		fprintf(f, "%s %u\n", p->id[i], p->owner[i]);
	if (fclose(f) != 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

void pl_ids_free(pl_ids *p)
{
	free(p->id);
	free(p->owner);
	memset(p, 0, sizeof(*p));
}
