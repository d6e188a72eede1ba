/*
 * workflow_api.c - the `atrium` table workflow scripts see.
 *
 * Registration (on, every, daily) is legal only while a script's top level
 * runs; deny only inside an event handler; notify and lookup only inside a
 * handler or a job, since a top level runs once per worker thread and must
 * have no side effects. Everything that leaves the sandbox goes through the
 * generation's struct wf_host and is checked here first.
 *
 * This file does not build the sandbox or decide what a deny means for the
 * request (workflow_sandbox.c, workflow_run.c).
 */
#include "workflow_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#define LOG_LINES_PER_CALL 20
#define LOG_LINE_MAX 1024
#define EVERY_MAX (366u * 86400u)

static const char deny_key = 'd'; /* its address is the deny error value */

/* "file.lua:12" of the Lua function calling the current C function. */
static void caller_where(lua_State *L, char *buf, size_t len)
{
	lua_Debug ar;

	buf[0] = '\0';
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) &&
	    ar.currentline > 0)
		snprintf(buf, len, "%s:%d", ar.short_src, ar.currentline);
}

static void need_phase(lua_State *L, const char *fn, int handlers_only)
{
	struct wf_state *st = wf_state_of(L);

	if (handlers_only && st->phase == WF_LOAD)
		luaL_error(L, "atrium.%s is not available at the top level of "
			      "a script (only in handlers and jobs)",
			   fn);
	if (!handlers_only && st->phase != WF_LOAD)
		luaL_error(L, "atrium.%s may only be called at the top level "
			      "of a script",
			   fn);
}

/* ---- registration ------------------------------------------------- */

/* Record a registration of the function at fidx. */
static void add_reg(lua_State *L, struct wf_reg *r, int fidx)
{
	struct wf_state *st = wf_state_of(L);
	lua_Debug ar;

	lua_pushvalue(L, fidx);
	if (lua_getinfo(L, ">S", &ar) && ar.linedefined > 0)
		r->line = ar.linedefined;
	else if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
		r->line = ar.currentline;
	r->file = st->file;
	if (st->nregs == st->capregs) {
		int cap = st->capregs ? st->capregs * 2 : 16;
		struct wf_sreg *n =
		    realloc(st->regs, sizeof(*n) * (size_t)cap);

		if (!n)
			luaL_error(L, "out of memory");
		st->regs = n;
		st->capregs = cap;
	}
	lua_pushvalue(L, fidx);
	st->regs[st->nregs].ref = luaL_ref(L, LUA_REGISTRYINDEX);
	st->regs[st->nregs].r = *r;
	st->regs[st->nregs].warned = 0;
	st->nregs++;
}

/* atrium.on(event, fn) */
static int api_on(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);
	const char *name = luaL_checkstring(L, 1);
	struct wf_reg r = {.kind = WF_REG_ON};

	luaL_checktype(L, 2, LUA_TFUNCTION);
	need_phase(L, "on", 0);
	r.event = wf_gen_event(st->gen, name);
	if (r.event < 0)
		return luaL_error(L, "atrium.on: unknown event '%s'", name);
	add_reg(L, &r, 2);
	return 0;
}

/* atrium.every(seconds, fn) */
static int api_every(lua_State *L)
{
	struct wf_reg r = {.kind = WF_REG_EVERY};
	lua_Integer n = 0;
	int ok = 0;

	if (lua_type(L, 1) == LUA_TNUMBER)
		n = lua_tointegerx(L, 1, &ok);
	if (!ok || n < 1 || n > (lua_Integer)EVERY_MAX)
		return luaL_error(L, "atrium.every: interval must be a whole "
				     "number of seconds from 1 to %d",
				  (int)EVERY_MAX);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	need_phase(L, "every", 0);
	r.every = (unsigned)n;
	add_reg(L, &r, 2);
	return 0;
}

/* atrium.daily("HH:MM", fn) */
static int api_daily(lua_State *L)
{
	struct wf_reg r = {.kind = WF_REG_DAILY};
	size_t len = 0;
	const char *s = lua_type(L, 1) == LUA_TSTRING
			    ? lua_tolstring(L, 1, &len)
			    : "";
	int i;

	for (i = 0; i < 5 && len == 5; i++)
		if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
			break;
	if (len == 5 && i == 5) {
		r.hh = (s[0] - '0') * 10 + (s[1] - '0');
		r.mm = (s[3] - '0') * 10 + (s[4] - '0');
	}
	if (len != 5 || i != 5 || r.hh > 23 || r.mm > 59)
		return luaL_error(L, "atrium.daily: time must be \"HH:MM\" "
				     "from \"00:00\" to \"23:59\"");
	luaL_checktype(L, 2, LUA_TFUNCTION);
	need_phase(L, "daily", 0);
	add_reg(L, &r, 2);
	return 0;
}

/* ---- verdicts and logs -------------------------------------------- */

/* Log a misuse once per handler (flag in its warned bits). */
static void warn_once(lua_State *L, unsigned flag, const char *msg)
{
	struct wf_state *st = wf_state_of(L);
	char where[WF_WHERE_MAX];

	if (st->cur >= 0) {
		if (st->regs[st->cur].warned & flag)
			return;
		st->regs[st->cur].warned |= flag;
	}
	caller_where(L, where, sizeof(where));
	wf_log(st->gen, 2, where, "%s", msg);
}

/* atrium.deny([reason]): in a before_ handler, deny and stop the handler.
 * The deny sticks even if the script catches the error. */
static int api_deny(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);
	size_t len;
	const char *reason = luaL_optlstring(L, 1, NULL, &len);

	need_phase(L, "deny", 1);
	if (st->phase != WF_EVENT || !st->gen->events[st->event].before) {
		warn_once(L, WF_WARN_DENY,
			  "atrium.deny ignored: only before_ events can be "
			  "denied");
		return 0;
	}
	if (reason && len)
		wf_clean_text(st->reason, sizeof(st->reason), reason, len);
	else
		snprintf(st->reason, sizeof(st->reason), "%s",
			 WF_REASON_DENIED);
	st->denied = 1;
	lua_pushlightuserdata(L, (void *)(uintptr_t)&deny_key);
	return lua_error(L);
}

/* atrium.log(msg [, "debug"|"info"|"warn"|"error"]) */
static int api_log(lua_State *L)
{
	static const char *const levels[] = {"debug", "info", "warn", "error",
					     NULL};
	struct wf_state *st = wf_state_of(L);
	char where[WF_WHERE_MAX];
	size_t len;
	const char *msg;
	int level;

	luaL_checkany(L, 1);
	level = luaL_checkoption(L, 2, "info", levels);
	msg = luaL_tolstring(L, 1, &len);
	/* a top level runs again in every worker thread: log it once */
	if (st->phase == WF_LOAD && !st->scratch)
		return 0;
	if (++st->nlogs > LOG_LINES_PER_CALL) {
		if (st->nlogs == LOG_LINES_PER_CALL + 1) {
			caller_where(L, where, sizeof(where));
			wf_log(st->gen, 2, where,
			       "further atrium.log lines of this call dropped");
		}
		return 0;
	}
	caller_where(L, where, sizeof(where));
	wf_log(st->gen, level, where, "%.*s",
	       (int)(len > LOG_LINE_MAX ? LOG_LINE_MAX : len), msg);
	return 0;
}

/* ---- the host ----------------------------------------------------- */

/* A notification kind as the outbox takes it: 1 to 64 lowercase letters,
 * digits and '_'. */
static int valid_kind(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* atrium.notify{user_id=, kind=, ref=, data=, at=} -> outbox id */
static int api_notify(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);
	const struct wf_host *h = &st->gen->host;
	lua_Integer uid = 0, at = 0;
	const char *kind, *ref = NULL;
	size_t klen = 0, rlen = 0;
	char err[160];
	json_t *data = NULL;
	long long id;
	int ok = 0;

	need_phase(L, "notify", 1);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_getfield(L, 1, "user_id"); /* 2 */
	lua_getfield(L, 1, "kind");    /* 3 */
	lua_getfield(L, 1, "ref");     /* 4 */
	lua_getfield(L, 1, "data");    /* 5 */
	lua_getfield(L, 1, "at");      /* 6 */
	if (lua_type(L, 2) == LUA_TNUMBER)
		uid = lua_tointegerx(L, 2, &ok);
	if (!ok || uid < 1)
		return luaL_error(L, "atrium.notify: user_id must be a "
				     "positive integer");
	kind = lua_type(L, 3) == LUA_TSTRING ? lua_tolstring(L, 3, &klen)
					     : NULL;
	if (!kind || !valid_kind(kind, klen))
		return luaL_error(L, "atrium.notify: kind must be 1 to 64 "
				     "lowercase letters, digits and '_', like "
				     "\"appointment_reminder\"");
	if (!lua_isnil(L, 4)) {
		ref = lua_type(L, 4) == LUA_TSTRING
			  ? lua_tolstring(L, 4, &rlen)
			  : NULL;
		if (!ref || rlen > 200 || memchr(ref, '\0', rlen))
			return luaL_error(L, "atrium.notify: ref must be a "
					     "string of at most 200 bytes");
	}
	if (!lua_isnil(L, 6)) {
		ok = 0;
		if (lua_type(L, 6) == LUA_TNUMBER)
			at = lua_tointegerx(L, 6, &ok);
		if (!ok || at < 0)
			return luaL_error(L, "atrium.notify: at must be a "
					     "time from atrium.now()");
	}
	if (!h->notify)
		return luaL_error(L, "atrium.notify: notifications are not "
				     "available");
	if (!lua_isnil(L, 5)) {
		data = lua_type(L, 5) == LUA_TTABLE
			   ? wf_json_from_lua(L, 5, NULL, err, sizeof(err))
			   : NULL;
		if (!json_is_object(data)) {
			if (data || lua_type(L, 5) != LUA_TTABLE)
				snprintf(err, sizeof(err),
					 "must be a table with string keys");
			json_decref(data);
			return luaL_error(L, "atrium.notify: data: %s", err);
		}
	}
	st->nested_host++;
	id = h->notify(h->ud, (long long)uid, kind, ref, data, (time_t)at);
	st->nested_host--;
	json_decref(data);
	if (id <= 0)
		return luaL_error(L, "atrium.notify: the notification could "
				     "not be queued");
	lua_pushinteger(L, (lua_Integer)id);
	return 1;
}

/* Protected: push the lookup result (arg 1, light userdata). */
static int push_result(lua_State *L)
{
	json_t *r = lua_touserdata(L, 1);

	wf_json_push(L, r);
	return 1;
}

/* atrium.lookup(name [, args]) -> value or nil */
static int api_lookup(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);
	const struct wf_host *h = &st->gen->host;
	const char *name = luaL_checkstring(L, 1);
	char err[256] = "";
	json_t *args = NULL, *r;
	int rc;

	need_phase(L, "lookup", 1);
	lua_settop(L, 2);
	if (!lua_isnil(L, 2)) {
		args = wf_json_from_lua(L, 2, NULL, err, sizeof(err));
		if (!args)
			return luaL_error(L, "atrium.lookup: args: %s", err);
	}
	if (!h->lookup) {
		json_decref(args);
		return luaL_error(L, "atrium.lookup: '%s' is not available",
				  name);
	}
	st->nested_host++;
	r = h->lookup(h->ud, name, args, err, sizeof(err));
	st->nested_host--;
	json_decref(args);
	if (!r) {
		if (err[0]) {
			err[sizeof(err) - 1] = '\0';
			return luaL_error(L, "atrium.lookup('%s'): %s", name,
					  err);
		}
		lua_pushnil(L);
		return 1;
	}
	lua_pushcfunction(L, push_result);
	lua_pushlightuserdata(L, r);
	rc = lua_pcall(L, 1, 1, 0);
	json_decref(r);
	if (rc != LUA_OK)
		return lua_error(L);
	return 1;
}

/* Does the name of setting key (for "plugin.NAME.KEY", KEY) look like a
 * credential? Compared without case. */
static int secret_setting(const char *key)
{
	static const char *const words[] = {"secret", "password", "token",
					    "key", NULL};
	const char *name = key, *dot;
	const char *const *w;
	size_t i, n;

	if (strncmp(key, "plugin.", 7) == 0 &&
	    (dot = strchr(key + 7, '.')) != NULL)
		name = dot + 1;
	for (w = words; *w; w++) {
		n = strlen(*w);
		for (i = 0; name[i]; i++)
			if (strncasecmp(name + i, *w, n) == 0)
				return 1;
	}
	return 0;
}

/* atrium.setting(key) -> string or nil; nil too for a key whose name
 * contains "secret", "password", "token" or "key". */
static int api_setting(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);
	const struct wf_host *h = &st->gen->host;
	const char *key = luaL_checkstring(L, 1);
	const char *v = h->setting && !secret_setting(key)
			    ? h->setting(h->ud, key)
			    : NULL;

	if (v)
		lua_pushstring(L, v);
	else
		lua_pushnil(L);
	return 1;
}

/* atrium.now() -> UTC epoch seconds */
static int api_now(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)wf_gen_now(wf_state_of(L)->gen));
	return 1;
}

/* Call os.date (upvalue 1) with fmt and t (default now). */
static int call_date(lua_State *L, const char *fmt, int tidx)
{
	lua_Integer t = lua_isnoneornil(L, tidx)
			    ? (lua_Integer)wf_gen_now(wf_state_of(L)->gen)
			    : luaL_checkinteger(L, tidx);

	wf_budget_bytes(L, strlen(fmt)); /* strftime walks the format */
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushstring(L, fmt);
	lua_pushinteger(L, t);
	lua_call(L, 2, 1);
	return 1;
}

/* atrium.date([fmt [, t]]): os.date in the practice zone, t default now */
static int api_date(lua_State *L)
{
	return call_date(L, luaL_optstring(L, 1, "%c"), 2);
}

/* atrium.localtime([t]): the os.date("*t") table in the practice zone */
static int api_localtime(lua_State *L)
{
	return call_date(L, "*t", 1);
}

void wf_api_open(lua_State *L)
{
	static const luaL_Reg fns[] = {
	    {"on", api_on},         {"every", api_every},
	    {"daily", api_daily},   {"deny", api_deny},
	    {"log", api_log},       {"notify", api_notify},
	    {"lookup", api_lookup}, {"setting", api_setting},
	    {"now", api_now},       {NULL, NULL},
	};

	luaL_newlib(L, fns);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_getfield(L, -1, "os");
	lua_getfield(L, -1, "date");
	lua_pushvalue(L, -1);
	lua_pushcclosure(L, api_date, 1);
	lua_setfield(L, -5, "date");
	lua_pushcclosure(L, api_localtime, 1);
	lua_setfield(L, -4, "localtime");
	lua_pop(L, 2);
}
