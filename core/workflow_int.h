/*
 * workflow_int.h - what the files of the workflow engine share: the
 * generation and sandbox-state structs and the functions one file offers
 * another. Not a public header: the rest of the core uses workflow.h.
 *
 *   workflow.c          generations, the current one, reload, status
 *   workflow_run.c      thread-local states, dispatch, timed jobs
 *   workflow_sandbox.c  one lua_State: allocator, budget hook, safe globals,
 *                       loading a script, protected calls
 *   workflow_api.c      the `atrium` table scripts see
 *   workflow_json.c     JSON <-> Lua values
 *   workflow_pattern.c  string.find/match/gmatch/gsub with a step budget
 *   workflow_lib.c      the other library functions that loop in C,
 *                       charged to the budget
 */
#ifndef ATRIUM_WORKFLOW_INT_H
#define ATRIUM_WORKFLOW_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <lua.h>

#include "workflow.h"

#define WF_REASON_MAX 256
#define WF_WHERE_MAX 96
#define WF_MSG_MAX 512

/* What library functions pay: one budget step per WF_BYTES_PER_STEP bytes
 * they read or write, and one per element or value they loop over. */
#define WF_BYTES_PER_STEP 16u

/* A known event, the generation's own copy of a struct wf_event_info. */
struct wf_event {
	char *name;
	char **fields; /* amendable fields */
	int nfields;
	int clinical;
	int before;   /* the name contains "before_" */
	int handlers; /* registrations for it in this generation */
};

struct wf_file {
	char *name; /* "10-booking.lua" */
	char *src;
	size_t len;
	int handlers, jobs;
};

enum wf_reg_kind { WF_REG_ON, WF_REG_EVERY, WF_REG_DAILY };

/* One registration made by a script's top level. */
struct wf_reg {
	enum wf_reg_kind kind;
	int file;      /* index into gen->files */
	int line;      /* line where the registered function is defined */
	int event;     /* WF_REG_ON: index into gen->events */
	unsigned every; /* WF_REG_EVERY: seconds */
	int hh, mm;    /* WF_REG_DAILY: practice-local time */
};

/* The schedule of one timed job; guarded by the jobs lock (workflow.c). */
struct wf_job {
	int reg; /* index into gen->regs */
	time_t next, last;
	int running;
};

struct wf_gen {
	atomic_int refs;
	unsigned long id;
	char *dir;
	time_t loaded_at;
	struct wf_limits lim; /* defaults applied */
	struct wf_host host;
	struct wf_event *events;
	int nevents;
	struct wf_file *files;
	int nfiles;
	struct wf_reg *regs;
	int nregs;
	struct wf_job *jobs;
	int njobs;
};

/* ---- workflow.c --------------------------------------------------- */

/* Index of event in gen->events, or -1. */
int wf_gen_event(const struct wf_gen *gen, const char *name);
/* Host time (UTC). */
time_t wf_gen_now(const struct wf_gen *gen);
/* Pass a line to host->log with script text made safe (no control
 * characters, bounded length). */
void wf_log(const struct wf_gen *gen, int level, const char *where,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Log a runtime failure (level 3) and keep it for wf_status:
 * "where: label: msg". */
void wf_record_error(const struct wf_gen *gen, const char *where,
		     const char *label, const char *msg);
/* The jobs lock and the current generation as seen under it. */
void wf_jobs_lock(void);
void wf_jobs_unlock(void);
struct wf_gen *wf_current_locked(void); /* borrowed; jobs lock held */
/* The current generation as a new reference, under its lock (wf_current
 * takes the calling thread's view first). */
struct wf_gen *wf_current_ref(void);
unsigned long wf_epoch(void);           /* bumps at every swap */
/* Next run of a job after time t. */
time_t wf_job_next(const struct wf_gen *gen, const struct wf_job *job,
		   time_t t);
/* Label of a job for messages: "every(60)" / "daily(08:00)". */
void wf_job_label(const struct wf_reg *reg, char *buf, size_t len);

/* ---- workflow_run.c ----------------------------------------------- */

/* Free the calling thread's state and generation reference. */
void wf_run_release_thread(void);
/* The current generation as this thread last saw it (refreshed when a
 * reload happened since), as a new reference; NULL when there is none or
 * the thread has no holdings. Takes no lock. */
struct wf_gen *wf_run_current(void);

/* ---- workflow_sandbox.c ------------------------------------------- */

enum wf_phase { WF_IDLE, WF_LOAD, WF_EVENT, WF_JOB };
enum wf_stop { WF_STOP_NONE, WF_STOP_INSTRUCTIONS, WF_STOP_DEADLINE };

/* What went wrong in a protected call. */
enum wf_fail { WF_OK, WF_FAIL_ERROR, WF_FAIL_BUDGET, WF_FAIL_MEMORY,
	       WF_FAIL_DENY };
struct wf_error {
	enum wf_fail kind;
	char where[WF_WHERE_MAX]; /* "file.lua:12" */
	char msg[WF_MSG_MAX];     /* without the position */
};

/* A registration as this state made it, with its function. */
struct wf_sreg {
	struct wf_reg r;
	int ref;         /* registry reference to the function */
	unsigned warned; /* WF_WARN_* already logged for this handler */
};
#define WF_WARN_FIELDS 1u
#define WF_WARN_DENY 2u

/* The big memory blocks of a state, for its hook period (see
 * workflow_sandbox.c): how many live blocks of each power-of-two size
 * class, strings apart (the work one VM instruction can do grows with the
 * length of a string it reads). */
struct wf_big {
	unsigned str[64], other[64];
	uintptr_t *strs; /* big strings' addresses: open addressing, 0 free */
	size_t cap, n;
};

/* One sandbox: a lua_State with its memory account, the budget of the call
 * in progress and the registrations its scripts made. Used by one thread at
 * a time. */
struct wf_state {
	lua_State *L;
	struct wf_gen *gen; /* a reference, except in the scratch state */
	int scratch;        /* the validation run of wf_gen_load */
	size_t mem_used, mem_limit;
	struct wf_big big;

	/* the call in progress */
	enum wf_phase phase;
	int file;  /* file whose code is running */
	int event; /* WF_EVENT: index into gen->events */
	int cur;   /* index into regs of the running handler or job, or -1 */
	unsigned long used, limit;
	int gran_base; /* hook period in instructions without big blocks */
	int gran;      /* hook period now (shorter while big blocks live) */
	lua_State *running; /* the thread running script code, or NULL */
	unsigned long ticks; /* steps not charged yet (wf_budget_tick) */
	unsigned long serial; /* bumps at every call */
	json_t *payload;      /* WF_EVENT: the payload, for the handler's ev */
	struct timespec deadline;
	enum wf_stop stop;
	int denied;
	char reason[WF_REASON_MAX];
	int nlogs; /* atrium.log lines in this call */
	int nested_host; /* inside a host callback */

	struct wf_sreg *regs;
	int nregs, capregs;
	int *by_event;  /* indexes into regs, grouped by event */
	int *ev_start;  /* by_event[ev_start[e] .. ev_start[e + 1]) */
	int poisoned;   /* memory nearly full after a failure: rebuild */
};

/* A new state with the sandbox globals for gen, no scripts loaded yet. NULL
 * when memory runs out. scratch states take no reference on gen. */
struct wf_state *wf_state_new(struct wf_gen *gen, int scratch);
void wf_state_free(struct wf_state *st); /* NULL is fine */
/* Compile gen->files[file] as text and run its top level with the budget.
 * On failure its registrations are dropped, e says why ("file.lua:LINE"
 * and message) and -1 is returned. */
int wf_state_load(struct wf_state *st, int file, struct wf_error *e);
/* Index st->regs by event once every file is loaded. -1 on no memory. */
int wf_state_index(struct wf_state *st);
/* Run fn(arg) in protected mode with a fresh budget, in phase, for st->cur
 * (a registration, or -1 for a file's top level). On failure fills e (where
 * defaults to the registration's "file.lua:LINE", or line 1 of the file)
 * and returns -1. */
int wf_state_call(struct wf_state *st, enum wf_phase phase, int file,
		  lua_CFunction fn, void *arg, struct wf_error *e);
/* The state that owns L (any of its threads). */
struct wf_state *wf_state_of(lua_State *L);

/* The budget, from C functions called by scripts (they do nothing while
 * the state is idle). Each raises "instruction budget exceeded" or "time
 * limit exceeded" once the budget or the deadline is spent. */
/* Charge steps of work done in C, and look at the clock. */
void wf_budget_charge(lua_State *L, unsigned long steps);
/* The same for small amounts: they add up, and are charged (the clock
 * read) once 64 steps or more have. */
void wf_budget_tick(lua_State *L, unsigned long steps);
/* Charge bytes handled in C, WF_BYTES_PER_STEP to a step (as a tick). */
void wf_budget_bytes(lua_State *L, size_t bytes);
/* Refuse up front, charging nothing, work of more steps than are left. */
void wf_budget_need(lua_State *L, unsigned long steps);
/* Make the table at idx read-only for scripts (rawset refused too). */
void wf_protect(lua_State *L, int idx);
/* Copy s into out (size outlen) as valid UTF-8 without control
 * characters, cut at a character boundary. */
void wf_clean_text(char *out, size_t outlen, const char *s, size_t len);

/* ---- workflow_lib.c ----------------------------------------------- */

/* Replace, in the library table at idx ("_G" for the base functions,
 * "string", "table", "utf8", "os"), the functions that loop in C with
 * versions that charge that work to the budget. */
void wf_lib_open(lua_State *L, const char *lib, int idx);

/* ---- workflow_api.c ----------------------------------------------- */

/* Push the (unprotected) atrium table. */
void wf_api_open(lua_State *L);

/* ---- workflow_json.c ---------------------------------------------- */

/* Push j (NULL = nil) as a Lua value; raises on depth or memory. */
void wf_json_push(lua_State *L, json_t *j);
/* Convert the value at idx to JSON shaped like `like` (NULL = any shape:
 * objects and arrays by their keys, nil = null). Never raises; returns a
 * new reference or NULL with err. */
json_t *wf_json_from_lua(lua_State *L, int idx, const json_t *like,
			 char *err, size_t errlen);
/* Non-zero when the value at idx equals j (nil equals NULL and null). */
int wf_json_equal(lua_State *L, int idx, const json_t *j);

/* ---- workflow_run.c: a handler's ev --------------------------------- */

/* If the value at idx is a handler's ev proxy, push the table of all its
 * fields (taken from the payload as needed) and return 1; 0 when it is not
 * one (nothing pushed); -1 when that failed (ev used after its call, or
 * out of memory; nothing pushed). Never raises. */
int wf_ev_fields(lua_State *L, int idx);

/* ---- workflow_pattern.c ------------------------------------------- */

/* Replace find, match, gmatch and gsub in the string table at idx with
 * versions that charge their backtracking to the call's budget. */
void wf_pattern_open(lua_State *L, int idx);

#endif
