/*
 * json_strict.c - see json_strict.h.
 */
#include "json_strict.h"

#include <stdio.h>
#include <string.h>

static const char *type_name(enum atr_field_type t)
{
	switch (t) {
	case ATR_F_STRING:
		return "a string";
	case ATR_F_INT:
		return "an integer";
	case ATR_F_BOOL:
		return "true or false";
	case ATR_F_NUMBER:
		return "a number";
	case ATR_F_OBJECT:
		return "an object";
	case ATR_F_ARRAY:
		return "an array";
	case ATR_F_ANY:
		return "a value";
	}
	return "a value";
}

static int type_ok(enum atr_field_type t, json_t *v)
{
	switch (t) {
	case ATR_F_STRING:
		return json_is_string(v);
	case ATR_F_INT:
		return json_is_integer(v);
	case ATR_F_BOOL:
		return json_is_boolean(v);
	case ATR_F_NUMBER:
		return json_is_number(v);
	case ATR_F_OBJECT:
		return json_is_object(v);
	case ATR_F_ARRAY:
		return json_is_array(v);
	case ATR_F_ANY:
		return 1;
	}
	return 0;
}

/* jansson names the repeated key as near '"key"': copy it to field when it
 * is a plain one (no escapes), else leave field empty. */
static void duplicate_key(const json_error_t *jerr, char *field,
			  size_t fieldlen)
{
	const char *p = strstr(jerr->text, "near '\""), *end;
	if (!p)
		return;
	p += 7;
	end = strstr(p, "\"'");
	if (!end || memchr(p, '\\', (size_t)(end - p)) ||
	    (size_t)(end - p) >= fieldlen)
		return;
	memcpy(field, p, (size_t)(end - p));
	field[end - p] = '\0';
}

json_t *json_strict_parse(const char *buf, size_t len,
			  const struct atr_field *fields, char *msg,
			  size_t msglen, char *field, size_t fieldlen)
{
	json_error_t jerr;
	json_t *root;
	const char *key;
	json_t *v;

	field[0] = '\0';
	if (len == 0) {
		snprintf(msg, msglen, "request body must be a JSON object");
		return NULL;
	}
	if (memchr(buf, '\0', len)) {
		snprintf(msg, msglen, "request body contains a NUL byte");
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			  &jerr);
	if (!root) {
		switch (json_error_code(&jerr)) {
		case json_error_duplicate_key:
			duplicate_key(&jerr, field, fieldlen);
			if (field[0])
				snprintf(msg, msglen, "duplicate key '%s'",
					 field);
			else
				snprintf(msg, msglen,
					 "duplicate key in JSON object");
			break;
		case json_error_invalid_utf8:
			snprintf(msg, msglen, "request body is not valid UTF-8");
			break;
		case json_error_null_character:
			snprintf(msg, msglen,
				 "request body contains a NUL byte");
			break;
		default:
			snprintf(msg, msglen,
				 "request body is not valid JSON (line %d, "
				 "column %d)",
				 jerr.line, jerr.column);
		}
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(msg, msglen, "request body must be a JSON object");
		goto fail;
	}
	if (!fields)
		return root;
	json_object_foreach(root, key, v)
	{
		const struct atr_field *f;
		for (f = fields; f->name; f++)
			if (!strcmp(f->name, key))
				break;
		snprintf(field, fieldlen, "%s", key);
		if (!f->name) {
			snprintf(msg, msglen, "unknown field '%.64s'", key);
			goto fail;
		}
		if (json_is_null(v) && !f->required)
			continue;
		if (!type_ok(f->type, v)) {
			snprintf(msg, msglen, "field '%s' must be %s", f->name,
				 type_name(f->type));
			goto fail;
		}
		if (f->type == ATR_F_STRING) {
			size_t max = f->max_len ? f->max_len : 4096;
			if (json_string_length(v) > max) {
				snprintf(msg, msglen,
					 "field '%s' is longer than %zu bytes",
					 f->name, max);
				goto fail;
			}
		}
	}
	for (const struct atr_field *f = fields; f->name; f++) {
		v = json_object_get(root, f->name);
		if (f->required && (!v || json_is_null(v))) {
			snprintf(field, fieldlen, "%s", f->name);
			snprintf(msg, msglen, "field '%s' is required",
				 f->name);
			goto fail;
		}
	}
	field[0] = '\0';
	return root;
fail:
	json_decref(root);
	return NULL;
}
