#include "store/rowmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void *malloc_alloc(void *data, size_t n)
{
	(void)data;
	return malloc(n);
}

static void malloc_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

ProtobufCAllocator store_rowmap_malloc_allocator = {malloc_alloc, malloc_free, NULL};

static void *alloc(ProtobufCAllocator *a, size_t n)
{
	return a->alloc(a->allocator_data, n);
}

// Sets *dst to a copy of the column (NULL column: ""). 0 or -1.
static int str_col(const PGresult *r, int row, int col, ProtobufCAllocator *a, char **dst)
{
	const char *v = PQgetvalue(r, row, col);
	size_t n = (size_t)PQgetlength(r, row, col);
	char *s = alloc(a, n + 1);
	if (s == NULL)
		return -1;
	memcpy(s, v, n);
	s[n] = '\0';
	*dst = s;
	return 0;
}

static int i64_col(const PGresult *r, int row, int col, int64_t *dst)
{
	if (PQgetisnull(r, row, col))
		return -1;
	const char *v = PQgetvalue(r, row, col);
	char *end = NULL;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return -1;
	*dst = x;
	return 0;
}

static int dbl_col(const PGresult *r, int row, int col, double *dst)
{
	if (PQgetisnull(r, row, col))
		return -1;
	const char *v = PQgetvalue(r, row, col);
	char *end = NULL;
	double x = strtod(v, &end);
	if (end == v || *end != '\0')
		return -1;
	*dst = x;
	return 0;
}

// Fills the fields of an __INIT'ed property; on -1 what was allocated is in it.
static int fill_property(const PGresult *r, int row, int c, ProtobufCAllocator *a,
                         Property__V1__Property *p)
{
	Property__V1__Location *loc = alloc(a, sizeof *loc);
	if (loc == NULL)
		return -1;
	property__v1__location__init(loc);
	p->location = loc;
	int64_t price = 0, bedrooms = 0, status = 0, version = 0, created = 0, updated = 0;
	if (str_col(r, row, c + 0, a, &p->id) || str_col(r, row, c + 1, a, &p->owner_id) ||
	    str_col(r, row, c + 2, a, &p->title) || str_col(r, row, c + 3, a, &p->description) ||
	    str_col(r, row, c + 4, a, &loc->address) || str_col(r, row, c + 5, a, &loc->city) ||
	    str_col(r, row, c + 6, a, &loc->country_code) ||
	    dbl_col(r, row, c + 7, &loc->latitude) || dbl_col(r, row, c + 8, &loc->longitude) ||
	    i64_col(r, row, c + 9, &price) || str_col(r, row, c + 10, a, &p->currency) ||
	    i64_col(r, row, c + 11, &bedrooms) || i64_col(r, row, c + 12, &status) ||
	    i64_col(r, row, c + 13, &version) || i64_col(r, row, c + 14, &created) ||
	    i64_col(r, row, c + 15, &updated))
		return -1;
	p->price_cents = price;
	p->bedrooms = (uint32_t)bedrooms;
	p->status = (Property__V1__PropertyStatus)status;
	p->version = (uint64_t)version;
	p->created_at_us = created;
	p->updated_at_us = updated;
	return 0;
}

int store_rowmap_property(const PGresult *r, int row, int col, ProtobufCAllocator *a,
                          Property__V1__Property **out)
{
	*out = NULL;
	Property__V1__Property *p = alloc(a, sizeof *p);
	if (p == NULL)
		return -1;
	property__v1__property__init(p);
	if (fill_property(r, row, col, a, p) != 0) {
		property__v1__property__free_unpacked(p, a);
		return -1;
	}
	*out = p;
	return 0;
}

int store_rowmap_event(const PGresult *r, int row, int col, ProtobufCAllocator *a,
                       Property__V1__Event **out)
{
	*out = NULL;
	Property__V1__Event *e = alloc(a, sizeof *e);
	if (e == NULL)
		return -1;
	property__v1__event__init(e);
	int64_t seq = 0;
	if (i64_col(r, row, col + 0, &seq) || str_col(r, row, col + 1, a, &e->id) ||
	    str_col(r, row, col + 2, a, &e->type) || i64_col(r, row, col + 3, &e->occurred_at_us))
		goto fail;
	e->seq = (uint64_t)seq;
	Property__V1__Property *p = alloc(a, sizeof *p);
	if (p == NULL)
		goto fail;
	property__v1__property__init(p);
	e->property = p;
	if (fill_property(r, row, col + 4, a, p) != 0)
		goto fail;
	if (str_col(r, row, col + 4, a, &e->aggregate_id) ||
	    str_col(r, row, col + 5, a, &e->owner_id))
		goto fail;
	*out = e;
	return 0;
fail:
	property__v1__event__free_unpacked(e, a);
	return -1;
}
