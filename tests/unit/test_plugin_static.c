/*
 * test_plugin_static.c - a plugin's own source linked into a test binary
 * (ATR_STATIC_PLUGIN), loaded by the real loader against an in-memory
 * database: its migrations run, its routes land in the router, and its
 * init's registrations are visible.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "plugins.h"
#include "router.h"
#include "schema.h"

extern const struct atr_plugin faq_plugin;

static struct config cfg;

static int setup(void **state)
{
	char err[512];
	FILE *f = fopen("/tmp/atrium-static-test.ini", "w");
	(void)state;
	assert_non_null(f);
	fprintf(f, "[server]\nplugin_dir = sdk/examples\n[plugins]\nfaq = on\n[plugin.faq]\nmax_results = 2\n");
	fclose(f);
	assert_int_equal(config_load(&cfg, "/tmp/atrium-static-test.ini", err,
				     sizeof(err)),
			 0);
	g_cfg = &cfg;
	db_setup(":memory:", 1000);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	plugins_stop();
	db_thread_close();
	config_free(&cfg);
	remove("/tmp/atrium-static-test.ini");
	return 0;
}

static void static_plugin_loads(void **state)
{
	char err[512] = "";
	struct router *r = router_new();
	struct db *db = db_thread();
	struct route_match m;
	json_t *rows, *pages;
	(void)state;

	assert_non_null(db);
	assert_int_equal(db_migrate(db, "core", core_migrations, err,
				    sizeof(err)),
			 0);
	plugins_add_static(&faq_plugin);
	assert_int_equal(plugins_start(&cfg, r, db, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(plugins_count(), 1);
	assert_string_equal(plugin_config(plugins_at(0), "max_results"), "2");
	assert_string_equal(plugin_config(plugins_at(0), "greeting"),
			    "How can we help?");
	rows = db_query(db,
			"SELECT id FROM schema_migrations WHERE owner = 'faq'",
			NULL);
	assert_int_equal(json_array_size(rows), 2);
	json_decref(rows);
	assert_int_equal(router_match(r, "GET", "/api/faq/entries", &m),
			 ROUTE_FOUND);
	assert_int_equal(router_match(r, "DELETE", "/api/faq/entries/7", &m),
			 ROUTE_FOUND);
	assert_string_equal(m.values[0], "7");
	assert_int_equal(router_match(r, "PUT", "/api/faq/entries", &m),
			 ROUTE_BAD_METHOD);
	assert_string_equal(m.allow, "GET, POST");
	pages = plugins_ui_pages(ATR_ROLE_PATIENT);
	assert_int_equal(json_array_size(pages), 1);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(pages, 0), "module")),
	    "/plugins/faq/faq.js");
	json_decref(pages);
	router_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(static_plugin_loads, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
