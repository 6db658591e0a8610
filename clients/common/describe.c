#include "describe.h"

#include <string.h>

#include "reflect.h"

typedef Pdc__Descset__FieldDescriptorProto fdp;

static const char *scalar_name(int t)
{
	static const char *const names[] = {
	    [1] = "double",    [2] = "float",   [3] = "int64",   [4] = "uint64", [5] = "int32",
	    [6] = "fixed64",   [7] = "fixed32", [8] = "bool",    [9] = "string", [10] = "group",
	    [11] = NULL,       [12] = "bytes",  [13] = "uint32", [14] = NULL,    [15] = "sfixed32",
	    [16] = "sfixed64", [17] = "sint32", [18] = "sint64",
	};
	return t > 0 && t < 19 && names[t] != NULL ? names[t] : NULL;
}

static const char *type_of(const fdp *f)
{
	const char *s = scalar_name(f->has_type ? (int)f->type : 0);
	return s != NULL ? s : (f->type_name ? f->type_name : "?");
}

static void indent(FILE *out, int depth)
{
	for (int i = 0; i < depth; i++)
		fputs("  ", out);
}

// The map entry message a field refers to, or NULL when it is not a map.
static const Pdc__Descset__DescriptorProto *map_entry(const pdc_rtdesc *r, const fdp *f)
{
	if (!f->has_label ||
	    f->label != PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED ||
	    f->type_name == NULL)
		return NULL;
	const Pdc__Descset__DescriptorProto *e = pdc_rtdesc_message_def(r, f->type_name, NULL);
	if (e == NULL || e->options == NULL || !e->options->has_map_entry ||
	    !e->options->map_entry || e->n_field != 2)
		return NULL;
	return e;
}

static void print_field(FILE *out, const pdc_rtdesc *r, const fdp *f, int proto3, int depth)
{
	indent(out, depth);
	const Pdc__Descset__DescriptorProto *e = map_entry(r, f);
	if (e != NULL) {
		fprintf(out, "map<%s, %s> %s = %d;\n", type_of(e->field[0]), type_of(e->field[1]),
		        f->name, f->number);
		return;
	}
	const char *label = "";
	if (f->has_label && f->label == PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED)
		label = "repeated ";
	else if (f->has_label &&
	         f->label == PDC__DESCSET__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED)
		label = "required ";
	else if ((f->has_proto3_optional && f->proto3_optional) || (!proto3 && !f->has_oneof_index))
		label = "optional ";
	fprintf(out, "%s%s %s = %d", label, type_of(f), f->name, f->number);
	if (f->default_value != NULL)
		fprintf(out, " [default = %s]", f->default_value);
	fputs(";\n", out);
}

static void print_enum(FILE *out, const Pdc__Descset__EnumDescriptorProto *e, int depth)
{
	indent(out, depth);
	fprintf(out, "enum %s {\n", e->name);
	for (size_t i = 0; i < e->n_value; i++) {
		indent(out, depth + 1);
		fprintf(out, "%s = %d;\n", e->value[i]->name, e->value[i]->number);
	}
	indent(out, depth);
	fputs("}\n", out);
}

static void print_message(FILE *out, const pdc_rtdesc *r, const Pdc__Descset__DescriptorProto *m,
                          int proto3, int depth)
{
	indent(out, depth);
	fprintf(out, "message %s {\n", m->name);
	for (size_t i = 0; i < m->n_field; i++) {
		const fdp *f = m->field[i];
		int real_oneof =
		    f->has_oneof_index && !(f->has_proto3_optional && f->proto3_optional);
		if (!real_oneof) {
			print_field(out, r, f, proto3, depth + 1);
			continue;
		}
		// A oneof is written where its first field appears.
		int first = 1;
		for (size_t k = 0; k < i; k++)
			if (m->field[k]->has_oneof_index &&
			    m->field[k]->oneof_index == f->oneof_index)
				first = 0;
		if (!first)
			continue;
		indent(out, depth + 1);
		fprintf(out, "oneof %s {\n",
		        (size_t)f->oneof_index < m->n_oneof_decl
		            ? m->oneof_decl[f->oneof_index]->name
		            : "?");
		for (size_t k = i; k < m->n_field; k++)
			if (m->field[k]->has_oneof_index &&
			    m->field[k]->oneof_index == f->oneof_index)
				print_field(out, r, m->field[k], 1, depth + 2);
		indent(out, depth + 1);
		fputs("}\n", out);
	}
	for (size_t i = 0; i < m->n_nested_type; i++) {
		const Pdc__Descset__DescriptorProto *n = m->nested_type[i];
		if (n->options != NULL && n->options->has_map_entry && n->options->map_entry)
			continue; // shown as map<K, V>
		print_message(out, r, n, proto3, depth + 1);
	}
	for (size_t i = 0; i < m->n_enum_type; i++)
		print_enum(out, m->enum_type[i], depth + 1);
	indent(out, depth);
	fputs("}\n", out);
}

static void print_method(FILE *out, const Pdc__Descset__MethodDescriptorProto *m, int depth)
{
	indent(out, depth);
	fprintf(out, "rpc %s ( %s%s ) returns ( %s%s );\n", m->name,
	        m->has_client_streaming && m->client_streaming ? "stream " : "", m->input_type,
	        m->has_server_streaming && m->server_streaming ? "stream " : "", m->output_type);
}

static void print_service(FILE *out, const Pdc__Descset__ServiceDescriptorProto *s)
{
	fprintf(out, "service %s {\n", s->name);
	for (size_t i = 0; i < s->n_method; i++)
		print_method(out, s->method[i], 1);
	fputs("}\n", out);
}

int pdc_describe(FILE *out, const pdc_rtdesc *r, const char *symbol)
{
	if (symbol[0] == '.')
		symbol++;
	const ProtobufCServiceDescriptor *sd = pdc_reflect_find_service(r, symbol);
	if (sd != NULL) {
		fprintf(out, "%s is a service:\n", sd->name);
		print_service(out, pdc_rtdesc_service_def(r, sd->name));
		return 0;
	}
	int proto3 = 1;
	const Pdc__Descset__DescriptorProto *m = pdc_rtdesc_message_def(r, symbol, &proto3);
	if (m != NULL) {
		fprintf(out, "%s is a message:\n", symbol);
		print_message(out, r, m, proto3, 0);
		return 0;
	}
	const Pdc__Descset__EnumDescriptorProto *e = pdc_rtdesc_enum_def(r, symbol);
	if (e != NULL) {
		fprintf(out, "%s is an enum:\n", symbol);
		print_enum(out, e, 0);
		return 0;
	}
	// "pkg.Service.Method" (or "pkg.Service/Method"): only a full service name.
	const char *sep = strrchr(symbol, '/');
	if (sep == NULL)
		sep = strrchr(symbol, '.');
	if (sep == NULL)
		return -1;
	char svc[256];
	size_t n = (size_t)(sep - symbol);
	if (n >= sizeof svc)
		return -1;
	memcpy(svc, symbol, n);
	svc[n] = '\0';
	const Pdc__Descset__ServiceDescriptorProto *sp = pdc_rtdesc_service_def(r, svc);
	for (size_t i = 0; sp != NULL && i < sp->n_method; i++) {
		if (strcmp(sp->method[i]->name, sep + 1) == 0) {
			fprintf(out, "%s.%s is a method:\n", svc, sep + 1);
			print_method(out, sp->method[i], 0);
			return 0;
		}
	}
	return -1;
}
