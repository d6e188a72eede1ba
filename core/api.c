/*
 * api.c - the host API table. Each entry is a thin adapter from a plugin's
 * opaque context to a core subsystem; entries check the phase they are
 * legal in (registration only during init, request accessors only during a
 * request) and answer with an error code otherwise.
 */
#include "api.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "json_strict.h"
#include "log.h"
#include "plugins.h"
#include "request.h"
#include "workflow.h"

void ctx_init(struct atr_ctx *ctx, struct plugin *p, struct arena *a,
	      enum ctx_phase phase)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->plugin = p;
	ctx->arena = a;
	ctx->phase = phase;
}

void ctx_release(struct atr_ctx *ctx)
{
	wf_gen_unref(ctx->wf_gen);
	ctx->wf_gen = NULL;
}

struct db *ctx_db(struct atr_ctx *ctx)
{
	if (!ctx->db)
		ctx->db = db_thread();
	return ctx->db;
}

/* ---- config ---- */

static const char *a_config_str(struct atr_ctx *ctx, const char *key)
{
	return ctx->plugin ? plugin_config(ctx->plugin, key) : NULL;
}

static long long a_config_int(struct atr_ctx *ctx, const char *key)
{
	const char *v = a_config_str(ctx, key);
	return v ? strtoll(v, NULL, 10) : 0;
}

static int a_config_bool(struct atr_ctx *ctx, const char *key)
{
	const char *v = a_config_str(ctx, key);
	return v ? config_parse_bool(v) == 1 : 0;
}

static const char *a_core_setting(struct atr_ctx *ctx, const char *key)
{
	(void)ctx;
	if (!strcmp(key, "practice.name"))
		return g_cfg->practice_name;
	if (!strcmp(key, "practice.timezone"))
		return g_cfg->timezone;
	if (!strcmp(key, "server.base_url"))
		return g_cfg->base_url;
	return NULL;
}

/* ---- request ---- */

static const char *a_req_method(struct atr_ctx *ctx)
{
	return ctx->req ? ctx->req->method : NULL;
}

static const char *a_req_path(struct atr_ctx *ctx)
{
	return ctx->req ? ctx->req->path : NULL;
}

static const char *a_req_param(struct atr_ctx *ctx, const char *name)
{
	return ctx->req ? request_param(ctx->req, name) : NULL;
}

static const char *a_req_query(struct atr_ctx *ctx, const char *name)
{
	return ctx->req ? request_query(ctx->req, name) : NULL;
}

static const char *a_req_header(struct atr_ctx *ctx, const char *name)
{
	if (!ctx->req || !strcasecmp(name, "Cookie") ||
	    !strcasecmp(name, "Authorization"))
		return NULL;
	return request_header(ctx->req, name);
}

static json_t *a_req_json(struct atr_ctx *ctx, const struct atr_field *fields)
{
	struct request *req = ctx->req;
	char msg[256], field[80];
	json_t *j;

	if (!req)
		return NULL;
	j = json_strict_parse(req->body ? req->body : "", req->body_len,
			      fields, msg, sizeof(msg), field, sizeof(field));
	if (!j) {
		json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code",
					 "bad_request", "message", msg);
		if (field[0])
			json_object_set_new(json_object_get(body, "error"),
					    "field", json_string(field));
		respond_json(req, 400, body);
		return NULL;
	}
	json_decref(req->json);
	req->json = j;
	return j;
}

/* ---- user ---- */

static long long a_user_id(struct atr_ctx *ctx)
{
	return ctx->user_id;
}

static unsigned a_user_role(struct atr_ctx *ctx)
{
	return ctx->user_id ? ctx->role : 0;
}

static const char *a_user_name(struct atr_ctx *ctx)
{
	return ctx->user_id ? ctx->username : NULL;
}

static int a_check_patient(struct atr_ctx *ctx, long long patient_id)
{
	int ok = 0;
	if (ctx->role == ATR_ROLE_PATIENT)
		ok = patient_id == ctx->user_id;
	else if (ctx->role & ATR_ROLES_CARE_TEAM) {
		/* A care-team member may act for any patient of the
		 * practice, and only for accounts that are patients. */
		sqlite3_stmt *st =
		    db_stmt(ctx_db(ctx),
			    "SELECT 1 FROM users WHERE id = ? AND role = "
			    "'patient'",
			    "i", patient_id);
		ok = st && sqlite3_step(st) == SQLITE_ROW;
		if (st)
			sqlite3_reset(st);
	}
	if (ok) {
		ctx->audit_patient = patient_id;
		return ATR_OK;
	}
	if (ctx->req)
		respond_error(ctx->req, 404, "not_found", "no such record");
	return ATR_EPERM;
}

/* ---- responses ---- */

static int a_respond_json(struct atr_ctx *ctx, int status, json_t *body)
{
	if (!ctx->req) {
		json_decref(body);
		return ATR_EINVAL;
	}
	if (status < 100 || status > 599)
		status = 500;
	return respond_json(ctx->req, status, body);
}

static int a_respond_error(struct atr_ctx *ctx, int status, const char *code,
			   const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (!ctx->req)
		return ATR_EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return respond_error(ctx->req, status, code, "%s", msg);
}

static int header_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int a_set_header(struct atr_ctx *ctx, const char *name,
			const char *value)
{
	if (!ctx->req || !header_ok(name) || !header_ok(value) ||
	    !strcasecmp(name, "Set-Cookie") ||
	    !strncasecmp(name, "Content-Security-Policy", 23))
		return ATR_EINVAL;
	return respond_header(ctx->req, arena_strdup(ctx->arena, name),
			      arena_strdup(ctx->arena, value));
}

/* ---- memory ---- */

static void *a_alloc(struct atr_ctx *ctx, size_t n)
{
	return arena_alloc(ctx->arena, n);
}

static char *a_sprintf(struct atr_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	p = arena_vsprintf(ctx->arena, fmt, ap);
	va_end(ap);
	return p;
}

/* ---- sql ---- */

static int a_sql_exec(struct atr_ctx *ctx, const char *sql, json_t *params,
		      long long *changes, long long *last_id)
{
	struct db *db = ctx_db(ctx);
	return db ? db_exec(db, sql, params, changes, last_id) : ATR_ERR;
}

static json_t *a_sql_query(struct atr_ctx *ctx, const char *sql,
			   json_t *params)
{
	struct db *db = ctx_db(ctx);
	return db ? db_query(db, sql, params) : NULL;
}

static json_t *a_sql_one(struct atr_ctx *ctx, const char *sql, json_t *params,
			 int *status)
{
	struct db *db = ctx_db(ctx);
	if (!db) {
		if (status)
			*status = ATR_ERR;
		return NULL;
	}
	return db_one(db, sql, params, status);
}

static int a_sql_each(struct atr_ctx *ctx, const char *sql, json_t *params,
		      atr_row_fn fn, void *arg)
{
	struct db *db = ctx_db(ctx);
	return db ? db_each(db, sql, params, fn, arg) : ATR_ERR;
}

static int a_respond_text(struct atr_ctx *ctx, int status,
			  const char *content_type, const char *body, size_t len)
{
	char *copy;
	if (!ctx->req || !content_type || !*content_type ||
	    strpbrk(content_type, "\r\n") || (!body && len))
		return ATR_EINVAL;
	if (status < 100 || status > 599)
		status = 500;
	copy = malloc(len + 1);
	if (!copy)
		return ATR_ENOMEM;
	if (len)
		memcpy(copy, body, len);
	copy[len] = '\0';
	return respond_raw(ctx->req, status,
			   arena_strdup(ctx->arena, content_type), copy, len);
}

static int a_sql_each_cols(struct atr_ctx *ctx, const char *sql,
			   json_t *params, atr_cols_fn fn, void *arg)
{
	struct db *db = ctx_db(ctx);
	return db ? db_each_cols(db, sql, params, fn, arg) : ATR_ERR;
}

/* struct atr_cols is the statement being stepped. */
static sqlite3_stmt *cols_stmt(const struct atr_cols *row)
{
	return (sqlite3_stmt *)(uintptr_t)row;
}

static long long a_col_int(const struct atr_cols *row, int col)
{
	return sqlite3_column_int64(cols_stmt(row), col);
}

static double a_col_double(const struct atr_cols *row, int col)
{
	return sqlite3_column_double(cols_stmt(row), col);
}

static const char *a_col_text(const struct atr_cols *row, int col)
{
	return (const char *)sqlite3_column_text(cols_stmt(row), col);
}

static int a_col_is_null(const struct atr_cols *row, int col)
{
	return sqlite3_column_type(cols_stmt(row), col) == SQLITE_NULL;
}

static int a_tx_begin(struct atr_ctx *ctx)
{
	struct db *db = ctx_db(ctx);
	if (ctx->phase == CTX_INIT)
		return ATR_EBUSY; /* init already runs in the loader's tx */
	return db ? db_begin(db) : ATR_ERR;
}

static int a_tx_commit(struct atr_ctx *ctx)
{
	struct db *db = ctx_db(ctx);
	const struct route *rt = ctx->req ? ctx->req->match.route : NULL;
	int rc, own_audit = 0;

	if (!db)
		return ATR_ERR;
	/* A patient-data route's audit row joins the change it records: one
	 * commit (one fsync) instead of two, and never a change without its
	 * row. Should the commit fail, the row is written after all. */
	if (rt && (rt->flags & ATR_ROUTE_PHI) && !ctx->audited &&
	    db_in_tx(db)) {
		audit_route(ctx, rt, 200);
		own_audit = ctx->audited;
	}
	rc = db_commit(db);
	if (rc != ATR_OK && own_audit)
		ctx->audited = 0;
	return rc;
}

static int a_tx_rollback(struct atr_ctx *ctx)
{
	struct db *db = ctx_db(ctx);
	return db ? db_rollback(db) : ATR_ERR;
}

/* ---- log, audit ---- */

static void a_log(struct atr_ctx *ctx, enum atr_log_level level,
		  const char *fmt, ...)
{
	char comp[64], msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(comp, sizeof(comp), "plugin:%s", plugin_name(ctx->plugin));
	if (ctx->req)
		log_comp((enum log_level)level, comp, "req=%s %s", ctx->req->id,
			 msg);
	else
		log_comp((enum log_level)level, comp, "%s", msg);
}

static int a_audit(struct atr_ctx *ctx, const char *action,
		   long long patient_id, const char *object_type,
		   const char *object_id, const char *outcome)
{
	if (!action)
		return ATR_EINVAL;
	return audit_ctx(ctx, action, patient_id, object_type, object_id,
			 outcome);
}

/* ---- registration ---- */

static int a_register_job(struct atr_ctx *ctx, const char *name,
			  unsigned interval, atr_job_fn fn)
{
	if (!ctx->plugin || ctx->phase != CTX_INIT)
		return ATR_EBUSY;
	return plugin_register_job(ctx->plugin, name, interval, fn);
}

static int a_register_ui(struct atr_ctx *ctx, const char *dir, json_t *pages)
{
	if (!ctx->plugin || ctx->phase != CTX_INIT)
		return ATR_EBUSY;
	return plugin_register_ui(ctx->plugin, dir, pages);
}

static int a_register_lookup(struct atr_ctx *ctx, const char *name,
			     atr_lookup_fn fn)
{
	if (!ctx->plugin || ctx->phase != CTX_INIT)
		return ATR_EBUSY;
	return plugin_register_lookup(ctx->plugin, name, fn);
}

/* ---- outbox ---- */

long long outbox_queue(struct atr_ctx *ctx, long long user_id,
		       const char *kind, const char *ref, json_t *data,
		       time_t not_before)
{
	struct db *db = ctx_db(ctx);
	char key[TOKEN_STR_LEN];
	char *text;
	long long id = 0;
	time_t now = time(NULL);
	int rc;

	if (!db || user_id <= 0 || !kind || !*kind || strlen(kind) > 64 ||
	    (data && !json_is_object(data)))
		return ATR_EINVAL;
	for (const char *k = kind; *k; k++)
		if (!islower((unsigned char)*k) && *k != '_' &&
		    !isdigit((unsigned char)*k))
			return ATR_EINVAL;
	text = data ? json_dumps(data, JSON_COMPACT) : strdup("{}");
	if (!text)
		return ATR_ENOMEM;
	token_new(key);
	rc = db_done(db_stmt(db,
			     "INSERT INTO outbox (user_id, kind, ref, data, "
			     "source, not_before, created_at, idempotency_key) "
			     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			     "issssiis", user_id, kind, ref, text,
			     plugin_name(ctx->plugin),
			     (long long)(not_before ? not_before : now),
			     (long long)now, key));
	free(text);
	if (rc != ATR_OK)
		return rc == ATR_ECONFLICT ? ATR_EINVAL : rc;
	id = sqlite3_last_insert_rowid(db_handle(db));
	return id;
}

int outbox_cancel(struct atr_ctx *ctx, const char *ref, const char *kind)
{
	struct db *db = ctx_db(ctx);
	int rc;
	if (!db || !ref)
		return ATR_EINVAL;
	rc = db_done(db_stmt(db,
			     "UPDATE outbox SET status = 'cancelled' WHERE "
			     "ref = ? AND (? IS NULL OR kind = ?) AND status "
			     "= 'queued'",
			     "sss", ref, kind, kind));
	if (rc != ATR_OK)
		return rc;
	return sqlite3_changes(db_handle(db));
}

static long long a_notify(struct atr_ctx *ctx, long long user_id,
			  const char *kind, const char *ref, json_t *data,
			  time_t not_before)
{
	return outbox_queue(ctx, user_id, kind, ref, data, not_before);
}

static int a_notify_cancel(struct atr_ctx *ctx, const char *ref,
			   const char *kind)
{
	return outbox_cancel(ctx, ref, kind);
}

/* ---- time ---- */

static time_t a_now(struct atr_ctx *ctx)
{
	(void)ctx;
	return time(NULL);
}

time_t tz_local_to_utc(const struct tm *local)
{
	struct tm in = *local, back;
	time_t t;
	in.tm_isdst = -1;
	t = mktime(&in);
	if (t == (time_t)-1)
		return t;
	localtime_r(&t, &back);
	/* A wall time skipped by a DST change does not exist. */
	if (back.tm_hour != local->tm_hour || back.tm_min != local->tm_min ||
	    back.tm_mday != local->tm_mday)
		return (time_t)-1;
	return t;
}

static time_t a_local_to_utc(struct atr_ctx *ctx, const struct tm *local)
{
	(void)ctx;
	return tz_local_to_utc(local);
}

static void a_utc_to_local(struct atr_ctx *ctx, time_t t, struct tm *out)
{
	(void)ctx;
	localtime_r(&t, out);
}

void time_format_rfc3339(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *a_time_format(struct atr_ctx *ctx, time_t t)
{
	char buf[32];
	time_format_rfc3339(t, buf);
	return arena_strdup(ctx->arena, buf);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int time_parse_rfc3339(const char *s, time_t *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, off = 0;
	const char *p;
	time_t t;

	if (!s || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return ATR_EINVAL;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 59)
		return ATR_EINVAL;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 || y % 400 == 0)))
		return ATR_EINVAL;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return ATR_EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || p[3] != ':' ||
		    digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return ATR_EINVAL;
		off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return ATR_EINVAL;
	}
	if (*p)
		return ATR_EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return ATR_EINVAL;
	*out = t - off;
	return ATR_OK;
}

static int a_time_parse(struct atr_ctx *ctx, const char *s, time_t *out)
{
	(void)ctx;
	return time_parse_rfc3339(s, out);
}

/* ---- tokens ---- */

static void a_random(struct atr_ctx *ctx, void *buf, size_t n)
{
	(void)ctx;
	random_bytes(buf, n);
}

static const char *a_token(struct atr_ctx *ctx, size_t bytes)
{
	unsigned char raw[64];
	char *out;
	size_t len;
	if (bytes < 16 || bytes > sizeof(raw))
		bytes = 32;
	random_bytes(raw, bytes);
	len = sodium_base64_ENCODED_LEN(bytes,
					sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	out = arena_alloc(ctx->arena, len);
	if (out)
		sodium_bin2base64(out, len, raw, bytes,
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

static const char *a_hash_token(struct atr_ctx *ctx, const char *token)
{
	char *out = arena_alloc(ctx->arena, 65);
	if (out && token)
		sha256_hex(token, strlen(token), out);
	return out;
}

static int a_register_demo(struct atr_ctx *ctx, atr_job_fn fn)
{
	if (!ctx->plugin || ctx->phase != CTX_INIT)
		return ATR_EBUSY;
	return plugin_register_demo(ctx->plugin, fn);
}

static void a_audit_patient(struct atr_ctx *ctx, long long patient_id)
{
	ctx->audit_patient = patient_id;
}

static const char *a_plugin_name(struct atr_ctx *ctx)
{
	return plugin_name(ctx->plugin);
}

static int a_emit(struct atr_ctx *ctx, const char *event, json_t *payload,
		  const char **reason)
{
	return events_emit(ctx, event, payload, reason);
}

const struct atr_api atr_host_api = {
    .abi_major = ATR_ABI_MAJOR,
    .abi_minor = ATR_ABI_MINOR,
    .size = sizeof(struct atr_api),
    .config_str = a_config_str,
    .config_int = a_config_int,
    .config_bool = a_config_bool,
    .core_setting = a_core_setting,
    .req_method = a_req_method,
    .req_path = a_req_path,
    .req_param = a_req_param,
    .req_query = a_req_query,
    .req_header = a_req_header,
    .req_json = a_req_json,
    .user_id = a_user_id,
    .user_role = a_user_role,
    .user_name = a_user_name,
    .check_patient = a_check_patient,
    .respond_json = a_respond_json,
    .respond_error = a_respond_error,
    .set_header = a_set_header,
    .alloc = a_alloc,
    .sprintf = a_sprintf,
    .sql_exec = a_sql_exec,
    .sql_query = a_sql_query,
    .sql_one = a_sql_one,
    .sql_each = a_sql_each,
    .tx_begin = a_tx_begin,
    .tx_commit = a_tx_commit,
    .tx_rollback = a_tx_rollback,
    .log = a_log,
    .audit = a_audit,
    .emit = a_emit,
    .register_job = a_register_job,
    .register_ui = a_register_ui,
    .register_lookup = a_register_lookup,
    .notify = a_notify,
    .notify_cancel = a_notify_cancel,
    .now = a_now,
    .local_to_utc = a_local_to_utc,
    .utc_to_local = a_utc_to_local,
    .time_format = a_time_format,
    .time_parse = a_time_parse,
    .random = a_random,
    .token = a_token,
    .hash_token = a_hash_token,
    .plugin_name = a_plugin_name,
    .register_demo = a_register_demo,
    .audit_patient = a_audit_patient,
    .sql_each_cols = a_sql_each_cols,
    .col_int = a_col_int,
    .col_double = a_col_double,
    .col_text = a_col_text,
    .col_is_null = a_col_is_null,
    .respond_text = a_respond_text,
};
