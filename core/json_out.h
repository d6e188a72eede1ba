/*
 * json_out.h - compact JSON text of a jansson value, as json_dumps(v,
 * JSON_COMPACT) writes it (keys in insertion order, UTF-8 kept, control
 * characters escaped), in less time: responses go through it.
 */
#ifndef ATRIUM_JSON_OUT_H
#define ATRIUM_JSON_OUT_H

#include <stddef.h>

#include <jansson.h>

/* malloc'd NUL-terminated text and its length in *len (may be NULL); NULL
 * when out of memory or nested deeper than 64. */
char *json_out(json_t *v, size_t *len);

#endif
