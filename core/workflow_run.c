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
		struct wf_gen *gen = wf_current();

		wf_gen_unref(t->gen);
		t->gen = gen;
		t->epoch = e;
	}
	return t->gen;
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

/* The handler's return value (index 2): nothing or true allows, false or a
 * string denies a before_ event. */
static void take_verdict(lua_State *L, struct wf_state *st, struct hcall *c)
{
	int t = lua_type(L, 2);
	size_t len = 0;
	const char *s;

	if (t == LUA_TNIL || (t == LUA_TBOOLEAN && lua_toboolean(L, 2)))
		return;
	if (t != LUA_TBOOLEAN && t != LUA_TSTRING)
		luaL_error(L, "handler returned a %s value (expected nothing, "
			      "true, false or a reason)",
			   luaL_typename(L, 2));
	if (!c->ev->before) {
		warn_handler(st, c->sr, WF_WARN_DENY,
			     "%s: return value ignored: only before_ events "
			     "can be denied",
			     c->ev->name);
		return;
	}
	s = t == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
	if (len)
		wf_clean_text(st->reason, sizeof(st->reason), s, len);
	else
		snprintf(st->reason, sizeof(st->reason), "%s",
			 WF_REASON_DENIED);
	st->denied = 1;
}

/* Does the handler's ev (index 1) differ from the payload in a field it
 * may not change? Names that field in name. */
static int foreign_change(lua_State *L, struct hcall *c, char *name,
			  size_t len)
{
	const char *k;
	size_t kl;
	void *it;

	lua_pushnil(L);
	while (lua_next(L, 1)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			snprintf(name, len, "(a non-string key)");
			return 1;
		}
		k = lua_tolstring(L, -2, &kl);
		if (!(kl == 5 && memcmp(k, "event", 5) == 0) &&
		    !is_amendable(c->ev, k, kl) &&
		    !wf_json_equal(L, -1,
				   json_object_getn(c->payload, k, kl))) {
			wf_clean_text(name, len, k, kl);
			lua_pop(L, 2);
			return 1;
		}
		lua_pop(L, 1);
	}
	for (it = json_object_iter(c->payload); it;
	     it = json_object_iter_next(c->payload, it)) {
		k = json_object_iter_key(it);
		kl = json_object_iter_key_len(it);
		if (json_is_null(json_object_iter_value(it)) ||
		    is_amendable(c->ev, k, kl) ||
		    (kl == 5 && memcmp(k, "event", 5) == 0))
			continue;
		lua_pushlstring(L, k, kl);
		if (lua_rawget(L, 1) == LUA_TNIL) {
			lua_pop(L, 1);
			wf_clean_text(name, len, k, kl);
			return 1;
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* Copy the amendable fields of ev (index 1) back into the payload, all or
 * none: a value of the wrong type fails the handler. */
static void amend(lua_State *L, struct wf_state *st, struct hcall *c)
{
	char err[160], bad[72];
	int i;

	if (!(c->sr->warned & WF_WARN_FIELDS) &&
	    foreign_change(L, c, bad, sizeof(bad)))
		warn_handler(st, c->sr, WF_WARN_FIELDS,
			     "%s: change to field '%s' ignored: it is not "
			     "amendable",
			     c->ev->name, bad);
	for (i = 0; i < c->ev->nfields; i++) {
		const char *f = c->ev->fields[i];
		json_t *orig = json_object_get(c->payload, f), *v;

		lua_pushstring(L, f);
		lua_rawget(L, 1);
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

/* Protected: run one handler on a fresh copy of the payload. */
static int handler_body(lua_State *L)
{
	struct hcall *c = lua_touserdata(L, 1);
	struct wf_state *st = wf_state_of(L);

	lua_settop(L, 0);
	wf_json_push(L, c->payload); /* 1: ev */
	if (!lua_istable(L, 1))
		return luaL_error(L, "payload is not an object");
	lua_pushstring(L, c->ev->name);
	lua_setfield(L, 1, "event");
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->sr->ref);
	lua_pushvalue(L, 1);
	lua_call(L, 1, 1); /* 2: result */
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
	char dflt[WF_WHERE_MAX];
	struct wf_error e;
	int rc;

	snprintf(dflt, sizeof(dflt), "%s:%d", st->gen->files[sr->r.file].name,
		 sr->r.line);
	st->cur = ri;
	st->event = evi;
	rc = wf_state_call(st, WF_EVENT, sr->r.file, handler_body, &c, dflt,
			   &e);
	st->cur = -1;
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
	gen = wf_current();
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
	gen = wf_current();
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
	char dflt[WF_WHERE_MAX], label[32];
	struct wf_error e;

	snprintf(dflt, sizeof(dflt), "%s:%d", st->gen->files[sr->r.file].name,
		 sr->r.line);
	st->cur = ri;
	if (wf_state_call(st, WF_JOB, sr->r.file, job_body, sr, dflt, &e) <
	    0) {
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
