/*
 * workflow_json.c - JSON values into Lua and back, for event payloads,
 * notification data and lookups.
 *
 * Objects become tables with string keys, arrays become sequences (1..n),
 * null becomes nil (so a null inside an array is a hole). Back to JSON a
 * table is an array when its keys are exactly 1..n and an object when they
 * are all strings; an empty table takes the shape of the value it replaces
 * (object by default). Strings must be UTF-8 without NUL bytes, numbers
 * finite, nesting bounded (which also stops cycles).
 *
 * Going back never raises a Lua error: it only uses API calls that do not
 * allocate, so a half-built JSON tree is never stranded by a longjmp (a
 * handler's ev proxy is filled in first under a pcall, wf_ev_fields). This
 * file does not decide which fields a script may change (workflow_run.c).
 */
#include "workflow_int.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#define JSON_MAX_DEPTH 64
#define JSON_MAX_NODES 100000

static void push_rec(lua_State *L, json_t *j, int depth)
{
	size_t i, n;
	void *it;

	if (depth > JSON_MAX_DEPTH)
		luaL_error(L, "value nested too deeply");
	luaL_checkstack(L, 3, "value nested too deeply");
	switch (j ? json_typeof(j) : JSON_NULL) {
	case JSON_OBJECT:
		n = json_object_size(j);
		lua_createtable(L, 0, n > INT_MAX ? INT_MAX : (int)n);
		for (it = json_object_iter(j); it;
		     it = json_object_iter_next(j, it)) {
			lua_pushlstring(L, json_object_iter_key(it),
					json_object_iter_key_len(it));
			push_rec(L, json_object_iter_value(it), depth + 1);
			lua_rawset(L, -3);
		}
		break;
	case JSON_ARRAY:
		n = json_array_size(j);
		lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
		for (i = 0; i < n; i++) {
			push_rec(L, json_array_get(j, i), depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(j));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(j));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		lua_pushboolean(L, json_is_true(j));
		break;
	case JSON_NULL:
		lua_pushnil(L);
		break;
	}
}

void wf_json_push(lua_State *L, json_t *j)
{
	push_rec(L, j, 0);
}

/* ---- equality ----------------------------------------------------- */

static int eq_rec(lua_State *L, int idx, const json_t *j, int depth);

static size_t object_nonnull(const json_t *j)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)(uintptr_t)j, k, v)
	{
		(void)k;
		n += !json_is_null(v);
	}
	return n;
}

static size_t array_nonnull(const json_t *j)
{
	size_t i, n = 0;

	for (i = 0; i < json_array_size(j); i++)
		n += !json_is_null(json_array_get(j, i));
	return n;
}

/* Table at idx against an object or array: every Lua entry must match and
 * the counts agree (nulls have no Lua entry). */
static int eq_table(lua_State *L, int idx, const json_t *j, int depth)
{
	size_t count = 0;
	int ok = 1;

	if (!lua_checkstack(L, 3))
		return 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const json_t *v = NULL;

		if (json_is_object(j) && lua_type(L, -2) == LUA_TSTRING) {
			size_t kl;
			const char *k = lua_tolstring(L, -2, &kl);

			v = json_object_getn(j, k, kl);
		} else if (json_is_array(j) && lua_isinteger(L, -2)) {
			lua_Integer k = lua_tointeger(L, -2);

			if (k >= 1 && (size_t)k <= json_array_size(j))
				v = json_array_get(j, (size_t)k - 1);
		}
		ok = v && eq_rec(L, -1, v, depth + 1);
		count++;
		lua_pop(L, 1);
		if (!ok) {
			lua_pop(L, 1);
			return 0;
		}
	}
	return count ==
	       (json_is_object(j) ? object_nonnull(j) : array_nonnull(j));
}

static int eq_rec(lua_State *L, int idx, const json_t *j, int depth)
{
	int t = lua_type(L, idx);
	size_t n;
	const char *s;

	idx = lua_absindex(L, idx);
	if (!j || json_is_null(j))
		return t == LUA_TNIL;
	if (depth > JSON_MAX_DEPTH)
		return 0;
	switch (t) {
	case LUA_TBOOLEAN:
		return json_is_boolean(j) &&
		       !lua_toboolean(L, idx) == !json_is_true(j);
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			lua_Integer i = lua_tointeger(L, idx);

			if (json_is_integer(j))
				return json_integer_value(j) == i;
			return json_is_real(j) &&
			       (double)i == json_real_value(j);
		}
		if (json_is_real(j))
			return lua_tonumber(L, idx) == json_real_value(j);
		return json_is_integer(j) &&
		       lua_tonumber(L, idx) == (double)json_integer_value(j);
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &n);
		return json_is_string(j) && n == json_string_length(j) &&
		       memcmp(s, json_string_value(j), n) == 0;
	case LUA_TTABLE:
		if (!json_is_object(j) && !json_is_array(j))
			return 0;
		/* a table with a metatable (a handler's ev proxy, say) may
		 * hold more than its raw entries: call it changed, and let
		 * the conversion decide */
		if (lua_getmetatable(L, idx)) {
			lua_pop(L, 1);
			return 0;
		}
		return eq_table(L, idx, j, depth);
	default:
		return 0;
	}
}

int wf_json_equal(lua_State *L, int idx, const json_t *j)
{
	return eq_rec(L, idx, j, 0);
}

/* ---- Lua to JSON -------------------------------------------------- */

struct conv {
	lua_State *L;
	size_t nodes;
	char *err;
	size_t errlen;
};

static json_t *conv_fail(struct conv *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static json_t *conv_fail(struct conv *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return NULL;
}

static json_t *conv_rec(struct conv *c, int idx, const json_t *like,
			int depth);

static json_t *conv_array(struct conv *c, int idx, size_t n,
			  const json_t *like, int depth)
{
	lua_State *L = c->L;
	json_t *arr = json_array(), *v;
	size_t i;

	if (!arr)
		return conv_fail(c, "out of memory");
	for (i = 1; i <= n; i++) {
		const json_t *el = json_is_array(like)
				       ? json_array_get(like, i - 1)
				       : NULL;

		if (lua_rawgeti(L, idx, (lua_Integer)i) == LUA_TNIL) {
			lua_pop(L, 1);
			json_decref(arr);
			return conv_fail(c, "array has a hole at %zu", i);
		}
		v = conv_rec(c, -1, el, depth + 1);
		lua_pop(L, 1);
		if (!v || json_array_append_new(arr, v) != 0) {
			json_decref(arr);
			return v ? conv_fail(c, "out of memory") : NULL;
		}
	}
	return arr;
}

static json_t *conv_object(struct conv *c, int idx, const json_t *like,
			   int depth)
{
	lua_State *L = c->L;
	json_t *obj = json_object(), *v;

	if (!obj)
		return conv_fail(c, "out of memory");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		size_t kl;
		const char *k = lua_tolstring(L, -2, &kl);
		const json_t *el =
		    json_is_object(like) ? json_object_getn(like, k, kl) : NULL;

		if (memchr(k, '\0', kl)) {
			lua_pop(L, 2);
			json_decref(obj);
			return conv_fail(c, "keys must not contain NUL bytes");
		}
		v = conv_rec(c, -1, el, depth + 1);
		lua_pop(L, 1);
		if (!v) {
			lua_pop(L, 1);
			json_decref(obj);
			return NULL;
		}
		if (json_object_setn_new(obj, k, kl, v) != 0) {
			lua_pop(L, 1);
			json_decref(obj);
			return conv_fail(c, "keys must be valid UTF-8");
		}
	}
	return obj;
}

static json_t *conv_table(struct conv *c, int idx, const json_t *like,
			  int depth)
{
	lua_State *L = c->L;
	size_t nkeys = 0, nint = 0;
	int other = 0;
	json_t *v;

	if (depth >= JSON_MAX_DEPTH || !lua_checkstack(L, 4))
		return conv_fail(c, "tables nested too deeply (or a cycle)");
	switch (wf_ev_fields(L, idx)) {
	case 1: /* a handler's ev: its fields */
		v = conv_table(c, lua_gettop(L), like, depth + 1);
		lua_pop(L, 1);
		return v;
	case -1:
		return conv_fail(c, "ev is only valid during its handler call");
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		nkeys++;
		if (lua_type(L, -2) == LUA_TSTRING)
			;
		else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1)
			nint++;
		else
			other = 1;
		lua_pop(L, 1);
	}
	if (other)
		return conv_fail(c, "table keys must be strings or 1..n");
	if (nkeys == 0)
		return json_is_array(like) ? json_array() : json_object();
	if (nint == nkeys)
		return conv_array(c, idx, nkeys, like, depth);
	if (nint == 0)
		return conv_object(c, idx, like, depth);
	return conv_fail(c, "table mixes array and object keys");
}

static json_t *conv_rec(struct conv *c, int idx, const json_t *like,
			int depth)
{
	lua_State *L = c->L;
	const char *s;
	size_t n;
	double d;
	json_t *v;

	idx = lua_absindex(L, idx);
	if (++c->nodes > JSON_MAX_NODES)
		return conv_fail(c, "value too large");
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer((json_int_t)lua_tointeger(L, idx));
		d = lua_tonumber(L, idx);
		if (!isfinite(d))
			return conv_fail(c, "numbers must be finite");
		return json_real(d);
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &n);
		if (memchr(s, '\0', n))
			return conv_fail(c, "strings must not contain NUL "
					    "bytes");
		v = json_stringn(s, n);
		return v ? v : conv_fail(c, "strings must be valid UTF-8");
	case LUA_TTABLE:
		return conv_table(c, idx, like, depth);
	default:
		return conv_fail(c, "a %s value cannot be stored",
				 luaL_typename(L, idx));
	}
}

/* What a value replacing `like` must be, or NULL when anything goes. */
static const char *wanted(const json_t *like)
{
	switch (like ? json_typeof(like) : JSON_NULL) {
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_STRING:
		return "a string";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	default:
		return NULL;
	}
}

json_t *wf_json_from_lua(lua_State *L, int idx, const json_t *like,
			 char *err, size_t errlen)
{
	struct conv c = {L, 0, err, errlen};
	const char *want = wanted(like);
	int t = lua_type(L, idx), isint = 0;
	lua_Integer i;
	json_t *v;

	idx = lua_absindex(L, idx);
	if (errlen)
		err[0] = '\0';
	if (!want)
		return conv_rec(&c, idx, NULL, 0);
	switch (json_typeof(like)) {
	case JSON_INTEGER:
		if (t == LUA_TNUMBER) {
			i = lua_tointegerx(L, idx, &isint);
			if (isint)
				return json_integer((json_int_t)i);
		}
		break;
	case JSON_REAL:
		if (t == LUA_TNUMBER) {
			double d = lua_tonumber(L, idx);

			if (!isfinite(d))
				return conv_fail(&c, "numbers must be finite");
			return json_real(d);
		}
		break;
	case JSON_STRING:
		if (t == LUA_TSTRING)
			return conv_rec(&c, idx, like, 0);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		if (t == LUA_TBOOLEAN)
			return conv_rec(&c, idx, like, 0);
		break;
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (t != LUA_TTABLE)
			break;
		v = conv_rec(&c, idx, like, 0);
		if (!v || json_typeof(v) == json_typeof(like))
			return v;
		json_decref(v);
		break;
	default:
		break;
	}
	return conv_fail(&c, "must stay %s", want);
}
