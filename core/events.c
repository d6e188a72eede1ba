/*
 * events.c - see events.h. Core events are declared here as data, like a
 * plugin's; plugin events come from their descriptors.
 */
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "arena.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "plugins.h"
#include "request.h"
#include "workflow.h"

static const struct atr_event_decl core_events[] = {
    {"user.created", "user_id,role", NULL, "an account was created"},
    {"user.login", "user_id,role", NULL, "a user signed in"},
    {"notification.before_send",
     "id,user_id,kind,channel,ref,title,body", "title,body,channel",
     "a notification is about to leave the outbox; deny suppresses it"},
    {"notification.failed", "id,user_id,kind,channel,error,attempts", NULL,
     "a notification gave up after its last attempt"},
    {NULL, NULL, NULL, NULL},
};

static struct wf_event_info *known;
static size_t nknown;
static struct wf_limits limits;
static struct wf_host host;
static char *dir;

static void h_log(void *ud, int level, const char *where, const char *msg)
{
	(void)ud;
	log_comp((enum log_level)level, "workflow", "%s%s%s", where,
		 *where ? ": " : "", msg);
}

/* The context of one host callback: a job-like context on the calling
 * thread, whose connection may be inside the transaction of the request
 * that emitted the event (the callback's writes then share its fate). */
static void cb_begin(struct atr_ctx *ctx, struct arena *a, struct plugin *p)
{
	arena_init(a);
	ctx_init(ctx, p, a, CTX_JOB);
}

/* Releases what the callback's context picked up (a generation pinned by
 * an event a plugin emitted from a lookup) and its arena. */
static void cb_end(struct atr_ctx *ctx, struct arena *a)
{
	ctx_release(ctx);
	arena_release(a);
}

static long long h_notify(void *ud, long long user_id, const char *kind,
			  const char *ref, json_t *data, time_t not_before)
{
	struct arena a;
	struct atr_ctx ctx;
	long long id;
	(void)ud;
	cb_begin(&ctx, &a, NULL);
	id = outbox_queue(&ctx, user_id, kind, ref, data, not_before);
	cb_end(&ctx, &a);
	/* The script only learns that it failed; say why here. */
	if (id <= 0)
		log_comp(LOG_WARN, "workflow",
			 "atrium.notify: the outbox refused kind '%s' for user "
			 "%lld: %s",
			 kind, user_id,
			 id == ATR_EINVAL
			     ? "no such user, or the kind is not lowercase "
			       "letters, digits and '_'"
			     : "database error");
	return id;
}

static json_t *h_lookup(void *ud, const char *name, json_t *args, char *err,
			size_t errlen)
{
	struct plugin *owner = NULL;
	atr_lookup_fn fn = plugins_find_lookup(name, &owner);
	struct arena a;
	struct atr_ctx ctx;
	struct db *db;
	json_t *out;
	int in_tx;
	(void)ud;
	if (!fn) {
		snprintf(err, errlen, "no lookup named '%s'", name);
		return NULL;
	}
	cb_begin(&ctx, &a, owner);
	db = ctx_db(&ctx);
	in_tx = db && db_in_tx(db);
	out = fn(&ctx, args);
	/* A lookup is read-only: a transaction it opened and left would
	 * swallow the writes of the request around it. */
	if (db && !in_tx && db_in_tx(db)) {
		log_comp(LOG_WARN, "workflow",
			 "lookup '%s' left a transaction open; rolled back",
			 name);
		db_rollback(db);
	}
	cb_end(&ctx, &a);
	err[0] = '\0';
	return out;
}

static const char *h_setting(void *ud, const char *key)
{
	(void)ud;
	if (!strcmp(key, "practice.name"))
		return g_cfg->practice_name;
	if (!strcmp(key, "practice.timezone"))
		return g_cfg->timezone;
	if (!strncmp(key, "plugin.", 7)) {
		const char *name = key + 7, *dot = strchr(name, '.');
		for (size_t i = 0; dot && i < plugins_count(); i++) {
			struct plugin *p = plugins_at(i);
			if (strlen(plugin_name(p)) == (size_t)(dot - name) &&
			    !strncmp(plugin_name(p), name,
				     (size_t)(dot - name)))
				return plugin_config(p, dot + 1);
		}
	}
	return NULL;
}

static int clinical(const char *name)
{
	/* Events about care (not accounts or notifications) fail closed. */
	return strncmp(name, "user.", 5) && strncmp(name, "notification.", 13);
}

/* Appends e to the known events; a name already known (a plugin declaring
 * the core's event or another plugin's) is skipped with a warning, since
 * the engine would only ever use the first declaration. who names the
 * declarer. 0, or -1 when out of memory. */
static int add_known(const struct atr_event_decl *e, const char *who)
{
	struct wf_event_info *k;
	for (size_t i = 0; i < nknown; i++)
		if (!strcmp(known[i].name, e->name)) {
			log_comp(LOG_WARN, "workflow",
				 "%s declares event '%s' again; the first "
				 "declaration is kept",
				 who, e->name);
			return 0;
		}
	k = realloc(known, (nknown + 2) * sizeof(*k));
	if (!k)
		return -1;
	known = k;
	k[nknown].name = e->name;
	k[nknown].amendable = e->amendable;
	k[nknown].clinical = clinical(e->name);
	nknown++;
	memset(&k[nknown], 0, sizeof(k[nknown]));
	return 0;
}

static int build_known(void)
{
	free(known);
	known = NULL;
	nknown = 0;
	for (const struct atr_event_decl *e = core_events; e->name; e++)
		if (add_known(e, "the core"))
			return -1;
	for (size_t i = 0; i < plugins_count(); i++) {
		const struct atr_event_decl *e =
		    plugin_desc(plugins_at(i))->events;
		char who[96];
		snprintf(who, sizeof(who), "plugin '%s'",
			 plugin_name(plugins_at(i)));
		for (; e && e->name; e++)
			if (add_known(e, who))
				return -1;
	}
	return 0;
}

int events_start(const struct config *cfg, char *err, size_t errlen)
{
	if (build_known())
		return -1;
	limits.instructions = (unsigned long)cfg->wf_instructions;
	limits.deadline_ms = (unsigned)cfg->wf_deadline_ms;
	limits.memory = (size_t)cfg->wf_memory_mb << 20;
	limits.fail_closed_default = cfg->wf_fail_closed;
	host.log = h_log;
	host.notify = h_notify;
	host.lookup = h_lookup;
	host.setting = h_setting;
	free(dir);
	dir = strdup(cfg->workflows_dir);
	return wf_reload(dir, known, &limits, &host, err, errlen);
}

int events_reload(char *err, size_t errlen)
{
	int rc = wf_reload(dir, known, &limits, &host, err, errlen);
	if (rc)
		log_comp(LOG_ERROR, "workflow",
			 "reload refused, previous rules kept: %s", err);
	else
		log_comp(LOG_INFO, "workflow", "reloaded %s", dir);
	return rc;
}

int events_check_dir(const char *d, char *err, size_t errlen)
{
	if (!known && build_known())
		return -1;
	return wf_check_dir(d, known, err, errlen);
}

json_t *events_catalog(void)
{
	json_t *out = json_array();
	for (const struct atr_event_decl *e = core_events; e->name; e++)
		json_array_append_new(
		    out, json_pack("{s:s,s:s,s:s,s:s?,s:s?}", "name", e->name,
				   "emitted_by", "core", "fields", e->fields,
				   "amendable", e->amendable, "help", e->help));
	for (size_t i = 0; i < plugins_count(); i++) {
		const struct atr_event_decl *e =
		    plugin_desc(plugins_at(i))->events;
		for (; e && e->name; e++)
			json_array_append_new(
			    out,
			    json_pack("{s:s,s:s,s:s,s:s?,s:s?}", "name",
				      e->name, "emitted_by",
				      plugin_name(plugins_at(i)), "fields",
				      e->fields ? e->fields : "", "amendable",
				      e->amendable, "help", e->help));
	}
	return out;
}

void events_stop(void)
{
	wf_shutdown();
	free(known);
	known = NULL;
	nknown = 0;
	free(dir);
	dir = NULL;
}

int events_emit(struct atr_ctx *ctx, const char *event, json_t *payload,
		const char **reason)
{
	struct wf_result res;
	int known_event = 0;

	if (reason)
		*reason = NULL;
	if (!event || !json_is_object(payload))
		return ATR_EINVAL;
	for (size_t i = 0; i < nknown && !known_event; i++)
		known_event = !strcmp(known[i].name, event);
	if (!known_event) {
		log_msg(LOG_WARN, "event '%s' is not declared by any plugin",
			event);
		return ATR_EINVAL;
	}
	if (!ctx->wf_gen && !wf_has_handlers(event))
		return ATR_OK;
	if (!ctx->wf_gen)
		ctx->wf_gen = wf_current(); /* released by ctx_release */
	if (wf_dispatch_gen(ctx->wf_gen, event, payload, &res) != 0)
		return ATR_OK;
	if (res.verdict == WF_DENY) {
		if (reason)
			*reason = arena_strdup(ctx->arena, res.reason);
		return ATR_EDENIED;
	}
	return ATR_OK;
}
