// property pbscan: see pbscan.h.
#include "property/pbscan.h"

#include <stdio.h>
#include <string.h>

#include "base/pbwire.h"
#include "base/utf8.h"

typedef struct scan {
	const char *strip; // prefix dropped from reported paths, or NULL
	prop_violations *vs;
} scan;

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
	} else if (!base_utf8_valid(s, len, NULL)) {
		report(sc, where, "must be valid UTF-8");
	}
}

static int walk(scan *sc, const uint8_t *buf, size_t len, const ProtobufCMessageDescriptor *desc,
                const seg *parent, unsigned depth)
{
	const uint8_t *p = buf, *end = buf + len;
	if (depth > PBSCAN_MAX_DEPTH) {
		return -1;
	}
	while (p < end) {
		base_pbwire_field wf;
		if (base_pbwire_next(&p, end, &wf) != 0) {
			return -1;
		}
		if (wf.wt != PBWIRE_LEN) {
			continue;
		}
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field(desc, wf.num);
		if (f == NULL) {
			continue; // unknown field: protobuf-c skips it too
		}
		seg here = {.parent = parent, .name = f->name};
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			check_string(sc, &here, wf.body, (size_t)wf.value);
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			if (walk(sc, wf.body, (size_t)wf.value, f->descriptor, &here, depth + 1) !=
			    0) {
				return -1;
			}
		}
	}
	return 0;
}

int prop_pbscan_strings(const uint8_t *buf, size_t len, const ProtobufCMessageDescriptor *desc,
                        const char *strip_prefix, prop_violations *vs)
{
	scan sc = {.strip = strip_prefix, .vs = vs};
	if (buf == NULL) {
		return len == 0 ? 0 : -1;
	}
	return walk(&sc, buf, len, desc, NULL, 0);
}
