/*
 * json_out.c - see json_out.h. One pass into one growing buffer: no
 * callback per fragment and no printf for integers, which is where
 * json_dumps spent its time on the small objects most responses are.
 */
#include "json_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct out {
	char *p;
	size_t len, cap;
	int failed;
};

static int reserve(struct out *o, size_t n)
{
	size_t cap;
	char *p;
	if (o->failed)
		return -1;
	if (o->len + n < o->cap)
		return 0;
	cap = o->cap ? o->cap : 256;
	while (cap <= o->len + n) {
		if (cap > (size_t)-1 / 2) {
			o->failed = 1;
			return -1;
		}
		cap *= 2;
	}
	p = realloc(o->p, cap);
	if (!p) {
		o->failed = 1;
		return -1;
	}
	o->p = p;
	o->cap = cap;
	return 0;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (reserve(o, n))
		return;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void putc_(struct out *o, char c)
{
	if (reserve(o, 1))
		return;
	o->p[o->len++] = c;
}

static void put_int(struct out *o, json_int_t v)
{
	char buf[24], *e = buf + sizeof(buf), *s = e;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v
				     : (unsigned long long)v;
	do {
		*--s = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--s = '-';
	put(o, s, (size_t)(e - s));
}

/* As jansson prints reals: 17 significant digits, always with a '.' or an
 * exponent, the exponent without '+' or leading zeros. */
static void put_real(struct out *o, double d)
{
	char buf[64], *e;
	int n = snprintf(buf, sizeof(buf), "%.17g", d);
	if (n <= 0 || n >= (int)sizeof(buf) - 3) {
		o->failed = 1;
		return;
	}
	for (char *c = buf; *c; c++)
		if (*c == ',')
			*c = '.'; /* a locale's decimal comma */
	if (!strpbrk(buf, ".eE")) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	if ((e = strchr(buf, 'e'))) {
		char *r = e + 1, *w = e + 1;
		if (*r == '+')
			r++;
		else if (*r == '-')
			*w++ = *r++;
		while (*r == '0' && r[1])
			r++;
		memmove(w, r, strlen(r) + 1);
		n = (int)strlen(buf);
	}
	put(o, buf, (size_t)n);
}

static void put_string(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *run = s, *end = s + n;
	putc_(o, '"');
	for (; s < end; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6];
		size_t en = 2;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(o, run, (size_t)(s - run));
		run = s + 1;
		esc[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			en = 6;
		}
		put(o, esc, en);
	}
	put(o, run, (size_t)(end - run));
	putc_(o, '"');
}

static void put_value(struct out *o, json_t *v, int depth)
{
	if (depth > MAX_DEPTH) {
		o->failed = 1;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		int first = 1;
		putc_(o, '{');
		for (void *it = json_object_iter(v); it;
		     it = json_object_iter_next(v, it)) {
			if (!first)
				putc_(o, ',');
			first = 0;
			put_string(o, json_object_iter_key(it),
				   json_object_iter_key_len(it));
			putc_(o, ':');
			put_value(o, json_object_iter_value(it), depth + 1);
		}
		putc_(o, '}');
		break;
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(v);
		putc_(o, '[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				putc_(o, ',');
			put_value(o, json_array_get(v, i), depth + 1);
		}
		putc_(o, ']');
		break;
	}
	case JSON_STRING:
		put_string(o, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		put_int(o, json_integer_value(v));
		break;
	case JSON_REAL:
		put_real(o, json_real_value(v));
		break;
	case JSON_TRUE:
		put(o, "true", 4);
		break;
	case JSON_FALSE:
		put(o, "false", 5);
		break;
	default:
		put(o, "null", 4);
		break;
	}
}

char *json_out(json_t *v, size_t *len)
{
	struct out o = {NULL, 0, 0, 0};
	if (!v)
		return NULL;
	put_value(&o, v, 0);
	if (o.failed || reserve(&o, 1)) {
		free(o.p);
		return NULL;
	}
	o.p[o.len] = '\0';
	if (len)
		*len = o.len;
	return o.p;
}
