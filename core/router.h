/*
 * router.h - maps (method, path) to a route: a tree of path segments where
 * each node has literal children and at most one ":param" child; a literal
 * match wins over a parameter at the same depth. Routes are added at start
 * (single-threaded) and only read afterwards, so matching takes no lock.
 * A route may be switched off (its plugin disabled): it then matches as if
 * absent. Not an HTTP layer: it knows nothing of requests or responses.
 */
#ifndef ATRIUM_ROUTER_H
#define ATRIUM_ROUTER_H

#include <stddef.h>

#include <atrium/plugin.h>

#define ROUTER_MAX_PARAMS 8

struct plugin;

struct route {
	const char *method;
	char *pattern; /* full path, owned */
	atr_handler_fn handler;
	unsigned roles; /* enum atr_role bits */
	unsigned flags; /* enum atr_route_flag */
	const char *summary;
	const char *request_schema, *response_schema;
	struct plugin *plugin; /* NULL = core */
	struct route *next_all; /* every route, in registration order */
};

struct route_match {
	const struct route *route;
	int nparams;
	const char *names[ROUTER_MAX_PARAMS];
	char *values[ROUTER_MAX_PARAMS]; /* point into `buf` */
	char buf[1024];
	char allow[64]; /* "GET, POST" for a 405 */
};

enum router_result { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_BAD_METHOD };

struct router;

struct router *router_new(void);
void router_free(struct router *r);
/* Adds a copy of *rt. Fails (-1, reason in err) on a bad pattern, an unknown
 * method, too many params or a route that conflicts with one already added
 * (same method, same shape). */
int router_add(struct router *r, const struct route *rt, char *err,
	       size_t errlen);
enum router_result router_match(const struct router *r, const char *method,
				const char *path, struct route_match *m);
/* First route in registration order (iterate with ->next_all). */
const struct route *router_first(const struct router *r);
/* Is a path parameter of this name a secret (a single-use token)? Its
 * value is then kept out of logs and audit records. */
int router_param_secret(const char *name);
/* The matched path with secret parameters replaced by "[redacted]", in
 * buf; the path itself when nothing needs hiding. */
const char *router_redacted_path(const struct route_match *m,
				 const char *path, char *buf, size_t len);
/* Ask whether a plugin's routes are live; set by the loader. */
void router_set_enabled_fn(struct router *r,
			   int (*enabled)(const struct plugin *p));

#endif
