/*
 * plugins.h - the plugin loader and registry. At start the loader opens each
 * plugin the config switches on (from the plugin directory only, RTLD_NOW |
 * RTLD_LOCAL), checks its descriptor as data (ABI major, size, build
 * signature, name) before calling anything, checks requirements, config keys
 * and routes, then - in one database transaction - applies every plugin's
 * pending migrations and calls each init in dependency order. Any refusal
 * rolls the transaction back and stops the start with one line naming the
 * plugin, its file and the reason. fini runs in reverse order at shutdown.
 *
 * After start the registry is read-only, so request threads read it without
 * a lock.
 */
#ifndef ATRIUM_PLUGINS_H
#define ATRIUM_PLUGINS_H

#include <jansson.h>

#include <atrium/plugin.h>

#include "config.h"
#include "router.h"

struct plugin;
struct db;

/* Load, check, migrate and init. 0, or -1 with the one-line reason in err. */
int plugins_start(const struct config *cfg, struct router *r, struct db *db,
		  char *err, size_t errlen);
/* Register statically linked descriptors (tests) before plugins_start;
 * they are treated like files named "<static>". */
void plugins_add_static(const struct atr_plugin *desc);
void plugins_stop(void);
/* --list-plugins: every *.so in the directory, with state and reason. */
void plugins_list(const struct config *cfg, FILE *out);

const char *plugin_name(const struct plugin *p);
const struct atr_plugin *plugin_desc(const struct plugin *p);
/* Config value for a declared key (default applied) or NULL. */
const char *plugin_config(const struct plugin *p, const char *key);
int plugin_enabled(const struct plugin *p);
/* Is a plugin of this name loaded and on (static mounts use it)? */
int plugins_ui_enabled(const char *name);
/* Iteration over loaded plugins, in dependency order. */
size_t plugins_count(void);
struct plugin *plugins_at(size_t i);

/* Registrations made during init. */
int plugin_register_job(struct plugin *p, const char *name,
			unsigned interval, atr_job_fn fn);
int plugin_register_ui(struct plugin *p, const char *dir, json_t *pages);
int plugin_register_lookup(struct plugin *p, const char *name,
			   atr_lookup_fn fn);
int plugin_in_init(const struct plugin *p);
int plugin_register_demo(struct plugin *p, atr_job_fn fn);
/* --init-demo: each plugin's demo seeding, in dependency order. */
void plugins_run_demo(void);

/* The UI manifest pages the role may see (new array). */
json_t *plugins_ui_pages(unsigned role);
/* Lookup by name for workflow scripts: "plugin.name" or a bare name. */
atr_lookup_fn plugins_find_lookup(const char *name, struct plugin **owner);
/* Every job, for the job runner. */
struct plugin_job {
	struct plugin *plugin;
	char *name;
	unsigned interval;
	atr_job_fn fn;
	long long next_run;
};
size_t plugins_jobs(struct plugin_job **jobs);
/* Events every loaded plugin declares (for the workflow engine). */
const struct atr_event_decl *plugins_event_decl(const char *name);
json_t *plugins_json(void);

#endif
