/*
 * ping.c - a benchmark-only plugin: GET /api/benchping answers what the
 * core's /healthz answers (one "SELECT 1" and a small JSON object), public,
 * through the plugin host API. bench/run.sh measures it next to /healthz in
 * the same daemon, so the difference is the cost of plugin dispatch and of
 * the SDK's JSON row. Built by bench/run.sh like any plugin (-z defs,
 * jansson only); never installed.
 */
#include <atrium/plugin.h>

static const struct atr_api *api;

static int ping(struct atr_ctx *ctx)
{
	int status = ATR_ERR;
	json_t *row = api->sql_one(ctx, "SELECT 1 AS one", NULL, &status);
	int ok = row && status == ATR_OK;
	json_decref(row);
	return api->respond_json(ctx, ok ? 200 : 503,
				 json_pack("{s:s,s:s,s:s}", "status",
					   ok ? "ok" : "degraded", "version",
					   "0.1.0", "database",
					   ok ? "ok" : "unavailable"));
}

static const struct atr_route routes[] = {
    {"GET", "/", ping, 0, ATR_ROUTE_PUBLIC, "benchmark ping", NULL, NULL},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};

static const struct atr_migration migrations[] = {{0, NULL}};

static int init(struct atr_ctx *ctx, const struct atr_api *host,
		char **errmsg)
{
	(void)ctx;
	(void)errmsg;
	api = host;
	return ATR_OK;
}

ATR_PLUGIN_EXPORT(benchping_plugin) = {
    ATR_PLUGIN_HEADER,
    .name = "benchping",
    .version = "1.0.0",
    .description = "benchmark ping route (bench/ only)",
    .requires = NULL,
    .config = NULL,
    .migrations = migrations,
    .routes = routes,
    .events = NULL,
    .init = init,
    .fini = NULL,
};
