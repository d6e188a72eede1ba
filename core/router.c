/*
 * router.c - see router.h.
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH",
				      "DELETE", "HEAD"};
#define NMETHODS 6

struct node {
	char *seg;
	struct node **kids;
	size_t nkids;
	struct node *param;
	char *param_name;
	struct route *routes[NMETHODS];
};

struct router {
	struct node root;
	struct route *all, **tail;
	int (*enabled)(const struct plugin *p);
};

struct router *router_new(void)
{
	struct router *r = calloc(1, sizeof(*r));
	if (r)
		r->tail = &r->all;
	return r;
}

static void node_release(struct node *n)
{
	for (size_t i = 0; i < n->nkids; i++) {
		node_release(n->kids[i]);
		free(n->kids[i]);
	}
	free(n->kids);
	if (n->param) {
		node_release(n->param);
		free(n->param);
	}
	free(n->seg);
	free(n->param_name);
}

void router_free(struct router *r)
{
	struct route *rt, *next;
	if (!r)
		return;
	node_release(&r->root);
	for (rt = r->all; rt; rt = next) {
		next = rt->next_all;
		free(rt->pattern);
		free(rt);
	}
	free(r);
}

void router_set_enabled_fn(struct router *r,
			   int (*enabled)(const struct plugin *p))
{
	r->enabled = enabled;
}

const struct route *router_first(const struct router *r)
{
	return r->all;
}

int router_param_secret(const char *name)
{
	return strstr(name, "token") != NULL;
}

/* Appends n bytes of s to buf (capacity len, one byte kept for the NUL). */
static size_t put(char *buf, size_t at, size_t len, const char *s, size_t n)
{
	if (at + 1 >= len)
		return at;
	if (n > len - 1 - at)
		n = len - 1 - at;
	memcpy(buf + at, s, n);
	return at + n;
}

/* The values of a match point into m->buf, a copy of the matched path, so
 * each one's offset is also its place in `path`. That holds for a 405 too,
 * where the parameters are known but no route was chosen. */
const char *router_redacted_path(const struct route_match *m,
				 const char *path, char *buf, size_t len)
{
	size_t n = 0, at = 0, plen = strlen(path);
	int secret = 0;

	for (int k = 0; k < m->nparams; k++)
		secret |= router_param_secret(m->names[k]);
	if (!secret || !len)
		return path;
	for (int k = 0; k < m->nparams; k++) {
		size_t off, vlen;
		if (!router_param_secret(m->names[k]))
			continue;
		off = (size_t)(m->values[k] - m->buf);
		vlen = strlen(m->values[k]);
		if (off < at || off + vlen > plen)
			continue;
		n = put(buf, n, len, path + at, off - at);
		n = put(buf, n, len, "[redacted]", 10);
		at = off + vlen;
	}
	n = put(buf, n, len, path + at, plen - at);
	buf[n] = '\0';
	return buf;
}

static int method_index(const char *m)
{
	for (int i = 0; i < NMETHODS; i++)
		if (!strcmp(methods[i], m))
			return i;
	return -1;
}

static struct node *child(struct node *n, const char *seg, size_t len,
			  int create)
{
	struct node **kids, *k;
	for (size_t i = 0; i < n->nkids; i++)
		if (strlen(n->kids[i]->seg) == len &&
		    !memcmp(n->kids[i]->seg, seg, len))
			return n->kids[i];
	if (!create)
		return NULL;
	kids = realloc(n->kids, (n->nkids + 1) * sizeof(*kids));
	if (!kids)
		return NULL;
	n->kids = kids;
	k = calloc(1, sizeof(*k));
	if (!k || !(k->seg = strndup(seg, len))) {
		free(k);
		return NULL;
	}
	kids[n->nkids++] = k;
	return k;
}

int router_add(struct router *r, const struct route *rt, char *err,
	       size_t errlen)
{
	struct node *n = &r->root;
	const char *p = rt->pattern, *seg;
	int mi = method_index(rt->method), nparams = 0;
	struct route *copy;

	if (mi < 0) {
		snprintf(err, errlen, "route %s %s: unknown method", rt->method,
			 rt->pattern);
		return -1;
	}
	/* A trailing slash would be dropped here but not when matching, so
	 * such a route could never be reached: refuse it. */
	if (!p || p[0] != '/' || strstr(p, "//") ||
	    (p[1] && p[strlen(p) - 1] == '/')) {
		snprintf(err, errlen, "route %s %s: bad pattern", rt->method,
			 p ? p : "(null)");
		return -1;
	}
	while (*p == '/' && p[1]) {
		size_t len;
		seg = p + 1;
		len = strcspn(seg, "/");
		if (*seg == ':') {
			if (len < 2 || ++nparams > ROUTER_MAX_PARAMS) {
				snprintf(err, errlen,
					 "route %s %s: bad parameter",
					 rt->method, rt->pattern);
				return -1;
			}
			if (!n->param) {
				n->param = calloc(1, sizeof(*n->param));
				if (!n->param ||
				    !(n->param->param_name =
					  strndup(seg + 1, len - 1)))
					return -1;
			} else if (strlen(n->param->param_name) != len - 1 ||
				   memcmp(n->param->param_name, seg + 1,
					  len - 1)) {
				snprintf(err, errlen,
					 "route %s %s: parameter ':%.*s' "
					 "conflicts with ':%s'",
					 rt->method, rt->pattern, (int)len - 1,
					 seg + 1, n->param->param_name);
				return -1;
			}
			n = n->param;
		} else {
			n = child(n, seg, len, 1);
			if (!n)
				return -1;
		}
		p = seg + len;
	}
	if (n->routes[mi]) {
		snprintf(err, errlen, "route %s %s conflicts with %s",
			 rt->method, rt->pattern, n->routes[mi]->pattern);
		return -1;
	}
	copy = malloc(sizeof(*copy));
	if (!copy)
		return -1;
	*copy = *rt;
	copy->method = methods[mi];
	copy->pattern = strdup(rt->pattern);
	copy->next_all = NULL;
	if (!copy->pattern) {
		free(copy);
		return -1;
	}
	n->routes[mi] = copy;
	*r->tail = copy;
	r->tail = &copy->next_all;
	return 0;
}

static int live(const struct router *r, const struct route *rt)
{
	return rt && (!rt->plugin || !r->enabled || r->enabled(rt->plugin));
}

static int node_has_live(const struct router *r, const struct node *n)
{
	for (int i = 0; i < NMETHODS; i++)
		if (live(r, n->routes[i]))
			return 1;
	return 0;
}

/* Depth-first: literal child, then the param child. `segs` is the path
 * split in place; on success the params are recorded in m. */
static const struct node *walk(const struct router *r, const struct node *n,
			       char **segs, int nsegs, struct route_match *m)
{
	const struct node *found;
	if (nsegs == 0)
		return node_has_live(r, n) ? n : NULL;
	for (size_t i = 0; i < n->nkids; i++)
		if (!strcmp(n->kids[i]->seg, segs[0])) {
			found = walk(r, n->kids[i], segs + 1, nsegs - 1, m);
			if (found)
				return found;
			break;
		}
	if (n->param && segs[0][0] && m->nparams < ROUTER_MAX_PARAMS) {
		int at = m->nparams++;
		m->names[at] = n->param->param_name;
		m->values[at] = segs[0];
		found = walk(r, n->param, segs + 1, nsegs - 1, m);
		if (found)
			return found;
		m->nparams = at;
	}
	return NULL;
}

enum router_result router_match(const struct router *r, const char *method,
				const char *path, struct route_match *m)
{
	char *segs[64];
	int nsegs = 0, mi;
	size_t len = strlen(path);
	const struct node *n;
	char *p;

	m->route = NULL;
	m->nparams = 0;
	m->allow[0] = '\0';
	if (len >= sizeof(m->buf) || path[0] != '/')
		return ROUTE_NOT_FOUND;
	memcpy(m->buf, path, len + 1);
	/* "/a/b" -> ["a","b"]; "/" -> []; a trailing slash is not stripped. */
	for (p = m->buf + 1; len > 1;) {
		if (nsegs == 64)
			return ROUTE_NOT_FOUND;
		segs[nsegs++] = p;
		p = strchr(p, '/');
		if (!p)
			break;
		*p++ = '\0';
	}
	n = walk(r, &r->root, segs, nsegs, m);
	if (!n)
		return ROUTE_NOT_FOUND;
	mi = method_index(method);
	if (mi >= 0 && live(r, n->routes[mi])) {
		m->route = n->routes[mi];
		return ROUTE_FOUND;
	}
	if (mi == 5 /* HEAD */ && live(r, n->routes[0])) {
		m->route = n->routes[0];
		return ROUTE_FOUND;
	}
	for (int i = 0; i < NMETHODS - 1; i++) {
		if (!live(r, n->routes[i]))
			continue;
		if (m->allow[0])
			strcat(m->allow, ", ");
		strcat(m->allow, methods[i]);
	}
	return ROUTE_BAD_METHOD;
}
