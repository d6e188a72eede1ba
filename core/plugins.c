/*
 * plugins.c - see plugins.h.
 */
#include "plugins.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "audit.h"
#include "db.h"
#include "log.h"
#include "request.h"
#include "static.h"

#define MAX_PLUGINS 64

struct plugin_lookup {
	char *name;
	atr_lookup_fn fn;
};

struct plugin {
	char *name, *file;
	void *dl;
	const struct atr_plugin *desc;
	int in_init, inited, enabled;
	/* resolved config: parallel to desc->config */
	char **cfg_values;
	size_t ncfg;
	json_t *ui_pages; /* array */
	char *ui_dir;
	struct plugin_lookup *lookups;
	size_t nlookups;
	atr_job_fn demo;
};

static struct plugin *plugins[MAX_PLUGINS];
static size_t nplugins;
static const struct atr_plugin *statics[MAX_PLUGINS];
static size_t nstatics;
static struct plugin_job *jobs;
static size_t njobs;

void plugins_add_static(const struct atr_plugin *desc)
{
	if (nstatics < MAX_PLUGINS)
		statics[nstatics++] = desc;
}

const char *plugin_name(const struct plugin *p)
{
	return p ? p->name : "core";
}

const struct atr_plugin *plugin_desc(const struct plugin *p)
{
	return p->desc;
}

int plugin_enabled(const struct plugin *p)
{
	return p->enabled;
}

int plugin_in_init(const struct plugin *p)
{
	return p->in_init;
}

size_t plugins_count(void)
{
	return nplugins;
}

struct plugin *plugins_at(size_t i)
{
	return i < nplugins ? plugins[i] : NULL;
}

int plugins_ui_enabled(const char *name)
{
	for (size_t i = 0; i < nplugins; i++)
		if (!strcmp(plugins[i]->name, name))
			return plugins[i]->enabled;
	return 0;
}

const char *plugin_config(const struct plugin *p, const char *key)
{
	const struct atr_config_key *k = p->desc->config;
	for (size_t i = 0; k && k[i].name; i++)
		if (!strcmp(k[i].name, key))
			return p->cfg_values[i];
	return NULL;
}

static int valid_name(const char *s)
{
	if (!s || !*s || !islower((unsigned char)*s) || strlen(s) > 32)
		return 0;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
		    *s != '_')
			return 0;
	return 1;
}

static void plugin_free(struct plugin *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->ncfg; i++)
		free(p->cfg_values[i]);
	free(p->cfg_values);
	for (size_t i = 0; i < p->nlookups; i++)
		free(p->lookups[i].name);
	free(p->lookups);
	json_decref(p->ui_pages);
	free(p->ui_dir);
	if (p->dl)
		dlclose(p->dl);
	free(p->name);
	free(p->file);
	free(p);
}

/* Checks the descriptor as data. Returns NULL or a static reason. */
static const char *check_desc(const struct atr_plugin *d, char *buf,
			      size_t buflen)
{
	if (d->abi_major != ATR_ABI_MAJOR) {
		snprintf(buf, buflen, "abi %u, core speaks %d", d->abi_major,
			 ATR_ABI_MAJOR);
		return buf;
	}
	if (d->size != sizeof(struct atr_plugin)) {
		snprintf(buf, buflen,
			 "descriptor size %u, core expects %zu (built "
			 "against another SDK)",
			 d->size, sizeof(struct atr_plugin));
		return buf;
	}
	if (!d->signature || strcmp(d->signature, ATR_BUILD_SIGNATURE)) {
		snprintf(buf, buflen, "build signature '%.64s', core has '%s'",
			 d->signature ? d->signature : "(none)",
			 ATR_BUILD_SIGNATURE);
		return buf;
	}
	if (!valid_name(d->name))
		return "descriptor has no valid name";
	if (!d->version || !d->description)
		return "descriptor lacks a version or description";
	return NULL;
}

/* Opens one file; returns the descriptor or NULL with the reason. */
static const struct atr_plugin *open_file(const char *path, void **dl,
					  char *reason, size_t rlen)
{
	const struct atr_plugin *d;
	const char *why;
	char buf[256];

	*dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!*dl) {
		const char *e = dlerror();
		snprintf(reason, rlen, "not a loadable shared object (%s)",
			 e && strstr(e, "No such file") ? "file not found"
			 : e && strstr(e, "undefined symbol")
			     ? "undefined symbol"
			     : "invalid ELF or missing dependency");
		return NULL;
	}
	d = dlsym(*dl, ATR_PLUGIN_SYMBOL);
	if (!d) {
		snprintf(reason, rlen, "no '%s' descriptor exported",
			 ATR_PLUGIN_SYMBOL);
		goto fail;
	}
	if ((why = check_desc(d, buf, sizeof(buf)))) {
		snprintf(reason, rlen, "%s", why);
		goto fail;
	}
	return d;
fail:
	dlclose(*dl);
	*dl = NULL;
	return NULL;
}

static struct plugin *find(const char *name)
{
	for (size_t i = 0; i < nplugins; i++)
		if (!strcmp(plugins[i]->name, name))
			return plugins[i];
	return NULL;
}

static int fail_p(char *err, size_t errlen, const char *name,
		  const char *file, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_p(char *err, size_t errlen, const char *name,
		  const char *file, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "plugin '%s' (%s): %s", name, file, msg);
	return -1;
}

static int check_int(const char *v)
{
	char *end;
	errno = 0;
	(void)strtoll(v, &end, 10);
	return !errno && end != v && !*end;
}

/* Resolves [plugin.NAME] against the declared keys. */
static int resolve_config(struct plugin *p, const struct config *cfg,
			  char *err, size_t errlen)
{
	const struct atr_config_key *k = p->desc->config;
	char section[64];
	size_t n = 0;

	while (k && k[n].name)
		n++;
	p->ncfg = n;
	p->cfg_values = calloc(n ? n : 1, sizeof(char *));
	if (!p->cfg_values)
		return -1;
	snprintf(section, sizeof(section), "plugin.%s", p->name);
	for (size_t i = 0; i < cfg->nplugin_opts; i++) {
		const struct config_entry *e = &cfg->plugin_opts[i];
		size_t j;
		if (strcmp(e->section, section))
			continue;
		for (j = 0; j < n && strcmp(k[j].name, e->key); j++)
			;
		if (j == n) {
			snprintf(err, errlen, "%s:%d: plugin '%s': unknown key "
					      "'%s' in [%s]",
				 cfg->file, e->line, p->name, e->key, section);
			return -1;
		}
		if ((k[j].type == ATR_CFG_INT && !check_int(e->value)) ||
		    (k[j].type == ATR_CFG_BOOL &&
		     config_parse_bool(e->value) < 0)) {
			snprintf(err, errlen,
				 "%s:%d: plugin '%s': %s: expected %s",
				 cfg->file, e->line, p->name, e->key,
				 k[j].type == ATR_CFG_INT ? "an integer"
							  : "on or off");
			return -1;
		}
		p->cfg_values[j] = strdup(e->value);
	}
	for (size_t j = 0; j < n; j++) {
		if (p->cfg_values[j])
			continue;
		if (k[j].required) {
			snprintf(err, errlen,
				 "%s: plugin '%s': required key '%s' missing "
				 "from [%s]",
				 cfg->file, p->name, k[j].name, section);
			return -1;
		}
		if (k[j].default_value)
			p->cfg_values[j] = strdup(k[j].default_value);
	}
	return 0;
}

/* Orders plugins so every requirement comes first; refuses cycles and
 * requirements that are missing or off. */
static int order(char *err, size_t errlen)
{
	struct plugin *sorted[MAX_PLUGINS];
	int state[MAX_PLUGINS] = {0}; /* 0 new, 1 visiting, 2 done */
	size_t ns = 0;

	for (size_t i = 0; i < nplugins; i++) {
		const char *const *r = plugins[i]->desc->requires;
		for (; r && *r; r++)
			if (!find(*r))
				return fail_p(err, errlen, plugins[i]->name,
					      plugins[i]->file,
					      "requires plugin '%s', which is "
					      "not enabled",
					      *r);
	}
	for (size_t start = 0; start < nplugins; start++) {
		/* iterative DFS with an explicit stack */
		size_t stack[MAX_PLUGINS], idx[MAX_PLUGINS];
		int sp = 0;
		if (state[start])
			continue;
		stack[sp] = start;
		idx[sp++] = 0;
		state[start] = 1;
		while (sp) {
			size_t cur = stack[sp - 1];
			const char *const *r = plugins[cur]->desc->requires;
			size_t k = idx[sp - 1]++;
			size_t nreq = 0;
			while (r && r[nreq])
				nreq++;
			if (k < nreq) {
				size_t dep;
				for (dep = 0; dep < nplugins; dep++)
					if (!strcmp(plugins[dep]->name, r[k]))
						break;
				if (state[dep] == 1)
					return fail_p(
					    err, errlen, plugins[cur]->name,
					    plugins[cur]->file,
					    "dependency cycle through '%s'",
					    r[k]);
				if (state[dep] == 0) {
					state[dep] = 1;
					stack[sp] = dep;
					idx[sp++] = 0;
				}
				continue;
			}
			state[cur] = 2;
			sorted[ns++] = plugins[cur];
			sp--;
		}
	}
	memcpy(plugins, sorted, ns * sizeof(*sorted));
	return 0;
}

static int add_routes(struct plugin *p, struct router *r, char *err,
		      size_t errlen)
{
	const struct atr_route *rt = p->desc->routes;
	char why[256];
	for (; rt && rt->method; rt++) {
		struct route route = {0};
		char pattern[512];
		if (!rt->handler || !rt->pattern ||
		    (!(rt->flags & ATR_ROUTE_PUBLIC) && !rt->roles))
			return fail_p(err, errlen, p->name, p->file,
				      "route %s %s: needs a handler and roles "
				      "(or the public flag)",
				      rt->method, rt->pattern ? rt->pattern : "");
		snprintf(pattern, sizeof(pattern), "/api/%s%s", p->name,
			 strcmp(rt->pattern, "/") ? rt->pattern : "");
		route.method = rt->method;
		route.pattern = pattern;
		route.handler = rt->handler;
		route.roles = rt->roles;
		route.flags = rt->flags;
		route.summary = rt->summary;
		route.request_schema = rt->request_schema;
		route.response_schema = rt->response_schema;
		route.plugin = p;
		if (router_add(r, &route, why, sizeof(why)))
			return fail_p(err, errlen, p->name, p->file, "%s", why);
	}
	return 0;
}

static int enabled_fn(const struct plugin *p)
{
	return p->enabled;
}

int plugins_start(const struct config *cfg, struct router *r, struct db *db,
		  char *err, size_t errlen)
{
	char reason[512], path[PATH_MAX], msg[512];

	router_set_enabled_fn(r, enabled_fn);
	/* 1. open and check every enabled plugin: no code of theirs runs */
	for (size_t i = 0; i < cfg->nplugins; i++) {
		const struct config_entry *e = &cfg->plugins[i];
		const struct atr_plugin *d = NULL;
		struct plugin *p;
		void *dl = NULL;

		if (config_parse_bool(e->value) != 1)
			continue;
		for (size_t s = 0; s < nstatics; s++)
			if (!strcmp(statics[s]->name, e->key))
				d = statics[s];
		if (d) {
			/* Linked in: paths (its ui folder) resolve as if it
			 * were a file in the plugin directory. */
			snprintf(path, sizeof(path), "%s/%s.so",
				 cfg->plugin_dir, e->key);
			if (check_desc(d, reason, sizeof(reason)))
				return fail_p(err, errlen, e->key, path, "%s",
					      reason);
		} else {
			snprintf(path, sizeof(path), "%s/%s.so",
				 cfg->plugin_dir, e->key);
			d = open_file(path, &dl, reason, sizeof(reason));
			if (!d)
				return fail_p(err, errlen, e->key, path, "%s",
					      reason);
		}
		if (strcmp(d->name, e->key)) {
			/* Format before dlclose: d->name lives in the file. */
			fail_p(err, errlen, e->key, path,
			       "file declares the name '%.64s'", d->name);
			if (dl)
				dlclose(dl);
			return -1;
		}
		if (find(d->name) || nplugins == MAX_PLUGINS) {
			if (dl)
				dlclose(dl);
			return fail_p(err, errlen, e->key, path,
				      "loaded twice");
		}
		p = calloc(1, sizeof(*p));
		if (!p)
			return -1;
		p->name = strdup(d->name);
		p->file = strdup(path);
		p->dl = dl;
		p->desc = d;
		p->enabled = 1;
		p->ui_pages = json_array();
		plugins[nplugins++] = p;
		if (resolve_config(p, cfg, err, errlen))
			return -1;
	}
	/* [plugin.X] for a plugin the config never mentions is a typo. */
	for (size_t i = 0; i < cfg->nplugin_opts; i++) {
		const char *name = cfg->plugin_opts[i].section + 7;
		if (config_plugin_state(cfg, name) < 0) {
			snprintf(err, errlen,
				 "%s:%d: [plugin.%s] names a plugin not "
				 "listed in [plugins]",
				 cfg->file, cfg->plugin_opts[i].line, name);
			return -1;
		}
	}
	if (order(err, errlen))
		return -1;
	for (size_t i = 0; i < nplugins; i++)
		if (add_routes(plugins[i], r, err, errlen))
			return -1;
	/* 2. migrations and init, all or nothing */
	if (db_begin(db) != ATR_OK) {
		snprintf(err, errlen, "plugins: cannot start a transaction");
		return -1;
	}
	for (size_t i = 0; i < nplugins; i++) {
		struct plugin *p = plugins[i];
		if (db_migrate(db, p->name, p->desc->migrations, msg,
			       sizeof(msg))) {
			fail_p(err, errlen, p->name, p->file, "%s", msg);
			goto rollback;
		}
	}
	for (size_t i = 0; i < nplugins; i++) {
		struct plugin *p = plugins[i];
		struct arena arena;
		struct atr_ctx ctx;
		char *emsg = NULL;
		int rc = ATR_OK;

		if (!p->desc->init)
			continue;
		arena_init(&arena);
		ctx_init(&ctx, p, &arena, CTX_INIT);
		p->in_init = 1;
		rc = p->desc->init(&ctx, &atr_host_api, &emsg);
		p->in_init = 0;
		ctx_release(&ctx);
		arena_release(&arena);
		if (rc != ATR_OK) {
			fail_p(err, errlen, p->name, p->file, "init failed: %s",
			       emsg ? emsg : "no reason given");
			free(emsg);
			goto rollback;
		}
		free(emsg);
		p->inited = 1;
		if (p->ui_dir && static_add_mount(p->name, p->ui_dir)) {
			fail_p(err, errlen, p->name, p->file,
			       "ui folder '%s' cannot be served", p->ui_dir);
			goto rollback;
		}
	}
	if (db_commit(db) != ATR_OK) {
		snprintf(err, errlen, "plugins: cannot commit migrations");
		goto rollback;
	}
	for (size_t i = 0; i < nplugins; i++)
		log_msg(LOG_INFO, "plugin '%s' %s loaded from %s",
			plugins[i]->name, plugins[i]->desc->version,
			plugins[i]->file);
	return 0;
rollback:
	db_rollback(db);
	return -1;
}

void plugins_stop(void)
{
	for (size_t i = nplugins; i-- > 0;) {
		struct plugin *p = plugins[i];
		if (p->inited && p->desc->fini) {
			struct arena arena;
			struct atr_ctx ctx;
			arena_init(&arena);
			ctx_init(&ctx, p, &arena, CTX_INIT);
			p->desc->fini(&ctx);
			ctx_release(&ctx);
			arena_release(&arena);
		}
	}
	for (size_t i = 0; i < njobs; i++)
		free(jobs[i].name);
	free(jobs);
	jobs = NULL;
	njobs = 0;
	for (size_t i = 0; i < nplugins; i++)
		plugin_free(plugins[i]);
	nplugins = 0;
}

void plugins_list(const struct config *cfg, FILE *out)
{
	DIR *d = opendir(cfg->plugin_dir);
	struct dirent *de;
	char path[PATH_MAX], reason[512];

	if (!d) {
		fprintf(out, "plugin directory %s: %s\n", cfg->plugin_dir,
			strerror(errno));
		return;
	}
	fprintf(out, "%-16s %-10s %-8s %s\n", "NAME", "VERSION", "STATE",
		"REASON / DESCRIPTION");
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char name[256];
		const struct atr_plugin *desc;
		void *dl;
		int st;
		if (n < 4 || strcmp(de->d_name + n - 3, ".so") ||
		    de->d_name[0] == '.')
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 3), de->d_name);
		snprintf(path, sizeof(path), "%s/%s", cfg->plugin_dir,
			 de->d_name);
		desc = open_file(path, &dl, reason, sizeof(reason));
		if (!desc) {
			fprintf(out, "%-16s %-10s %-8s %s\n", name, "-",
				"refused", reason);
			continue;
		}
		st = config_plugin_state(cfg, desc->name);
		if (strcmp(desc->name, name))
			fprintf(out, "%-16s %-10s %-8s file declares the name "
				     "'%s'\n",
				name, desc->version, "refused", desc->name);
		else
			fprintf(out, "%-16s %-10s %-8s %s\n", desc->name,
				desc->version, st == 1 ? "on" : "off",
				desc->description);
		dlclose(dl);
	}
	closedir(d);
}

int plugin_register_job(struct plugin *p, const char *name,
			unsigned interval, atr_job_fn fn)
{
	struct plugin_job *j;
	if (!p->in_init)
		return ATR_EBUSY;
	if (!name || !fn || interval == 0)
		return ATR_EINVAL;
	j = realloc(jobs, (njobs + 1) * sizeof(*j));
	if (!j)
		return ATR_ENOMEM;
	jobs = j;
	j[njobs].plugin = p;
	j[njobs].name = strdup(name);
	j[njobs].interval = interval;
	j[njobs].fn = fn;
	j[njobs].next_run = 0;
	njobs++;
	return ATR_OK;
}

size_t plugins_jobs(struct plugin_job **out)
{
	*out = jobs;
	return njobs;
}

int plugin_register_ui(struct plugin *p, const char *dir, json_t *pages)
{
	char buf[PATH_MAX];
	size_t i;
	json_t *pg;

	if (!p->in_init)
		return ATR_EBUSY;
	if (!dir || !json_is_array(pages))
		return ATR_EINVAL;
	json_array_foreach(pages, i, pg)
	{
		const char *id = json_string_value(json_object_get(pg, "id"));
		const char *mod =
		    json_string_value(json_object_get(pg, "module"));
		if (!id || !mod || !json_is_string(json_object_get(pg, "title")) ||
		    !json_is_array(json_object_get(pg, "roles")) ||
		    !static_path_safe(mod))
			return ATR_EINVAL;
	}
	if (dir[0] != '/') {
		/* relative to the plugin file's folder */
		const char *slash = strrchr(p->file, '/');
		snprintf(buf, sizeof(buf), "%.*s/%s",
			 slash ? (int)(slash - p->file) : 1,
			 slash ? p->file : ".", dir);
		dir = buf;
	}
	free(p->ui_dir);
	p->ui_dir = strdup(dir);
	json_array_extend(p->ui_pages, pages);
	return ATR_OK;
}

int plugin_register_lookup(struct plugin *p, const char *name,
			   atr_lookup_fn fn)
{
	struct plugin_lookup *l;
	if (!p->in_init)
		return ATR_EBUSY;
	if (!name || !fn)
		return ATR_EINVAL;
	l = realloc(p->lookups, (p->nlookups + 1) * sizeof(*l));
	if (!l)
		return ATR_ENOMEM;
	p->lookups = l;
	l[p->nlookups].name = strdup(name);
	l[p->nlookups].fn = fn;
	p->nlookups++;
	return ATR_OK;
}

atr_lookup_fn plugins_find_lookup(const char *name, struct plugin **owner)
{
	const char *dot = strchr(name, '.');
	for (size_t i = 0; i < nplugins; i++) {
		struct plugin *p = plugins[i];
		size_t pl = strlen(p->name);
		const char *local = name;
		if (dot) {
			if ((size_t)(dot - name) != pl ||
			    strncmp(name, p->name, pl))
				continue;
			local = dot + 1;
		}
		for (size_t j = 0; j < p->nlookups; j++)
			if (!strcmp(p->lookups[j].name, local)) {
				*owner = p;
				return p->lookups[j].fn;
			}
	}
	return NULL;
}

json_t *plugins_ui_pages(unsigned role)
{
	json_t *out = json_array();
	const char *rname = role_name(role);
	for (size_t i = 0; i < nplugins; i++) {
		struct plugin *p = plugins[i];
		size_t k;
		json_t *pg;
		if (!p->enabled)
			continue;
		json_array_foreach(p->ui_pages, k, pg)
		{
			json_t *roles = json_object_get(pg, "roles"), *rv;
			size_t m;
			int ok = 0;
			json_array_foreach(roles, m, rv) if (
			    !strcmp(json_string_value(rv) ? json_string_value(rv)
							  : "",
				    rname)) ok = 1;
			if (!ok)
				continue;
			json_t *copy = json_deep_copy(pg);
			json_object_set_new(copy, "plugin",
					    json_string(p->name));
			json_object_set_new(
			    copy, "module",
			    json_sprintf("/plugins/%s/%s", p->name,
					 json_string_value(
					     json_object_get(pg, "module"))));
			if (!json_object_get(copy, "nav"))
				json_object_set_new(copy, "nav", json_true());
			json_array_append_new(out, copy);
		}
	}
	return out;
}

const struct atr_event_decl *plugins_event_decl(const char *name)
{
	for (size_t i = 0; i < nplugins; i++) {
		const struct atr_event_decl *e = plugins[i]->desc->events;
		for (; e && e->name; e++)
			if (!strcmp(e->name, name))
				return e;
	}
	return NULL;
}

json_t *plugins_json(void)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < nplugins; i++) {
		const struct plugin *p = plugins[i];
		json_t *req = json_array();
		for (const char *const *r = p->desc->requires; r && *r; r++)
			json_array_append_new(req, json_string(*r));
		json_array_append_new(
		    arr, json_pack("{s:s,s:s,s:s,s:s,s:o}", "name", p->name,
				   "version", p->desc->version, "description",
				   p->desc->description, "state",
				   p->enabled ? "on" : "off", "requires", req));
	}
	return arr;
}

int plugin_register_demo(struct plugin *p, atr_job_fn fn)
{
	if (!p->in_init)
		return ATR_EBUSY;
	p->demo = fn;
	return ATR_OK;
}

void plugins_run_demo(void)
{
	for (size_t i = 0; i < nplugins; i++) {
		struct plugin *p = plugins[i];
		struct arena arena;
		struct atr_ctx ctx;
		if (!p->demo)
			continue;
		arena_init(&arena);
		ctx_init(&ctx, p, &arena, CTX_CLI);
		p->demo(&ctx);
		ctx_release(&ctx);
		arena_release(&arena);
	}
}
