/*
 * test_workflow.c - unit tests of the Lua workflow engine (core/workflow*.c)
 * against the script fixtures in tests/unit/workflows/<case>/.
 *
 * Covers allow/deny/amend semantics, file order, after_ events, every
 * sandbox escape we know of (each must fail, and the next call on the same
 * thread must work), work done in C (library loops and instructions over
 * long values must end by the budget or within 4x the deadline), the ev
 * proxy a handler gets, hidden credential settings, notification kinds,
 * load-time rejection with "file.lua:LINE:", reload, concurrent dispatch
 * across a reload, timed jobs, and the budgeted pattern and library
 * functions against the stock ones. It also prints (does not assert) the
 * cost of one trivial before_ dispatch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "workflow.h"

/* ---- fixtures and a test host ------------------------------------- */

static char fixtures[PATH_MAX + 64];

static const char *fx(const char *name)
{
	static _Thread_local char buf[PATH_MAX + 192];

	snprintf(buf, sizeof(buf), "%s/%s", fixtures, name);
	return buf;
}

static void find_fixtures(void)
{
	const char *env = getenv("WF_FIXTURES");
	char exe[PATH_MAX - 64];
	ssize_t n;
	char *slash;

	if (env) {
		snprintf(fixtures, sizeof(fixtures), "%s", env);
		return;
	}
	snprintf(fixtures, sizeof(fixtures), "%s", __FILE__);
	slash = strrchr(fixtures, '/');
	snprintf(slash ? slash + 1 : fixtures,
		 sizeof(fixtures) - (size_t)(slash ? slash + 1 - fixtures : 0),
		 "workflows");
	if (access(fixtures, R_OK) == 0)
		return;
	/* build/tests/unit/test_workflow -> tests/unit/workflows */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(fixtures, sizeof(fixtures),
			 "%s/../../../tests/unit/workflows", exe);
	}
}

static struct {
	pthread_mutex_t mu;
	char log[1 << 16];
	size_t loglen;
	int every, daily, overlap;
	json_t *daily_data;
	char last_kind[64], last_ref[64];
	json_t *last_data;
	atomic_llong now;
	int reenter_result;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void h_log(void *ud, int level, const char *where, const char *msg)
{
	(void)ud;
	pthread_mutex_lock(&H.mu);
	if (H.loglen < sizeof(H.log) - 1024)
		H.loglen += (size_t)snprintf(H.log + H.loglen,
					     sizeof(H.log) - H.loglen,
					     "%d %s %s\n", level, where, msg);
	pthread_mutex_unlock(&H.mu);
}

static int log_has(const char *s)
{
	int r;

	pthread_mutex_lock(&H.mu);
	r = strstr(H.log, s) != NULL;
	pthread_mutex_unlock(&H.mu);
	if (!r)
		fprintf(stderr, "log lacks \"%s\":\n%s", s, H.log);
	return r;
}

static void log_clear(void)
{
	pthread_mutex_lock(&H.mu);
	H.log[0] = '\0';
	H.loglen = 0;
	pthread_mutex_unlock(&H.mu);
}

static long long h_notify(void *ud, long long uid, const char *kind,
			  const char *ref, json_t *data, time_t at)
{
	static long long id;

	(void)ud, (void)ref, (void)at, (void)uid;
	pthread_mutex_lock(&H.mu);
	if (strcmp(kind, "every_tick") == 0)
		H.every++;
	if (strcmp(kind, "overlap_start") == 0)
		H.overlap++;
	if (strcmp(kind, "daily_tick") == 0) {
		H.daily++;
		json_decref(H.daily_data);
		H.daily_data = json_incref(data);
	}
	snprintf(H.last_kind, sizeof(H.last_kind), "%s", kind);
	snprintf(H.last_ref, sizeof(H.last_ref), "%s", ref ? ref : "");
	json_decref(H.last_data);
	H.last_data = json_incref(data);
	id++;
	pthread_mutex_unlock(&H.mu);
	return id;
}

static void *reenter_thread(void *arg)
{
	(void)arg;
	H.reenter_result = wf_jobs_run_due((time_t)atomic_load(&H.now) + 1000);
	return NULL;
}

static json_t *h_lookup(void *ud, const char *name, json_t *args, char *err,
			size_t errlen)
{
	pthread_t th;

	(void)ud;
	if (strcmp(name, "echo") == 0)
		return args ? json_incref(args) : json_null();
	if (strcmp(name, "nil") == 0)
		return NULL;
	if (strcmp(name, "scheduling.patient_summary") == 0)
		return json_pack("{s:i, s:i, s:i, s:n}", "visits", 4, "noshows",
				 json_integer_value(json_object_get(
				     args, "patient_id")) == 9
				     ? 3
				     : 0,
				 "upcoming", 1, "primary_provider_id");
	if (strcmp(name, "messaging.unanswered_count") == 0)
		return json_integer(3);
	if (strcmp(name, "scheduling.appointments_between") == 0)
		return json_pack("[{s:i, s:i, s:i}]", "id", 42, "patient_id", 7,
				 "start_at", 1700053200);
	if (strcmp(name, "nested") == 0) {
		struct wf_result res;
		json_t *p = json_pack("{s:s}", "out", "");

		/* a host callback emitting an event from inside a handler */
		wf_dispatch("api.call", p, &res);
		json_decref(p);
		return json_pack("{s:i, s:i}", "failed", res.failed, "run",
				 res.handlers_run);
	}
	if (strcmp(name, "reenter") == 0) {
		pthread_create(&th, NULL, reenter_thread, NULL);
		pthread_join(th, NULL);
		return json_true();
	}
	snprintf(err, errlen, "no lookup named %s", name);
	return NULL;
}

static const char *h_setting(void *ud, const char *key)
{
	(void)ud;
	if (strcmp(key, "practice.name") == 0)
		return "Elm Street Clinic";
	if (strcmp(key, "plugin.scheduling.cutoff_hours") == 0)
		return "12";
	if (strcmp(key, "plugin.keyring.cutoff") == 0)
		return "5";
	if (strncmp(key, "plugin.billing.", 15) == 0)
		return "s3cr3t";
	return NULL;
}

static time_t h_now(void *ud)
{
	(void)ud;
	return (time_t)atomic_load(&H.now);
}

static const struct wf_host host = {
    .log = h_log,
    .notify = h_notify,
    .lookup = h_lookup,
    .setting = h_setting,
    .now = h_now,
};

static const struct wf_event_info events[] = {
    {"appointment.before_book", "slot_minutes, visit_type,tags,pool", 1},
    {"appointment.after_book", "pool,tags", 0},
    {"message.before_send", "body", 0},
    {"sandbox.before_probe", NULL, 1},
    {"iso.before_check", "tampered,intact", 0},
    {"pattern.run", "out", 0},
    {"api.call", "out", 0},
    {NULL, NULL, 0},
};

static void reload_ok(const char *dir, const struct wf_limits *lim)
{
	char err[2048];
	int rc = wf_reload(dir, events, lim, &host, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "reload %s: %s\n", dir, err);
	assert_int_equal(rc, 0);
}

static json_t *booking(const char *visit_type)
{
	return json_pack("{s:i, s:s, s:i, s:[], s:n}", "slot_minutes", 30,
			 "visit_type", visit_type, "patient_id", 7, "tags",
			 "pool");
}

static int setup(void **state)
{
	(void)state;
	log_clear();
	H.last_kind[0] = H.last_ref[0] = '\0';
	atomic_store(&H.now, 1700000000);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	wf_shutdown();
	pthread_mutex_lock(&H.mu);
	json_decref(H.last_data);
	H.last_data = NULL;
	pthread_mutex_unlock(&H.mu);
	return 0;
}

/* ---- semantics ---------------------------------------------------- */

static void test_allow_and_amend(void **state)
{
	struct wf_result res;
	json_t *p = booking("checkup");
	char *tags;

	(void)state;
	reload_ok(fx("basic"), NULL);
	assert_int_equal(wf_dispatch("appointment.before_book", p, &res), 0);
	assert_int_equal(res.verdict, WF_ALLOW);
	assert_int_equal(res.handlers_run, 3);
	assert_int_equal(res.failed, 0);
	/* amended */
	assert_int_equal(json_integer_value(json_object_get(p, "slot_minutes")),
			 45);
	/* not amendable: ignored, logged once, and hidden from later files */
	assert_int_equal(json_integer_value(json_object_get(p, "patient_id")),
			 7);
	assert_true(log_has("2 Zeta.lua:2 appointment.before_book: change to "
			    "field 'patient_id' ignored: it is not amendable"));
	/* order: Zeta.lua before alpha.lua (bytewise), then registration */
	tags = json_dumps(json_object_get(p, "tags"), JSON_COMPACT);
	assert_string_equal(tags, "[\"zeta1\",\"zeta2\",\"alpha:45\"]");
	free(tags);
	json_decref(p);

	/* the warning is logged once per handler, not per call */
	log_clear();
	p = booking("checkup");
	wf_dispatch("appointment.before_book", p, &res);
	assert_int_equal(res.verdict, WF_ALLOW);
	pthread_mutex_lock(&H.mu);
	assert_null(strstr(H.log, "patient_id"));
	pthread_mutex_unlock(&H.mu);
	json_decref(p);

	assert_true(wf_has_handlers("appointment.before_book"));
	assert_false(wf_has_handlers("sandbox.before_probe"));
	assert_false(wf_has_handlers("no.such_event"));
}

static void expect_deny(const char *visit_type, const char *reason,
			int failed)
{
	struct wf_result res;
	json_t *p = booking(visit_type);

	assert_int_equal(wf_dispatch("appointment.before_book", p, &res), 0);
	assert_int_equal(res.verdict, WF_DENY);
	assert_string_equal(res.reason, reason);
	assert_int_equal(res.failed, failed);
	/* the first deny stops the chain: nothing after it ran */
	assert_int_equal(res.handlers_run, 1);
	assert_int_equal(json_array_size(json_object_get(p, "tags")), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "slot_minutes")),
			 30);
	json_decref(p);
}

static void test_deny(void **state)
{
	(void)state;
	reload_ok(fx("basic"), NULL);
	expect_deny("forbidden", WF_REASON_DENIED, 0);
	expect_deny("reason", "no new patients on Fridays", 0);
	expect_deny("deny_call", "called deny", 0);
	/* catching the deny does not undo it */
	expect_deny("deny_caught", "caught deny", 0);
	/* failures on a clinical event close it */
	expect_deny("badtype", WF_REASON_UNAVAILABLE, 1);
	assert_true(log_has("3 Zeta.lua:2 appointment.before_book: field "
			    "'slot_minutes': must stay an integer"));
	expect_deny("badreturn", WF_REASON_UNAVAILABLE, 1);
	assert_true(log_has("handler returned a number value"));
	expect_deny("nilfield", WF_REASON_UNAVAILABLE, 1);
	assert_true(log_has("field 'visit_type': must stay a string"));
	expect_deny("cycle", WF_REASON_UNAVAILABLE, 1);
	assert_true(log_has("field 'tags': tables nested too deeply"));
}

static void test_after_cannot_deny(void **state)
{
	struct wf_result res;
	json_t *p = json_pack("{s:n, s:[]}", "pool", "tags");
	char *tags;

	(void)state;
	reload_ok(fx("basic"), NULL);
	assert_int_equal(wf_dispatch("appointment.after_book", p, &res), 0);
	assert_int_equal(res.verdict, WF_ALLOW);
	assert_int_equal(res.handlers_run, 2);
	assert_int_equal(res.failed, 0);
	assert_string_equal(json_string_value(json_object_get(p, "pool")),
			    "front-desk");
	tags = json_dumps(json_object_get(p, "tags"), JSON_COMPACT);
	assert_string_equal(tags, "[\"after\",\"front-desk\"]");
	free(tags);
	assert_true(log_has("atrium.deny ignored"));
	json_decref(p);
}

static void test_fail_open_and_closed(void **state)
{
	struct wf_limits closed = {.fail_closed_default = 1};
	struct wf_result res;
	json_t *p = json_pack("{s:s}", "body", "hi");

	(void)state;
	/* not clinical, fail_closed_default off: the failing handler is
	 * skipped and the next one still runs */
	reload_ok(fx("failing"), NULL);
	wf_dispatch("message.before_send", p, &res);
	assert_int_equal(res.verdict, WF_ALLOW);
	assert_int_equal(res.failed, 1);
	assert_int_equal(res.handlers_run, 2);
	assert_string_equal(json_string_value(json_object_get(p, "body")),
			    "second ran");
	assert_true(log_has("fail.lua:2"));
	assert_true(log_has("message.before_send: broken rule"));
	json_decref(p);

	reload_ok(fx("failing"), &closed);
	p = json_pack("{s:s}", "body", "hi");
	wf_dispatch("message.before_send", p, &res);
	assert_int_equal(res.verdict, WF_DENY);
	assert_string_equal(res.reason, WF_REASON_UNAVAILABLE);
	assert_int_equal(res.handlers_run, 1);
	assert_string_equal(json_string_value(json_object_get(p, "body")),
			    "hi");
	json_decref(p);
}

static void test_bad_arguments(void **state)
{
	struct wf_result res;
	json_t *arr = json_array();

	(void)state;
	reload_ok(fx("basic"), NULL);
	assert_int_equal(wf_dispatch("appointment.before_book", arr, &res),
			 -1);
	assert_int_equal(res.verdict, WF_ALLOW);
	assert_int_equal(wf_dispatch(NULL, arr, &res), -1);
	json_decref(arr);
}

/* ---- the sandbox -------------------------------------------------- */

static void probe(const char *name, const char *expect)
{
	struct wf_result res;
	json_t *p = json_pack("{s:s}", "case", name);
	struct timespec a, b;
	double ms;

	log_clear();
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(wf_dispatch("sandbox.before_probe", p, &res), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	     (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	if (res.failed != 1 || !log_has(expect) || getenv("WF_VERBOSE"))
		fprintf(stderr, "  probe %s: failed=%d, %.1f ms\n", name,
			res.failed, ms);
	assert_int_equal(res.failed, 1);
	assert_int_equal(res.verdict, WF_DENY);
	assert_string_equal(res.reason, WF_REASON_UNAVAILABLE);
	assert_true(log_has("probes.lua:"));
	assert_true(log_has(expect));
	assert_true(ms < 3000);
	json_decref(p);

	/* the same thread's state still works */
	p = json_pack("{s:s}", "case", "ok");
	assert_int_equal(wf_dispatch("sandbox.before_probe", p, &res), 0);
	assert_int_equal(res.verdict, WF_ALLOW);
	assert_int_equal(res.failed, 0);
	json_decref(p);
}

static void test_escapes(void **state)
{
	static const char *const cases[][2] = {
	    {"loop", "instruction budget exceeded"},
	    {"nested_pcall", "instruction budget exceeded"},
	    {"xpcall_handler", "instruction budget exceeded"},
	    {"coroutine_wrap", "instruction budget exceeded"},
	    {"coroutine_resume", "instruction budget exceeded"},
	    {"coroutine_pcall", "instruction budget exceeded"},
	    {"coroutine_close", "instruction budget exceeded"},
	    {"zombie_make", "instruction budget exceeded"},
	    {"zombie_close", "closed the zombie"},
	    {"rep", "memory limit exceeded"},
	    {"concat", "memory limit exceeded"},
	    {"table_growth", "exceeded"},
	    {"pattern_bomb", "instruction budget exceeded"},
	    {"gsub_bomb", "instruction budget exceeded"},
	    {"load_binary", "global 'load'"},
	    {"string_dump", "field 'dump'"},
	    {"debug", "global 'debug'"},
	    {"io", "global 'io'"},
	    {"os_execute", "field 'execute'"},
	    {"os_exit", "field 'exit'"},
	    {"require", "global 'require'"},
	    {"package", "global 'package'"},
	    {"dofile", "global 'dofile'"},
	    {"collectgarbage", "global 'collectgarbage'"},
	    {"string_mt", "attempt to index a boolean value"},
	    {"setmetatable_string", "cannot change a protected metatable"},
	    {"rawset_string", "read-only table"},
	    {"gc", "__gc metamethods are not available"},
	    {"error_table", "error object is a table value"},
	    {"deep_recursion", "probes.lua:"},
	};
	struct wf_limits lim = {.deadline_ms = 5000};
	size_t i;

	(void)state;
	/* a generous deadline: the instruction budget must be what stops
	 * the runaway probes, even in a slow sanitizer build */
	reload_ok(fx("probes"), &lim);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		probe(cases[i][0], cases[i][1]);
}

static void test_shared_tables_read_only(void **state)
{
	struct wf_result res;
	json_t *p = json_pack("{s:i, s:b}", "tampered", -1, "intact", 0);

	(void)state;
	reload_ok(fx("isolation"), NULL);
	wf_dispatch("iso.before_check", p, &res);
	assert_int_equal(res.failed, 0);
	assert_int_equal(res.handlers_run, 2);
	assert_int_equal(json_integer_value(json_object_get(p, "tampered")), 0);
	assert_true(json_is_true(json_object_get(p, "intact")));
	json_decref(p);
}

static void test_deadline(void **state)
{
	struct wf_limits lim = {.instructions = ULONG_MAX / 2,
				.deadline_ms = 30};
	struct wf_result res;
	json_t *p = json_pack("{s:s}", "case", "loop");
	struct timespec a, b;
	double ms;

	(void)state;
	reload_ok(fx("probes"), &lim);
	clock_gettime(CLOCK_MONOTONIC, &a);
	wf_dispatch("sandbox.before_probe", p, &res);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	     (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	assert_int_equal(res.failed, 1);
	assert_true(log_has("time limit exceeded (30 ms)"));
	assert_true(ms >= 29 && ms < 500);
	json_decref(p);
}

static void test_memory_limit_and_rebuild(void **state)
{
	struct wf_limits lim = {.instructions = 500000000UL,
				.deadline_ms = 5000,
				.memory = 4u << 20};
	struct wf_result res;
	int i, failures = 0, recovered = 0;

	(void)state;
	reload_ok(fx("memory"), &lim);
	log_clear();
	{
		json_t *p = booking("table");

		wf_dispatch("appointment.before_book", p, &res);
		assert_int_equal(res.failed, 1);
		assert_true(log_has("memory limit exceeded (4096 KiB)"));
		json_decref(p);
	}
	/* a script keeping 1 MiB per call in its globals fills the state; the
	 * state is rebuilt after the failure and calls work again */
	for (i = 0; i < 12; i++) {
		json_t *p = booking("keep");

		wf_dispatch("appointment.before_book", p, &res);
		if (res.failed)
			failures++;
		else if (failures)
			recovered++;
		json_decref(p);
	}
	assert_true(failures >= 1);
	assert_true(recovered >= 1);
}

/* ---- loading ------------------------------------------------------ */

static void expect_load_error(const char *dir, const char *text)
{
	char err[4096];
	struct wf_gen *gen =
	    wf_gen_load(fx(dir), events, NULL, &host, err, sizeof(err));

	if (gen || !strstr(err, text))
		fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", dir, err,
			text);
	assert_null(gen);
	assert_non_null(strstr(err, text));
}

static void test_load_errors(void **state)
{
	char err[4096];

	(void)state;
	expect_load_error("bad_syntax", "20-broken.lua:3: unexpected symbol");
	expect_load_error("bad_event",
			  "typo.lua:2: atrium.on: unknown event "
			  "'appointment.before_bok'");
	expect_load_error("bad_interval",
			  "every.lua:1: atrium.every: interval must be");
	expect_load_error("bad_interval", "late.lua:2: atrium.daily: time "
					  "must be");
	expect_load_error("top_error",
			  "a.lua:4: attempt to index a nil value (local 'x')");
	expect_load_error("top_error", "b.lua:1: atrium.notify is not "
				       "available at the top level");
	expect_load_error("top_error",
			  "c.lua:1: instruction budget exceeded");
	expect_load_error("top_error",
			  "d.lua:1: error object is a table value");

	/* wf_check_dir: all errors, one per line, and prints nothing */
	assert_int_equal(wf_check_dir(fx("bad_interval"), events, err,
				      sizeof(err)),
			 -1);
	assert_non_null(strchr(err, '\n'));
	assert_int_equal(strncmp(err, "every.lua:1:", 12), 0);
	assert_non_null(strstr(err, "\nlate.lua:2:"));
	assert_int_equal(wf_check_dir(fx("basic"), events, err, sizeof(err)),
			 0);
	/* a missing directory is an empty generation */
	assert_int_equal(wf_check_dir(fx("no-such-dir"), events, err,
				      sizeof(err)),
			 0);
}

static void test_binary_chunk_rejected(void **state)
{
	char dir[] = "/tmp/wf_test_XXXXXX", path[PATH_MAX], err[1024];
	static const char chunk[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
	struct wf_gen *gen;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bin.lua", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(chunk, 1, sizeof(chunk) - 1, f);
	fclose(f);
	gen = wf_gen_load(dir, events, NULL, &host, err, sizeof(err));
	assert_null(gen);
	assert_non_null(strstr(err, "bin.lua:1: attempt to load a binary "
				    "chunk"));
	unlink(path);
	rmdir(dir);
}

static void test_reload_keeps_old_on_error(void **state)
{
	struct wf_result res;
	char err[2048];
	json_t *st, *p;
	json_int_t id;

	(void)state;
	reload_ok(fx("basic"), NULL);
	st = wf_status();
	id = json_integer_value(json_object_get(st, "generation"));
	json_decref(st);
	assert_int_equal(
	    wf_reload(fx("bad_syntax"), events, NULL, &host, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "20-broken.lua:3:"));
	/* still the basic rules */
	p = booking("forbidden");
	wf_dispatch("appointment.before_book", p, &res);
	assert_int_equal(res.verdict, WF_DENY);
	json_decref(p);
	st = wf_status();
	assert_int_equal(json_integer_value(json_object_get(st, "generation")),
			 id);
	assert_non_null(strstr(
	    json_string_value(json_object_get(
		json_object_get(st, "reload_error"), "message")),
	    "20-broken.lua:3:"));
	assert_int_equal(json_array_size(json_object_get(st, "files")), 2);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(st, "files"), 0),
				"name")),
			    "Zeta.lua");
	assert_int_equal(json_integer_value(json_object_get(
			     json_array_get(json_object_get(st, "files"), 0),
			     "handlers")),
			 4);
	json_decref(st);
}

static void test_status_errors(void **state)
{
	struct wf_result res;
	json_t *p = json_pack("{s:s}", "body", "explode"), *st, *errs;
	const char *msg;

	(void)state;
	reload_ok(fx("basic"), NULL);
	wf_dispatch("message.before_send", p, &res);
	assert_int_equal(res.failed, 1);
	assert_int_equal(res.verdict, WF_ALLOW);
	json_decref(p);
	st = wf_status();
	errs = json_object_get(st, "errors");
	assert_true(json_array_size(errs) >= 1);
	msg = json_string_value(json_object_get(json_array_get(errs, 0),
						"message"));
	assert_string_equal(msg, "Zeta.lua:39: message.before_send: boom");
	assert_true(json_is_null(json_object_get(st, "reload_error")));
	json_decref(st);
}

/* ---- the atrium API ----------------------------------------------- */

static void test_api(void **state)
{
	char dir[] = "/tmp/wf_api_XXXXXX", path[PATH_MAX];
	struct wf_result res;
	json_t *p;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/api.lua", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("atrium.log('loaded once')\n"
	      "atrium.on('api.call', function(ev)\n"
	      "  local e = atrium.lookup('echo', { a = { 1, 2 }, b = 'x' })\n"
	      "  local ok, err = pcall(atrium.lookup, 'missing')\n"
	      "  local t = atrium.localtime(0)\n"
	      "  local id = atrium.notify{ user_id = 3, kind = 'k',\n"
	      "    ref = 'r',\n"
	      "    data = { n = 1 }, at = atrium.now() + 60 }\n"
	      "  local bad = pcall(atrium.notify, { user_id = 0,\n"
	      "    kind = 'k' })\n"
	      "  local n = ev.out == '' and atrium.lookup('nested')\n"
	      "  atrium.log('from handler', 'warn')\n"
	      "  ev.out = table.concat({ e.a[2], e.b, tostring(ok),\n"
	      "    err, tostring(atrium.lookup('nil')),\n"
	      "    atrium.setting('practice.name'),\n"
	      "    tostring(atrium.setting('nope')), atrium.now(),\n"
	      "    t.year, atrium.date('!%Y-%m-%d', 86400),\n"
	      "    tostring(id > 0), tostring(bad),\n"
	      "    tostring(_G == _ENV), tostring(string.dump),\n"
	      "    n.failed, n.run }, '|')\n"
	      "end)\n",
	      f);
	fclose(f);
	reload_ok(dir, NULL);
	/* the top-level log ran once (validation), not per thread state */
	assert_true(log_has("api.lua:1 loaded once"));
	p = json_pack("{s:s}", "out", "");
	wf_dispatch("api.call", p, &res);
	assert_int_equal(res.failed, 0);
	assert_string_equal(
	    json_string_value(json_object_get(p, "out")),
	    "2|x|false|atrium.lookup('missing'): no lookup named "
	    "missing|nil|Elm Street Clinic|nil|1700000000|1969|1970-01-02|"
	    "true|false|true|nil|1|0");
	assert_true(log_has("2 api.lua:12 from handler"));
	assert_true(log_has("dispatch from inside a running handler refused"));
	pthread_mutex_lock(&H.mu);
	assert_int_equal(strstr(strstr(H.log, "loaded once") + 1,
				"loaded once") == NULL,
			 1);
	pthread_mutex_unlock(&H.mu);
	json_decref(p);
	unlink(path);
	rmdir(dir);
}

/* ---- concurrency -------------------------------------------------- */

static struct {
	atomic_int reloaded, started, stop;
	atomic_int bad, failed, a, b;
} C;

static void *dispatcher(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 3000 || !atomic_load(&C.stop); i++) {
		struct wf_result res;
		json_t *p = booking("x");
		int after = atomic_load(&C.reloaded);
		const char *pool;

		wf_dispatch("appointment.before_book", p, &res);
		pool = json_string_value(json_object_get(p, "pool"));
		if (res.failed || res.verdict != WF_ALLOW || !pool)
			atomic_fetch_add(&C.failed, 1);
		else if (strcmp(pool, "B") == 0)
			atomic_fetch_add(&C.b, 1);
		else if (strcmp(pool, "A") == 0 && !after)
			atomic_fetch_add(&C.a, 1);
		else
			atomic_fetch_add(&C.bad, 1);
		json_decref(p);
		if (i == 100)
			atomic_fetch_add(&C.started, 1);
		if (i > 100000)
			break;
	}
	return NULL;
}

static void test_concurrent_reload(void **state)
{
	pthread_t th[2];
	struct wf_result res;
	struct wf_gen *pinned;
	json_t *p;
	int i;

	(void)state;
	reload_ok(fx("gen_a"), NULL);
	pinned = wf_current();
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, dispatcher, NULL),
				 0);
	while (atomic_load(&C.started) < 2)
		usleep(1000);
	reload_ok(fx("gen_b"), NULL);
	atomic_store(&C.reloaded, 1);
	usleep(20000);
	atomic_store(&C.stop, 1);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "  concurrent: %d on A, %d on B\n", atomic_load(&C.a),
		atomic_load(&C.b));
	assert_int_equal(atomic_load(&C.failed), 0);
	assert_int_equal(atomic_load(&C.bad), 0);
	assert_true(atomic_load(&C.a) > 0);
	assert_true(atomic_load(&C.b) > 0);

	/* a request that pinned the old generation keeps it */
	p = booking("x");
	wf_dispatch_gen(pinned, "appointment.before_book", p, &res);
	assert_string_equal(json_string_value(json_object_get(p, "pool")),
			    "A");
	json_decref(p);
	p = booking("x");
	wf_dispatch("appointment.before_book", p, &res);
	assert_string_equal(json_string_value(json_object_get(p, "pool")),
			    "B");
	json_decref(p);
	wf_gen_unref(pinned);
}

/* ---- jobs --------------------------------------------------------- */

/* Run due jobs at t, with the host clock reading t too. */
static int due(time_t t)
{
	atomic_store(&H.now, t);
	return wf_jobs_run_due(t);
}

static void test_jobs(void **state)
{
	/* 2026-11-26 07:59:00 in EST (UTC-5) */
	const time_t t0 = 1795697940;
	json_t *st;

	(void)state;
	atomic_store(&H.now, t0);
	H.every = H.daily = 0;
	reload_ok(fx("jobs"), NULL);
	assert_int_equal(due(t0), 0);
	assert_int_equal(due(t0 + 9), 0);
	assert_int_equal(due(t0 + 10), 1);
	assert_int_equal(due(t0 + 15), 0);
	/* 08:00 local: the daily job, and the every job once (no burst
	 * although four intervals passed) */
	assert_int_equal(due(t0 + 60), 2);
	assert_int_equal(H.every, 2);
	assert_int_equal(H.daily, 1);
	assert_int_equal(json_integer_value(json_object_get(H.daily_data,
							    "hour")),
			 8);
	assert_string_equal(
	    json_string_value(json_object_get(H.daily_data, "date")),
	    "2026-11-26 08:00");
	assert_int_equal(due(t0 + 61), 0);
	assert_int_equal(due(t0 + 70), 1);
	/* a reload keeps the schedule (next every run at t0 + 80) */
	atomic_store(&H.now, t0 + 71);
	reload_ok(fx("jobs"), NULL);
	assert_int_equal(due(t0 + 79), 0);
	assert_int_equal(due(t0 + 80), 1);
	/* next day 08:00 */
	assert_int_equal(due(t0 + 60 + 86399), 1);
	assert_int_equal(H.daily, 1);
	assert_int_equal(due(t0 + 60 + 86400), 1);
	assert_int_equal(H.daily, 2);
	st = wf_status();
	assert_int_equal(json_array_size(json_object_get(st, "jobs")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(
		json_array_get(json_object_get(st, "jobs"), 1), "schedule")),
	    "daily(08:00)");
	json_decref(st);
	json_decref(H.daily_data);
	H.daily_data = NULL;
}

static void test_job_no_overlap(void **state)
{
	const time_t t0 = 1795697940;

	(void)state;
	atomic_store(&H.now, t0);
	H.overlap = 0;
	H.reenter_result = -1;
	reload_ok(fx("jobs_overlap"), NULL);
	/* the job, while running, makes another thread ask for due jobs at a
	 * time it is due again: it must not start a second time */
	assert_int_equal(wf_jobs_run_due(t0 + 5), 1);
	assert_int_equal(H.reenter_result, 0);
	assert_int_equal(H.overlap, 1);
	assert_int_equal(wf_jobs_run_due(t0 + 6), 0);
	assert_int_equal(wf_jobs_run_due(t0 + 10), 1);
	assert_int_equal(H.overlap, 2);
}

/* ---- patterns against the stock library --------------------------- */

static int capture_handler(lua_State *L)
{
	lua_setglobal(L, "H");
	return 0;
}

/* Run the last handler fixture `name` registers, on {out = ""}, in a
 * plain Lua state with the stock libraries; returns out (to free). */
static char *stock_run(const char *name, const char *chunk)
{
	lua_State *L = luaL_newstate();
	char *out = NULL;
	const char *path = fx(name);

	luaL_openlibs(L);
	lua_newtable(L);
	lua_pushcfunction(L, capture_handler);
	lua_setfield(L, -2, "on");
	lua_setglobal(L, "atrium");
	{ /* loaded with the chunk name the sandbox uses */
		FILE *f = fopen(path, "rb");
		char *src;
		long n;

		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fseek(f, 0, SEEK_SET);
		src = malloc((size_t)n);
		assert_int_equal(fread(src, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		assert_int_equal(luaL_loadbufferx(L, src, (size_t)n, chunk,
						  "t"),
				 LUA_OK);
		free(src);
	}
	assert_int_equal(lua_pcall(L, 0, 0, 0), LUA_OK);
	lua_getglobal(L, "H");
	lua_newtable(L);
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "out");
	lua_pushvalue(L, -1);
	lua_insert(L, -3);
	assert_int_equal(lua_pcall(L, 1, 0, 0), LUA_OK);
	lua_getfield(L, -1, "out");
	out = strdup(lua_tostring(L, -1));
	lua_close(L);
	return out;
}

static void test_patterns_match_stock(void **state)
{
	struct wf_limits lim = {.instructions = 400000000UL,
				.deadline_ms = 20000};
	struct wf_result res;
	json_t *p = json_pack("{s:s}", "out", "");
	const char *mine;
	char *stock;
	size_t i, line = 1;

	(void)state;
	reload_ok(fx("patterns"), &lim);
	wf_dispatch("pattern.run", p, &res);
	assert_int_equal(res.failed, 0);
	mine = json_string_value(json_object_get(p, "out"));
	stock = stock_run("patterns/corpus.lua", "@corpus.lua");
	for (i = 0; mine[i] && mine[i] == stock[i]; i++)
		line += mine[i] == '\n';
	if (mine[i] != stock[i]) {
		const char *a = mine + i, *b = stock + i;

		while (a > mine && a[-1] != '\n')
			a--, b--;
		fprintf(stderr, "line %zu differs:\nsandbox: %.200s\nstock:   "
				"%.200s\n",
			line, a, b);
	}
	assert_int_equal(strcmp(mine, stock), 0);
	fprintf(stderr, "  patterns: %zu lines identical\n", line);
	free(stock);
	json_decref(p);
}

/* ---- work done in C ----------------------------------------------- */

static double ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* Run cpu.lua's case; it must fail with expect within max_ms, and the
 * next call on the thread must work. */
static void cpu_case(const char *name, const char *expect, double max_ms)
{
	struct wf_result res;
	json_t *p = json_pack("{s:s}", "case", name);
	struct timespec a;
	double ms;

	log_clear();
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(wf_dispatch("sandbox.before_probe", p, &res), 0);
	ms = ms_since(&a);
	if (res.failed != 1 || ms >= max_ms || !log_has(expect) ||
	    getenv("WF_VERBOSE"))
		fprintf(stderr, "  cpu %s: failed=%d reason=\"%s\" %.1f ms\n",
			name, res.failed, res.reason, ms);
	assert_int_equal(res.failed, 1);
	assert_string_equal(res.reason, WF_REASON_UNAVAILABLE);
	assert_true(log_has("cpu.lua:"));
	assert_true(log_has(expect));
	assert_true(ms < max_ms);
	json_decref(p);
	p = json_pack("{s:s}", "case", "ok");
	assert_int_equal(wf_dispatch("sandbox.before_probe", p, &res), 0);
	assert_int_equal(res.verdict, WF_ALLOW);
	json_decref(p);
}

/* With no practical instruction budget the deadline (50 ms) must end
 * every case within four times itself: C loops, library calls over long
 * strings, and instructions whose work grows with a value. */
static void test_cpu_deadline(void **state)
{
	static const char *const cases[] = {
	    "move_nil",    "concat_meta", "insert_len",   "remove_len",
	    "sort_meta",   "unpack_meta", "utf8_len",     "upper",
	    "find_plain",  "tonumber",    "format",       "concat_op",
	    "for_coerce",  "arith_coerce", "compare",     "vararg",
	    "coroutine_concat",
	};
	struct wf_limits lim = {.instructions = ULONG_MAX / 2,
				.deadline_ms = 50};
	size_t i;

	(void)state;
	reload_ok(fx("cpu"), &lim);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cpu_case(cases[i], "time limit exceeded (50 ms)", 200);
}

/* With a budget, C loops over huge counts are refused up front, and
 * short-lived coroutines pay for what they run. */
static void test_cpu_budget(void **state)
{
	static const char *const refused[] = {
	    "move_nil", "concat_meta", "insert_len", "remove_len",
	};
	struct wf_limits lim = {.instructions = 2000000, .deadline_ms = 5000};
	struct wf_result res;
	json_t *p;
	size_t i;

	(void)state;
	reload_ok(fx("cpu"), &lim);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cpu_case(refused[i], "instruction budget exceeded (2000000)",
			 100);
	/* 20,000 coroutines of 300 loop steps each: 6 million instructions
	 * in coroutines, three times the budget */
	cpu_case("coroutines", "instruction budget exceeded", 2000);
	cpu_case("coroutines_resume", "instruction budget exceeded", 2000);
	/* an empty string.rep costs nothing, whatever the count */
	p = json_pack("{s:s}", "case", "rep_empty");
	wf_dispatch("sandbox.before_probe", p, &res);
	assert_int_equal(res.failed, 0);
	assert_string_equal(res.reason, "empty");
	json_decref(p);
	p = json_pack("{s:s}", "case", "rep_sep");
	wf_dispatch("sandbox.before_probe", p, &res);
	assert_int_equal(res.failed, 0);
	assert_string_equal(res.reason, "ab,ab,ab|--|x||\xc3\xa9\xc3\xa9");
	json_decref(p);
}

/* The wrapped and rewritten library functions answer as the stock ones. */
static void test_lib_semantics(void **state)
{
	struct wf_result res;
	json_t *p = json_pack("{s:s}", "out", "");
	const char *mine;
	char *stock;

	(void)state;
	reload_ok(fx("cpu"), NULL);
	wf_dispatch("pattern.run", p, &res);
	assert_int_equal(res.failed, 0);
	mine = json_string_value(json_object_get(p, "out"));
	stock = stock_run("cpu/cpu.lua", "@cpu.lua");
	if (strcmp(mine, stock) != 0)
		fprintf(stderr, "sandbox: %s\nstock:   %s\n", mine, stock);
	assert_string_equal(mine, stock);
	free(stock);
	json_decref(p);
}

/* ---- a handler's ev ----------------------------------------------- */

static json_t *ev_run(const char *visit_type, struct wf_result *res)
{
	json_t *p = json_pack("{s:i, s:s, s:i, s:[], s:n, s:{s:s}}",
			      "slot_minutes", 30, "visit_type", visit_type,
			      "patient_id", 7, "tags", "pool", "patient",
			      "name", "Ann");

	assert_int_equal(wf_dispatch("appointment.before_book", p, res), 0);
	return p;
}

static char *tags_of(json_t *p)
{
	return json_dumps(json_object_get(p, "tags"), JSON_COMPACT);
}

static void test_ev_proxy(void **state)
{
	struct wf_result res;
	json_t *p;
	char *s;

	(void)state;
	reload_ok(fx("ev"), NULL);
	/* pairs sees every field, and ev.event */
	p = ev_run("pairs", &res);
	assert_int_equal(res.failed, 0);
	s = tags_of(p);
	assert_string_equal(s, "[\"event=string\",\"patient=table\","
			       "\"patient_id=number\",\"slot_minutes=number\","
			       "\"tags=table\",\"visit_type=string\"]");
	free(s);
	json_decref(p);
	/* reads see writes and deletions; the metatable is hidden; raw
	 * access sees an empty table */
	p = ev_run("rw", &res);
	assert_int_equal(res.failed, 0);
	s = tags_of(p);
	assert_string_equal(s, "[\"p1\",\"nil\",\"false\",\"false\",\"nil\","
			       "\"nil\",\"appointment.before_book\",\"nil\","
			       "\"nil\"]");
	free(s);
	assert_string_equal(json_string_value(json_object_get(p, "pool")),
			    "final");
	json_decref(p);
	/* an ev kept after its call cannot be read */
	json_decref(ev_run("keep", &res));
	assert_int_equal(res.failed, 0);
	p = ev_run("stale", &res);
	assert_int_equal(res.failed, 0);
	assert_string_equal(json_string_value(json_array_get(
				json_object_get(p, "tags"), 0)),
			    "false");
	assert_non_null(strstr(json_string_value(json_array_get(
				   json_object_get(p, "tags"), 1)),
			       "ev is only valid during its handler call"));
	json_decref(p);
	/* ev as data: all of its fields */
	json_decref(ev_run("notify", &res));
	assert_int_equal(res.failed, 0);
	pthread_mutex_lock(&H.mu);
	s = json_dumps(H.last_data, JSON_COMPACT | JSON_SORT_KEYS);
	pthread_mutex_unlock(&H.mu);
	assert_string_equal(s, "{\"event\":\"appointment.before_book\","
			       "\"patient\":{\"name\":\"Ann\"},"
			       "\"patient_id\":7,\"slot_minutes\":30,"
			       "\"tags\":{},\"visit_type\":\"notify\"}");
	free(s);
	/* rawset on ev amends too */
	p = ev_run("rawset", &res);
	assert_int_equal(res.failed, 0);
	assert_int_equal(
	    json_integer_value(json_object_get(p, "slot_minutes")), 50);
	json_decref(p);
	/* ev holding itself is a cycle, even where tags was empty */
	log_clear();
	p = ev_run("self", &res);
	assert_int_equal(res.failed, 1);
	assert_true(log_has("field 'tags': tables nested too deeply"));
	json_decref(p);
	/* deleting an amendable field is a wrong type */
	log_clear();
	p = ev_run("delete", &res);
	assert_int_equal(res.failed, 1);
	assert_true(log_has("field 'slot_minutes': must stay an integer"));
	json_decref(p);
	/* writing a field's own value is no change */
	log_clear();
	p = ev_run("same", &res);
	assert_int_equal(res.failed, 0);
	pthread_mutex_lock(&H.mu);
	assert_null(strstr(H.log, "ignored"));
	pthread_mutex_unlock(&H.mu);
	json_decref(p);
	/* a table field changed in place: ignored and logged, while the
	 * amendable one is copied back */
	p = ev_run("nested", &res);
	assert_int_equal(res.failed, 0);
	assert_true(log_has("change to field 'patient' ignored"));
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(p, "patient"), "name")),
			    "Ann");
	s = tags_of(p);
	assert_string_equal(s, "[\"nested\"]");
	free(s);
	json_decref(p);
}

/* ---- settings and notification kinds ------------------------------ */

static const char *api_out(const char *dir)
{
	static char out[1024];
	struct wf_result res;
	json_t *p = json_pack("{s:s}", "out", "");

	reload_ok(fx(dir), NULL);
	wf_dispatch("api.call", p, &res);
	assert_int_equal(res.failed, 0);
	snprintf(out, sizeof(out), "%s",
		 json_string_value(json_object_get(p, "out")));
	json_decref(p);
	return out;
}

static void test_setting_hidden(void **state)
{
	(void)state;
	assert_string_equal(api_out("settings"),
			    "Elm Street Clinic,12,5,nil,nil,nil,nil,nil");
}

static void test_notify_kinds(void **state)
{
	const char *out;

	(void)state;
	out = api_out("kinds");
	assert_string_equal(out, "true,true,true,false,false,false,false,"
				 "false,false,false|atrium.notify: kind must "
				 "be 1 to 64 lowercase letters, digits and "
				 "'_', like \"appointment_reminder\"");
}

/* ---- the examples of docs/workflows.md ---------------------------- */

static const struct wf_event_info doc_events[] = {
    /* as the scheduling plugin and the core declare them */
    {"appointment.before_book", "status,reminder_leads", 1},
    {"appointment.after_book", NULL, 1},
    {"notification.before_send", "title,body,channel", 0},
    /* what a messaging plugin would declare */
    {"message.received", "pool,priority,tags", 0},
    {"refill.requested", "pool,tags", 0},
    {NULL, NULL, 0},
};

/* Write every "```lua\n-- file: NAME" block of the doc into dir. */
static int extract_examples(const char *doc, const char *dir)
{
	const char *p = doc, *open = "```lua\n-- file: ";
	int n = 0;

	while ((p = strstr(p, open)) != NULL) {
		const char *name = p + strlen(open), *nl = strchr(name, '\n');
		const char *body = p + strlen("```lua\n"), *end;
		char path[PATH_MAX];
		FILE *f;

		assert_non_null(nl);
		end = strstr(body, "```");
		assert_non_null(end);
		snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(nl - name),
			 name);
		f = fopen(path, "w");
		assert_non_null(f);
		fwrite(body, 1, (size_t)(end - body), f);
		fclose(f);
		n++;
		p = end;
	}
	return n;
}

/* An appointment.before_book payload as the scheduling plugin sends it
 * (the fields these rules read). */
static json_t *visit(int patient, const char *role, int minutes,
		     const char *start_local, const char *type)
{
	return json_pack("{s:i, s:s, s:b, s:i, s:s, s:s, s:s, s:s}",
			 "patient_id", patient, "booked_by_role", role,
			 "new_patient", 0, "minutes_until_start", minutes,
			 "start_local", start_local, "type_name", type,
			 "status", "booked", "reminder_leads", "72h,24h,2h");
}

static json_t *doc_dispatch(const char *event, json_t *p,
			    struct wf_result *res)
{
	assert_int_equal(wf_dispatch(event, p, res), 0);
	assert_int_equal(res->failed, 0);
	return p;
}

static void test_doc_examples(void **state)
{
	char dir[] = "/tmp/wf_doc_XXXXXX", err[2048];
	const time_t now = 1700000000; /* Tuesday 17:13 in EST */
	struct wf_result res;
	char *doc, *s;
	json_t *p;
	FILE *f;
	long len;
	int n;

	(void)state;
	f = fopen(fx("../../../docs/workflows.md"), "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	doc = calloc(1, (size_t)len + 1);
	assert_int_equal(fread(doc, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	assert_non_null(mkdtemp(dir));
	n = extract_examples(doc, dir);
	free(doc);
	assert_int_equal(n, 3);
	atomic_store(&H.now, now);
	assert_int_equal(
	    wf_reload(dir, doc_events, NULL, &host, err, sizeof(err)), 0);

	/* three no-shows (patient 9): call us */
	p = visit(9, "patient", 5000, "2023-11-17 09:00", "Checkup");
	doc_dispatch("appointment.before_book", p, &res);
	assert_int_equal(res.verdict, WF_DENY);
	assert_string_equal(res.reason, "Please call the practice to book "
					"your next visit.");
	json_decref(p);
	/* inside the cutoff (the setting says 12 hours): pending */
	p = visit(7, "patient", 600, "2023-11-15 03:00", "Checkup");
	doc_dispatch("appointment.before_book", p, &res);
	assert_int_equal(res.verdict, WF_ALLOW);
	assert_string_equal(json_string_value(json_object_get(p, "status")),
			    "pending");
	json_decref(p);
	/* Friday, well ahead: booked as is */
	p = visit(7, "patient", 5000, "2023-11-17 09:00", "Annual physical");
	doc_dispatch("appointment.before_book", p, &res);
	assert_int_equal(res.verdict, WF_ALLOW);
	assert_string_equal(json_string_value(json_object_get(p, "status")),
			    "booked");
	assert_string_equal(
	    json_string_value(json_object_get(p, "reminder_leads")),
	    "7d,72h,24h,2h");
	json_decref(p);
	/* Sunday, even when staff book it */
	p = visit(7, "staff", 5000, "2023-11-19 10:00", "Checkup");
	doc_dispatch("appointment.before_book", p, &res);
	assert_int_equal(res.verdict, WF_DENY);
	assert_string_equal(res.reason, "We are closed on Sundays.");
	json_decref(p);

	p = json_pack("{s:s, s:s, s:s, s:s}", "kind", "newsletter", "channel",
		      "email", "title", "News", "body", "...");
	doc_dispatch("notification.before_send", p, &res);
	assert_int_equal(res.verdict, WF_DENY);
	json_decref(p);
	p = json_pack("{s:s, s:s, s:s, s:s}", "kind", "appointment_reminder",
		      "channel", "email", "title", "Your visit", "body", "...");
	doc_dispatch("notification.before_send", p, &res);
	assert_int_equal(res.verdict, WF_ALLOW);
	assert_string_equal(json_string_value(json_object_get(p, "title")),
			    "Elm Street Clinic: Your visit");
	json_decref(p);

	p = json_pack("{s:s, s:n, s:s, s:[]}", "body",
		      "I have had CHEST PAIN since this morning", "pool",
		      "priority", "normal", "tags");
	doc_dispatch("message.received", p, &res);
	s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"body\":\"I have had CHEST PAIN since this "
			       "morning\",\"pool\":\"triage-nurse\","
			       "\"priority\":\"urgent\",\"tags\":"
			       "[\"urgent-words\"]}");
	free(s);
	json_decref(p);
	p = json_pack("{s:s, s:n, s:s, s:[]}", "body", "Could I get a refill?",
		      "pool", "priority", "normal", "tags");
	doc_dispatch("message.received", p, &res);
	assert_string_equal(json_string_value(json_object_get(p, "pool")),
			    "pharmacy");
	json_decref(p);
	p = json_pack("{s:b, s:n, s:[s]}", "controlled", 1, "pool", "tags",
		      "refill");
	doc_dispatch("refill.requested", p, &res);
	s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"controlled\":true,\"pool\":\"physician\","
			       "\"tags\":[\"refill\",\"controlled-"
			       "substance\"]}");
	free(s);
	json_decref(p);

	/* jobs: every 300 s, and 18:00 EST = 23:00 UTC */
	log_clear();
	assert_int_equal(due(now + 300), 1);
	assert_true(log_has("2 30-jobs.lua:22 3 messages have waited more "
			    "than 4 hours"));
	assert_int_equal(due(1700002800 - 1), 1); /* the every job again */
	assert_string_equal(H.last_kind, "");
	assert_int_equal(due(1700002800), 1);
	pthread_mutex_lock(&H.mu);
	assert_string_equal(H.last_kind, "appointment_reminder");
	assert_string_equal(H.last_ref, "appointment:42");
	assert_string_equal(
	    json_string_value(json_object_get(H.last_data, "when")),
	    "Wednesday 15 November at 08:00");
	pthread_mutex_unlock(&H.mu);

	{
		char cmd[PATH_MAX + 32];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* ---- cost --------------------------------------------------------- */

static void test_measure_dispatch(void **state)
{
	struct wf_result res;
	json_t *p = json_pack("{s:i, s:s, s:i}", "slot_minutes", 30,
			      "visit_type", "checkup", "patient_id", 7);
	struct timespec a, b;
	int i, n = 20000;
	double us;

	(void)state;
	reload_ok(fx("bench"), NULL);
	wf_dispatch("appointment.before_book", p, &res); /* builds state */
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++)
		wf_dispatch("appointment.before_book", p, &res);
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = ((double)(b.tv_sec - a.tv_sec) * 1e6 +
	      (double)(b.tv_nsec - a.tv_nsec) / 1e3) /
	     n;
	assert_int_equal(res.handlers_run, 1);
	fprintf(stderr, "  one trivial before_ handler dispatch: %.2f us\n",
		us);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++)
		wf_dispatch("appointment.after_book", p, &res);
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = ((double)(b.tv_sec - a.tv_sec) * 1e6 +
	      (double)(b.tv_nsec - a.tv_nsec) / 1e3) /
	     n;
	fprintf(stderr, "  dispatch of an event without handlers: %.3f us\n",
		us);
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_allow_and_amend, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_deny, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_after_cannot_deny, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_fail_open_and_closed, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shared_tables_read_only,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_limit_and_rebuild,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary_chunk_rejected, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reload_keeps_old_on_error,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_errors, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_api, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_reload, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_job_no_overlap, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_patterns_match_stock, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cpu_deadline, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cpu_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lib_semantics, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ev_proxy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_setting_hidden, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_notify_kinds, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_doc_examples, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_measure_dispatch, setup,
					    teardown),
	};

	/* the practice zone: US Eastern, without needing tzdata */
	setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
	tzset();
	find_fixtures();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
