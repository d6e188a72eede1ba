/*
 * workflow_pattern.c - string.find, match, gmatch and gsub for the sandbox,
 * with Lua 5.4 pattern semantics and a step budget.
 *
 * The stock matcher backtracks in C, where no count hook can reach it: a
 * pattern like "(.-)(.-)(.-)x" on a long subject runs for minutes inside a
 * single VM instruction. This implementation (written from the reference
 * manual, section 6.4.1) counts every matching step and charges it to the
 * budget of the call in progress, so such a pattern fails with "instruction
 * budget exceeded" like any runaway loop. Plain finds use memmem (linear)
 * and are charged by the bytes they scan, back-references by the bytes
 * they compare (WF_BYTES_PER_STEP to a step).
 *
 * Not covered here: the rest of the string library (workflow_lib.c).
 */
#include "workflow_int.h"

#include <ctype.h>
#include <string.h>

#include <lauxlib.h>

#define MAXCAPTURES 32
#define MAXDEPTH 200
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
#define CHARGE_EVERY 256u
#define SPECIALS "^$*+?.([%-"

struct matcher {
	lua_State *L;
	const char *src, *src_end; /* the subject */
	const char *pat_end;
	int level; /* captures in use */
	int depth; /* recursion */
	unsigned steps;
	struct {
		const char *init;
		ptrdiff_t len; /* or CAP_UNFINISHED / CAP_POSITION */
	} cap[MAXCAPTURES];
};

static void prep(struct matcher *m, lua_State *L, const char *s, size_t ls,
		 const char *p, size_t lp)
{
	m->L = L;
	m->src = s;
	m->src_end = s + ls;
	m->pat_end = p + lp;
	m->level = 0;
	m->depth = 0;
	m->steps = 0;
}

static void step(struct matcher *m)
{
	if (++m->steps >= CHARGE_EVERY) {
		wf_budget_charge(m->L, m->steps);
		m->steps = 0;
	}
}

static const char *do_match(struct matcher *m, const char *s, const char *p);

/* End of the single-character class starting at p (p < pat_end). */
static const char *class_end(struct matcher *m, const char *p)
{
	char c = *p++;

	if (c == '%') {
		if (p >= m->pat_end)
			luaL_error(m->L, "malformed pattern (ends with '%%')");
		return p + 1;
	}
	if (c != '[')
		return p;
	if (p < m->pat_end && *p == '^')
		p++;
	for (;;) { /* the first character is always a member, even ']' */
		if (p >= m->pat_end)
			luaL_error(m->L, "malformed pattern (missing ']')");
		c = *p++;
		if (c == '%' && p < m->pat_end)
			p++;
		if (p < m->pat_end && *p == ']')
			return p + 1;
	}
}

static int match_class(int c, int cl)
{
	int r;

	switch (tolower(cl)) {
	case 'a': r = isalpha(c); break;
	case 'c': r = iscntrl(c); break;
	case 'd': r = isdigit(c); break;
	case 'g': r = isgraph(c); break;
	case 'l': r = islower(c); break;
	case 'p': r = ispunct(c); break;
	case 's': r = isspace(c); break;
	case 'u': r = isupper(c); break;
	case 'w': r = isalnum(c); break;
	case 'x': r = isxdigit(c); break;
	case 'z': r = c == 0; break; /* deprecated, still in 5.4 */
	default: return cl == c;
	}
	if (isupper(cl))
		r = !r;
	return r != 0;
}

/* c against the set [p .. ec], p at '[' and ec at the closing ']'. */
static int match_bracket(int c, const char *p, const char *ec)
{
	int sig = 1;

	p++;
	if (*p == '^') {
		sig = 0;
		p++;
	}
	for (; p < ec; p++) {
		if (*p == '%') {
			p++;
			if (match_class(c, (unsigned char)*p))
				return sig;
		} else if (p + 2 < ec && p[1] == '-') {
			if ((unsigned char)p[0] <= c &&
			    c <= (unsigned char)p[2])
				return sig;
			p += 2;
		} else if ((unsigned char)*p == c) {
			return sig;
		}
	}
	return !sig;
}

/* Does the character at s match the class p .. ep? */
static int single_match(struct matcher *m, const char *s, const char *p,
			const char *ep)
{
	int c;

	if (s >= m->src_end)
		return 0;
	c = (unsigned char)*s;
	switch (*p) {
	case '.': return 1;
	case '%': return match_class(c, (unsigned char)p[1]);
	case '[': return match_bracket(c, p, ep - 1);
	default: return (unsigned char)*p == c;
	}
}

static const char *match_balance(struct matcher *m, const char *s,
				 const char *p)
{
	int open, close, depth = 1;

	if (p + 1 >= m->pat_end)
		luaL_error(m->L,
			   "malformed pattern (missing arguments to '%%b')");
	if (s >= m->src_end || *s != *p)
		return NULL;
	open = *p;
	close = p[1];
	while (++s < m->src_end) {
		step(m);
		if (*s == close) {
			if (--depth == 0)
				return s + 1;
		} else if (*s == open) {
			depth++;
		}
	}
	return NULL;
}

static const char *max_expand(struct matcher *m, const char *s,
			      const char *p, const char *ep)
{
	ptrdiff_t i = 0;

	while (single_match(m, s + i, p, ep)) {
		i++;
		step(m);
	}
	for (; i >= 0; i--) {
		const char *r = do_match(m, s + i, ep + 1);

		if (r)
			return r;
		step(m);
	}
	return NULL;
}

static const char *min_expand(struct matcher *m, const char *s,
			      const char *p, const char *ep)
{
	for (;;) {
		const char *r = do_match(m, s, ep + 1);

		if (r)
			return r;
		if (!single_match(m, s, p, ep))
			return NULL;
		s++;
		step(m);
	}
}

static const char *start_capture(struct matcher *m, const char *s,
				 const char *p, ptrdiff_t what)
{
	const char *r;

	if (m->level >= MAXCAPTURES)
		luaL_error(m->L, "too many captures");
	m->cap[m->level].init = s;
	m->cap[m->level].len = what;
	m->level++;
	r = do_match(m, s, p);
	if (!r)
		m->level--;
	return r;
}

static const char *end_capture(struct matcher *m, const char *s,
			       const char *p)
{
	const char *r;
	int l;

	for (l = m->level - 1; l >= 0; l--)
		if (m->cap[l].len == CAP_UNFINISHED)
			break;
	if (l < 0)
		luaL_error(m->L, "invalid pattern capture");
	m->cap[l].len = s - m->cap[l].init;
	r = do_match(m, s, p);
	if (!r)
		m->cap[l].len = CAP_UNFINISHED;
	return r;
}

/* %1 .. %9 in a pattern: the text of that (closed) capture again. */
static const char *match_backref(struct matcher *m, const char *s, int d)
{
	int l = d - '1';
	size_t len;

	if (l < 0 || l >= m->level || m->cap[l].len == CAP_UNFINISHED)
		luaL_error(m->L, "invalid capture index %%%d", l + 1);
	len = (size_t)m->cap[l].len;
	m->steps += (unsigned)(len / WF_BYTES_PER_STEP);
	step(m);
	if ((size_t)(m->src_end - s) >= len &&
	    memcmp(m->cap[l].init, s, len) == 0)
		return s + len;
	return NULL;
}

/* Match the pattern from p against the subject from s: the end of the
 * match, or NULL. */
static const char *do_match(struct matcher *m, const char *s, const char *p)
{
	const char *ep;
	int q;

	if (++m->depth > MAXDEPTH)
		luaL_error(m->L, "pattern too complex");
	while (p < m->pat_end) {
		step(m);
		switch (*p) {
		case '(':
			if (p + 1 < m->pat_end && p[1] == ')')
				s = start_capture(m, s, p + 2, CAP_POSITION);
			else
				s = start_capture(m, s, p + 1, CAP_UNFINISHED);
			goto out;
		case ')':
			s = end_capture(m, s, p + 1);
			goto out;
		case '$':
			if (p + 1 != m->pat_end)
				break;
			s = s == m->src_end ? s : NULL;
			goto out;
		case '%':
			if (p + 1 >= m->pat_end)
				break;
			if (p[1] == 'b') {
				s = match_balance(m, s, p + 2);
				if (!s)
					goto out;
				p += 4;
				continue;
			}
			if (p[1] == 'f') {
				int prev, cur;

				p += 2;
				if (p >= m->pat_end || *p != '[')
					luaL_error(m->L, "missing '[' after "
							 "'%%f' in pattern");
				ep = class_end(m, p);
				prev = s == m->src ? 0 : (unsigned char)s[-1];
				cur = s < m->src_end ? (unsigned char)*s : 0;
				if (!match_bracket(prev, p, ep - 1) &&
				    match_bracket(cur, p, ep - 1)) {
					p = ep;
					continue;
				}
				s = NULL;
				goto out;
			}
			if (p[1] >= '0' && p[1] <= '9') {
				s = match_backref(m, s, p[1]);
				if (!s)
					goto out;
				p += 2;
				continue;
			}
			break;
		default:
			break;
		}
		/* a single-character class, maybe with a quantifier */
		ep = class_end(m, p);
		q = ep < m->pat_end ? *ep : '\0';
		if (!single_match(m, s, p, ep)) {
			if (q == '*' || q == '?' || q == '-') {
				p = ep + 1;
				continue;
			}
			s = NULL;
			goto out;
		}
		switch (q) {
		case '?': {
			const char *r = do_match(m, s + 1, ep + 1);

			if (r) {
				s = r;
				goto out;
			}
			p = ep + 1;
			continue;
		}
		case '+':
			s = max_expand(m, s + 1, p, ep);
			goto out;
		case '*':
			s = max_expand(m, s, p, ep);
			goto out;
		case '-':
			s = min_expand(m, s, p, ep);
			goto out;
		default:
			s++;
			p = ep;
			continue;
		}
	}
out:
	m->depth--;
	return s;
}

/* ---- captures ----------------------------------------------------- */

static void push_capture(struct matcher *m, int i, const char *s,
			 const char *e)
{
	ptrdiff_t l;

	if (i >= m->level) {
		if (i != 0)
			luaL_error(m->L, "invalid capture index %%%d", i + 1);
		lua_pushlstring(m->L, s, (size_t)(e - s));
		return;
	}
	l = m->cap[i].len;
	if (l == CAP_UNFINISHED)
		luaL_error(m->L, "unfinished capture");
	if (l == CAP_POSITION)
		lua_pushinteger(m->L, (m->cap[i].init - m->src) + 1);
	else
		lua_pushlstring(m->L, m->cap[i].init, (size_t)l);
}

/* Push every capture (the whole match when there are none and s is not
 * NULL); returns how many. */
static int push_captures(struct matcher *m, const char *s, const char *e)
{
	int i, n = (m->level == 0 && s) ? 1 : m->level;

	luaL_checkstack(m->L, n, "too many captures");
	for (i = 0; i < n; i++)
		push_capture(m, i, s, e);
	return n;
}

/* ---- the library functions ---------------------------------------- */

/* 1-based start position (negative from the end) as a 0-based offset. */
static size_t start_offset(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos - 1;
	if (pos == 0 || pos < -(lua_Integer)len)
		return 0;
	return len + (size_t)pos;
}

static int no_specials(const char *p, size_t lp)
{
	size_t i;

	for (i = 0; i < lp; i++)
		if (p[i] && strchr(SPECIALS, p[i]))
			return 0;
	return 1;
}

static int find_aux(lua_State *L, int find)
{
	size_t ls, lp, init;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *s1, *e;
	struct matcher m;
	int anchor;

	init = start_offset(luaL_optinteger(L, 3, 1), ls);
	if (init > ls) {
		luaL_pushfail(L);
		return 1;
	}
	if (find && (lua_toboolean(L, 4) || no_specials(p, lp))) {
		s1 = memmem(s + init, ls - init, p, lp);
		wf_budget_bytes(L, lp + (s1 ? (size_t)(s1 - (s + init)) + lp
					   : ls - init));
		if (s1) {
			lua_pushinteger(L, (s1 - s) + 1);
			lua_pushinteger(L,
					(lua_Integer)((size_t)(s1 - s) + lp));
			return 2;
		}
		luaL_pushfail(L);
		return 1;
	}
	anchor = lp > 0 && *p == '^';
	if (anchor)
		p++, lp--;
	prep(&m, L, s, ls, p, lp);
	for (s1 = s + init;; s1++) {
		m.level = 0;
		m.depth = 0;
		e = do_match(&m, s1, p);
		if (e) {
			if (!find)
				return push_captures(&m, s1, e);
			lua_pushinteger(L, (s1 - s) + 1);
			lua_pushinteger(L, e - s);
			return push_captures(&m, NULL, NULL) + 2;
		}
		if (anchor || s1 >= m.src_end)
			break;
		step(&m);
	}
	luaL_pushfail(L);
	return 1;
}

static int pat_find(lua_State *L)
{
	return find_aux(L, 1);
}

static int pat_match(lua_State *L)
{
	return find_aux(L, 0);
}

/* The gmatch iterator. Upvalues: subject, pattern, next start offset,
 * end offset of the last match (-1 = none). */
static int gmatch_next(lua_State *L)
{
	size_t ls, lp;
	const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
	const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
	lua_Integer pos = lua_tointeger(L, lua_upvalueindex(3));
	lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
	const char *src, *e;
	struct matcher m;

	prep(&m, L, s, ls, p, lp);
	for (; pos >= 0 && (size_t)pos <= ls; pos++) {
		src = s + pos;
		m.level = 0;
		m.depth = 0;
		e = do_match(&m, src, p);
		if (e && e - s != last) {
			lua_pushinteger(L, e - s);
			lua_copy(L, -1, lua_upvalueindex(3));
			lua_replace(L, lua_upvalueindex(4));
			return push_captures(&m, src, e);
		}
		step(&m);
	}
	lua_pushinteger(L, (lua_Integer)ls + 1);
	lua_replace(L, lua_upvalueindex(3));
	return 0;
}

static int pat_gmatch(lua_State *L)
{
	size_t ls, init;

	luaL_checklstring(L, 1, &ls);
	luaL_checkstring(L, 2);
	init = start_offset(luaL_optinteger(L, 3, 1), ls);
	if (init > ls)
		init = ls + 1;
	lua_settop(L, 2);
	lua_pushinteger(L, (lua_Integer)init);
	lua_pushinteger(L, -1);
	lua_pushcclosure(L, gmatch_next, 4);
	return 1;
}

/* Append the replacement string (arg 3) with %0-%9 and %% expanded. */
static void add_string(struct matcher *m, luaL_Buffer *b, const char *s,
		       const char *e)
{
	lua_State *L = m->L;
	size_t l;
	const char *r = lua_tolstring(L, 3, &l), *pc;

	while ((pc = memchr(r, '%', l)) != NULL) {
		luaL_addlstring(b, r, (size_t)(pc - r));
		pc++;
		if (pc < r + l && *pc == '%') {
			luaL_addchar(b, '%');
		} else if (pc < r + l && *pc == '0') {
			luaL_addlstring(b, s, (size_t)(e - s));
		} else if (pc < r + l && isdigit((unsigned char)*pc)) {
			push_capture(m, *pc - '1', s, e);
			luaL_tolstring(L, -1, NULL);
			lua_remove(L, -2);
			luaL_addvalue(b);
		} else {
			luaL_error(L, "invalid use of '%%' in replacement "
				      "string");
		}
		l -= (size_t)(pc + 1 - r);
		r = pc + 1;
		step(m);
	}
	luaL_addlstring(b, r, l);
}

/* Append the replacement for match s..e; returns 0 when the match is kept
 * as it was (function or table gave false or nil). */
static int add_value(struct matcher *m, luaL_Buffer *b, const char *s,
		     const char *e, int tr)
{
	lua_State *L = m->L;

	if (tr == LUA_TFUNCTION) {
		int n;

		lua_pushvalue(L, 3);
		n = push_captures(m, s, e);
		lua_call(L, n, 1);
	} else if (tr == LUA_TTABLE) {
		push_capture(m, 0, s, e);
		lua_gettable(L, 3);
	} else {
		add_string(m, b, s, e);
		return 1;
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		luaL_addlstring(b, s, (size_t)(e - s));
		return 0;
	}
	if (!lua_isstring(L, -1))
		return luaL_error(L, "invalid replacement value (a %s)",
				  luaL_typename(L, -1));
	luaL_addvalue(b);
	return 1;
}

static int pat_gsub(lua_State *L)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *src = s, *last = NULL, *e;
	int tr = lua_type(L, 3), anchor, changed = 0;
	lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
	struct matcher m;
	luaL_Buffer b;

	luaL_argexpected(L,
			 tr == LUA_TNUMBER || tr == LUA_TSTRING ||
			     tr == LUA_TFUNCTION || tr == LUA_TTABLE,
			 3, "string/function/table");
	luaL_buffinit(L, &b);
	anchor = lp > 0 && *p == '^';
	if (anchor)
		p++, lp--;
	prep(&m, L, s, ls, p, lp);
	while (n < max_n) {
		m.level = 0;
		m.depth = 0;
		e = do_match(&m, src, p);
		if (e && e != last) {
			n++;
			changed = add_value(&m, &b, src, e, tr) | changed;
			src = last = e;
		} else if (src < m.src_end) {
			luaL_addchar(&b, *src++);
		} else {
			break;
		}
		if (anchor)
			break;
		step(&m);
	}
	if (!changed) {
		lua_pushvalue(L, 1);
	} else {
		luaL_addlstring(&b, src, (size_t)(m.src_end - src));
		luaL_pushresult(&b);
	}
	lua_pushinteger(L, n);
	return 2;
}

void wf_pattern_open(lua_State *L, int idx)
{
	static const luaL_Reg fns[] = {
	    {"find", pat_find},
	    {"match", pat_match},
	    {"gmatch", pat_gmatch},
	    {"gsub", pat_gsub},
	    {NULL, NULL},
	};

	idx = lua_absindex(L, idx);
	lua_pushvalue(L, idx);
	luaL_setfuncs(L, fns, 0);
	lua_pop(L, 1);
}
