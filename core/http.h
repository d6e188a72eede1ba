/*
 * http.h - the libmicrohttpd server: start, graceful stop, and the request
 * path (body cap, header checks, routing, session, CSRF, role check, handler,
 * audit, response with security headers, access log). Handlers live
 * elsewhere; this file only carries requests to them.
 */
#ifndef ATRIUM_HTTP_H
#define ATRIUM_HTTP_H

#include "config.h"
#include "router.h"

extern struct router *g_router;

/* Starts listening; returns 0 or -1 (logged). Port 0 picks a free port,
 * readable afterwards with http_port(). */
int http_start(const struct config *cfg);
int http_port(void);
/* Stops accepting, waits up to grace_seconds for in-flight requests, then
 * closes every connection. */
void http_stop(int grace_seconds);

#endif
