/*
 * identity.c - see identity.h. This file holds the route table of every
 * identity route, account creation for the command line and the demo, the
 * JSON views of an account, the offloaded password job and the input
 * checks the identity_*.c files share. The handlers themselves live in
 * identity_login.c (sign-in, sign-out, me), identity_account.c (sessions,
 * password change), identity_totp.c (two-step sign-in), identity_onboard.c
 * (patients, activation codes, self-registration) and identity_admin.c
 * (account administration); the attempt throttle is identity_throttle.c.
 *
 * Password hashing never runs on a request worker: every handler that
 * verifies or hashes a password hands an idjob to the offload pool
 * (http_offload) and finishes on a worker once it is done.
 */
#include "identity.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api.h"
#include "audit.h"
#include "auth.h"
#include "config.h"
#include "core_routes.h"
#include "crypto.h"
#include "db.h"
#include "identity_int.h"
#include "log.h"

/* ---- input checks ------------------------------------------------------ */

int identity_username_ok(const char *u)
{
	size_t n = strlen(u);
	if (n < 3 || n > USERNAME_MAX || !isalnum((unsigned char)u[0]))
		return 0;
	for (; *u; u++)
		if (!(isalnum((unsigned char)*u) || strchr("._-@", *u)) ||
		    (unsigned char)*u >= 0x80)
			return 0;
	return 1;
}

/* Length of the UTF-8 sequence at s (at most n bytes) and its code point,
 * or 0 when malformed (overlong, surrogate, beyond U+10FFFF). */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp)
{
	size_t len;
	unsigned c = s[0], min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0)
		len = 2, c &= 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		len = 3, c &= 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		len = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int identity_text_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0, i = 0;
	if (n == 0 || n > max)
		return 0;
	while (i < n) {
		unsigned cp;
		size_t len =
		    utf8_next((const unsigned char *)s + i, n - i, &cp);
		if (!len || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
		    cp == 0x2028 || cp == 0x2029)
			return 0;
		i += len;
	}
	return 1;
}

int identity_email_ok(const char *s)
{
	const char *at = strchr(s, '@');
	size_t n = strlen(s);
	if (n < 3 || n > EMAIL_MAX || !at || at == s || strchr(at + 1, '@') ||
	    !strchr(at + 1, '.') || at[1] == '.' || s[n - 1] == '.')
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f ||
		    strchr("<>\"(),;:\\[]", *p))
			return 0;
	return identity_text_ok(s, EMAIL_MAX);
}

int identity_date_ok(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	char today[16];
	time_t now = time(NULL);
	struct tm tm;
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return 0;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 || y % 400 == 0)))
		return 0;
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	return strcmp(s, today) <= 0;
}

long long identity_param_id(struct atr_ctx *ctx, const char *name)
{
	const char *s = request_param(ctx->req, name);
	long long v = 0;
	if (!s || !*s || strlen(s) > 18)
		return 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return 0;
		v = v * 10 + (*p - '0');
	}
	return v;
}

int identity_bad_field(struct atr_ctx *ctx, const char *field, const char *code,
		       const char *msg)
{
	return respond_json(ctx->req, 400,
			    json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				      code, "message", msg, "field", field));
}

const char *identity_time(struct atr_ctx *ctx, long long t)
{
	char buf[32];
	time_format_rfc3339((time_t)t, buf);
	return arena_strdup(ctx->arena, buf);
}

void identity_audit_account(struct atr_ctx *ctx, const char *action,
			    long long target, const char *outcome)
{
	char oid[32];
	snprintf(oid, sizeof(oid), "%lld", target);
	audit_ctx(ctx, action, 0, "user", oid, outcome);
}

char *identity_like(struct atr_ctx *ctx, const char *q)
{
	size_t n = strlen(q), o = 0;
	char *p = arena_alloc(ctx->arena, 2 * n + 3);
	if (!p)
		return NULL;
	p[o++] = '%';
	for (; *q; q++) {
		if (*q == '%' || *q == '_' || *q == '\\')
			p[o++] = '\\';
		p[o++] = *q;
	}
	p[o++] = '%';
	p[o] = '\0';
	return p;
}

int identity_username_taken(struct atr_ctx *ctx, const char *u)
{
	sqlite3_stmt *st = db_stmt(
	    ctx_db(ctx), "SELECT 1 FROM users WHERE username = ?", "s", u);
	int taken = st && sqlite3_step(st) == SQLITE_ROW;
	if (st)
		sqlite3_reset(st);
	return taken;
}

int identity_taken_409(struct atr_ctx *ctx)
{
	return respond_json(ctx->req, 409,
			    json_pack("{s:{s:s,s:s,s:s}}", "error", "code",
				      "username_taken", "message",
				      "this username is taken; choose another",
				      "field", "username"));
}

/* ---- accounts ---------------------------------------------------------- */

long long identity_create_user(struct db *db, const char *username,
			       const char *display_name, const char *role,
			       const char *password, const char **why)
{
	char hash[PW_HASH_MAX], oid[32];
	long long id;
	int rc;

	if (!identity_username_ok(username)) {
		*why = "username must be 3-64 letters, digits or . _ - @";
		return ATR_EINVAL;
	}
	if (!role_parse(role)) {
		*why = "role must be patient, staff, physician or admin";
		return ATR_EINVAL;
	}
	if (!identity_text_ok(display_name, DISPLAY_NAME_MAX)) {
		*why = "display name must be 1-200 bytes of text";
		return ATR_EINVAL;
	}
	if ((*why = pw_policy_check(password, username)))
		return ATR_EINVAL;
	if (pw_hash(password, strlen(password), hash)) {
		*why = "password hashing failed";
		return ATR_ERR;
	}
	rc = db_done(db_stmt(db,
			     "INSERT INTO users (username, display_name, role, "
			     "password_hash) VALUES (?, ?, ?, ?)",
			     "ssss", username, display_name, role, hash));
	sodium_memzero(hash, sizeof(hash));
	if (rc == ATR_ECONFLICT) {
		*why = "username is taken";
		return rc;
	}
	if (rc != ATR_OK) {
		*why = "database error";
		return rc;
	}
	id = sqlite3_last_insert_rowid(db_handle(db));
	snprintf(oid, sizeof(oid), "%lld", id);
	audit_write(db, &(struct audit_rec){.action = "account.create",
					    .object_type = "user",
					    .object_id = oid,
					    .client = "command line",
					    .outcome = "ok"});
	return id;
}

/* Turns the named 0/1 columns of row into JSON booleans. */
static void row_bools(json_t *row, const char *const *names)
{
	for (; *names; names++)
		json_object_set_new(row, *names,
				    json_boolean(json_integer_value(
					json_object_get(row, *names))));
}

/* A text column as a JSON string, or null. */
static json_t *col_string(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	json_t *v = s ? json_stringn(s, (size_t)sqlite3_column_bytes(st, i))
		      : NULL;
	return v ? v : json_null();
}

/* Read on every page load (GET /api/auth/me): bound and built directly,
 * without a parameter array or a generic row object. */
json_t *identity_user_json(struct atr_ctx *ctx, long long user_id)
{
	sqlite3_stmt *st = db_stmt(ctx_db(ctx),
				   "SELECT id, username, display_name, role, "
				   "totp_enabled FROM users WHERE id = ?",
				   "i", user_id);
	json_t *u = NULL;
	if (!st)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW && (u = json_object())) {
		json_object_set_new_nocheck(
		    u, "id", json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new_nocheck(u, "username", col_string(st, 1));
		json_object_set_new_nocheck(u, "display_name",
					    col_string(st, 2));
		json_object_set_new_nocheck(u, "role", col_string(st, 3));
		json_object_set_new_nocheck(
		    u, "totp_enabled",
		    json_boolean(sqlite3_column_int(st, 4) != 0));
	}
	sqlite3_reset(st);
	return u;
}

json_t *identity_admin_user_json(struct atr_ctx *ctx, long long user_id)
{
	static const char *const bools[] = {"locked", "totp_enabled",
					    "activated", NULL};
	int st;
	json_t *params = json_pack("[I]", user_id);
	json_t *u = db_one(ctx_db(ctx),
			   "SELECT id, username, display_name, role, locked, "
			   "totp_enabled, (username IS NOT NULL AND "
			   "password_hash IS NOT NULL) AS activated, "
			   "created_at FROM users WHERE id = ?",
			   params, &st);
	json_decref(params);
	if (u)
		row_bools(u, bools);
	return u;
}

/* ---- the offloaded password job ---------------------------------------- */

struct idjob *idjob_new(struct atr_ctx *ctx)
{
	return arena_alloc(ctx->arena, sizeof(struct idjob));
}

char *idjob_take(struct atr_ctx *ctx, json_t *body, const char *field,
		 size_t *len)
{
	json_t *v = json_object_get(body, field);
	struct request *req = ctx->req;
	const char *s = json_string_value(v);
	char *copy;

	*len = 0;
	if (req->body)
		sodium_memzero(req->body, req->body_len);
	if (!s)
		return NULL;
	*len = json_string_length(v);
	copy = arena_strndup(ctx->arena, s, *len);
	/* jansson's copy is wiped too: the body object lives until the
	 * request ends. */
	sodium_memzero((char *)(uintptr_t)s, *len);
	return copy;
}

void idjob_wipe(struct idjob *job)
{
	if (job->current)
		sodium_memzero(job->current, job->curlen);
	if (job->password)
		sodium_memzero(job->password, job->pwlen);
}

static void idjob_work(struct request *req, void *arg)
{
	struct idjob *j = arg;
	(void)req;
	if (j->current) {
		if (j->hash[0]) {
			j->verified =
			    pw_verify(j->hash, j->current, j->curlen) == 0;
		} else {
			pw_dummy_verify(j->current, j->curlen);
			j->verified = 0;
		}
	}
	if (j->password && (!j->current || j->verified)) {
		j->why = pw_policy_check_n(j->password, j->pwlen,
					   j->username[0] ? j->username : NULL);
		if (!j->why && j->current && j->curlen == j->pwlen &&
		    !sodium_memcmp(j->current, j->password, j->pwlen))
			j->why = "the new password must differ from the "
				 "current one";
		if (!j->why && pw_hash(j->password, j->pwlen, j->new_hash))
			j->failed = 1;
	}
	idjob_wipe(j);
}

int idjob_start(struct atr_ctx *ctx, struct idjob *job, continue_fn cont)
{
	if (http_offload(ctx, idjob_work, cont, job)) {
		idjob_wipe(job);
		respond_header(ctx->req, "Retry-After", "1");
		respond_error(ctx->req, 503, "busy",
			      "the server is busy; try again in a moment");
	}
	return ATR_OK;
}

/* ---- routes ------------------------------------------------------------ */

#define ANY ATR_ROLES_ANY_USER
#define CARE ATR_ROLES_CARE_TEAM

static const struct core_route identity_routes[] = {
    {"POST", "/api/auth/login", idh_login, 0, ATR_ROUTE_PUBLIC, "sign in"},
    {"POST", "/api/auth/logout", idh_logout, ANY, 0, "sign out"},
    {"GET", "/api/auth/me", idh_me, ANY, 0,
     "the signed-in user and a fresh CSRF token"},
    {"GET", "/api/auth/sessions", idh_sessions, ANY, 0, "my open sessions"},
    {"DELETE", "/api/auth/sessions/:id", idh_session_delete, ANY, 0,
     "end one of my sessions"},
    {"POST", "/api/auth/password", idh_password, ANY, 0,
     "change my password (ends my other sessions)"},
    {"POST", "/api/auth/totp/enroll", idh_totp_enroll, ANY, 0,
     "start setting up two-step sign-in"},
    {"POST", "/api/auth/totp/confirm", idh_totp_confirm, ANY, 0,
     "finish setting up two-step sign-in; returns recovery codes"},
    {"POST", "/api/auth/totp/disable", idh_totp_disable, ANY, 0,
     "turn two-step sign-in off"},
    {"POST", "/api/auth/activate", idh_activate, 0, ATR_ROUTE_PUBLIC,
     "activate a patient account with the code from the practice"},
    {"POST", "/api/auth/register", idh_register, 0, ATR_ROUTE_PUBLIC,
     "create a patient account (when self-registration is on)"},
    {"GET", "/api/admin/users", idh_admin_users, ATR_ROLE_ADMIN, 0,
     "search accounts"},
    {"POST", "/api/admin/users", idh_admin_user_create, ATR_ROLE_ADMIN, 0,
     "create a physician, staff or admin account"},
    {"POST", "/api/admin/users/:id/lock", idh_admin_lock, ATR_ROLE_ADMIN, 0,
     "lock an account and end its sessions"},
    {"POST", "/api/admin/users/:id/unlock", idh_admin_unlock, ATR_ROLE_ADMIN, 0,
     "unlock an account and clear its sign-in delay"},
    {"POST", "/api/admin/users/:id/reset-totp", idh_admin_reset_totp,
     ATR_ROLE_ADMIN, 0,
     "remove an account's two-step sign-in and end its sessions"},
    {"POST", "/api/admin/users/:id/activation-code", idh_activation_code,
     CARE | ATR_ROLE_ADMIN, ATR_ROUTE_PHI,
     "issue a new activation code for a patient"},
    {"POST", "/api/admin/patients", idh_patient_create, CARE | ATR_ROLE_ADMIN,
     ATR_ROUTE_PHI, "create a patient account and its activation code"},
    {"GET", "/api/patients", idh_patients, CARE, ATR_ROUTE_PHI,
     "search the practice's patients"},
    {NULL, NULL, NULL, 0, 0, NULL},
};

int identity_routes_register(struct router *r, char *err, size_t errlen)
{
	return core_routes_add(r, identity_routes, err, errlen);
}
