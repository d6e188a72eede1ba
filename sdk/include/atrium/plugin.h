/*
 * atrium/plugin.h - the contract between atriumd and a plugin.
 *
 * A plugin is a shared object that exports exactly one symbol, the const
 * descriptor `atrium_plugin` (declare it with ATR_PLUGIN_EXPORT). The core
 * reads the descriptor as data - ABI major, struct size and build signature
 * first - before it runs any plugin code. It then calls `init` with a host
 * API table (struct atr_api); everything a plugin does to the outside world
 * goes through that table, so a plugin never links against the core,
 * libmicrohttpd or SQLite. JSON (jansson) is the SDK's currency.
 *
 * This header is not the core's internal view of any of these objects: the
 * context is opaque and only reachable through accessors.
 *
 * ABI rules (see sdk/ABI.md): struct atr_api only ever grows at its end; each
 * block is marked with the minor version that added it. A plugin built against
 * a newer minor checks `api->abi_minor` (or ATR_API_HAS) before calling an
 * entry that its host may not have.
 */
#ifndef ATRIUM_PLUGIN_H
#define ATRIUM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATR_ABI_MAJOR 1
#define ATR_ABI_MINOR 1

/* Changes whenever something outside the version numbers would make a
 * plugin binary incompatible: pointer size, the jansson major version. */
#define ATR_STR2_(x) #x
#define ATR_STR_(x) ATR_STR2_(x)
#define ATR_BUILD_SIGNATURE                                                    \
	"atrium-abi" ATR_STR_(ATR_ABI_MAJOR) "-ptr" ATR_STR_(                  \
	    __SIZEOF_POINTER__) "-jansson" ATR_STR_(JANSSON_MAJOR_VERSION)

/* Return codes of host API calls. Zero is success; errors are negative. */
enum atr_status {
	ATR_OK = 0,
	ATR_ERR = -1,        /* generic failure, already logged by the core */
	ATR_EINVAL = -2,     /* bad argument */
	ATR_ENOTFOUND = -3,  /* no such row / record */
	ATR_ECONFLICT = -4,  /* unique or foreign-key constraint */
	ATR_EBUSY = -5,      /* registration outside init, or database busy */
	ATR_EPERM = -6,      /* caller may not do this */
	ATR_EDENIED = -7,    /* a workflow rule refused the action */
	ATR_ENOMEM = -8,
	ATR_ERESPONDED = -9, /* a response was already written (e.g. a 400) */
};

/* Roles, as bits so a route can name exactly who may call it. */
enum atr_role {
	ATR_ROLE_PATIENT = 1u << 0,
	ATR_ROLE_STAFF = 1u << 1,
	ATR_ROLE_PHYSICIAN = 1u << 2,
	ATR_ROLE_ADMIN = 1u << 3,
};
#define ATR_ROLES_CARE_TEAM (ATR_ROLE_STAFF | ATR_ROLE_PHYSICIAN)
#define ATR_ROLES_ANY_USER                                                     \
	(ATR_ROLE_PATIENT | ATR_ROLE_STAFF | ATR_ROLE_PHYSICIAN | ATR_ROLE_ADMIN)

/* Route flags. Authentication is the default: a route without
 * ATR_ROUTE_PUBLIC is refused (401) to anonymous callers. */
enum atr_route_flag {
	ATR_ROUTE_PUBLIC = 1u << 0, /* no session required */
	ATR_ROUTE_PHI = 1u << 1,    /* touches patient data: every call audited */
	ATR_ROUTE_RAW_BODY = 1u << 2, /* accept any Content-Type (not JSON) */
};

struct atr_ctx; /* opaque: plugin identity, request, user, arena */
struct atr_api;

/* A route handler. It answers through api->respond_json / respond_error
 * and returns ATR_OK; anything else with no response written becomes a 500
 * whose body says nothing about the cause. */
typedef int (*atr_handler_fn)(struct atr_ctx *ctx);

struct atr_route {
	const char *method;  /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *pattern; /* relative to /api/<plugin>, e.g. "/items/:id" */
	atr_handler_fn handler;
	unsigned roles;   /* enum atr_role bits allowed; ignored when PUBLIC */
	unsigned flags;   /* enum atr_route_flag */
	const char *summary; /* one line, used in the OpenAPI document */
	/* Optional OpenAPI 3.1 fragments as JSON text (may be NULL):
	 * request body schema and 2xx response schema. */
	const char *request_schema;
	const char *response_schema;
};

enum atr_config_type {
	ATR_CFG_STRING = 1,
	ATR_CFG_INT,
	ATR_CFG_BOOL,
};

struct atr_config_key {
	const char *name;
	enum atr_config_type type;
	const char *default_value; /* NULL = no default */
	int required;              /* start refused when missing */
	const char *help;
};

struct atr_migration {
	int id;          /* ascending, starting at 1, never reused */
	const char *sql; /* may hold several statements */
};

/* Events a plugin may emit, listed for the workflow reference. */
struct atr_event_decl {
	const char *name;    /* "appointment.before_book" */
	const char *fields;  /* comma-separated payload fields */
	const char *amendable; /* comma-separated fields a before_ handler may
	                          change; NULL = none */
	const char *help;
};

struct atr_plugin {
	uint32_t abi_major;    /* ATR_ABI_MAJOR */
	uint32_t size;         /* sizeof(struct atr_plugin) */
	const char *signature; /* ATR_BUILD_SIGNATURE */
	const char *name;      /* [a-z][a-z0-9_]*, also the URL prefix */
	const char *version;
	const char *description;
	const char *const *requires;            /* NULL-terminated, or NULL */
	const struct atr_config_key *config;    /* {NULL}-terminated, or NULL */
	const struct atr_migration *migrations; /* {0,NULL}-terminated */
	const struct atr_route *routes;         /* {NULL}-terminated */
	const struct atr_event_decl *events;    /* {NULL}-terminated */
	/* Called once at start, in dependency order. Return ATR_OK, or an
	 * error with *errmsg set to a malloc'd message the core frees. */
	int (*init)(struct atr_ctx *ctx, const struct atr_api *api,
		    char **errmsg);
	/* Called at shutdown in reverse order. May be NULL. */
	void (*fini)(struct atr_ctx *ctx);
};

#define ATR_PLUGIN_SYMBOL "atrium_plugin"
#if defined(ATR_STATIC_PLUGIN)
/* Linked into a test binary: no export, a name of the plugin's choosing. */
#define ATR_PLUGIN_EXPORT(var) const struct atr_plugin var
#else
#define ATR_PLUGIN_EXPORT(var)                                                 \
	__attribute__((visibility("default"))) const struct atr_plugin         \
	    atrium_plugin
#endif

#define ATR_PLUGIN_HEADER                                                      \
	.abi_major = ATR_ABI_MAJOR, .size = sizeof(struct atr_plugin),         \
	.signature = ATR_BUILD_SIGNATURE

/* Strict JSON body fields (api->req_json). */
enum atr_field_type {
	ATR_F_STRING = 1,
	ATR_F_INT,
	ATR_F_BOOL,
	ATR_F_NUMBER,
	ATR_F_OBJECT,
	ATR_F_ARRAY,
	ATR_F_ANY,
};
struct atr_field {
	const char *name;
	enum atr_field_type type;
	int required;
	size_t max_len; /* strings: max bytes (0 = 4096) */
};

enum atr_log_level { ATR_LOG_DEBUG, ATR_LOG_INFO, ATR_LOG_WARN, ATR_LOG_ERROR };

/* Row callback for api->sql_each: row is borrowed; return non-zero to stop. */
typedef int (*atr_row_fn)(void *arg, json_t *row);
/* A result row read column by column (api->sql_each_cols, ABI 1.1): valid
 * only inside the callback. */
struct atr_cols;
typedef int (*atr_cols_fn)(void *arg, const struct atr_cols *row);
/* Timed job and event handler callbacks. Jobs run on the core's job thread
 * with their own database connection, never overlapping themselves. */
typedef void (*atr_job_fn)(struct atr_ctx *ctx);
/* A read-only lookup exposed to workflow scripts: returns a new reference
 * (or NULL for nil). */
typedef json_t *(*atr_lookup_fn)(struct atr_ctx *ctx, json_t *args);

struct atr_api {
	uint32_t abi_major; /* ATR_ABI_MAJOR */
	uint32_t abi_minor; /* entries up to this minor are present */
	uint32_t size;      /* sizeof(struct atr_api) in the core */
	uint32_t reserved;

	/* ---- 1.0 ---------------------------------------------------- */

	/* Configuration of this plugin's own [plugin.NAME] section, with the
	 * declared defaults applied. Strings live as long as the plugin. */
	const char *(*config_str)(struct atr_ctx *ctx, const char *key);
	long long (*config_int)(struct atr_ctx *ctx, const char *key);
	int (*config_bool)(struct atr_ctx *ctx, const char *key);
	/* Core settings readable by plugins: "practice.name",
	 * "practice.timezone", "server.base_url". NULL when unknown. */
	const char *(*core_setting)(struct atr_ctx *ctx, const char *key);

	/* The request. Strings are valid until the handler returns. */
	const char *(*req_method)(struct atr_ctx *ctx);
	const char *(*req_path)(struct atr_ctx *ctx);
	const char *(*req_param)(struct atr_ctx *ctx, const char *name);
	const char *(*req_query)(struct atr_ctx *ctx, const char *name);
	const char *(*req_header)(struct atr_ctx *ctx, const char *name);
	/* Parse the body strictly: valid UTF-8 JSON object, no duplicate keys,
	 * no NUL, each field of the NULL-terminated `fields` with its type,
	 * required ones present, no other fields. On failure it writes the 400
	 * (naming the field) and returns NULL. The object is owned by the
	 * request: do not decref it. */
	json_t *(*req_json)(struct atr_ctx *ctx, const struct atr_field *fields);

	/* The signed-in user (0 / 0 / NULL when anonymous). */
	long long (*user_id)(struct atr_ctx *ctx);
	unsigned (*user_role)(struct atr_ctx *ctx); /* one enum atr_role bit */
	const char *(*user_name)(struct atr_ctx *ctx);
	/* IDOR guard: ATR_OK when the caller may act on this patient's records
	 * (the patient themself, or a care-team member); otherwise it writes a
	 * 404 (so existence is not revealed) and returns ATR_EPERM. */
	int (*check_patient)(struct atr_ctx *ctx, long long patient_id);

	/* Responses. respond_json steals the reference to body. */
	int (*respond_json)(struct atr_ctx *ctx, int status, json_t *body);
	int (*respond_error)(struct atr_ctx *ctx, int status, const char *code,
			     const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
	int (*set_header)(struct atr_ctx *ctx, const char *name,
			  const char *value);

	/* Memory freed when the request (or job run, or init) ends. */
	void *(*alloc)(struct atr_ctx *ctx, size_t n);
	char *(*sprintf)(struct atr_ctx *ctx, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

	/* SQL on this thread's connection, `?` placeholders bound from the
	 * JSON array `params` (integers, reals, strings, booleans, null; may
	 * be NULL). Portable SQL only. */
	/* Run a statement; optional outputs: rows changed, last insert id. */
	int (*sql_exec)(struct atr_ctx *ctx, const char *sql, json_t *params,
			long long *changes, long long *last_id);
	/* All rows as a new JSON array of objects (column name -> value);
	 * NULL on error. Caller decrefs. */
	json_t *(*sql_query)(struct atr_ctx *ctx, const char *sql,
			     json_t *params);
	/* First row as a new object, or NULL (none: *status = ATR_ENOTFOUND). */
	json_t *(*sql_one)(struct atr_ctx *ctx, const char *sql, json_t *params,
			   int *status);
	int (*sql_each)(struct atr_ctx *ctx, const char *sql, json_t *params,
			atr_row_fn fn, void *arg);
	/* BEGIN IMMEDIATE / COMMIT / ROLLBACK, on the daemon's one write
	 * connection (other writers wait: keep transactions short). Commit
	 * returns once the change is on disk. A transaction still open when
	 * the handler returns is rolled back. */
	int (*tx_begin)(struct atr_ctx *ctx);
	int (*tx_commit)(struct atr_ctx *ctx);
	int (*tx_rollback)(struct atr_ctx *ctx);

	void (*log)(struct atr_ctx *ctx, enum atr_log_level level,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
	/* Append an audit record for the current user and client.
	 * patient_id 0 = not about a patient; outcome "ok", "denied", ... */
	int (*audit)(struct atr_ctx *ctx, const char *action,
		     long long patient_id, const char *object_type,
		     const char *object_id, const char *outcome);

	/* Run the workflow handlers of `event` on `payload` (borrowed). For a
	 * before_ event, handlers may amend the declared fields in place;
	 * returns ATR_EDENIED with *reason (arena memory) when one refuses. */
	int (*emit)(struct atr_ctx *ctx, const char *event, json_t *payload,
		    const char **reason);

	/* Registration: only inside init, else ATR_EBUSY. */
	int (*register_job)(struct atr_ctx *ctx, const char *name,
			    unsigned interval_seconds, atr_job_fn fn);
	/* Serve `dir` (relative to the plugin's file, or absolute) at
	 * /plugins/<name>/ and add `pages` (array of {"id","title","module",
	 * "roles":["patient",...]}) to the UI manifest. Borrowed. */
	int (*register_ui)(struct atr_ctx *ctx, const char *dir, json_t *pages);
	int (*register_lookup)(struct atr_ctx *ctx, const char *name,
			       atr_lookup_fn fn);

	/* Queue a notification in the core outbox for `user_id`. `kind` picks
	 * the template and preferences ("appointment_reminder"); `ref` groups
	 * it with an object ("appointment:42") so it can be cancelled;
	 * `not_before` 0 = now. Returns the outbox id (> 0) or an error. */
	long long (*notify)(struct atr_ctx *ctx, long long user_id,
			    const char *kind, const char *ref, json_t *data,
			    time_t not_before);
	/* Cancel undelivered notifications with this ref (and kind, or all
	 * kinds when NULL). Returns the number cancelled or an error. */
	int (*notify_cancel)(struct atr_ctx *ctx, const char *ref,
			     const char *kind);

	/* Time. now() is UTC. The practice time zone is the core's. */
	time_t (*now)(struct atr_ctx *ctx);
	/* Practice-local broken-down time -> UTC; tm_isdst = -1 lets the core
	 * decide. Returns (time_t)-1 for a time that does not exist. */
	time_t (*local_to_utc)(struct atr_ctx *ctx, const struct tm *local);
	void (*utc_to_local)(struct atr_ctx *ctx, time_t t, struct tm *out);
	/* Format UTC time as RFC 3339 "2026-11-26T17:00:00Z" (arena). */
	const char *(*time_format)(struct atr_ctx *ctx, time_t t);
	/* Parse RFC 3339 with Z or an offset; ATR_EINVAL on anything else. */
	int (*time_parse)(struct atr_ctx *ctx, const char *s, time_t *out);

	/* Random bytes from the system CSPRNG, and a URL-safe token of
	 * `bytes` random bytes (arena); hash_token gives the hex SHA-256 that
	 * should be stored in its place. */
	void (*random)(struct atr_ctx *ctx, void *buf, size_t n);
	const char *(*token)(struct atr_ctx *ctx, size_t bytes);
	const char *(*hash_token)(struct atr_ctx *ctx, const char *token);

	/* Name of the calling plugin. */
	const char *(*plugin_name)(struct atr_ctx *ctx);
	/* Registration: `fn` seeds demo data when `atriumd --init-demo`
	 * creates the demo practice (empty database only). Init only. */
	int (*register_demo)(struct atr_ctx *ctx, atr_job_fn fn);
	/* The patient a request is about, for the audit record of a PHI
	 * route that looked a record up by id (check_patient sets it). */
	void (*audit_patient)(struct atr_ctx *ctx, long long patient_id);

	/* ---- 1.1 ---------------------------------------------------- */

	/* sql_each without a JSON object per row, for loops over many rows:
	 * fn reads the current row's columns (0-based, in SELECT order) with
	 * col_int / col_double / col_text / col_is_null. Same parameters and
	 * results as sql_each. col_text is NULL for SQL NULL and valid until
	 * fn returns. */
	int (*sql_each_cols)(struct atr_ctx *ctx, const char *sql,
			     json_t *params, atr_cols_fn fn, void *arg);
	long long (*col_int)(const struct atr_cols *row, int col);
	double (*col_double)(const struct atr_cols *row, int col);
	const char *(*col_text)(const struct atr_cols *row, int col);
	int (*col_is_null)(const struct atr_cols *row, int col);
	/* Answer with a body the plugin wrote itself (copied), e.g. a long
	 * JSON list written without building it as jansson values, or CSV.
	 * content_type is required; the core adds its usual headers. */
	int (*respond_text)(struct atr_ctx *ctx, int status,
			    const char *content_type, const char *body,
			    size_t len);
};

/* True when the host's table has entry `field` (for entries added after
 * 1.0): ATR_API_HAS(api, some_new_fn). */
#define ATR_API_HAS(api, field)                                                \
	((api)->size >= offsetof(struct atr_api, field) +                      \
			    sizeof((api)->field) &&                            \
	 (api)->field != NULL)

#ifdef __cplusplus
}
#endif
#endif
