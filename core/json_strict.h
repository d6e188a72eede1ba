/*
 * json_strict.h - the one place request bodies become JSON: a UTF-8 object,
 * no duplicate keys, no NUL bytes, and (when the caller declares fields)
 * each field of the declared type and size, required ones present and no
 * others. Errors name the offending field.
 */
#ifndef ATRIUM_JSON_STRICT_H
#define ATRIUM_JSON_STRICT_H

#include <jansson.h>
#include <stddef.h>

#include <atrium/plugin.h>

/* Returns a new object, or NULL with a lowercase message in msg (and the
 * field name, if one is to blame, in field). fields may be NULL (any keys). */
json_t *json_strict_parse(const char *buf, size_t len,
			  const struct atr_field *fields, char *msg,
			  size_t msglen, char *field, size_t fieldlen);

#endif
