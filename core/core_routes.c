/*
 * core_routes.c - see core_routes.h.
 */
#include "core_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "events.h"
#include "identity.h"
#include "notify.h"
#include "plugins.h"
#include "request.h"
#include "http.h"
#include "workflow.h"

int core_routes_add(struct router *r, const struct core_route *tab,
		    char *err, size_t errlen)
{
	for (; tab->method; tab++) {
		struct route rt = {
		    .method = tab->method,
		    .pattern = (char *)(uintptr_t)tab->pattern,
		    .handler = tab->handler,
		    .roles = tab->roles,
		    .flags = tab->flags,
		    .summary = tab->summary,
		};
		if (router_add(r, &rt, err, errlen))
			return -1;
	}
	return 0;
}

static int healthz(struct atr_ctx *ctx)
{
	static const char ok[] = "{\"status\":\"ok\",\"version\":\"" ATRIUM_VERSION
				 "\",\"database\":\"ok\"}";
	static const char degraded[] =
	    "{\"status\":\"degraded\",\"version\":\"" ATRIUM_VERSION
	    "\",\"database\":\"unavailable\"}";
	struct db *db = ctx_db(ctx);
	int up = 0;
	if (db) {
		sqlite3_stmt *st = db_prepare(db, "SELECT 1");
		up = st && sqlite3_step(st) == SQLITE_ROW;
		if (st)
			sqlite3_reset(st);
	}
	/* Fixed texts: a liveness probe is polled often. */
	return up ? respond_static(ctx->req, 200, "application/json", ok,
				   sizeof(ok) - 1)
		  : respond_static(ctx->req, 503, "application/json",
				   degraded, sizeof(degraded) - 1);
}

static int ui_manifest(struct atr_ctx *ctx)
{
	json_t *user = json_null(), *pages;
	if (ctx->user_id) {
		user = identity_user_json(ctx, ctx->user_id);
		if (!user)
			user = json_null();
	}
	pages = ctx->user_id && !auth_must_enroll(ctx)
		    ? plugins_ui_pages(ctx->role)
		    : json_array();
	return respond_json(
	    ctx->req, 200,
	    json_pack("{s:{s:s,s:s,s:s,s:b},s:o,s:o,s:i}", "practice", "name",
		      g_cfg->practice_name, "theme", g_cfg->theme, "timezone",
		      g_cfg->timezone, "self_registration",
		      g_cfg->self_registration, "user", user,
		      "pages", pages, "idle_timeout_seconds",
		      ctx->user_id ? session_idle_timeout(ctx->role)
				   : g_cfg->idle_timeout_patient));
}

static int list_plugins(struct atr_ctx *ctx)
{
	return respond_json(ctx->req, 200,
			    json_pack("{s:o}", "plugins", plugins_json()));
}

/* ---- OpenAPI 3.1 ---- */

static json_t *schema_or(const char *text, json_t *fallback)
{
	json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (j) {
		json_decref(fallback);
		return j;
	}
	return fallback;
}

static json_t *openapi_path(const char *pattern, json_t *params)
{
	/* "/a/:id" -> "/a/{id}" and a parameter object per segment */
	char out[512];
	size_t n = 0;
	for (const char *p = pattern; *p && n + 3 < sizeof(out);) {
		if (*p == ':' && p > pattern && p[-1] == '/') {
			size_t len = strcspn(p + 1, "/");
			json_array_append_new(
			    params,
			    json_pack("{s:s%,s:s,s:b,s:{s:s}}", "name", p + 1,
				      len, "in", "path", "required", 1,
				      "schema", "type", "string"));
			n += (size_t)snprintf(out + n, sizeof(out) - n,
					      "{%.*s}", (int)len, p + 1);
			p += len + 1;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return json_string(out);
}

static int openapi(struct atr_ctx *ctx)
{
	json_t *paths = json_object();
	json_t *doc;
	for (const struct route *rt = router_first(g_router); rt;
	     rt = rt->next_all) {
		json_t *params, *path, *item, *op, *responses, *roles;
		char method[8];
		size_t i;
		if (rt->plugin && !plugin_enabled(rt->plugin))
			continue;
		params = json_array();
		path = openapi_path(rt->pattern, params);
		item = json_object_get(paths, json_string_value(path));
		if (!item) {
			item = json_object();
			json_object_set_new(paths, json_string_value(path),
					    item);
		}
		for (i = 0; rt->method[i] && i < sizeof(method) - 1; i++)
			method[i] = (char)(rt->method[i] | 0x20);
		method[i] = '\0';
		roles = json_array();
		for (unsigned b = 1; b <= ATR_ROLE_ADMIN; b <<= 1)
			if (rt->roles & b && !(rt->flags & ATR_ROUTE_PUBLIC))
				json_array_append_new(roles,
						      json_string(role_name(b)));
		responses = json_pack(
		    "{s:{s:s,s:{s:{s:o}}},s:{s:s,s:{s:{s:{s:s}}}}}", "200",
		    "description", "success", "content", "application/json",
		    "schema",
		    schema_or(rt->response_schema, json_pack("{s:s}", "type",
							      "object")),
		    "default", "description", "error", "content",
		    "application/json", "schema", "$ref",
		    "#/components/schemas/Error");
		op = json_pack("{s:s,s:s,s:[s],s:o,s:o,s:o,s:b}", "summary",
			       rt->summary ? rt->summary : rt->pattern,
			       "operationId",
			       arena_sprintf(ctx->arena, "%s %s", rt->method,
					     rt->pattern),
			       "tags", rt->plugin ? plugin_name(rt->plugin) : "core",
			       "parameters", params, "responses", responses,
			       "x-atrium-roles", roles, "x-atrium-phi",
			       (rt->flags & ATR_ROUTE_PHI) != 0);
		if (!(rt->flags & ATR_ROUTE_PUBLIC))
			json_object_set_new(op, "security",
					    json_pack("[{s:[]}]", "session"));
		else
			json_object_set_new(op, "security", json_array());
		if (strcmp(rt->method, "GET") && strcmp(rt->method, "DELETE"))
			json_object_set_new(
			    op, "requestBody",
			    json_pack("{s:b,s:{s:{s:o}}}", "required", 0,
				      "content", "application/json", "schema",
				      schema_or(rt->request_schema,
						json_pack("{s:s}", "type",
							  "object"))));
		json_object_set_new(item, method, op);
		json_decref(path);
	}
	doc = json_pack(
	    "{s:s,s:{s:s,s:s,s:s},s:o,s:{s:{s:{s:s,s:s,s:s}},s:{s:{s:s,s:[s],"
	    "s:{s:{s:s,s:[s,s],s:{s:{s:s},s:{s:s}}}}}}}}",
	    "openapi", "3.1.0", "info", "title", "Atrium API", "version",
	    ATRIUM_VERSION, "description",
	    "Patient portal API: the core routes and the enabled plugins'.",
	    "paths", paths, "components", "securitySchemes", "session", "type",
	    "apiKey", "in", "cookie", "name", "atrium_session", "schemas",
	    "Error", "type", "object", "required", "error", "properties",
	    "error", "type", "object", "required", "code", "message",
	    "properties", "code", "type", "string", "message", "type",
	    "string");
	return respond_json(ctx->req, 200, doc);
}

/* ---- workflows ---- */

static int workflows_status(struct atr_ctx *ctx)
{
	return respond_json(ctx->req, 200, wf_status());
}

static int workflows_reload(struct atr_ctx *ctx)
{
	char err[2048];
	if (events_reload(err, sizeof(err)))
		return respond_error(ctx->req, 422, "workflow_error", "%s",
				     err);
	audit_ctx(ctx, "workflows.reload", 0, NULL, NULL, "ok");
	return respond_json(ctx->req, 200, json_pack("{s:b}", "ok", 1));
}

static int events_list(struct atr_ctx *ctx)
{
	return respond_json(ctx->req, 200,
			    json_pack("{s:o}", "events", events_catalog()));
}

/* ---- audit search ---- */

static int parse_id(const char *s, long long *out)
{
	char *end;
	long long v;
	if (!s || !*s) {
		*out = 0;
		return 0;
	}
	v = strtoll(s, &end, 10);
	if (*end || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int audit_search(struct atr_ctx *ctx)
{
	struct request *req = ctx->req;
	long long patient, user, limit;
	const char *from = request_query(req, "from");
	const char *to = request_query(req, "to");
	time_t t;
	json_t *rows;

	if (parse_id(request_query(req, "patient_id"), &patient) ||
	    parse_id(request_query(req, "user_id"), &user) ||
	    parse_id(request_query(req, "limit"), &limit))
		return respond_error(req, 400, "bad_request",
				     "patient_id, user_id and limit must be "
				     "whole numbers");
	if ((from && *from && time_parse_rfc3339(from, &t)) ||
	    (to && *to && time_parse_rfc3339(to, &t)))
		return respond_error(req, 400, "bad_request",
				     "from and to must be RFC 3339 times");
	if (limit <= 0 || limit > 1000)
		limit = 200;
	rows = audit_query(ctx_db(ctx), patient, user,
			   from && *from ? from : NULL, to && *to ? to : NULL,
			   (int)limit);
	if (!rows)
		return respond_error(req, 500, "internal_error",
				     "the audit log cannot be read");
	audit_ctx(ctx, "audit.search", patient, "audit_log", NULL, "ok");
	return respond_json(req, 200, json_pack("{s:o}", "entries", rows));
}

static const struct core_route routes[] = {
    {"GET", "/healthz", healthz, 0, ATR_ROUTE_PUBLIC, "liveness and database"},
    {"GET", "/api/ui/manifest", ui_manifest, 0, ATR_ROUTE_PUBLIC,
     "practice, signed-in user and the pages they may open"},
    {"GET", "/api/openapi.json", openapi, 0, ATR_ROUTE_PUBLIC,
     "this document"},
    {"GET", "/api/plugins", list_plugins, ATR_ROLE_ADMIN, 0,
     "loaded plugins"},
    {"GET", "/api/admin/workflows", workflows_status, ATR_ROLE_ADMIN, 0,
     "workflow scripts, jobs and recent errors"},
    {"POST", "/api/admin/workflows/reload", workflows_reload,
     ATR_ROLE_ADMIN, 0, "reload workflow scripts"},
    {"GET", "/api/admin/events", events_list, ATR_ROLE_ADMIN, 0,
     "events workflow scripts can handle"},
    {"GET", "/api/admin/audit", audit_search, ATR_ROLE_ADMIN, 0,
     "search the audit log"},
    {NULL, NULL, NULL, 0, 0, NULL},
};

int core_routes_register(struct router *r, char *err, size_t errlen)
{
	if (core_routes_add(r, routes, err, errlen))
		return -1;
	if (identity_routes_register(r, err, errlen))
		return -1;
	return notify_routes_register(r, err, errlen);
}
