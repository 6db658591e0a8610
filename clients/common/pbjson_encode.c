// protobuf-c message -> JSON text (see pbjson.h).
//
// Written straight into a growing buffer rather than through a jansson tree,
// so that doubles print in their shortest round-trip form (0.1, not
// 0.10000000000000001), NaN/Infinity follow the proto3 mapping, and strings
// that are not valid UTF-8 still give valid JSON (bad bytes become U+FFFD).
#include "pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "base/strbuf.h"
#include "base/utf8.h"
#include "pbjson_fields.h"

typedef struct sbuf {
	base_strbuf t; // t.failed: allocation failed or nesting too deep: the result is dropped
	int flags;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
	(void)base_strbuf_put(&b->t, s, n);
}

static void puts_(sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(sbuf *b, const char *fmt, ...)
{
	char tmp[64]; // every caller formats one number
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->t.failed = true;
		return;
	}
	put(b, tmp, (size_t)n);
}

static void newline(sbuf *b, int depth)
{
	if (!(b->flags & PBJSON_PRETTY))
		return;
	put(b, "\n", 1);
	for (int i = 0; i < depth; i++)
		put(b, "  ", 2);
}

static void put_string(sbuf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t n = strlen((const char *)s);
	put(b, "\"", 1);
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			put(b, esc, 2);
			i++;
		} else if (c < 0x20) {
			switch (c) {
			case '\n':
				puts_(b, "\\n");
				break;
			case '\r':
				puts_(b, "\\r");
				break;
			case '\t':
				puts_(b, "\\t");
				break;
			case '\b':
				puts_(b, "\\b");
				break;
			case '\f':
				puts_(b, "\\f");
				break;
			default:
				putf(b, "\\u%04x", c);
			}
			i++;
		} else {
			size_t len = base_utf8_seq(s + i, n - i);
			if (len == 0) {
				puts_(b, "\xef\xbf\xbd"); // U+FFFD for a byte that is not UTF-8
				i++;
			} else {
				put(b, (const char *)s + i, len);
				i += len;
			}
		}
	}
	put(b, "\"", 1);
}

// The shortest %.*g text that reads back as the same value.
static void put_double(sbuf *b, double v, int is_float)
{
	if (isnan(v)) {
		puts_(b, "\"NaN\"");
		return;
	}
	if (isinf(v)) {
		puts_(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	char tmp[48];
	int prec = 1;
	for (; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		double back = strtod(tmp, NULL);
		if (is_float ? (float)back == (float)v : back == v)
			break;
	}
	// Like JavaScript, keep plain notation between 1e-7 and 1e18 (90, not 9e+01).
	// Not up to 1e21 as JavaScript does: JSON readers such as jansson take an
	// integer-looking number as a 64-bit integer and refuse one beyond 2^63.
	const char *e = strchr(tmp, 'e');
	if (e != NULL) {
		int exp10 = atoi(e + 1);
		if (exp10 >= -7 && exp10 < 18) {
			int decimals = prec - 1 - exp10;
			snprintf(tmp, sizeof tmp, "%.*f", decimals > 0 ? decimals : 0, v);
		}
	}
	puts_(b, tmp);
}

static void put_name(sbuf *b, const char *name)
{
	if (!(b->flags & PBJSON_JSON_NAMES)) {
		put_string(b, name);
		return;
	}
	put(b, "\"", 1);
	int upper = 0;
	for (; *name != '\0'; name++) {
		char c = *name;
		if (c == '_') {
			upper = 1;
			continue;
		}
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		upper = 0;
		put(b, &c, 1);
	}
	put(b, "\"", 1);
}

static void encode_message(sbuf *b, const ProtobufCMessage *m, int depth);

// One value of field f's type, read from `slot`. `as_key`: written as a JSON
// object key (always a string).
static void encode_value(sbuf *b, const ProtobufCFieldDescriptor *f, const void *slot, int depth,
                         int as_key)
{
	const char *q = as_key ? "\"" : "";
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		putf(b, "%s%" PRId32 "%s", q, *(const int32_t *)slot, q);
		return;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		putf(b, "%s%" PRIu32 "%s", q, *(const uint32_t *)slot, q);
		return;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		putf(b, "\"%" PRId64 "\"", *(const int64_t *)slot);
		return;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		putf(b, "\"%" PRIu64 "\"", *(const uint64_t *)slot);
		return;
	case PROTOBUF_C_TYPE_FLOAT:
		put_double(b, *(const float *)slot, 1);
		return;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double(b, *(const double *)slot, 0);
		return;
	case PROTOBUF_C_TYPE_BOOL:
		putf(b, "%s%s%s", q, *(const protobuf_c_boolean *)slot ? "true" : "false", q);
		return;
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)slot;
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		if (ev != NULL)
			put_string(b, ev->name);
		else
			putf(b, "%s%d%s", q, v, q);
		return;
	}
	case PROTOBUF_C_TYPE_STRING:
		put_string(b, *(char *const *)slot);
		return;
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = slot;
		char *s = pdc_b64_encode(bd->data, bd->data ? bd->len : 0);
		if (s == NULL) {
			b->t.failed = true;
			return;
		}
		put_string(b, s);
		free(s);
		return;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
		if (sub == NULL)
			puts_(b, "null");
		else
			encode_message(b, sub, depth);
		return;
	}
	}
	b->t.failed = true;
}

static void encode_repeated(sbuf *b, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m,
                            int depth)
{
	size_t n = *PBJSON_AT(size_t, m, f->quantifier_offset);
	const char *arr = *PBJSON_AT(const char *, m, f->offset);
	int map = f->type == PROTOBUF_C_TYPE_MESSAGE && pdc_pbjson_is_map_entry(f->descriptor);
	const char *sep = b->flags & PBJSON_PRETTY ? ": " : ":";
	put(b, map ? "{" : "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			put(b, ",", 1);
		newline(b, depth + 1);
		if (!map) {
			encode_value(b, f, arr + i * pdc_pbjson_elem_size(f->type), depth + 1, 0);
			continue;
		}
		const ProtobufCMessage *e = ((ProtobufCMessage *const *)arr)[i];
		const ProtobufCMessageDescriptor *ed = f->descriptor;
		const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(ed, 1);
		const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(ed, 2);
		encode_value(b, kf, PBJSON_AT(void, e, kf->offset), depth + 1, 1);
		puts_(b, sep);
		encode_value(b, vf, PBJSON_AT(void, e, vf->offset), depth + 1, 0);
	}
	if (n > 0)
		newline(b, depth);
	put(b, map ? "}" : "]", 1);
}

// True when a singular field holds its proto3 default (zero, empty, unset).
static int is_default(const ProtobufCFieldDescriptor *f, const void *slot)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)slot == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)slot == 0 && !signbit(*(const double *)slot);
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)slot == 0 && !signbit(*(const float *)slot);
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)slot == 0;
	case PROTOBUF_C_TYPE_ENUM:
		return *(const int *)slot == 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)slot;
		return s == NULL || s[0] == '\0';
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)slot)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)slot == NULL;
	default:
		return *(const uint32_t *)slot == 0;
	}
}

// Whether field f of m is written at all.
static int present(const sbuf *b, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *PBJSON_AT(uint32_t, m, f->quantifier_offset) == f->id;
	if (b->flags & PBJSON_EMIT_DEFAULTS)
		return 1;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *PBJSON_AT(size_t, m, f->quantifier_offset) > 0;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		return *PBJSON_AT(protobuf_c_boolean, m, f->quantifier_offset) != 0; // proto2 has_
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *PBJSON_AT(void *, m, f->offset) != NULL;
	return !is_default(f, PBJSON_AT(void, m, f->offset));
}

static void encode_message(sbuf *b, const ProtobufCMessage *m, int depth)
{
	if (depth >= PBJSON_MAX_DEPTH) {
		b->t.failed = true;
		return;
	}
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *sep = b->flags & PBJSON_PRETTY ? ": " : ":";
	int n = 0;
	put(b, "{", 1);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!present(b, f, m))
			continue;
		if (n++ > 0)
			put(b, ",", 1);
		newline(b, depth + 1);
		put_name(b, f->name);
		puts_(b, sep);
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			encode_repeated(b, f, m, depth + 1);
		else
			encode_value(b, f, PBJSON_AT(void, m, f->offset), depth + 1, 0);
	}
	if (n > 0)
		newline(b, depth);
	put(b, "}", 1);
}

char *pdc_pbjson_encode(const ProtobufCMessage *m, int flags)
{
	sbuf b = {.flags = flags};
	encode_message(&b, m, 0);
	if (flags & PBJSON_PRETTY)
		put(&b, "\n", 1);
	if (b.t.failed) {
		free(b.t.p);
		return NULL;
	}
	return b.t.p;
}
