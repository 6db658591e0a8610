// property validate: see validate.h.
#include "property/validate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/hex.h"
#include "base/utf8.h"
#include "property/ports.h"

void prop_violation_add(prop_violations *vs, const char *field, const char *description)
{
	for (size_t i = 0; i < vs->n; i++) {
		if (strcmp(vs->v[i].field, field) == 0) {
			return;
		}
	}
	vs->total++;
	if (vs->n == PROP_MAX_VIOLATIONS) {
		return;
	}
	prop_violation *v = &vs->v[vs->n++];
	snprintf(v->field, sizeof(v->field), "%s", field);
	v->description = description;
}

bool prop_uuid_valid(const char *s)
{
	uint8_t b[16];
	return s != NULL && base_hex_uuid_parse(s, b);
}

bool prop_uuid_canonical(const char *s, char out[37])
{
	uint8_t b[16];
	if (s == NULL || !base_hex_uuid_parse(s, b)) {
		return false;
	}
	base_hex_uuid(b, out);
	return true;
}

uint32_t prop_page_size(uint32_t requested)
{
	if (requested == 0) {
		return PROP_PAGE_SIZE_DEFAULT;
	}
	return requested > PROP_PAGE_SIZE_MAX ? PROP_PAGE_SIZE_MAX : requested;
}

uint32_t prop_events_limit(uint32_t requested)
{
	if (requested == 0) {
		return PROP_EVENTS_DEFAULT;
	}
	return requested > PROP_EVENTS_MAX ? PROP_EVENTS_MAX : requested;
}

bool prop_event_prefix_can_match(const char *prefix)
{
	static const char *const types[] = {"property.created", "property.updated",
	                                    "property.deleted"};
	size_t n = strlen(prefix);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strncmp(types[i], prefix, n) == 0)
			return true;
	return false;
}

// ---- field checks ---------------------------------------------------------------------------

// A string of min..max code points (max_cp) or bytes (max_b); 0 disables a bound.
// Returns false (and reports) when invalid.
static bool check_str(prop_violations *vs, const char *field, const char *s, size_t min_cp,
                      size_t max_cp, size_t max_b, const char *desc)
{
	const char *v = s != NULL ? s : "";
	size_t len = strlen(v), ncp = 0;
	if (!base_utf8_valid((const uint8_t *)v, len, &ncp)) {
		prop_violation_add(vs, field, "must be valid UTF-8");
		return false;
	}
	if (ncp < min_cp || (max_cp != 0 && ncp > max_cp) || (max_b != 0 && len > max_b)) {
		prop_violation_add(vs, field, desc);
		return false;
	}
	return true;
}

static bool upper_letters(const char *s, size_t n)
{
	if (s == NULL || strlen(s) != n) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 'A' || s[i] > 'Z') {
			return false;
		}
	}
	return true;
}

static bool lat_ok(double v)
{
	return isfinite(v) && v >= -90.0 && v <= 90.0;
}

static bool lon_ok(double v)
{
	return isfinite(v) && v >= -180.0 && v <= 180.0;
}

static void check_owner(prop_violations *vs, const char *field, const char *owner)
{
	check_str(vs, field, owner, 1, 0, PROP_OWNER_MAX_B, "must be 1 to 64 bytes");
}

static void check_title(prop_violations *vs, const char *field, const char *title)
{
	check_str(vs, field, title, 1, PROP_TITLE_MAX_CP, 0, "must be 1 to 200 characters");
}

static void check_description(prop_violations *vs, const char *field, const char *d)
{
	check_str(vs, field, d, 0, 0, PROP_DESCRIPTION_MAX_B, "must be at most 10000 bytes");
}

static void check_currency(prop_violations *vs, const char *field, const char *c)
{
	if (!upper_letters(c, 3)) {
		prop_violation_add(vs, field, "must be three upper-case letters (ISO 4217)");
	}
}

static void check_price(prop_violations *vs, const char *field, int64_t p)
{
	if (p < 0) {
		prop_violation_add(vs, field, "must not be negative");
	}
}

static void check_bedrooms(prop_violations *vs, const char *field, uint32_t b)
{
	if (b > PROP_BEDROOMS_MAX) {
		prop_violation_add(vs, field, "must be at most 1000");
	}
}

// Create and update name location fields alike ("location.city"); a missing
// location is checked as an empty one.
static void check_location(prop_violations *vs, const Property__V1__Location *l)
{
	static const Property__V1__Location empty = PROPERTY__V1__LOCATION__INIT;
	if (l == NULL) {
		l = &empty;
	}
	check_str(vs, "location.address", l->address, 0, PROP_ADDRESS_MAX_CP, 0,
	          "must be at most 300 characters");
	check_str(vs, "location.city", l->city, 1, PROP_CITY_MAX_CP, 0,
	          "must be 1 to 100 characters");
	if (!upper_letters(l->country_code, 2)) {
		prop_violation_add(vs, "location.country_code",
		                   "must be two upper-case letters (ISO 3166-1 alpha-2)");
	}
	if (!lat_ok(l->latitude)) {
		prop_violation_add(vs, "location.latitude", "must be between -90 and 90");
	}
	if (!lon_ok(l->longitude)) {
		prop_violation_add(vs, "location.longitude", "must be between -180 and 180");
	}
}

void prop_validate_create(const Property__V1__CreatePropertyRequest *r, prop_violations *vs)
{
	check_owner(vs, "owner_id", r->owner_id);
	check_title(vs, "title", r->title);
	check_description(vs, "description", r->description);
	check_location(vs, r->location);
	check_price(vs, "price_cents", r->price_cents);
	check_currency(vs, "currency", r->currency);
	check_bedrooms(vs, "bedrooms", r->bedrooms);
	if ((int)r->status < 0 ||
	    (int)r->status > PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_ARCHIVED) {
		prop_violation_add(vs, "status", "must be a known PropertyStatus");
	}
}

// update_mask paths: the mutable ones map to a bit; the immutable ones are named
// so the violation can say why.
static const struct {
	const char *path;
	unsigned bit; // 0: immutable
} mask_paths[] = {
    {"title", PROP_F_TITLE},
    {"description", PROP_F_DESCRIPTION},
    {"location", PROP_F_LOCATION},
    {"price_cents", PROP_F_PRICE},
    {"currency", PROP_F_CURRENCY},
    {"bedrooms", PROP_F_BEDROOMS},
    {"status", PROP_F_STATUS},
    {"id", 0},
    {"owner_id", 0},
    {"version", 0},
    {"created_at_us", 0},
    {"updated_at_us", 0},
};

static void parse_mask(const Property__V1__UpdatePropertyRequest *r, unsigned *mask,
                       prop_violations *vs)
{
	*mask = 0;
	if (r->n_update_mask == 0) {
		prop_violation_add(vs, "update_mask", "must name at least one field");
		return;
	}
	for (size_t i = 0; i < r->n_update_mask; i++) {
		const char *p = r->update_mask[i] != NULL ? r->update_mask[i] : "";
		size_t k;
		for (k = 0; k < sizeof(mask_paths) / sizeof(mask_paths[0]); k++) {
			if (strcmp(p, mask_paths[k].path) == 0) {
				break;
			}
		}
		if (k == sizeof(mask_paths) / sizeof(mask_paths[0])) {
			prop_violation_add(vs, "update_mask", "names an unknown field");
		} else if (mask_paths[k].bit == 0) {
			prop_violation_add(vs, "update_mask", "names an immutable field");
		} else {
			*mask |= mask_paths[k].bit;
		}
	}
}

void prop_validate_update(const Property__V1__UpdatePropertyRequest *r, unsigned *mask,
                          prop_violations *vs)
{
	static const Property__V1__Property empty = PROPERTY__V1__PROPERTY__INIT;
	const Property__V1__Property *p = r->property != NULL ? r->property : &empty;

	prop_validate_id(r->id, "id", vs);
	parse_mask(r, mask, vs);
	if (*mask & PROP_F_TITLE) {
		check_title(vs, "title", p->title);
	}
	if (*mask & PROP_F_DESCRIPTION) {
		check_description(vs, "description", p->description);
	}
	if (*mask & PROP_F_LOCATION) {
		check_location(vs, p->location);
	}
	if (*mask & PROP_F_PRICE) {
		check_price(vs, "price_cents", p->price_cents);
	}
	if (*mask & PROP_F_CURRENCY) {
		check_currency(vs, "currency", p->currency);
	}
	if (*mask & PROP_F_BEDROOMS) {
		check_bedrooms(vs, "bedrooms", p->bedrooms);
	}
	if ((*mask & PROP_F_STATUS) &&
	    ((int)p->status < PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_DRAFT ||
	     (int)p->status > PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_ARCHIVED)) {
		prop_violation_add(vs, "status", "must be a known PropertyStatus (1 to 5)");
	}
}

void prop_validate_id(const char *id, const char *field, prop_violations *vs)
{
	if (!prop_uuid_valid(id)) {
		prop_violation_add(vs, field, "must be a UUID");
	}
}

void prop_validate_list(const Property__V1__ListPropertiesByOwnerRequest *r, prop_violations *vs)
{
	check_owner(vs, "owner_id", r->owner_id);
}

void prop_validate_search(const Property__V1__SearchPropertiesRequest *r, prop_violations *vs)
{
	check_str(vs, "city", r->city, 0, PROP_CITY_MAX_CP, 0, "must be at most 100 characters");
	if (r->country_code != NULL && r->country_code[0] != '\0' &&
	    !upper_letters(r->country_code, 2)) {
		prop_violation_add(vs, "country_code",
		                   "must be empty or two upper-case letters (ISO 3166-1 alpha-2)");
	}
	check_price(vs, "min_price_cents", r->min_price_cents);
	check_price(vs, "max_price_cents", r->max_price_cents);
	if (r->max_price_cents != 0 && r->max_price_cents < r->min_price_cents) {
		prop_violation_add(vs, "max_price_cents", "must not be below min_price_cents");
	}
	check_bedrooms(vs, "min_bedrooms", r->min_bedrooms);
	if (r->bbox != NULL) {
		const Property__V1__BoundingBox *b = r->bbox;
		if (!lat_ok(b->min_latitude)) {
			prop_violation_add(vs, "bbox.min_latitude", "must be between -90 and 90");
		}
		if (!lat_ok(b->max_latitude)) {
			prop_violation_add(vs, "bbox.max_latitude", "must be between -90 and 90");
		} else if (lat_ok(b->min_latitude) && b->max_latitude < b->min_latitude) {
			prop_violation_add(vs, "bbox.max_latitude",
			                   "must not be below min_latitude");
		}
		if (!lon_ok(b->min_longitude)) {
			prop_violation_add(vs, "bbox.min_longitude",
			                   "must be between -180 and 180");
		}
		if (!lon_ok(b->max_longitude)) {
			prop_violation_add(vs, "bbox.max_longitude",
			                   "must be between -180 and 180");
		} else if (lon_ok(b->min_longitude) && b->max_longitude < b->min_longitude) {
			prop_violation_add(vs, "bbox.max_longitude",
			                   "must not be below min_longitude");
		}
	}
	if ((int)r->status < 0 ||
	    (int)r->status > PROPERTY__V1__PROPERTY_STATUS__PROPERTY_STATUS_ARCHIVED) {
		prop_violation_add(vs, "status", "must be a known PropertyStatus (0 for any)");
	}
}

void prop_validate_read_events(const Property__V1__ReadEventsRequest *r, prop_violations *vs)
{
	check_str(vs, "type_prefix", r->type_prefix, 0, 0, PROP_TYPE_PREFIX_MAX_B,
	          "must be at most 100 bytes");
}
