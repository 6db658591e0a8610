// rtdesc internals: the descriptor set's tables, shared by rtdesc.c (which
// builds them) and rtdesc_lookup.c (which answers lookups). Not for other
// modules. Everything here belongs to the pdc_rtdesc (its `mem` blocks).
#ifndef PDC_RTDESC_INT_H
#define PDC_RTDESC_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "rtdesc.h"

typedef struct blk {
	struct blk *next;
	max_align_t data[];
} blk;

typedef struct mentry {
	const char *name; // full, no leading dot
	const char *pkg;
	bool proto3;
	const Pdc__Descset__DescriptorProto *dp;
	ProtobufCMessageDescriptor *d;
} mentry;

typedef struct eentry {
	const char *name;
	const char *pkg;
	const Pdc__Descset__EnumDescriptorProto *ep;
	ProtobufCEnumDescriptor *d;
} eentry;

typedef struct sentry {
	const char *name;
	const char *pkg;
	const Pdc__Descset__ServiceDescriptorProto *sp;
	ProtobufCServiceDescriptor *d;
} sentry;

struct pdc_rtdesc {
	Pdc__Descset__FileDescriptorSet *set;
	blk *mem;
	mentry *msgs;
	size_t nmsgs, capmsgs;
	eentry *enums;
	size_t nenums, capenums;
	sentry *svcs;
	size_t nsvcs, capsvcs;
	char *err;
	size_t errcap;
};

#endif
