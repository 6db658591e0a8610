// rtdesc: runtime protobuf-c descriptors from a FileDescriptorSet.
//
// Built in three passes: name every message, enum and service of every file
// (nested ones as "Outer.Inner") and allocate their descriptors empty; fill
// enums; fill messages (field layout, sorted indexes, ranges), whose fields
// point at descriptors of the first pass; fill services. Allocation failures
// abort, as protobuf-c's and jansson's defaults would leave nothing to do.
#include "rtdesc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson_fields.h"
#include "rtdesc_int.h"

static void fail(pdc_rtdesc *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(pdc_rtdesc *r, const char *fmt, ...)
{
	if (r->errcap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errcap, fmt, ap);
	va_end(ap);
}

static void *xalloc(pdc_rtdesc *r, size_t n)
{
	blk *b = calloc(1, sizeof(blk) + (n > 0 ? n : 1));
	if (b == NULL)
		abort();
	b->next = r->mem;
	r->mem = b;
	return b->data;
}

static char *xstrdup(pdc_rtdesc *r, const char *s)
{
	size_t n = strlen(s);
	char *p = xalloc(r, n + 1);
	memcpy(p, s, n + 1);
	return p;
}

static char *join(pdc_rtdesc *r, const char *prefix, const char *name)
{
	if (prefix == NULL || prefix[0] == '\0')
		return xstrdup(r, name);
	size_t a = strlen(prefix), b = strlen(name);
	char *p = xalloc(r, a + b + 2);
	memcpy(p, prefix, a);
	p[a] = '.';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

// "property.v1.Property" -> "property__v1__property"-like C name (informative only).
static char *c_name(pdc_rtdesc *r, const char *full)
{
	size_t n = strlen(full);
	char *p = xalloc(r, 2 * n + 1), *o = p;
	for (const char *c = full; *c; c++) {
		if (*c == '.') {
			*o++ = '_';
			*o++ = '_';
		} else {
			*o++ = *c;
		}
	}
	return p;
}

static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 16;
	void *p = realloc(arr, *cap * elem);
	if (p == NULL)
		abort();
	return p;
}

// ---- pass 1: names ----------------------------------------------------------------------

static void add_enum(pdc_rtdesc *r, const char *scope, const char *pkg,
                     const Pdc__Descset__EnumDescriptorProto *ep)
{
	r->enums = grow(r->enums, &r->capenums, r->nenums, sizeof(*r->enums));
	eentry *e = &r->enums[r->nenums++];
	e->name = join(r, scope, ep->name ? ep->name : "");
	e->pkg = pkg;
	e->ep = ep;
	e->d = xalloc(r, sizeof(*e->d));
}

static void add_message(pdc_rtdesc *r, const char *scope, const char *pkg, bool proto3,
                        const Pdc__Descset__DescriptorProto *dp)
{
	r->msgs = grow(r->msgs, &r->capmsgs, r->nmsgs, sizeof(*r->msgs));
	mentry *m = &r->msgs[r->nmsgs++];
	m->name = join(r, scope, dp->name ? dp->name : "");
	m->pkg = pkg;
	m->proto3 = proto3;
	m->dp = dp;
	m->d = xalloc(r, sizeof(*m->d));
	const char *me = m->name; // r->msgs may move below
	for (size_t i = 0; i < dp->n_enum_type; i++)
		add_enum(r, me, pkg, dp->enum_type[i]);
	for (size_t i = 0; i < dp->n_nested_type; i++)
		add_message(r, me, pkg, proto3, dp->nested_type[i]);
}

static void add_file(pdc_rtdesc *r, const Pdc__Descset__FileDescriptorProto *f)
{
	const char *pkg = xstrdup(r, f->package ? f->package : "");
	bool proto3 = f->syntax != NULL && strcmp(f->syntax, "proto3") == 0;
	for (size_t i = 0; i < f->n_enum_type; i++)
		add_enum(r, pkg, pkg, f->enum_type[i]);
	for (size_t i = 0; i < f->n_message_type; i++)
		add_message(r, pkg, pkg, proto3, f->message_type[i]);
	for (size_t i = 0; i < f->n_service; i++) {
		r->svcs = grow(r->svcs, &r->capsvcs, r->nsvcs, sizeof(*r->svcs));
		sentry *s = &r->svcs[r->nsvcs++];
		s->name = join(r, pkg, f->service[i]->name ? f->service[i]->name : "");
		s->pkg = pkg;
		s->sp = f->service[i];
		s->d = xalloc(r, sizeof(*s->d));
	}
}

// ---- pass 2: enums ----------------------------------------------------------------------

// Ranges of consecutive values over a sorted array: ranges[k] = {first value,
// its index}, then a sentinel {0, n}. Returns the count without the sentinel.
static unsigned make_ranges(pdc_rtdesc *r, const int *vals, unsigned n, ProtobufCIntRange **out)
{
	ProtobufCIntRange *rg = xalloc(r, (n + 1) * sizeof(*rg));
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		if (i == 0 || vals[i] != vals[i - 1] + 1) {
			rg[k].start_value = vals[i];
			rg[k].orig_index = i;
			k++;
		}
	}
	rg[k].start_value = 0;
	rg[k].orig_index = (int)n;
	*out = rg;
	return k;
}

static void build_enum(pdc_rtdesc *r, eentry *e)
{
	const Pdc__Descset__EnumDescriptorProto *ep = e->ep;
	ProtobufCEnumDescriptor *d = e->d;
	size_t n = ep->n_value;
	// Values sorted by number (stable: an alias keeps the first name).
	unsigned *ord = xalloc(r, (n + 1) * sizeof(*ord));
	for (unsigned i = 0; i < n; i++) {
		unsigned j = i;
		while (j > 0 && ep->value[ord[j - 1]]->number > ep->value[i]->number) {
			ord[j] = ord[j - 1];
			j--;
		}
		ord[j] = i;
	}
	ProtobufCEnumValue *vals = xalloc(r, (n + 1) * sizeof(*vals));
	int *nums = xalloc(r, (n + 1) * sizeof(*nums));
	unsigned nv = 0;
	for (size_t i = 0; i < n; i++) {
		const Pdc__Descset__EnumValueDescriptorProto *v = ep->value[ord[i]];
		if (nv > 0 && vals[nv - 1].value == v->number)
			continue; // alias
		vals[nv].name = v->name ? v->name : "";
		vals[nv].c_name = vals[nv].name;
		vals[nv].value = v->number;
		nums[nv] = v->number;
		nv++;
	}
	ProtobufCEnumValueIndex *byname = xalloc(r, (n + 1) * sizeof(*byname));
	for (size_t i = 0; i < n; i++) {
		const Pdc__Descset__EnumValueDescriptorProto *v = ep->value[i];
		unsigned idx = 0;
		while (idx + 1 < nv && vals[idx].value != v->number)
			idx++;
		const char *nm = v->name ? v->name : "";
		size_t j = i;
		while (j > 0 && strcmp(byname[j - 1].name, nm) > 0) {
			byname[j] = byname[j - 1];
			j--;
		}
		byname[j].name = nm;
		byname[j].index = idx;
	}
	ProtobufCIntRange *rg;
	d->n_value_ranges = make_ranges(r, nums, nv, &rg);
	d->value_ranges = rg;
	d->magic = PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC;
	d->name = e->name;
	d->short_name = ep->name ? ep->name : "";
	d->c_name = c_name(r, e->name);
	d->package_name = e->pkg;
	d->n_values = nv;
	d->values = vals;
	d->n_value_names = (unsigned)n;
	d->values_by_name = byname;
}

// ---- pass 3: messages -------------------------------------------------------------------

static ProtobufCType field_type(int t)
{
	switch (t) {
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE:
		return PROTOBUF_C_TYPE_DOUBLE;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT:
		return PROTOBUF_C_TYPE_FLOAT;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64:
		return PROTOBUF_C_TYPE_INT64;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT64:
		return PROTOBUF_C_TYPE_UINT64;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32:
		return PROTOBUF_C_TYPE_INT32;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64:
		return PROTOBUF_C_TYPE_FIXED64;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32:
		return PROTOBUF_C_TYPE_FIXED32;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL:
		return PROTOBUF_C_TYPE_BOOL;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING:
		return PROTOBUF_C_TYPE_STRING;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE:
		return PROTOBUF_C_TYPE_MESSAGE;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES:
		return PROTOBUF_C_TYPE_BYTES;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT32:
		return PROTOBUF_C_TYPE_UINT32;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM:
		return PROTOBUF_C_TYPE_ENUM;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32:
		return PROTOBUF_C_TYPE_SFIXED32;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64:
		return PROTOBUF_C_TYPE_SFIXED64;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT32:
		return PROTOBUF_C_TYPE_SINT32;
	case PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT64:
		return PROTOBUF_C_TYPE_SINT64;
	default:
		return (ProtobufCType)-1; // group or unknown
	}
}

// Alignment of one value of type t in a message struct (its size: pdc_pbjson_elem_size).
static size_t value_align(ProtobufCType t)
{
	return t == PROTOBUF_C_TYPE_BYTES ? sizeof(void *) : pdc_pbjson_elem_size(t);
}

static unsigned place(size_t *off, size_t size, size_t align)
{
	*off = (*off + align - 1) / align * align;
	size_t at = *off;
	*off += size;
	return (unsigned)at;
}

static bool packable(ProtobufCType t)
{
	return t != PROTOBUF_C_TYPE_STRING && t != PROTOBUF_C_TYPE_BYTES &&
	       t != PROTOBUF_C_TYPE_MESSAGE;
}

// The default value of a proto2 field with [default = ...], in the pool.
static const void *proto2_default(pdc_rtdesc *r, const Pdc__Descset__FieldDescriptorProto *fp,
                                  ProtobufCType t, const ProtobufCEnumDescriptor *ed)
{
	const char *s = fp->default_value;
	if (t == PROTOBUF_C_TYPE_ENUM && ed != NULL) {
		if (s != NULL) {
			const ProtobufCEnumValue *v =
			    protobuf_c_enum_descriptor_get_value_by_name(ed, s);
			if (v != NULL) {
				int *p = xalloc(r, sizeof(int));
				*p = v->value;
				return p;
			}
		}
		if (ed->n_values > 0) { // proto2: the first declared value
			int *p = xalloc(r, sizeof(int));
			*p = ed->values[0].value;
			return p;
		}
		return NULL;
	}
	if (s == NULL)
		return NULL;
	switch (t) {
	case PROTOBUF_C_TYPE_STRING:
		return xstrdup(r, s);
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean *p = xalloc(r, sizeof(*p));
		*p = strcmp(s, "true") == 0;
		return p;
	}
	case PROTOBUF_C_TYPE_FLOAT: {
		float *p = xalloc(r, sizeof(*p));
		*p = strtof(s, NULL);
		return p;
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		double *p = xalloc(r, sizeof(*p));
		*p = strtod(s, NULL);
		return p;
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t *p = xalloc(r, sizeof(*p));
		*p = strtoll(s, NULL, 10);
		return p;
	}
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t *p = xalloc(r, sizeof(*p));
		*p = strtoull(s, NULL, 10);
		return p;
	}
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: {
		int32_t *p = xalloc(r, sizeof(*p));
		*p = (int32_t)strtol(s, NULL, 10);
		return p;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t *p = xalloc(r, sizeof(*p));
		*p = (uint32_t)strtoul(s, NULL, 10);
		return p;
	}
	default:
		return NULL; // bytes defaults: not supported
	}
}

// Fills one field descriptor; the caller places it. Returns -1 on failure.
static int build_field(pdc_rtdesc *r, const mentry *m, const Pdc__Descset__FieldDescriptorProto *fp,
                       ProtobufCFieldDescriptor *f)
{
	const char *fname = fp->name ? fp->name : "";
	ProtobufCType t = field_type(fp->has_type ? (int)fp->type : 0);
	if ((int)t < 0) {
		fail(r, "%s.%s: groups and unknown field types are not supported", m->name, fname);
		return -1;
	}
	f->name = fname;
	f->id = (uint32_t)fp->number;
	f->type = t;
	if (t == PROTOBUF_C_TYPE_MESSAGE || t == PROTOBUF_C_TYPE_ENUM) {
		const void *ref = t == PROTOBUF_C_TYPE_MESSAGE
		                      ? (const void *)pdc_rtdesc_message(r, fp->type_name)
		                      : (const void *)pdc_rtdesc_enum(r, fp->type_name);
		if (ref == NULL) {
			fail(r, "%s.%s: unknown type %s", m->name, fname,
			     fp->type_name ? fp->type_name : "(none)");
			return -1;
		}
		f->descriptor = ref;
	}
	return 0;
}

// Where the fields of a message struct go: the next free offset, and the case and value
// slot of each oneof (placed with its first member).
typedef struct layout {
	size_t off;
	size_t noneof;
	unsigned *oneof_case, *oneof_slot;
	bool *oneof_placed;
} layout;

// The field protos of dp sorted by number (insertion sort: messages are small).
static const Pdc__Descset__FieldDescriptorProto **
fields_by_number(pdc_rtdesc *r, const Pdc__Descset__DescriptorProto *dp, unsigned n)
{
	const Pdc__Descset__FieldDescriptorProto **fps = xalloc(r, (n + 1) * sizeof(*fps));
	for (unsigned i = 0; i < n; i++) {
		unsigned j = i;
		while (j > 0 && fps[j - 1]->number > dp->field[i]->number) {
			fps[j] = fps[j - 1];
			j--;
		}
		fps[j] = dp->field[i];
	}
	return fps;
}

// The indexes of fields[0..n) in the order of their names.
static unsigned *fields_by_name(pdc_rtdesc *r, const ProtobufCFieldDescriptor *fields, unsigned n)
{
	unsigned *byname = xalloc(r, (n + 1) * sizeof(*byname));
	for (unsigned i = 0; i < n; i++) {
		unsigned j = i;
		while (j > 0 && strcmp(fields[byname[j - 1]].name, fields[i].name) > 0) {
			byname[j] = byname[j - 1];
			j--;
		}
		byname[j] = i;
	}
	return byname;
}

// A repeated field: its count and array pointer, packed as the syntax and [packed] say.
static void place_repeated(const mentry *m, const Pdc__Descset__FieldDescriptorProto *fp,
                           ProtobufCFieldDescriptor *f, layout *L)
{
	f->label = PROTOBUF_C_LABEL_REPEATED;
	f->quantifier_offset = place(&L->off, sizeof(size_t), sizeof(size_t));
	f->offset = place(&L->off, sizeof(void *), sizeof(void *));
	bool explicit_packed = fp->options != NULL && fp->options->has_packed;
	bool packed = m->proto3 ? !(explicit_packed && !fp->options->packed)
	                        : (explicit_packed && fp->options->packed);
	if (packed && packable(f->type))
		f->flags |= PROTOBUF_C_FIELD_FLAG_PACKED;
}

// A member of oneof k: the oneof's case and value slot, shared by all its members.
static void place_oneof(const mentry *m, size_t k, ProtobufCFieldDescriptor *f, layout *L)
{
	if (!L->oneof_placed[k]) {
		L->oneof_case[k] = place(&L->off, sizeof(uint32_t), sizeof(uint32_t));
		L->oneof_slot[k] = place(&L->off, sizeof(ProtobufCBinaryData), sizeof(void *));
		L->oneof_placed[k] = true;
	}
	f->label = m->proto3 ? PROTOBUF_C_LABEL_NONE : PROTOBUF_C_LABEL_OPTIONAL;
	f->flags |= PROTOBUF_C_FIELD_FLAG_ONEOF;
	f->quantifier_offset = L->oneof_case[k];
	f->offset = L->oneof_slot[k];
}

// Label, offsets, flags and default of the built field f (from fp) in the struct laid out
// by L.
static void place_field(pdc_rtdesc *r, const mentry *m,
                        const Pdc__Descset__FieldDescriptorProto *fp, ProtobufCFieldDescriptor *f,
                        layout *L)
{
	ProtobufCType t = f->type;
	bool repeated = fp->has_label &&
	                fp->label == PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
	bool required = fp->has_label &&
	                fp->label == PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED;
	bool p3opt = fp->has_proto3_optional && fp->proto3_optional;
	bool in_oneof = fp->has_oneof_index && !p3opt && fp->oneof_index >= 0 &&
	                (size_t)fp->oneof_index < L->noneof;
	const ProtobufCEnumDescriptor *ed =
	    t == PROTOBUF_C_TYPE_ENUM ? (const ProtobufCEnumDescriptor *)f->descriptor : NULL;
	if (repeated) {
		place_repeated(m, fp, f, L);
	} else if (in_oneof) {
		place_oneof(m, (size_t)fp->oneof_index, f, L);
	} else if (required || (!m->proto3) || p3opt) {
		f->label = required ? PROTOBUF_C_LABEL_REQUIRED : PROTOBUF_C_LABEL_OPTIONAL;
		if (!required && t != PROTOBUF_C_TYPE_STRING && t != PROTOBUF_C_TYPE_MESSAGE)
			f->quantifier_offset =
			    place(&L->off, sizeof(protobuf_c_boolean), sizeof(protobuf_c_boolean));
		f->offset = place(&L->off, pdc_pbjson_elem_size(t), value_align(t));
		if (!m->proto3)
			f->default_value = proto2_default(r, fp, t, ed);
	} else {
		f->label = PROTOBUF_C_LABEL_NONE;
		f->offset = place(&L->off, pdc_pbjson_elem_size(t), value_align(t));
		if (t == PROTOBUF_C_TYPE_STRING)
			f->default_value = protobuf_c_empty_string;
	}
}

static void build_message(pdc_rtdesc *r, mentry *m, int *rc)
{
	const Pdc__Descset__DescriptorProto *dp = m->dp;
	ProtobufCMessageDescriptor *d = m->d;
	unsigned n = (unsigned)dp->n_field;
	const Pdc__Descset__FieldDescriptorProto **fps = fields_by_number(r, dp, n);
	ProtobufCFieldDescriptor *fields = xalloc(r, (n + 1) * sizeof(*fields));
	layout L = {.off = sizeof(ProtobufCMessage), .noneof = dp->n_oneof_decl};
	L.oneof_case = xalloc(r, (L.noneof + 1) * sizeof(unsigned));
	L.oneof_slot = xalloc(r, (L.noneof + 1) * sizeof(unsigned));
	L.oneof_placed = xalloc(r, (L.noneof + 1) * sizeof(bool));
	int *nums = xalloc(r, (n + 1) * sizeof(int));
	for (unsigned i = 0; i < n; i++) {
		nums[i] = fps[i]->number;
		if (build_field(r, m, fps[i], &fields[i]) != 0) {
			*rc = -1;
			return;
		}
		place_field(r, m, fps[i], &fields[i], &L);
	}
	unsigned *byname = fields_by_name(r, fields, n);
	ProtobufCIntRange *rg;
	d->n_field_ranges = make_ranges(r, nums, n, &rg);
	d->field_ranges = rg;
	d->magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC;
	d->name = m->name;
	d->short_name = dp->name ? dp->name : "";
	d->c_name = c_name(r, m->name);
	d->package_name = m->pkg;
	d->sizeof_message = (L.off + sizeof(void *) - 1) / sizeof(void *) * sizeof(void *);
	d->n_fields = n;
	d->fields = fields;
	d->fields_sorted_by_name = byname;
	d->message_init = NULL; // protobuf-c initialises generically (pbjson too)
}

// ---- pass 4: services -------------------------------------------------------------------

static int build_service(pdc_rtdesc *r, sentry *s)
{
	const Pdc__Descset__ServiceDescriptorProto *sp = s->sp;
	ProtobufCServiceDescriptor *d = s->d;
	unsigned n = (unsigned)sp->n_method;
	ProtobufCMethodDescriptor *ms = xalloc(r, (n + 1) * sizeof(*ms));
	unsigned *byname = xalloc(r, (n + 1) * sizeof(*byname));
	for (unsigned i = 0; i < n; i++) {
		const Pdc__Descset__MethodDescriptorProto *mp = sp->method[i];
		ms[i].name = mp->name ? mp->name : "";
		ms[i].input = pdc_rtdesc_message(r, mp->input_type);
		ms[i].output = pdc_rtdesc_message(r, mp->output_type);
		if (ms[i].input == NULL || ms[i].output == NULL) {
			fail(r, "%s.%s: unknown message type", s->name, ms[i].name);
			return -1;
		}
		unsigned j = i;
		while (j > 0 && strcmp(ms[byname[j - 1]].name, ms[i].name) > 0) {
			byname[j] = byname[j - 1];
			j--;
		}
		byname[j] = i;
	}
	d->magic = PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC;
	d->name = s->name;
	d->short_name = sp->name ? sp->name : "";
	d->c_name = c_name(r, s->name);
	d->package = s->pkg;
	d->n_methods = n;
	d->methods = ms;
	d->method_indices_by_name = byname;
	return 0;
}

pdc_rtdesc *pdc_rtdesc_load(const uint8_t *fds, size_t len, char *err, size_t errcap)
{
	pdc_rtdesc *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		if (errcap > 0)
			snprintf(err, errcap, "out of memory");
		return NULL;
	}
	r->err = err;
	r->errcap = errcap;
	r->set = pdc__descset__file_descriptor_set__unpack(NULL, len, fds);
	if (r->set == NULL) {
		fail(r, "the file descriptor set does not decode");
		pdc_rtdesc_free(r);
		return NULL;
	}
	for (size_t i = 0; i < r->set->n_file; i++)
		add_file(r, r->set->file[i]);
	for (size_t i = 0; i < r->nenums; i++)
		build_enum(r, &r->enums[i]);
	int rc = 0;
	for (size_t i = 0; i < r->nmsgs && rc == 0; i++)
		build_message(r, &r->msgs[i], &rc);
	for (size_t i = 0; i < r->nsvcs && rc == 0; i++)
		rc = build_service(r, &r->svcs[i]);
	if (rc != 0) {
		pdc_rtdesc_free(r);
		return NULL;
	}
	return r;
}

void pdc_rtdesc_free(pdc_rtdesc *r)
{
	if (r == NULL)
		return;
	while (r->mem != NULL) {
		blk *b = r->mem;
		r->mem = b->next;
		free(b);
	}
	if (r->set != NULL)
		pdc__descset__file_descriptor_set__free_unpacked(r->set, NULL);
	free(r->msgs);
	free(r->enums);
	free(r->svcs);
	free(r);
}
