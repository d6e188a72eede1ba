/*
 * ping.c - a benchmark-only plugin: GET /api/benchping does what the core's
 * /healthz does (one "SELECT 1", then a fixed JSON text), public, through
 * the plugin host API (ABI 1.1: sql_each_cols, respond_text). bench/run.sh
 * measures it next to /healthz in the same daemon, so the difference is
 * the cost of plugin dispatch. Built by bench/run.sh like any plugin
 * (-z defs, jansson only); never installed.
 */
#include <string.h>

#include <atrium/plugin.h>

static const struct atr_api *api;

static int one_row(void *arg, const struct atr_cols *row)
{
	*(int *)arg = api->col_int(row, 0) == 1;
	return 1;
}

static int ping(struct atr_ctx *ctx)
{
	static const char ok[] =
	    "{\"status\":\"ok\",\"version\":\"0.1.0\",\"database\":\"ok\"}";
	static const char degraded[] =
	    "{\"status\":\"degraded\",\"version\":\"0.1.0\","
	    "\"database\":\"unavailable\"}";
	int up = 0;
	if (api->sql_each_cols(ctx, "SELECT 1", NULL, one_row, &up) != ATR_OK)
		up = 0;
	return up ? api->respond_text(ctx, 200, "application/json", ok,
				      sizeof(ok) - 1)
		  : api->respond_text(ctx, 503, "application/json", degraded,
				      sizeof(degraded) - 1);
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
	api = host;
	if (!ATR_API_HAS(host, sql_each_cols) ||
	    !ATR_API_HAS(host, respond_text)) {
		*errmsg = strdup("needs plugin abi 1.1");
		return ATR_ERR;
	}
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
