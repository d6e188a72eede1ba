/*
 * myplugin.c - what this plugin is, and what it is not.
 *
 * Copy sdk/template/ to a folder of your own, rename "myplugin" everywhere
 * (file names, PLUGIN in the Makefile, .name below, table prefixes), then
 * `make && make install` and switch it on under [plugins] in atrium.ini.
 */
#include <atrium/plugin.h>

static const struct atr_api *api;

static const struct atr_config_key myplugin_config[] = {
    {"message", ATR_CFG_STRING, "hello from myplugin", 0, "what GET / says"},
    {NULL, 0, NULL, 0, NULL},
};

static const struct atr_migration myplugin_migrations[] = {
    {1, "CREATE TABLE myplugin_items ("
	" id INTEGER PRIMARY KEY,"
	" owner_id INTEGER NOT NULL,"
	" title TEXT NOT NULL);"},
    {0, NULL},
};

/* GET /api/myplugin/ */
static int myplugin_hello(struct atr_ctx *ctx)
{
	return api->respond_json(
	    ctx, 200,
	    json_pack("{s:s}", "message", api->config_str(ctx, "message")));
}

static const struct atr_route myplugin_routes[] = {
    {"GET", "/", myplugin_hello, ATR_ROLES_ANY_USER, 0, "say hello", NULL,
     NULL},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};

static int myplugin_init(struct atr_ctx *ctx, const struct atr_api *host,
			 char **errmsg)
{
	json_t *pages;
	int rc;
	(void)errmsg;
	api = host;
	pages = json_pack("[{s:s,s:s,s:s,s:[s]}]", "id", "main", "title",
			  "My plugin", "module", "main.js", "roles", "patient");
	rc = api->register_ui(ctx, "myplugin/ui", pages);
	json_decref(pages);
	return rc;
}

ATR_PLUGIN_EXPORT(myplugin_plugin) = {
    ATR_PLUGIN_HEADER,
    .name = "myplugin",
    .version = "0.1.0",
    .description = "one line saying what it does",
    .config = myplugin_config,
    .migrations = myplugin_migrations,
    .routes = myplugin_routes,
    .init = myplugin_init,
};
