// it_property's shared helpers: see it_property_common.h.
#include "it_property_common.h"

#include <stdlib.h>
#include <string.h>

void print_violations_if(bool bad, const char *what, const nrpc_result *r)
{
	if (bad)
		h_print_result(what, r);
}

static void pb_need(pbuf *b, size_t more)
{
	if (b->n + more > b->cap) {
		b->cap = (b->n + more) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
}

static void pb_varint(pbuf *b, uint64_t v)
{
	pb_need(b, 10);
	do {
		uint8_t byte = v & 0x7f;
		v >>= 7;
		b->p[b->n++] = byte | (v ? 0x80 : 0);
	} while (v);
}

// Field `field`, wire type 2 (length-delimited), holding data[len].
void pb_bytes(pbuf *b, unsigned field, const void *data, size_t len)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, len);
	pb_need(b, len);
	memcpy(b->p + b->n, data, len);
	b->n += len;
}

void pb_msg(pbuf *b, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	pb_need(b, n);
	b->n += protobuf_c_message_pack(m, b->p + b->n);
}
