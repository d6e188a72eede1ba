/*
 * workflow_run.c - running workflow scripts: each thread's own Lua state,
 * event dispatch with allow/deny/amend semantics, and timed jobs.
 *
 * A thread keeps, in a pthread key, a reference to the generation it last
 * saw and a state built for it. A dispatch compares a global epoch with the
 * one it saw and only then takes the lock that hands out the current
 * generation, so the common path takes no lock at all and no lock is ever
 * held while Lua runs. A state is rebuilt when its generation is no longer
 * the one asked for, or when a memory failure left it nearly full.
 *
 * Generations themselves (loading, swapping) live in workflow.c.
 */
#include "workflow_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* What one thread holds. */
struct wf_tls {
	struct wf_gen *gen;  /* the current generation as last seen (ref) */
	unsigned long epoch; /* ...at this epoch; ULONG_MAX = never looked */
	struct wf_state *st; /* a state for st->gen, or NULL */
	unsigned long failed_id; /* generation whose state failed to build */
	struct timespec failed_at;
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_ready;

enum outcome { RUN_OK, RUN_DENY, RUN_FAIL };

static void tls_destroy(void *p)
{
	struct wf_tls *t = p;

	wf_state_free(t->st);
	wf_gen_unref(t->gen);
	free(t);
}

static void tls_init(void)
{
	tls_ready = pthread_key_create(&tls_key, tls_destroy) == 0;
}

/* The calling thread's holdings, created on first use; NULL when out of
 * memory. */
static struct wf_tls *tls_get(void)
{
	struct wf_tls *t;

	pthread_once(&tls_once, tls_init);
	if (!tls_ready)
		return NULL;
	t = pthread_getspecific(tls_key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->epoch = ULONG_MAX;
	if (pthread_setspecific(tls_key, t) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

void wf_run_release_thread(void)
{
	struct wf_tls *t;

	pthread_once(&tls_once, tls_init);
	if (!tls_ready)
		return;
	t = pthread_getspecific(tls_key);
	if (!t)
		return;
	pthread_setspecific(tls_key, NULL);
	tls_destroy(t);
}

/* The current generation (borrowed from t), refreshed when it changed. */
static struct wf_gen *tls_current(struct wf_tls *t)
{
	unsigned long e = wf_epoch();

	if (t->epoch != e) {
		struct wf_gen *gen = wf_current_ref();

		wf_gen_unref(t->gen);
		t->gen = gen;
		t->epoch = e;
	}
	return t->gen;
}

struct wf_gen *wf_run_current(void)
{
	struct wf_tls *t = tls_get();
	struct wf_gen *gen = t ? tls_current(t) : NULL;

	if (gen)
		wf_gen_ref(gen);
	return gen;
}

/* Load every file of gen into a new state and check that the top levels
 * registered exactly what the validation run saw. */
static struct wf_state *build_state(struct wf_gen *gen)
{
	struct wf_state *st = wf_state_new(gen, 0);
	struct wf_error e;
	int i;

	if (!st) {
		wf_record_error(gen, "", "workflows",
				"out of memory building a Lua state");
		return NULL;
	}
	for (i = 0; i < gen->nfiles; i++) {
		if (wf_state_load(st, i, &e) < 0) {
			wf_record_error(gen, e.where, "load", e.msg);
			goto fail;
		}
	}
	if (st->nregs != gen->nregs)
		goto differ;
	for (i = 0; i < st->nregs; i++) {
		const struct wf_reg *a = &st->regs[i].r, *b = &gen->regs[i];

		if (a->kind != b->kind || a->file != b->file ||
		    a->line != b->line || a->event != b->event ||
		    a->every != b->every || a->hh != b->hh || a->mm != b->mm)
			goto differ;
	}
	if (wf_state_index(st) < 0) {
		wf_record_error(gen, "", "workflows", "out of memory");
		goto fail;
	}
	return st;
differ:
	wf_record_error(gen, "", "load",
			"scripts registered differently than when validated; "
			"a script's top level must do the same every time");
fail:
	wf_state_free(st);
	return NULL;
}

/* A usable state for gen on this thread, or NULL. A failed build is
 * retried at most once a second. Never call while t->st is running. */
static struct wf_state *tls_state(struct wf_tls *t, struct wf_gen *gen)
{
	struct timespec now;

	if (t->st && t->st->gen == gen && !t->st->poisoned)
		return t->st;
	wf_state_free(t->st);
	t->st = NULL;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (t->failed_id == gen->id && now.tv_sec - t->failed_at.tv_sec < 1)
		return NULL;
	t->st = build_state(gen);
	if (!t->st) {
		t->failed_id = gen->id;
		t->failed_at = now;
	}
	return t->st;
}

/* ---- a handler's ev ---------------------------------------------- */

/*
 * A handler's ev is an empty proxy table. Reading a field calls its C
 * __index, which takes the field from the payload the first time (so only
 * what the handler reads is converted to Lua) and keeps it in a data
 * table; assigning a field calls __newindex, which stores it there and
 * records the key as written. After the handler, only the written fields
 * and the fields holding tables (changed in place, maybe) can differ from
 * the payload, so nothing else is compared. pairs(ev) takes every field.
 * The proxy belongs to one call of one handler: any use afterwards raises.
 */

static const char ev_key = 'e'; /* metatable[&ev_key]: the proxy's ev_op */

/* Upvalues of ev_op: the data table, the written-keys table (nil until
 * the first write), the serial of its call. */
#define EV_DATA lua_upvalueindex(1)
#define EV_WRITTEN lua_upvalueindex(2)
#define EV_SERIAL lua_upvalueindex(3)

static int is_event_key(const char *k, size_t kl)
{
	return kl == 5 && memcmp(k, "event", 5) == 0;
}

/* Push the value of field k (string at idx) from the payload: ev.event is
 * the event's name, a missing field or null is nil. */
static void ev_fetch(lua_State *L, struct wf_state *st, int idx)
{
	size_t kl;
	const char *k = lua_tolstring(L, idx, &kl);
	json_t *v;

	if (is_event_key(k, kl)) {
		lua_pushstring(L, st->gen->events[st->event].name);
		return;
	}
	v = json_object_getn(st->payload, k, kl);
	if (v && !json_is_null(v))
		wf_json_push(L, v);
	else
		lua_pushnil(L);
}

static int ev_written(lua_State *L, int idx)
{
	int r;

	if (lua_isnil(L, EV_WRITTEN))
		return 0;
	lua_pushvalue(L, idx);
	r = lua_rawget(L, EV_WRITTEN) != LUA_TNIL;
	lua_pop(L, 1);
	return r;
}

/* __index(ev, k) */
static int ev_index(lua_State *L, struct wf_state *st)
{
	lua_settop(L, 2);
	lua_pushvalue(L, 2);
	if (lua_rawget(L, EV_DATA) != LUA_TNIL ||
	    lua_type(L, 2) != LUA_TSTRING || ev_written(L, 2))
		return 1;
	lua_pop(L, 1);
	ev_fetch(L, st, 2);
	if (!lua_isnil(L, -1)) {
		lua_pushvalue(L, 2);
		lua_pushvalue(L, -2);
		lua_rawset(L, EV_DATA);
	}
	return 1;
}

/* __newindex(ev, k, v) */
static int ev_newindex(lua_State *L)
{
	lua_settop(L, 3);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	lua_rawset(L, EV_DATA);
	if (lua_isnil(L, EV_WRITTEN)) {
		lua_newtable(L);
		lua_replace(L, EV_WRITTEN);
	}
	lua_pushvalue(L, 2);
	lua_pushboolean(L, 1);
	lua_rawset(L, EV_WRITTEN);
	return 0;
}

/* Copy every payload field (and "event") not yet read or written into
 * the data table. */
static void ev_fill(lua_State *L, struct wf_state *st)
{
	void *it;

	for (it = json_object_iter(st->payload); it;
	     it = json_object_iter_next(st->payload, it)) {
		lua_pushlstring(L, json_object_iter_key(it),
				json_object_iter_key_len(it));
		if (!ev_written(L, -1)) {
			lua_pushvalue(L, -1);
			if (lua_rawget(L, EV_DATA) == LUA_TNIL) {
				lua_pop(L, 1);
				ev_fetch(L, st, -1);
				lua_rawset(L, EV_DATA);
				continue;
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pushliteral(L, "event");
	if (!ev_written(L, -1)) {
		ev_fetch(L, st, -1);
		lua_rawset(L, EV_DATA);
	} else {
		lua_pop(L, 1);
	}
}

/* The iterator pairs(ev) returns: next over the data table (upvalue). */
static int ev_next(lua_State *L)
{
	lua_settop(L, 2);
	if (lua_next(L, lua_upvalueindex(1)))
		return 2;
	lua_pushnil(L);
	return 1;
}

/* __pairs(ev) */
static int ev_pairs(lua_State *L, struct wf_state *st)
{
	ev_fill(L, st);
	lua_pushvalue(L, EV_DATA);
	lua_pushcclosure(L, ev_next, 1);
	lua_pushnil(L);
	lua_pushnil(L);
	return 3;
}

/* __index, __newindex and __pairs of a proxy, told apart by their number
 * of arguments (the metatable is hidden, so only Lua calls it). */
static int ev_op(lua_State *L)
{
	struct wf_state *st = wf_state_of(L);

	if (st->phase != WF_EVENT || !st->payload ||
	    (unsigned long)lua_tointeger(L, EV_SERIAL) != st->serial)
		return luaL_error(L, "ev is only valid during its handler "
				     "call: copy the fields you need");
	switch (lua_gettop(L)) {
	case 2:
		return ev_index(L, st);
	case 3:
		return ev_newindex(L);
	default:
		return ev_pairs(L, st);
	}
}

/* Push a new proxy for the call in progress (st->payload set) and its
 * ev_op closure. */
static void ev_new(lua_State *L, struct wf_state *st)
{
	lua_newtable(L);             /* proxy */
	lua_createtable(L, 0, 5);    /* its metatable */
	lua_createtable(L, 0, 4);    /* data */
	lua_pushnil(L);              /* written */
	lua_pushinteger(L, (lua_Integer)st->serial);
	lua_pushcclosure(L, ev_op, 3);
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "__index");
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "__newindex");
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, "__pairs");
	lua_pushvalue(L, -1);
	lua_rawsetp(L, -3, &ev_key);
	lua_pushboolean(L, 0);
	lua_setfield(L, -3, "__metatable");
	lua_insert(L, -2);
	lua_setmetatable(L, -3);
}

/* Protected: push the filled data table of the proxy whose ev_op is at
 * index 1 (it raises when the proxy's call is over). */
static int ev_fields_body(lua_State *L)
{
	lua_settop(L, 1);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	lua_call(L, 1, 3); /* ev_op(nil) acts as __pairs: fills the data */
	lua_settop(L, 1);
	lua_getupvalue(L, 1, 1);
	return 1;
}

int wf_ev_fields(lua_State *L, int idx)
{
	int found;

	if (!lua_checkstack(L, 4) || !lua_getmetatable(L, idx))
		return 0;
	found = lua_rawgetp(L, -1, &ev_key) == LUA_TFUNCTION;
	lua_remove(L, -2);
	if (!found) {
		lua_pop(L, 1);
		return 0;
	}
	lua_pushcfunction(L, ev_fields_body);
	lua_insert(L, -2);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		return -1;
	}
	return 1;
}

/* ---- dispatch ----------------------------------------------------- */

struct hcall {
	const struct wf_event *ev;
	json_t *payload;
	struct wf_sreg *sr;
	json_t *pending; /* amended values not yet applied; freed by caller */
};

static void warn_handler(struct wf_state *st, struct wf_sreg *sr,
			 unsigned flag, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void warn_handler(struct wf_state *st, struct wf_sreg *sr,
			 unsigned flag, const char *fmt, ...)
{
	char where[WF_WHERE_MAX], msg[WF_MSG_MAX];
	va_list ap;

	if (sr->warned & flag)
		return;
	sr->warned |= flag;
	snprintf(where, sizeof(where), "%s:%d", st->gen->files[sr->r.file].name,
		 sr->r.line);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wf_log(st->gen, 2, where, "%s", msg);
}

static int is_amendable(const struct wf_event *ev, const char *k, size_t kl)
{
	int i;

	for (i = 0; i < ev->nfields; i++)
		if (strlen(ev->fields[i]) == kl &&
		    memcmp(ev->fields[i], k, kl) == 0)
			return 1;
	return 0;
}

/* The handler's return value (index 3): nothing or true allows, false or a
 * string denies a before_ event. */
static void take_verdict(lua_State *L, struct wf_state *st, struct hcall *c)
{
	int t = lua_type(L, 3);
	size_t len = 0;
	const char *s;

	if (t == LUA_TNIL || (t == LUA_TBOOLEAN && lua_toboolean(L, 3)))
		return;
	if (t != LUA_TBOOLEAN && t != LUA_TSTRING)
		luaL_error(L, "handler returned a %s value (expected nothing, "
			      "true, false or a reason)",
			   luaL_typename(L, 3));
	if (!c->ev->before) {
		warn_handler(st, c->sr, WF_WARN_DENY,
			     "%s: return value ignored: only before_ events "
			     "can be denied",
			     c->ev->name);
		return;
	}
	s = t == LUA_TSTRING ? lua_tolstring(L, 3, &len) : NULL;
	if (len)
		wf_clean_text(st->reason, sizeof(st->reason), s, len);
	else
		snprintf(st->reason, sizeof(st->reason), "%s",
			 WF_REASON_DENIED);
	st->denied = 1;
}

/* The stack amend works on. */
enum { S_PROXY = 1, S_OP, S_RESULT, S_DATA, S_WRITTEN };

/* Was field f written? */
static int written(lua_State *L, const char *f)
{
	if (lua_isnil(L, S_WRITTEN))
		return 0;
	if (lua_getfield(L, S_WRITTEN, f) == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	lua_pop(L, 1);
	return 1;
}

/* Fields a script put into the proxy itself with rawset count as written
 * into the data table. */
static void absorb_raw(lua_State *L)
{
	lua_pushnil(L);
	while (lua_next(L, S_PROXY)) {
		if (lua_isnil(L, S_WRITTEN)) {
			lua_newtable(L);
			lua_replace(L, S_WRITTEN);
			lua_pushvalue(L, S_WRITTEN);
			lua_setupvalue(L, S_OP, 2);
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, S_DATA);
		lua_pushvalue(L, -1);
		lua_pushboolean(L, 1);
		lua_rawset(L, S_WRITTEN);
	}
}

/* Does the field named by the string key at -2, holding the value at -1,
 * differ from the payload while not amendable? Names it in name. */
static int foreign_field(lua_State *L, struct hcall *c, char *name,
			 size_t len)
{
	const char *k;
	size_t kl;

	if (lua_type(L, -2) != LUA_TSTRING) {
		snprintf(name, len, "(a non-string key)");
		return 1;
	}
	k = lua_tolstring(L, -2, &kl);
	if (is_event_key(k, kl) || is_amendable(c->ev, k, kl) ||
	    wf_json_equal(L, -1, json_object_getn(c->payload, k, kl)))
		return 0;
	wf_clean_text(name, len, k, kl);
	return 1;
}

/* Did the handler change a field it may not change? Only written fields
 * and fields holding tables can have changed. Names the field in name. */
static int foreign_change(lua_State *L, struct hcall *c, char *name,
			  size_t len)
{
	if (!lua_isnil(L, S_WRITTEN)) {
		lua_pushnil(L);
		while (lua_next(L, S_WRITTEN)) {
			lua_pop(L, 1);
			lua_pushvalue(L, -1);
			lua_rawget(L, S_DATA);
			if (foreign_field(L, c, name, len)) {
				lua_pop(L, 2);
				return 1;
			}
			lua_pop(L, 1);
		}
	}
	lua_pushnil(L);
	while (lua_next(L, S_DATA)) {
		if (lua_type(L, -1) == LUA_TTABLE &&
		    foreign_field(L, c, name, len)) {
			lua_pop(L, 2);
			return 1;
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* Copy the amendable fields the handler changed back into the payload,
 * all or none: a value of the wrong type fails the handler. */
static void amend(lua_State *L, struct wf_state *st, struct hcall *c)
{
	char err[160], bad[72];
	int i, t;

	lua_settop(L, S_RESULT);
	lua_getupvalue(L, S_OP, 1); /* S_DATA */
	lua_getupvalue(L, S_OP, 2); /* S_WRITTEN */
	absorb_raw(L);
	if (!(c->sr->warned & WF_WARN_FIELDS) &&
	    foreign_change(L, c, bad, sizeof(bad)))
		warn_handler(st, c->sr, WF_WARN_FIELDS,
			     "%s: change to field '%s' ignored: it is not "
			     "amendable",
			     c->ev->name, bad);
	for (i = 0; i < c->ev->nfields; i++) {
		const char *f = c->ev->fields[i];
		json_t *orig, *v;

		t = lua_getfield(L, S_DATA, f);
		if (t != LUA_TTABLE && !written(L, f)) {
			lua_pop(L, 1);
			continue;
		}
		orig = json_object_get(c->payload, f);
		if (wf_json_equal(L, -1, orig)) {
			lua_pop(L, 1);
			continue;
		}
		v = wf_json_from_lua(L, -1, orig, err, sizeof(err));
		lua_pop(L, 1);
		if (!v)
			luaL_error(L, "field '%s': %s", f, err);
		if (!c->pending)
			c->pending = json_object();
		if (!c->pending) {
			json_decref(v);
			luaL_error(L, "out of memory");
		}
		if (json_object_set_new(c->pending, f, v) != 0)
			luaL_error(L, "out of memory");
	}
	if (c->pending) {
		json_object_update(c->payload, c->pending);
		json_decref(c->pending);
		c->pending = NULL;
	}
}

/* Protected: run one handler on a fresh ev for the payload. */
static int handler_body(lua_State *L)
{
	struct hcall *c = lua_touserdata(L, 1);
	struct wf_state *st = wf_state_of(L);

	lua_settop(L, 0);
	st->payload = c->payload;
	ev_new(L, st); /* S_PROXY, S_OP */
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->sr->ref);
	lua_pushvalue(L, S_PROXY);
	lua_call(L, 1, 1); /* S_RESULT */
	take_verdict(L, st, c);
	if (!st->denied)
		amend(L, st, c);
	return 0;
}

static enum outcome run_handler(struct wf_state *st, int ri, int evi,
				json_t *payload, struct wf_result *res)
{
	struct wf_sreg *sr = &st->regs[ri];
	struct hcall c = {&st->gen->events[evi], payload, sr, NULL};
	struct wf_error e;
	int rc;

	st->cur = ri;
	st->event = evi;
	rc = wf_state_call(st, WF_EVENT, sr->r.file, handler_body, &c, &e);
	st->cur = -1;
	st->payload = NULL;
	json_decref(c.pending);
	if (rc == 0)
		return RUN_OK;
	if (e.kind == WF_FAIL_DENY) {
		snprintf(res->reason, sizeof(res->reason), "%s", st->reason);
		return RUN_DENY;
	}
	wf_record_error(st->gen, e.where, c.ev->name, e.msg);
	return RUN_FAIL;
}

/* A failure outside any handler: counts as one failed handler. */
static void fail_event(const struct wf_gen *gen, const struct wf_event *ev,
		       struct wf_result *res, const char *why)
{
	wf_record_error(gen, "", ev->name, why);
	res->failed++;
	if (ev->before && (ev->clinical || gen->lim.fail_closed_default)) {
		res->verdict = WF_DENY;
		snprintf(res->reason, sizeof(res->reason), "%s",
			 WF_REASON_UNAVAILABLE);
	}
}

static int dispatch(struct wf_tls *t, struct wf_gen *gen, const char *event,
		    json_t *payload, struct wf_result *res)
{
	const struct wf_event *ev;
	struct wf_state *st;
	int evi, k;

	evi = wf_gen_event(gen, event);
	if (evi < 0 || gen->events[evi].handlers == 0)
		return 0;
	ev = &gen->events[evi];
	if (!t) {
		fail_event(gen, ev, res, "out of memory");
		return 0;
	}
	if (t->st && t->st->phase != WF_IDLE) {
		fail_event(gen, ev, res,
			   "dispatch from inside a running handler refused");
		return 0;
	}
	st = tls_state(t, gen);
	if (!st) {
		fail_event(gen, ev, res, "no Lua state on this thread");
		return 0;
	}
	for (k = st->ev_start[evi]; k < st->ev_start[evi + 1]; k++) {
		enum outcome o = run_handler(st, st->by_event[k], evi, payload,
					     res);

		res->handlers_run++;
		if (o == RUN_DENY) {
			res->verdict = WF_DENY;
			break;
		}
		if (o == RUN_FAIL) {
			res->failed++;
			if (ev->before &&
			    (ev->clinical || gen->lim.fail_closed_default)) {
				res->verdict = WF_DENY;
				snprintf(res->reason, sizeof(res->reason),
					 "%s", WF_REASON_UNAVAILABLE);
				break;
			}
		}
	}
	return 0;
}

static int check_args(const char *event, json_t *payload,
		      struct wf_result *res)
{
	if (res) {
		res->verdict = WF_ALLOW;
		res->reason[0] = '\0';
		res->handlers_run = 0;
		res->failed = 0;
	}
	return event && res && json_is_object(payload) ? 0 : -1;
}

int wf_dispatch_gen(struct wf_gen *gen, const char *event, json_t *payload,
		    struct wf_result *res)
{
	if (check_args(event, payload, res) < 0)
		return -1;
	if (!gen)
		return 0;
	return dispatch(tls_get(), gen, event, payload, res);
}

int wf_dispatch(const char *event, json_t *payload, struct wf_result *res)
{
	struct wf_tls *t;
	struct wf_gen *gen;
	int rc;

	if (check_args(event, payload, res) < 0)
		return -1;
	t = tls_get();
	if (t) {
		gen = tls_current(t);
		return gen ? dispatch(t, gen, event, payload, res) : 0;
	}
	gen = wf_current_ref();
	rc = gen ? dispatch(NULL, gen, event, payload, res) : 0;
	wf_gen_unref(gen);
	return rc;
}

int wf_has_handlers(const char *event)
{
	struct wf_tls *t = tls_get();
	struct wf_gen *gen;
	int evi, r;

	if (t) {
		gen = tls_current(t);
		evi = wf_gen_event(gen, event);
		return evi >= 0 && gen->events[evi].handlers > 0;
	}
	gen = wf_current_ref();
	evi = wf_gen_event(gen, event);
	r = evi >= 0 && gen->events[evi].handlers > 0;
	wf_gen_unref(gen);
	return r;
}

/* ---- timed jobs --------------------------------------------------- */

static int job_body(lua_State *L)
{
	struct wf_sreg *sr = lua_touserdata(L, 1);

	lua_rawgeti(L, LUA_REGISTRYINDEX, sr->ref);
	lua_call(L, 0, 0);
	return 0;
}

static void run_job(struct wf_state *st, int ri)
{
	struct wf_sreg *sr = &st->regs[ri];
	char label[32];
	struct wf_error e;

	st->cur = ri;
	if (wf_state_call(st, WF_JOB, sr->r.file, job_body, sr, &e) < 0) {
		wf_job_label(&sr->r, label, sizeof(label));
		wf_record_error(st->gen, e.where, label, e.msg);
	}
	st->cur = -1;
}

int wf_jobs_run_due(time_t now)
{
	struct wf_tls *t = tls_get();
	struct wf_state *st;
	struct wf_gen *gen;
	int *due, n = 0, j, k;

	if (!t)
		return 0;
	gen = tls_current(t);
	if (!gen || gen->njobs == 0 || (t->st && t->st->phase != WF_IDLE))
		return 0;
	st = tls_state(t, gen);
	due = malloc(sizeof(*due) * (size_t)gen->njobs);
	if (!st || !due) {
		free(due);
		return 0;
	}
	wf_jobs_lock();
	for (j = 0; wf_current_locked() == gen && j < gen->njobs; j++) {
		struct wf_job *job = &gen->jobs[j];

		if (job->running || now < job->next)
			continue;
		job->running = 1;
		job->last = now;
		job->next = wf_job_next(gen, job, now);
		due[n++] = j;
	}
	wf_jobs_unlock();
	for (k = 0; k < n; k++) {
		run_job(st, gen->jobs[due[k]].reg);
		wf_jobs_lock();
		gen->jobs[due[k]].running = 0;
		wf_jobs_unlock();
	}
	free(due);
	return n;
}
