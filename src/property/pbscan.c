// property pbscan: see pbscan.h.
#include "property/pbscan.h"

#include <stdio.h>
#include <string.h>

enum wire_type { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct scan {
	const char *strip; // prefix dropped from reported paths, or NULL
	prop_violations *vs;
} scan;

// Reads a varint at *pos; returns -1 when truncated or longer than 10 bytes.
static int read_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (*pos >= len) {
			return -1;
		}
		uint8_t b = buf[(*pos)++];
		v |= (uint64_t)(b & 0x7F) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

// A field path as a chain of names on the walk's stack ("location" then
// "city"): the text is built only for a string that is reported.
typedef struct seg {
	const struct seg *parent;
	const char *name;
} seg;

static size_t path_text(const seg *sg, char *buf, size_t cap)
{
	size_t n = sg->parent != NULL ? path_text(sg->parent, buf, cap) : 0;
	int w = snprintf(buf + n, cap - n, "%s%s", n > 0 ? "." : "", sg->name);
	return w < 0 || (size_t)w >= cap - n ? cap - 1 : n + (size_t)w;
}

static void report(scan *sc, const seg *where, const char *desc)
{
	char text[PROP_FIELD_MAX];
	const char *path = text;
	path_text(where, text, sizeof(text));
	size_t n = sc->strip != NULL ? strlen(sc->strip) : 0;
	if (n > 0 && strncmp(path, sc->strip, n) == 0) {
		path += n;
	}
	prop_violation_add(sc->vs, path, desc);
}

static void check_string(scan *sc, const seg *where, const uint8_t *s, size_t len)
{
	if (memchr(s, 0, len) != NULL) {
		report(sc, where, "must not contain U+0000");
	} else if (!prop_utf8_valid(s, len, NULL)) {
		report(sc, where, "must be valid UTF-8");
	}
}

static int walk(scan *sc, const uint8_t *buf, size_t len, const ProtobufCMessageDescriptor *desc,
                const seg *parent, unsigned depth)
{
	size_t pos = 0;
	if (depth > PBSCAN_MAX_DEPTH) {
		return -1;
	}
	while (pos < len) {
		uint64_t tag, v;
		if (read_varint(buf, len, &pos, &tag) != 0) {
			return -1;
		}
		uint64_t number = tag >> 3;
		switch ((enum wire_type)(tag & 7)) {
		case WT_VARINT:
			if (read_varint(buf, len, &pos, &v) != 0) {
				return -1;
			}
			break;
		case WT_I64:
			if (len - pos < 8) {
				return -1;
			}
			pos += 8;
			break;
		case WT_I32:
			if (len - pos < 4) {
				return -1;
			}
			pos += 4;
			break;
		case WT_LEN: {
			if (read_varint(buf, len, &pos, &v) != 0 || v > len - pos) {
				return -1;
			}
			const uint8_t *body = buf + pos;
			pos += (size_t)v;
			const ProtobufCFieldDescriptor *f =
			    number <= UINT32_MAX
			        ? protobuf_c_message_descriptor_get_field(desc, (unsigned)number)
			        : NULL;
			if (f == NULL) {
				break; // unknown field: protobuf-c skips it too
			}
			seg here = {.parent = parent, .name = f->name};
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				check_string(sc, &here, body, (size_t)v);
			} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (walk(sc, body, (size_t)v, f->descriptor, &here, depth + 1) !=
				    0) {
					return -1;
				}
			}
			break;
		}
		default: // groups (3, 4) and 6, 7 are not in proto3 messages
			return -1;
		}
	}
	return 0;
}

int pbscan_strings(const uint8_t *buf, size_t len, const ProtobufCMessageDescriptor *desc,
                   const char *strip_prefix, prop_violations *vs)
{
	scan sc = {.strip = strip_prefix, .vs = vs};
	if (buf == NULL) {
		return len == 0 ? 0 : -1;
	}
	return walk(&sc, buf, len, desc, NULL, 0);
}
