// pl_ids: the pool of existing property ids a workload reads and updates,
// each with the index of its owner. Loaded from / saved to a text file of
// "<id> <owner-index>" lines (what `propload seed` writes). Growth is
// serialized by the caller (the workload holds a mutex around pl_ids_add).
#ifndef PL_IDS_H
#define PL_IDS_H

#include <stddef.h>
#include <stdint.h>

#define PL_ID_LEN 40 // a UUID is 36 bytes; longer ids are refused
// Largest pool: 10 M ids (400 MB) is far beyond any seeded test set.
#define PL_IDS_MAX 10000000u

typedef struct pl_ids {
	char (*id)[PL_ID_LEN];
	uint32_t *owner;
	size_t n, cap;
} pl_ids;

int pl_ids_add(pl_ids *p, const char *id, uint32_t owner);
int pl_ids_load(pl_ids *p, const char *path, char *err, size_t errcap);
int pl_ids_save(const pl_ids *p, const char *path, char *err, size_t errcap);
void pl_ids_free(pl_ids *p);

#endif
