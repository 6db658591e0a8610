// JSON -> protobuf-c message (see pbjson.h).
//
// The message is built in place, field by field, so that it is a valid
// "unpacked" message at every step: a failure anywhere frees the whole tree
// with protobuf_c_message_free_unpacked() and nothing else. To keep that
// true, a value decoder that fails leaves its slot holding nothing to free,
// and a repeated field's count is raised only after its element is complete.
#include "pbjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "pbjson_fields.h"

// Longest field path kept for error messages (`a.b[3].c`); longer is cut.
#define PATH_CAP 256

typedef struct dec {
	char *err;
	size_t errcap;
	char path[PATH_CAP];
	size_t pathlen;
} dec;

static int fail(dec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(dec *x, const char *fmt, ...)
{
	if (x->errcap == 0)
		return -1;
	int n = 0;
	if (x->pathlen > 0)
		n = snprintf(x->err, x->errcap, "%s: ", x->path);
	if (n < 0 || (size_t)n >= x->errcap)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errcap - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

// Appends a path element; returns the length to restore with path_pop().
static size_t path_push(dec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_push(dec *x, const char *fmt, ...)
{
	size_t saved = x->pathlen;
	if (x->pathlen + 1 >= PATH_CAP)
		return saved;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(x->path + x->pathlen, PATH_CAP - x->pathlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		x->pathlen +=
		    (size_t)n < PATH_CAP - x->pathlen ? (size_t)n : PATH_CAP - 1 - x->pathlen;
	return saved;
}

static void path_pop(dec *x, size_t saved)
{
	x->pathlen = saved;
	x->path[saved] = '\0';
}

// True when `key` is the lowerCamelCase JSON name of the .proto name `name`
// (protobuf's ToJsonName: drop each '_' and upper-case the letter after it).
static int json_name_equals(const char *name, const char *key)
{
	int upper = 0;
	for (; *name != '\0'; name++) {
		if (*name == '_') {
			upper = 1;
			continue;
		}
		char c = *name;
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		upper = 0;
		if (*key++ != c)
			return 0;
	}
	return *key == '\0';
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *key)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
	if (f != NULL)
		return f;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (json_name_equals(d->fields[i].name, key))
			return &d->fields[i];
	return NULL;
}

static int parse_int(dec *x, json_t *v, int64_t min, int64_t max, int64_t *out)
{
	int64_t r;
	if (json_is_integer(v)) {
		r = (int64_t)json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		// 2^63 bounds are exact doubles; an integral value in range converts exactly.
		if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
			return fail(x, "expected an integer, got %g", d);
		r = (int64_t)d;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end = NULL;
		errno = 0;
		long long ll = strtoll(s, &end, 10);
		if (!(*s == '-' || (*s >= '0' && *s <= '9')) || *end != '\0')
			return fail(x, "expected an integer, got \"%s\"", s);
		if (errno == ERANGE)
			return fail(x, "integer %s out of range", s);
		r = ll;
	} else {
		return fail(x, "expected an integer");
	}
	if (r < min || r > max)
		return fail(x, "integer %" PRId64 " out of range", r);
	*out = r;
	return 0;
}

static int parse_uint(dec *x, json_t *v, uint64_t max, uint64_t *out)
{
	uint64_t r;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return fail(x, "integer %" JSON_INTEGER_FORMAT " out of range", i);
		r = (uint64_t)i;
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != floor(d) || d < 0 || d >= 18446744073709551616.0)
			return fail(x, "expected an unsigned integer, got %g", d);
		r = (uint64_t)d;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end = NULL;
		errno = 0;
		unsigned long long ull = strtoull(s, &end, 10);
		if (*s < '0' || *s > '9' || *end != '\0')
			return fail(x, "expected an unsigned integer, got \"%s\"", s);
		if (errno == ERANGE)
			return fail(x, "integer %s out of range", s);
		r = ull;
	} else {
		return fail(x, "expected an unsigned integer");
	}
	if (r > max)
		return fail(x, "integer %" PRIu64 " out of range", r);
	*out = r;
	return 0;
}

static int parse_double(dec *x, json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return fail(x, "expected a number");
	const char *s = json_string_value(v);
	if (strcmp(s, "NaN") == 0) {
		*out = NAN;
		return 0;
	}
	if (strcmp(s, "Infinity") == 0) {
		*out = INFINITY;
		return 0;
	}
	if (strcmp(s, "-Infinity") == 0) {
		*out = -INFINITY;
		return 0;
	}
	char *end = NULL;
	errno = 0;
	double d = strtod(s, &end);
	// Only plain decimal text: no hex floats, no "inf"/"nan" spellings, no spaces.
	if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s) || *end != '\0' ||
	    errno == ERANGE)
		return fail(x, "expected a number, got \"%s\"", s);
	*out = d;
	return 0;
}

static int decode_message(dec *x, const ProtobufCMessageDescriptor *d, json_t *obj,
                          ProtobufCMessage *m, int depth);

// Allocates and decodes a submessage; on failure *out is NULL.
static int decode_submessage(dec *x, const ProtobufCMessageDescriptor *d, json_t *v,
                             ProtobufCMessage **out, int depth)
{
	*out = NULL;
	if (depth >= PBJSON_MAX_DEPTH)
		return fail(x, "nesting deeper than %d", PBJSON_MAX_DEPTH);
	if (!json_is_object(v))
		return fail(x, "expected an object (%s)", d->name);
	ProtobufCMessage *sub = malloc(d->sizeof_message);
	if (sub == NULL)
		return fail(x, "out of memory");
	pdc_pbjson_message_init(d, sub);
	if (decode_message(x, d, v, sub, depth + 1) != 0) {
		protobuf_c_message_free_unpacked(sub, NULL);
		return -1;
	}
	*out = sub;
	return 0;
}

// The integer types: int32/sint32/sfixed32, int64/sint64/sfixed64, uint32/fixed32,
// uint64/fixed64 (type is one of them).
static int decode_integer(dec *x, ProtobufCType type, json_t *v, void *slot)
{
	int64_t i;
	uint64_t u;
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (parse_int(x, v, INT32_MIN, INT32_MAX, &i) != 0)
			return -1;
		*(int32_t *)slot = (int32_t)i;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (parse_int(x, v, INT64_MIN, INT64_MAX, &i) != 0)
			return -1;
		*(int64_t *)slot = i;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (parse_uint(x, v, UINT32_MAX, &u) != 0)
			return -1;
		*(uint32_t *)slot = (uint32_t)u;
		return 0;
	default: // UINT64, FIXED64
		if (parse_uint(x, v, UINT64_MAX, &u) != 0)
			return -1;
		*(uint64_t *)slot = u;
		return 0;
	}
}

// float or double.
static int decode_floating(dec *x, ProtobufCType type, json_t *v, void *slot)
{
	double d = 0;
	if (parse_double(x, v, &d) != 0)
		return -1;
	if (type == PROTOBUF_C_TYPE_DOUBLE) {
		*(double *)slot = d;
		return 0;
	}
	if (isfinite(d) && fabs(d) > FLT_MAX)
		return fail(x, "number %g out of range for float", d);
	*(float *)slot = (float)d;
	return 0;
}

// true or false; a map key also as the string "true" or "false".
static int decode_bool(dec *x, json_t *v, void *slot, int as_key)
{
	if (json_is_boolean(v)) {
		*(protobuf_c_boolean *)slot = json_is_true(v);
		return 0;
	}
	if (as_key && json_is_string(v) && strcmp(json_string_value(v), "true") == 0) {
		*(protobuf_c_boolean *)slot = 1;
		return 0;
	}
	if (as_key && json_is_string(v) && strcmp(json_string_value(v), "false") == 0) {
		*(protobuf_c_boolean *)slot = 0;
		return 0;
	}
	return fail(x, "expected true or false");
}

// An enum value by name or by number.
static int decode_enum(dec *x, const ProtobufCEnumDescriptor *ed, json_t *v, void *slot)
{
	int64_t i;
	if (json_is_string(v)) {
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
		if (ev == NULL)
			return fail(x, "unknown value \"%s\" for enum %s", json_string_value(v),
			            ed->name);
		*(int *)slot = ev->value;
		return 0;
	}
	if (!json_is_integer(v))
		return fail(x, "expected a name or number of enum %s", ed->name);
	// proto3 enums are open: any int32 number is kept as it is.
	if (parse_int(x, v, INT32_MIN, INT32_MAX, &i) != 0)
		return -1;
	*(int *)slot = (int)i;
	return 0;
}

// A string, copied into a malloc'd one.
static int decode_string(dec *x, json_t *v, void *slot)
{
	if (!json_is_string(v))
		return fail(x, "expected a string");
	size_t n = json_string_length(v);
	char *s = malloc(n + 1);
	if (s == NULL)
		return fail(x, "out of memory");
	memcpy(s, json_string_value(v), n + 1);
	*(char **)slot = s;
	return 0;
}

// Bytes, written as a base64 string.
static int decode_bytes(dec *x, json_t *v, ProtobufCBinaryData *bd)
{
	if (!json_is_string(v))
		return fail(x, "expected a base64 string");
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = pdc_b64_decode(json_string_value(v), json_string_length(v), &data, &len);
	if (rc == -2)
		return fail(x, "out of memory");
	if (rc != 0)
		return fail(x, "invalid base64");
	// Empty stays as the default ({0, NULL}), as unpack leaves it.
	if (len > 0) {
		bd->data = data;
		bd->len = len;
	}
	return 0;
}

// Decodes one value of field f's type into `slot` (the struct member, or an
// element of a repeated array). `as_key`: the value is a map key, so it came
// as a JSON string whatever its type.
static int decode_value(dec *x, const ProtobufCFieldDescriptor *f, json_t *v, void *slot, int depth,
                        int as_key)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return decode_integer(x, f->type, v, slot);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return decode_floating(x, f->type, v, slot);
	case PROTOBUF_C_TYPE_BOOL:
		return decode_bool(x, v, slot, as_key);
	case PROTOBUF_C_TYPE_ENUM:
		return decode_enum(x, f->descriptor, v, slot);
	case PROTOBUF_C_TYPE_STRING:
		return decode_string(x, v, slot);
	case PROTOBUF_C_TYPE_BYTES:
		return decode_bytes(x, v, slot);
	case PROTOBUF_C_TYPE_MESSAGE:
		return decode_submessage(x, f->descriptor, v, (ProtobufCMessage **)slot, depth);
	}
	return fail(x, "unsupported field type %d", (int)f->type);
}

// A JSON object {"k": v, ...} as a map field: one Entry message per member.
// `arr` already has room for every member; *count grows as entries complete.
static int decode_map(dec *x, const ProtobufCFieldDescriptor *f, json_t *obj,
                      ProtobufCMessage **arr, size_t *count, int depth)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(ed, 1);
	const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(ed, 2);
	if (depth >= PBJSON_MAX_DEPTH)
		return fail(x, "nesting deeper than %d", PBJSON_MAX_DEPTH);
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val)
	{
		size_t saved = path_push(x, "[\"%s\"]", key);
		ProtobufCMessage *e = malloc(ed->sizeof_message);
		if (e == NULL)
			return fail(x, "out of memory");
		pdc_pbjson_message_init(ed, e);
		arr[(*count)++] = e; // valid (all defaults) from here on
		json_t *k = json_string(key);
		if (k == NULL)
			return fail(x, "out of memory");
		int rc = decode_value(x, kf, k, PBJSON_AT(void, e, kf->offset), depth + 1, 1);
		json_decref(k);
		if (rc != 0)
			return -1;
		if (json_is_null(val))
			return fail(x, "a map value cannot be null");
		if (decode_value(x, vf, val, PBJSON_AT(void, e, vf->offset), depth + 1, 0) != 0)
			return -1;
		path_pop(x, saved);
	}
	return 0;
}

static int decode_repeated(dec *x, const ProtobufCFieldDescriptor *f, json_t *v,
                           ProtobufCMessage *m, int depth)
{
	int map = f->type == PROTOBUF_C_TYPE_MESSAGE && pdc_pbjson_is_map_entry(f->descriptor);
	size_t n;
	if (map && json_is_object(v))
		n = json_object_size(v);
	else if (json_is_array(v))
		n = json_array_size(v);
	else
		return fail(x, map ? "expected an object (map)" : "expected an array");
	if (n == 0)
		return 0;
	size_t esz = pdc_pbjson_elem_size(f->type);
	void *arr = calloc(n, esz);
	if (arr == NULL)
		return fail(x, "out of memory");
	size_t *count = PBJSON_AT(size_t, m, f->quantifier_offset);
	*PBJSON_AT(void *, m, f->offset) = arr;
	*count = 0;
	if (map && json_is_object(v))
		return decode_map(x, f, v, arr, count, depth);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		size_t saved = path_push(x, "[%zu]", i);
		if (json_is_null(e))
			return fail(x, "null inside a repeated field");
		if (decode_value(x, f, e, (char *)arr + i * esz, depth, 0) != 0)
			return -1;
		(*count)++;
		path_pop(x, saved);
	}
	return 0;
}

static int decode_field(dec *x, const ProtobufCFieldDescriptor *f, json_t *v, ProtobufCMessage *m,
                        int depth)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return decode_repeated(x, f, v, m, depth);
	int oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
	if (oneof && *PBJSON_AT(uint32_t, m, f->quantifier_offset) != 0)
		return fail(x, "another member of its oneof is already set");
	if (decode_value(x, f, v, PBJSON_AT(void, m, f->offset), depth, 0) != 0)
		return -1;
	if (oneof)
		*PBJSON_AT(uint32_t, m, f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	         f->type != PROTOBUF_C_TYPE_MESSAGE)
		*PBJSON_AT(protobuf_c_boolean, m, f->quantifier_offset) = 1; // proto2 has_
	return 0;
}

static int decode_message(dec *x, const ProtobufCMessageDescriptor *d, json_t *obj,
                          ProtobufCMessage *m, int depth)
{
	unsigned char *seen = calloc(d->n_fields ? d->n_fields : 1, 1);
	if (seen == NULL)
		return fail(x, "out of memory");
	int rc = 0;
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		const ProtobufCFieldDescriptor *f = find_field(d, key);
		if (f == NULL) {
			rc = fail(x, "unknown field \"%s\" in %s", key, d->name);
			break;
		}
		size_t saved = path_push(x, "%s%s", x->pathlen ? "." : "", f->name);
		size_t idx = (size_t)(f - d->fields);
		if (seen[idx]) {
			rc = fail(x, "field given twice (as \"%s\" and its other name)", key);
			break;
		}
		seen[idx] = 1;
		if (!json_is_null(v) && decode_field(x, f, v, m, depth) != 0) {
			rc = -1;
			break;
		}
		path_pop(x, saved);
	}
	free(seen);
	return rc;
}

ProtobufCMessage *pdc_pbjson_decode(const ProtobufCMessageDescriptor *d, const char *json,
                                    char *err, size_t errcap)
{
	dec x = {.err = err, .errcap = errcap};
	if (errcap > 0)
		err[0] = '\0';
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		fail(&x, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
		     jerr.text);
		return NULL;
	}
	ProtobufCMessage *m = NULL;
	if (!json_is_object(root)) {
		fail(&x, "expected a JSON object for %s", d->name);
		goto out;
	}
	m = malloc(d->sizeof_message);
	if (m == NULL) {
		fail(&x, "out of memory");
		goto out;
	}
	pdc_pbjson_message_init(d, m);
	if (decode_message(&x, d, root, m, 0) != 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		m = NULL;
	}
out:
	json_decref(root);
	return m;
}
