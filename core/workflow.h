/*
 * workflow.h - the sandboxed Lua 5.4 workflow engine.
 *
 * A practice's rules live in the .lua files of a directory. Their top level
 * registers handlers on named events (atrium.on) and timed jobs
 * (atrium.every, atrium.daily).
 * The scripts of one directory, loaded and validated together, form a
 * *generation*: refcounted and immutable once built. The engine keeps one
 * current generation; a reload builds a new one and swaps it in, and the old
 * one is freed when its last user lets go.
 *
 * Each thread that dispatches builds its own lua_State for the current
 * generation on first use (thread-local) and rebuilds it when the
 * generation changed, so no lock is held while Lua runs. Every handler call
 * has an instruction budget, a wall-clock deadline and each state a memory
 * cap; scripts are treated as untrusted (see docs/workflows.md).
 *
 * This is not the event bus of plugins, nor HTTP: the core calls these
 * functions and the engine reaches back only through struct wf_host.
 */
#ifndef ATRIUM_WORKFLOW_H
#define ATRIUM_WORKFLOW_H

#include <stddef.h>
#include <time.h>
#include <jansson.h>

#define WF_DEFAULT_INSTRUCTIONS 1000000UL
#define WF_DEFAULT_DEADLINE_MS 50u
#define WF_DEFAULT_MEMORY ((size_t)16 << 20)

/* Reason given when a failing handler closes a before_ event. */
#define WF_REASON_UNAVAILABLE "this action is not available right now"
/* Reason given when a before_ handler returns false without a reason. */
#define WF_REASON_DENIED "this action is not allowed by the practice's rules"

/* Limits of one generation. A zero field means its default. */
struct wf_limits {
	unsigned long instructions; /* per handler call, default 1,000,000 */
	unsigned deadline_ms;       /* wall clock per call, default 50 */
	size_t memory;              /* per Lua state, default 16 MiB */
	/* Non-zero: a failing before_ handler denies on every event, not
	 * only on clinical ones. */
	int fail_closed_default;
};

/* A known event. Lists are {NULL}-terminated; strings are copied. */
struct wf_event_info {
	const char *name;      /* "appointment.before_book" */
	const char *amendable; /* comma-separated fields handlers may change,
	                          or NULL for none */
	int clinical; /* a failing before_ handler denies, whatever the
	                 limits say */
};

/* How the engine reaches the core. Every callback may be NULL and may be
 * called from any thread that dispatches or runs jobs; ud is host data.
 * The struct is copied into each generation. */
struct wf_host {
	void *ud;
	/* level 0 debug .. 3 error; where is "file.lua:12" or "" */
	void (*log)(void *ud, int level, const char *where, const char *msg);
	/* Queue a notification; returns the outbox id (> 0) or <= 0 on
	 * failure. data is borrowed. Must not dispatch workflow events
	 * synchronously (nested dispatch is refused, see wf_dispatch). */
	long long (*notify)(void *ud, long long user_id, const char *kind,
			    const char *ref, json_t *data, time_t not_before);
	/* A read-only data lookup a plugin exposes. Returns a new reference;
	 * NULL with err set on failure; NULL with err "" for nil. args is
	 * borrowed. */
	json_t *(*lookup)(void *ud, const char *name, json_t *args, char *err,
			  size_t errlen);
	/* "practice.name", "practice.timezone",
	 * "plugin.scheduling.cutoff_hours"; NULL when unknown. */
	const char *(*setting)(void *ud, const char *key);
	time_t (*now)(void *ud); /* UTC; NULL = time(NULL) */
};

struct wf_gen;

/* Build a generation from the .lua files of dir (sorted bytewise by name;
 * names starting with '.' are skipped). Each file is loaded as text only
 * and its top level run once, with the budget, in a scratch sandbox to
 * collect registrations. Rejected: syntax errors, top-level runtime
 * errors, registration of an unknown event, bad intervals. On error
 * returns NULL and writes every error, one per line
 * "file.lua:LINE: message", to err. A missing or empty directory is a valid
 * empty generation. events is the {NULL}-terminated list of known events;
 * lim (zero fields = defaults) and host may be NULL. Returns a new
 * reference. Any thread; does not touch the current generation. */
struct wf_gen *wf_gen_load(const char *dir, const struct wf_event_info *events,
			   const struct wf_limits *lim,
			   const struct wf_host *host, char *err,
			   size_t errlen);
void wf_gen_ref(struct wf_gen *gen);
void wf_gen_unref(struct wf_gen *gen); /* NULL is fine */

/* Load dir as with wf_gen_load and, on success, make it the current
 * generation (timed jobs keep their schedule when the same file registers
 * the same job again). On error the current generation stays and -1 is
 * returned with the errors in err. Reloads are serialised; any thread. */
int wf_reload(const char *dir, const struct wf_event_info *events,
	      const struct wf_limits *lim, const struct wf_host *host,
	      char *err, size_t errlen);
/* The current generation as a new reference, or NULL before any load. */
struct wf_gen *wf_current(void);
/* Non-zero when the current generation has a handler for event: lets the
 * core skip building a payload nobody reads. */
int wf_has_handlers(const char *event);

/* For the admin page, a new object:
 * {"generation","dir","loaded_at","files":[{"name","handlers","jobs"}],
 *  "jobs":[{"file","line","schedule","next_run","last_run"}],
 *  "errors":[{"time","message"}] (newest first, at most 20),
 *  "reload_error":{"time","message"} or null}. Times are RFC 3339 UTC. */
json_t *wf_status(void);

enum wf_verdict { WF_ALLOW, WF_DENY };
struct wf_result {
	enum wf_verdict verdict;
	char reason[256]; /* on deny: shown to the user; valid UTF-8 */
	int handlers_run;
	int failed; /* handlers that errored or ran out of budget */
};

/* Run every handler registered for event, in order (file name, then
 * registration order), in the calling thread's Lua state for the current
 * generation. payload is a JSON object, borrowed; each handler gets a
 * fresh Lua view of it (fields converted as the handler reads them, plus
 * ev.event = the name) and may change the fields the event declares
 * amendable, which are written back into it (type-checked; other changes
 * are ignored and logged once). On a before_ event a handler denies by returning false
 * or a reason string, or by calling atrium.deny(reason); the first deny
 * stops the chain. A handler that fails closes a before_ event
 * (WF_REASON_UNAVAILABLE) when the event is clinical or the generation's
 * fail_closed_default is set, else it is skipped. A dispatch from inside a
 * running handler (a host callback emitting an event) is refused and
 * counts as a failure. Returns 0 with res filled, -1 on a bad argument
 * (res then allows). Any thread. */
int wf_dispatch(const char *event, json_t *payload, struct wf_result *res);
/* The same on a generation the caller pinned (wf_current at the start of a
 * request), so a request sees one generation from start to end. */
int wf_dispatch_gen(struct wf_gen *gen, const char *event, json_t *payload,
		    struct wf_result *res);

/* Run each timed job of the current generation that is due at now, in the
 * calling thread's state. Meant for the core's job thread, about once a
 * second. A job still running is not started again; its next run is last
 * start + interval (every) or the next HH:MM local time (daily), with no
 * catch-up burst after a pause. Returns the number of jobs run. */
int wf_jobs_run_due(time_t now);

/* Validate dir without touching the current generation
 * (atriumd --check-workflows DIR). Prints nothing; returns 0, or -1 with all
 * errors, one per line "file.lua:LINE: message", in err. */
int wf_check_dir(const char *dir, const struct wf_event_info *events,
		 char *err, size_t errlen);

/* Drop the current generation and the calling thread's state. Other
 * threads' states (and the generation each holds) are freed when those
 * threads exit or next dispatch. */
void wf_shutdown(void);

#endif
