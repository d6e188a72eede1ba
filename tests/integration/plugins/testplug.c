/*
 * testplug.c - one plugin source compiled many ways by the loader tests:
 * each -D switch breaks the plugin in one way the loader must refuse.
 * Without switches it is a small working plugin ("note" table, routes).
 */
#include <stdio.h>
#include <string.h>

#include <atrium/plugin.h>

#ifndef NAME
#define NAME "tnote"
#endif

static const struct atr_api *api;

static const struct atr_config_key cfg[] = {
    {"label", ATR_CFG_STRING, "note", 0, "a label"},
    {"limit", ATR_CFG_INT, "5", 0, "a number"},
    {NULL, 0, NULL, 0, NULL},
};

static const struct atr_migration migs[] = {
    {1, "CREATE TABLE " NAME "_notes (id INTEGER PRIMARY KEY, text TEXT);"},
#ifdef BAD_MIGRATION
    {2, "CREATE TABLE " NAME "_more (id INTEGER PRIMARY KEY);"
	"THIS IS NOT SQL;"},
#endif
    {0, NULL},
};

static int list(struct atr_ctx *ctx)
{
	json_t *rows = api->sql_query(ctx, "SELECT id, text FROM " NAME
					   "_notes ORDER BY id",
				      NULL);
	return api->respond_json(ctx, 200,
				 json_pack("{s:s,s:o}", "label",
					   api->config_str(ctx, "label"),
					   "notes", rows ? rows : json_array()));
}

static const struct atr_field fields[] = {{"text", ATR_F_STRING, 1, 100},
					  {NULL, 0, 0, 0}};

static int add(struct atr_ctx *ctx)
{
	json_t *b = api->req_json(ctx, fields), *p;
	int rc;
	if (!b)
		return ATR_ERESPONDED;
	p = json_pack("[O]", json_object_get(b, "text"));
	rc = api->sql_exec(ctx, "INSERT INTO " NAME "_notes (text) VALUES (?)",
			   p, NULL, NULL);
	json_decref(p);
	return rc == ATR_OK ? api->respond_json(ctx, 201, json_object())
			    : api->respond_error(ctx, 500, "internal_error",
						 "cannot save");
}

/* ABI 1.1: rows read column by column, answered as text the plugin wrote. */
struct csv {
	char buf[4096];
	size_t len;
};

static int csv_row(void *arg, const struct atr_cols *row)
{
	struct csv *c = arg;
	const char *text = api->col_text(row, 1);
	int n = snprintf(c->buf + c->len, sizeof(c->buf) - c->len,
			 "%lld,%s,%d\n", api->col_int(row, 0),
			 text ? text : "", api->col_is_null(row, 1));
	if (n < 0 || (size_t)n >= sizeof(c->buf) - c->len)
		return 1;
	c->len += (size_t)n;
	return 0;
}

static int csv(struct atr_ctx *ctx)
{
	struct csv c = {"id,text,null\n", 13};
	int rc;
	if (!ATR_API_HAS(api, sql_each_cols) || !ATR_API_HAS(api, respond_text))
		return api->respond_error(ctx, 501, "unsupported", "abi 1.0");
	rc = api->sql_each_cols(ctx,
				"SELECT id, text FROM " NAME "_notes ORDER BY id",
				NULL, csv_row, &c);
	if (rc != ATR_OK)
		return api->respond_error(ctx, 500, "internal_error", "query");
	return api->respond_text(ctx, 200, "text/csv; charset=utf-8", c.buf,
				 c.len);
}

static int late_register(struct atr_ctx *ctx)
{
	/* Registration after init must be refused. */
	int rc = api->register_job(ctx, "late", 60, NULL);
	return api->respond_json(ctx, 200, json_pack("{s:i}", "rc", rc));
}

static const struct atr_route routes[] = {
    {"GET", "/notes", list, ATR_ROLES_ANY_USER, 0, "list notes", NULL, NULL},
    {"POST", "/notes", add, ATR_ROLES_ANY_USER, 0, "add a note", NULL, NULL},
    {"GET", "/notes.csv", csv, ATR_ROLES_ANY_USER, 0, "notes as CSV", NULL,
     NULL},
    {"GET", "/late", late_register, ATR_ROLES_ANY_USER, 0, "late", NULL, NULL},
#ifdef ROUTE_CONFLICT
    {"GET", "/notes", list, ATR_ROLES_ANY_USER, 0, "again", NULL, NULL},
#endif
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};

static int init(struct atr_ctx *ctx, const struct atr_api *host, char **err)
{
	json_t *pages;
	int rc;
	api = host;
#ifdef INIT_FAILS
	(void)ctx;
	*err = strdup("the test plugin refuses to start");
	return ATR_ERR;
#else
	(void)err;
	pages = json_pack("[{s:s,s:s,s:s,s:[s]}]", "id", "notes", "title",
			  "Notes", "module", "notes.js", "roles", "patient");
	rc = api->register_ui(ctx, NAME "/ui", pages);
	json_decref(pages);
	return rc;
#endif
}

#ifdef REQUIRES
static const char *const reqs[] = {REQUIRES, NULL};
#endif

ATR_PLUGIN_EXPORT(test_plugin) = {
#if defined(BAD_ABI)
    .abi_major = 2, .size = sizeof(struct atr_plugin),
    .signature = ATR_BUILD_SIGNATURE,
#elif defined(BAD_SIZE)
    .abi_major = ATR_ABI_MAJOR, .size = sizeof(struct atr_plugin) + 8,
    .signature = ATR_BUILD_SIGNATURE,
#elif defined(BAD_SIGNATURE)
    .abi_major = ATR_ABI_MAJOR, .size = sizeof(struct atr_plugin),
    .signature = "atrium-abi1-ptr4-jansson9",
#else
    ATR_PLUGIN_HEADER,
#endif
    .name = NAME,
    .version = "0.0.1",
    .description = "loader test plugin",
#ifdef REQUIRES
    .requires = reqs,
#endif
    .config = cfg,
    .migrations = migs,
    .routes = routes,
    .init = init,
};
