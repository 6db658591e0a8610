// rtdesc lookups: descriptors and definitions by full name (a leading dot
// is ignored, as in a descriptor set's type_name), and the services in order.
#include <string.h>

#include "rtdesc.h"
#include "rtdesc_int.h"

static const char *undot(const char *n)
{
	return n != NULL && n[0] == '.' ? n + 1 : (n ? n : "");
}

static const mentry *find_msg(const pdc_rtdesc *r, const char *name)
{
	name = undot(name);
	for (size_t i = 0; i < r->nmsgs; i++)
		if (strcmp(r->msgs[i].name, name) == 0)
			return &r->msgs[i];
	return NULL;
}

static const eentry *find_enum(const pdc_rtdesc *r, const char *name)
{
	name = undot(name);
	for (size_t i = 0; i < r->nenums; i++)
		if (strcmp(r->enums[i].name, name) == 0)
			return &r->enums[i];
	return NULL;
}

static const sentry *find_svc(const pdc_rtdesc *r, const char *name)
{
	name = undot(name);
	for (size_t i = 0; i < r->nsvcs; i++)
		if (strcmp(r->svcs[i].name, name) == 0)
			return &r->svcs[i];
	return NULL;
}

const ProtobufCMessageDescriptor *pdc_rtdesc_message(const pdc_rtdesc *r, const char *name)
{
	const mentry *m = find_msg(r, name);
	return m != NULL ? m->d : NULL;
}

const ProtobufCEnumDescriptor *pdc_rtdesc_enum(const pdc_rtdesc *r, const char *name)
{
	const eentry *e = find_enum(r, name);
	return e != NULL ? e->d : NULL;
}

const ProtobufCServiceDescriptor *pdc_rtdesc_service(const pdc_rtdesc *r, const char *name)
{
	const sentry *s = find_svc(r, name);
	return s != NULL ? s->d : NULL;
}

const Pdc__Descset__DescriptorProto *pdc_rtdesc_message_def(const pdc_rtdesc *r, const char *name,
                                                            int *proto3)
{
	const mentry *m = find_msg(r, name);
	if (m != NULL && proto3 != NULL)
		*proto3 = m->proto3;
	return m != NULL ? m->dp : NULL;
}

const Pdc__Descset__EnumDescriptorProto *pdc_rtdesc_enum_def(const pdc_rtdesc *r, const char *name)
{
	const eentry *e = find_enum(r, name);
	return e != NULL ? e->ep : NULL;
}

const Pdc__Descset__ServiceDescriptorProto *pdc_rtdesc_service_def(const pdc_rtdesc *r,
                                                                   const char *name)
{
	const sentry *s = find_svc(r, name);
	return s != NULL ? s->sp : NULL;
}

size_t pdc_rtdesc_service_count(const pdc_rtdesc *r)
{
	return r->nsvcs;
}

const ProtobufCServiceDescriptor *pdc_rtdesc_service_at(const pdc_rtdesc *r, size_t i)
{
	return i < r->nsvcs ? r->svcs[i].d : NULL;
}

const Pdc__Descset__FileDescriptorSet *pdc_rtdesc_set(const pdc_rtdesc *r)
{
	return r->set;
}
