/*
 * core_routes.h - the routes the core itself serves: health, the UI
 * manifest, the plugin list, the OpenAPI document, workflow administration
 * and the audit search. Account routes are registered by identity.c.
 */
#ifndef ATRIUM_CORE_ROUTES_H
#define ATRIUM_CORE_ROUTES_H

#include <stddef.h>

#include "router.h"

/* A table of core routes, {NULL}-terminated. */
struct core_route {
	const char *method, *pattern;
	atr_handler_fn handler;
	unsigned roles, flags;
	const char *summary;
};

int core_routes_add(struct router *r, const struct core_route *tab,
		    char *err, size_t errlen);
int core_routes_register(struct router *r, char *err, size_t errlen);

#endif
