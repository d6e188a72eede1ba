/*
 * workflow_sandbox.c - one sandboxed lua_State of the workflow engine.
 *
 * A state has its own counting allocator (a hard memory cap), a count hook
 * that enforces the instruction budget and wall-clock deadline of the call
 * in progress, and a frozen set of globals: each script file gets a fresh
 * environment table filled from that set, where the shared library tables
 * (string, table, math, utf8, coroutine, os, atrium) are read-only proxies.
 * Whatever a script does, every Lua call made here is protected, so a
 * script error can never reach lua_atpanic.
 *
 * This file is not about generations or threads (workflow.c,
 * workflow_run.c) nor about what the atrium functions do (workflow_api.c).
 */
#include "workflow_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

/* Registry keys (their addresses). */
static const char base_key = 'b';      /* table: the globals every env copies */
static const char protected_key = 'p'; /* table: read-only table -> true */

/* ---- memory ------------------------------------------------------- */

/* lua_Alloc with a hard cap: growing past st->mem_limit fails, and Lua then
 * raises a memory error (after one emergency collection). Shrinking never
 * fails, as Lua requires. */
static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct wf_state *st = ud;
	size_t old = ptr ? osize : 0;
	void *p;

	if (nsize == 0) {
		free(ptr);
		st->mem_used -= old;
		return NULL;
	}
	if (nsize > old && nsize - old > st->mem_limit - st->mem_used)
		return NULL;
	p = realloc(ptr, nsize);
	if (!p)
		return nsize <= old ? ptr : NULL;
	st->mem_used = st->mem_used - old + nsize;
	return p;
}

struct wf_state *wf_state_of(lua_State *L)
{
	void *ud = NULL;

	lua_getallocf(L, &ud);
	return ud;
}

/* ---- budget ------------------------------------------------------- */

static int deadline_passed(const struct wf_state *st)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec != st->deadline.tv_sec)
		return now.tv_sec > st->deadline.tv_sec;
	return now.tv_nsec >= st->deadline.tv_nsec;
}

static const char *stop_text(const struct wf_state *st)
{
	return st->stop == WF_STOP_DEADLINE ? "time limit exceeded"
					    : "instruction budget exceeded";
}

/* Count n more steps of the call in progress; non-zero once its
 * instruction budget or its deadline is spent. */
static int budget_spend(struct wf_state *st, unsigned long n)
{
	if (st->stop == WF_STOP_NONE) {
		st->used += n;
		if (st->used >= st->limit)
			st->stop = WF_STOP_INSTRUCTIONS;
		else if (deadline_passed(st))
			st->stop = WF_STOP_DEADLINE;
	}
	return st->stop != WF_STOP_NONE;
}

/* The count hook, on every thread of the state (coroutines inherit it from
 * the thread that creates them). Once the budget or deadline is spent it
 * raises, and re-arms itself with a period of one instruction, so a script
 * that catches the error gets one instruction before the next one: the
 * failure reaches the outermost call whatever pcall nesting it meets. */
static void sb_hook(lua_State *L, lua_Debug *ar)
{
	struct wf_state *st = wf_state_of(L);
	int count = lua_gethookcount(L);

	if (st->phase == WF_IDLE)
		return;
	if (!budget_spend(st, (unsigned long)count)) {
		if (count != st->gran)
			lua_sethook(L, sb_hook, LUA_MASKCOUNT, st->gran);
		return;
	}
	if (count != 1)
		lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
	if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
		lua_pushfstring(L, "%s:%d: %s", ar->short_src,
				ar->currentline, stop_text(st));
	else
		lua_pushstring(L, stop_text(st));
	lua_error(L);
}

void wf_budget_charge(lua_State *L, unsigned long steps)
{
	struct wf_state *st = wf_state_of(L);

	if (st->phase == WF_IDLE || !budget_spend(st, steps))
		return;
	lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
	luaL_error(L, "%s", stop_text(st));
}

/* ---- read-only tables --------------------------------------------- */

static int is_protected(lua_State *L, int idx)
{
	int r;

	idx = lua_absindex(L, idx);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &protected_key);
	lua_pushvalue(L, idx);
	r = lua_rawget(L, -2) != LUA_TNIL;
	lua_pop(L, 2);
	return r;
}

void wf_protect(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &protected_key);
	lua_pushvalue(L, idx);
	lua_pushboolean(L, 1);
	lua_rawset(L, -3);
	lua_pop(L, 1);
}

static int sb_readonly(lua_State *L)
{
	return luaL_error(L, "attempt to modify a read-only table");
}

/* Replace the table at the top with an empty proxy that reads through to it
 * and refuses writes; its metatable is hidden (__metatable = false). */
static void make_proxy(lua_State *L)
{
	lua_newtable(L);          /* real proxy */
	lua_createtable(L, 0, 3); /* real proxy mt */
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, sb_readonly);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_remove(L, -2);
	wf_protect(L, -1);
}

/* setmetatable without the hazards: no __gc (finalizers run with hooks
 * off, outside any budget), and never on a protected table. */
static int sb_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2,
			 "nil or table");
	if (is_protected(L, 1))
		return luaL_error(L, "cannot change a protected metatable");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "__gc metamethods are not "
					     "available in workflow scripts");
		lua_pop(L, 1);
	}
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

static int sb_rawset(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	luaL_checkany(L, 3);
	if (is_protected(L, 1))
		return luaL_error(L, "attempt to modify a read-only table");
	lua_settop(L, 3);
	lua_rawset(L, 1);
	return 1;
}

/* The message handler given to xpcall, around the script's own. An error
 * raised by the budget hook reaches the message handler while Lua still
 * has hooks switched off for that thread (they come back when the error is
 * caught), so a script's handler would run unbudgeted: once the budget is
 * spent, the error passes through untouched instead. */
static int sb_xpcall_msgh(lua_State *L)
{
	if (wf_state_of(L)->stop != WF_STOP_NONE)
		return 1;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

static int sb_xpcall_done(lua_State *L, int status, lua_KContext nargs)
{
	(void)status;
	return lua_gettop(L) - (int)nargs;
}

/* xpcall(f, msgh, ...) through the stock xpcall (upvalue 1). */
static int sb_xpcall(lua_State *L)
{
	int n = lua_gettop(L), i;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	luaL_checkstack(L, n + 3, "too many arguments");
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, sb_xpcall_msgh, 1);
	for (i = 3; i <= n; i++)
		lua_pushvalue(L, i);
	lua_callk(L, n, LUA_MULTRET, n, sb_xpcall_done);
	return sb_xpcall_done(L, LUA_OK, n);
}

/* Around coroutine.create, wrap and resume (upvalue 1): once the budget
 * is spent they raise at once, so a loop that keeps starting coroutines
 * (each counting on its own) cannot stretch the end of the call. */
static int sb_budget_guard(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);

	if (st->stop != WF_STOP_NONE)
		return luaL_error(L, "%s", stop_text(st));
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

static void guard_field(lua_State *L, int idx, const char *name)
{
	lua_getfield(L, idx, name);
	lua_pushcclosure(L, sb_budget_guard, 1);
	lua_setfield(L, idx, name);
}

/* The body of every script coroutine: the script's function (upvalue 1)
 * under a yieldable pcall, its error raised again from here. A budget
 * error thrown by the hook leaves hooks switched off on its thread until a
 * pcall there catches it; without this catch a coroutine killed by the
 * budget would stay hook-less, and closing it (coroutine.close, or wrap on
 * error) would run its __close handlers with no budget at all. */
static int sb_co_done(lua_State *L, int status, lua_KContext ctx)
{
	(void)ctx;
	if (status != LUA_OK && status != LUA_YIELD)
		return lua_error(L);
	return lua_gettop(L);
}

static int sb_co_body(lua_State *L)
{
	int n = lua_gettop(L);

	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	return sb_co_done(L, lua_pcallk(L, n, LUA_MULTRET, 0, 0, sb_co_done),
			  0);
}

/* coroutine.create / coroutine.wrap (upvalue 1) with the body above. */
static int sb_co_make(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	lua_pushcclosure(L, sb_co_body, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 1, 1);
	return 1;
}

static void trampoline_field(lua_State *L, int idx, const char *name)
{
	lua_getfield(L, idx, name);
	lua_pushcclosure(L, sb_co_make, 1);
	lua_setfield(L, idx, name);
}

/* ---- the frozen globals ------------------------------------------- */

/* Taken as they are from the base library; setmetatable, rawset and xpcall
 * are wrapped below; load, dofile, loadfile, require, collectgarbage,
 * print and warn are left out. */
static const char *const safe_base[] = {
    "assert",   "error",  "getmetatable", "ipairs",   "next",
    "pairs",    "pcall",  "rawequal",     "rawget",   "rawlen",
    "select",   "tonumber", "tostring",   "type",     "_VERSION",
    NULL,
};

static const char *const safe_os[] = {"time", "clock", "date", "difftime",
				      NULL};

/* Copy names from the table at src into the table at dst. */
static void copy_fields(lua_State *L, int src, int dst,
			const char *const *names)
{
	for (; *names; names++) {
		lua_getfield(L, src, *names);
		lua_setfield(L, dst, *names);
	}
}

/* Open a library, leave its table at the top. */
static void open_lib(lua_State *L, const char *name, lua_CFunction open)
{
	luaL_requiref(L, name, open, 0);
}

/* Protected: build the registry's base table and protections. */
static int sb_setup(lua_State *L)
{
	int G, base;

	lua_newtable(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &protected_key);

	open_lib(L, "_G", luaopen_base);
	G = lua_gettop(L);
	lua_newtable(L);
	base = lua_gettop(L);
	copy_fields(L, G, base, safe_base);
	lua_pushcfunction(L, sb_setmetatable);
	lua_setfield(L, base, "setmetatable");
	lua_pushcfunction(L, sb_rawset);
	lua_setfield(L, base, "rawset");
	lua_getfield(L, G, "xpcall");
	lua_pushcclosure(L, sb_xpcall, 1);
	lua_setfield(L, base, "xpcall");

	/* string: no dump; budgeted patterns; hidden metatable */
	open_lib(L, "string", luaopen_string);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	wf_pattern_open(L, lua_gettop(L));
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	wf_protect(L, -1);
	lua_pop(L, 2);
	make_proxy(L);
	lua_setfield(L, base, "string");

	open_lib(L, "table", luaopen_table);
	make_proxy(L);
	lua_setfield(L, base, "table");
	open_lib(L, "math", luaopen_math);
	make_proxy(L);
	lua_setfield(L, base, "math");
	open_lib(L, "utf8", luaopen_utf8);
	make_proxy(L);
	lua_setfield(L, base, "utf8");
	/* coroutines: a new thread inherits its creator's hook (lua_newthread
	 * copies hook, mask and count) and the main thread keeps the hook
	 * for the state's life, so every coroutine is budgeted; create and
	 * wrap run the body under a pcall (sb_co_body) and, like resume,
	 * refuse once the budget is spent. */
	open_lib(L, "coroutine", luaopen_coroutine);
	trampoline_field(L, lua_gettop(L), "create");
	trampoline_field(L, lua_gettop(L), "wrap");
	guard_field(L, lua_gettop(L), "create");
	guard_field(L, lua_gettop(L), "wrap");
	guard_field(L, lua_gettop(L), "resume");
	make_proxy(L);
	lua_setfield(L, base, "coroutine");

	open_lib(L, "os", luaopen_os);
	lua_newtable(L);
	copy_fields(L, lua_gettop(L) - 1, lua_gettop(L), safe_os);
	make_proxy(L);
	lua_setfield(L, base, "os");
	lua_pop(L, 1);

	wf_api_open(L);
	make_proxy(L);
	lua_setfield(L, base, "atrium");

	lua_pushvalue(L, base);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &base_key);

	/* Nothing needs the real globals any more: empty them, so no
	 * function that defaults to them can hand them out. */
	lua_pushnil(L);
	while (lua_next(L, G)) {
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_pushnil(L);
		lua_rawset(L, G);
	}
	return 0;
}

/* ---- errors ------------------------------------------------------- */

/* Length of the "file.lua:12" prefix of "file.lua:12: message", or 0. */
static size_t position_len(const char *s)
{
	const char *p;

	for (p = s; *p && *p != '\n'; p++) {
		const char *d = p + 1;

		if (*p != ':' || p == s)
			continue;
		while (*d >= '0' && *d <= '9')
			d++;
		if (d > p + 1 && d[0] == ':' && d[1] == ' ')
			return (size_t)(d - s);
	}
	return 0;
}

/* Message handler: give every error a "file.lua:LINE:" position (the
 * innermost Lua frame) and turn non-string errors into text. A deny or a
 * spent budget passes through untouched. */
static int sb_msgh(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);
	const char *msg;
	lua_Debug ar;
	int level;

	if (st->denied || st->stop != WF_STOP_NONE)
		return 1;
	switch (lua_type(L, 1)) {
	case LUA_TSTRING:
		msg = lua_tostring(L, 1);
		if (position_len(msg))
			return 1;
		break;
	case LUA_TNUMBER:
		msg = lua_tostring(L, 1);
		break;
	default:
		msg = lua_pushfstring(L, "error object is a %s value",
				      luaL_typename(L, 1));
		break;
	}
	for (level = 1; lua_getstack(L, level, &ar); level++) {
		if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
			lua_pushfstring(L, "%s:%d: %s", ar.short_src,
					ar.currentline, msg);
			return 1;
		}
	}
	lua_pushstring(L, msg);
	return 1;
}

static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned hi = c == 0xed ? 0x9f : 0xbf;

		return n >= 3 && p[1] >= lo && p[1] <= hi &&
			       (p[2] & 0xc0) == 0x80
			   ? 3
			   : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned hi = c == 0xf4 ? 0x8f : 0xbf;

		return n >= 4 && p[1] >= lo && p[1] <= hi &&
			       (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80
			   ? 4
			   : 0;
	}
	return 0;
}

void wf_clean_text(char *out, size_t outlen, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;

	if (outlen == 0)
		return;
	while (i < len) {
		size_t n = utf8_len(p + i, len - i);

		if (n == 0) {
			if (o + 1 >= outlen)
				break;
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + n >= outlen)
			break;
		if (n == 1 && (p[i] < 0x20 || p[i] == 0x7f))
			out[o++] = ' ';
		else
			memcpy(out + o, p + i, n), o += n;
		i += n;
	}
	out[o] = '\0';
}

/* Fill e from the outcome of a protected call (error value at the top). */
static void describe_failure(struct wf_state *st, int rc,
			     const char *dflt_where, struct wf_error *e)
{
	const char *msg = "";
	size_t len = 0, pos;

	if (st->denied) {
		e->kind = WF_FAIL_DENY;
		wf_clean_text(e->where, sizeof(e->where), dflt_where,
			      strlen(dflt_where));
		return;
	}
	if (lua_type(st->L, -1) == LUA_TSTRING)
		msg = lua_tolstring(st->L, -1, &len);
	pos = position_len(msg);
	if (pos && pos < sizeof(e->where)) {
		wf_clean_text(e->where, sizeof(e->where), msg, pos);
		msg += pos + 2;
		len -= pos + 2;
	} else {
		wf_clean_text(e->where, sizeof(e->where), dflt_where,
			      strlen(dflt_where));
	}
	if (st->stop != WF_STOP_NONE) {
		e->kind = WF_FAIL_BUDGET;
		if (st->stop == WF_STOP_DEADLINE)
			snprintf(e->msg, sizeof(e->msg),
				 "time limit exceeded (%u ms)",
				 st->gen->lim.deadline_ms);
		else
			snprintf(e->msg, sizeof(e->msg),
				 "instruction budget exceeded (%lu)",
				 st->limit);
	} else if (rc == LUA_ERRMEM || strstr(msg, "not enough memory")) {
		e->kind = WF_FAIL_MEMORY;
		snprintf(e->msg, sizeof(e->msg),
			 "memory limit exceeded (%zu KiB)",
			 st->mem_limit >> 10);
	} else {
		e->kind = WF_FAIL_ERROR;
		wf_clean_text(e->msg, sizeof(e->msg), msg, len);
		if (!e->msg[0])
			snprintf(e->msg, sizeof(e->msg), "error");
	}
}

/* ---- calls -------------------------------------------------------- */

static void budget_begin(struct wf_state *st, enum wf_phase phase, int file)
{
	unsigned ms = st->gen->lim.deadline_ms;

	st->phase = phase;
	st->file = file;
	st->used = 0;
	st->stop = WF_STOP_NONE;
	st->denied = 0;
	st->reason[0] = '\0';
	st->nlogs = 0;
	clock_gettime(CLOCK_MONOTONIC, &st->deadline);
	st->deadline.tv_sec += ms / 1000;
	st->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (st->deadline.tv_nsec >= 1000000000L) {
		st->deadline.tv_sec++;
		st->deadline.tv_nsec -= 1000000000L;
	}
	lua_sethook(st->L, sb_hook, LUA_MASKCOUNT, st->gran);
}

int wf_state_call(struct wf_state *st, enum wf_phase phase, int file,
		  lua_CFunction fn, void *arg, const char *dflt_where,
		  struct wf_error *e)
{
	lua_State *L = st->L;
	int top = lua_gettop(L), rc;

	e->kind = WF_OK;
	e->where[0] = e->msg[0] = '\0';
	lua_pushcfunction(L, sb_msgh);
	lua_pushcfunction(L, fn);
	lua_pushlightuserdata(L, arg);
	budget_begin(st, phase, file);
	rc = lua_pcall(L, 1, 0, top + 1);
	st->phase = WF_IDLE;
	if (rc == LUA_OK && !st->denied && st->stop == WF_STOP_NONE) {
		lua_settop(L, top);
		return 0;
	}
	/* A spent budget fails the call even when the script caught every
	 * error (say, the budget ran out inside a coroutine). */
	if (rc == LUA_OK)
		lua_pushnil(L);
	describe_failure(st, rc, dflt_where, e);
	lua_settop(L, top);
	/* After running out of memory the state may stay too full to work
	 * (script globals that grow): its owner rebuilds it. */
	if (e->kind == WF_FAIL_MEMORY)
		st->poisoned = 1;
	return -1;
}

struct wf_state *wf_state_new(struct wf_gen *gen, int scratch)
{
	struct wf_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->gen = gen;
	st->scratch = scratch;
	st->cur = -1;
	st->mem_limit = gen->lim.memory;
	st->limit = gen->lim.instructions;
	st->gran = st->limit < 1000 ? (int)st->limit : 1000;
	st->L = lua_newstate(sb_alloc, st);
	if (!st->L) {
		free(st);
		return NULL;
	}
	/* The hook stays for the state's life: it does nothing while the
	 * state is idle, and new coroutines inherit it. */
	lua_sethook(st->L, sb_hook, LUA_MASKCOUNT, st->gran);
	lua_pushcfunction(st->L, sb_setup);
	if (lua_pcall(st->L, 0, 0, 0) != LUA_OK) {
		lua_close(st->L);
		free(st);
		return NULL;
	}
	if (!scratch)
		wf_gen_ref(gen);
	return st;
}

void wf_state_free(struct wf_state *st)
{
	if (!st)
		return;
	lua_close(st->L);
	if (!st->scratch)
		wf_gen_unref(st->gen);
	free(st->regs);
	free(st->by_event);
	free(st->ev_start);
	free(st);
}

/* Protected: compile the current file and run its top level in a fresh
 * environment filled from the base table. */
static int load_body(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);
	const struct wf_file *f = &st->gen->files[st->file];
	int fn, env;

	lua_pushfstring(L, "@%s", f->name);
	if (luaL_loadbufferx(L, f->src, f->len, lua_tostring(L, -1), "t") !=
	    LUA_OK)
		return lua_error(L);
	fn = lua_gettop(L);
	lua_newtable(L);
	env = lua_gettop(L);
	lua_rawgetp(L, LUA_REGISTRYINDEX, &base_key);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, env);
	}
	lua_pop(L, 1);
	lua_pushvalue(L, env);
	lua_setfield(L, env, "_G");
	if (!lua_setupvalue(L, fn, 1)) /* _ENV */
		return luaL_error(L, "chunk without an environment");
	lua_call(L, 0, 0);
	return 0;
}

int wf_state_load(struct wf_state *st, int file, struct wf_error *e)
{
	char dflt[WF_WHERE_MAX];
	int n0 = st->nregs, i;

	snprintf(dflt, sizeof(dflt), "%s:1", st->gen->files[file].name);
	if (wf_state_call(st, WF_LOAD, file, load_body, NULL, dflt, e) == 0)
		return 0;
	for (i = n0; i < st->nregs; i++)
		luaL_unref(st->L, LUA_REGISTRYINDEX, st->regs[i].ref);
	st->nregs = n0;
	return -1;
}

int wf_state_index(struct wf_state *st)
{
	int n = st->gen->nevents, i;
	int *fill;

	free(st->by_event);
	free(st->ev_start);
	st->by_event = malloc(sizeof(int) * (size_t)(st->nregs + 1));
	st->ev_start = calloc((size_t)n + 2, sizeof(int));
	fill = calloc((size_t)n + 1, sizeof(int));
	if (!st->by_event || !st->ev_start || !fill)
		goto fail;
	for (i = 0; i < st->nregs; i++)
		if (st->regs[i].r.kind == WF_REG_ON)
			st->ev_start[st->regs[i].r.event + 1]++;
	for (i = 0; i < n; i++)
		st->ev_start[i + 1] += st->ev_start[i];
	for (i = 0; i < st->nregs; i++) {
		int ev = st->regs[i].r.event;

		if (st->regs[i].r.kind == WF_REG_ON)
			st->by_event[st->ev_start[ev] + fill[ev]++] = i;
	}
	free(fill);
	return 0;
fail:
	free(fill);
	free(st->by_event);
	free(st->ev_start);
	st->by_event = st->ev_start = NULL;
	return -1;
}
