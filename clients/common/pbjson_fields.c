#include "pbjson_fields.h"

#include <string.h>

int pdc_pbjson_is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);
	if (d->n_fields != 2 || n < 5 || strcmp(d->name + n - 5, "Entry") != 0)
		return 0;
	const ProtobufCFieldDescriptor *k = protobuf_c_message_descriptor_get_field(d, 1);
	const ProtobufCFieldDescriptor *v = protobuf_c_message_descriptor_get_field(d, 2);
	return k != NULL && v != NULL && strcmp(k->name, "key") == 0 &&
	       strcmp(v->name, "value") == 0;
}

size_t pdc_pbjson_elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return sizeof(uint32_t);
	}
	return sizeof(uint32_t);
}

void pdc_pbjson_message_init(const ProtobufCMessageDescriptor *d, void *m)
{
	if (d->message_init != NULL) {
		protobuf_c_message_init(d, m);
		return;
	}
	memset(m, 0, d->sizeof_message);
	((ProtobufCMessage *)m)->descriptor = d;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->default_value == NULL || f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		void *at = PBJSON_AT(char, m, f->offset);
		if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
			*(const void **)at = f->default_value;
		else
			memcpy(at, f->default_value, pdc_pbjson_elem_size(f->type));
	}
}
