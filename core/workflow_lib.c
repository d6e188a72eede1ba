/*
 * workflow_lib.c - the library functions of the sandbox that loop in C,
 * with that work charged to the budget of the call in progress.
 *
 * The count hook only runs between VM instructions, so a library function
 * that loops inside C would otherwise be free, however long it runs:
 * string.rep of an empty string a huge number of times, table.move over
 * nil slots, utf8.len of a long string called in a loop. Each function
 * here charges its work before or while it does it: one budget step per
 * WF_BYTES_PER_STEP (16) bytes it reads or writes, one per element or
 * value it loops over. Work of more steps than are left is refused before
 * it starts, and loops that may be long charge (and so look at the clock)
 * every CHUNK elements, which keeps the deadline too.
 *
 * string.rep, table.concat, table.insert, table.remove and select are
 * written here from the reference manual (their loops must charge as they
 * go); the others wrap the stock function (upvalue 1). Not here: the pattern
 * functions (workflow_pattern.c) and the coroutine functions
 * (workflow_sandbox.c).
 */
#include "workflow_int.h"

#include <limits.h>
#include <string.h>

#include <lauxlib.h>

/* Elements a long loop handles between two charges. */
#define CHUNK 4096
/* The longest string string.rep makes, as the stock function. */
#define REP_MAX ((size_t)INT_MAX)

/* Upvalue 2 of lib_range: the default end of the range. */
enum { TO_START, TO_END };
/* Upvalue 2 of lib_bytes: the arguments it checks before the stock
 * function runs, so that the usual errors name the function (the stock
 * function, called from C, would call itself '?'). */
enum { ANY = 0, S1 = 1, S2 = 2, INTS = 4, VALUE = 8, OPT_S1 = 16 };

/* Call the stock function (upvalue 1) with the arguments as they are and
 * return what it returns. */
static int call_stock(lua_State *L)
{
	int n = lua_gettop(L);

	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

/* One step per argument plus the bytes of the string arguments, then the
 * stock function: for functions whose work follows their input
 * (string.format, upper, lower, reverse, char, pack, unpack, packsize;
 * utf8.char, offset, codes (the whole iteration up front); tonumber;
 * os.date; table.pack). */
static int lib_bytes(lua_State *L)
{
	int n = lua_gettop(L), i;
	int check = (int)lua_tointeger(L, lua_upvalueindex(2));
	size_t bytes = 0, l;

	if (check & S1)
		luaL_checkstring(L, 1);
	if (check & S2)
		luaL_checkstring(L, 2);
	if (check & OPT_S1)
		luaL_optstring(L, 1, NULL);
	if (check & VALUE)
		luaL_checkany(L, 1);
	for (i = 1; (check & INTS) && i <= n; i++)
		luaL_checkinteger(L, i);

	for (i = 1; i <= n; i++)
		if (lua_type(L, i) == LUA_TSTRING) {
			lua_tolstring(L, i, &l);
			bytes += l;
		}
	wf_budget_tick(L, (unsigned long)n + bytes / WF_BYTES_PER_STEP);
	return call_stock(L);
}

/* Bytes s[i..j] covers in a string of len bytes (negative positions count
 * from the end, as string.sub and utf8.len read them). */
static size_t span(lua_Integer i, lua_Integer j, size_t len)
{
	lua_Integer l = (lua_Integer)len;

	if (i < 0)
		i = i < -l ? 1 : l + i + 1;
	else if (i == 0)
		i = 1;
	if (j < 0)
		j = j < -l ? 0 : l + j + 1;
	else if (j > l)
		j = l;
	return j >= i ? (size_t)(j - i) + 1 : 0;
}

/* string.sub, string.byte, utf8.len, utf8.codepoint: the bytes of the
 * range they cover, then a step per value returned. */
static int lib_range(lua_State *L)
{
	lua_Integer i, j;
	size_t len;
	int n;

	luaL_checklstring(L, 1, &len);
	i = luaL_optinteger(L, 2, 1);
	j = luaL_optinteger(L, 3,
			   lua_tointeger(L, lua_upvalueindex(2)) == TO_START
			       ? i
			       : -1);
	wf_budget_bytes(L, span(i, j, len));
	n = call_stock(L);
	wf_budget_tick(L, (unsigned long)n);
	return n;
}

/* string.rep(s, n [, sep]). The stock function loops n times even when
 * the result is empty; this one makes an empty result at once, and
 * builds any other by doubling what it wrote, charging the bytes. */
static int lib_rep(lua_State *L)
{
	size_t l, lsep, unit, total, done, k;
	const char *s = luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	const char *sep = luaL_optlstring(L, 3, "", &lsep);
	luaL_Buffer b;
	char *out;

	unit = l + lsep;
	if (n <= 0 || unit == 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	if (unit < l || unit > REP_MAX / (size_t)n)
		return luaL_error(L, "resulting string too large");
	total = (size_t)n * unit - lsep;
	out = luaL_buffinitsize(L, &b, total); /* the memory cap first */
	wf_budget_need(L, total / WF_BYTES_PER_STEP);
	memcpy(out, s, l);
	done = l;
	if (n > 1) {
		memcpy(out + l, sep, lsep);
		done = unit;
	}
	/* out holds whole "s sep" units: copying a prefix keeps the pattern,
	 * and the last, partial copy ends right after an s */
	while (done < total) {
		k = done < total - done ? done : total - done;
		memcpy(out + done, out, k);
		done += k;
		wf_budget_bytes(L, k);
	}
	luaL_pushresultsize(&b, total);
	return 1;
}

/* What need_table asks of a value that is not a table. */
enum { T_READ = 1, T_WRITE = 2, T_LEN = 4 };

/* The stock table functions take a table, or a value whose metatable has
 * the metamethods they use (__index to read, __newindex to write, __len
 * for the length); anything else is "table expected". */
static void need_table(lua_State *L, int arg, int what)
{
	static const char *const mm[] = {"__index", "__newindex", "__len"};
	int i, ok;

	if (lua_type(L, arg) == LUA_TTABLE)
		return;
	ok = lua_getmetatable(L, arg);
	for (i = 0; ok && i < 3; i++) {
		if (!(what & (1 << i)))
			continue;
		lua_pushstring(L, mm[i]);
		ok = lua_rawget(L, -2) != LUA_TNIL;
		lua_pop(L, 1);
	}
	if (ok) {
		lua_pop(L, 1);
		return;
	}
	luaL_checktype(L, arg, LUA_TTABLE);
}

/* Charge a loop of n elements about to run: refused up front when long
 * and over the budget. *pending counts elements not charged yet. */
static void loop_start(lua_State *L, lua_Unsigned n, unsigned long *pending)
{
	*pending = 0;
	if (n >= CHUNK)
		wf_budget_need(L, n > ULONG_MAX ? ULONG_MAX : (unsigned long)n);
}

static void loop_step(lua_State *L, unsigned long *pending)
{
	if (++*pending == CHUNK) {
		wf_budget_charge(L, *pending);
		*pending = 0;
	}
}

/* table.insert(list, [pos,] value) */
static int lib_insert(lua_State *L)
{
	lua_Integer e, pos, k;
	unsigned long pending;

	need_table(L, 1, T_READ | T_WRITE | T_LEN);
	/* the first empty slot, wrapping around as the stock function */
	e = (lua_Integer)((lua_Unsigned)luaL_len(L, 1) + 1u);
	switch (lua_gettop(L)) {
	case 2:
		pos = e;
		break;
	case 3:
		pos = luaL_checkinteger(L, 2);
		luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2,
			      "position out of bounds");
		loop_start(L, e > pos ? (lua_Unsigned)e - (lua_Unsigned)pos
				      : 0,
			   &pending);
		for (k = e; k > pos; k--) { /* list[k] = list[k - 1] */
			lua_geti(L, 1, k - 1);
			lua_seti(L, 1, k);
			loop_step(L, &pending);
		}
		wf_budget_tick(L, pending);
		break;
	default:
		return luaL_error(L, "wrong number of arguments to 'insert'");
	}
	lua_seti(L, 1, pos); /* the value, at the top */
	return 0;
}

/* table.remove(list [, pos]) */
static int lib_remove(lua_State *L)
{
	lua_Integer size, pos;
	unsigned long pending;

	need_table(L, 1, T_READ | T_WRITE | T_LEN);
	size = luaL_len(L, 1);
	pos = luaL_optinteger(L, 2, size);
	if (pos != size)
		luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size,
			      2, "position out of bounds");
	lua_geti(L, 1, pos); /* the result */
	loop_start(L,
		   size > pos ? (lua_Unsigned)size - (lua_Unsigned)pos : 0,
		   &pending);
	for (; pos < size; pos++) { /* list[pos] = list[pos + 1] */
		lua_geti(L, 1, pos + 1);
		lua_seti(L, 1, pos);
		loop_step(L, &pending);
	}
	lua_pushnil(L);
	lua_seti(L, 1, pos);
	wf_budget_tick(L, pending);
	return 1;
}

/* table.concat(list [, sep [, i [, j]]]): a step per element and the
 * bytes of the result. */
static int lib_concat(lua_State *L)
{
	lua_Integer i, last;
	unsigned long pending;
	size_t lsep, seen = 0, now;
	const char *sep;
	luaL_Buffer b;

	need_table(L, 1, T_READ | T_LEN);
	last = luaL_len(L, 1);
	sep = luaL_optlstring(L, 2, "", &lsep);
	i = luaL_optinteger(L, 3, 1);
	last = luaL_optinteger(L, 4, last);
	if (i > last) {
		lua_pushliteral(L, "");
		return 1;
	}
	loop_start(L, (lua_Unsigned)last - (lua_Unsigned)i, &pending);
	luaL_buffinit(L, &b);
	for (;;) {
		lua_geti(L, 1, i);
		if (!lua_isstring(L, -1))
			return luaL_error(L, "invalid value (%s) at index %I "
					     "in table for 'concat'",
					  luaL_typename(L, -1),
					  (LUAI_UACINT)i);
		luaL_addvalue(&b);
		if (i == last)
			break;
		luaL_addlstring(&b, sep, lsep);
		i++;
		if (pending + 1 == CHUNK) {
			now = luaL_bufflen(&b);
			wf_budget_bytes(L, now - seen);
			seen = now;
		}
		loop_step(L, &pending);
	}
	wf_budget_tick(L, pending);
	wf_budget_bytes(L, luaL_bufflen(&b) - seen);
	luaL_pushresult(&b);
	return 1;
}

/* table.move(a1, f, e, t [, a2]): the stock function in chunks, in the
 * direction it would take for the whole range, so overlapping moves stay
 * right and the clock is looked at between chunks. */
static int lib_move(lua_State *L)
{
	lua_Integer f = luaL_checkinteger(L, 2);
	lua_Integer e = luaL_checkinteger(L, 3);
	lua_Integer t = luaL_checkinteger(L, 4);
	int tt = lua_isnoneornil(L, 5) ? 1 : 5, forward;
	lua_Integer n, done, c, k;

	need_table(L, 1, T_READ);
	need_table(L, tt, T_WRITE);
	if (e < f)
		return call_stock(L);
	luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3,
		      "too many elements to move");
	n = e - f + 1;
	luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4,
		      "destination wrap around");
	if (n <= CHUNK) {
		wf_budget_tick(L, (unsigned long)n);
		return call_stock(L);
	}
	wf_budget_need(L, (unsigned long)n);
	forward = t > e || t <= f ||
		  (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ));
	for (done = 0; done < n; done += c) {
		c = n - done < CHUNK ? n - done : CHUNK;
		k = forward ? done : n - done - c;
		wf_budget_charge(L, (unsigned long)c);
		lua_pushvalue(L, lua_upvalueindex(1));
		lua_pushvalue(L, 1);
		lua_pushinteger(L, f + k);
		lua_pushinteger(L, f + k + c - 1);
		lua_pushinteger(L, t + k);
		if (tt != 1)
			lua_pushvalue(L, tt);
		lua_call(L, tt != 1 ? 5 : 4, 0);
	}
	lua_pushvalue(L, tt);
	return 1;
}

/* table.unpack(list [, i [, j]]): a step per value. More than the stack
 * holds (about a million) is refused by the stock function before it
 * loops. */
static int lib_unpack(lua_State *L)
{
	lua_Integer i = luaL_optinteger(L, 2, 1);
	lua_Integer e = lua_isnoneornil(L, 3) ? luaL_len(L, 1)
					      : luaL_checkinteger(L, 3);
	lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)i;

	if (i <= e && n < ((lua_Unsigned)1 << 20))
		wf_budget_tick(L, (unsigned long)n + 1);
	lua_settop(L, 1);
	lua_pushinteger(L, i);
	lua_pushinteger(L, e);
	return call_stock(L);
}

/* The comparison table.sort makes: a step each, then the script's
 * function (upvalue 1) or "<". */
static int sort_less(lua_State *L)
{
	wf_budget_tick(L, 1);
	if (lua_isnil(L, lua_upvalueindex(1))) {
		lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
		return 1;
	}
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 2, 1);
	return 1;
}

/* table.sort(list [, comp]) */
static int lib_sort(lua_State *L)
{
	need_table(L, 1, T_READ | T_WRITE | T_LEN);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_settop(L, 2);
	lua_pushcclosure(L, sort_less, 1);
	return call_stock(L);
}

/* select('#', ...) or select(n, ...), as the reference manual has it:
 * a step per value returned. */
static int lib_select(lua_State *L)
{
	lua_Integer n = lua_gettop(L), i;

	if (lua_type(L, 1) == LUA_TSTRING && *lua_tostring(L, 1) == '#') {
		lua_pushinteger(L, n - 1);
		return 1;
	}
	i = luaL_checkinteger(L, 1);
	if (i < 0)
		i = n + i;
	else if (i > n)
		i = n;
	luaL_argcheck(L, 1 <= i, 1, "index out of range");
	wf_budget_tick(L, (unsigned long)(n - i));
	return (int)(n - i);
}

static const struct wrap {
	const char *lib, *name;
	lua_CFunction fn;
	int arg; /* upvalue 2: TO_START/TO_END or what lib_bytes checks */
} wraps[] = {
    {"_G", "select", lib_select, 0},
    {"_G", "tonumber", lib_bytes, VALUE},
    {"string", "byte", lib_range, TO_START},
    {"string", "char", lib_bytes, INTS},
    {"string", "format", lib_bytes, S1},
    {"string", "lower", lib_bytes, S1},
    {"string", "pack", lib_bytes, S1},
    {"string", "packsize", lib_bytes, S1},
    {"string", "rep", lib_rep, 0},
    {"string", "reverse", lib_bytes, S1},
    {"string", "sub", lib_range, TO_END},
    {"string", "unpack", lib_bytes, S1 | S2},
    {"string", "upper", lib_bytes, S1},
    {"table", "concat", lib_concat, 0},
    {"table", "insert", lib_insert, 0},
    {"table", "move", lib_move, 0},
    {"table", "pack", lib_bytes, 0},
    {"table", "remove", lib_remove, 0},
    {"table", "sort", lib_sort, 0},
    {"table", "unpack", lib_unpack, 0},
    {"utf8", "char", lib_bytes, INTS},
    {"utf8", "codepoint", lib_range, TO_START},
    {"utf8", "codes", lib_bytes, S1},
    {"utf8", "len", lib_range, TO_END},
    {"utf8", "offset", lib_bytes, S1},
    {"os", "date", lib_bytes, OPT_S1},
    {NULL, NULL, NULL, 0},
};

void wf_lib_open(lua_State *L, const char *lib, int idx)
{
	const struct wrap *w;

	idx = lua_absindex(L, idx);
	for (w = wraps; w->lib; w++) {
		if (strcmp(w->lib, lib) != 0)
			continue;
		lua_getfield(L, idx, w->name);
		lua_pushinteger(L, w->arg);
		lua_pushcclosure(L, w->fn, 2);
		lua_setfield(L, idx, w->name);
	}
}
