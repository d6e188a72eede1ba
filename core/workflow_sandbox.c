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
 * The hook runs every `gran` VM instructions, and the clock is read there.
 * Work done in C between two hooks is bounded three ways: library
 * functions that loop charge their work (workflow_lib.c,
 * workflow_pattern.c); a growing allocation of 64 KiB or more looks at the
 * clock and fails once the deadline has passed; and while the state holds
 * big blocks (a long string, a deep stack, a large table) the hook period
 * shrinks, since one instruction (a comparison, a numeric coercion of a
 * string, a vararg copy) may then do work in proportion to their size.
 *
 * This file is not about generations or threads (workflow.c,
 * workflow_run.c) nor about what the atrium functions do (workflow_api.c).
 */
#include "workflow_int.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

/* Registry keys (their addresses). */
static const char base_key = 'b';      /* table: the globals every env copies */
static const char protected_key = 'p'; /* table: read-only table -> true */

/* The normal hook period, and the bytes of size-proportional work one
 * period may do while big blocks live (a numeric coercion of a digit
 * string runs at about 2 ns a byte: 4 MiB is under 10 ms). */
#define GRAN_MAX 1000
#define GRAN_BYTES ((size_t)4 << 20)
/* Memory blocks from this size on shorten the hook period. */
#define BIG_BLOCK ((size_t)16 << 10)
/* Growing allocations from this size on look at the clock. */
#define LATE_CHECK_BYTES ((size_t)64 << 10)
/* Non-string blocks weigh this much less than strings: copying stack
 * slots or walking a table is cheap per byte next to parsing digits. */
#define OTHER_WEIGHT 16

static void sb_hook(lua_State *L, lua_Debug *ar);
static int deadline_passed(const struct wf_state *st);

/* ---- the hook period ---------------------------------------------- */

static unsigned size_class(size_t n)
{
	unsigned c = 0;

	while (n >>= 1)
		c++;
	return c;
}

static size_t ptr_slot(const struct wf_big *b, uintptr_t p)
{
	uintptr_t h = p >> 4;

	h ^= h >> 17;
	h *= (uintptr_t)0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 7) & (b->cap - 1);
}

/* Put address p in the open-addressing table of b (no growing). */
static void strs_put(struct wf_big *b, uintptr_t p)
{
	size_t i = ptr_slot(b, p);

	while (b->strs[i])
		i = (i + 1) & (b->cap - 1);
	b->strs[i] = p;
}

/* Remember the address of big string p: 0, or -1 when out of memory (the
 * string then counts as another kind of block). */
static int strs_add(struct wf_big *b, uintptr_t p)
{
	uintptr_t *old = b->strs;
	size_t oldcap = b->cap, k;

	if (2 * (b->n + 1) > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->strs = calloc(b->cap, sizeof(*b->strs));
		if (!b->strs) {
			b->strs = old;
			b->cap = oldcap;
			return -1;
		}
		for (k = 0; k < oldcap; k++)
			if (old[k])
				strs_put(b, old[k]);
		free(old);
	}
	strs_put(b, p);
	b->n++;
	return 0;
}

/* Forget p if it is a big string: 1 when it was one. */
static int strs_remove(struct wf_big *b, uintptr_t p)
{
	size_t i, j, k;

	if (!b->n)
		return 0;
	for (i = ptr_slot(b, p); b->strs[i] != p; i = (i + 1) & (b->cap - 1))
		if (!b->strs[i])
			return 0;
	/* backward-shift deletion keeps every probe chain unbroken */
	b->strs[i] = 0;
	for (j = (i + 1) & (b->cap - 1); b->strs[j];
	     j = (j + 1) & (b->cap - 1)) {
		k = ptr_slot(b, b->strs[j]);
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && k <= i && k > j)) {
			b->strs[i] = b->strs[j];
			b->strs[j] = 0;
			i = j;
		}
	}
	b->n--;
	return 1;
}

/* The hook period for the big blocks now alive. */
static int period(const struct wf_state *st)
{
	size_t size = 0, s;
	int c;

	for (c = 63; c >= 0; c--)
		if (st->big.str[c]) {
			size = (size_t)2 << c;
			break;
		}
	for (c = 63; c >= 0; c--)
		if (st->big.other[c]) {
			s = ((size_t)2 << c) / OTHER_WEIGHT;
			size = s > size ? s : size;
			break;
		}
	if (size == 0 || GRAN_BYTES / size >= (size_t)st->gran_base)
		return st->gran_base;
	return GRAN_BYTES / size > 1 ? (int)(GRAN_BYTES / size) : 1;
}

/* Re-arm thread L with the current period if its own is longer, charging
 * the instructions its interrupted period may have run (at most that
 * period). Safe inside the allocator: lua_sethook only sets fields. */
static void shorten(struct wf_state *st, lua_State *L)
{
	int count = lua_gethookcount(L);

	if (count <= st->gran)
		return;
	if (st->stop == WF_STOP_NONE) {
		if ((unsigned long)count >= st->limit - st->used) {
			st->used = st->limit;
			st->stop = WF_STOP_INSTRUCTIONS;
		} else {
			st->used += (unsigned long)count;
		}
	}
	lua_sethook(L, sb_hook, LUA_MASKCOUNT,
		    st->stop == WF_STOP_NONE ? st->gran : 1);
}

/* A block of size n (a string when str) appears (+1) or goes (-1). */
static void big_note(struct wf_state *st, size_t n, int str, int delta)
{
	unsigned *cls = str ? st->big.str : st->big.other;
	int g;

	cls[size_class(n)] += (unsigned)delta;
	g = period(st);
	if (g == st->gran)
		return;
	st->gran = g;
	/* a shorter period takes effect at once in the running thread; the
	 * others get it when they run again (thread_switch) */
	if (delta > 0 && st->phase != WF_IDLE && st->running)
		shorten(st, st->running);
}

/* A growing allocation during a call once the deadline has passed (or the
 * budget is spent) fails, and the running thread stops at its next
 * instruction. */
static int too_late(struct wf_state *st)
{
	if (st->stop == WF_STOP_NONE && deadline_passed(st))
		st->stop = WF_STOP_DEADLINE;
	if (st->stop == WF_STOP_NONE)
		return 0;
	if (st->running)
		lua_sethook(st->running, sb_hook, LUA_MASKCOUNT, 1);
	return 1;
}

/* ---- memory ------------------------------------------------------- */

/* lua_Alloc with a hard cap: growing past st->mem_limit fails, and Lua then
 * raises a memory error (after one emergency collection). Shrinking never
 * fails, as Lua requires. A new object's osize is its type tag. */
static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct wf_state *st = ud;
	size_t old = ptr ? osize : 0;
	int str;
	uintptr_t was = (uintptr_t)ptr;
	void *p;

	if (nsize == 0) {
		if (old >= BIG_BLOCK)
			big_note(st, old, strs_remove(&st->big, was), -1);
		free(ptr);
		st->mem_used -= old;
		return NULL;
	}
	if (nsize > old && nsize - old > st->mem_limit - st->mem_used)
		return NULL;
	if (nsize > old && nsize >= LATE_CHECK_BYTES &&
	    st->phase != WF_IDLE && too_late(st))
		return NULL;
	p = realloc(ptr, nsize);
	if (!p)
		return nsize <= old ? ptr : NULL;
	st->mem_used = st->mem_used - old + nsize;
	if (old >= BIG_BLOCK)
		big_note(st, old, strs_remove(&st->big, was), -1);
	if (nsize >= BIG_BLOCK) {
		/* strings are never resized: one born big is one */
		str = !ptr && osize == LUA_TSTRING &&
		      strs_add(&st->big, (uintptr_t)p) == 0;
		big_note(st, nsize, str, +1);
	}
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
		if (n >= st->limit - st->used) {
			st->used = st->limit;
			st->stop = WF_STOP_INSTRUCTIONS;
		} else {
			st->used += n;
			if (deadline_passed(st))
				st->stop = WF_STOP_DEADLINE;
		}
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
	st->running = L;
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

static void budget_raise(lua_State *L, struct wf_state *st)
{
	lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
	luaL_error(L, "%s", stop_text(st));
}

void wf_budget_charge(lua_State *L, unsigned long steps)
{
	struct wf_state *st = wf_state_of(L);

	if (st->phase != WF_IDLE && budget_spend(st, steps))
		budget_raise(L, st);
}

void wf_budget_tick(lua_State *L, unsigned long steps)
{
	struct wf_state *st = wf_state_of(L);

	if (steps >= ULONG_MAX - st->ticks)
		steps = ULONG_MAX - st->ticks;
	st->ticks += steps;
	if (st->ticks >= 64) {
		steps = st->ticks;
		st->ticks = 0;
		wf_budget_charge(L, steps);
	}
}

void wf_budget_bytes(lua_State *L, size_t bytes)
{
	wf_budget_tick(L, (unsigned long)(bytes / WF_BYTES_PER_STEP));
}

void wf_budget_need(lua_State *L, unsigned long steps)
{
	struct wf_state *st = wf_state_of(L);

	if (st->phase == WF_IDLE)
		return;
	if (st->stop == WF_STOP_NONE) {
		if (steps < st->limit - st->used)
			return;
		st->used = st->limit;
		st->stop = WF_STOP_INSTRUCTIONS;
	}
	budget_raise(L, st);
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

/* ---- coroutines --------------------------------------------------- */

/* What resuming a coroutine costs on top of the instructions it runs: the
 * switch there and back is work in C the count hook does not see. */
#define RESUME_STEPS 16

/* The thread L hands the processor to coroutine co, or gets it back
 * (co == L): the state learns which thread runs, and the thread about to
 * run gets the current hook period if its own is longer (big blocks made
 * meanwhile). */
static void thread_switch(lua_State *L, lua_State *co)
{
	struct wf_state *st = wf_state_of(L);

	if (st->phase == WF_IDLE)
		return;
	st->running = co;
	shorten(st, co);
}

/* A coroutine co was just made: its first hook period, which would go
 * uncounted if it ends sooner, is charged now. */
static void thread_born(lua_State *L, lua_State *co)
{
	struct wf_state *st = wf_state_of(L);
	int count = lua_gethookcount(co);

	if (count > st->gran) {
		lua_sethook(co, sb_hook, LUA_MASKCOUNT, st->gran);
		count = st->gran;
	}
	wf_budget_charge(L, (unsigned long)count);
}

/* Once the budget is spent, creating or resuming a coroutine raises at
 * once, so a loop that keeps starting coroutines cannot stretch the end
 * of the call. */
static void co_guard(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);

	if (st->stop != WF_STOP_NONE)
		luaL_error(L, "%s", stop_text(st));
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

/* Call the stock function (upvalue 1) with the arguments as the function
 * that hands the processor to co; the state knows which thread runs (for
 * the hook period) whether the call returns or raises. */
static int co_run(lua_State *L, lua_State *co)
{
	int n = lua_gettop(L), rc;

	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	thread_switch(L, co);
	rc = lua_pcall(L, n, LUA_MULTRET, 0);
	thread_switch(L, L);
	if (rc != LUA_OK)
		return lua_error(L);
	return lua_gettop(L);
}

/* Resume co with the n values at the top of L, which are moved to co; its
 * results go to L. Returns how many, or -1 with an error object at the top
 * of L. Never raises (lua_resume does not), so the state always learns
 * that L runs again. */
static int co_resume(lua_State *L, lua_State *co, int n)
{
	int status, nres;

	if (!lua_checkstack(co, n)) {
		lua_pushliteral(L, "too many arguments to resume");
		return -1;
	}
	wf_budget_tick(L, RESUME_STEPS);
	lua_xmove(L, co, n);
	thread_switch(L, co);
	status = lua_resume(co, L, n, &nres);
	thread_switch(L, L);
	if (status != LUA_OK && status != LUA_YIELD) {
		lua_xmove(co, L, 1);
		return -1;
	}
	if (!lua_checkstack(L, nres + 1)) {
		lua_pop(co, nres);
		lua_pushliteral(L, "too many results to resume");
		return -1;
	}
	lua_xmove(co, L, nres);
	return nres;
}

/* Make the stock create (upvalue 1) build a coroutine running f (arg 1)
 * under sb_co_body, and charge its first hook period: a new thread starts
 * a fresh one, so a coroutine that ends sooner would be free. Leaves the
 * coroutine at the top. */
static lua_State *co_make(lua_State *L)
{
	lua_State *co;

	co_guard(L);
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	lua_pushcclosure(L, sb_co_body, 1);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 1, 1);
	co = lua_tothread(L, -1);
	if (!co)
		luaL_error(L, "coroutine.create did not make a coroutine");
	thread_born(L, co);
	return co;
}

/* coroutine.create(f) */
static int sb_co_create(lua_State *L)
{
	co_make(L);
	return 1;
}

/* coroutine.resume(co, ...) -> true, results | false, error */
static int sb_co_resume(lua_State *L)
{
	lua_State *co = lua_tothread(L, 1);
	int r;

	co_guard(L);
	luaL_argexpected(L, co, 1, "coroutine");
	r = co_resume(L, co, lua_gettop(L) - 1);
	lua_pushboolean(L, r >= 0);
	if (r < 0) {
		lua_insert(L, -2);
		return 2;
	}
	lua_insert(L, -(r + 1));
	return r + 1;
}

/* A function made by coroutine.wrap (upvalue 1: its coroutine): resumes
 * it and returns its results, or raises its error after closing its
 * pending to-be-closed variables, as the reference manual describes. */
static int sb_co_call(lua_State *L)
{
	lua_State *co = lua_tothread(L, lua_upvalueindex(1));
	int r, status;

	co_guard(L);
	r = co_resume(L, co, lua_gettop(L));
	if (r >= 0)
		return r;
	status = lua_status(co);
	if (status != LUA_OK && status != LUA_YIELD) {
		/* the error came from the coroutine: close it (its __close
		 * handlers run on it, and may raise another error) */
		thread_switch(L, co);
		status = lua_resetthread(co);
		thread_switch(L, L);
		lua_xmove(co, L, 1);
	}
	if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
		luaL_where(L, 1);
		lua_insert(L, -2);
		lua_concat(L, 2);
	}
	return lua_error(L);
}

/* coroutine.wrap(f) */
static int sb_co_wrap(lua_State *L)
{
	co_make(L);
	lua_pushcclosure(L, sb_co_call, 1);
	return 1;
}

/* coroutine.close(co) (upvalue 1: the stock one): runs co's pending
 * __close handlers on co. */
static int sb_co_close(lua_State *L)
{
	lua_State *co = lua_tothread(L, 1);

	luaL_argexpected(L, co, 1, "coroutine");
	return co_run(L, co);
}

static void co_field(lua_State *L, int idx, const char *name,
		     lua_CFunction fn)
{
	lua_getfield(L, idx, name);
	lua_pushcclosure(L, fn, 1);
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
	wf_lib_open(L, "_G", base);
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
	wf_lib_open(L, "string", lua_gettop(L));
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	wf_protect(L, -1);
	lua_pop(L, 2);
	make_proxy(L);
	lua_setfield(L, base, "string");

	open_lib(L, "table", luaopen_table);
	wf_lib_open(L, "table", lua_gettop(L));
	make_proxy(L);
	lua_setfield(L, base, "table");
	open_lib(L, "math", luaopen_math);
	make_proxy(L);
	lua_setfield(L, base, "math");
	open_lib(L, "utf8", luaopen_utf8);
	wf_lib_open(L, "utf8", lua_gettop(L));
	make_proxy(L);
	lua_setfield(L, base, "utf8");
	/* coroutines: a new thread inherits its creator's hook (lua_newthread
	 * copies hook, mask and count) and the main thread keeps the hook
	 * for the state's life, so every coroutine is budgeted; create and
	 * wrap (made on the stock create) run the body under a pcall
	 * (sb_co_body) and charge the new thread's first hook period;
	 * resume, the functions wrap returns and close tell the state which
	 * thread runs. */
	open_lib(L, "coroutine", luaopen_coroutine);
	lua_getfield(L, -1, "create");
	lua_pushcclosure(L, sb_co_wrap, 1);
	lua_setfield(L, -2, "wrap");
	co_field(L, lua_gettop(L), "create", sb_co_create);
	lua_pushcfunction(L, sb_co_resume);
	lua_setfield(L, -2, "resume");
	co_field(L, lua_gettop(L), "close", sb_co_close);
	make_proxy(L);
	lua_setfield(L, base, "coroutine");

	open_lib(L, "os", luaopen_os);
	lua_newtable(L);
	copy_fields(L, lua_gettop(L) - 1, lua_gettop(L), safe_os);
	wf_lib_open(L, "os", lua_gettop(L));
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

/* Where a failure without a position happened: the running
 * registration's "file.lua:LINE", or line 1 of the running file. */
static void default_where(const struct wf_state *st, char *buf, size_t len)
{
	char raw[WF_WHERE_MAX];

	if (st->cur >= 0)
		snprintf(raw, sizeof(raw), "%s:%d",
			 st->gen->files[st->regs[st->cur].r.file].name,
			 st->regs[st->cur].r.line);
	else
		snprintf(raw, sizeof(raw), "%s:1",
			 st->gen->files[st->file].name);
	wf_clean_text(buf, len, raw, strlen(raw));
}

/* Fill e from the outcome of a protected call (error value at the top). */
static void describe_failure(struct wf_state *st, int rc, struct wf_error *e)
{
	const char *msg = "";
	size_t len = 0, pos;

	if (st->denied) {
		e->kind = WF_FAIL_DENY;
		default_where(st, e->where, sizeof(e->where));
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
		default_where(st, e->where, sizeof(e->where));
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
	st->ticks = 0;
	st->serial++;
	st->running = st->L;
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
		  lua_CFunction fn, void *arg, struct wf_error *e)
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
	st->running = NULL;
	if (rc == LUA_OK && !st->denied && st->stop == WF_STOP_NONE) {
		lua_settop(L, top);
		return 0;
	}
	/* A spent budget fails the call even when the script caught every
	 * error (say, the budget ran out inside a coroutine). */
	if (rc == LUA_OK)
		lua_pushnil(L);
	describe_failure(st, rc, e);
	lua_settop(L, top);
	/* A call stopped halfway may leave much garbage, and the buffers of
	 * the string functions grow without the emergency collection Lua's
	 * own allocations get: collect now rather than fail the next call. */
	if (st->mem_used > st->mem_limit / 2)
		lua_gc(L, LUA_GCCOLLECT);
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
	st->gran_base = st->limit < GRAN_MAX ? (int)st->limit : GRAN_MAX;
	st->gran = st->gran_base;
	st->L = lua_newstate(sb_alloc, st);
	if (!st->L)
		goto fail;
	/* The hook stays for the state's life: it does nothing while the
	 * state is idle, and new coroutines inherit it. */
	lua_sethook(st->L, sb_hook, LUA_MASKCOUNT, st->gran);
	lua_pushcfunction(st->L, sb_setup);
	if (lua_pcall(st->L, 0, 0, 0) != LUA_OK)
		goto fail;
	if (!scratch)
		wf_gen_ref(gen);
	return st;
fail:
	if (st->L)
		lua_close(st->L);
	free(st->big.strs);
	free(st);
	return NULL;
}

void wf_state_free(struct wf_state *st)
{
	if (!st)
		return;
	lua_close(st->L);
	if (!st->scratch)
		wf_gen_unref(st->gen);
	free(st->big.strs);
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
	int n0 = st->nregs, i;

	st->cur = -1;
	if (wf_state_call(st, WF_LOAD, file, load_body, NULL, e) == 0)
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
